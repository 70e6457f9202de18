"""The `devnet` source: an Ethereum chain made in-process whose blocks carry a Solana workload.

Fully deterministic: the same `DevnetSettings` give the same blocks, hashes and notifications,
event by event (no clock, no OS randomness). The workload is described in
`monmouth.devnet.workload`; patterns a plugin plants into it in `monmouth.devnet.patterns`.

Chain rules:

- Block 0 is genesis (deposits only). Block n has `parent_hash` = hash of block n-1 and
  `timestamp = genesis_timestamp + n * block_time`. Hashes are BLAKE3 over the parent hash,
  number, timestamp, a per-event salt and the transaction hashes.
- Each event extends the chain by one block (`ChainCommitted`), or, with probability
  `reorg_probability` once the tip is above `reorg_max_depth`, drops the last k blocks
  (k uniform in 1..reorg_max_depth) and makes k or k+1 new ones at the same heights
  (`ChainReorged`, both segments lowest first). The workload's model rolls back to the fork point;
  the new branch draws from a random stream salted with the event number, so its contents differ.
- With `[devnet] clock = "wall"` a block's timestamp is the wall clock in whole seconds, never
  below its parent's: the one case where the chain reads a clock (`monmouth dev`).
- Relayed messages (`DevnetRelay`, when the chain has one) go into the next block after the
  workload's, as status-1 L1 transactions to the inbox from `RELAY_SENDER`; a reorg hands the
  messages of the blocks it drops back to the relay, so the new branch carries them again.
- Finality (`[devnet] confirmed_depth`, `finalized_depth`): `finality()` names the canonical
  blocks that deep below the tip as the L1 `safe` and `finalized` blocks.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from random import Random

import anyio
import anyio.lowlevel

from monmouth.core.config import DevnetSettings
from monmouth.core.errors import ConfigError, SourceError
from monmouth.core.l1 import BlockId, L1Block, L1Transaction
from monmouth.core.notifications import (
    ChainCommitted,
    ChainFinality,
    ChainReorged,
    Notification,
)
from monmouth.core.sources.base import HashAt
from monmouth.devnet.patterns import WorkloadPatterns
from monmouth.devnet.plan import Context, Model, Planted, derive
from monmouth.devnet.relay import DevnetRelay, RelayedMessage
from monmouth.devnet.workload import Workload

__all__ = ["RELAY_SENDER", "DevnetChain", "DevnetSource"]

#: The L1 sender of the messages the relay brings.
RELAY_SENDER = derive("relay sender")[:20]

#: Canonical block hashes kept for blockhashes (the window is 150; older ones make stale ones).
_KEEP_HASHES = 1024
#: Hashes of reorged-out blocks kept for `blockhash_not_found` transactions.
_KEEP_DROPPED = 64
#: Blocks whose executed transactions may be re-sent as `already_processed`.
_RESEND_DEPTH = 3
#: During a restart's silent catch-up, let other tasks run every this many events.
_CATCH_UP_CHECKPOINT = 64


@dataclass(slots=True)
class _Record:
    """What the chain remembers of a recent canonical block to reorg or to re-send from it."""

    number: int
    #: The model after this block; None when reorgs are off.
    model: Model | None
    executed: list[tuple[bytes, int]]
    #: The relayed messages the block carries, to hand back if a reorg drops it.
    relayed: list[RelayedMessage] = field(default_factory=list)


class DevnetChain:
    """The devnet's L1 chain: genesis at construction, then one event per `next_event()`.

    :param settings: the devnet's settings (seed, workload, rates, reorgs, clock).
    :param inbox_address: the 20-byte address inbox messages are sent to.
    :param keep_blocks: how many canonical blocks `canonical()` keeps, newest last; None (the
        default) keeps the whole chain. At least `reorg_max_depth + 1` are always kept.
    :param patterns: planted into every block with transactions, after the workload's own (see
        `WorkloadPatterns`); one instance per chain. `[devnet] mev_patterns` needs them (the mev
        plugin provides them, `monmouth.app.devnet_chain` passes them on): without, ConfigError.
    :param relay: whose messages go into each new block; None: none (also settable later, as
        the attribute `relay`).
    :param start: continue after this block instead of making genesis: the chain's first block
        stands in for it (no transactions, timestamp 0). Only for the `none` workload, whose
        blocks carry nothing to regenerate (ConfigError otherwise).
    """

    def __init__(
        self,
        settings: DevnetSettings,
        inbox_address: bytes,
        *,
        keep_blocks: int | None = None,
        patterns: WorkloadPatterns | None = None,
        relay: DevnetRelay | None = None,
        start: BlockId | None = None,
    ) -> None:
        if settings.mev_patterns and patterns is None:
            raise ConfigError(
                "[devnet] mev_patterns needs the mev plugin's patterns: build the chain with "
                "monmouth.app.devnet_chain"
            )
        self._settings = settings
        #: Whose messages go into each new block (None: none).
        self.relay = relay
        self._inbox = inbox_address
        # The workload is in every salt, so even genesis tells the workloads apart.
        self._salt = (settings.seed, settings.workload)
        self._workload = Workload(settings, inbox_address, patterns)
        self._rng = Random(int.from_bytes(derive("chain", *self._salt)))
        self._depth = settings.reorg_max_depth
        self._keep = None if keep_blocks is None else max(keep_blocks, self._depth + 1)
        self._snapshots = settings.reorg_probability > 0
        self._event = 0
        self._blocks: list[L1Block] = []
        self._hashes: list[bytes] = []
        self._hash_base = 0
        self._records: list[_Record] = []
        self._planted: dict[bytes, tuple[Planted, ...]] = {}
        self._dropped: list[bytes] = []
        self._model = self._workload.genesis_model()
        if start is None:
            self._extend()
            return
        if settings.workload != "none":
            raise ConfigError("only the none workload's devnet continues from a block")
        self._blocks.append(L1Block(start.number, start.hash, bytes(32), 0, ()))
        self._hashes.append(start.hash)
        self._hash_base = start.number
        self._planted[start.hash] = ()
        self._records.append(_Record(start.number, self._model.clone(), []))

    @property
    def tip(self) -> L1Block:
        """The newest canonical block."""
        return self._blocks[-1]

    def canonical(self) -> tuple[L1Block, ...]:
        """The canonical chain, genesis first (only the newest `keep_blocks` if that was set)."""
        return tuple(self._blocks)

    def hash_at(self, number: int) -> bytes | None:
        """The hash of canonical block `number`; None beyond the tip or when no longer kept."""
        index = number - self._hash_base
        return self._hashes[index] if 0 <= index < len(self._hashes) else None

    def contains(self, block: BlockId) -> bool:
        """Whether `block` (number and hash) is on the canonical chain."""
        return self.hash_at(block.number) == block.hash

    def planted(self, block_hash: bytes) -> tuple[Planted, ...]:
        """What the workload planted on purpose in a kept canonical block (see `Planted`)."""
        return self._planted.get(block_hash, ())

    def finality(self) -> ChainFinality | None:
        """The canonical blocks `confirmed_depth` and `finalized_depth` below the tip as the L1
        `safe` and `finalized` blocks (None for a depth not set or deeper than the chain); None
        when neither is known."""
        settings = self._settings
        ids: list[BlockId | None] = []
        for depth in (settings.confirmed_depth, settings.finalized_depth):
            number = None if depth is None else self.tip.number - depth
            block_hash = None if number is None or number < 0 else self.hash_at(number)
            ids.append(
                None if block_hash is None or number is None else BlockId(number, block_hash)
            )
        safe, finalized = ids
        return None if safe is None and finalized is None else ChainFinality(safe, finalized)

    def next_event(self) -> Notification:
        """Extend the chain by one block, or reorg it; returns what happened."""
        self._event += 1
        p = self._settings.reorg_probability
        # A chain continued from a block (`start`) reorgs once it has made enough blocks.
        deep_enough = self.tip.number > self._depth and len(self._records) > self._depth
        if p > 0 and deep_enough and self._rng.random() < p:
            depth = self._rng.randint(1, self._depth)
            grow = 1 if self._rng.random() < 0.5 else 0
            return self._reorg(depth, depth + grow)
        return ChainCommitted((self._extend(),))

    def _reorg(self, depth: int, replacements: int) -> ChainReorged:
        fork = self._records[-depth - 1]
        assert fork.model is not None and fork.number == self.tip.number - depth
        old = tuple(self._blocks[-depth:])
        if self.relay is not None:
            self.relay.requeue([m for record in self._records[-depth:] for m in record.relayed])
        del self._blocks[-depth:]
        del self._hashes[-depth:]
        del self._records[-depth:]
        for block in old:
            del self._planted[block.hash]
            self._dropped.append(block.hash)
        del self._dropped[:-_KEEP_DROPPED]
        self._model = fork.model.clone()
        new = tuple(self._extend() for _ in range(replacements))
        return ChainReorged(old=old, new=new)

    def _extend(self) -> L1Block:
        number = len(self._hashes) + self._hash_base
        parent = self._hashes[-1] if self._hashes else bytes(32)
        rng = Random(int.from_bytes(derive("block", *self._salt, self._event, number)))
        ctx = Context(
            hash_at=self.hash_at,
            recent_executed=[
                (record.number, raw, at)
                for record in self._records[-_RESEND_DEPTH:]
                for raw, at in record.executed
            ],
            dropped=self._dropped,
        )
        plan = self._workload.build(number, rng, self._model, ctx)
        salt = derive("branch", *self._salt, self._event)
        txs: list[L1Transaction] = []
        planted: list[Planted] = []
        for index, draft in enumerate(plan.drafts):
            calldata, marks = draft.finish(index)
            tx_hash = derive(
                "l1tx", salt, number, index, draft.sender, draft.to or b"", draft.value, calldata
            )
            txs.append(
                L1Transaction(
                    hash=tx_hash,
                    index=index,
                    sender=draft.sender,
                    to=draft.to,
                    value=draft.value,
                    input=calldata,
                    status=draft.status,
                )
            )
            planted.extend(marks)
        relayed = [] if self.relay is None else self.relay.take()
        for message in relayed:
            index, value, calldata = len(txs), message.value, message.calldata
            tx_hash = derive(
                "l1tx", salt, number, index, RELAY_SENDER, self._inbox, value, calldata
            )
            txs.append(
                L1Transaction(tx_hash, index, RELAY_SENDER, self._inbox, value, calldata, status=1)
            )
        timestamp = self._timestamp(number)
        block_hash = derive(
            "l1block", parent, number, timestamp, salt, b"".join(tx.hash for tx in txs)
        )
        block = L1Block(number, block_hash, parent, timestamp, tuple(txs))
        self._blocks.append(block)
        self._hashes.append(block_hash)
        self._planted[block_hash] = tuple(planted)
        snapshot = self._model.clone() if self._snapshots else None
        self._records.append(_Record(number, snapshot, plan.executed, relayed))
        self._trim()
        return block

    def _timestamp(self, number: int) -> int:
        settings = self._settings
        if settings.clock == "seeded":
            return settings.genesis_timestamp + number * settings.block_time
        # Solana clients compare blockTime with their clock; never below the parent's.
        parent = self._blocks[-1].timestamp if self._blocks else 0
        return max(int(time.time()), parent)

    def _trim(self) -> None:
        del self._records[: -max(self._depth + 1, _RESEND_DEPTH)]
        if self._keep is not None and len(self._blocks) > self._keep:
            for block in self._blocks[: -self._keep]:
                del self._planted[block.hash]
            del self._blocks[: -self._keep]
        if len(self._hashes) > 2 * _KEEP_HASHES:
            drop = len(self._hashes) - _KEEP_HASHES
            del self._hashes[:drop]
            self._hash_base += drop


class DevnetSource:
    """The embedded devnet as a `Source`: never ends by itself.

    `notifications(None)` starts with `ChainCommitted((genesis,))`. `notifications(head)`
    regenerates the chain silently until `head` is canonical, then emits the canonical blocks
    after it (if any) and continues exactly as an uninterrupted run would. Raises `SourceError`
    when `head` is not on this devnet's chain. The `none` workload's chain has nothing to
    regenerate (its blocks may hold relayed messages and wall-clock timestamps): it continues
    right after `head`.

    After each event, with `[devnet] confirmed_depth` or `finalized_depth` set, it also yields
    the chain's `ChainFinality` (see `DevnetChain.finality`).

    `relay` is the `DevnetRelay` whose messages go into the next block of the chain the source
    runs (after a restart's catch-up, so regenerated blocks stay what they were).

    :param patterns: makes the `WorkloadPatterns` of each chain the source builds (a new one each
        time, since patterns keep state); None plants none. See `DevnetChain`.
    :param relay: the relay to use; None makes a new one.
    """

    def __init__(
        self,
        settings: DevnetSettings,
        inbox_address: bytes,
        patterns: Callable[[], WorkloadPatterns] | None = None,
        *,
        relay: DevnetRelay | None = None,
    ) -> None:
        self._settings = settings
        self._inbox_address = inbox_address
        self._patterns = patterns
        self.relay = DevnetRelay() if relay is None else relay

    async def notifications(
        self, head: BlockId | None, hash_at: HashAt | None = None
    ) -> AsyncGenerator[Notification, None]:
        settings = self._settings
        # A restart needs only the blocks after the head, which are at most a reorg deep.
        keep = settings.reorg_max_depth + 2
        patterns = None if self._patterns is None else self._patterns()
        if head is not None and settings.workload == "none":
            chain = DevnetChain(settings, self._inbox_address, keep_blocks=keep, start=head)
        else:
            chain = DevnetChain(settings, self._inbox_address, keep_blocks=keep, patterns=patterns)
        if head is None:
            yield ChainCommitted((chain.tip,))
        else:
            # Once the tip is this far past the head's height, no reorg can bring the head back.
            limit = head.number + 2 * settings.reorg_max_depth + 2
            events = 0
            while not chain.contains(head):
                if chain.tip.number > limit:
                    raise SourceError(
                        f"the data directory's head {head} is not on this devnet's chain "
                        "(was it made with another seed or workload?)"
                    )
                chain.next_event()
                events += 1
                if events % _CATCH_UP_CHECKPOINT == 0:
                    await anyio.lowlevel.checkpoint()
            after = tuple(block for block in chain.canonical() if block.number > head.number)
            if after:
                yield ChainCommitted(after)
        chain.relay = self.relay
        while True:
            finality = chain.finality()
            if finality is not None:
                yield finality
            # interval 0 still checkpoints, so a devnet running flat out can be cancelled.
            await anyio.sleep(settings.interval)
            yield chain.next_event()
