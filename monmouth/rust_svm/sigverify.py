"""Ed25519 signature checks of Solana transactions on every core, without the GIL.

libsodium (through PyNaCl's cffi bindings, which release the GIL) checks signatures in worker
threads. Its verdict "valid" implies the runtime's (ed25519-dalek `verify_strict`): canonical S,
canonical and not small-order public key and R, and the cofactorless equation. Only when libsodium
says "invalid" does the runtime's own check decide, so both always agree, and the common case
(valid signatures) never takes the GIL-holding path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from nacl._sodium import ffi, lib
from solders.pubkey import Pubkey
from solders.signature import Signature

#: Transactions per task handed to a worker: small enough to start executing early.
CHUNK = 64


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """The parts of one transaction a signature check needs."""

    signatures: tuple[bytes, ...]
    signers: tuple[bytes, ...]
    message: bytes


def split_wire(raw: bytes) -> tuple[int, int]:
    """(number of signatures, offset of the message) of a wire transaction.

    The signature count is a compact-u16 ("shortvec"); raises ValueError when it is cut short.
    """
    count = 0
    for i in range(3):
        if i >= len(raw):
            raise ValueError("transaction ends inside its signature count")
        byte = raw[i]
        count |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return count, i + 1 + 64 * count
    raise ValueError("signature count is longer than 3 bytes")


_local = threading.local()


def _buffer() -> tuple[object, object]:
    pair = getattr(_local, "buffers", None)
    if pair is None:
        pair = (ffi.new("unsigned char[]", 4096), ffi.new("unsigned long long *"))
        _local.buffers = pair
    return pair


def _sodium_ok(signature: bytes, message: bytes, signer: bytes) -> bool:
    out, out_len = _buffer()
    signed = signature + message
    if len(signed) > 4096:
        out = ffi.new("unsigned char[]", len(signed))
    return bool(lib.crypto_sign_open(out, out_len, signed, len(signed), signer) == 0)


def _runtime_ok(signature: bytes, message: bytes, signer: bytes) -> bool:
    return bool(Signature(signature).verify(Pubkey(signer), message))


def verify_one(item: SignedMessage) -> bool:
    """Whether every signature of the transaction is valid under Solana's strict rules."""
    if len(item.signatures) != len(item.signers):
        return False
    for sig, signer in zip(item.signatures, item.signers, strict=True):
        if not _sodium_ok(sig, item.message, signer) and not _runtime_ok(sig, item.message, signer):
            return False
    return True


def _verify_chunk(items: Sequence[SignedMessage]) -> list[bool]:
    return [verify_one(item) for item in items]


def _in_order(futures: list[Future[list[bool]]]) -> Iterator[bool]:
    try:
        for future in futures:
            yield from future.result()
    finally:
        for future in futures:
            future.cancel()


class SignatureVerifier:
    """A pool of worker threads; `verify` yields verdicts in order as chunks finish."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sigverify")

    def verify(self, items: Sequence[SignedMessage]) -> Iterator[bool]:
        """Verdicts for `items`, in order. Work starts at once, in the workers; the caller can act
        on early verdicts while later ones are still being checked."""
        if len(items) <= CHUNK:
            return iter(_verify_chunk(items))
        futures: list[Future[list[bool]]] = [
            self._pool.submit(_verify_chunk, items[i : i + CHUNK])
            for i in range(0, len(items), CHUNK)
        ]
        return _in_order(futures)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
