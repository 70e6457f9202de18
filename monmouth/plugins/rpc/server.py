"""The rpc plugin's server: a child process that serves Solana's JSON-RPC over HTTP and its
PubSub over WebSocket (`pubsub_server.py`).

    python -m monmouth.plugins.rpc.server DATA_DIR CONFIG_JSON

It opens the node's LMDB environment read-only, binds the configured address, tells the plugin
`Ready` over its stdout, and answers reads from LMDB itself, so that heavy read traffic costs
the node's process nothing (it has its own interpreter lock and its own core). Writes go to the
plugin as `RelayRequest`s over the pipe and wait for their `RelayAnswer` on stdin, where the
node's events (`Committed`, `Reverted`, `SlotStatus`) also arrive to wake PubSub. The child
ends when its stdin closes (the plugin's `shutdown`, or the node dying); it ignores SIGINT and
SIGTERM, so the node decides when it ends.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import msgspec

from monmouth.core.config import parse_address
from monmouth.core.errors import DataDirError
from monmouth.core.pipes import receive_frame, send_frame
from monmouth.core.state import Store
from monmouth.plugins.rpc.config import Config
from monmouth.plugins.rpc.errors import INTERNAL_ERROR, RpcError
from monmouth.plugins.rpc.http import HttpLimits, HttpProtocol
from monmouth.plugins.rpc.jsonrpc import Dispatcher
from monmouth.plugins.rpc.messages import Ready, RelayAnswer, RelayRequest, ToServer
from monmouth.plugins.rpc.pubsub import Notifier
from monmouth.plugins.rpc.pubsub_server import PubSubLimits, start_pubsub

__all__ = ["PipeRelay", "main", "serve"]

_encode = msgspec.msgpack.Encoder().encode


class PipeRelay:
    """The child's side of the relay: a request out on `out`, its answer from `answers`
    (read on a thread of its own), matched by id. The node's events on the same input call
    `on_event` in the loop, at most once per batch of events that arrived meanwhile (the
    notifier reads the state itself, so a burst of events is one wake-up)."""

    def __init__(
        self,
        out: IO[bytes],
        answers: IO[bytes],
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[], None] | None = None,
    ):
        self.out = out
        self.loop = loop
        self.pending: dict[int, asyncio.Future[RelayAnswer]] = {}
        self.ids = itertools.count(1)
        self.closed = asyncio.Event()
        self.on_event = on_event
        self._woken = False
        threading.Thread(target=self._read, args=(answers,), daemon=True).start()

    def _read(self, answers: IO[bytes]) -> None:
        decode = msgspec.msgpack.Decoder(ToServer).decode
        while True:
            try:
                message = decode(receive_frame(answers))
            except (EOFError, OSError, msgspec.DecodeError):
                self.loop.call_soon_threadsafe(self.closed.set)
                return
            if isinstance(message, RelayAnswer):
                self.loop.call_soon_threadsafe(self._resolve, message)
            elif not self._woken:
                # A benign race: at worst one wake-up too many.
                self._woken = True
                self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._woken = False
        if self.on_event is not None:
            self.on_event()

    def _resolve(self, answer: RelayAnswer) -> None:
        future = self.pending.pop(answer.id, None)
        if future is not None and not future.done():
            future.set_result(answer)

    async def __call__(self, op: Any, seconds: float, **fields: Any) -> None:
        """Relay one write; raises RpcError with the node's answer or on timeout."""
        request_id = next(self.ids)
        future: asyncio.Future[RelayAnswer] = self.loop.create_future()
        self.pending[request_id] = future
        try:
            send_frame(self.out, _encode(RelayRequest(request_id, op, **fields)))
            answer = await asyncio.wait_for(future, seconds)
        except TimeoutError:
            raise RpcError(INTERNAL_ERROR, "the node did not take the request in time") from None
        except OSError:
            raise RpcError(INTERNAL_ERROR, "the node is not reachable (stopping?)") from None
        finally:
            self.pending.pop(request_id, None)
        if answer.code is not None:
            raise RpcError(answer.code, answer.message or "relay failed")


async def serve(data_dir: Path, config: Config, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Serve until `stdin` ends."""
    loop = asyncio.get_running_loop()
    assert config.address is not None
    host, port = parse_address(config.address)
    try:
        store = Store(data_dir, readonly=True)
    except DataDirError as exc:
        send_frame(stdout, _encode(Ready(None, str(exc))))
        return
    notifier = Notifier(store, config.pubsub_max_subscriptions)
    try:
        relay = PipeRelay(stdout, stdin, loop, notifier.wake.set)
        dispatcher = Dispatcher(
            store,
            relay,
            max_batch=config.max_batch,
            request_timeout=config.request_timeout,
            airdrop_max_lamports=config.airdrop_max_lamports,
        )
        limits = HttpLimits(config.max_body_bytes, config.request_timeout)
        try:
            server = await loop.create_server(
                lambda: HttpProtocol(dispatcher.handle, dispatcher.health, limits),
                host,
                port,
                reuse_address=True,
                backlog=1024,
            )
        except OSError as exc:
            send_frame(stdout, _encode(Ready(None, f"cannot listen on {config.address}: {exc}")))
            return
        pubsub_url = None
        pubsub = None
        if config.pubsub is not None:
            ws_host, ws_port = parse_address(config.pubsub)
            ws_limits = PubSubLimits(
                config.pubsub_max_connections,
                config.pubsub_max_backlog,
                config.pubsub_max_backlog_bytes,
                config.pubsub_max_message_bytes,
                config.pubsub_ping_interval,
            )
            try:
                pubsub, _ = await start_pubsub(notifier, ws_limits, ws_host, ws_port)
            except OSError as exc:
                server.close()
                error = f"cannot listen on {config.pubsub} (pubsub_address): {exc}"
                send_frame(stdout, _encode(Ready(None, error)))
                return
            pubsub_url = "ws://" + _shown(pubsub.sockets[0].getsockname())
        send_frame(
            stdout,
            _encode(Ready("http://" + _shown(server.sockets[0].getsockname()), None, pubsub_url)),
        )
        notifying = loop.create_task(notifier.run())
        notifier.wake.set()
        try:
            async with server:
                await relay.closed.wait()
        finally:
            notifying.cancel()
            if pubsub is not None:
                pubsub.close()
                await pubsub.wait_closed()
    finally:
        store.close()


def _shown(bound: Any) -> str:
    host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return f"{host}:{bound[1]}"


def main() -> None:
    data_dir, config = Path(sys.argv[1]), Config.model_validate_json(sys.argv[2])
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Nothing else may write to the channel: prints and warnings go to stderr.
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(serve(data_dir, config, stdin, stdout))


if __name__ == "__main__":
    main()
