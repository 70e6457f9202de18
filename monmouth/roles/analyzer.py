"""The analyzer: runs plugins on an executor's stream, holding no SVM state.

It follows one executor (`[stream] upstream`, the first entry), subscribed only to the kinds
its plugins' hooks need (`block`, `slot` and `revert` always; `writes` when a plugin implements
`update_accounts`, `transaction` for `notify_transactions`), rebuilds the hook payloads from the
message bodies and calls the hooks the way the executor calls them:

- for each block, when its `block` message arrives (the last of the block's messages):
  `notify_l1_block(block)` (when a plugin takes it: see below), `update_accounts(block, updates,
  is_startup=False)` with every write of the block as the executor made them (one update per
  write, in execution order, with the writing transaction's signature and the executor's
  `write_version`, from the block's `writes` message), `notify_transactions(block,
  transactions)` (when it had any), `notify_block(block)`, then `update_slot_status(slot,
  parent, "processed")`;
- other `slot` messages (finality: `confirmed`, `finalized`): `update_slot_status`;
- each `revert` message: `revert_blocks(blocks=[block])`, with the block's counts and state
  hash when the analyzer saw it committed (zeros and an empty state hash otherwise).

Where it starts: from the start of the upstream's log on a first run (so the plugins see the
whole history the log holds: an analyzer started late catches up by replay), else right after
the last segment whose hooks the plugins had run, kept in `<data_dir>/analyzer-position`
(`Position`: the log's id, sequence number and height). The position is written when the
analyzer closes (after the plugins drained and shut down), and while it runs every
CHECKPOINT_SECONDS, one checkpoint behind (the position drained at the previous checkpoint, so
that the plugins' own writes are done); after a crash the analyzer replays from there, and a
plugin meets blocks it has handled again (rag skips those its index holds). An executor restart
changes nothing: its log and numbering go on.

The analyzer stops with a SourceError (and an alert) rather than hand the plugins a wrong
history:

- the upstream no longer holds what it needs next (`analyzer_behind`: the log was pruned past
  it, `[stream] keep_blocks`), naming the first missing height;
- a block comes without its `writes` while a plugin takes `update_accounts`
  (`writes_missing`: the executor did not build them: see `[stream] writes`);
- the upstream's log has another id than the position's (a new data directory upstream).

`notify_l1_block` (mev's call traces): the stream does not carry L1 blocks, so for plugins that
take them the analyzer fetches each block from its own `[source] rpc_url` (with `trace_block`
when a plugin sets `wants_traces`), checks that its hash is the block's, and passes None (with a
warning) when that node does not have it after L1_ATTEMPTS tries.

What still differs from plugins run inside the executor:

- `revert_blocks` is called once per reverted block (highest first), not once per reorg.
- There is no startup snapshot (`wants_startup_snapshot` is ignored, with a warning), and
  `register_stream_topics` is not called: an analyzer keeps no stream log of its own (mev's
  findings are stored, not published).

The analyzer publishes heartbeats (and nothing else) when `[stream] publish` is set, with the
last block it handed to the plugins as its head, so that a monitor watches it too.

Its request socket (`analyzer_requests.py`) answers `status` and its plugins' methods (e.g.
`rag.query`), with its head and the executor's, so that `monmouth rag query --endpoint` reaches
it; it keeps no log, so `replay` and `snapshot` are refused.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import anyio
import base58
import msgspec
import pluggy
import structlog
import zmq

import monmouth.roles.analyzer_requests as request_side
from monmouth.core.config import Settings
from monmouth.core.errors import ConfigError, SourceError
from monmouth.core.ethrpc import EthRpc, RpcError
from monmouth.core.l1 import BlockId, L1Block
from monmouth.core.payloads import AccountUpdate, BlockInfo, TransactionInfo
from monmouth.core.plugins import PluginHost, load_plugins
from monmouth.core.records import BlockRecord
from monmouth.core.sources.rpc import fetch_raw_blocks
from monmouth.roles.progress import Every
from monmouth.stream.eventlog import StreamService, client_curve
from monmouth.stream.schema import (
    BlockBody,
    Request,
    RevertBody,
    SlotBody,
    TransactionBody,
    WritesBody,
)
from monmouth.stream.security import next_port
from monmouth.stream.subscriber import Message, ReplayUnavailable, Subscriber, ask

log = structlog.get_logger("monmouth.analyzer")

#: Blocks remembered (by number) so that a revert reports the block with its counts.
RECENT_BLOCKS = 512
#: The longest `run` waits for a message before looking at `stop` again.
_POLL = 0.2
#: Seconds between checkpoints of the position (see `Position`).
CHECKPOINT_SECONDS = 30.0
#: The position file, in the analyzer's data directory.
POSITION_FILE = "analyzer-position"
#: Tries at one block from `[source] rpc_url` (the L1 node may not have it yet, or be on
#: another fork for a moment), a second apart.
L1_ATTEMPTS = 10


class Position(msgspec.Struct, frozen=True):
    """Where the analyzer is in its upstream's log, kept in `<data_dir>/analyzer-position`.

    :ivar stream_id: the upstream log's id (a new one is another history).
    :ivar seq: the last message of the last segment whose hooks the plugins have run.
    :ivar height: the block that segment was about (-1: none yet).
    """

    stream_id: str
    seq: int
    height: int


def load_position(path: Path) -> Position | None:
    """The stored position, or None when there is none yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return msgspec.msgpack.decode(raw, type=Position)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path} is not an analyzer position ({exc}); remove it") from None


def save_position(path: Path, position: Position) -> None:
    """Write the position durably: a new file, synced, renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(msgspec.msgpack.encode(position))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def _b58(text: str) -> bytes:
    return base58.b58decode(text)


def block_info(body: BlockBody) -> BlockInfo:
    """The `BlockInfo` a `block` message describes."""
    return BlockInfo(
        number=body.number,
        hash=_hex(body.hash),
        parent_hash=_hex(body.parent_hash),
        timestamp=body.timestamp,
        state_hash=body.state_hash,
        messages=body.messages,
        deposits=body.deposits,
        ok=body.ok,
        failed=body.failed,
        rejected=body.rejected,
    )


def account_updates(body: WritesBody) -> list[AccountUpdate]:
    """The `AccountUpdate`s a `writes` message describes: the executor's, write for write."""
    return [
        AccountUpdate(
            pubkey=_b58(w.pubkey),
            lamports=w.lamports,
            owner=_b58(w.owner),
            executable=w.executable,
            rent_epoch=w.rent_epoch,
            data=bytes(w.data),
            signature=None if w.signature is None else _b58(w.signature),
            write_version=w.write_version,
        )
        for w in body.writes
    ]


def transaction_info(body: TransactionBody) -> TransactionInfo:
    """The `TransactionInfo` a `transaction` message describes."""
    return TransactionInfo(
        signature=None if body.signature is None else _b58(body.signature),
        status=body.status,
        reason=body.reason,
        error=body.error,
        fee=body.fee,
        compute_units=body.compute_units,
        logs=tuple(body.logs),
        accounts=tuple(_b58(a) for a in body.accounts),
        l1_tx_hash=_hex(body.l1_tx_hash),
        l1_tx_index=body.l1_tx_index,
        position=body.position,
    )


def _record(info: BlockInfo) -> BlockRecord:
    return BlockRecord(
        number=info.number,
        hash=info.hash,
        parent_hash=info.parent_hash,
        timestamp=info.timestamp,
        checksum=_b58(info.state_hash),
        messages=info.messages,
        deposits=info.deposits,
        ok=info.ok,
        failed=info.failed,
        rejected=info.rejected,
    )


class Analyzer:
    """Runs the configured plugins on the stream of `settings.stream.upstream[0]`.

    It is the `node` the lifecycle hooks (`startup`, `end_of_startup`, `shutdown`) receive,
    and offers:

    :ivar settings: the configuration.
    :ivar head: (property) the last block handed to the plugins, or its parent after a
        revert, as a `BlockId` like the executor's `node.head`; None before the first.
    :ivar last_block: (property) the same as a `BlockInfo` (counts unknown after a revert to a
        block the analyzer did not see: zeros).
    :ivar upstream: the endpoint followed.

    Counters: `blocks`, `reverted`, `transactions`, `accounts`, `gaps`. `joined` is set once
    the subscription is in place at the publisher (the first heartbeat or block arrived).

    :param plugins: a plugin manager to use instead of `load_plugins(settings)` (tests,
        embedding).
    """

    def __init__(self, settings: Settings, *, plugins: pluggy.PluginManager | None = None) -> None:
        cfg = settings.stream
        if not cfg.upstream:
            raise ConfigError(
                "an analyzer runs plugins on an executor's stream: give --upstream "
                "tcp://HOST:PORT, or [stream] upstream = [...] in the config file"
            )
        if len(cfg.upstream) > 1:
            raise ConfigError(
                f"an analyzer follows one executor, {len(cfg.upstream)} upstreams were given: "
                f"{', '.join(cfg.upstream)}"
            )
        self.settings = settings
        self.upstream = cfg.upstream[0]
        self.curve = client_curve(settings)
        self.blocks = 0
        self.reverted = 0
        self.transactions = 0
        self.accounts = 0
        self.gaps = 0
        self.joined = threading.Event()
        self._last: BlockInfo | None = None
        self._recent: dict[int, BlockInfo] = {}
        self._writes: list[tuple[int, WritesBody]] = []
        self._txs: list[tuple[int, TransactionBody]] = []
        self._processed: list[SlotBody] = []
        self._subscriber: Subscriber | None = None
        self._closed = False
        self.pm = plugins if plugins is not None else load_plugins(settings)
        self.plugins = PluginHost(self.pm, settings)
        try:
            # The request socket with the plugins' methods, and heartbeats (the request side).
            self.requests = request_side.RequestSide(self, settings)
            self.stream: StreamService = self.requests.stream
        except BaseException:
            self.plugins.close()
            raise
        self.want_accounts = self.plugins.wants_account_updates()
        self.want_transactions = self.plugins.wants_transactions()
        self.kinds = ["block", "slot", "revert"]
        if self.want_accounts:
            self.kinds.append("writes")
        #: Plugins that take the L1 block (`notify_l1_block`, e.g. mev's call traces) get it
        #: from `[source] rpc_url`: the stream does not carry L1 blocks.
        self.want_l1 = self.plugins.wants("notify_l1_block")
        self.want_traces = self.plugins.wants_traces()
        self.l1_url = settings.source.rpc_url if self.want_l1 else None
        if self.want_l1 and self.l1_url is None:
            log.warning(
                "a plugin takes L1 blocks (notify_l1_block), which an analyzer fetches from "
                "[source] rpc_url: none is set, so it gets none",
            )
        self.position_path = settings.data_dir / POSITION_FILE
        #: Where the plugins are (the last segment handed to them), and what is on disk.
        self.position: Position | None = None
        self._saved: Position | None = None
        self._drained: Position | None = None
        if self.want_transactions:
            self.kinds.append("transaction")
        try:
            self.plugins.started(self)  # an analyzer has no state: no startup snapshot
        except BaseException:
            self.plugins.close()
            self.stream.close()
            raise
        log.info("analyzer ready", upstream=self.upstream, kinds=self.kinds)

    # ------------------------------------------------------------------ the host (hooks' `node`)

    @property
    def store(self) -> None:
        """An analyzer keeps no state."""
        return None

    @property
    def relay(self) -> None:
        """An analyzer posts nothing to the inbox."""
        return None

    @property
    def l1_head(self) -> None:
        """An analyzer follows a stream, not an L1 node."""
        return None

    def stream_subscriptions(self) -> int | None:
        return self.stream.subscriptions()

    @property
    def head(self) -> BlockId | None:
        last = self._last
        return None if last is None else BlockId(last.number, last.hash)

    @property
    def last_block(self) -> BlockInfo | None:
        return self._last

    @property
    def upstream_head(self) -> int | None:
        """The executor's head as the analyzer knows it (its heartbeats; `RequestSide`)."""
        return self.requests.upstream_head()

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Follow the upstream until `stop` is set.

        Raises PluginHalted when a plugin under `on_error = "halt"` failed.
        """
        if self._closed:
            raise RuntimeError("the analyzer is closed")
        saved = load_position(self.position_path)
        if saved is not None:
            if not self._check_upstream(saved, stop):
                return  # stopped while the upstream did not answer
            self.position = self._saved = self._drained = saved
        # From the log's start on a first run (the plugins see the whole history it holds),
        # else right after the last segment the plugins had.
        start = 0 if saved is None else saved.seq + 1
        if saved is not None:
            log.info(
                "analyzer resuming", upstream=self.upstream, from_seq=start, height=saved.height
            )
        subscriber = Subscriber(
            self.upstream, kinds=self.kinds, curve=self.curve, stop=stop, from_seq=start
        )
        self._subscriber = subscriber
        progress = Every()
        checkpoint = time.monotonic() + CHECKPOINT_SECONDS
        try:
            while not stop.is_set():
                if time.monotonic() >= checkpoint:
                    self._checkpoint()
                    checkpoint = time.monotonic() + CHECKPOINT_SECONDS
                msg = subscriber.receive(_POLL)
                if progress.due():
                    log.info(
                        "progress",
                        role="analyzer",
                        head=None if self._last is None else self._last.number,
                        blocks=self.blocks,
                        transactions=self.transactions,
                        accounts=self.accounts,
                        reverted=self.reverted,
                    )
                if not self.joined.is_set() and subscriber.last is not None:
                    self.joined.set()
                    log.info("analyzer joined the stream", upstream=self.upstream)
                if msg is not None:
                    self.handle(msg)
                    if msg.kind in ("block", "revert") or (
                        msg.kind == "slot" and msg.body.status != "processed"
                    ):
                        # The last message of its segment: resume after it.
                        self.position = Position(subscriber.stream_id or "", msg.seq, msg.height)
                # A plugin under `halt` failed (on this block or an earlier one): stop.
                self.plugins.check()
        finally:
            self._subscriber = None
            subscriber.close()

    def _check_upstream(self, saved: Position, stop: threading.Event) -> bool:
        """Refuse to resume on another history than the one the position is in; False when
        `stop` was set before the upstream answered."""
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        try:
            while True:
                if stop.is_set():
                    return False
                replies = ask(context, next_port(self.upstream), Request("status"), self.curve)
                try:
                    reply = next(replies)[0]
                    break
                except ReplayUnavailable as exc:  # not up yet: the subscriber would wait too
                    log.warning("upstream status unavailable, retrying", error=str(exc))
                    stop.wait(1.0)
                finally:
                    replies.close()  # its socket, before the context ends
        finally:
            context.term()
        if reply.stream_id and saved.stream_id and reply.stream_id != saved.stream_id:
            raise SourceError(
                f"the upstream {self.upstream} holds another history (stream "
                f"{reply.stream_id}) than the one this analyzer followed ({saved.stream_id}, up "
                f"to height {saved.height}): the plugins' data is of the old one. Start the "
                f"analyzer with a new data directory to follow the new history"
            )
        return True

    def _checkpoint(self) -> None:
        """Store the position the plugins had at the previous checkpoint (their hooks ran and
        their own writes are done since), then drain for the next one."""
        drained = self._drained
        if drained is not None and drained != self._saved:
            save_position(self.position_path, drained)
            self._saved = drained
        self.plugins.drain()
        self._drained = self.position

    def _behind(self, body: object) -> None:
        """The upstream no longer holds what the plugins need next: stop, saying so."""
        self.gaps += 1
        last = self.position
        first_missing = "its first block" if last is None or last.height < 0 else last.height + 1
        details = body if isinstance(body, dict) else {"body": body}
        if details.get("reason") == "stream changed":
            message = (
                f"the upstream {self.upstream} now holds another history (a new log): the "
                f"plugins' data is of the old one. Start this analyzer with a new data "
                f"directory to follow the new history"
            )
            self.stream.alert("analyzer_stream_changed", message, details=details)
            raise SourceError(message)
        message = (
            f"the upstream {self.upstream} no longer holds what this analyzer needs next "
            f"(height {first_missing}; messages {details.get('from_seq')} to "
            f"{details.get('to_seq')}: {details.get('reason')}). Raise [stream] keep_blocks on "
            f"the executor so that its log reaches back further, and start this analyzer with a "
            f"new data directory (its plugins rebuild from what the log holds)"
        )
        self.stream.alert(
            "analyzer_behind",
            message,
            details={"first_missing_height": first_missing, **details},
        )
        raise SourceError(message)

    def handle(self, msg: Message) -> None:
        """Act on one message of the stream (the run loop's step, public for tests)."""
        kind, body = msg.kind, msg.body
        if kind == "writes":
            self._writes.append((msg.height, body))
        elif kind == "transaction":
            self._txs.append((msg.height, body))
        elif kind == "slot":
            if body.status == "processed":
                self._processed.append(body)  # after its block, as the executor does
            else:
                self.plugins.slots_changed([(body.slot, body.parent, body.status)])
        elif kind == "block":
            self._block(body)
        elif kind == "revert":
            self._revert(body)
        elif kind == "gap":
            log.error("stream gap: messages lost for good", upstream=self.upstream, gap=body)
            self._behind(body)

    def _take(self, number: int) -> tuple[WritesBody | None, list[TransactionBody]]:
        writes = [b for h, b in self._writes if h == number]
        txs = [b for h, b in self._txs if h == number]
        stray = len(self._writes) + len(self._txs) - len(writes) - len(txs)
        if stray:
            log.warning("messages of another block dropped", block=number, messages=stray)
        self._writes, self._txs = [], []
        return (writes[-1] if writes else None), txs

    def _block(self, body: BlockBody) -> None:
        info = block_info(body)
        writes, tx_bodies = self._take(info.number)
        processed, self._processed = self._processed, []
        updates: list[AccountUpdate] = []
        if self.want_accounts:
            if writes is None:
                message = (
                    f"block {info.number} came without its writes: the upstream "
                    f"{self.upstream} did not build them (its [stream] writes is "
                    f'"subscribed" or "never", or it ran without publishing), so '
                    f"update_accounts cannot be called as the executor calls it. Set "
                    f'[stream] writes = "always" on the executor'
                )
                self.stream.alert("writes_missing", message, details={"height": info.number})
                raise SourceError(message)
            updates = account_updates(writes)
        self.plugins.block_committed(
            info,
            updates=updates,
            l1=None if self.l1_url is None else self._l1_block(self.l1_url, info),
            transactions=(
                [transaction_info(b) for b in tx_bodies] if self.want_transactions else []
            ),
            processed=[(slot.slot, slot.parent) for slot in processed],
        )
        self.blocks += 1
        self.accounts += len(updates)
        self.transactions += len(tx_bodies)
        self._recent[info.number] = info
        self._recent.pop(info.number - RECENT_BLOCKS, None)
        self._set_head(info)

    def _l1_block(self, url: str, info: BlockInfo) -> L1Block | None:
        """The L1 block `info` is about, as the rpc source would give it (with its call traces
        when a plugin wants them), from the L1 node at `url`; None, with a warning, when that
        node does not have this block (its number and hash) after L1_ATTEMPTS tries."""

        async def fetch() -> list[dict[str, object]]:
            rpc = EthRpc(url, attempts=3)
            try:
                return await fetch_raw_blocks(
                    rpc, info.number, info.number, traces=self.want_traces
                )
            finally:
                await rpc.aclose()

        reason = ""
        for attempt in range(L1_ATTEMPTS):
            if attempt:
                time.sleep(1.0)
            try:
                raw = anyio.run(fetch)
                block = L1Block.from_rpc(raw[0]) if raw else None
            except (RpcError, SourceError, ValueError, OSError) as exc:
                reason = str(exc)
                continue
            if block is not None and block.hash == info.hash:
                return block
            reason = "the L1 node does not have it" if block is None else "another block there"
        log.warning(
            "L1 block not had from [source] rpc_url: the plugins get none for it",
            block=info.number,
            url=url,
            reason=reason,
        )
        return None

    def _revert(self, body: RevertBody) -> None:
        self._writes, self._txs, self._processed = [], [], []
        hash_, parent_hash = _hex(body.hash), _hex(body.parent_hash)
        known = self._recent.pop(body.number, None)
        if known is not None and known.hash == hash_:
            info = known
        else:
            info = BlockInfo(body.number, hash_, parent_hash, 0, "", 0, 0, 0, 0, 0)
        self.plugins.blocks_reverted([info])
        self.reverted += 1
        parent = self._recent.get(body.number - 1)
        if body.state_hash is None:
            head = None  # reverted to an empty state
        elif parent is not None and parent.hash == parent_hash:
            head = parent
        else:
            head = BlockInfo(body.number - 1, parent_hash, b"", 0, body.state_hash, 0, 0, 0, 0, 0)
        self._set_head(head)

    def _set_head(self, info: BlockInfo | None) -> None:
        self._last = info
        self.stream.set_head(None if info is None else _record(info))

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Drain the plugins, call `shutdown`, close the stream. Idempotent; call it after
        `run` returned."""
        if self._closed:
            return
        self._closed = True
        try:
            self.plugins.stopping(self)
            # Every hook ran and `shutdown` let the plugins finish their writes, unless a
            # plugin was abandoned at the stop timeout with calls still queued: then the last
            # checkpoint stays, and those blocks come again at the next start.
            abandoned = [n for n, state in self.plugins.states.items() if state.abandoned]
            if abandoned:
                log.warning("position not advanced: plugins abandoned", plugins=abandoned)
            elif self.position is not None and self.position != self._saved:
                save_position(self.position_path, self.position)
                self._saved = self.position
        finally:
            self.plugins.close()
            self.stream.close()
            self.requests.close()
