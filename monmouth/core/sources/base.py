"""What every source of L1 notifications provides."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from monmouth.core.l1 import BlockId
from monmouth.core.notifications import Notification


class Source(Protocol):
    """A source follows an L1 chain and tells the node what happened to it.

    `notifications(head)` starts after `head` (the node's persisted head, or None for an empty
    state, in which case the first block is the source's start block). When `head` is no longer on
    the source's canonical chain, the first notification reverts or reorgs it (Reth's `with_head`).
    The iterator ends when the source has nothing more to give (the end of a replay file).
    """

    def notifications(self, head: BlockId | None) -> AsyncGenerator[Notification, None]: ...
