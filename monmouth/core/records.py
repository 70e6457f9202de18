"""What the node stores, encoded for LMDB. Every type here is frozen and versioned by the schema.

Accounts use the runtime's fixed binary layout (`rust_svm/accounts.py`); everything here is
MessagePack through msgspec, with `array_like` structs so field names are not repeated in
every record.
"""

from __future__ import annotations

import struct
from typing import Any, Literal

import msgspec

#: Bumped whenever an encoding below changes; a data directory of another version is refused.
SCHEMA_VERSION = 2

TxStatus = Literal["ok", "failed", "rejected"]


class TxRecord(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The outcome of one Solana transaction, keyed by its first signature.

    `error` is the runtime's error as Solana's JSON-RPC shows it (`"AccountNotFound"` or
    `{"InstructionError": [0, {"Custom": 1}]}`), for failed transactions only.
    """

    signature: bytes
    status: TxStatus
    reason: str | None
    error: Any
    slot: int
    fee: int
    compute_units: int
    logs: list[str]
    l1_tx_hash: bytes
    l1_tx_index: int
    position: int

    @property
    def executed(self) -> bool:
        return self.status != "rejected"


class MessageRecord(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The outcome of one inbox message (an L1 transaction the router accepted).

    `outcomes` holds, per transaction of a batch in order, its status and reason (so that a
    transaction too malformed to have a signature is still accounted for).
    """

    l1_tx_hash: bytes
    kind: Literal["batch", "deposit"] | None
    reason: str | None
    outcomes: list[tuple[TxStatus, str | None]]
    recipient: bytes | None = None
    lamports: int = 0


class BlockRecord(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One executed L1 block: header, counts and the state-hash checksum after it."""

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    checksum: bytes
    messages: int
    deposits: int
    ok: int
    failed: int
    rejected: int


class UndoRecord(msgspec.Struct, frozen=True, array_like=True):
    """What reverting one block restores: previous values, None where there was none."""

    accounts: list[tuple[bytes, bytes | None]]
    txs: list[tuple[bytes, bytes | None]]
    messages: list[bytes]


class TokenBalance(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An SPL Token / Token-2022 account among a transaction's keys (Solana's
    `preTokenBalances` entry): its index in the keys, mint, owner, program, raw amount and the
    mint's decimals."""

    index: int
    mint: bytes
    owner: bytes
    program: bytes
    amount: int
    decimals: int


class TxDetail(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What getTransaction and getBlock show of one executed transaction beyond its `TxRecord`,
    keyed by `detail_key` (block, L1 transaction index, position in the batch).

    :ivar wire: the transaction as it was sent (its first signature names it).
    :ivar pre: the lamports of each account key (static, then loaded writable, then loaded
        readonly) before the transaction; `post`: after it.
    :ivar loaded: the addresses a v0 transaction loaded from lookup tables (writable,
        readonly); None for a legacy transaction.
    :ivar inner: per instruction, its inner instructions as (program id index, account
        indexes, data, stack height).
    :ivar return_data: (program id, data) when the transaction set any.
    """

    wire: bytes
    pre: list[int]
    post: list[int]
    loaded: tuple[list[bytes], list[bytes]] | None
    pre_tokens: list[TokenBalance]
    post_tokens: list[TokenBalance]
    inner: list[list[tuple[int, bytes, bytes, int | None]]]
    return_data: tuple[bytes, bytes] | None


SegmentKind = Literal["block", "revert", "slot", "plugin"]


class Segment(msgspec.Struct, frozen=True, array_like=True):
    """One entry of the event-stream log: the messages of one block, revert, finality update
    or plugin finding, stored compactly and expanded into `count` messages when published or
    replayed (`monmouth.stream.segments`). Its first message's sequence number is its key.

    :ivar height: the L1 block number the messages are about.
    :ivar data: the kind's payload, MessagePack (see `monmouth.stream.segments`).
    """

    kind: SegmentKind
    height: int
    count: int
    data: bytes


class SnapshotHead(msgspec.Struct, frozen=True, array_like=True):
    """What a state snapshot starts with: the head block record and full lattice hash
    (encoded; None for an empty state), the stream sequence number it stands at, and the
    safe and finalized block numbers recorded (None when unknown; a replica's commitment).
    The last two are defaulted: a snapshot of an older instance decodes, and an older
    replica ignores them."""

    block: bytes | None
    lthash: bytes | None
    next_seq: int
    safe: int | None = None
    finalized: int | None = None


def message_key(block_number: int, l1_tx_index: int) -> bytes:
    """Messages sort by block, then by position in the block."""
    return block_number.to_bytes(8, "big") + l1_tx_index.to_bytes(4, "big")


def block_key(number: int) -> bytes:
    return number.to_bytes(8, "big")


def detail_key(block_number: int, l1_tx_index: int, position: int) -> bytes:
    """Transaction details sort by block, then L1 transaction, then position in the batch:
    a block's executed transactions in execution order."""
    return block_number.to_bytes(8, "big") + struct.pack(">II", l1_tx_index, position)


#: `bytes.translate` table of each byte's complement: a 16-byte detail key complemented is
#: (2^128 - 1) - key, so that newer sorts first, in one C call where the subtraction takes two
#: conversions to and from int (the store makes an index key per address of every transaction).
DETAIL_COMPLEMENT = bytes(range(255, -1, -1))


def address_key(address: bytes, detail: bytes) -> bytes:
    """Key of the signatures-by-address index: the address, then the transaction's
    `detail_key` (16 bytes) inverted, so that a cursor from the address reads newest first."""
    return address + detail.translate(DETAIL_COMPLEMENT)


def detail_of_address_key(key: bytes) -> bytes:
    """The `detail_key` an `address_key` was made from."""
    return key[32:48].translate(DETAIL_COMPLEMENT)


_encoder = msgspec.msgpack.Encoder()
encode = _encoder.encode
#: `encode` into a bytearray (`msgspec`'s `encode_into`): the same bytes, no new object.
encode_into = _encoder.encode_into
decode_tx = msgspec.msgpack.Decoder(TxRecord).decode
decode_block = msgspec.msgpack.Decoder(BlockRecord).decode
decode_undo = msgspec.msgpack.Decoder(UndoRecord).decode
decode_message = msgspec.msgpack.Decoder(MessageRecord).decode
decode_detail = msgspec.msgpack.Decoder(TxDetail).decode
decode_segment = msgspec.msgpack.Decoder(Segment).decode
decode_snapshot_head = msgspec.msgpack.Decoder(SnapshotHead).decode
