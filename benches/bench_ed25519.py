"""ed25519 verifications within reach, on this CPU (issue 21, item 4): for speed, on one and on
two threads or processes (does it scale, or does it hold the GIL?), with the CPU per check of
every thread and process involved, and for strictness against the runtime's check.

Rows (checks per second, best of `--rounds`, the rows interleaved so that a busy moment on a
shared machine does not fall on one row only; `*_cpu_us`: CPU microseconds per check, all
threads and processes, the hand-over included; `*_main_cpu_us`, of the native and process
rows: the calling thread's share, which in the node is the main thread's; `*_cores`, of the
two-thread and two-process rows: CPU over wall time, above 1 only where the checks ran outside
one GIL, and below 2 also when other work on the machine took a core):

- the system's libsodium and PyNaCl's on the node's native threads (`rust_svm/_verify.c`);
- the node's checks from per-key tables (`rust_svm/_ed25519.c`) on the same threads, as the node
  runs them (`node_tables_native_*`): libsodium for a key's first two signatures in a thread,
  tables after; and their verdicts on the edge cases, each given four times so that every key
  libsodium accepts gets its table (`node_tables_native_strict`);
- ed25519-dalek through solders' `Signature.verify` (what LiteSVM and Agave use) from Python
  threads, and in worker processes fed batches of packed (signature, key, message) triples
  over pipes (`solders_dalek_processes_b<batch>_<n>p`);
- every other Python package found that verifies ed25519, from Python threads, when installed
  (`<name>_skipped` says which package a missing one needs; none is a dependency of the node):
  PyNaCl's binding, OpenSSL through `cryptography`, ed25519-zebra, pycryptodome, `ed25519`
  (SUPERCOP ref10 in C), orlp's ed25519, libeddsa, libsodium through pysodium and libnacl,
  lib25519 (where the system has the library), and `pure25519` (pure Python: one thread, a
  few signatures).

Strictness (`<name>_strict`): each one's verdicts on the node's own edge cases
(tests/rust_svm/test_sigverify.py: non-canonical S, small-order keys and R, the
ed25519-speccheck vectors) against solders' `Signature.verify` (dalek's `verify_strict`): "yes"
when everything it accepts the runtime accepts too, which is all the node's
reject-then-recheck rule (`rust_svm/sigverify.py`) needs of it.

20,000 signatures by 100 keys (`--keys`) over 215-byte messages, the size of a transfer's.

    python benches/bench_ed25519.py [--count N] [--keys N] [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import array
import ctypes
import functools
import importlib
import multiprocessing
import os
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.exceptions
from nacl._sodium import ffi, lib
from report import emit, machine
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.rust_svm._verify import Pool
from monmouth.rust_svm.sigverify import choose, make_pool, sign_open

COUNT = 20_000
#: Keys signing in turn: each key's checks after its first two in a thread come from tables.
KEYS = 100
ROUNDS = 3
#: Triples per message to a worker process, and messages in flight per worker (so that a
#: worker has its next batch at hand while the parent collects the last one's verdicts).
BATCHES = (64, 1024)
DEPTH = 2
#: Batches above this many bytes go one at a time: a second one does not fit in the socket's
#: buffer (about 200 kB), so sending it would block this process until the worker has
#: finished the first, while the other worker, done, waits for its next batch.
BUFFERED = 100_000
Check = Callable[[bytes, bytes, bytes], bool]
Data = tuple[list[bytes], list[bytes], list[bytes]]
#: A batch for a worker process: b"B", the count n, then n signatures (64 bytes each), n keys
#: (32), n message lengths (`_LENGTHS` items) and the messages, each part one C-level join.
_COUNT = struct.Struct("<I")
_LENGTHS = "I"
_CPU = struct.Struct("<d")


@dataclass(frozen=True)
class Round:
    """One round of a row.

    :ivar wall: seconds.
    :ivar cpu: CPU seconds of every thread and process involved (worker processes included).
    :ivar main: CPU seconds of the calling thread alone: in the node that is the main thread,
        the pipeline's critical path, so what the hand-over costs it matters most.
    :ivar count: checks.
    """

    wall: float
    cpu: float
    main: float
    count: int


class Clock:
    """Wall, process and calling-thread CPU time from `start()` to `stop()`."""

    def start(self) -> None:
        self._cpu, self._main = time.process_time(), time.thread_time()
        self._wall = time.perf_counter()

    def stop(self, count: int) -> Round:
        wall = time.perf_counter() - self._wall
        main, cpu = time.thread_time() - self._main, time.process_time() - self._cpu
        return Round(wall, cpu, main, count)


def signed(count: int, signers: int = KEYS) -> Data:
    """(signatures, keys, messages) of `count` valid signatures by `signers` keys in turn."""
    keypairs = [Keypair() for _ in range(signers)]
    sigs, keys, msgs = [], [], []
    for i in range(count):
        keypair, message = keypairs[i % signers], os.urandom(215)
        sigs.append(bytes(keypair.sign_message(message)))
        keys.append(bytes(keypair.pubkey()))
        msgs.append(message)
    return sigs, keys, msgs


def _all_accepted(verdicts: bytes | list[bool], what: str) -> None:
    """A row counts only if it accepted every (valid) signature: a check that fails fast would
    otherwise look fast."""
    if not all(verdicts):
        raise RuntimeError(f"{what} rejected a valid signature")


def table_pool(threads: int) -> Pool:
    """The node's native threads with the checks from per-key tables, as the node makes them
    (at niceness 0)."""
    return make_pool(choose(), threads)


def pool_round(make: Callable[[], Pool], data: Data, what: str) -> Round:
    """One round on a new pool of the node's native threads (tables, if it has them, built
    from nothing)."""
    pool, clock = make(), Clock()
    try:
        clock.start()
        verdicts = pool.submit(*data).wait()
        measured = clock.stop(len(data[0]))
    finally:
        pool.close()
    _all_accepted(verdicts, what)
    return measured


def python_round(check: Check, threads: int, data: Data, name: str) -> Round:
    """One round of Python threads calling `check`, the signatures shared among them."""
    sigs, keys, msgs = data
    share = len(sigs) // threads
    verdicts: list[bool] = [False] * (share * threads)

    def work(part: int) -> None:
        for i in range(part * share, (part + 1) * share):
            verdicts[i] = check(sigs[i], keys[i], msgs[i])

    workers = [threading.Thread(target=work, args=(p,)) for p in range(threads)]
    clock = Clock()
    clock.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    measured = clock.stop(len(verdicts))
    _all_accepted(verdicts, name)
    return measured


def _pack(sigs: list[bytes], keys: list[bytes], msgs: list[bytes]) -> bytes:
    """A batch for a worker process (`_COUNT`): joins, and no Python work per triple beyond
    taking each message's length."""
    lengths = array.array(_LENGTHS, map(len, msgs)).tobytes()
    parts = (b"".join(sigs), b"".join(keys), lengths, b"".join(msgs))
    return b"".join((b"B", _COUNT.pack(len(sigs)), *parts))


def _dalek_packed(data: bytes) -> bytes:
    """solders' verdicts (1 or 0) on a batch made by `_pack`."""
    (count,) = _COUNT.unpack_from(data, 1)
    keys_at = 1 + _COUNT.size + 64 * count
    lengths_at = keys_at + 32 * count
    lengths = array.array(_LENGTHS)
    lengths.frombytes(data[lengths_at : lengths_at + lengths.itemsize * count])
    at = lengths_at + lengths.itemsize * count
    out = bytearray()
    for i, size in enumerate(lengths):
        sig = data[1 + _COUNT.size + 64 * i : 1 + _COUNT.size + 64 * (i + 1)]
        key = data[keys_at + 32 * i : keys_at + 32 * (i + 1)]
        out.append(Signature(sig).verify(Pubkey(key), data[at : at + size]))
        at += size
    return bytes(out)


def _dalek_worker(conn: Connection) -> None:
    """A worker process: b"B" + packed triples -> verdicts; b"T" -> its CPU seconds so far;
    b"Q" (or a closed pipe) -> exit."""
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        if data[:1] == b"B":
            conn.send_bytes(_dalek_packed(data))
        elif data[:1] == b"T":
            conn.send_bytes(_CPU.pack(time.process_time()))
        else:
            return


class DalekProcesses:
    """Worker processes checking with solders' `Signature.verify`, each fed by a pipe: the
    GIL is per process, so dalek scales over processes where it cannot over threads, at the
    price of packing, copying and unpacking every message."""

    def __init__(self, processes: int) -> None:
        # "spawn": a clean interpreter, whatever threads this one has running.
        context = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        for _ in range(processes):
            parent, child = context.Pipe()
            proc = context.Process(target=_dalek_worker, args=(child,), daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)

    def _cpu(self) -> float:
        """The workers' CPU seconds so far."""
        for conn in self._conns:
            conn.send_bytes(b"T")
        return sum(float(_CPU.unpack(conn.recv_bytes())[0]) for conn in self._conns)

    def round(self, data: Data, batch: int) -> Round:
        """Every signature of `data` checked by the workers, `batch` triples per message; the
        CPU is this process's (packing, sending, collecting) plus the workers'."""
        sigs, keys, msgs = data
        count = len(sigs)
        pending = deque(range(0, count, batch))
        in_flight: dict[Connection, deque[int]] = {conn: deque() for conn in self._conns}
        verdicts: dict[int, bytes] = {}
        workers_cpu = self._cpu()

        def send(conn: Connection) -> None:
            first = pending.popleft()
            last = min(first + batch, count)
            conn.send_bytes(_pack(sigs[first:last], keys[first:last], msgs[first:last]))
            in_flight[conn].append(first)

        size = sum(map(len, msgs[:batch])) + 96 * min(batch, count)
        clock = Clock()
        clock.start()
        for _ in range(DEPTH if size <= BUFFERED else 1):
            for conn in self._conns:
                if pending:
                    send(conn)
        while busy := [conn for conn in self._conns if in_flight[conn]]:
            for ready in wait(busy):
                assert isinstance(ready, Connection)
                verdicts[in_flight[ready].popleft()] = ready.recv_bytes()
                if pending:
                    send(ready)
        measured = clock.stop(count)
        measured = Round(
            measured.wall, measured.cpu + self._cpu() - workers_cpu, measured.main, count
        )
        checked = b"".join(verdicts[k] for k in sorted(verdicts))
        if len(checked) != count:
            raise RuntimeError(f"the workers checked {len(checked)} signatures of {count}")
        _all_accepted(checked, "dalek in processes")
        return measured

    def close(self) -> None:
        for conn in self._conns:
            conn.send_bytes(b"Q")
            conn.close()
        for proc in self._procs:
            proc.join(timeout=10)


@dataclass(frozen=True)
class Library:
    """An ed25519 verification callable from Python.

    :ivar name: the rows' prefix.
    :ivar check: (signature, key, message) -> accepted; False (not an exception) on anything
        the library refuses.
    :ivar threads: the thread counts to measure: (1,) for pure Python, where a second thread
        can only share the GIL.
    :ivar share: the fraction of the signatures it checks (pure Python is 100 times slower).
    """

    name: str
    check: Check
    threads: tuple[int, ...] = (1, 2)
    share: float = 1.0


def _refusing(check: Callable[[bytes, bytes, bytes], object], *errors: type[Exception]) -> Check:
    """`check` as a verdict: True when it returns (anything but False), False when it raises
    one of `errors`."""

    def verdict(sig: bytes, key: bytes, msg: bytes) -> bool:
        try:
            return check(sig, key, msg) is not False
        except errors:
            return False

    return verdict


def _dalek(sig: bytes, key: bytes, msg: bytes) -> bool:
    return bool(Signature(sig).verify(Pubkey(key), msg))


def libraries() -> tuple[list[Library], dict[str, str]]:
    """Every verification importable here, and why each of the others is not (the package to
    install). Imported by name: none is a dependency of the node."""
    found = [
        Library("solders_dalek_python", _dalek),
        Library(
            "pynacl_python",
            _refusing(
                lambda s, k, m: nacl.bindings.crypto_sign_open(s + m, k),
                nacl.exceptions.BadSignatureError,
                nacl.exceptions.ValueError,
            ),
        ),
    ]
    skipped: dict[str, str] = {}

    def optional(name: str, package: str, make: Callable[[], Library]) -> None:
        try:
            found.append(make())
        except (ImportError, OSError) as error:
            skipped[f"{name}_skipped"] = f"pip install {package} ({error})"

    def openssl() -> Library:
        ed = importlib.import_module("cryptography.hazmat.primitives.asymmetric.ed25519")
        invalid = importlib.import_module("cryptography.exceptions").InvalidSignature
        load = ed.Ed25519PublicKey.from_public_bytes
        return Library(
            "openssl_cryptography_python",
            _refusing(lambda s, k, m: load(k).verify(s, m), invalid, ValueError),
        )

    def zebra() -> Library:
        verify = importlib.import_module("ed25519_zebra").ed_verify
        return Library("zebra_python", _refusing(lambda s, k, m: verify(s, m, k), ValueError))

    def pycryptodome() -> Library:
        eddsa = importlib.import_module("Crypto.Signature.eddsa")

        def check(s: bytes, k: bytes, m: bytes) -> object:
            return eddsa.new(eddsa.import_public_key(k), "rfc8032").verify(m, s)

        # About 1.7 ms a check here: a few hundred signatures tell it.
        return Library("pycryptodome_python", _refusing(check, ValueError), share=0.05)

    def ref10() -> Library:
        ed = importlib.import_module("ed25519")
        return Library(
            "ref10_ed25519_python",
            _refusing(lambda s, k, m: ed.VerifyingKey(k).verify(s, m), ed.BadSignatureError),
            share=0.05,  # about 1 ms a check here
        )

    def orlp() -> Library:
        verify = importlib.import_module("ed25519_orlp").ed25519_verify
        return Library("orlp_python", _refusing(lambda s, k, m: verify(s, m, k)))

    def libeddsa() -> Library:
        verify = importlib.import_module("eddsa").ed25519_verify
        return Library("libeddsa_python", _refusing(lambda s, k, m: verify(s, k, m), ValueError))

    def pysodium() -> Library:
        verify = importlib.import_module("pysodium").crypto_sign_verify_detached
        return Library("pysodium_python", _refusing(lambda s, k, m: verify(s, m, k), ValueError))

    def libnacl() -> Library:
        verify = importlib.import_module("libnacl").crypto_sign_verify_detached
        return Library("libnacl_python", _refusing(lambda s, k, m: verify(s, m, k), ValueError))

    def lib25519() -> Library:
        # A wrapper of the system's lib25519 (none in Debian 12): its import fails without it.
        ed = importlib.import_module("lib25519").ed25519
        return Library("lib25519_python", _refusing(lambda s, k, m: ed.open(s + m, k), Exception))

    def pure() -> Library:
        checkvalid = importlib.import_module("pure25519.eddsa").checkvalid
        # It raises whatever its decoding meets (not on the curve, wrong length, ...).
        return Library(
            "pure25519_python",
            _refusing(lambda s, k, m: checkvalid(s, m, k), Exception),
            threads=(1,),
            share=0.01,
        )

    optional("openssl_cryptography_python", "cryptography", openssl)
    optional("zebra_python", "py-ed25519-zebra-bindings", zebra)
    optional("pycryptodome_python", "pycryptodome", pycryptodome)
    optional("ref10_ed25519_python", "ed25519", ref10)
    optional("orlp_python", "ed25519-orlp", orlp)
    optional("libeddsa_python", "eddsa", libeddsa)
    optional("pysodium_python", "pysodium", pysodium)
    optional("libnacl_python", "libnacl", libnacl)
    optional("lib25519_python", "lib25519 and the system's lib25519", lib25519)
    optional("pure25519_python", "pure25519", pure)
    return found, skipped


def _system_sign_open() -> int | None:
    """The system libsodium's `crypto_sign_open`, None without one."""
    for name in ("libsodium.so.26", "libsodium.so.23"):
        try:
            system = ctypes.CDLL(name)
        except OSError:
            continue
        if system.sodium_init() >= 0:
            return ctypes.cast(system.crypto_sign_open, ctypes.c_void_p).value
    return None


def strictness_cases() -> list[tuple[str, bytes, bytes, bytes]]:
    """(name, signature, key, message): the node's own edge cases, from its tests
    (tests/rust_svm/test_sigverify.py: the hand-made ones with one signature, and the
    ed25519-speccheck vectors), so that the bench and the tests hold the same cases."""
    root = Path(__file__).resolve().parents[1]
    saved = list(sys.path)
    sys.path[:0] = [str(root / "tests"), str(root / "tests" / "rust_svm")]
    try:
        tests = importlib.import_module("test_sigverify")
    finally:
        sys.path[:] = saved
    out = [
        (name, item.signatures[0], item.signers[0], item.message)
        for name, item in tests.cases()
        if len(item.signatures) == 1
    ]
    for i, case in enumerate(tests.SPECCHECK):
        message, key, signature = (bytes.fromhex(h) for h in case)
        out.append((f"speccheck {i}", signature, key, message))
    return out


def strictness(
    verdicts: list[bool], reference: list[bool], names: list[str]
) -> tuple[str, list[str]]:
    """ "yes" when every case accepted is accepted by the runtime too (else "NO" and which it
    wrongly accepts), and the cases it rejects that the runtime accepts (harmless: the node
    rechecks those with the runtime's own check, at the GIL's price)."""
    lax = [n for n, got, want in zip(names, verdicts, reference, strict=True) if got and not want]
    stricter = [
        n for n, got, want in zip(names, verdicts, reference, strict=True) if want and not got
    ]
    if lax:
        return f"NO: accepts {', '.join(lax)}", stricter
    return "yes", stricter


@dataclass
class Best:
    """The best rounds of a row so far: the highest rate, the lowest CPU per check (all, and
    the calling thread's), the most cores used at once (CPU over wall time)."""

    rate: float = 0.0
    cpu_us: float = float("inf")
    main_us: float = float("inf")
    cores: float = 0.0

    def add(self, measured: Round) -> None:
        self.rate = max(self.rate, measured.count / measured.wall)
        self.cpu_us = min(self.cpu_us, measured.cpu / measured.count * 1e6)
        self.main_us = min(self.main_us, measured.main / measured.count * 1e6)
        self.cores = max(self.cores, measured.cpu / measured.wall)


def natives() -> dict[str, int]:
    """The `crypto_sign_open`s the node can run on its native threads, by row prefix."""
    system = _system_sign_open()
    pynacl = int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_sign_open")))
    found = {"system_libsodium_native": system} if system is not None else {}
    return {**found, "pynacl_libsodium_native": pynacl}


def rows(
    libs: list[Library], data: Data, processes: dict[int, DalekProcesses]
) -> Iterator[tuple[str, Callable[[], Round]]]:
    """Every row's name and one round of it."""
    for threads in (1, 2):
        for name, address in natives().items():
            make = functools.partial(Pool, address, threads, 0)
            what = f"crypto_sign_open at {address:#x}"
            yield f"{name}_{threads}t", functools.partial(pool_round, make, data, what)
        make = functools.partial(table_pool, threads)
        yield (
            f"node_tables_native_{threads}t",
            functools.partial(pool_round, make, data, "the table checks"),
        )
    for library in libs:
        count = max(2, int(len(data[0]) * library.share)) // 2 * 2
        part: Data = (data[0][:count], data[1][:count], data[2][:count])
        for threads in library.threads:
            row = functools.partial(python_round, library.check, threads, part, library.name)
            yield f"{library.name}_{threads}t", row
    for batch in BATCHES:
        for n, workers in processes.items():
            yield (
                f"solders_dalek_processes_b{batch}_{n}p",
                functools.partial(workers.round, data, batch),
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=COUNT, help="signatures (even)")
    parser.add_argument("--keys", type=int, default=KEYS, help="keys signing in turn")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds (the best counts)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {**machine(), "node_uses": sign_open()[1]}
    libs, skipped = libraries()
    data = signed(args.count, args.keys)
    result["keys"] = args.keys
    processes = {n: DalekProcesses(n) for n in (1, 2)}
    try:
        measured = list(rows(libs, data, processes))
        best = {name: Best() for name, _ in measured}
        for _ in range(args.rounds):
            for name, one_round in measured:
                best[name].add(one_round())
    finally:
        for workers in processes.values():
            workers.close()
    for name, row in best.items():
        result[name] = round(row.rate)
        result[f"{name}_cpu_us"] = round(row.cpu_us, 1)
        if "_native_" in name or "_processes_" in name:
            # Python threads' calling thread only starts and joins them: nothing to say.
            result[f"{name}_main_cpu_us"] = round(row.main_us, 2)
        if name.endswith(("_2t", "_2p")):
            # Above 1 only if the checks ran outside one GIL (at most 1 if they held it);
            # below 2 also when other work on the machine took a core.
            result[f"{name}_cores"] = round(row.cores, 2)
    for name in best:
        # Above 1 on a quiet machine only if the check runs outside the GIL (or the process's).
        if name.endswith(("_2t", "_2p")) and (one := best.get(name[:-2] + "1" + name[-1])):
            result[f"{name[:-3]}_2_over_1"] = round(best[name].rate / one.rate, 2)
    result["load_after"] = os.getloadavg()[0]

    cases = strictness_cases()
    names = [c[0] for c in cases]
    reference = [_dalek(sig, key, msg) for _, sig, key, msg in cases]
    result["strict_cases"] = len(cases)
    result["strict_reference_accepts"] = sum(reference)
    verdicts = {library.name: [library.check(*c[1:]) for c in cases] for library in libs}
    for label, address in natives().items():
        pool = Pool(address, 1, 0)
        try:
            job = pool.submit([c[1] for c in cases], [c[2] for c in cases], [c[3] for c in cases])
            verdicts[label] = [bool(v) for v in job.wait()]
        finally:
            pool.close()
    pool = table_pool(1)
    try:
        repeated = [c[1:] for c in cases] * 4
        job = pool.submit(*(list(column) for column in zip(*repeated, strict=True)))
        last = list(job.wait())[-len(cases) :]
        verdicts["node_tables_native"] = [bool(v) for v in last]
        result["node_tables_native_tables_built"] = pool.stats()["tables_built"]
    finally:
        pool.close()
    for name, got in verdicts.items():
        verdict, stricter = strictness(got, reference, names)
        result[f"{name}_strict"] = verdict
        if stricter:
            result[f"{name}_rejects_runtime_valid"] = ", ".join(stricter)
    result.update(skipped)
    emit(result, args.json)


if __name__ == "__main__":
    main()
