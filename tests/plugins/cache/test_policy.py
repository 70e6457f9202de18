"""The eviction policies (monmouth/plugins/cache/policy.py): the contract every policy keeps,
checked on random operation sequences, and LRU and CLOCK against small reference models."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monmouth.core.accountcache import access_all
from monmouth.core.cachespec import EvictionPolicy
from monmouth.plugins.cache.policy import DEFAULT_POLICY, POLICIES, Clock, Lru

BOUNDED = sorted(name for name in POLICIES if name != "unbounded")

#: Ten keys, so that sequences hit, miss, evict and re-admit the same keys often.
KEYS = st.integers(0, 9).map(lambda i: bytes([i]) * 32)
SIZES = st.integers(0, 300)

#: (kind, key, number, pinned keys): ("access", key, size, -), ("forget", key, -, -) or
#: ("victims", -, excess, pinned keys).
Op = tuple[str, bytes, int, frozenset[bytes]]
_NONE: frozenset[bytes] = frozenset()
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("access"), KEYS, SIZES, st.just(_NONE)),
        st.tuples(st.just("forget"), KEYS, st.just(0), st.just(_NONE)),
        st.tuples(
            st.just("victims"),
            st.just(b""),
            st.integers(-10, 2000),
            st.frozensets(KEYS, max_size=4),
        ),
    ),
    max_size=80,
)


def _run(policy: EvictionPolicy, ops: list[Op]) -> list[list[bytes]]:
    """Apply `ops` to `policy` and to a plain model of what is resident, checking the
    contract after each step; returns the victims of each `victims` call."""
    resident: dict[bytes, int] = {}
    evicted: list[list[bytes]] = []
    for kind, key, number, pins in ops:
        if kind == "access":
            policy.access(key, number)
            resident[key] = number
        elif kind == "forget":
            policy.forget(key)
            resident.pop(key, None)
        else:
            excess = number
            out = policy.victims(excess, pins.__contains__)
            assert len(out) == len(set(out)), "a key returned twice"
            assert not pins & set(out), "a pinned key returned"
            assert all(key in resident for key in out), "a key that is not resident returned"
            freed = sum(resident[key] for key in out)
            unpinned = sum(size for key, size in resident.items() if key not in pins)
            # At least the excess, or every unpinned key when they add up to less.
            assert freed >= min(excess, unpinned)
            for key in out:
                del resident[key]
            evicted.append(out)
        assert len(policy) == len(resident)
        assert policy.resident_bytes() == sum(resident.values())
    return evicted


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_contract(name: str, ops: list[Op]) -> None:
    """Never a pinned key, frees at least the excess when it can, sizes add up, and a key it
    returns is gone (a second eviction never returns it; `len` and bytes agree)."""
    policy = POLICIES[name]()
    if name == "unbounded":
        # Unbounded evicts nothing: checked apart, since "frees the excess" does not hold.
        for kind, key, number, _pins in ops:
            if kind == "victims":
                assert policy.victims(number, lambda _: False) == []
            elif kind == "access":
                policy.access(key, number)
            else:
                policy.forget(key)
        return
    _run(policy, ops)


@pytest.mark.parametrize("name", BOUNDED)
@settings(max_examples=100, deadline=None)
@given(ops=OPS)
def test_deterministic(name: str, ops: list[Op]) -> None:
    """The same operations give the same victims (the node's runs must be reproducible)."""
    assert _run(POLICIES[name](), ops) == _run(POLICIES[name](), ops)


class LruModel:
    """LRU as a plain list, most recent last."""

    def __init__(self) -> None:
        self.order: list[bytes] = []
        self.sizes: dict[bytes, int] = {}

    def access(self, key: bytes, size: int) -> None:
        if key in self.sizes:
            self.order.remove(key)
        self.order.append(key)
        self.sizes[key] = size

    def forget(self, key: bytes) -> None:
        if key in self.sizes:
            self.order.remove(key)
            del self.sizes[key]

    def victims(self, excess: int, pinned: Callable[[bytes], bool]) -> list[bytes]:
        out: list[bytes] = []
        for key in list(self.order):
            if sum(self.sizes[k] for k in out) >= excess:
                break
            if not pinned(key):
                out.append(key)
        for key in out:
            self.forget(key)
        return out


class ClockModel:
    """CLOCK as a textbook ring: a list of [key, referenced] and a hand that goes round."""

    def __init__(self) -> None:
        self.ring: list[list[object]] = []
        self.hand = 0
        self.sizes: dict[bytes, int] = {}

    def _slot(self, key: bytes) -> int | None:
        return next((i for i, slot in enumerate(self.ring) if slot[0] == key), None)

    def access(self, key: bytes, size: int) -> None:
        i = self._slot(key)
        if i is None:
            # A new key goes just behind the hand: the last place it reaches.
            self.ring.insert(self.hand, [key, False])
            self.hand = (self.hand + 1) % len(self.ring)
        else:
            self.ring[i][1] = True
        self.sizes[key] = size

    def forget(self, key: bytes) -> None:
        i = self._slot(key)
        if i is None:
            return
        del self.ring[i]
        del self.sizes[key]
        if i < self.hand:
            self.hand -= 1
        if self.ring:
            self.hand %= len(self.ring)
        else:
            self.hand = 0

    def victims(self, excess: int, pinned: Callable[[bytes], bool]) -> list[bytes]:
        out: list[bytes] = []
        freed, steps = 0, 2 * len(self.ring)
        while freed < excess and steps > 0 and self.ring:
            steps -= 1
            key, referenced = self.ring[self.hand]
            assert isinstance(key, bytes)
            if referenced or pinned(key):
                self.ring[self.hand][1] = False
                self.hand = (self.hand + 1) % len(self.ring)
                continue
            freed += self.sizes[key]
            out.append(key)
            self.forget(key)
        return out


@pytest.mark.parametrize(
    ("policy", "model"), [(Lru, LruModel), (Clock, ClockModel)], ids=["lru", "clock"]
)
@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_against_model(
    policy: Callable[[], EvictionPolicy], model: Callable[[], LruModel | ClockModel], ops: list[Op]
) -> None:
    """The same victims, in the same order, as the reference model."""
    real, ref = policy(), model()
    for kind, key, number, pins in ops:
        if kind == "access":
            real.access(key, number)
            ref.access(key, number)
        elif kind == "forget":
            real.forget(key)
            ref.forget(key)
        else:
            assert real.victims(number, pins.__contains__) == ref.victims(number, pins.__contains__)


def test_lru_evicts_least_recent() -> None:
    policy = Lru()
    for key in (b"a", b"b", b"c"):
        policy.access(key, 10)
    policy.access(b"a", 10)
    assert policy.victims(15, lambda _: False) == [b"b", b"c"]
    assert len(policy) == 1


def test_tinylfu_keeps_the_frequent_key_against_a_scan() -> None:
    """A key used often survives a scan of keys used once; under LRU it does not."""
    hot = b"h" * 32

    def scan(policy: EvictionPolicy) -> bool:
        for _ in range(20):
            policy.access(hot, 100)
        for i in range(200):
            policy.access(i.to_bytes(32, "big"), 100)
            policy.victims(policy.resident_bytes() - 1000, lambda _: False)
        return hot in _resident(policy, hot)

    assert scan(POLICIES["w-tinylfu"]())
    assert not scan(POLICIES["lru"]())


def _resident(policy: EvictionPolicy, key: bytes) -> set[bytes]:
    """{key} when `policy` still holds it: forgetting changes `len` only for a resident key."""
    before = len(policy)
    policy.forget(key)
    return {key} if len(policy) < before else set()


def test_default_policy_is_registered() -> None:
    assert DEFAULT_POLICY in POLICIES and DEFAULT_POLICY != "unbounded"


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_access_cost(name: str) -> None:
    """What an access costs on the execution thread, printed for the record (`-s`); the
    assertion is only that 100,000 accesses with evictions between blocks complete and leave
    the policy within budget, never a time."""
    policy = POLICIES[name]()
    keys = [i.to_bytes(32, "big") for i in range(20_000)]
    budget = 200 * 5_000
    start = time.perf_counter_ns()
    for block in range(100):
        for j in range(1000):
            policy.access(keys[(block * 7919 + j * 104729) % len(keys)], 200)
        policy.victims(policy.resident_bytes() - budget, lambda _: False)
    elapsed = time.perf_counter_ns() - start
    print(f"{name}: {elapsed / 100_000:.0f} ns per access, evictions included")
    if name != "unbounded":
        assert policy.resident_bytes() <= budget


def _batched(policy: EvictionPolicy, ops: list[Op]) -> list[object]:
    """Apply `ops` handing each run of consecutive accesses over in one call (`access_all`,
    as `AccountCache` does a block's keys); returns every victims list, sizes and length."""
    access = access_all(policy)
    seen: list[object] = []
    run: list[tuple[bytes, int]] = []
    for kind, key, number, pins in [*ops, ("victims", b"", 10**9, _NONE)]:
        if kind == "access":
            run.append((key, number))
            continue
        if run:
            access(run)
            run = []
        if kind == "forget":
            policy.forget(key)
        else:
            seen.append(policy.victims(number, pins.__contains__))
        seen.append((len(policy), policy.resident_bytes()))
    return seen


def _one_by_one(policy: EvictionPolicy, ops: list[Op]) -> list[object]:
    seen: list[object] = []
    for kind, key, number, pins in [*ops, ("victims", b"", 10**9, _NONE)]:
        if kind == "access":
            policy.access(key, number)
            continue
        if kind == "forget":
            policy.forget(key)
        else:
            seen.append(policy.victims(number, pins.__contains__))
        seen.append((len(policy), policy.resident_bytes()))
    return seen


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_batched_accesses(name: str, ops: list[Op]) -> None:
    """Accesses handed over a block at a time (a policy's `access_many`, or the loop for one
    without) leave the policy as the same accesses one by one: the same victims in the same
    order, the last call draining everything in eviction order."""
    assert _batched(POLICIES[name](), ops) == _one_by_one(POLICIES[name](), ops)


def test_batched_accesses_hit_the_ghosts() -> None:
    """ARC's ghost hits in a batch move its target `p` as one by one (random sequences of ten
    keys rarely build long ghost lists)."""
    keys = [bytes([i]) * 32 for i in range(40)]
    ops: list[Op] = [("access", k, 100, _NONE) for k in keys]
    ops += [("access", k, 100, _NONE) for k in keys[:20]]
    ops.append(("victims", b"", 2500, _NONE))
    ops += [("access", k, 120, _NONE) for k in keys]
    ops.append(("victims", b"", 1000, _NONE))
    ops += [("access", k, 90, _NONE) for k in reversed(keys)]
    one, many = POLICIES["arc"](), POLICIES["arc"]()
    assert _batched(many, ops) == _one_by_one(one, ops)
    assert vars(one) == vars(many)
