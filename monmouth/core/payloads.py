"""Frozen payloads that cross the boundary to plugins and tools (versioned with the hooks).

They are msgspec structs, not dataclasses: the node builds one or more per transaction, and a
frozen dataclass costs some fifteen times as much to construct (measured: 3.4 µs against 0.23 µs
for `TransactionInfo` on this machine kind). They encode as maps, field names included, exactly
as the dataclasses did. The garbage collector does not track them (`gc=False`): they hold
bytes, numbers and containers of those, never a cycle, and the node makes some hundreds of
thousands a minute, which otherwise cost about a tenth of its main thread in collections.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from monmouth.core import b58
from monmouth.core.records import BlockRecord

#: Bumped when a payload type changes incompatibly; plugins may check it.
PAYLOAD_VERSION = 1


class BlockInfo(msgspec.Struct, frozen=True, gc=False):
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
            state_hash=b58.encode(record.checksum),
            messages=record.messages,
            deposits=record.deposits,
            ok=record.ok,
            failed=record.failed,
            rejected=record.rejected,
        )


class AccountUpdate(msgspec.Struct, frozen=True, gc=False):
    """One write of one account (Geyser's `ReplicaAccountInfo`).

    :ivar lamports: 0 when the write closed the account.
    :ivar signature: the transaction that wrote it; None for a deposit or the startup snapshot.
    :ivar write_version: increases with every write within a block (0 for the snapshot).
    """

    pubkey: bytes
    lamports: int
    owner: bytes
    executable: bool
    rent_epoch: int
    data: bytes
    signature: bytes | None
    write_version: int


class TransactionInfo(msgspec.Struct, frozen=True, gc=False):
    """One Solana transaction's outcome (Geyser's `ReplicaTransactionInfo`).

    :ivar signature: the first signature; None for a transaction too malformed to have one.
    :ivar reason: the rejection reason, for `rejected`.
    :ivar error: the runtime's error (Solana JSON-RPC shape), for `failed`.
    :ivar accounts: the static account keys the transaction names, in order.
    """

    signature: bytes | None
    status: Literal["ok", "failed", "rejected"]
    reason: str | None
    error: Any
    fee: int
    compute_units: int
    logs: tuple[str, ...]
    accounts: tuple[bytes, ...]
    l1_tx_hash: bytes
    l1_tx_index: int
    position: int
