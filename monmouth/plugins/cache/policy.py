"""Eviction policies of the account cache: which hot accounts to let go when the hot tier is
over its budget.

A policy only orders keys; it never touches the runtime or the store. The cache calls it on the
execution thread alone, and asks for victims only between blocks, so a policy needs no locks.
Every policy is deterministic (same accesses in, same victims out), although what is resident
never changes the state: an evicted account is read back from the store, value for value.
"""

from __future__ import annotations

import random
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable

from monmouth.core.cachespec import EvictionPolicy


class Unbounded:
    """Keeps everything: the node as it was before the cache, for comparison."""

    def __init__(self) -> None:
        self._sizes: dict[bytes, int] = {}
        self._bytes = 0

    def access(self, key: bytes, size: int) -> None:
        self._bytes += size - self._sizes.get(key, 0)
        self._sizes[key] = size

    def access_many(self, entries: Iterable[tuple[bytes, int]]) -> None:
        """`access` of each (key, size) in order, in one call (`AccountCache` hands a block's
        accesses over at once)."""
        sizes = self._sizes
        get = sizes.get
        total = self._bytes
        for key, size in entries:
            total += size - get(key, 0)
            sizes[key] = size
        self._bytes = total

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

    def access_many(self, entries: Iterable[tuple[bytes, int]]) -> None:
        """`access` of each (key, size) in order, in one call (`AccountCache` hands a block's
        accesses over at once)."""
        sizes = self._sizes
        get, move = sizes.get, sizes.move_to_end
        total = self._bytes
        for key, size in entries:
            total += size - get(key, 0)
            sizes[key] = size
            move(key)
        self._bytes = total

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


def _first_unpinned(
    entries: OrderedDict[bytes, int], pinned: Callable[[bytes], bool]
) -> bytes | None:
    """The least recently placed key of `entries` that is not pinned (None: none is)."""
    for key in entries:
        if not pinned(key):
            return key
    return None


class Clock:
    """CLOCK (second chance): a ring of keys with one reference bit each; the hand clears set
    bits and evicts the first key whose bit is clear. A hit costs a bit set, not a move,
    which is why CLOCK is the cheapest approximation of LRU."""

    def __init__(self) -> None:
        # The ring, from the hand onwards: a key passed over goes to the end, as the hand
        # moving past it would.
        self._sizes: OrderedDict[bytes, int] = OrderedDict()
        self._referenced: set[bytes] = set()
        self._bytes = 0

    def access(self, key: bytes, size: int) -> None:
        sizes = self._sizes
        old = sizes.get(key)
        if old is None:
            sizes[key] = size
            self._bytes += size
        else:
            self._referenced.add(key)
            if old != size:
                sizes[key] = size
                self._bytes += size - old

    def forget(self, key: bytes) -> None:
        self._bytes -= self._sizes.pop(key, 0)
        self._referenced.discard(key)

    def victims(self, excess: int, pinned: Callable[[bytes], bool]) -> list[bytes]:
        out: list[bytes] = []
        freed = 0
        sizes, referenced = self._sizes, self._referenced
        # Each key is passed over at most twice (once to clear its bit, once to take it), so
        # one lap of pinned keys ends the loop when nothing else is left.
        budget = 2 * len(sizes)
        while freed < excess and budget > 0 and sizes:
            budget -= 1
            key = next(iter(sizes))
            if key in referenced or pinned(key):
                referenced.discard(key)
                sizes.move_to_end(key)
                continue
            freed += sizes.pop(key)
            out.append(key)
        self._bytes -= freed
        return out

    def resident_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._sizes)


class SampledLru:
    """Sampled LRU, as Redis evicts: pick `samples` resident keys at random and evict the
    least recently used of them. No list to reorder on a hit (a hit stores a tick), so it is
    cheap to access, and close to LRU at 5 or more samples. The generator is seeded, so the
    victims are deterministic."""

    def __init__(self, samples: int = 8, seed: int = 0) -> None:
        self._samples = samples
        self._random = random.Random(seed)
        self._keys: list[bytes] = []  # for sampling in O(1)
        #: key -> [last use, size, position in _keys]
        self._entries: dict[bytes, list[int]] = {}
        self._tick = 0
        self._bytes = 0

    def access(self, key: bytes, size: int) -> None:
        self._tick += 1
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = [self._tick, size, len(self._keys)]
            self._keys.append(key)
            self._bytes += size
        else:
            entry[0] = self._tick
            self._bytes += size - entry[1]
            entry[1] = size

    def forget(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= entry[1]
        keys, position = self._keys, entry[2]
        last = keys.pop()
        if last != key:
            keys[position] = last
            self._entries[last][2] = position

    def victims(self, excess: int, pinned: Callable[[bytes], bool]) -> list[bytes]:
        out: list[bytes] = []
        freed = 0
        keys, entries, draw = self._keys, self._entries, self._random.randrange
        failures = 0
        while freed < excess and keys:
            best: bytes | None = None
            best_tick = 0
            for _ in range(min(self._samples, len(keys))):
                key = keys[draw(len(keys))]
                tick = entries[key][0]
                if (best is None or tick < best_tick) and not pinned(key):
                    best, best_tick = key, tick
            if best is None:
                # Only pinned keys drawn: after a few misses, look at every key once, so a
                # cache of pinned keys ends the loop.
                failures += 1
                if failures < 8:
                    continue
                rest = [k for k in keys if not pinned(k)]
                if not rest:
                    break
                best = min(rest, key=lambda k: entries[k][0])
            failures = 0
            freed += entries[best][1]
            out.append(best)
            self.forget(best)
        return out

    def resident_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


class Arc:
    """ARC (Megiddo and Modha, FAST 2003), in bytes: T1 holds keys seen once recently, T2 keys
    seen at least twice; the ghosts B1 and B2 remember what each let go, and a hit on a ghost
    moves the target size `p` of T1 towards the list that would have kept it. It resists a
    scan (one pass over many cold accounts) better than LRU.

    The cache gives no capacity up front; the capacity is what remains after each eviction
    (resident bytes less the excess), and the ghosts are bounded by it."""

    def __init__(self) -> None:
        self._t1: OrderedDict[bytes, int] = OrderedDict()
        self._t2: OrderedDict[bytes, int] = OrderedDict()
        self._b1: OrderedDict[bytes, int] = OrderedDict()
        self._b2: OrderedDict[bytes, int] = OrderedDict()
        self._t1_bytes = self._t2_bytes = self._b1_bytes = self._b2_bytes = 0
        self._p = 0
        self._capacity = 0

    def access(self, key: bytes, size: int) -> None:
        t1, t2 = self._t1, self._t2
        old = t1.pop(key, None)
        if old is not None:
            self._t1_bytes -= old
            t2[key] = size
            self._t2_bytes += size
            return
        old = t2.get(key)
        if old is not None:
            t2.move_to_end(key)
            if old != size:
                t2[key] = size
                self._t2_bytes += size - old
            return
        ghost = self._b1.pop(key, None)
        if ghost is not None:
            self._b1_bytes -= ghost
            step = max(self._b2_bytes // max(self._b1_bytes, 1), 1) * size
            self._p = min(self._capacity, self._p + step)
            t2[key] = size
            self._t2_bytes += size
            return
        ghost = self._b2.pop(key, None)
        if ghost is not None:
            self._b2_bytes -= ghost
            step = max(self._b1_bytes // max(self._b2_bytes, 1), 1) * size
            self._p = max(0, self._p - step)
            t2[key] = size
            self._t2_bytes += size
            return
        t1[key] = size
        self._t1_bytes += size

    def access_many(self, entries: Iterable[tuple[bytes, int]]) -> None:
        """`access` of each (key, size) in order, the same lists, sizes and target as one call
        per key (`tests/plugins/cache/test_policy.py`): one call per block's keys. A key in T2
        (an account used again, most of a block's) costs a lookup and a move; a ghost hit,
        rare, goes through `access`."""
        t1, t2, b1, b2 = self._t1, self._t2, self._b1, self._b2
        t1_pop, t2_get, t2_move = t1.pop, t2.get, t2.move_to_end
        t1_bytes, t2_bytes = self._t1_bytes, self._t2_bytes
        for key, size in entries:
            old = t2_get(key)
            if old is not None:
                t2_move(key)
                if old != size:
                    t2[key] = size
                    t2_bytes += size - old
                continue
            old = t1_pop(key, None)
            if old is not None:
                t1_bytes -= old
                t2[key] = size
                t2_bytes += size
                continue
            if key in b1 or key in b2:
                self._t1_bytes, self._t2_bytes = t1_bytes, t2_bytes
                self.access(key, size)
                t1_bytes, t2_bytes = self._t1_bytes, self._t2_bytes
                continue
            t1[key] = size
            t1_bytes += size
        self._t1_bytes, self._t2_bytes = t1_bytes, t2_bytes

    def forget(self, key: bytes) -> None:
        size = self._t1.pop(key, None)
        if size is not None:
            self._t1_bytes -= size
        size = self._t2.pop(key, None)
        if size is not None:
            self._t2_bytes -= size

    def victims(self, excess: int, pinned: Callable[[bytes], bool]) -> list[bytes]:
        if excess <= 0:
            return []
        self._capacity = max(self.resident_bytes() - excess, 0)
        out: list[bytes] = []
        freed = 0
        while freed < excess:
            from_t1 = self._t1_bytes > self._p or not self._t2
            key = _first_unpinned(self._t1 if from_t1 else self._t2, pinned)
            if key is None:  # that list holds only pinned keys: try the other
                from_t1 = not from_t1
                key = _first_unpinned(self._t1 if from_t1 else self._t2, pinned)
                if key is None:
                    break
            if from_t1:
                size = self._t1.pop(key)
                self._t1_bytes -= size
                self._b1[key] = size
                self._b1_bytes += size
            else:
                size = self._t2.pop(key)
                self._t2_bytes -= size
                self._b2[key] = size
                self._b2_bytes += size
            freed += size
            out.append(key)
        self._trim_ghosts()
        return out

    def _trim_ghosts(self) -> None:
        # L1 = T1 + B1 stays within the capacity, and all four lists within twice it.
        capacity = self._capacity
        while self._b1 and self._t1_bytes + self._b1_bytes > capacity:
            self._b1_bytes -= self._b1.popitem(last=False)[1]
        while self._b2 and self.resident_bytes() + self._b1_bytes + self._b2_bytes > 2 * capacity:
            self._b2_bytes -= self._b2.popitem(last=False)[1]

    def resident_bytes(self) -> int:
        return self._t1_bytes + self._t2_bytes

    def __len__(self) -> int:
        return len(self._t1) + len(self._t2)


#: Every byte value halved: ages a row of counters in one C call.
_HALVE = bytes(c >> 1 for c in range(256))


class _FrequencySketch:
    """A count-min sketch of 4 rows of saturating counters (up to 15, as Caffeine's 4-bit
    ones; a byte each here, which Python reads faster than packed nibbles), with a doorkeeper
    (the keys seen once since the last reset) in front, so a key seen once costs no counter.
    Every `10 x width` additions all counters halve and the doorkeeper empties: frequencies
    age, so yesterday's hot accounts do not stay admitted for ever."""

    def __init__(self, width: int = 1 << 12) -> None:
        self._resize(width)

    def _resize(self, width: int) -> None:
        self.width = width
        self._mask = width - 1
        self._rows = [bytearray(width) for _ in range(4)]
        self._door: set[int] = set()
        self._additions = 0

    def ensure(self, entries: int) -> None:
        """Widen (and reset) the sketch when the cache holds more keys than it has counters:
        a narrow sketch would make every key look frequent."""
        if entries > self.width:
            self._resize(1 << (entries - 1).bit_length())

    @staticmethod
    def _hash(key: bytes) -> int:
        # Two CRC-32s (a C call each, a tenth of a blake2b) make 64 bits; unlike Python's own
        # hash of bytes they do not change between runs, so the victims are the same on every
        # run.
        return zlib.crc32(key) << 32 | zlib.crc32(key, 0x5BD1E995)

    def add(self, key: bytes) -> None:
        h = self._hash(key)
        door = self._door
        if h not in door:
            door.add(h)
        else:
            mask = self._mask
            r0, r1, r2, r3 = self._rows
            i = (h * 0x9E3779B97F4A7C15 >> 40) & mask
            if r0[i] < 15:
                r0[i] += 1
            i = (h * 0xC2B2AE3D27D4EB4F >> 40) & mask
            if r1[i] < 15:
                r1[i] += 1
            i = (h * 0x165667B19E3779F9 >> 40) & mask
            if r2[i] < 15:
                r2[i] += 1
            i = (h * 0x27D4EB2F165667C5 >> 40) & mask
            if r3[i] < 15:
                r3[i] += 1
        self._additions += 1
        if self._additions >= 10 * self.width:
            self._age()

    def _age(self) -> None:
        self._rows = [bytearray(row.translate(_HALVE)) for row in self._rows]
        self._door.clear()
        self._additions = 0

    def frequency(self, key: bytes) -> int:
        h = self._hash(key)
        mask = self._mask
        r0, r1, r2, r3 = self._rows
        count = min(
            r0[(h * 0x9E3779B97F4A7C15 >> 40) & mask],
            r1[(h * 0xC2B2AE3D27D4EB4F >> 40) & mask],
            r2[(h * 0x165667B19E3779F9 >> 40) & mask],
            r3[(h * 0x27D4EB2F165667C5 >> 40) & mask],
        )
        return count + (1 if h in self._door else 0)


class WTinyLfu:
    """W-TinyLFU (Einziger, Friedman and Manes, 2017; Caffeine's policy): new keys enter a
    small LRU window (1 % of the bytes); what leaves the window competes with the main
    region's LRU victim for a place in it, and the one the frequency sketch has seen more
    often stays. The main region is a segmented LRU: a probation segment, and a protected
    one (80 % of the main region) for keys hit again while on probation.

    Frequency-based admission keeps a Zipf-popular account against a burst of accounts used
    once, which LRU lets through. The cache gives no capacity up front; the regions are sized
    from what remains after each eviction (resident bytes less the excess)."""

    WINDOW = 0.01
    PROTECTED = 0.8

    def __init__(self) -> None:
        self._window: OrderedDict[bytes, int] = OrderedDict()
        self._probation: OrderedDict[bytes, int] = OrderedDict()
        self._protected: OrderedDict[bytes, int] = OrderedDict()
        self._window_bytes = self._probation_bytes = self._protected_bytes = 0
        self._protected_target = 0
        self._sketch = _FrequencySketch()

    def access(self, key: bytes, size: int) -> None:
        self._sketch.add(key)
        old = self._window.get(key)
        if old is not None:
            self._window.move_to_end(key)
            self._window[key] = size
            self._window_bytes += size - old
            return
        old = self._protected.get(key)
        if old is not None:
            self._protected.move_to_end(key)
            self._protected[key] = size
            self._protected_bytes += size - old
            return
        old = self._probation.pop(key, None)
        if old is not None:
            # A second use on probation: promoted, and the protected segment's overflow goes
            # back to probation (most recently used end), as in a segmented LRU.
            self._probation_bytes -= old
            self._protected[key] = size
            self._protected_bytes += size
            while self._protected_bytes > self._protected_target and len(self._protected) > 1:
                demoted, dsize = self._protected.popitem(last=False)
                self._protected_bytes -= dsize
                self._probation[demoted] = dsize
                self._probation_bytes += dsize
            return
        self._window[key] = size
        self._window_bytes += size
        self._sketch.ensure(len(self))

    def forget(self, key: bytes) -> None:
        for region in (self._window, self._probation, self._protected):
            size = region.pop(key, None)
            if size is not None:
                self._take(region, size)
                return

    def _take(self, region: OrderedDict[bytes, int], size: int) -> None:
        if region is self._window:
            self._window_bytes -= size
        elif region is self._probation:
            self._probation_bytes -= size
        else:
            self._protected_bytes -= size

    def victims(self, excess: int, pinned: Callable[[bytes], bool]) -> list[bytes]:
        if excess <= 0:
            return []
        capacity = max(self.resident_bytes() - excess, 0)
        window_target = int(capacity * self.WINDOW)
        self._protected_target = int((capacity - window_target) * self.PROTECTED)
        out: list[bytes] = []
        freed = 0
        frequency = self._sketch.frequency
        # First the window's overflow, one candidate at a time, against the main region's victim.
        while freed < excess and self._window_bytes > window_target:
            candidate = _first_unpinned(self._window, pinned)
            if candidate is None:
                break
            size = self._window.pop(candidate)
            self._window_bytes -= size
            if self._probation_bytes + self._protected_bytes + size <= capacity - window_target:
                # The main region has room (it is still filling): admitted without a duel.
                self._probation[candidate] = size
                self._probation_bytes += size
                continue
            victim = _first_unpinned(self._probation, pinned)
            if victim is None:
                victim = _first_unpinned(self._protected, pinned)
            if victim is not None and frequency(candidate) > frequency(victim):
                # The candidate is admitted to probation; the victim leaves.
                self._probation[candidate] = size
                self._probation_bytes += size
                region = self._probation if victim in self._probation else self._protected
                vsize = region.pop(victim)
                self._take(region, vsize)
                freed += vsize
                out.append(victim)
            else:
                freed += size
                out.append(candidate)
        # Then, if the window alone could not free enough, the main region's LRU order, then
        # whatever is left in the window.
        for region in (self._probation, self._protected, self._window):
            while freed < excess:
                key = _first_unpinned(region, pinned)
                if key is None:
                    break
                size = region.pop(key)
                self._take(region, size)
                freed += size
                out.append(key)
        return out

    def resident_bytes(self) -> int:
        return self._window_bytes + self._probation_bytes + self._protected_bytes

    def __len__(self) -> int:
        return len(self._window) + len(self._probation) + len(self._protected)


#: The policies `[plugins.cache] policy` names.
POLICIES: dict[str, Callable[[], EvictionPolicy]] = {
    "unbounded": Unbounded,
    "lru": Lru,
    "clock": Clock,
    "sampled-lru": SampledLru,
    "arc": Arc,
    "w-tinylfu": WTinyLfu,
}

#: The policy `[plugins.cache] policy` uses when unset. ARC had the best mean hit rate over
#: the benchmark's 8 workloads at 1 % and 5 % hot (10M accounts, 1M transactions each: ARC
#: 0.676, W-TinyLFU 0.674, CLOCK 0.669, LRU 0.667, sampled LRU 0.667), best or tied on every
#: workload, up to 5 points over LRU at 1 % (6.4 on 3M SPL transactions), at about 1.5x LRU's
#: cost per access where W-TinyLFU costs 6x (benches/bench_cache.py; docs/cache.md, "Measured").
DEFAULT_POLICY = "arc"
