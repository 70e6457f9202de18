"""The inbox protocol, version 1 (docs/protocol.md section 1): decoding and encoding calldata.

Consensus-critical: every instance must decode the same bytes to the same messages, so this module
is pure and deterministic.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from monmouth.core.reasons import Reason

#: The default inbox address, "SVM" in its last bytes.
DEFAULT_INBOX_ADDRESS = bytes.fromhex("000000000000000000000000000000000053564d")
VERSION = 0x01
KIND_BATCH = 0x00
KIND_DEPOSIT = 0x01
#: Solana's packet data size: the largest wire transaction a batch may carry.
MAX_TX_SIZE = 1232
#: One lamport per gwei.
WEI_PER_LAMPORT = 10**9
#: Lamports are u64 in the SVM.
MAX_LAMPORTS = 2**64 - 1
_U16 = struct.Struct("<H")


@dataclass(frozen=True, slots=True)
class Batch:
    """A well-framed batch: the raw wire bytes of each Solana transaction, in order."""

    transactions: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Deposit:
    """A deposit of `lamports` to the 32-byte `recipient`."""

    recipient: bytes
    lamports: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message rejected whole, with its reason."""

    reason: Reason


Message = Batch | Deposit | Rejected


def decode(calldata: bytes, value_wei: int) -> Message:
    """Decode one inbox message; never raises: bad input becomes `Rejected` with its reason."""
    if len(calldata) < 2 or calldata[0] != VERSION:
        # A message too short to carry a version has no version we know.
        return Rejected(Reason.UNKNOWN_VERSION)
    kind = calldata[1]
    body = calldata[2:]
    if kind == KIND_DEPOSIT:
        if len(body) != 32:
            return Rejected(Reason.MALFORMED_DEPOSIT)
        lamports = value_wei // WEI_PER_LAMPORT
        if lamports == 0:
            return Rejected(Reason.EMPTY_DEPOSIT)
        if lamports > MAX_LAMPORTS:
            return Rejected(Reason.MALFORMED_DEPOSIT)
        return Deposit(recipient=bytes(body), lamports=lamports)
    if kind != KIND_BATCH:
        return Rejected(Reason.UNKNOWN_KIND)
    txs: list[bytes] = []
    pos = 0
    end = len(body)
    if end == 0:
        return Rejected(Reason.MALFORMED_BATCH)
    while pos < end:
        if end - pos < 2:
            return Rejected(Reason.MALFORMED_BATCH)
        (length,) = _U16.unpack_from(body, pos)
        pos += 2
        if length == 0 or length > MAX_TX_SIZE or pos + length > end:
            return Rejected(Reason.MALFORMED_BATCH)
        txs.append(bytes(body[pos : pos + length]))
        pos += length
    return Batch(tuple(txs))


def encode_batch(transactions: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Calldata for a batch of Solana wire transactions; raises ValueError if there are none
    or one is empty or too big (calldata `decode` would reject as `malformed_batch`)."""
    if not transactions:
        # Posting it would pay L1 gas for a message every instance rejects.
        raise ValueError("a batch carries at least one transaction")
    parts = [bytes((VERSION, KIND_BATCH))]
    for i, tx in enumerate(transactions):
        if not 0 < len(tx) <= MAX_TX_SIZE:
            raise ValueError(f"transaction {i} is {len(tx)} bytes; 1..{MAX_TX_SIZE} allowed")
        parts.append(_U16.pack(len(tx)))
        parts.append(tx)
    return b"".join(parts)


def encode_deposit(recipient: bytes) -> bytes:
    """Calldata for a deposit to the 32-byte `recipient` (the amount is the L1 value)."""
    if len(recipient) != 32:
        raise ValueError(f"a recipient is 32 bytes, got {len(recipient)}")
    return bytes((VERSION, KIND_DEPOSIT)) + recipient
