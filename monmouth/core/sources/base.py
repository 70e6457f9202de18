"""What every source of L1 notifications provides."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Protocol

from monmouth.core.l1 import BlockId
from monmouth.core.notifications import Notification

HashAt = Callable[[int], bytes | None]


class Source(Protocol):
    """A source follows an L1 chain and tells the node what happened to it.

    `notifications(head, hash_at)` starts after `head` (the node's persisted head, or None for an
    empty state, in which case the first block is the source's start block). When `head` is no
    longer on the source's canonical chain, the first notification reverts or reorgs it (Reth's
    `with_head`); `hash_at(n)` tells the hash of the node's own block `n` (None if it has none),
    so a source can find the fork point. The iterator ends when the source has nothing more to
    give (the end of a replay file).

    A source may also have an attribute `catching_up`: true while it holds or knows blocks past
    the last notification it gave, to be given at once (a replay file not at its end). The node
    then keeps the last group of blocks open and its commit in flight across notifications,
    instead of waiting for the commit at each notification's end; a block's report is delayed
    until the next notification, which comes at once. Without the attribute (or false), each
    notification's blocks are reported before the next one is asked for.
    """

    def notifications(
        self, head: BlockId | None, hash_at: HashAt | None = None
    ) -> AsyncGenerator[Notification, None]: ...
