"""The `rpc` source: follow any Ethereum JSON-RPC node (reth, geth, anvil) like a Reth ExEx.

- Blocks come from `eth_getBlockByNumber(n, true)` and `eth_getBlockReceipts(n)`, fetched ahead in
  batched requests, several at once, and handed over in order.
- With `traces=True` (a plugin asked for call traces: `wants_traces`), each block's Parity
  `trace_block(n)` comes in the same batched requests and rides on the block (`L1Block.traces`).
  A node that does not serve `trace_block` ("method not found") gets one warning, and blocks
  come without traces from then on; a block whose traces fail otherwise (after a few tries)
  comes without them, with a warning.
- New heads are found by polling `eth_blockNumber` (every `poll_interval` seconds) or, for a
  ws:// URL, as `eth_subscribe("newHeads")` announces them (with polling as a fallback).
- A reorg is found when a new block does not link to the last one handed over, or when the block
  at the tip's height changed: the source walks parent hashes back to the fork point and says
  `ChainReorged(old, new)`, or `ChainReverted(old)` when the chain got shorter.
- The node's `safe` and `finalized` blocks are read after each new segment and reported as
  `ChainFinality` (nodes without those tags are simply not asked again).
- On start, the persisted head is checked against the canonical chain first; a head that was
  reorged out while the node was down is reverted to the fork point before anything else
  (Reth's `with_head`).
- Faults of the node are retried for ever with backoff (see `EthRpc`): a node that goes away and
  comes back costs time, never a half-applied block.

The blocks of `old` segments are the node's own (number and hash, no transactions): orphaned
blocks cannot be fetched by number any more, and the node undoes them from its undo records.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anyio
import structlog

from monmouth.core.errors import SourceError
from monmouth.core.ethrpc import METHOD_NOT_FOUND, EthRpc, RpcError
from monmouth.core.hexutil import parse_data, parse_quantity, to_quantity
from monmouth.core.l1 import BlockId, L1Block
from monmouth.core.notifications import (
    ChainCommitted,
    ChainFinality,
    ChainReorged,
    ChainReverted,
    Notification,
)
from monmouth.core.sources.base import HashAt

log = structlog.get_logger("monmouth.rpc")

#: Blocks per JSON-RPC batch request (two calls each: block and receipts).
BATCH_BLOCKS = 8
#: Batch requests in flight at once during catch-up.
CONCURRENCY = 4
#: Hashes of handed-over blocks kept to find fork points (deeper ones come from the store).
KEEP_HASHES = 1024
#: Quick looks for a block that was announced but not served yet (5 ms apart).
ANNOUNCED_RETRIES = 100


#: Tries at one block's `trace_block` alone, after a batch with traces failed.
TRACE_ATTEMPTS = 3


class TracesUnsupported(RpcError):
    """The node does not serve `trace_block` ("method not found")."""

    def __init__(self, message: str) -> None:
        super().__init__("trace_block", METHOD_NOT_FOUND, message)


async def fetch_raw_blocks(
    rpc: EthRpc, first: int, last: int, *, traces: bool = False
) -> list[dict[str, Any]]:
    """Blocks `first..last` as the node returns them, each with its `receipts`, in order.

    With `traces`, each also has `traces`: the answer of `trace_block(n)`, in the same batched
    requests; a block whose traces could not be had (see the module docstring) has no such key.
    Stops early (returns fewer) at the first block the node does not have. Raises SourceError
    when a block's receipts or traces belong to another block (the chain changed mid-fetch: try
    again), and TracesUnsupported when the node does not serve `trace_block`.
    """
    ranges = [(n, min(n + BATCH_BLOCKS - 1, last)) for n in range(first, last + 1, BATCH_BLOCKS)]
    results: dict[int, list[dict[str, Any]]] = {}
    limiter = anyio.Semaphore(CONCURRENCY)

    async def fetch(lo: int, hi: int) -> None:
        async with limiter:
            results[lo] = await _fetch_range(rpc, lo, hi, traces)

    try:
        async with anyio.create_task_group() as tg:
            for lo, hi in ranges:
                tg.start_soon(fetch, lo, hi)
    except BaseExceptionGroup as group:
        # The task group wraps what a fetch raised: callers catch SourceError, RpcError.
        error = _first_error(group)
        if error is None:
            raise
        raise error from None
    out: list[dict[str, Any]] = []
    for lo, hi in ranges:
        chunk = results[lo]
        out.extend(chunk)
        if len(chunk) < hi - lo + 1:
            break
    return out


def _first_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    """The first error (not a cancellation or an interrupt) in a task group's exceptions."""
    for exc in group.exceptions:
        found = _first_error(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if isinstance(found, Exception):
            return found
    return None


async def _fetch_range(rpc: EthRpc, lo: int, hi: int, traces: bool) -> list[dict[str, Any]]:
    if traces:
        calls: list[tuple[str, list[Any]]] = []
        for n in range(lo, hi + 1):
            calls.append(("eth_getBlockByNumber", [to_quantity(n), True]))
            calls.append(("eth_getBlockReceipts", [to_quantity(n)]))
            calls.append(("trace_block", [to_quantity(n)]))
        try:
            # Not retried on error answers: one failing call must not stall the others for
            # ever; the slow path below retries what it should.
            answers = await rpc.batch(calls, retry_errors=False)
        except RpcError as exc:
            if exc.method == "trace_block" and exc.code == METHOD_NOT_FOUND:
                raise TracesUnsupported(exc.message) from None
        else:
            return _assemble(answers[0::3], answers[1::3], answers[2::3])
    answers = await _blocks_and_receipts(rpc, lo, hi)
    blocks, receipts = answers[0::2], answers[1::2]
    if not traces:
        return _assemble(blocks, receipts, None)
    found: list[Any] = []
    for block, block_receipts in zip(blocks, receipts, strict=True):
        if block is None or block_receipts is None:
            break
        found.append(await _trace_alone(rpc, block))
    return _assemble(blocks, receipts, found)


async def _blocks_and_receipts(rpc: EthRpc, lo: int, hi: int) -> list[Any]:
    """`[block, receipts, block, receipts, ...]`: batched, or one receipt at a time for a node
    without `eth_getBlockReceipts`."""
    calls: list[tuple[str, list[Any]]] = []
    for n in range(lo, hi + 1):
        calls.append(("eth_getBlockByNumber", [to_quantity(n), True]))
        calls.append(("eth_getBlockReceipts", [to_quantity(n)]))
    try:
        return await rpc.batch(calls)
    except RpcError as exc:
        if exc.code != METHOD_NOT_FOUND:
            raise
    answers: list[Any] = []
    for n in range(lo, hi + 1):
        block = await rpc.call("eth_getBlockByNumber", to_quantity(n), True)
        receipts = None
        if block is not None:
            receipts = await rpc.batch(
                [("eth_getTransactionReceipt", [tx["hash"]]) for tx in block["transactions"]]
            )
        answers += [block, receipts]
    return answers


async def _trace_alone(rpc: EthRpc, block: dict[str, Any]) -> Any:
    """`trace_block` for one block, tried a few times; None (with a warning) when it fails."""
    delay = 0.1
    for attempt in range(1, TRACE_ATTEMPTS + 1):
        try:
            (answer,) = await rpc.batch([("trace_block", [block["number"]])], retry_errors=False)
            return answer
        except RpcError as exc:
            if exc.code == METHOD_NOT_FOUND:
                raise TracesUnsupported(exc.message) from None
            if attempt == TRACE_ATTEMPTS:
                log.warning("block without traces", block=block["number"], error=f"{exc.message}")
                return None
        await anyio.sleep(delay)
        delay *= 2
    return None


def _assemble(
    blocks: list[Any], receipts: list[Any], traces: list[Any] | None
) -> list[dict[str, Any]]:
    """Each block with its `receipts` (and `traces`), up to the first block the node lacks."""
    out = []
    for i, (block, block_receipts) in enumerate(zip(blocks, receipts, strict=True)):
        if block is None or block_receipts is None:
            break
        for receipt in block_receipts:
            if receipt.get("blockHash", block["hash"]) != block["hash"]:
                raise SourceError(f"block {block['number']} changed while it was fetched")
        obj = {**block, "receipts": block_receipts}
        block_traces = None if traces is None or i >= len(traces) else traces[i]
        if isinstance(block_traces, list):
            for trace in block_traces:
                found = trace.get("blockHash", block["hash"]) if isinstance(trace, dict) else None
                if found is not None and found != block["hash"]:
                    raise SourceError(f"block {block['number']} changed while it was traced")
            obj["traces"] = block_traces
        out.append(obj)
    return out


class RpcSource:
    """Follows an Ethereum node over HTTP JSON-RPC.

    :param url: the node's HTTP endpoint.
    :param start_block: the first block on an empty state (the inbox's history matters from its
        first block).
    :param poll_interval: seconds between looks for a new head once caught up.
    :param fetch_ahead: blocks fetched ahead and handed over in one notification in catch-up.
    :param traces: also fetch each block's call traces (`trace_block`) into `L1Block.traces`;
        for plugins that ask for them (`wants_traces`). Off when the node turns out not to
        serve them (`self.traces` is then False).
    """

    def __init__(
        self,
        url: str,
        *,
        start_block: int = 0,
        poll_interval: float = 1.0,
        fetch_ahead: int = 64,
        traces: bool = False,
    ) -> None:
        self.url = url
        self.traces = traces
        self.start_block = start_block
        self.poll_interval = poll_interval
        self.fetch_ahead = fetch_ahead
        #: The L1 node's latest block number, as last seen (for progress displays).
        self.l1_head: int | None = None
        self._known: dict[int, bytes] = {}
        self._finality_tags = True
        self._hash_at: HashAt = lambda _n: None

    # ------------------------------------------------------------------ chain views

    def _ours(self, number: int) -> bytes | None:
        """The hash of our block at `number`: handed over this run, else from the store."""
        found = self._known.get(number)
        return found if found is not None else self._hash_at(number)

    def _remember(self, blocks: tuple[L1Block, ...]) -> None:
        for block in blocks:
            self._known[block.number] = block.hash
        if len(self._known) > 2 * KEEP_HASHES:
            for number in sorted(self._known)[:-KEEP_HASHES]:
                del self._known[number]

    def _forget_above(self, number: int) -> None:
        for n in [n for n in self._known if n > number]:
            del self._known[n]

    def _ours_segment(self, first: int, last: int) -> tuple[L1Block, ...]:
        """Our blocks `first..last` as headers (what `old` segments carry)."""
        out = []
        for n in range(first, last + 1):
            block_hash = self._ours(n) or bytes(32)
            parent = self._ours(n - 1) or bytes(32)
            out.append(L1Block(n, block_hash, parent, 0, ()))
        return tuple(out)

    async def _canonical_hashes(self, rpc: EthRpc, numbers: list[int]) -> dict[int, bytes | None]:
        answers = await rpc.batch(
            [("eth_getBlockByNumber", [to_quantity(n), False]) for n in numbers]
        )
        return {
            n: None if a is None else parse_data(a.get("hash"), "hash", 32)
            for n, a in zip(numbers, answers, strict=True)
        }

    async def _fork_point(self, rpc: EthRpc, below: int) -> int:
        """The highest height <= `below` where our block is canonical; start_block - 1 if none."""
        n = below
        while n >= self.start_block:
            numbers = list(range(n, max(n - 16, self.start_block - 1), -1))
            canonical = await self._canonical_hashes(rpc, numbers)
            for m in numbers:
                ours = self._ours(m)
                if ours is None:
                    raise SourceError(
                        f"the L1 chain reorged below block #{m}, which the node no longer knows "
                        "(deeper than its retention); resync into a new data directory"
                    )
                if canonical[m] == ours:
                    return m
            n = numbers[-1] - 1
        raise SourceError(
            f"none of the node's blocks from #{self.start_block} up is on the L1 node's chain: "
            "the data directory belongs to another chain; use another --data-dir"
        )

    # ------------------------------------------------------------------ fetching

    async def _fetch(self, rpc: EthRpc, first: int, last: int) -> tuple[L1Block, ...]:
        """Linked canonical blocks `first..` (up to `last`); fewer if the chain moved meanwhile."""
        for _ in range(5):
            try:
                raw = await fetch_raw_blocks(rpc, first, last, traces=self.traces)
            except TracesUnsupported as exc:
                log.warning(
                    "the L1 node does not serve trace_block: blocks come without call traces",
                    url=self.url,
                    error=exc.message,
                )
                self.traces = False
                continue
            except SourceError as exc:
                log.info("refetching", reason=str(exc))
                continue
            blocks: list[L1Block] = []
            for obj in raw:
                try:
                    block = L1Block.from_rpc_fast(obj)
                except ValueError as exc:
                    raise SourceError(f"the L1 node sent an invalid block: {exc}") from None
                if blocks and block.parent_hash != blocks[-1].hash:
                    break  # a reorg between two requests: take the linked part
                blocks.append(block)
            return tuple(blocks)
        return ()

    # ------------------------------------------------------------------ following

    async def notifications(
        self, head: BlockId | None, hash_at: HashAt | None = None
    ) -> AsyncGenerator[Notification, None]:
        if hash_at is not None:
            self._hash_at = hash_at
        if head is not None:
            self._known[head.number] = head.hash
        rpc = EthRpc(self.url, attempts=None, retry_errors=True)
        try:
            if rpc.websocket:
                await rpc.subscribe_new_heads()
            tip = head
            async for notification in self._follow(rpc, tip):
                yield notification
        finally:
            with anyio.CancelScope(shield=True):
                await rpc.aclose()

    async def _follow(self, rpc: EthRpc, tip: BlockId | None) -> AsyncGenerator[Notification, None]:
        # A node may announce a head a moment before it serves it: look again shortly.
        announced_misses = 0
        while True:
            latest = parse_quantity(await rpc.call("eth_blockNumber"), "eth_blockNumber")
            self.l1_head = latest
            if tip is not None:
                canonical = (
                    None
                    if latest < tip.number
                    else (await self._canonical_hashes(rpc, [tip.number]))[tip.number]
                )
                if canonical != tip.hash:
                    notification, tip = await self._rewind(rpc, tip, latest)
                    if notification is not None:
                        yield notification
                    continue
            first = self.start_block if tip is None else tip.number + 1
            if latest < first:
                if 0 < announced_misses < ANNOUNCED_RETRIES:
                    announced_misses += 1
                    await anyio.sleep(0.005)
                else:
                    announced = await rpc.wait_for_head(self.poll_interval)
                    announced_misses = 1 if announced else 0
                continue
            announced_misses = 0
            blocks = await self._fetch(rpc, first, min(latest, first + self.fetch_ahead - 1))
            if not blocks:
                continue
            if tip is not None and blocks[0].parent_hash != tip.hash:
                continue  # the tip was reorged out meanwhile: the check above finds the fork
            self._remember(blocks)
            tip = blocks[-1].id
            yield ChainCommitted(blocks)
            # The node keeps what is new and within its head; finality moves with new blocks.
            finality = await self._read_finality(rpc)
            if finality is not None:
                yield finality

    async def _read_finality(self, rpc: EthRpc) -> ChainFinality | None:
        if not self._finality_tags:
            return None
        try:
            safe, finalized = await rpc.batch(
                [("eth_getBlockByNumber", [tag, False]) for tag in ("safe", "finalized")],
                retry_errors=False,
            )
        except RpcError as exc:
            log.info("no finality tags", reason=str(exc))
            self._finality_tags = False
            return None

        def block_id(obj: Any) -> BlockId | None:
            if obj is None:
                return None
            return BlockId(
                parse_quantity(obj["number"], "number"), parse_data(obj["hash"], "hash", 32)
            )

        return ChainFinality(block_id(safe), block_id(finalized))

    async def _rewind(
        self, rpc: EthRpc, tip: BlockId, latest: int
    ) -> tuple[Notification | None, BlockId | None]:
        """Our tip is no longer canonical: revert to the fork point, with new blocks if any."""
        fork = await self._fork_point(rpc, min(tip.number, latest))
        old = self._ours_segment(fork + 1, tip.number)
        fork_hash = self._ours(fork)
        self._forget_above(fork)
        fork_id = None if fork < self.start_block or fork_hash is None else BlockId(fork, fork_hash)
        log.info(
            "reorg" if latest > fork else "revert",
            fork=fork,
            depth=tip.number - fork,
            l1_head=latest,
        )
        new: tuple[L1Block, ...] = ()
        if latest > fork:
            new = await self._fetch(rpc, fork + 1, min(latest, fork + self.fetch_ahead))
            if new and fork_id is not None and new[0].parent_hash != fork_id.hash:
                new = ()  # moved again: the next round finds the new fork
        if new:
            self._remember(new)
            return ChainReorged(old, new), new[-1].id
        return ChainReverted(old), fork_id
