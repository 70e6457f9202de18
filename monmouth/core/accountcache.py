"""The account cache's mechanics: which state accounts are resident in the runtime, bounded.

The invariant: what is resident never changes the state. Every account a block can touch is
resident before the block runs (the executor's exact prefetch calls `ensure`), values are read
through the executor's pending writes, never the bare store, and keys are let go only between
blocks (`evict`, at the end of `BlockExecutor.execute`), when the store and the pending writes
hold every value the runtime had.

Which keys go is the eviction policy's choice (an `EvictionPolicy`, given by the `account_cache`
hook: the built-in `cache` plugin's, or a third party's); the budget is in bytes
(`rust_svm.runtime.resident_size`). Programs, and the ProgramData of upgradeable ones, are pinned
while resident: loading a program compiles it. Without a policy everything stays resident, as
before the cache existed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from monmouth.core import telemetry
from monmouth.core.cachespec import AccountCacheSpec, EvictionPolicy
from monmouth.rust_svm.runtime import (
    ABSENT_SIZE,
    SvmRuntime,
    is_program,
    programdata_address,
    resident_size,
)

#: How the cache reads values it does not hold: the executor's pending writes, then the store.
Reader = Callable[[list[bytes]], list[bytes | None]]


def access_all(policy: EvictionPolicy) -> Callable[[list[tuple[bytes, int]]], None]:
    """How the cache hands accesses to `policy` a block's keys at a time: its `access_many`
    (optional, beyond `EvictionPolicy`: `access` of each (key, size) in order, in one call),
    else a loop of `access`. With ARC, `ensure` and `written` cost 134 and 204 ns a key against
    191 and 261 with a call per key (best of 2,000 blocks of 100 resident keys): small blocks
    access their accounts anew in each block (issue 21)."""
    many: Callable[[list[tuple[bytes, int]]], None] | None = getattr(policy, "access_many", None)
    if many is not None:
        return many
    access = policy.access

    def each(entries: list[tuple[bytes, int]]) -> None:
        for key, size in entries:
            access(key, size)

    return each


@dataclass(slots=True)
class CacheCounts:
    """Counts since the node started (the `monmouth_cache_*` counters).

    :ivar hits: keys a block named that were resident (accounts).
    :ivar negative_hits: keys a block named that were resident as known absent (no LMDB read).
    :ivar misses: keys read from the store (found or not).
    :ivar prefetch_loads: the misses read before a block ran (the rest: mints read for token
        balances while it runs).
    :ivar evictions: keys let go.
    """

    hits: int = 0
    negative_hits: int = 0
    misses: int = 0
    prefetch_loads: int = 0
    evictions: int = 0


@dataclass(frozen=True, slots=True)
class CacheSnapshot:
    """The cache at one moment (what `/metrics` shows)."""

    counts: CacheCounts
    resident_accounts: int
    #: None without a policy (nothing adds the sizes up).
    resident_bytes: int | None
    negative_entries: int
    pinned: int
    hot_bytes: int | None


@dataclass(slots=True, weakref_slot=True)
class AccountCache:
    """The resident set of one runtime under one policy (module docstring)."""

    runtime: SvmRuntime
    policy: EvictionPolicy | None = None
    hot_bytes: int | None = None
    counts: CacheCounts = field(default_factory=CacheCounts)
    #: Resident keys known absent from the state (negative entries).
    _absent: set[bytes] = field(default_factory=set)
    #: Resident programs, each with its ProgramData address (None for other loaders).
    _programs: dict[bytes, bytes | None] = field(default_factory=dict)
    #: Pinned keys: resident programs and the ProgramData of resident upgradeable ones.
    _pinned: set[bytes] = field(default_factory=set)
    #: The counts already added to the OpenTelemetry counters.
    _recorded: CacheCounts = field(default_factory=CacheCounts)
    #: Hands the policy a list of accesses in one call (`access_all`; None: no policy).
    _access: Callable[[list[tuple[bytes, int]]], None] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._access = None if self.policy is None else access_all(self.policy)

    @classmethod
    def build(cls, runtime: SvmRuntime, spec: AccountCacheSpec | None) -> AccountCache:
        """The cache a node runs with: `spec`'s policy and budget, or unbounded without one.
        Its gauges are the ones `/metrics` shows from now on."""
        cache = cls(runtime) if spec is None else cls(runtime, spec.policy, spec.hot_bytes)
        ref = weakref.ref(cache)
        telemetry.observe_cache(lambda: None if (c := ref()) is None else c.snapshot())
        return cache

    # ------------------------------------------------------------------ loading

    def ensure(self, keys: Iterable[bytes], read: Reader, *, prefetch: bool = True) -> None:
        """Make `keys` resident (and the ProgramData of every upgradeable program among them),
        reading those that are not through `read`; each counts as an access for the policy.

        :param prefetch: the block has not started (counted as `prefetch_loads`).
        """
        resident = self.runtime.resident
        absent = self._absent
        counts = self.counts
        missing: list[bytes] = []
        # The hits' accesses, handed to the policy in one call, in order.
        accessed: list[tuple[bytes, int]] = []
        negative_hits = 0  # added to `counts` once, not once per key
        for key in dict.fromkeys(keys):
            size = resident.get(key)
            if size is None:
                missing.append(key)
                continue
            if size == ABSENT_SIZE and key in absent:
                negative_hits += 1
            accessed.append((key, size))
        counts.hits += len(accessed) - negative_hits
        counts.negative_hits += negative_hits
        if self._access is not None and accessed:
            self._access(accessed)
        if not missing:
            return
        values = read(missing)
        # An upgradeable program needs its ProgramData resident to be loaded (and run).
        wanted = set(missing)
        extra = [
            address
            for raw in values
            if raw is not None
            and raw[16]
            and (address := programdata_address(raw)) is not None
            and address not in resident
            and address not in wanted
        ]
        if extra:
            extra = list(dict.fromkeys(extra))
            missing += extra
            values += read(extra)
        self.runtime.load(missing, values)
        counts.misses += len(missing)
        if prefetch:
            counts.prefetch_loads += len(missing)
        self._track(zip(missing, values, strict=True))

    def _track(
        self, changes: Iterable[tuple[bytes, bytes | None]], *, resize: bool = False
    ) -> None:
        """Bookkeeping for keys that became resident or changed value: with `resize`, their
        sizes in the runtime (else the runtime has them already); negative entries, pins, and
        an access each for the policy. Once per account a block loads or writes, so programs
        take the slow path and nothing else does."""
        resident = self.runtime.resident
        absent = self._absent
        programs = self._programs
        accessed: list[tuple[bytes, int]] = []
        for key, raw in changes:
            if resize:
                size = resident[key] = resident_size(raw)
            else:
                size = resident[key]
            if raw is None:
                absent.add(key)
            else:
                if absent:
                    absent.discard(key)
                if raw[16]:
                    self._pin(key, raw)
            if programs and key in programs and (raw is None or not raw[16]):
                self._pin(key, raw)
            accessed.append((key, size))
        if self._access is not None and accessed:
            self._access(accessed)

    def _pin(self, key: bytes, raw: bytes | None) -> None:
        """A program became resident (pin it and its ProgramData), or a resident key stopped
        being one (a revert, a closed account: unpin)."""
        if raw is not None and is_program(raw):
            programdata = programdata_address(raw)
            self._programs[key] = programdata
            self._pinned.add(key)
            if programdata is not None:
                self._pinned.add(programdata)
        elif key in self._programs:  # no longer a program (a revert, a closed account)
            programdata = self._programs.pop(key)
            self._pinned.discard(key)
            if programdata is not None and programdata not in self._programs.values():
                self._pinned.discard(programdata)

    # ------------------------------------------------------------------ changes

    def written(self, writes: list[tuple[bytes, bytes | None, bytes | None]]) -> None:
        """A block wrote these (key, old value, new value; None: the account is gone); every
        key is resident, and the runtime holds the new values already."""
        self._track(((key, raw) for key, _, raw in writes), resize=True)

    def restore(self, key: bytes, raw: bytes | None) -> None:
        """A revert wrote `raw` back to the store: a resident key takes it; any other is read
        from the store when next named, so the runtime never keeps a stale value."""
        if key in self.runtime.resident:
            self.runtime.restore(key, raw)
            self._track(((key, raw),))

    # ------------------------------------------------------------------ eviction

    def evict(self) -> int:
        """Between blocks: let go of keys until the hot tier is within its budget (pinned keys
        stay, even over it). Returns how many went."""
        policy, budget = self.policy, self.hot_bytes
        if policy is None or budget is None:
            return 0
        excess = policy.resident_bytes() - budget
        if excess <= 0:
            return 0
        victims = policy.victims(excess, self._pinned.__contains__)
        self.runtime.evict(victims)
        self._absent.difference_update(victims)
        self.counts.evictions += len(victims)
        return len(victims)

    # ------------------------------------------------------------------ observing

    def record(self) -> None:
        """Add what was counted since the last call to the `monmouth_cache_*` counters (once
        per block: a few calls, not one per account)."""
        now, before = self.counts, self._recorded
        telemetry.record_cache(
            now.hits - before.hits,
            now.negative_hits - before.negative_hits,
            now.misses - before.misses,
            now.prefetch_loads - before.prefetch_loads,
            now.evictions - before.evictions,
        )
        self._recorded = CacheCounts(
            now.hits, now.negative_hits, now.misses, now.prefetch_loads, now.evictions
        )

    def snapshot(self) -> CacheSnapshot:
        """The counts and the resident set now (read from any thread: a few sizes)."""
        resident = self.runtime.resident
        negative = len(self._absent)
        # Without a policy nothing adds the sizes up (a sum over every key would be a scan).
        size = None if self.policy is None else self.policy.resident_bytes()
        c = self.counts
        return CacheSnapshot(
            CacheCounts(c.hits, c.negative_hits, c.misses, c.prefetch_loads, c.evictions),
            len(resident) - negative,
            size,
            negative,
            len(self._pinned),
            self.hot_bytes,
        )
