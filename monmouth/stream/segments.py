"""Segments of the stream log: how the node's events are stored, and expanded into messages.

A segment is stored once, in the same LMDB transaction as the change it reports, and expanded
into messages both when it is published live and when it is replayed, by the same code: a
replay gives exactly the messages (and sequence numbers) that were published.

Message order in a block segment: the accounts the block changed, its `writes` (when built),
its transactions in order
(each executed one followed by its `detail` when the executor keeps details), the `processed`
slot status, then the block (which seals the segment).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import msgspec
from solders.signature import Signature

from monmouth.core.b58 import KeyNames
from monmouth.core.eventlog import SlotChange, Writes
from monmouth.core.payloads import TransactionInfo
from monmouth.core.records import BlockRecord, Segment, detail_key
from monmouth.rust_svm.accounts import ACCOUNT_HEADER, AccountRecord
from monmouth.stream.schema import (
    STREAM_VERSION,
    AccountBody,
    BlockBody,
    DetailBody,
    Header,
    RevertBody,
    Seal,
    SlotBody,
    TransactionBody,
    WriteBody,
    WritesBody,
    encode,
)
from monmouth.stream.topics import PrefixSet

if TYPE_CHECKING:
    from monmouth.core.state import DetailWrite

try:
    from monmouth.stream import _segments
except ImportError:  # installed without a C compiler
    _segments = None  # type: ignore[assignment]

#: Which implementation makes the `writes` message: "c" (`_segments.c`, from the segment's
#: MessagePack undecoded) or "python" (`writes_message`); the tests set it to run either.
IMPLEMENTATION = "python" if _segments is None else "c"

_SYSTEM_PROGRAM = "11111111111111111111111111111111"


class _BlockData(msgspec.Struct, frozen=True, array_like=True):
    block: BlockRecord
    parent: int | None
    accounts: list[tuple[bytes, bytes | None]]
    txs: list[TransactionInfo]
    #: (detail key, encoded `TxDetail`) of the executed transactions, in the order of `txs`;
    #: empty when the executor keeps no details. Last and defaulted, so a segment stored
    #: before details were sent still decodes.
    details: list[tuple[bytes, bytes]] = []
    #: Every write (pubkey, account fields as `AccountRecord` encodes them, index in `txs` of
    #: the transaction that wrote it or -1 for a deposit: a signature is 64 bytes, and a
    #: transaction writes two accounts or more), in execution order (the write version is the
    #: index); None when the block's writes were not built (`[stream] writes`), [] when it
    #: wrote nothing.
    writes: list[tuple[bytes, bytes, int]] | None = None
    #: (pubkey, value before the block or None) of each account in `writes`.
    written_before: list[tuple[bytes, bytes | None]] = []


class _RawBlockData(msgspec.Struct, frozen=True, array_like=True):
    """`_BlockData` with its writes left encoded, for `_segments.writes_message` (which reads
    them in place): `writes` is nil (`_RAW_NIL`) where `_BlockData`'s is None (msgspec cannot
    decode a `Raw` in a union)."""

    block: BlockRecord
    parent: int | None
    accounts: list[tuple[bytes, bytes | None]]
    txs: list[TransactionInfo]
    details: list[tuple[bytes, bytes]] = []
    writes: msgspec.Raw = msgspec.Raw(b"\xc0")
    written_before: msgspec.Raw = msgspec.Raw(b"\x90")


_RAW_NIL = msgspec.Raw(b"\xc0")


class _RevertData(msgspec.Struct, frozen=True, array_like=True):
    block: BlockRecord
    parent_checksum: bytes | None


class _SlotData(msgspec.Struct, frozen=True, array_like=True):
    slots: list[SlotChange]


class _PluginData(msgspec.Struct, frozen=True, array_like=True):
    kind: str
    key: str
    body: bytes


_decode_block = msgspec.msgpack.Decoder(_BlockData).decode
_decode_raw_block = msgspec.msgpack.Decoder(_RawBlockData).decode
_decode_revert = msgspec.msgpack.Decoder(_RevertData).decode
_decode_slots = msgspec.msgpack.Decoder(_SlotData).decode
_decode_plugin = msgspec.msgpack.Decoder(_PluginData).decode


def decode_block_data(raw: bytes) -> _BlockData:
    """A block segment's payload: its record, parent slot, account values, transactions and
    detail records (for tools that measure the log, such as `benches/bench_replica.py`)."""
    return _decode_block(raw)


# ---------------------------------------------------------------------- building


def block_segment(
    block: BlockRecord,
    parent: int | None,
    accounts: Sequence[tuple[bytes, bytes | None, bytes | None]],
    txs: Sequence[TransactionInfo],
    details: Sequence[DetailWrite] = (),
    writes: Writes | None = None,
) -> Segment:
    """The segment of one committed block.

    :param accounts: (pubkey, old value, new value) as the block wrote them.
    :param parent: the parent slot for the `processed` status (None for the state's first).
    :param details: the details the block stored (`BlockWrite.details`), sent as `detail`
        messages so that a replica stores the same bytes.
    :param writes: the block's writes and the written accounts' values before it, encoded,
        sent as one `writes` message (None: not built for this block).
    """
    # Only details whose transaction is sent can be placed after it. When the node logs it
    # reports every transaction, and each detail is of an executed one: as many details as
    # executed transactions means all of them are sent, without a key made per transaction.
    executed = sum(1 for t in txs if t.status != "rejected")
    if executed == len(details):
        pairs = [(d.key, d.raw) for d in details]
    else:
        sent = {
            detail_key(block.number, t.l1_tx_index, t.position)
            for t in txs
            if t.status != "rejected"
        }
        pairs = [(d.key, d.raw) for d in details if d.key in sent]
    # A `msgspec.Raw` (the C write log's) encodes as its bytes: the lists it stands for.
    logged: Any = None
    before: Any = []
    if writes is not None:  # encoded by the executor, stored as they are
        logged, before = writes.writes, writes.before
    data = _BlockData(
        block, parent, [(k, new) for k, _, new in accounts], list(txs), pairs, logged, before
    )
    count = len(accounts) + len(txs) + len(pairs) + (logged is not None) + 2
    return Segment("block", block.number, count, encode(data))


def revert_segment(block: BlockRecord, parent_checksum: bytes | None) -> Segment:
    """The segment of one reverted block (its parent's checksum: the state after the revert)."""
    return Segment("revert", block.number, 1, encode(_RevertData(block, parent_checksum)))


def slot_segment(height: int, slots: Sequence[SlotChange]) -> Segment:
    """Slot statuses that changed together (a finality update), ending with the highest."""
    return Segment("slot", height, len(slots), encode(_SlotData(list(slots))))


def plugin_segment(kind: str, height: int, key: str, body: Any) -> Segment:
    """A plugin's message, then the `seal` message that closes it."""
    return Segment("plugin", height, 2, encode(_PluginData(kind, key, encode(body))))


# ---------------------------------------------------------------------- expanding
#
# This runs in the publisher's child process for every message a subscriber takes, on cores the
# node's execution needs (docs/stream.md), so it avoids what it can: topics nobody receives are
# not formatted (`Expander._plan`), base58 names are kept (`_b58`), a signature is named once
# for its transaction, detail and writes, and messages are plain tuples until sent.
# `tests/stream/test_stream_bytes.py` holds the bytes it gives to a recording.


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One logical message, ready to send under each of `topics` (those somebody wants)."""

    seq: int
    kind: str
    height: int
    topics: list[bytes]
    header: bytes
    body: bytes


#: (seq, kind, topics to send it under, header, body): one message as the publisher sends it.
Message = tuple[int, str, list[bytes], bytes, bytes]

#: Base58 names of the keys seen lately (at most 32,768, about 8 MB).
_b58 = KeyNames(1 << 15)


def _sig58(raw: bytes) -> str:
    return str(Signature.from_bytes(raw))


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def block_body(rec: BlockRecord) -> BlockBody:
    return BlockBody(
        number=rec.number,
        hash=_hex(rec.hash),
        parent_hash=_hex(rec.parent_hash),
        timestamp=rec.timestamp,
        state_hash=_b58(rec.checksum),
        messages=rec.messages,
        deposits=rec.deposits,
        ok=rec.ok,
        failed=rec.failed,
        rejected=rec.rejected,
    )


_unpack_header = ACCOUNT_HEADER.unpack_from


def account_body(pubkey: bytes, raw: bytes | None) -> AccountBody:
    """An encoded account as the stream sends it: its header unpacked in place (no
    `AccountRecord` between), names through the name cache's dict first (a name is never
    empty; `_b58` names a key not there)."""
    names = _b58.names
    name = names.get(pubkey) or _b58(pubkey)
    if raw is None:
        return AccountBody(name, 0, _SYSTEM_PROGRAM, False, 0, b"")
    lamports, rent_epoch, executable, owner = _unpack_header(raw)
    return AccountBody(
        name,
        lamports,
        names.get(owner) or _b58(owner),
        executable,
        rent_epoch,
        raw[ACCOUNT_HEADER.size :],
    )


def transaction_body(tx: TransactionInfo, signature: str | None = None) -> TransactionBody:
    """`tx` as the stream sends it (`signature`: its base58 signature, when already named).
    Its keys are named through the name cache's dict in one C loop (`_b58` for the rare key
    not there)."""
    if signature is None and tx.signature is not None:
        signature = _sig58(tx.signature)
    names = _b58.names
    named = list(map(names.get, tx.accounts))
    accounts: list[str] = (
        [names.get(k) or _b58(k) for k in tx.accounts]
        if None in named
        else cast("list[str]", named)
    )
    return TransactionBody(
        signature,
        tx.status,
        tx.reason,
        tx.error,
        tx.fee,
        tx.compute_units,
        list(tx.logs),
        accounts,
        _hex(tx.l1_tx_hash),
        tx.l1_tx_index,
        tx.position,
    )


def _value_body(pubkey: str, raw: bytes | None) -> AccountBody | None:
    if raw is None:
        return None
    rec = AccountRecord.decode(raw)
    return AccountBody(
        pubkey, rec.lamports, _b58(rec.owner), rec.executable, rec.rent_epoch, rec.data
    )


def writes_body(data: _BlockData) -> WritesBody:
    """The `writes` message of a block segment that logged them: each write with the value it
    replaced (the previous write of the account in the block, or its value before the block).

    The reference for `writes_message`, which the publisher sends (a test holds them equal).
    """
    current: dict[bytes, bytes | None] = dict(data.written_before)
    out: list[WriteBody] = []
    signatures = [None if t.signature is None else _sig58(t.signature) for t in data.txs]
    for version, (pubkey, raw, tx) in enumerate(data.writes or ()):
        name = _b58(pubkey)
        before = _value_body(name, current.get(pubkey))
        current[pubkey] = raw
        rec = AccountRecord.decode(raw)
        out.append(
            WriteBody(
                name,
                rec.lamports,
                _b58(rec.owner),
                rec.executable,
                rec.rent_epoch,
                rec.data,
                None if tx < 0 else signatures[tx],
                version,
                before,
            )
        )
    return WritesBody(data.block.number, out)


_NIL = encode(None)
#: `WriteBody`'s fields after the six it shares with `AccountBody`, as MessagePack map keys.
_SIGNATURE, _WRITE_VERSION, _BEFORE = (encode(k) for k in ("signature", "write_version", "before"))


#: `AccountBody`'s field names, as MessagePack map keys, and its booleans.
_PUBKEY, _LAMPORTS, _OWNER, _EXECUTABLE, _RENT_EPOCH, _DATA = (
    encode(k) for k in ("pubkey", "lamports", "owner", "executable", "rent_epoch", "data")
)
_BOOLS = (encode(False), encode(True))
#: The encoded base58 names of the keys seen lately (accounts and owners; at most 32,768).
_names: dict[bytes, bytes] = {}


def _name(key: bytes) -> bytes:
    """`encode(_b58(key))`, kept."""
    name = _names.get(key)
    if name is None:
        if len(_names) >= 1 << 15:
            _names.clear()
        name = _names[key] = encode(_b58(key))
    return name


def _write_fields(name: bytes, raw: bytes) -> bytes:
    """The six `AccountBody` fields of an encoded account (`name`: its encoded base58 name), as
    MessagePack map entries: an `AccountBody` is a map of six entries, in one fixmap byte, and
    its entries follow in the order of its fields. Made here from encoded parts rather than by
    encoding an `AccountBody` (this runs twice per write in the publisher);
    `tests/stream/test_writes_message.py` holds it to `encode(AccountBody(...))`."""
    # The header read without building an `AccountRecord`: the `writes` message decodes every
    # write (`tests/stream/test_stream_bytes.py` holds it to `writes_body`, which builds one).
    lamports, rent_epoch, executable, owner = ACCOUNT_HEADER.unpack_from(raw)
    return b"".join(
        (
            _PUBKEY,
            name,
            _LAMPORTS,
            encode(lamports),
            _OWNER,
            _name(owner),
            _EXECUTABLE,
            _BOOLS[executable],
            _RENT_EPOCH,
            encode(rent_epoch),
            _DATA,
            encode(raw[49:]),
        )
    )


#: The last value written of accounts lately written, across blocks: pubkey -> (encoded
#: account, its `_write_fields`). The value before an account's first write in a block is
#: usually the last one an earlier block wrote: its entries are then not made again.
_written: dict[bytes, tuple[bytes, bytes]] = {}
#: At most this many accounts (cleared when full), of at most this many bytes each (a
#: program's value is encoded each time rather than kept).
_WRITTEN_KEYS = 1 << 15
_WRITTEN_BYTES = 1024


def writes_message(data: _BlockData, signatures: Sequence[str | None]) -> msgspec.Raw:
    """`encode(writes_body(data))`, made faster (`signatures`: the base58 signatures of
    `data.txs`): each write's value is encoded once, and reused as the `before` of the
    account's next write (in the block, or in a later block: `_written`); a signature is
    encoded once per transaction.

    A `WriteBody` is a map of nine entries whose first six are an `AccountBody`'s, in the same
    order, so its encoding is a fixmap byte, those six entries, then the other three.
    """
    prior: dict[bytes, bytes | None] = dict(data.written_before)
    current: dict[bytes, bytes] = {}  # the last value written, as AccountBody entries
    written = _written
    signed: dict[int, bytes] = {-1: _NIL}
    out: list[msgspec.Raw] = []
    for version, (pubkey, raw, tx) in enumerate(data.writes or ()):
        name = _name(pubkey)
        before = current.get(pubkey)
        if before is None:
            value = prior.get(pubkey)
            if value is not None:
                kept = written.get(pubkey)
                before = kept[1] if kept is not None and kept[0] == value else None
                if before is None:
                    before = _write_fields(name, value)
        fields = current[pubkey] = _write_fields(name, raw)
        if len(raw) <= _WRITTEN_BYTES:
            if len(written) >= _WRITTEN_KEYS:
                written.clear()
            written[pubkey] = (raw, fields)
        signature = signed.get(tx)
        if signature is None:
            signature = signed[tx] = encode(signatures[tx])
        out.append(
            msgspec.Raw(
                b"".join(
                    (
                        b"\x89",
                        fields,
                        _SIGNATURE,
                        signature,
                        _WRITE_VERSION,
                        encode(version),
                        _BEFORE,
                        _NIL if before is None else b"\x86" + before,
                    )
                )
            )
        )
    return msgspec.Raw(encode(WritesBody(data.block.number, out)))  # type: ignore[arg-type]


def writes_message_c(data: _RawBlockData, signatures: Sequence[str | None]) -> msgspec.Raw:
    """`writes_message` in C (`_segments.c`), from the segment's arrays as they are stored."""
    return msgspec.Raw(
        _segments.writes_message(data.block.number, data.writes, data.written_before, signatures)
    )


def _logged(data: _BlockData | _RawBlockData) -> bool:
    """Whether the block's writes were built (`[stream] writes`)."""
    if isinstance(data, _RawBlockData):
        return data.writes != _RAW_NIL
    return data.writes is not None


#: Which of a message's candidate topics to send, when that depends on their families only
#: (`Expander._plan`): (indexes into the families, the prefixes matched, sorted).
_Plan = tuple[tuple[int, ...], tuple[str, ...]]
#: (seq, kind, topics to send it under, body) of a wanted message, before its header.
_Chosen = list[tuple[int, str, list[bytes], bytes]]


class Expander:
    """Turns segments into messages for one set of wanted prefixes (None: everything).

    For each segment it also counts, per wanted prefix, the messages that fall under it: the
    publisher puts those counts in the seal.
    """

    def __init__(self, wanted: PrefixSet | None) -> None:
        self.wanted = wanted
        self._plans: dict[tuple[str, ...], _Plan | None] = {}

    def _select(self, topics: list[str]) -> tuple[list[bytes], list[str]]:
        """(topics to send, prefixes matched) for one message's candidate topics."""
        wanted = self.wanted
        if wanted is None:
            return [topics[0].encode()], []
        send: list[bytes] = []
        matched: set[str] = set()
        for topic in topics:
            relevant = wanted.relevant(topic[: topic.index("/")])
            # A further copy goes out only for a prefix no copy sent so far reaches: a
            # subscriber to everything gets each message once, not once per topic.
            if not relevant or matched.issuperset(relevant):
                continue
            hits = [p for p in relevant if topic.startswith(p)]
            if hits and not matched.issuperset(hits):
                send.append(topic.encode())
                matched.update(hits)
        return send, sorted(matched)

    def _topics(
        self,
        plan: _Plan | None,
        firsts: tuple[str, ...],
        rest: Iterable[str],
        counts: dict[str, int],
    ) -> list[bytes]:
        """The topics to send one message under, counting the prefixes it matches.

        :param plan: `_plan` of its families (None: match every topic, `_select`).
        :param firsts: each family's first topic, in order.
        :param rest: its other topics, in order after them (formatted only without a plan: with
            one, only a family's first topic can be sent).
        """
        if plan is None:
            send, matched = self._select([*firsts, *rest])
        else:
            send = [firsts[i].encode() for i in plan[0]]
            matched = list(plan[1])
        for prefix in matched:
            counts[prefix] = counts.get(prefix, 0) + 1
        return send

    def _plan(self, families: tuple[str, ...]) -> _Plan | None:
        """`_select` for a message whose topics fall in `families` (one entry per family, in
        topic order), worked out once per segment, when every prefix relevant to them takes
        whole families (`""`, `transaction/`): then a topic's fate depends on its family
        alone, and only the first topic of a family can be sent, so the others need not be
        formatted. None when some relevant prefix names keys (`account/PK/`): then each topic
        is formatted and matched (`_select`)."""
        try:
            return self._plans[families]
        except KeyError:
            pass
        wanted = self.wanted
        plan: _Plan | None
        if wanted is None:
            plan = ((0,), ())
        else:
            send: list[int] = []
            matched: set[str] = set()
            for i, family in enumerate(families):
                relevant = wanted.relevant(family)
                head = family + "/"
                if not all(head.startswith(p) for p in relevant):
                    plan = None
                    break
                if relevant and not matched.issuperset(relevant):
                    send.append(i)
                    matched.update(relevant)
            else:
                plan = (tuple(send), tuple(sorted(matched)))
        self._plans[families] = plan
        return plan

    def expand(self, seq: int, segment: Segment) -> tuple[list[Outgoing], dict[str, int]]:
        """The wanted messages of `segment` (whose first message is `seq`), and the counts."""
        messages, counts = self.messages(seq, segment)
        height = segment.height
        return [
            Outgoing(n, kind, height, topics, header, body)
            for n, kind, topics, header, body in messages
        ], counts

    def messages(self, seq: int, segment: Segment) -> tuple[list[Message], dict[str, int]]:
        """As `expand`, as plain tuples: the publisher's hot path."""
        chosen: _Chosen = []
        counts: dict[str, int] = {}
        last = seq + segment.count - 1
        end = self._chosen(seq, segment, chosen, counts)
        if end != last + 1:
            raise ValueError(f"segment at {seq} expanded to {end - seq} of {segment.count}")
        # Headers last: the seal needs the counts of the whole segment.
        height = segment.height
        out: list[Message] = [
            (n, kind, topics, encode(Header(STREAM_VERSION, n, kind, height)), body)
            for n, kind, topics, body in chosen
        ]
        if out and out[-1][0] == last:
            _, kind, topics, _, body = out[-1]
            seal = Seal(seq, counts)
            out[-1] = (
                last,
                kind,
                topics,
                encode(Header(STREAM_VERSION, last, kind, height, seal)),
                body,
            )
        return out, counts

    def _chosen(self, seq: int, segment: Segment, chosen: _Chosen, counts: dict[str, int]) -> int:
        """Append each wanted message of `segment` to `chosen` and count the prefixes it
        matched; returns the sequence number after the segment's last message."""
        kind = segment.kind
        one = self._one
        if kind == "block":
            decode = _decode_raw_block if IMPLEMENTATION == "c" else _decode_block
            return self._block(seq, decode(segment.data), chosen, counts)
        if kind == "revert":
            rdata = _decode_revert(segment.data)
            rec = rdata.block
            checksum = None if rdata.parent_checksum is None else _b58(rdata.parent_checksum)
            revert = (rec.number, _hex(rec.hash), _hex(rec.parent_hash), checksum)
            one(seq, "revert", "revert", "revert/", chosen, counts, RevertBody, *revert)
            return seq + 1
        if kind == "slot":
            for slot_no, parent, status in _decode_slots(segment.data).slots:
                topic = f"slot/{status}/"
                one(seq, "slot", "slot", topic, chosen, counts, SlotBody, slot_no, parent, status)
                seq += 1
            return seq
        if kind == "plugin":
            pdata = _decode_plugin(segment.data)
            topic = f"{pdata.kind}/{pdata.key}/" if pdata.key else f"{pdata.kind}/"
            one(seq, pdata.kind, pdata.kind, topic, chosen, counts, msgspec.Raw, pdata.body)
            one(seq + 1, "seal", "seal", "seal/", chosen, counts, dict)
            return seq + 2
        raise ValueError(f"unknown segment kind {kind!r}")  # pragma: no cover - versioned

    def _one(
        self,
        seq: int,
        kind: str,
        family: str,
        topic: str,
        chosen: _Chosen,
        counts: dict[str, int],
        body: Callable[..., Any],
        *args: Any,
    ) -> None:
        """A message with one candidate topic, of `family`; `body(*args)` is its body, made
        only when it is sent."""
        plan = self._plan((family,))
        if plan is None:
            send, matched = self._select([topic])
        else:
            send = [topic.encode()] if plan[0] else []
            matched = list(plan[1])
        for prefix in matched:
            counts[prefix] = counts.get(prefix, 0) + 1
        if send:
            chosen.append((seq, kind, send, encode(body(*args))))

    def _block(
        self, seq: int, data: _BlockData | _RawBlockData, chosen: _Chosen, counts: dict[str, int]
    ) -> int:
        """The messages of a block segment, in the order of the module docstring."""
        position = seq
        plan = self._plan(("account", "owner"))
        if plan is not None and not plan[0]:
            position += len(data.accounts)  # nobody wants them: nothing to format or count
        elif plan is None:
            position = self._accounts(position, data, chosen, counts)
        else:
            position = self._planned_accounts(position, data, chosen, counts)
        txs = data.txs
        with_mentions = self._plan(("transaction", "mention"))
        alone = self._plan(("transaction",))
        want_txs = with_mentions is None or bool(with_mentions[0])
        want_details = self.wanted is None or bool(self.wanted.relevant("detail"))
        logged = _logged(data)
        want_writes = logged and (self.wanted is None or bool(self.wanted.relevant("writes")))
        # Each signature is named once, for its transaction, its detail and its writes.
        signatures: list[str | None] = (
            [None if t.signature is None else _sig58(t.signature) for t in txs]
            if want_txs or want_details or want_writes
            else []
        )
        if logged:
            self._one(
                position,
                "writes",
                "writes",
                "writes/",
                chosen,
                counts,
                writes_message_c if isinstance(data, _RawBlockData) else writes_message,
                data,
                signatures,
            )
            position += 1
        details = dict(data.details)
        number = data.block.number
        if with_mentions is None or alone is None:
            position = self._transactions(
                position, data, signatures, details, want_txs, want_details, chosen, counts
            )
        else:
            position = self._planned_transactions(
                position, data, signatures, details, want_txs, want_details, chosen, counts
            )
        slot = (number, data.parent, "processed")
        self._one(position, "slot", "slot", "slot/processed/", chosen, counts, SlotBody, *slot)
        self._one(position + 1, "block", "block", "block/", chosen, counts, block_body, data.block)
        return position + 2

    def _transactions(
        self,
        position: int,
        data: _BlockData | _RawBlockData,
        signatures: list[str | None],
        details: dict[bytes, bytes],
        want_txs: bool,
        want_details: bool,
        chosen: _Chosen,
        counts: dict[str, int],
    ) -> int:
        """The transactions (and details) of a block, each topic matched (`_select`): some
        prefix names keys. Returns the position after them."""
        with_mentions = self._plan(("transaction", "mention"))
        alone = self._plan(("transaction",))
        txs = data.txs
        number = data.block.number
        for i, tx in enumerate(txs):
            detail = (
                details.pop(detail_key(number, tx.l1_tx_index, tx.position), None)
                if details and tx.status != "rejected"
                else None
            )
            if want_txs:
                tbody = transaction_body(tx, signatures[i])
                accounts = tbody.accounts
                status, sig = tbody.status, tbody.signature or "-"
                tx_topic = f"transaction/{status}/{sig}/"
                if accounts:
                    mentioned = iter(dict.fromkeys(accounts))
                    first = f"mention/{status}/{next(mentioned)}/"
                    rest = (f"mention/{status}/{a}/" for a in mentioned)
                    send = self._topics(with_mentions, (tx_topic, first), rest, counts)
                else:
                    send = self._topics(alone, (tx_topic,), (), counts)
                if send:
                    chosen.append((position, "transaction", send, encode(tbody)))
            position += 1
            if detail is None:
                continue
            name = signatures[i] if want_details else None
            if name is not None:
                where = (name, tx.l1_tx_index, tx.position, detail)
                self._one(
                    position,
                    "detail",
                    "detail",
                    f"detail/{name}/",
                    chosen,
                    counts,
                    DetailBody,
                    *where,
                )
            position += 1
        return position

    def _planned_transactions(
        self,
        position: int,
        data: _BlockData | _RawBlockData,
        signatures: list[str | None],
        details: dict[bytes, bytes],
        want_txs: bool,
        want_details: bool,
        chosen: _Chosen,
        counts: dict[str, int],
    ) -> int:
        """`_transactions` when every prefix relevant to transactions takes whole families
        (a subscriber to everything, or to `transaction/`): then which topics a transaction
        goes under and which prefixes it counts are the same for every transaction, so they
        are worked out once per block here, and only the topics sent are formatted (the
        publisher's child ran the general loop's `_topics`, topic tuples and mention
        iterators for every transaction). `test_stream_bytes.py` holds both to the recording.
        """
        with_mentions = self._plan(("transaction", "mention"))
        alone = self._plan(("transaction",))
        detail_plan = self._plan(("detail",))
        assert with_mentions is not None and alone is not None  # the caller's condition
        mention_tx = 0 in with_mentions[0]
        mention_first = 1 in with_mentions[0]
        mention_counted = with_mentions[1]
        alone_tx = bool(alone[0])
        alone_counted = alone[1]
        want_txs = want_txs and (mention_tx or mention_first or alone_tx)
        txs = data.txs
        number = data.block.number
        for i, tx in enumerate(txs):
            detail = (
                details.pop(detail_key(number, tx.l1_tx_index, tx.position), None)
                if details and tx.status != "rejected"
                else None
            )
            if want_txs:
                signature = signatures[i]
                status = tx.status
                tbody = transaction_body(tx, signature)
                accounts = tbody.accounts
                send: list[bytes] = []
                if accounts:
                    if mention_tx:
                        send.append(f"transaction/{status}/{signature or '-'}/".encode())
                    if mention_first:
                        send.append(f"mention/{status}/{accounts[0]}/".encode())
                    counted = mention_counted
                else:
                    if alone_tx:
                        send.append(f"transaction/{status}/{signature or '-'}/".encode())
                    counted = alone_counted
                for prefix in counted:
                    counts[prefix] = counts.get(prefix, 0) + 1
                if send:
                    chosen.append((position, "transaction", send, encode(tbody)))
            position += 1
            if detail is None:
                continue
            name = signatures[i] if want_details else None
            if name is not None:
                if detail_plan is None:
                    where = (name, tx.l1_tx_index, tx.position, detail)
                    self._one(
                        position,
                        "detail",
                        "detail",
                        f"detail/{name}/",
                        chosen,
                        counts,
                        DetailBody,
                        *where,
                    )
                else:
                    for prefix in detail_plan[1]:
                        counts[prefix] = counts.get(prefix, 0) + 1
                    if detail_plan[0]:
                        chosen.append(
                            (
                                position,
                                "detail",
                                [f"detail/{name}/".encode()],
                                encode(DetailBody(name, tx.l1_tx_index, tx.position, detail)),
                            )
                        )
            position += 1
        return position

    def _accounts(
        self,
        position: int,
        data: _BlockData | _RawBlockData,
        chosen: _Chosen,
        counts: dict[str, int],
    ) -> int:
        """The account messages of a block, each topic matched (`_select`): some prefix names
        keys. Returns the position after them."""
        for pubkey, raw in data.accounts:
            body = account_body(pubkey, raw)
            firsts = (f"account/{body.pubkey}/", f"owner/{body.owner}/{body.pubkey}/")
            send = self._topics(None, firsts, (), counts)
            if send:
                chosen.append((position, "account", send, encode(body)))
            position += 1
        return position

    def _planned_accounts(
        self,
        position: int,
        data: _BlockData | _RawBlockData,
        chosen: _Chosen,
        counts: dict[str, int],
    ) -> int:
        """`_accounts` under a plan (as `_planned_transactions`): the topics sent and the
        prefixes counted are the same for every account, and only the topics sent are
        formatted."""
        plan = self._plan(("account", "owner"))
        assert plan is not None  # the caller's condition
        account_first = 0 in plan[0]
        owner_first = 1 in plan[0]
        counted = plan[1]
        for pubkey, raw in data.accounts:
            body = account_body(pubkey, raw)
            send: list[bytes] = []
            if account_first:
                send.append(f"account/{body.pubkey}/".encode())
            if owner_first:
                send.append(f"owner/{body.owner}/{body.pubkey}/".encode())
            for prefix in counted:
                counts[prefix] = counts.get(prefix, 0) + 1
            if send:
                chosen.append((position, "account", send, encode(body)))
            position += 1
        return position
