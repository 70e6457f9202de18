"""The node: one loop over notifications that executes, commits, and reports finished heights.

Shaped after a Reth ExEx (`reth-exex-examples` `minimal`): a source yields ChainCommitted,
ChainReorged and ChainReverted; the node applies each block in one LMDB write transaction and
reports `FinishedHeight` only after the block is durable.

The node knows its event log only as `core.eventlog.EventLog` and its plugins only through
`PluginHost`'s events; `monmouth.app.build_node` wires the stream in.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import time
import weakref
from collections import deque
from collections.abc import Callable, Container, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import pluggy
import structlog
from opentelemetry import trace
from opentelemetry.trace import Span

from monmouth.core.accountcache import AccountCache
from monmouth.core.config import Settings
from monmouth.core.errors import SourceError
from monmouth.core.eventlog import EventLog, EventLogFactory, NullEventLog, SlotChange
from monmouth.core.executor import BLOCKHASH_WINDOW, BlockExecutor, ExecutedBlock, Prepared
from monmouth.core.l1 import BlockId, L1Block
from monmouth.core.lthash import LtHash
from monmouth.core.notifications import (
    ChainCommitted,
    ChainFinality,
    ChainReorged,
    ChainReverted,
    FinishedHeight,
    Notification,
)
from monmouth.core.payloads import AccountUpdate, BlockInfo
from monmouth.core.plugins import PluginHost, load_plugins
from monmouth.core.records import BlockRecord, Segment
from monmouth.core.relay import InboxRelay
from monmouth.core.sources.base import Source
from monmouth.core.state import Store, commit_of
from monmouth.core.storewriter import StoreWriter
from monmouth.core.telemetry import (
    COMMIT_SECONDS,
    COMMITTED_SECONDS,
    EXECUTE_SECONDS,
    SPANS,
    observe_signature_tables,
    tracer,
)
from monmouth.rust_svm.accounts import AccountRecord
from monmouth.rust_svm.runtime import SvmRuntime
from monmouth.rust_svm.sigverify import SignatureVerifier

#: Allocations between two collections of the garbage collector's youngest generation while the
#: node runs. A block keeps thousands of small objects alive until it is committed, and at the
#: default (700) the collector walks them again and again: about a tenth of the main thread's
#: time, measured. Nothing the node makes forms cycles, so collecting rarely costs no memory.
#: Above what a group and the lookahead keep alive (peaks of 132,000 and 156,000 tracked objects
#: measured on transfers at 1,000 and 50 per block; 10 to 12 a transaction on SPL and mixed
#: blocks, about 220,000 for a group and a lookahead's 18,000), so that a run is not walked:
#: at 50,000 it was walked once or twice a group, 3.4 to 6.1 us of CPU a transfer at 50 per
#: block and 2.1 to 3.2 at 1,000 (four runs of each; `gc.callbacks`), 0.4 now (issue 21).
GC_YOUNG = 500_000

log = structlog.get_logger("monmouth.node")


@dataclass(slots=True)
class RunStats:
    """Counters of one run, for progress displays and summaries."""

    started: float = field(default_factory=time.monotonic)
    blocks: int = 0
    reverted: int = 0
    ok: int = 0
    failed: int = 0
    rejected: int = 0
    deposits: int = 0
    #: LMDB write transactions that committed blocks (fewer than blocks during catch-up).
    commits: int = 0
    #: Transactions as `transactions` counts them, and those of the group not committed yet
    #: (the other counters move when a group commits, up to `GROUP_SECONDS` later).
    executed: int = 0
    head: BlockInfo | None = None

    @property
    def transactions(self) -> int:
        return self.ok + self.failed + self.rejected

    def tps(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.transactions / elapsed if elapsed > 0 else 0.0


@dataclass(slots=True)
class _Executed:
    """A block executed but not yet committed (part of the current group). Not frozen: one is
    made per block on the main thread, and a frozen dataclass's fields cost a call each."""

    block: BlockId
    l1: L1Block
    executed: ExecutedBlock
    segments: list[Segment]
    parent: int | None
    #: The block's trace span, ended once the block is committed and reported.
    span: Span
    started_ns: int


@dataclass(slots=True)
class _Flight:
    """A group on its way to the store: sent to the writer process (`firsts` None until it
    confirms) or already written inline. Reported by `Node._land`."""

    group: list[_Executed]
    started_ns: int
    #: The stream's order lock (`EventLog.ordered`), held from the write until the group's
    #: segments are submitted, so that no other segment is submitted between.
    order: contextlib.ExitStack
    firsts: list[int] | None = None


#: A group commit ends at this many blocks (catch-up; at the head, a notification carries one
#: block, and each block is its own group), and at the notification's end. Enough that small
#: blocks fill a group by transactions as large ones do (200 blocks of 50, with the replay
#: file's notifications of that many): each group's fsync is time the main thread waits ...
GROUP_BLOCKS = 256
#: ... or this many transactions: enough to make the fsync cheap, few enough that the last
#: group's commit, which nothing overlaps at the end of a catch-up, stays short ...
GROUP_TXS = 10_000
#: ... or once its first block executed this long ago: what a catch-up delays a block's report
#: by at most, about what 10,000 transactions take.
GROUP_SECONDS = 0.5
#: Blocks prepared (routed, decoded, signatures queued) ahead of the one executing: at least
#: this many ...
LOOKAHEAD = 8
#: ... and more while fewer transactions than this are queued, so that the checking threads
#: have work through a group commit's fsync whatever the size of the blocks (eight blocks of 50
#: transactions were checked long before the commit ended, and the main thread then waited for
#: the checks) ...
LOOKAHEAD_TXS = 8_000
#: ... but never more blocks than this (prepared blocks hold their decoded transactions).
LOOKAHEAD_MAX = 256


def writer_process(mode: str) -> bool:
    """Whether `[store] writer = mode` commits in the writer process: "auto" does where this
    process may run on two CPUs or more (on one, the process's extra CPU buys nothing)."""
    if mode != "auto":
        return mode == "process"
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return cpus >= 2


class RecentBlocks:
    """The last BLOCKHASH_WINDOW blocks up to the head, (number, hash) oldest first, and the
    blockhashes a block on top of the head lets its transactions use: theirs (the parent's
    among them), counted as blocks come and go rather than gathered for each block."""

    __slots__ = ("_blocks", "_hashes")

    def __init__(self) -> None:
        self._blocks: deque[tuple[int, bytes]] = deque()
        # A count per hash: a source may (wrongly) give two blocks one hash, and the window
        # must keep it while either is in it.
        self._hashes: dict[bytes, int] = {}

    def __bool__(self) -> bool:
        return bool(self._blocks)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return iter(self._blocks)

    @property
    def head(self) -> tuple[int, bytes]:
        """The last block's number and hash (the deque must not be empty)."""
        return self._blocks[-1]

    def append(self, number: int, blockhash: bytes) -> None:
        blocks, hashes = self._blocks, self._hashes
        if len(blocks) == BLOCKHASH_WINDOW:
            _, old = blocks.popleft()
            left = hashes[old] - 1
            if left:
                hashes[old] = left
            else:
                del hashes[old]
        blocks.append((number, blockhash))
        hashes[blockhash] = hashes.get(blockhash, 0) + 1

    def clear(self) -> None:
        self._blocks.clear()
        self._hashes.clear()

    def window(self, block: L1Block) -> Container[bytes]:
        """The blockhashes `block`'s transactions may use: the BLOCKHASH_WINDOW blocks before
        it (it extends the head: these blocks are consecutive and end at its parent), or only
        its parent's for the first block after an empty state. Read while it executes."""
        return self._hashes if self._blocks else frozenset((block.parent_hash,))


class Node:
    """Owns the state, the runtime and the plugins of one executing instance (a `Host`).

    :param plugins: the plugin manager (default: the plugins the settings enable).
    :param event_log: builds the event log from the store and the head (default: none, the
        node keeps and sends no events; `monmouth.app.build_node` passes the stream's).
    :param on_finished: called with each finished height, once its block is durable.
    :param relay: where plugins' outside transactions go (`Host.relay`; `core.relay`); None:
        nowhere. `monmouth.app.build_node` passes the devnet's.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        plugins: pluggy.PluginManager | None = None,
        event_log: EventLogFactory | None = None,
        on_finished: Callable[[FinishedHeight], None] | None = None,
        relay: InboxRelay | None = None,
    ) -> None:
        self.settings = settings
        self.pm = plugins if plugins is not None else load_plugins(settings)
        self.store = Store(
            settings.data_dir,
            map_size=settings.store.map_size_mb << 20,
            sync=settings.store.sync,
            retention=settings.store.retention_blocks,
            stream_blocks=settings.stream.keep_blocks,
            index_signatures=settings.store.index_signatures and settings.store.transaction_details,
            index_owners=settings.store.index_owners,
            index_tokens=settings.store.index_tokens,
        )
        self.runtime = SvmRuntime()
        self.verifier = SignatureVerifier()
        verifier = weakref.ref(self.verifier)
        observe_signature_tables(lambda: {} if (v := verifier()) is None else v.stats())
        self.plugins = PluginHost(self.pm, settings)
        try:
            cache = AccountCache.build(self.runtime, self.plugins.account_cache())
        except BaseException:
            self.plugins.close()
            self.verifier.close()
            self.store.close()
            raise
        self.executor = BlockExecutor(
            self.store, self.runtime, self.verifier, self.plugins.route, cache
        )
        self._plugin_updates = self.plugins.wants_account_updates()
        self.executor.want_updates = self._plugin_updates
        self.executor.keep_details = settings.store.transaction_details
        self.stats = RunStats()
        self._recent = RecentBlocks()
        try:
            # The head, state and blockhash window first: the event log's request thread asks
            # for the head (`_head_number`) as soon as it starts.
            head = self._load_head()
            self.events: EventLog = (
                NullEventLog() if event_log is None else event_log(self.store, self._head_number)
            )
        except BaseException:
            self.plugins.close()
            self.verifier.close()
            self.store.close()
            raise
        self.executor.want_transactions = self.events.logging or self.plugins.wants_transactions()
        self._on_finished = on_finished
        #: Where outside transactions go to reach the inbox (`monmouth.app` passes the source's;
        #: None: none). Set before the plugins start, so `startup` sees it.
        self.relay: InboxRelay | None = relay
        self._stop = False
        self._limit: int | None = None
        self._closed = False
        self._on_close: list[Callable[[], None]] = []
        #: The L1 node's head as the source last saw it (None when the source does not say).
        self.l1_head: int | None = None
        self._group: list[_Executed] = []
        self._group_txs = 0
        #: The group being committed while the next one executes (`_flush`).
        self._flight: _Flight | None = None
        #: Whether group commits go to the store's writer process (`[store] writer`;
        #: `writer_process`), started when `run` starts (or at the first commit).
        self.writer_process = writer_process(settings.store.writer)
        self._writer: StoreWriter | None = None
        self._failed = False  # a commit failed: nothing more is committed
        self._group_started = 0.0  # time.monotonic() when the group's first block executed
        self.events.set_head(head)
        self.plugins.register_extensions(self.events.register, self._add_method)
        self.plugins.started(self, self._snapshot, self.stats.head)

    def _load_head(self) -> BlockRecord | None:
        """The stored head: the state, the blockhash window and `stats.head` from it."""
        head = self.store.head()
        if head is None:
            self.state = LtHash.identity()
            return None
        lthash = self.store.lthash(head.number)
        if lthash is None or lthash.checksum() != head.checksum:
            raise SourceError(
                f"{self.settings.data_dir} is corrupt: the lattice hash of head #{head.number} "
                "does not match its checksum"
            )
        self.state = lthash
        for rec in self.store.blocks(head.number - BLOCKHASH_WINDOW + 1, head.number):
            self._recent.append(rec.number, rec.hash)
        self.stats.head = BlockInfo.from_record(head)
        return head

    def _add_method(self, name: str, function: Callable[[Node, Any], Any]) -> None:
        """`register_rpc_methods`: served on the stream's request socket (op `call`)."""
        self.events.add_method(name, functools.partial(function, self))

    def _snapshot(self, chunk: int = 1024) -> Iterator[list[AccountUpdate]]:
        """Every stored account, in chunks (the startup snapshot)."""
        updates: list[AccountUpdate] = []
        for pubkey, raw in self.store.iter_accounts():
            rec = AccountRecord.decode(raw)
            updates.append(
                AccountUpdate(
                    pubkey,
                    rec.lamports,
                    rec.owner,
                    rec.executable,
                    rec.rent_epoch,
                    rec.data,
                    None,
                    0,
                )
            )
            if len(updates) >= chunk:
                yield updates
                updates = []
        if updates:
            yield updates

    # ------------------------------------------------------------------ queries

    @property
    def head(self) -> BlockId | None:
        return self.store.head_id()

    @property
    def last_block(self) -> BlockInfo | None:
        return self.stats.head

    def stream_subscriptions(self) -> int | None:
        return self.events.subscriptions()

    def _head_number(self) -> int | None:
        return self._recent.head[0] if self._recent else None

    def _stored_hash(self, number: int) -> bytes | None:
        record = self.store.block(number) if number >= 0 else None
        return None if record is None else record.hash

    # ------------------------------------------------------------------ applying

    def request_stop(self) -> None:
        """Stop after the block being executed (safe from a signal handler); plugins get at
        most `[plugins] stop_timeout` more seconds, so a stuck one cannot hold the node."""
        self._stop = True
        self.plugins.request_stop()

    def _done(self) -> bool:
        limit = self._limit
        flight = self._flight
        executed = self.stats.blocks + len(self._group) + (len(flight.group) if flight else 0)
        return self._stop or (limit is not None and executed >= limit)

    def commit(self, block: L1Block, prepared: Prepared | None = None) -> BlockRecord:
        """Execute one block on top of the head and make it durable (a group of one).

        :param prepared: the block already prepared by `executor.prepare`, if it was.
        """
        self._execute(block, prepared)
        return self._flush()[-1]

    def _execute(self, block: L1Block, prepared: Prepared | None) -> None:
        """Execute one block on top of the head (committed or still in the group)."""
        head = self._recent.head if self._recent else None
        if head is not None and (block.number != head[0] + 1 or block.parent_hash != head[1]):
            raise SourceError(
                f"block #{block.number} does not extend the head #{head[0]} "
                f"(parent {block.parent_hash.hex()}, head {head[1].hex()})"
            )
        if prepared is None or prepared.block is not block:
            prepared = self.executor.prepare(block)
        # The stream's `writes` are the plugins' per-write updates, encoded.
        writes = self.events.logging and self.events.wants_writes()
        self.executor.want_writes = writes
        started = time.perf_counter()
        if SPANS.active():
            span = tracer.start_span(
                "block",
                start_time=prepared.started_ns,
                attributes={
                    "l1.block.number": block.number,
                    "l1.block.hash": "0x" + block.hash.hex(),
                },
            )
            context = trace.set_span_in_context(span)
            tracer.start_span("route", context=context, start_time=prepared.started_ns).end(
                end_time=prepared.routed_ns
            )
            with trace.use_span(span), tracer.start_as_current_span("execute"):
                executed = self.executor.execute(prepared, self._recent.window(block), self.state)
            # Signatures were checked in the workers from routing on; execution took the last
            # verdict before it ended.
            tracer.start_span("verify", context=context, start_time=prepared.routed_ns).end()
        else:
            span = trace.INVALID_SPAN
            executed = self.executor.execute(prepared, self._recent.window(block), self.state)
        EXECUTE_SECONDS.record(time.perf_counter() - started)
        write = executed.write
        parent = block.number - 1 if self._recent else None
        segments: list[Segment] = []
        if self.events.logging:
            segments = self.events.block_segments(
                write.block,
                parent,
                write.accounts,
                executed.transactions,
                write.details,
                executed.writes,
            )
        self.state = write.lthash
        self._recent.append(block.number, block.hash)
        if not self._group:
            self._group_started = time.monotonic()
        self._group.append(
            _Executed(block.id, block, executed, segments, parent, span, prepared.started_ns)
        )
        self._group_txs += len(executed.write.txs)
        self.stats.executed += len(executed.write.txs)

    def _flush(self, *, wait: bool = True) -> list[BlockRecord]:
        """Commit the executed blocks in one LMDB transaction, then report them: finished
        height, stream, hooks (in block order); returns the records of the blocks reported.

        With the store's writer process (`[store] writer = "process"`), `wait` False only sends
        the group: it is reported by the next `_flush`, and the next group executes while the
        child writes this one. Either way a group is reported only once it is committed, and the
        group before it first.
        """
        records = self._land()
        group, self._group, self._group_txs = self._group, [], 0
        if not group or self._failed:
            # After a failed commit the runtime is ahead of the store: nothing more is
            # committed (the node stops; run again to continue from the store's head).
            return records
        self._send(group)
        if wait:
            records += self._land()
        return records

    def _send(self, group: list[_Executed]) -> None:
        """Write `group` inline, or send it to the writer process; `_land` reports it."""
        order = contextlib.ExitStack()
        order.enter_context(self.events.ordered())
        try:
            commits = [commit_of(g.executed.write, g.segments) for g in group]
            self.executor.seal()
            started = time.time_ns()
            firsts: list[int] | None = None
            if not self.writer_process:
                firsts = self.store.write_commits(commits)  # under the store's lock
            else:
                if self._writer is None:
                    self._writer = StoreWriter(self.store)
                self._writer.submit(commits)
        except BaseException:
            self._failed = True
            order.close()
            raise
        self._flight = _Flight(group, started, order, firsts)

    def _land(self) -> list[BlockRecord]:
        """Wait for the group in flight to be committed, then report it (see `_flush`)."""
        flight, self._flight = self._flight, None
        if flight is None:
            return []
        group, events, commit_start = flight.group, self.events, flight.started_ns
        with flight.order:
            firsts = flight.firsts
            if firsts is None:
                assert self._writer is not None
                try:
                    firsts = self._writer.result()
                except BaseException:
                    self._failed = True
                    raise
            for first, g in zip(firsts, group, strict=True):
                events.submit(first, g.segments)
        commit_end = time.time_ns()
        COMMIT_SECONDS.record((commit_end - commit_start) / 1e9, {"blocks": len(group)})
        for g in group:
            COMMITTED_SECONDS.record((commit_end - g.started_ns) / 1e9)
            if g.span is not trace.INVALID_SPAN:
                tracer.start_span(
                    "commit",
                    context=trace.set_span_in_context(g.span),
                    start_time=commit_start,
                    attributes={"blocks": len(group)},
                ).end(end_time=commit_end)
        self.executor.settle()
        self.stats.commits += 1
        records = [g.executed.write.block for g in group]
        events.set_head(records[-1])
        if self._on_finished is not None:
            self._on_finished(FinishedHeight(group[-1].block))
        plugins = self.plugins
        stats = self.stats
        for g, rec in zip(group, records, strict=True):
            notify_start = time.time_ns()
            info = BlockInfo.from_record(rec)
            stats.blocks += 1
            stats.ok += rec.ok
            stats.failed += rec.failed
            stats.rejected += rec.rejected
            stats.deposits += rec.deposits
            stats.head = info
            executed = g.executed
            plugins.block_committed(
                info,
                updates=executed.updates if self._plugin_updates else (),
                transactions=executed.transactions,
                l1=g.l1,
                processed=((rec.number, g.parent),),
            )
            if g.span is not trace.INVALID_SPAN:
                # Hooks run in their workers: "notify" is the handing over, not their work.
                tracer.start_span(
                    "notify", context=trace.set_span_in_context(g.span), start_time=notify_start
                ).end()
                g.span.end()
        # A plugin under the `halt` policy failed: stop now that these blocks are durable.
        plugins.check()
        return records

    def revert_to(self, number: int) -> list[BlockInfo]:
        """Undo blocks tip-first until the head is `number` (or the state is empty)."""
        events = self.events
        head = self._recent.head[0] if self._recent else None
        if head is None or head <= number:
            return []
        first = self.store.first_block() or 0
        count = head - max(number, first - 1)
        make = events.revert_segments if events.logging else None
        # One write transaction for the whole reorg: one fsync, and all or nothing.
        with events.ordered():
            undone = self.store.revert_blocks(count, segments=make)
            for rev in undone:
                events.submit(rev.first_seq, rev.segments)
        parent = undone[-1].block.number - 1
        self.executor.reverted(parent)
        reverted: list[BlockInfo] = []
        restore = self.executor.cache.restore
        for rev in undone:
            for pubkey, value in rev.accounts:
                restore(pubkey, value)
            reverted.append(BlockInfo.from_record(rev.block))
        head_rec = self.store.head()
        if head_rec is None:
            self.state = LtHash.identity()
            self._recent.clear()
        else:
            lthash = self.store.lthash(head_rec.number)
            if lthash is None:
                raise SourceError(f"the lattice hash of block #{parent} was pruned")
            self.state = lthash
            self._reload_recent(head_rec.number)
        self.stats.reverted += len(reverted)
        self.stats.head = None if head_rec is None else BlockInfo.from_record(head_rec)
        events.set_head(head_rec)
        self.plugins.blocks_reverted(reverted)
        log.info("reverted", blocks=len(reverted), head=number)
        return reverted

    def _reload_recent(self, head: int) -> None:
        self._recent.clear()
        for rec in self.store.blocks(head - BLOCKHASH_WINDOW + 1, head):
            self._recent.append(rec.number, rec.hash)

    def _known(self, block: L1Block) -> bool:
        """Whether `block` is already committed (a source may repeat blocks on restart)."""
        if not self._recent or block.number > self._recent.head[0]:
            return False
        rec = self.store.block(block.number)
        if rec is None or rec.hash != block.hash:
            raise SourceError(
                f"block #{block.number} {block.hash.hex()} conflicts with the stored block; "
                "the source and the data directory are on different chains"
            )
        return True

    def _finality(self, update: ChainFinality) -> None:
        """Record the L1 node's safe and finalized blocks that the node has, and tell plugins."""
        head = self._recent.head[0] if self._recent else -1

        def ours(block: BlockId | None) -> int | None:
            # A block above the head: the head, an ancestor on the source's canonical chain, is
            # as final. At or below the head: only if it is the block this node committed.
            if block is None:
                return None
            if block.number > head:
                return head if head >= 0 else None
            rec = self.store.block(block.number)
            return block.number if rec is not None and rec.hash == block.hash else None

        safe, finalized = ours(update.safe), ours(update.finalized)
        old_safe, old_finalized = self.store.finality()
        if (safe, finalized) == (old_safe, old_finalized):
            return
        lowest = self.store.first_block() or 0
        changes: list[SlotChange] = []
        for new, old, status in (
            (safe, old_safe, "confirmed"),
            (finalized, old_finalized, "finalized"),
        ):
            if new is None or (old is not None and new <= old):
                continue
            first = old + 1 if old is not None else lowest
            for slot in range(first, new + 1):
                # The state's first block has no parent the node knows, as for `processed`.
                changes.append((slot, slot - 1 if slot > lowest else None, status))  # type: ignore[arg-type]
        events = self.events
        segments = (
            events.slot_segments(changes[-1][0], changes) if changes and events.logging else []
        )
        with events.ordered():
            first_seq = self.store.set_finality(safe, finalized, segments=segments)
            events.submit(first_seq, segments)
        self.plugins.slots_changed(changes)

    def apply(self, notification: Notification, *, more: bool = False) -> None:
        """Apply one notification; stops early (between blocks) when a stop was requested.

        :param more: the source has more blocks ready at once (`Source.catching_up`): the last
            group stays open and the one sent stays in flight, so that the next notification's
            blocks execute while the store's writer process commits (at the end of each
            notification of a replay file, the main thread otherwise waited for the commit and
            the checking threads ran dry). A notification that does not just extend the head
            lands what is in flight first: reverts, finality and repeated blocks read the
            store.
        """
        if self._flight is not None and not self._extends(notification):
            self._flush()
        if isinstance(notification, ChainFinality):
            self._finality(notification)
            return
        if isinstance(notification, ChainReorged | ChainReverted) and notification.old:
            self.revert_to(notification.old[0].number - 1)
        if isinstance(notification, ChainCommitted | ChainReorged):
            blocks = [b for b in notification.new if not self._known(b)]
            # Blocks are routed, decoded and their signatures queued LOOKAHEAD or more ahead of
            # the one executing, so that the checking threads have work while the main thread
            # executes and commits (a group commit's fsync takes a while).
            upcoming = iter(blocks)
            prepared: deque[Prepared] = deque()
            queued = 0  # transactions in `prepared`
            try:
                for block in blocks:
                    if self._done():
                        break
                    while len(prepared) < LOOKAHEAD or (
                        queued < LOOKAHEAD_TXS and len(prepared) < LOOKAHEAD_MAX
                    ):
                        nxt = next(upcoming, None)
                        if nxt is None:
                            break
                        prepared.append(self.executor.prepare(nxt))
                        queued += len(prepared[-1].items)
                    current = prepared.popleft()
                    queued -= len(current.items)
                    self._execute(block, current)
                    if (
                        len(self._group) >= GROUP_BLOCKS
                        or self._group_txs >= GROUP_TXS
                        or time.monotonic() - self._group_started >= GROUP_SECONDS
                    ):
                        # Sent only: committed while the next group executes.
                        self._flush(wait=False)
            except BaseException:
                # Whatever was executed is valid: commit it even when a later block failed.
                self._flush()
                raise
        if not more or self._done():
            self._flush()

    def _extends(self, notification: Notification) -> bool:
        """Whether `notification` only adds blocks on top of the executed head (which needs no
        read of the store, so not the group in flight landed)."""
        if not isinstance(notification, ChainCommitted) or not notification.new:
            return False
        return not self._recent or notification.new[0].number == self._recent.head[0] + 1

    async def run(self, source: Source, *, max_blocks: int | None = None) -> RunStats:
        """Follow `source` until it ends, a stop is requested, or `max_blocks` were committed.

        While it runs, the cyclic garbage collector's first generation waits for `GC_YOUNG`
        allocations instead of 700 (the previous thresholds come back after).
        """
        self._limit = max_blocks
        if self.writer_process and self._writer is None:
            # Started now, ready by the first commit (it opens the store meanwhile).
            self._writer = StoreWriter(self.store)
            log.info("store writer", mode=self.settings.store.writer, pid=self._writer.pid)
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], GC_YOUNG), *thresholds[1:])
        try:
            notifications = source.notifications(self.head, self._stored_hash)
            async with aclosing(notifications):
                async for notification in notifications:
                    self.l1_head = getattr(source, "l1_head", None)
                    self.apply(notification, more=getattr(source, "catching_up", False))
                    if self._done():
                        break
            self._flush()
            # A plugin under `halt` may fail on the last blocks, behind the node: wait for them.
            self.plugins.drain()
            self.plugins.check()
        finally:
            # Whatever ended the run (the source failed, a stop), what was executed is valid:
            # `apply` may have left the last group open and one in flight.
            if not self._failed and (self._group or self._flight is not None):
                self._flush()
            self._limit = None
            gc.set_threshold(*thresholds)
        return self.stats

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the node closes, once the plugins have stopped (so nothing
        uses what it closes, such as the relay); the last registered is called first."""
        self._on_close.append(callback)

    def close(self) -> None:
        """Tell plugins, run the `on_close` callbacks, stop the verifier and close the store.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._flight is not None:
            # Not reported (an exception passed `_land`): let go of the stream's order, which
            # a plugin publishing while it stops would wait for.
            self._flight.order.close()
            self._flight = None
        try:
            self.plugins.stopping(self)
        finally:
            self.plugins.close()
            try:
                while self._on_close:
                    self._on_close.pop()()
            finally:
                self.events.close()
                self.verifier.close()
                self.executor.close()
                if self._writer is not None:
                    self._writer.close()
                self.store.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
