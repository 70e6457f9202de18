"""The `rpc` plugin's hooks: start the JSON-RPC server's child process, relay its writes, and
pass the node's commits, reverts and finality changes on to it for PubSub (the package
docstring says what it serves and how)."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import msgspec
import structlog

from monmouth.core.pipes import receive_frame, send_frame
from monmouth.hooks import ConfigError, Host, RelayError, hookimpl
from monmouth.plugins.rpc.config import Config
from monmouth.plugins.rpc.errors import INTERNAL_ERROR, INVALID_REQUEST
from monmouth.plugins.rpc.messages import (
    Committed,
    Ready,
    RelayAnswer,
    RelayRequest,
    Resync,
    Reverted,
    SlotStatus,
)

if TYPE_CHECKING:
    from monmouth.core.payloads import BlockInfo
    from monmouth.hooks import Settings

__all__ = ["NO_RELAY", "Plugin"]

log = structlog.get_logger("monmouth.rpc")

#: What sendTransaction and requestAirdrop answer on a node without a relay (Agave answers a
#: node without a faucet with -32600 too).
NO_RELAY = (
    "Invalid request: this node cannot post to the inbox (it has no relay). For a local chain "
    "that takes transactions and airdrops, run `monmouth dev`; a node following an L1 node "
    "needs a relay key: set [relay] key_file (or MONMOUTH_RELAY__KEY_FILE) to a file holding a "
    "funded L1 private key. A replica (`--role replica`) serves reads only: send writes to "
    "its executor's JSON-RPC"
)
#: Events waiting for the child; beyond, they are dropped and the child told to resync (it
#: reads the state itself, so a dropped event loses nothing but a wake-up).
EVENT_QUEUE = 4096
_Event = Committed | Reverted | SlotStatus | Resync


class Plugin:
    """Serves Solana's JSON-RPC from a child process; see the package docstring.

    Built in every process that loads plugins, so the constructor only keeps the configuration:
    the child starts in `startup`.
    """

    config_model = Config

    def __init__(self, settings: Settings, config: Config) -> None:
        self.settings = settings
        self.config = config
        self.node: Host | None = None
        self.process: subprocess.Popen[bytes] | None = None
        #: Where the server listens once started (`http://HOST:PORT`), None when not serving.
        self.url: str | None = None
        #: Where PubSub listens (`ws://HOST:PORT`), None when not serving it.
        self.pubsub_url: str | None = None
        self._thread: threading.Thread | None = None
        self._write = threading.Lock()
        #: Events for the child, written by their own thread so that a hook never waits on
        #: the pipe; `_dropped` when the queue was full.
        self._events: queue.Queue[_Event | None] = queue.Queue(EVENT_QUEUE)
        self._dropped = False
        self._sender: threading.Thread | None = None

    @hookimpl
    def startup(self, node: Host) -> None:
        """Start the server's child process and wait until it listens (a taken address is a
        ConfigError naming the key). A host without a state serves nothing."""
        self.node = node
        if self.config.address is None or node.store is None:
            return
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monmouth.plugins.rpc.server",
                str(node.store.path),
                self.config.model_dump_json(),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        try:
            ready = msgspec.msgpack.decode(receive_frame(process.stdout), type=Ready)
        except (EOFError, msgspec.DecodeError) as exc:
            ready = Ready(None, f"the server process failed to start ({exc})")
        if ready.url is None:
            self._stop(process)
            raise ConfigError(f"[plugins.rpc] address {self.config.address}: {ready.error}")
        self.process, self.url, self.pubsub_url = process, ready.url, ready.pubsub_url
        self._thread = threading.Thread(target=self._relay, args=(process,), daemon=True)
        self._thread.start()
        if ready.pubsub_url is not None:
            self._sender = threading.Thread(target=self._send_events, args=(process,), daemon=True)
            self._sender.start()
        log.info("solana json-rpc", url=ready.url, pubsub=ready.pubsub_url)

    @hookimpl
    def shutdown(self, node: Host) -> None:
        """Stop the child (it finishes when its input closes) and the relay thread."""
        process, self.process, self.url, self.pubsub_url = self.process, None, None, None
        if self._sender is not None:
            # A sender that died on a broken pipe leaves a queue that may be full.
            with contextlib.suppress(queue.Full):
                self._events.put(None, timeout=5)
            self._sender.join(timeout=10)
            self._sender = None
        if process is not None:
            self._stop(process)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # ------------------------------------------------------------------ events for PubSub
    # Run in the plugin's worker: each only queues a small message, never waits.

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        """Tell the child block `block.number` is committed."""
        self._event(Committed(block.number, block.hash))

    @hookimpl
    def revert_blocks(self, blocks: list[BlockInfo]) -> None:
        """Tell the child blocks were reverted."""
        self._event(Reverted([(b.number, b.hash) for b in blocks]))

    @hookimpl
    def update_slot_status(self, slot: int, parent: int | None, status: str) -> None:
        """Tell the child a slot was confirmed or finalized (processed came as a commit)."""
        if status != "processed":
            self._event(SlotStatus(slot, parent, status))

    def _event(self, event: _Event) -> None:
        if self._sender is None:
            return
        try:
            self._events.put_nowait(event)
        except queue.Full:
            self._dropped = True

    def _send_events(self, process: subprocess.Popen[bytes]) -> None:
        """Write queued events to the child, one frame each; a Resync after drops."""
        assert process.stdin is not None
        encode = msgspec.msgpack.Encoder().encode
        while True:
            event = self._events.get()
            if event is None:
                return
            if self._dropped:
                self._dropped = False
                event = Resync()
            try:
                with self._write:
                    send_frame(process.stdin, encode(event))
            except (OSError, ValueError):
                return

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        with self._write:
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    # ------------------------------------------------------------------ relay (own thread)

    def _relay(self, process: subprocess.Popen[bytes]) -> None:
        """Take the child's writes to the node's relay, one at a time, in the order sent."""
        assert process.stdout is not None and process.stdin is not None
        decode = msgspec.msgpack.Decoder(RelayRequest).decode
        encode = msgspec.msgpack.Encoder().encode
        while True:
            try:
                request = decode(receive_frame(process.stdout))
            except (EOFError, OSError, ValueError, msgspec.DecodeError):
                if self.process is process:  # not a shutdown: the server died
                    log.error("the rpc server process ended", returncode=process.poll())
                return
            answer = self._answer(request)
            try:
                with self._write:
                    send_frame(process.stdin, encode(answer))
            except (OSError, ValueError):
                return

    def _answer(self, request: RelayRequest) -> RelayAnswer:
        relay = None if self.node is None else self.node.relay
        if relay is None:
            return RelayAnswer(request.id, INVALID_REQUEST, NO_RELAY)
        try:
            if request.op == "send":
                relay.send_transactions(request.transactions)
            else:
                relay.deposit(request.recipient, request.lamports)
        except RelayError as exc:
            return RelayAnswer(request.id, INTERNAL_ERROR, str(exc))
        except Exception as exc:  # the relay's bug must not end the thread
            log.exception("relay failed", op=request.op)
            return RelayAnswer(request.id, INTERNAL_ERROR, f"relay failed: {exc}")
        return RelayAnswer(request.id, None, None)
