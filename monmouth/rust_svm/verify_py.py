"""`_verify` (the C extension's `Pool` and `Job`) in Python, for an install without a C compiler.

The same interface and the same verdicts (the tests hold both to each other): Python threads
call the same `crypto_sign_open` (the function at `address`, chosen by `sigverify.sign_open`)
through ctypes, which releases the GIL for the call itself. With the main thread idle they check
about as fast as the C threads (2 threads, 20,000 signatures: 20,800 to 21,800 a second against
22,800 to 25,600, on a loaded 2-core AMD EPYC); but between two calls each needs the GIL, which
the node's main thread holds while it executes, so in the node they overlap execution less than
the C threads, which never take it (docs/performance.md, "How the node gets there").
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Job", "Pool"]

#: Signatures per unit of work taken by a thread (as `UNIT` in `_verify.c`).
UNIT = 16

#: `crypto_sign_open(m, &mlen, sm, smlen, pk)` as ctypes calls it (also `sigverify.choose`).
SIGN_OPEN = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_ulonglong),
    ctypes.c_char_p,
    ctypes.c_ulonglong,
    ctypes.c_char_p,
)


class Job:
    """Signatures submitted to a `Pool`, checked in its threads."""

    def __init__(self, sigs: tuple[bytes, ...], keys: tuple[bytes, ...], msgs: tuple[bytes, ...]):
        self._sigs, self._keys, self._msgs = sigs, keys, msgs
        self._verdicts = bytearray(len(sigs))
        self._remaining = len(sigs)
        self._done = threading.Condition()

    def _check(self, check: _Check, start: int, end: int) -> None:
        verdicts = self._verdicts
        for i in range(start, end):
            sig, key, msg = self._sigs[i], self._keys[i], self._msgs[i]
            # A signature or key of the wrong size is invalid, as in C.
            verdicts[i] = len(sig) == 64 and len(key) == 32 and check(sig + msg, key)
        with self._done:
            self._remaining -= end - start
            if self._remaining == 0:
                self._done.notify_all()

    def wait(self) -> bytes:
        """Block until every signature is checked; one byte per signature, 1 where libsodium
        accepted it."""
        with self._done:
            self._done.wait_for(lambda: self._remaining == 0)
        return bytes(self._verdicts)


class _Check:
    """One thread's `crypto_sign_open`, with its own output buffer."""

    def __init__(self, fn: Callable[..., int]) -> None:
        self._fn = fn
        self._out = ctypes.create_string_buffer(64 + 1024)
        self._mlen = ctypes.c_ulonglong(0)

    def __call__(self, sm: bytes, key: bytes) -> bool:
        if len(self._out) < len(sm):
            self._out = ctypes.create_string_buffer(len(sm))
        return self._fn(self._out, ctypes.byref(self._mlen), sm, len(sm), key) == 0


#: The keys of `Pool.stats` (the C pool's and this one's): what the table checks did.
TABLE_STATS = ("table_accepted", "table_rejected", "tables_built", "tables_wrong", "keys")


class Pool:
    """Threads checking signatures with the `crypto_sign_open` at `address`."""

    def __init__(
        self,
        address: int,
        threads: int,
        nice: int = 0,
        *,
        sha512: int = 0,
        reduce: int = 0,
        keys: int = 0,
    ) -> None:
        # `sha512`, `reduce` and `keys` are the C pool's per-key tables, which this version
        # does without: every check is libsodium's.
        del sha512, reduce, keys
        if address == 0 or not 1 <= threads <= 256 or not 0 <= nice <= 19:
            raise ValueError("need a function address, 1 to 256 threads and a niceness of 0 to 19")
        self._fn: Callable[..., Any] = SIGN_OPEN(address)
        self._nice = nice
        self._queue: queue.SimpleQueue[tuple[Job, int, int] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closing = False
        self._threads = [
            threading.Thread(target=self._work, name=f"sigverify-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        if self._nice > 0 and hasattr(os, "setpriority"):
            # Linux gives each thread its own niceness; best effort, as in C.
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
        check = _Check(self._fn)
        while (unit := self._queue.get()) is not None:
            job, start, end = unit
            job._check(check, start, end)

    def submit(
        self, signatures: Sequence[bytes], keys: Sequence[bytes], messages: Sequence[bytes]
    ) -> Job:
        """Queue one check per signature (64 bytes) of its message by its key (32 bytes)."""
        sigs, keys_, msgs = tuple(signatures), tuple(keys), tuple(messages)
        if not len(sigs) == len(keys_) == len(msgs):
            raise ValueError("signatures, keys and messages differ in number")
        if not all(isinstance(x, bytes) for x in (*sigs, *keys_, *msgs)):
            raise TypeError("signatures, keys and messages must be bytes")
        job = Job(sigs, keys_, msgs)
        if not sigs:
            return job
        with self._lock:
            if self._closing:
                raise RuntimeError("the signature-check pool is closed")
            for start in range(0, len(sigs), UNIT):
                self._queue.put((job, start, min(start + UNIT, len(sigs))))
        return job

    def stats(self) -> dict[str, int]:
        """As the C pool's: no table checks here."""
        return dict.fromkeys(TABLE_STATS, 0)

    def close(self) -> None:
        """Finish the queued work and stop the threads. Idempotent."""
        with self._lock:
            if not self._closing:
                self._closing = True
                for _ in self._threads:
                    self._queue.put(None)
        for thread in self._threads:
            thread.join()
