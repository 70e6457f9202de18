"""Ed25519 signature checks of Solana transactions on every core, without the GIL.

libsodium checks signatures on native threads of the C extension `_verify`, which never take
the GIL: the node's main thread hands over a block's signatures and goes on executing. (Where
the package was installed without a C compiler, `verify_py` does the same with Python threads.) Its
verdict "valid" implies the runtime's (ed25519-dalek `verify_strict`): canonical S, canonical
and not small-order public key and R, and the cofactorless equation. Only when libsodium says
"invalid" does the runtime's own check decide, so both always agree, and the common case (valid
signatures) never takes the GIL-holding path.

The libsodium is the faster on this CPU, measured at start-up (`choose`, logged), of the
system's (when it is release 1.0.16 or later; Debian's build was about 10 % faster than PyNaCl's
on the machines measured so far) and the copy inside PyNaCl's wheel: every release since 1.0.16
is at least as strict as `verify_strict` (it also rejects non-canonical keys), which is all the
argument above needs, so the verdicts are the runtime's on every machine whichever copy runs.
ed25519-dalek (solders' `Signature.verify`) is not a candidate: it holds the GIL, so it does not
run beside execution (benches/bench_ed25519.py, docs/performance.md).

A key that signs again is checked faster, from tables of its multiples (`_ed25519.c`: about
12 µs of CPU a check against libsodium's 41 on the machines measured): a checking thread
builds one (about 84 µs, two libsodium checks) for a key when libsodium has accepted two
signatures by it, and the threads share up to `TABLE_KEYS` of them. The check is libsodium's
(the same equation, the encoding of [S]B - [k]A compared with R, S canonical, R not of small
order; the key's own checks were libsodium's), computed another way; where it says "invalid",
libsodium checks again, and a table that refuses what libsodium accepts turns the tables off.
So the verdicts stay libsodium's, and the argument above holds unchanged.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import time
from collections.abc import Iterator, Sequence

import msgspec
import structlog
from nacl._sodium import ffi, lib
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.rust_svm.verify_py import SIGN_OPEN

try:
    from monmouth.rust_svm._verify import Job, Pool

    #: Which implementation checks signatures: "c" (`_verify.c`), or "python" (`verify_py`)
    #: where the package was installed without a C compiler.
    IMPLEMENTATION = "c"
except ImportError:
    from monmouth.rust_svm.verify_py import Job, Pool  # type: ignore[assignment]

    IMPLEMENTATION = "python"

log = structlog.get_logger("monmouth.sigverify")

#: Transactions per task handed to a worker: small enough to start executing early.
CHUNK = 64


class SignedMessage(msgspec.Struct, frozen=True, gc=False):
    """The parts of one transaction a signature check needs (a struct: one per transaction,
    built on the node's main thread)."""

    signatures: tuple[bytes, ...]
    signers: tuple[bytes, ...]
    message: bytes


#: The system libsodium's file names (release 1.0.18 has soname 23, 1.0.19 and later 26).
_SYSTEM_SODIUM = ("libsodium.so.26", "libsodium.so.23")
#: The oldest libsodium release whose checks are at least as strict as `verify_strict`.
_STRICT_SINCE = (1, 0, 16)
#: The checking threads' niceness: the main thread executes transactions in order and is the
#: pipeline's critical path; the checks run ahead on whatever CPU it leaves.
NICE = 10


#: Keys with tables of multiples, shared by the checking threads (16 KiB each, so at most
#: 64 MiB).
TABLE_KEYS = 4096

#: Signatures each candidate libsodium checks at start-up, in each of `_ROUNDS` rounds.
_SAMPLES = 48
_ROUNDS = 3

#: What a candidate must export (`Ed25519Choice`): the check, and the table checks' hashing
#: (both of these since 1.0.17; without them, libsodium's checks only).
_FUNCTIONS = ("crypto_sign_open", "crypto_hash_sha512", "crypto_core_ed25519_scalar_reduce")


class Ed25519Choice(msgspec.Struct, frozen=True):
    """Which `crypto_sign_open` the node uses, and why.

    :ivar address: the function's address, handed to the checking threads.
    :ivar library: which libsodium it is.
    :ivar costs: microseconds of CPU per check of each candidate, measured at start-up (empty
        when there was one candidate).
    :ivar sha512: the address of the same library's `crypto_hash_sha512`, for the checks from
        per-key tables (0 where the library lacks it: libsodium's checks only).
    :ivar reduce: the address of its `crypto_core_ed25519_scalar_reduce` (release 1.0.17 and
        later; 0 likewise).
    """

    address: int
    library: str
    costs: dict[str, float]
    sha512: int = 0
    reduce: int = 0


def _candidates() -> list[Ed25519Choice]:
    """Every strict-enough `crypto_sign_open` within reach: the system's, then PyNaCl's (no
    costs measured yet)."""
    found: list[Ed25519Choice] = []
    for name in _SYSTEM_SODIUM:
        try:
            system = ctypes.CDLL(name)
            system.sodium_version_string.restype = ctypes.c_char_p
            version = system.sodium_version_string().decode()
            if tuple(int(p) for p in version.split(".")) < _STRICT_SINCE:
                continue
            if system.sodium_init() < 0:
                continue
        except (OSError, AttributeError, ValueError):
            continue
        address, sha512, reduce = (
            ctypes.cast(getattr(system, f), ctypes.c_void_p).value or 0 if hasattr(system, f) else 0
            for f in _FUNCTIONS
        )
        if address:
            library = f"libsodium {version} ({name})"
            found.append(Ed25519Choice(address, library, {}, sha512, reduce))
            break
    address, sha512, reduce = (
        int(ffi.cast("uintptr_t", ffi.addressof(lib, f))) for f in _FUNCTIONS
    )
    found.append(Ed25519Choice(address, "PyNaCl's libsodium", {}, sha512, reduce))
    return found


def _cost(address: int, signed: list[bytes], public: bytes) -> float:
    """Microseconds of this thread's CPU per check (best of `_ROUNDS`), on valid signatures
    over Solana-sized messages: CPU time, so that other work on the machine does not count."""
    check = SIGN_OPEN(address)
    out = ctypes.create_string_buffer(max(map(len, signed)))
    size = ctypes.c_ulonglong()
    best = float("inf")
    for _ in range(_ROUNDS):
        start = time.thread_time()
        for sm in signed:
            if check(out, ctypes.byref(size), sm, len(sm), public) != 0:
                raise RuntimeError(f"libsodium at {address:#x} refused a valid signature")
        best = min(best, time.thread_time() - start)
    return best / len(signed) * 1e6


@functools.cache
def choose() -> Ed25519Choice:
    """The fastest strict libsodium on this CPU, measured once per process (about 15 ms).

    Every candidate gives the runtime's verdicts (see the module's docstring), so the choice
    moves speed only, never a result; which copy is faster depends on the CPU and on how each
    was built (Debian's by about 10 % on the machines measured so far).
    """
    found = _candidates()
    if len(found) == 1:
        return found[0]
    from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

    public, secret = crypto_sign_seed_keypair(bytes(range(32)))
    # Signature ‖ message, over messages of a transfer's size.
    signed = [crypto_sign(bytes([i]) * 215, secret) for i in range(_SAMPLES)]
    costs = {c.library: _cost(c.address, signed, public) for c in found}
    best = min(found, key=lambda c: costs[c.library])
    return msgspec.structs.replace(best, costs={k: round(v, 1) for k, v in costs.items()})


def make_pool(choice: Ed25519Choice, threads: int, nice: int = 0, keys: int = TABLE_KEYS) -> Pool:
    """Threads checking with `choice`'s libsodium and, where it has the hash functions, from
    tables for up to `keys` keys that signed before (`_verify.Pool`)."""
    return Pool(
        choice.address,
        threads,
        nice,
        sha512=choice.sha512,
        reduce=choice.reduce,
        keys=keys if choice.reduce else 0,
    )


def sign_open() -> tuple[int, str]:
    """The address of the `crypto_sign_open` to use (sm = signature ‖ message), and which
    libsodium it is."""
    choice = choose()
    return choice.address, choice.library


def _runtime_ok(signature: bytes, message: bytes, signer: bytes) -> bool:
    return bool(Signature(signature).verify(Pubkey(signer), message))


def _flatten(
    items: Sequence[SignedMessage],
) -> tuple[list[bytes], list[bytes], list[bytes], bool]:
    """One (signature, key, message) entry per signature, in order, and whether every item has
    exactly one signature and one signer."""
    simple = True
    sigs: list[bytes] = []
    keys: list[bytes] = []
    msgs: list[bytes] = []
    for item in items:
        signatures = item.signatures
        if len(signatures) == 1 and len(item.signers) == 1:  # nearly every transaction
            sigs.append(signatures[0])
            keys.append(item.signers[0])
            msgs.append(item.message)
        else:
            simple = False
            sigs.extend(signatures)
            keys.extend(item.signers[: len(signatures)])
            msgs.extend([item.message] * len(signatures))
            # A transaction whose counts differ is invalid (`_verdicts`); pad its entries.
            keys.extend([b""] * (len(signatures) - len(item.signers)))
    return sigs, keys, msgs, simple


def _verdicts(items: Sequence[SignedMessage], jobs: list[tuple[int, Job, bool]]) -> Iterator[bool]:
    """The transactions' verdicts from the jobs' per-signature ones, waiting for each job only
    when its first transaction is asked for."""
    at = 0
    for end, job, simple in jobs:
        accepted = job.wait()
        if simple and 0 not in accepted:
            # One signature and one signer per transaction, all accepted: the common case,
            # without a look at each transaction.
            yield from itertools.repeat(True, end - at)
            at = end
            continue
        i = 0
        for item in items[at:end]:
            n = len(item.signatures)
            if n != len(item.signers):
                yield False
            else:
                # Where libsodium said no, the runtime's own check decides.
                pairs = zip(item.signatures, item.signers, strict=True)
                yield all(
                    accepted[i + k] or _runtime_ok(sig, item.message, signer)
                    for k, (sig, signer) in enumerate(pairs)
                )
            i += n
        at = end


class SignatureVerifier:
    """Native threads checking signatures; `verify` yields verdicts in order as they finish."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        choice = choose()
        self.library = choice.library
        self._pool: Pool | None = make_pool(choice, self.workers, NICE)
        log.info(
            "ed25519 chosen",
            library=choice.library,
            us_per_check=choice.costs or None,
            table_keys=self._pool.stats()["keys"],
        )
        self._last_stats: dict[str, int] = {}

    def verify(self, items: Sequence[SignedMessage]) -> Iterator[bool]:
        """Verdicts for `items`, in order. Work starts at once, on the native threads; the
        caller can act on early verdicts while later ones are still being checked."""
        if self._pool is None:
            raise RuntimeError("the signature verifier is closed")
        jobs: list[tuple[int, Job, bool]] = []
        for start in range(0, len(items), CHUNK):
            end = min(start + CHUNK, len(items))
            sigs, keys, msgs, simple = _flatten(items[start:end])
            jobs.append((end, self._pool.submit(sigs, keys, msgs), simple))
        return _verdicts(items, jobs)

    def stats(self) -> dict[str, int]:
        """What the checks from per-key tables did (`Pool.stats`), until now or until `close`."""
        return self._pool.stats() if self._pool is not None else self._last_stats

    def close(self) -> None:
        """Finish what is queued and stop the threads. Idempotent."""
        if self._pool is not None:
            self._pool.close()
            self._last_stats = self._pool.stats()
            self._pool = None
            if self._last_stats["tables_wrong"]:
                # Never seen: the verdicts stayed libsodium's, but the arithmetic of
                # `_ed25519.c` is wrong on this machine, and someone should know.
                log.error("ed25519 table checks were turned off", **self._last_stats)
