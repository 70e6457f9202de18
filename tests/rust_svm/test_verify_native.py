"""The native checking threads (`_verify.c`) and their Python version (`verify_py`, for installs
without a C compiler), each: verdicts, order, bad input, shutdown; the Python one's verdicts
held to the C one's."""

from __future__ import annotations

import gc
import os
import random
import threading
import time

import pytest
from chainbuilder import keypair
from nacl._sodium import ffi, lib
from test_sigverify import SPECCHECK

from monmouth.rust_svm import _verify, verify_py
from monmouth.rust_svm.sigverify import NICE, sign_open

PYNACL = int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_sign_open")))

PoolType = type[_verify.Pool] | type[verify_py.Pool]
#: Every test runs against both implementations.
pytestmark = pytest.mark.parametrize("Pool", [_verify.Pool, verify_py.Pool], ids=["c", "python"])


def _signed(n: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    kp = keypair(7)
    msgs = [f"message {i}".encode() for i in range(n)]
    sigs = [bytes(kp.sign_message(m)) for m in msgs]
    return sigs, [bytes(kp.pubkey())] * n, msgs


@pytest.mark.parametrize("address", [PYNACL, sign_open()[0]], ids=["pynacl", "chosen"])
def test_verdicts_and_order(address: int, Pool: PoolType) -> None:
    sigs, keys, msgs = _signed(100)
    # Every third signature is for another message: exactly those fail, in place.
    msgs = [m + b"!" if i % 3 == 0 else m for i, m in enumerate(msgs)]
    pool = Pool(address, 2, NICE)
    try:
        jobs = [
            pool.submit(sigs[i : i + 7], keys[i : i + 7], msgs[i : i + 7]) for i in range(0, 100, 7)
        ]
        verdicts = b"".join(job.wait() for job in jobs)
        assert list(verdicts) == [0 if i % 3 == 0 else 1 for i in range(100)]
        assert jobs[0].wait() == verdicts[:7]  # waiting again gives the same answer
        assert pool.submit([], [], []).wait() == b""
    finally:
        pool.close()


@pytest.mark.parametrize("address", [PYNACL, sign_open()[0]], ids=["pynacl", "chosen"])
def test_speccheck_vectors_same_in_both_libraries(address: int, Pool: PoolType) -> None:
    pool = Pool(address, 1)
    try:
        cases = [tuple(bytes.fromhex(h) for h in case) for case in SPECCHECK]
        got = pool.submit([c[2] for c in cases], [c[1] for c in cases], [c[0] for c in cases])
        reference = _verify.Pool(PYNACL, 1)  # the C threads with PyNaCl's: the reference
        try:
            want = reference.submit(
                [c[2] for c in cases], [c[1] for c in cases], [c[0] for c in cases]
            )
            assert got.wait() == want.wait()
        finally:
            reference.close()
    finally:
        pool.close()


def test_bad_input(Pool: PoolType) -> None:
    sigs, keys, msgs = _signed(2)
    pool = Pool(PYNACL, 1)
    try:
        # A signature or key of the wrong size is invalid, not an error.
        assert pool.submit([sigs[0][:63], sigs[1]], [keys[0], keys[1][:31]], msgs).wait() == b"\0\0"
        with pytest.raises(ValueError, match="differ in number"):
            pool.submit(sigs, keys[:1], msgs)
        with pytest.raises(TypeError, match="must be bytes"):
            pool.submit(sigs, keys, ["text", "text"])  # type: ignore[list-item]
    finally:
        pool.close()
    pool.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(sigs, keys, msgs)
    with pytest.raises(ValueError, match="threads"):
        Pool(PYNACL, 0)
    with pytest.raises(ValueError, match="niceness"):
        Pool(PYNACL, 1, 20)


def test_a_job_dropped_unwaited_is_safe(Pool: PoolType) -> None:
    sigs, keys, msgs = _signed(64)
    pool = Pool(PYNACL, 2)
    try:
        for _ in range(20):
            pool.submit(sigs, keys, list(msgs))  # dropped at once: it waits for its threads
        gc.collect()
        assert pool.submit(sigs, keys, msgs).wait() == b"\1" * 64
    finally:
        pool.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="per-thread niceness is Linux's")
def test_the_threads_run_below_the_main_thread(Pool: PoolType) -> None:
    def nice_levels() -> list[int]:
        levels = []
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as stat:
                    levels.append(int(stat.read().rsplit(")", 1)[1].split()[16]))  # field 19
            except FileNotFoundError:
                continue  # a thread that ended since the listing (another test's pool)
        return levels

    gc.collect()  # earlier tests' unreachable pools join their threads now, not during this one
    before = nice_levels()
    pool = Pool(PYNACL, 2, NICE)
    try:
        # Each thread sets its own niceness as it starts: give them a moment.
        deadline = time.monotonic() + 5
        while nice_levels().count(NICE) < before.count(NICE) + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert nice_levels().count(NICE) == before.count(NICE) + 2
    finally:
        pool.close()


def _mixed_jobs(seed: int, count: int) -> list[tuple[list[bytes], list[bytes], list[bytes], bytes]]:
    """`count` jobs of 1 to 3 signatures by a few keys, about a third of them invalid (another
    message, or a signature of the wrong size), each with the verdicts it must get."""
    rng = random.Random(seed)
    signers = [keypair(seed * 10 + k) for k in range(3)]
    jobs = []
    for j in range(count):
        sigs, keys, msgs, want = [], [], [], bytearray()
        for s in range(rng.randint(1, 3)):
            kp = rng.choice(signers)
            msg = f"job {seed} {j} {s}".encode() * rng.randint(1, 8)
            sig = bytes(kp.sign_message(msg))
            fault = rng.randrange(6)
            if fault == 0:
                msg += b"!"
            elif fault == 1:
                sig = sig[:63]
            sigs.append(sig)
            keys.append(bytes(kp.pubkey()))
            msgs.append(msg)
            want.append(fault > 1)
        jobs.append((sigs, keys, msgs, bytes(want)))
    return jobs


def test_many_small_jobs_from_one_and_two_threads(Pool: PoolType) -> None:
    """Small jobs, each waited for at once, so that the threads sleep between them: every
    wake-up of a worker for new work and of a waiter for a finished job must arrive (a lost one
    hangs, caught by the time limit) and every verdict be right."""
    pool = Pool(PYNACL, 2)
    streams = [_mixed_jobs(seed, 600) for seed in (1, 2, 3)]
    wrong: list[int] = []

    def run(jobs: list[tuple[list[bytes], list[bytes], list[bytes], bytes]]) -> None:
        for sigs, keys, msgs, want in jobs:
            if pool.submit(sigs, keys, msgs).wait() != want:
                wrong.append(len(sigs))

    def within_limit(*chosen: list[tuple[list[bytes], list[bytes], list[bytes], bytes]]) -> None:
        threads = [threading.Thread(target=run, args=(jobs,), daemon=True) for jobs in chosen]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive(), "a wait never returned: a wake-up was lost"

    try:
        within_limit(streams[0])  # one submitting thread
        within_limit(streams[1], streams[2])  # two at once, sharing the workers and `done`
        assert wrong == []
    finally:
        pool.close()


def test_the_inputs_may_change_after_submit(Pool: PoolType) -> None:
    """The job keeps its own references: a caller that empties its lists meanwhile changes
    nothing."""
    sigs, keys, msgs = _signed(2000)
    pool = Pool(PYNACL, 1)
    try:
        job = pool.submit(sigs, keys, msgs)
        # The lists held the only references; the memory they free goes at once to other bytes
        # of the same sizes, while the thread is still checking (about 40 µs a signature).
        del sigs, keys, msgs
        filler = [bytes([255]) * size for _ in range(2000) for size in (64, 32, 11, 12, 13)]
        assert job.wait() == b"\1" * 2000
        del filler
    finally:
        pool.close()
