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

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.core.eventlog import SlotChange, Writes
from monmouth.core.payloads import TransactionInfo
from monmouth.core.records import BlockRecord, Segment, detail_key
from monmouth.core.records import encode as encode_record
from monmouth.rust_svm.accounts import AccountRecord, encode_account_fields
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
    :param writes: the block's per-write updates and the written accounts' values before it,
        sent as one `writes` message (None: not built for this block).
    """
    # Only details whose transaction is sent can be placed after it (all of them, when the
    # node logs: it then reports every transaction).
    sent = {
        detail_key(block.number, t.l1_tx_index, t.position) for t in txs if t.status != "rejected"
    }
    pairs = [(d.key, encode_record(d.detail)) for d in details if d.key in sent]
    logged: list[tuple[bytes, bytes, int]] | None = None
    before: list[tuple[bytes, bytes | None]] = []
    if writes is not None:
        updates, prior = writes
        index = {t.signature: i for i, t in enumerate(txs) if t.signature is not None}
        # Every field as written, lamports 0 included: the analyzer rebuilds the same update.
        logged = [
            (
                u.pubkey,
                encode_account_fields(u.lamports, u.owner, u.executable, u.rent_epoch, u.data),
                -1 if u.signature is None else index[u.signature],
            )
            for u in updates
        ]
        before = [
            (
                key,
                None
                if value is None
                else encode_account_fields(
                    value.lamports,
                    bytes(value.owner),
                    value.executable,
                    value.rent_epoch,
                    value.data,
                ),
            )
            for key, value in prior.items()
        ]
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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One logical message, ready to send under each of `topics` (those somebody wants)."""

    seq: int
    kind: str
    height: int
    topics: list[bytes]
    header: bytes
    body: bytes


def _b58(raw: bytes) -> str:
    return str(Pubkey.from_bytes(raw))


@functools.lru_cache(maxsize=4096)
def _owner58(raw: bytes) -> str:
    # Few programs own most accounts: their names are worth keeping.
    return _b58(raw)


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


def account_body(pubkey: bytes, raw: bytes | None) -> AccountBody:
    if raw is None:
        return AccountBody(_b58(pubkey), 0, _SYSTEM_PROGRAM, False, 0, b"")
    rec = AccountRecord.decode(raw)
    return AccountBody(
        _b58(pubkey), rec.lamports, _owner58(rec.owner), rec.executable, rec.rent_epoch, rec.data
    )


def transaction_body(tx: TransactionInfo) -> TransactionBody:
    return TransactionBody(
        signature=None if tx.signature is None else _sig58(tx.signature),
        status=tx.status,
        reason=tx.reason,
        error=tx.error,
        fee=tx.fee,
        compute_units=tx.compute_units,
        logs=list(tx.logs),
        accounts=[_b58(k) for k in tx.accounts],
        l1_tx_hash=_hex(tx.l1_tx_hash),
        l1_tx_index=tx.l1_tx_index,
        position=tx.position,
    )


def _value_body(pubkey: str, raw: bytes | None) -> AccountBody | None:
    if raw is None:
        return None
    rec = AccountRecord.decode(raw)
    return AccountBody(
        pubkey, rec.lamports, _owner58(rec.owner), rec.executable, rec.rent_epoch, rec.data
    )


def writes_body(data: _BlockData) -> WritesBody:
    """The `writes` message of a block segment that logged them: each write with the value it
    replaced (the previous write of the account in the block, or its value before the block)."""
    current: dict[bytes, bytes | None] = dict(data.written_before)
    names: dict[bytes, str] = {}
    out: list[WriteBody] = []
    signatures = [None if t.signature is None else _sig58(t.signature) for t in data.txs]
    for version, (pubkey, raw, tx) in enumerate(data.writes or ()):
        name = names.get(pubkey)
        if name is None:
            name = names[pubkey] = _b58(pubkey)
        before = _value_body(name, current.get(pubkey))
        current[pubkey] = raw
        rec = AccountRecord.decode(raw)
        out.append(
            WriteBody(
                name,
                rec.lamports,
                _owner58(rec.owner),
                rec.executable,
                rec.rent_epoch,
                rec.data,
                None if tx < 0 else signatures[tx],
                version,
                before,
            )
        )
    return WritesBody(data.block.number, out)


class Expander:
    """Turns segments into messages for one set of wanted prefixes (None: everything).

    For each segment it also counts, per wanted prefix, the messages that fall under it: the
    publisher puts those counts in the seal.
    """

    def __init__(self, wanted: PrefixSet | None) -> None:
        self.wanted = wanted

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

    def _families_wanted(self, *families: str) -> bool:
        wanted = self.wanted
        return wanted is None or any(wanted.relevant(f) for f in families)

    def expand(self, seq: int, segment: Segment) -> tuple[list[Outgoing], dict[str, int]]:
        """The wanted messages of `segment` (whose first message is `seq`), and the counts."""
        chosen: list[tuple[int, str, list[bytes], bytes]] = []
        counts: dict[str, int] = {}
        last = seq + segment.count - 1
        position = seq
        for kind, topics, body in self._items(segment):
            if topics is not None:  # None: a family nobody wants, skipped unformatted
                send, matched = self._select(topics)
                for prefix in matched:
                    counts[prefix] = counts.get(prefix, 0) + 1
                if send:
                    chosen.append((position, kind, send, encode(body())))
            position += 1
        if position != last + 1:
            raise ValueError(f"segment at {seq} expanded to {position - seq} of {segment.count}")
        # Headers last: the seal needs the counts of the whole segment.
        height = segment.height
        seal = Seal(seq, counts)
        return [
            Outgoing(
                n,
                kind,
                height,
                send,
                encode(Header(STREAM_VERSION, n, kind, height, seal if n == last else None)),
                body,
            )
            for n, kind, send, body in chosen
        ], counts

    def _items(self, segment: Segment) -> Iterator[tuple[str, Any, Any]]:
        """(kind, topics or a function making them or None when unwanted, body function)."""
        if segment.kind == "block":
            data = _decode_block(segment.data)
            want_accounts = self._families_wanted("account", "owner")
            for pubkey, raw in data.accounts:
                if not want_accounts:
                    yield "account", None, None
                    continue
                body = account_body(pubkey, raw)
                topics = [f"account/{body.pubkey}/", f"owner/{body.owner}/{body.pubkey}/"]
                yield "account", topics, lambda body=body: body
            if data.writes is not None:
                if self._families_wanted("writes"):
                    yield "writes", ["writes/"], functools.partial(writes_body, data)
                else:
                    yield "writes", None, None
            want_txs = self._families_wanted("transaction", "mention")
            want_details = self._families_wanted("detail")
            details = dict(data.details)
            number = data.block.number
            for tx in data.txs:
                detail = (
                    details.pop(detail_key(number, tx.l1_tx_index, tx.position), None)
                    if details and tx.status != "rejected"
                    else None
                )
                if not want_txs:
                    yield "transaction", None, None
                else:
                    tbody = transaction_body(tx)
                    sig = tbody.signature or "-"
                    topics = [f"transaction/{tbody.status}/{sig}/"]
                    topics += [
                        f"mention/{tbody.status}/{a}/" for a in dict.fromkeys(tbody.accounts)
                    ]
                    yield "transaction", topics, lambda tbody=tbody: tbody
                if detail is None:
                    continue
                if not want_details or tx.signature is None:
                    yield "detail", None, None
                    continue
                dbody = DetailBody(_sig58(tx.signature), tx.l1_tx_index, tx.position, detail)
                yield "detail", [f"detail/{dbody.signature}/"], lambda dbody=dbody: dbody
            slot = SlotBody(data.block.number, data.parent, "processed")
            yield "slot", ["slot/processed/"], lambda: slot
            yield "block", ["block/"], lambda: block_body(data.block)
        elif segment.kind == "revert":
            rdata = _decode_revert(segment.data)
            rec = rdata.block
            checksum = None if rdata.parent_checksum is None else _b58(rdata.parent_checksum)
            rbody = RevertBody(rec.number, _hex(rec.hash), _hex(rec.parent_hash), checksum)
            yield "revert", ["revert/"], lambda: rbody
        elif segment.kind == "slot":
            for slot_no, parent, status in _decode_slots(segment.data).slots:
                sbody = SlotBody(slot_no, parent, status)
                yield "slot", [f"slot/{status}/"], lambda sbody=sbody: sbody
        elif segment.kind == "plugin":
            pdata = _decode_plugin(segment.data)
            topic = f"{pdata.kind}/{pdata.key}/" if pdata.key else f"{pdata.kind}/"
            yield pdata.kind, [topic], lambda: msgspec.Raw(pdata.body)
            yield "seal", ["seal/"], lambda: {}
        else:  # pragma: no cover - the schema version guards the kinds
            raise ValueError(f"unknown segment kind {segment.kind!r}")
