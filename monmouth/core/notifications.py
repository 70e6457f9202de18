"""Reth-shaped ExEx notifications: what a source tells the node about the L1 chain.

A chain segment is a tuple of consecutive blocks, lowest first. `ChainReorged.old` and
`ChainReverted.old` hold the blocks that leave the canonical chain; the node undoes them tip-first.
"""

from __future__ import annotations

from dataclasses import dataclass

from monmouth.core.l1 import BlockId, L1Block


@dataclass(frozen=True, slots=True)
class ChainCommitted:
    """New blocks extend the canonical chain."""

    new: tuple[L1Block, ...]


@dataclass(frozen=True, slots=True)
class ChainReorged:
    """`old` blocks leave the canonical chain and `new` blocks replace them from the fork point."""

    old: tuple[L1Block, ...]
    new: tuple[L1Block, ...]


@dataclass(frozen=True, slots=True)
class ChainReverted:
    """`old` blocks leave the canonical chain and nothing replaces them (yet)."""

    old: tuple[L1Block, ...]


@dataclass(frozen=True, slots=True)
class ChainFinality:
    """The L1 node's `safe` and `finalized` blocks moved (None: the node does not say).

    Drives slot status (confirmed, finalized) and the pruning of undo records.
    """

    safe: BlockId | None
    finalized: BlockId | None


Notification = ChainCommitted | ChainReorged | ChainReverted | ChainFinality


@dataclass(frozen=True, slots=True)
class FinishedHeight:
    """The node has made every block up to and including this one durable."""

    block: BlockId
