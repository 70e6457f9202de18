"""ed25519 verifications within reach, on this CPU (issue 21, item 4): the system's libsodium
and PyNaCl's on the node's native threads (`rust_svm/_verify.c`), ed25519-dalek through
solders' `Signature.verify`, and PyNaCl's Python binding; on one thread, then on two (does it
scale on threads, or does it hold the GIL?). 20,000 signatures over 215-byte messages, the size
of a transfer's.

    python benches/bench_ed25519.py [--count N] [--json]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import nacl.bindings
from nacl._sodium import ffi, lib
from report import emit, machine
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.rust_svm._verify import Pool
from monmouth.rust_svm.sigverify import sign_open

COUNT = 20_000
Check = Callable[[bytes, bytes, bytes], object]


def signed(count: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(signatures, keys, messages) of `count` valid signatures by 100 keys."""
    keypairs = [Keypair() for _ in range(100)]
    sigs, keys, msgs = [], [], []
    for i in range(count):
        keypair, message = keypairs[i % 100], os.urandom(215)
        sigs.append(bytes(keypair.sign_message(message)))
        keys.append(bytes(keypair.pubkey()))
        msgs.append(message)
    return sigs, keys, msgs


def pool_rate(address: int, threads: int, data: tuple[list[bytes], ...]) -> float:
    """Checks per second on the node's native threads, best of three."""
    best = 0.0
    for _ in range(3):
        pool = Pool(address, threads, 0)
        start = time.perf_counter()
        pool.submit(*data).wait()
        best = max(best, len(data[0]) / (time.perf_counter() - start))
        pool.close()
    return best


def python_rate(check: Check, threads: int, data: tuple[list[bytes], ...]) -> float:
    """Checks per second from Python threads calling `check`, best of three."""
    sigs, keys, msgs = data
    share = len(sigs) // threads

    def work(part: int) -> None:
        for i in range(part * share, (part + 1) * share):
            check(sigs[i], keys[i], msgs[i])

    best = 0.0
    for _ in range(3):
        workers = [threading.Thread(target=work, args=(p,)) for p in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        best = max(best, share * threads / (time.perf_counter() - start))
    return best


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=COUNT, help="signatures (even)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {**machine(), "node_uses": sign_open()[1]}
    data = signed(args.count)
    system_address = _system_sign_open()
    pynacl_address = int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_sign_open")))

    def dalek(sig: bytes, key: bytes, msg: bytes) -> object:
        return Signature(sig).verify(Pubkey(key), msg)

    def pynacl(sig: bytes, key: bytes, msg: bytes) -> object:
        return nacl.bindings.crypto_sign_open(sig + msg, key)

    for threads in (1, 2):
        if system_address is not None:
            result[f"system_libsodium_native_{threads}t"] = round(
                pool_rate(system_address, threads, data)
            )
        result[f"pynacl_libsodium_native_{threads}t"] = round(
            pool_rate(pynacl_address, threads, data)
        )
        result[f"solders_dalek_python_{threads}t"] = round(python_rate(dalek, threads, data))
        result[f"pynacl_python_{threads}t"] = round(python_rate(pynacl, threads, data))
    emit(result, args.json)


if __name__ == "__main__":
    main()
