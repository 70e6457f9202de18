"""What the `account_cache` hook returns: an eviction policy and the hot tier's budget.

Its own module, light to import: `monmouth.hooks` re-exports it, and commands that only read
import the hooks without the runtime. The mechanics are in `core/accountcache.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class EvictionPolicy(Protocol):
    """What the cache asks of an eviction policy: the protocol of
    `monmouth.plugins.cache.policy.CachePolicy`, which the built-in policies implement
    (docs/cache.md, "Writing a policy"). Called on the execution thread only."""

    def access(self, key: bytes, size: int) -> None:
        """`key` was used, or loaded, with `size` bytes resident; a new key is admitted."""

    def forget(self, key: bytes) -> None:
        """`key` left the hot tier for another reason."""

    def victims(self, excess: int, pinned: Callable[[bytes], bool]) -> list[bytes]:
        """Keys to evict adding up to at least `excess` bytes (or every unpinned key), never a
        pinned one; the policy forgets the keys it returns."""

    def resident_bytes(self) -> int:
        """The sizes of every key the policy holds, added up."""

    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class AccountCacheSpec:
    """What an `account_cache` hook returns: the policy and the hot tier's budget.

    :ivar policy: a fresh policy object, used by this node alone.
    :ivar hot_bytes: the budget of the hot tier (accounts inside the runtime), in bytes as
        `resident_size` counts them; None: unbounded (the policy still sees every access).
    """

    policy: EvictionPolicy
    hot_bytes: int | None
