"""Eviction policies of the account cache: which hot accounts to let go when the hot tier is
over its budget.

A policy only orders keys; it never touches the runtime or the store. The cache calls it on the
execution thread alone, and asks for victims only between blocks, so a policy needs no locks.
Every policy is deterministic (same accesses in, same victims out), although what is resident
never changes the state: an evicted account is read back from the store, value for value.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class CachePolicy(Protocol):
    """What the cache asks of an eviction policy (docs/cache.md, "Writing a policy")."""

    def access(self, key: bytes, size: int) -> None:
        """`key` was used, or loaded, with `size` bytes resident; a new key is admitted."""

    def forget(self, key: bytes) -> None:
        """`key` left the hot tier for another reason (it was deleted or reverted away)."""

    def victims(self, excess: int, pinned: Callable[[bytes], bool]) -> list[bytes]:
        """Keys to evict, whose sizes add up to at least `excess` bytes (all the unpinned
        keys when they add up to less), never a key for which `pinned` is true. The policy
        forgets the keys it returns."""

    def resident_bytes(self) -> int:
        """The sizes of every key the policy holds, added up."""

    def __len__(self) -> int: ...


class Unbounded:
    """Keeps everything: the node as it was before the cache, for comparison."""

    def __init__(self) -> None:
        self._sizes: dict[bytes, int] = {}
        self._bytes = 0

    def access(self, key: bytes, size: int) -> None:
        self._bytes += size - self._sizes.get(key, 0)
        self._sizes[key] = size

    def forget(self, key: bytes) -> None:
        self._bytes -= self._sizes.pop(key, 0)

    def victims(self, excess: int, pinned: Callable[[bytes], bool]) -> list[bytes]:
        return []

    def resident_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._sizes)


class Lru:
    """Least recently used first."""

    def __init__(self) -> None:
        self._sizes: OrderedDict[bytes, int] = OrderedDict()
        self._bytes = 0

    def access(self, key: bytes, size: int) -> None:
        sizes = self._sizes
        self._bytes += size - sizes.get(key, 0)
        sizes[key] = size
        sizes.move_to_end(key)

    def forget(self, key: bytes) -> None:
        self._bytes -= self._sizes.pop(key, 0)

    def victims(self, excess: int, pinned: Callable[[bytes], bool]) -> list[bytes]:
        out: list[bytes] = []
        freed = 0
        for key, size in self._sizes.items():
            if freed >= excess:
                break
            if not pinned(key):
                out.append(key)
                freed += size
        for key in out:
            self.forget(key)
        return out

    def resident_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._sizes)


#: The policies `[plugins.cache] policy` names.
POLICIES: dict[str, Callable[[], CachePolicy]] = {"unbounded": Unbounded, "lru": Lru}
