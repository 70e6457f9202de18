"""Reading a Solana wire transaction's layout straight from its bytes.

Only for transactions the runtime's own decoder has accepted (and that re-encode to the same
bytes): this reads offsets, it does not validate. It saves building the runtime's Python
objects for what the node reads of every transaction: signatures, signers, account keys and
which of them the header makes writable.
"""

from __future__ import annotations

from dataclasses import dataclass


def _compact_u16(raw: bytes, at: int) -> tuple[int, int]:
    """(value, offset after it) of Solana's compact-u16 at `at`."""
    value = 0
    for i in range(3):
        byte = raw[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, at + i + 1
    raise ValueError("compact-u16 longer than 3 bytes")


@dataclass(frozen=True, slots=True)
class Layout:
    """What the node reads of one transaction.

    :ivar message: the signed message bytes.
    :ivar writable: the static keys the header makes writable, minus invoked programs (what
        `runtime.writable_keys` gives for a transaction without lookup tables).
    :ivar lookups: whether the message loads addresses from lookup tables (v0).
    """

    signatures: tuple[bytes, ...]
    signers: tuple[bytes, ...]
    message: bytes
    keys: list[bytes]
    writable: list[bytes]
    lookups: bool


def layout(raw: bytes) -> Layout:
    """The layout of a wire transaction the runtime decoded and re-encoded exactly."""
    n_sigs, at = _compact_u16(raw, 0)
    signatures = tuple(raw[at + 64 * i : at + 64 * (i + 1)] for i in range(n_sigs))
    message_at = at + 64 * n_sigs
    at = message_at
    versioned = bool(raw[at] & 0x80)
    if versioned:
        at += 1
    n_required, ro_signed, ro_unsigned = raw[at], raw[at + 1], raw[at + 2]
    n_keys, at = _compact_u16(raw, at + 3)
    keys = [raw[at + 32 * i : at + 32 * (i + 1)] for i in range(n_keys)]
    at += 32 * n_keys + 32  # keys, then the recent blockhash
    n_ix, at = _compact_u16(raw, at)
    programs = set()
    for _ in range(n_ix):
        programs.add(raw[at])
        n_accounts, at = _compact_u16(raw, at + 1)
        n_data, at = _compact_u16(raw, at + n_accounts)
        at += n_data
    lookups = False
    if versioned:
        n_lookups, _ = _compact_u16(raw, at)
        lookups = n_lookups > 0
    writable = [
        keys[i]
        for i in range(n_keys)
        if i not in programs
        and ((i < n_required - ro_signed) or (n_required <= i < n_keys - ro_unsigned))
    ]
    return Layout(signatures, tuple(keys[:n_required]), raw[message_at:], keys, writable, lookups)
