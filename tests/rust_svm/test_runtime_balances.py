"""`SvmRuntime.balances` (C, `_runtime.c`) equals `balances_py` (the Python reference): the same
lamports for keys with accounts, absent keys, keys not yet in the runtime's Pubkey cache, the
runtime's own programs and sysvars; the same cache afterwards; the same errors, raised without
leaking a reference."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence

import pytest
from solders.account import Account
from solders.pubkey import Pubkey

from monmouth.core.implementations import implementations
from monmouth.core.spl import TOKEN_PROGRAM
from monmouth.rust_svm import _runtime
from monmouth.rust_svm import runtime as runtime_module
from monmouth.rust_svm.runtime import SvmRuntime

SYSTEM_PROGRAM = bytes(32)
CLOCK = bytes(Pubkey.from_string("SysvarC1ock11111111111111111111111111111111"))
RENT = bytes(Pubkey.from_string("SysvarRent111111111111111111111111111111111"))
#: Accounts the runtime is given (lamports by key), one of them with none left.
FUNDED = {bytes([i]) * 32: 1_000_000 * i for i in range(1, 9)}
EMPTY = bytes([99]) * 32


def _runtime_with_accounts() -> SvmRuntime:
    runtime = SvmRuntime()
    for key, lamports in FUNDED.items():
        runtime.put_object(key, Account(lamports, b"", Pubkey(SYSTEM_PROGRAM)))
    runtime.put_object(EMPTY, Account(0, b"", Pubkey(SYSTEM_PROGRAM)))
    return runtime


def _keys() -> tuple[bytes, ...]:
    """Every kind of key, some twice; `put_object` put the funded ones in the Pubkey cache,
    the others are not in it yet."""
    absent = (os.urandom(32), os.urandom(32))
    funded = tuple(FUNDED)
    return (
        *funded[:3],
        absent[0],
        SYSTEM_PROGRAM,
        TOKEN_PROGRAM,
        CLOCK,
        EMPTY,
        *funded[3:],
        RENT,
        absent[1],
        funded[0],
        absent[0],
    )


def test_c_equals_the_reference_and_leaves_the_same_pubkey_cache() -> None:
    assert runtime_module.IMPLEMENTATION == "c" and implementations()["balances"] == "c"
    assert SvmRuntime.balances is not SvmRuntime.balances_py
    keys = _keys()
    c, py = _runtime_with_accounts(), _runtime_with_accounts()
    got = c.balances(keys)
    assert got == py.balances_py(keys)
    assert all(type(lamports) is int for lamports in got)
    assert got[:3] == [FUNDED[k] for k in keys[:3]]
    assert got[3] == got[14] == got[16] == 0  # absent
    assert got[7] == 0  # an account with no lamports
    assert min(got[4:7]) > 0 and got[13] > 0  # the runtime's programs and sysvars
    # The keys not in the cache were added to it, in the same order.
    assert list(c._pubkeys) == list(py._pubkeys)
    assert set(keys) <= set(c._pubkeys)
    # Read again, all from the cache; and on one runtime, both ways.
    assert c.balances(keys) == got == c.balances_py(keys)
    # Any sequence of keys, and none.
    assert c.balances(list(keys)) == got  # type: ignore[arg-type]
    assert c.balances(()) == [] == c.balances_py(())


def test_the_runtime_reads_through_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = _runtime_with_accounts()
    seen: list[object] = []
    balances = _runtime.balances

    def spy(*args: object) -> list[int]:
        seen.append(args)
        return balances(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_runtime, "balances", spy)
    keys = _keys()
    assert runtime.balances(keys) == runtime.balances_py(keys)
    assert seen == [(runtime._get_balance, runtime._pubkeys, runtime._pubkey, keys)]


def test_a_pubkey_cache_cleared_while_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_pubkey` clears the cache when full: the C loop holds no entry of it across that."""
    monkeypatch.setattr(runtime_module, "PUBKEY_CACHE", 3)
    keys = tuple(os.urandom(32) for _ in range(7)) + tuple(FUNDED)
    c, py = _runtime_with_accounts(), _runtime_with_accounts()
    assert c.balances(keys) == py.balances_py(keys)
    assert c.balances(keys)[7:] == list(FUNDED.values())
    assert list(c._pubkeys) == list(py._pubkeys)


@pytest.mark.parametrize(
    "bad",
    [b"short", "a" * 32, 5, [1] * 32],
    ids=["short-bytes", "str", "int", "unhashable"],
)
def test_a_key_that_is_not_32_bytes_raises_as_the_reference(bad: object) -> None:
    runtime = _runtime_with_accounts()
    keys = (*FUNDED, bad)
    with pytest.raises(Exception) as py_error:
        runtime.balances_py(keys)  # type: ignore[arg-type]
    with pytest.raises(type(py_error.value)) as c_error:
        runtime.balances(keys)  # type: ignore[arg-type]
    assert str(c_error.value) == str(py_error.value)


def test_arguments_of_the_wrong_kind_raise() -> None:
    runtime = SvmRuntime()
    with pytest.raises(TypeError):
        _runtime.balances(runtime._get_balance, [], runtime._pubkey, ())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _runtime.balances(runtime._get_balance, {}, runtime._pubkey, 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _runtime.balances(runtime._get_balance, {})  # type: ignore[call-arg]
    # A key the cache cannot hold raises there, whatever `make_pubkey` would make of it.
    with pytest.raises(TypeError, match="unhashable"):
        _runtime.balances(runtime._get_balance, {}, Pubkey, ([1] * 32,))  # type: ignore[arg-type]
    assert _runtime.balances(runtime._get_balance, {}, Pubkey, (SYSTEM_PROGRAM,)) == [1]


class _Reads:
    """A `get_balance` that answers with objects of its own, and raises at read `fail_at`."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.calls = 0
        # Large ints: objects of their own, whose references the test counts.
        self.answers = [10**30 + i for i in range(9)]

    def __call__(self, pubkey: Pubkey) -> int | None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise LookupError("no such bank")
        return None if self.calls % 2 else self.answers[self.calls]


def _counts(*objects: object) -> list[int]:
    return [sys.getrefcount(o) for o in objects]


@pytest.mark.parametrize("fail_at", [1, 2, 5, 0], ids=["first", "second", "fifth", "never"])
def test_a_raising_get_balance_propagates_and_leaks_nothing(fail_at: int) -> None:
    cached = {bytes([i]) * 32: Pubkey(bytes([i]) * 32) for i in range(3)}
    made = Pubkey(bytes([7]) * 32)

    def make_pubkey(key: bytes) -> Pubkey:
        return made

    keys = (*cached, bytes([7]) * 32, bytes([8]) * 32, *cached)
    reads = _Reads(fail_at)
    watched = (reads, make_pubkey, cached, keys, made, *cached.values(), *reads.answers)
    before = _counts(*watched)
    for _ in range(3):
        reads.calls = 0
        if fail_at:
            try:
                _runtime.balances(reads, cached, make_pubkey, keys)
            except LookupError as error:
                assert str(error) == "no such bank"
            else:
                pytest.fail("the error did not propagate")
            assert reads.calls == fail_at  # nothing read after it
        else:
            got = _runtime.balances(reads, cached, make_pubkey, keys)
            assert got == [0 if n % 2 else reads.answers[n] for n in range(1, 9)]
            del got
    assert _counts(*watched) == before


def test_a_raising_make_pubkey_propagates_and_leaks_nothing() -> None:
    runtime = _runtime_with_accounts()

    def make_pubkey(key: bytes) -> Pubkey:
        raise ValueError("not a key")

    keys = (*FUNDED, os.urandom(32))
    pubkeys = runtime._pubkeys
    watched = (keys, pubkeys, make_pubkey, *pubkeys.values())
    before = _counts(*watched)
    for _ in range(3):
        with pytest.raises(ValueError, match="not a key"):
            _runtime.balances(runtime._get_balance, pubkeys, make_pubkey, keys)
    assert _counts(*watched) == before


def test_many_calls_leave_no_memory_behind() -> None:
    """Lists, ints and Pubkeys of successful and failing calls are all freed."""
    runtime = _runtime_with_accounts()
    keys = _keys()
    bad = (*keys, b"short")

    def calls() -> None:
        for _ in range(2_000):
            runtime.balances(keys)
            with pytest.raises(ValueError):
                runtime.balances(bad)

    calls()  # caches, interned objects and the like, made once
    before = sys.getallocatedblocks()
    calls()
    assert sys.getallocatedblocks() - before < 100


def _per_call(
    read: Callable[[tuple[bytes, ...]], list[int]], txs: Sequence[tuple[bytes, ...]]
) -> int:
    start = time.perf_counter_ns()
    for keys in txs:
        read(keys)
    return (time.perf_counter_ns() - start) // len(txs)


def test_cost_per_call() -> None:
    """What a transfer's read (3 keys) costs each way, printed for the record (`-s`); the
    assertion is only that both read the same, never a time (a shared machine)."""
    runtime = _runtime_with_accounts()
    users = [*FUNDED, *(os.urandom(32) for _ in range(2))]
    txs = [(users[i % 10], users[(i * 7 + 1) % 10], SYSTEM_PROGRAM) for i in range(20_000)]
    c, py = [], []
    for _ in range(5):  # alternated rounds: drift of the machine's load falls on both
        c.append(_per_call(runtime.balances, txs))
        py.append(_per_call(runtime.balances_py, txs))
    print(f"balances of 3 keys: C {min(c)} ns, Python {min(py)} ns a call (best of 5 rounds)")
    assert [runtime.balances(t) for t in txs[:10]] == [runtime.balances_py(t) for t in txs[:10]]
