"""The wire format of the event stream, version 1 (documented in `docs/stream.md`).

A message is three ZeroMQ frames: the topic (ASCII, `/`-separated, ends with `/`), the header
and the body, both MessagePack. Subscribers filter on topic prefixes. One logical message may
be sent under several topics (an account under its pubkey and under its owner): its sequence
number is the same on every copy, so a subscriber keeps one.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

#: Bumped when a header or body changes incompatibly.
STREAM_VERSION = 1

#: The kinds the node itself publishes; plugins add their own (`register_stream_topics`).
CORE_KINDS = (
    "block",
    "slot",
    "transaction",
    "detail",
    "writes",
    "account",
    "revert",
    "heartbeat",
    "alert",
    "seal",
)
#: Kinds outside the durable log: their `seq` is the last logged message published before them.
EPHEMERAL_KINDS = frozenset({"heartbeat", "alert"})
#: What a subscriber always listens to, whatever it filters: these messages seal segments and
#: report the head, which is how gaps are found.
CONTROL_PREFIXES = ("block/", "slot/", "revert/", "seal/", "heartbeat/")
TxStatusName = Literal["ok", "failed", "rejected"]


class Seal(msgspec.Struct, frozen=True):
    """Closes a segment (the messages of one block, revert, finality update or finding).

    :ivar first: the sequence number of the segment's first message.
    :ivar counts: for every topic prefix subscribed at the publisher when the segment was sent,
        how many of the segment's messages had a topic under it (zero counts are left out). A
        subscriber that counts fewer under one of its own prefixes lost some, and replays.
    """

    first: int
    counts: dict[str, int] = {}


class Header(msgspec.Struct, frozen=True, omit_defaults=True):
    """What every message carries.

    :ivar v: the stream version.
    :ivar seq: the publisher's sequence number, durable across restarts of the publisher.
    :ivar height: the L1 block the message is about (the head, for heartbeats).
    :ivar seal: present on the last message of a segment.
    """

    v: int
    seq: int
    kind: str
    height: int
    seal: Seal | None = None


class BlockBody(msgspec.Struct, frozen=True):
    """A committed L1 block as the SVM saw it; `state_hash` is the base58 lattice-hash checksum."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    state_hash: str
    messages: int
    deposits: int
    ok: int
    failed: int
    rejected: int


class SlotBody(msgspec.Struct, frozen=True):
    """A slot (L1 block) status change: processed, confirmed (L1 safe) or finalized."""

    slot: int
    parent: int | None
    status: Literal["processed", "confirmed", "finalized"]


class TransactionBody(msgspec.Struct, frozen=True):
    """One Solana transaction's outcome; `accounts` are its static keys in order (base58)."""

    signature: str | None
    status: TxStatusName
    reason: str | None
    error: Any
    fee: int
    compute_units: int
    logs: list[str]
    accounts: list[str]
    l1_tx_hash: str
    l1_tx_index: int
    position: int


class DetailBody(msgspec.Struct, frozen=True):
    """What the executor stored of one executed transaction for getTransaction and getBlock
    (`[store] transaction_details`), sent right after its `transaction` message.

    A kind of its own rather than a field of `TransactionBody`: its `record` holds the whole
    wire transaction and balances, which only a replica needs, and a subscriber to
    transactions should not pay for them.

    :ivar record: the store's encoded `monmouth.core.records.TxDetail`, exactly as the
        executor wrote it under `detail_key(height, l1_tx_index, position)`.
    """

    signature: str
    l1_tx_index: int
    position: int
    record: bytes


class AccountBody(msgspec.Struct, frozen=True):
    """An account's value after the block (lamports 0 and the system owner when closed)."""

    pubkey: str
    lamports: int
    owner: str
    executable: bool
    rent_epoch: int
    data: bytes


class WriteBody(AccountBody, frozen=True):
    """One write of one account by one transaction (or deposit), as an in-process plugin's
    `update_accounts` receives it (`AccountUpdate`), with the value it replaced: the account's
    value after it (`AccountBody`'s fields, first and in their order), then these.

    :ivar signature: the transaction that wrote it (base58); None for a deposit.
    :ivar write_version: its index among the block's writes (the executor's numbering).
    :ivar before: the account's value before this write (the block's previous write of it,
        or its value before the block); None when it did not exist.
    """

    signature: str | None
    write_version: int
    before: AccountBody | None


class WritesBody(msgspec.Struct, frozen=True):
    """Every account write of one block, in execution order (`[stream] writes`).

    One message per block rather than per transaction: an analyzer rebuilds one
    `update_accounts` call per block from it, and a block's writes then cost one header and
    one topic instead of one per transaction.
    """

    number: int
    writes: list[WriteBody]


class RevertBody(msgspec.Struct, frozen=True):
    """A block undone by a reorg; the head is now its parent with `state_hash`."""

    number: int
    hash: str
    parent_hash: str
    state_hash: str | None


class HeartbeatBody(msgspec.Struct, frozen=True):
    """Sent each second by every instance.

    :ivar stream_id: names the publisher's log; a new id means a new history, not a gap.
    :ivar last_seq: the last logged message published before this heartbeat (-1: none yet).
    :ivar first_height: the lowest height a replay can still start from (None: nothing kept).
    :ivar recent: (height, state hash) of the last blocks, newest last, so a monitor can compare
        instances that are at different heights.
    """

    instance: str
    role: str
    stream_id: str
    head: int | None
    head_hash: str | None
    state_hash: str | None
    last_seq: int
    first_height: int | None
    recent: list[tuple[int, str]]
    time: float


class AlertBody(msgspec.Struct, frozen=True):
    """Something an operator must look at: `code` is stable, `message` is for people."""

    instance: str
    severity: Literal["warning", "critical"]
    code: str
    message: str
    details: dict[str, Any] = {}


BODY_TYPES: dict[str, type[msgspec.Struct]] = {
    "block": BlockBody,
    "slot": SlotBody,
    "transaction": TransactionBody,
    "detail": DetailBody,
    "writes": WritesBody,
    "account": AccountBody,
    "revert": RevertBody,
    "heartbeat": HeartbeatBody,
    "alert": AlertBody,
}

_encoder = msgspec.msgpack.Encoder()
encode = _encoder.encode
decode_header = msgspec.msgpack.Decoder(Header).decode
_body_decoders = {kind: msgspec.msgpack.Decoder(t) for kind, t in BODY_TYPES.items()}
_any_decoder = msgspec.msgpack.Decoder()


def decode_body(kind: str, raw: bytes) -> Any:
    """The body as its struct for core kinds, as plain MessagePack values for plugin kinds."""
    decoder = _body_decoders.get(kind)
    return _any_decoder.decode(raw) if decoder is None else decoder.decode(raw)


# ---------------------------------------------------------------------- requests and replies


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A request to the node's request socket.

    `op` is `replay` (messages from `from_seq`, or from the canonical block at `from_height`,
    up to `to_seq` or the newest, under `topics` prefixes; all topics when empty), `snapshot`
    (the whole state, for a replica that starts empty), `status`, or `call` (a method a plugin
    registered through `register_rpc_methods`, with `params`; the reply's one data frame is
    the MessagePack result).
    """

    op: Literal["replay", "snapshot", "status", "call"]
    id: int = 0
    from_seq: int | None = None
    from_height: int | None = None
    to_seq: int | None = None
    topics: list[str] = []
    method: str | None = None
    params: Any = None


class Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """One reply frame; a replay sends several, each followed by its messages' frames (a
    snapshot: by (pubkey, account) pairs, the very first pair being (b"", `SnapshotHead`)).

    :ivar done: the last reply of a request.
    :ivar first_seq / first_height: the oldest message and height still stored.
    :ivar last_seq: the newest message the replay covers (or the log's newest, for `status`).
    :ivar head: the instance's head: the last block it committed (an analyzer: the last it
        handed to its plugins).
    :ivar upstream_head: for an instance that follows another (an analyzer), the head of the
        executor it follows as last heard (heartbeat or block); None for an executor, whose
        own head is the executor's. How far a plugin's index is behind the executor is
        measured against it.
    :ivar error: why the request failed; the other fields are then meaningless.
    """

    id: int
    done: bool = True
    first_seq: int = 0
    first_height: int | None = None
    last_seq: int = -1
    stream_id: str = ""
    head: int | None = None
    upstream_head: int | None = None
    error: str | None = None


_decode_request = msgspec.msgpack.Decoder(Request).decode
#: Arrays and maps a request may nest (its `params` are a plugin method's arguments).
MAX_REQUEST_DEPTH = 32


def decode_request(frame: bytes) -> Request:
    """A request frame; raises msgspec.DecodeError or ValidationError for anything else,
    including one nested deeper than MAX_REQUEST_DEPTH."""
    if msgpack_depth(frame) > MAX_REQUEST_DEPTH:
        raise msgspec.DecodeError(f"the request nests more than {MAX_REQUEST_DEPTH} levels")
    try:
        return _decode_request(frame)
    except RecursionError:
        raise msgspec.DecodeError("the request is nested too deeply") from None


#: MessagePack's fixed-size heads (first byte -> bytes after it) and sized ones (first byte ->
#: bytes of the length that follows, bytes after the payload).
_FIXED = {
    **{b: 0 for b in (0xC0, 0xC2, 0xC3)},
    0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
    0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,
    0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,
}  # fmt: skip
_SIZED = {0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0), 0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1),
          0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0)}  # fmt: skip


def msgpack_depth(data: bytes, stop: int = MAX_REQUEST_DEPTH) -> int:
    """How deep the arrays and maps of the first MessagePack value in `data` nest (a scalar is
    0), counted without recursion, so that no input can exhaust the stack, and no further than
    `stop + 1`. A truncated or invalid value counts as deep as it got: the decoder says the rest."""
    pending = [1]  # values still to read: the top level, then one entry per open container
    deepest, pos, size = 0, 0, len(data)
    while pending and pos < size:
        if pending[-1] == 0:
            pending.pop()
            continue
        pending[-1] -= 1
        head = data[pos]
        pos += 1
        if head <= 0x7F or head >= 0xE0:  # fixint
            continue
        if 0xA0 <= head <= 0xBF:  # fixstr
            pos += head & 0x1F
            continue
        if head in _FIXED:
            pos += _FIXED[head]
            continue
        if head in _SIZED:
            width, extra = _SIZED[head]
            pos += width + extra + int.from_bytes(data[pos : pos + width], "big")
            continue
        if head <= 0x8F:  # fixmap
            count = 2 * (head & 0x0F)
        elif head <= 0x9F:  # fixarray
            count = head & 0x0F
        elif head in (0xDC, 0xDD, 0xDE, 0xDF):  # array16/32, map16/32
            width = 2 if head in (0xDC, 0xDE) else 4
            count = int.from_bytes(data[pos : pos + width], "big") * (2 if head >= 0xDE else 1)
            pos += width
        else:
            return deepest  # 0xC1 is never used: invalid, for the decoder to say
        pending.append(count)
        deepest = max(deepest, len(pending) - 1)
        if deepest > stop:
            break
    return deepest


decode_reply = msgspec.msgpack.Decoder(Reply).decode
