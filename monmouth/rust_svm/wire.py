"""Reading a Solana wire transaction's layout straight from its bytes.

Only for transactions the runtime's own decoder has accepted (and that re-encode to the same
bytes): this reads offsets, it does not validate. It saves building the runtime's Python
objects for what the node reads of every transaction: signatures, signers, account keys, the
recent blockhash and which keys the header makes writable.

It runs once per transaction on the node's main thread, so `layout` reads in C (`_wire.c`);
`layout_py` is the same reading in Python, the reference the tests hold the C one to, and what
`layout` is where the package was installed without a C compiler.
"""

from __future__ import annotations

import struct
from functools import cache

import msgspec

try:
    from monmouth.rust_svm import _wire
except ImportError:  # installed without a C compiler: `layout` is `layout_py`
    _wire = None  # type: ignore[assignment]

#: Which implementation reads layouts: "c" (`_wire.c`) or "python" (`layout_py`).
IMPLEMENTATION = "python" if _wire is None else "c"


_SHORT = "transaction bytes end inside its layout"


def _compact_u16(raw: bytes, at: int) -> tuple[int, int]:
    """(value, offset after it) of Solana's compact-u16 at `at`."""
    value = 0
    for i in range(3):
        if at + i >= len(raw):
            raise ValueError(_SHORT)
        byte = raw[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, at + i + 1
    raise ValueError("compact-u16 longer than 3 bytes")


@cache
def _fields(count: int, size: int) -> struct.Struct:
    """Cuts `count` consecutive `size`-byte fields."""
    return struct.Struct(f"{size}s" * count)


def _cut(raw: bytes, count: int, size: int, at: int) -> tuple[bytes, ...]:
    """`count` `size`-byte fields from `at`; checked first, so that a count the bytes cannot
    hold (up to 2^21 from a compact-u16) never builds, nor caches, a huge `struct.Struct`."""
    if len(raw) - at < count * size:
        raise ValueError(_SHORT)
    fields: tuple[bytes, ...] = _fields(count, size).unpack_from(raw, at)
    return fields


class Layout(msgspec.Struct, frozen=True, gc=False):
    """What the node reads of one transaction.

    :ivar message: the signed message bytes.
    :ivar writable: the static keys the header makes writable, minus invoked programs (what
        `runtime.writable_keys` gives for a transaction without lookup tables).
    :ivar lookups: whether the message loads addresses from lookup tables (v0).
    """

    signatures: tuple[bytes, ...]
    signers: tuple[bytes, ...]
    message: bytes
    keys: tuple[bytes, ...]
    writable: list[bytes]
    lookups: bool
    blockhash: bytes


def layout(raw: bytes) -> Layout:
    """The layout of a wire transaction the runtime decoded and re-encoded exactly (raises
    ValueError when the bytes end early)."""
    return Layout(*_wire.layout(raw))


def layout_py(raw: bytes) -> Layout:
    """`layout`, in Python: the reference. One-byte compact-u16s (every count below 128) are read
    inline, and runs of 32- or 64-byte fields are cut by a cached `struct.Struct`. Every read is
    bounds-checked as in C: bytes that end early raise ValueError, never IndexError."""
    try:
        return _layout_py(raw)
    except IndexError:
        raise ValueError(_SHORT) from None


def _layout_py(raw: bytes) -> Layout:
    size = len(raw)
    n_sigs = raw[0]
    at = 1
    if n_sigs & 0x80:
        n_sigs, at = _compact_u16(raw, 0)
    signatures = _cut(raw, n_sigs, 64, at)
    message_at = at = at + 64 * n_sigs
    versioned = raw[at] & 0x80
    if versioned:
        at += 1
    n_required, ro_signed, ro_unsigned, n_keys = raw[at], raw[at + 1], raw[at + 2], raw[at + 3]
    at += 4
    if n_keys & 0x80:
        n_keys, at = _compact_u16(raw, at - 1)
    keys = _cut(raw, n_keys, 32, at)
    at += 32 * n_keys
    if size - at < 32:
        raise ValueError(_SHORT)
    blockhash = raw[at : at + 32]
    at += 32
    n_ix = raw[at]
    at += 1
    if n_ix & 0x80:
        n_ix, at = _compact_u16(raw, at - 1)
    programs = set()
    for _ in range(n_ix):
        programs.add(raw[at])
        n_accounts = raw[at + 1]
        at += 2
        if n_accounts & 0x80:
            n_accounts, at = _compact_u16(raw, at - 1)
        at += n_accounts
        n_data = raw[at]  # also checks that the accounts ended inside the bytes
        at += 1
        if n_data & 0x80:
            n_data, at = _compact_u16(raw, at - 1)
        at += n_data
        if at > size:
            raise ValueError(_SHORT)
    lookups = bool(versioned) and raw[at] != 0  # a compact-u16 is zero iff its first byte is
    # Header counts beyond the keys (never in a transaction the runtime accepted) are clamped
    # as `_wire.c` clamps them, so that the two readings agree on every input.
    n_required = min(n_required, n_keys)
    signed_end = max(n_required - ro_signed, 0)
    unsigned_end = max(n_keys - ro_unsigned, 0)
    writable = [*keys[:signed_end], *keys[n_required:unsigned_end]]
    for p in programs:
        if p < signed_end or n_required <= p < unsigned_end:
            break
    else:
        return Layout(
            signatures, keys[:n_required], raw[message_at:], keys, writable, lookups, blockhash
        )
    # A program invoked from a writable position is not writable (rare).
    writable = [
        keys[i]
        for i in range(n_keys)
        if i not in programs and (i < signed_end or n_required <= i < unsigned_end)
    ]
    return Layout(
        signatures, keys[:n_required], raw[message_at:], keys, writable, lookups, blockhash
    )


if _wire is None:
    layout = layout_py
