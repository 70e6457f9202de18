"""Frozen payloads that cross the boundary to plugins and tools."""

from __future__ import annotations

from dataclasses import dataclass

import base58

from monmouth.core.records import BlockRecord


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A committed (or reverted) L1 block as the SVM saw it.

    :ivar state_hash: the base58 checksum of the lattice hash after the block.
    """

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    state_hash: str
    messages: int
    deposits: int
    ok: int
    failed: int
    rejected: int

    @classmethod
    def from_record(cls, record: BlockRecord) -> BlockInfo:
        return cls(
            number=record.number,
            hash=record.hash,
            parent_hash=record.parent_hash,
            timestamp=record.timestamp,
            state_hash=base58.b58encode(record.checksum).decode(),
            messages=record.messages,
            deposits=record.deposits,
            ok=record.ok,
            failed=record.failed,
            rejected=record.rejected,
        )
