"""Solana's accounts lattice hash (SIMD-0215), bit for bit, as agave's `lattice-hash` crate
(`lattice-hash/src/lt_hash.rs`) and firedancer's `src/ballet/lthash/` compute it.

An `LtHash` is 1024 little-endian u16 lanes; accounts are mixed in and out with lane-wise
wrapping addition and subtraction, so updating the state hash costs O(1) per changed account.
"""

from __future__ import annotations

import sys

import blake3
import numpy as np
import numpy.typing as npt

from monmouth.core import b58
from monmouth.rust_svm.accounts import account_hash_input

try:
    from monmouth.core import _lthash
except ImportError:  # installed without a C compiler: the `blake3` package and numpy
    _lthash = None  # type: ignore[assignment]

#: Which implementation hashes accounts and mixes lanes: "c" (`_lthash.c`) or "python".
IMPLEMENTATION = "python" if _lthash is None else "c"

LANES = 1024
SIZE = 2 * LANES
_LANE = np.dtype("<u2")


class LtHash:
    """A mutable lattice hash. Equality compares lanes."""

    __slots__ = ("lanes",)

    def __init__(self, lanes: npt.NDArray[np.uint16] | None = None) -> None:
        self.lanes: npt.NDArray[np.uint16] = (
            np.zeros(LANES, dtype=_LANE) if lanes is None else lanes
        )

    @classmethod
    def identity(cls) -> LtHash:
        """The hash of the empty state (all lanes 0)."""
        return cls()

    @classmethod
    def of(cls, data: bytes) -> LtHash:
        """The BLAKE3 extendable output of 2048 bytes over `data`, as lanes."""
        return cls.from_bytes(blake3.blake3(data).digest(length=SIZE))

    @classmethod
    def from_bytes(cls, raw: bytes) -> LtHash:
        """Lanes from their 2048-byte little-endian encoding."""
        if len(raw) != SIZE:
            raise ValueError(f"an LtHash is {SIZE} bytes, got {len(raw)}")
        return cls(np.frombuffer(raw, dtype=_LANE).copy())

    def to_bytes(self) -> bytes:
        """The 2048-byte little-endian encoding."""
        return self.lanes.astype(_LANE, copy=False).tobytes()

    def copy(self) -> LtHash:
        return LtHash(self.lanes.copy())

    def mix_in(self, other: LtHash) -> None:
        """Lane-wise wrapping add (numpy's u16 arithmetic wraps mod 2^16)."""
        np.add(self.lanes, other.lanes, out=self.lanes)

    def mix_out(self, other: LtHash) -> None:
        """Lane-wise wrapping subtract."""
        np.subtract(self.lanes, other.lanes, out=self.lanes)

    def mix(self, ins: list[bytes], outs: list[bytes]) -> None:
        """Mix in every 2048-byte hash of `ins` and out every one of `outs` (one block's
        changed accounts): in C, lane by lane, where numpy's fixed cost per call would be most
        of a small block's; `mix_py` is the reference."""
        if _MIX is None:
            self.mix_py(ins, outs)
        else:
            _MIX(self.lanes, ins, outs)

    def mix_py(self, ins: list[bytes], outs: list[bytes]) -> None:
        """`mix` with numpy: the reference, and the way without the C extension."""
        self.mix_out(sum_of(outs))
        self.mix_in(sum_of(ins))

    def checksum(self) -> bytes:
        """BLAKE3 (32 bytes) of the 2048-byte encoding."""
        return blake3.blake3(self.to_bytes()).digest()

    def checksum_b58(self) -> str:
        """The checksum in base58, as Agave displays it."""
        return b58.encode(self.checksum())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LtHash) and bool(np.array_equal(self.lanes, other.lanes))

    def __hash__(self) -> int:  # mutable: not hashable, like a list
        raise TypeError("LtHash is mutable and not hashable")

    def __repr__(self) -> str:
        return f"LtHash({self.checksum_b58()})"


def digest_py(data: bytes) -> bytes:
    """The 2048-byte BLAKE3 extendable output over `data`: an LtHash's encoding (the `blake3`
    package: the reference `_lthash.digest` is held to)."""
    return blake3.blake3(data).digest(length=SIZE)


def account_digest_py(pubkey: bytes, raw: bytes) -> bytes:
    """`digest` of an encoded account's hash input (the reference of `account_digest`)."""
    return digest_py(account_hash_input(pubkey, raw))


if _lthash is None:
    digest = digest_py
    account_digest = account_digest_py
else:
    #: The 2048-byte BLAKE3 extendable output over `data` (`digest_py`, in C).
    digest = _lthash.digest
    #: The lattice hash of an account in the store's encoding, from its pubkey and bytes
    #: (`account_digest_py`, in C, without building the hash input).
    account_digest = _lthash.account_digest

# The lanes are little-endian u16; the C loop reads them as bytes in that order, which numpy's
# array is on a little-endian machine (a big-endian one keeps numpy).
_MIX = _lthash.mix if _lthash is not None and sys.byteorder == "little" else None
_MIX_WRITES = _lthash.mix_writes if _MIX is not None else None

#: Each recently written account's value and its digest (`account_digest`), by pubkey: an
#: account changed in one block is usually mixed out in a later one, and its digest is then
#: known.
DigestCache = dict[bytes, tuple[bytes, bytes]]
#: (pubkey, value before, value after) of an account a block changed; None: absent.
Write = tuple[bytes, bytes | None, bytes | None]


def mix_writes(
    state: LtHash,
    cache: DigestCache,
    keys: list[bytes],
    olds: list[bytes | None],
    news: list[bytes | None],
) -> list[Write]:
    """Mix a block's changed accounts into `state`: for each key whose value changed (`olds`
    to `news`, in the store's encoding; None: absent), out the old value's digest (from
    `cache` when it holds that value, else hashed) and in the new one's, kept in `cache`.
    Returns the (key, old, new) of those whose value changed, in order.

    In C (`_lthash.mix_writes`) where it is built: one call per block, a fifth less per
    account than the Python loop (`mix_writes_py`, the reference)."""
    if _MIX_WRITES is None:
        return mix_writes_py(state, cache, keys, olds, news)
    return _MIX_WRITES(state.lanes, cache, keys, olds, news)


def mix_writes_py(
    state: LtHash,
    cache: DigestCache,
    keys: list[bytes],
    olds: list[bytes | None],
    news: list[bytes | None],
) -> list[Write]:
    """`mix_writes` in Python: the reference."""
    writes: list[Write] = []
    ins: list[bytes] = []
    outs: list[bytes] = []
    for key, old, new in zip(keys, olds, news, strict=True):
        if old == new:
            continue
        if old is not None:
            cached = cache.get(key)
            outs.append(
                cached[1] if cached is not None and cached[0] == old else account_digest(key, old)
            )
        if new is not None:
            value = account_digest(key, new)
            cache[key] = (new, value)
            ins.append(value)
        writes.append((key, old, new))
    if writes:
        state.mix(ins, outs)
    return writes


def sum_of(digests: list[bytes]) -> LtHash:
    """The `mix_in` of many 2048-byte hashes at once (one numpy reduction instead of a loop)."""
    if not digests:
        return LtHash.identity()
    lanes = np.frombuffer(b"".join(digests), dtype=_LANE).reshape(len(digests), LANES)
    # Lanes add modulo 2^16, which is what numpy's u16 arithmetic does when it wraps.
    return LtHash(lanes.sum(axis=0, dtype=_LANE))


def account_lthash(
    pubkey: bytes, lamports: int, data: bytes, executable: bool, owner: bytes
) -> LtHash:
    """The hash of one account; an account with 0 lamports does not exist and is the identity.

    Hashed in this order: lamports (u64 LE), data, executable (one byte), owner, pubkey.
    `rent_epoch` is not part of it.
    """
    if lamports == 0:
        return LtHash.identity()
    hasher = blake3.blake3(lamports.to_bytes(8, "little"))
    hasher.update(data)
    hasher.update(b"\x01" if executable else b"\x00")
    hasher.update(owner)
    hasher.update(pubkey)
    return LtHash.from_bytes(hasher.digest(length=SIZE))
