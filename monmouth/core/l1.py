"""Ethereum (L1) blocks and transactions, as the node reads them from any source.

The JSON shape is exactly what an Ethereum node returns: `eth_getBlockByNumber(n, true)` with one
more key, `receipts`, holding `eth_getBlockReceipts(n)`; a replay file holds one such object per
line. Only the fields the node needs are kept; everything else a real node returns is ignored on
the way in. One more optional key, `traces`, holds the block's call traces as `trace_block(n)`
returns them, when the source fetched them for a plugin that asked (`wants_traces`); replay files
may carry it too.

`L1Block.from_rpc` is the reference parser. Each L1 transaction of every block the node follows
is parsed on its main thread, so the node reads blocks through a fast path, `from_json` (a JSON
text: a replay-file line) and `from_rpc_fast` (the decoded JSON of an RPC answer): msgspec
decodes only the fields kept, and `_l1.c` turns a block's transactions into values. The fast
path accepts only the canonical shape and hands anything else to the reference, so a block it
accepts equals the reference's and every error is the reference's, word for word
(tests/core/test_l1_fast.py holds them so over generated and mutated blocks).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import msgspec

from monmouth.core.hexutil import parse_data, parse_quantity, to_data, to_quantity

try:
    from monmouth.core import _l1
except ImportError:  # built without its C extension (setup.py): the Python reference runs
    _l1 = None  # type: ignore[assignment]

#: Which implementation builds a block's transactions on the fast path: "c" (`_l1.c`) or
#: "python" (`_transactions_py`, over msgspec's decoding alone).
IMPLEMENTATION = "python" if _l1 is None else "c"

#: A block number becomes the Solana slot, a u64, and an 8-byte LMDB key.
SLOT_LIMIT = 2**64
#: A block timestamp becomes the Clock sysvar's `unix_timestamp`, an i64.
TIMESTAMP_LIMIT = 2**63


@dataclass(frozen=True, slots=True)
class BlockId:
    """A block's number and 32-byte hash: what a head or a finished height names."""

    number: int
    hash: bytes

    def __str__(self) -> str:
        return f"#{self.number} {to_data(self.hash)}"


@dataclass(frozen=True, slots=True)
class L1Log:
    """One event log of a receipt: the emitting contract, its topics and data."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class L1Transaction:
    """One Ethereum transaction with the status of its receipt.

    :ivar hash: the 32-byte transaction hash.
    :ivar index: position in the block.
    :ivar sender: the 20-byte `from` address.
    :ivar to: the 20-byte `to` address, or None for a contract creation.
    :ivar value: the value in wei.
    :ivar input: the calldata.
    :ivar status: the receipt status, 1 for success and 0 for a revert; None when the receipt
        carries none (pre-Byzantium), which routing treats as not successful.
    :ivar logs: the receipt's event logs, in order.
    """

    hash: bytes
    index: int
    sender: bytes
    to: bytes | None
    value: int
    input: bytes
    status: int | None
    logs: tuple[L1Log, ...] = ()


@dataclass(frozen=True, slots=True)
class L1Block:
    """One Ethereum block: its header fields the SVM needs and its transactions in order.

    :ivar traces: the block's call traces, the JSON objects of Parity's `trace_block(n)` as the
        node returned them (camelCase keys, numbers as hex strings or integers); None when they
        were not fetched (no plugin asked, or the node does not serve `trace_block`). Plugins
        parse them (`monmouth.plugins.mev.parse_traces`); they do not take part in equality.
    """

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    transactions: tuple[L1Transaction, ...]
    traces: tuple[Any, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> BlockId:
        """This block's number and hash."""
        return BlockId(self.number, self.hash)

    @classmethod
    def from_rpc(cls, obj: Any) -> L1Block:
        """Build a block from the JSON of `eth_getBlockByNumber(n, true)` plus `receipts`.

        Raises ValueError with the offending field when the object is not such a block.
        """
        if not isinstance(obj, dict):
            raise ValueError("a block must be a JSON object")
        receipts_raw = obj.get("receipts")
        if not isinstance(receipts_raw, list):
            raise ValueError("block has no 'receipts' list (eth_getBlockReceipts)")
        statuses: dict[bytes, int | None] = {}
        logs: dict[bytes, tuple[L1Log, ...]] = {}
        for i, receipt in enumerate(receipts_raw):
            if not isinstance(receipt, dict):
                raise ValueError(f"receipts[{i}] is not an object")
            where = f"receipts[{i}]."
            tx_hash = parse_data(receipt.get("transactionHash"), "transactionHash", 32, where=where)
            status = receipt.get("status")
            statuses[tx_hash] = (
                None if status is None else parse_quantity(status, "status", where=where)
            )
            logs_raw = receipt.get("logs") or []
            if not isinstance(logs_raw, list):
                raise ValueError(f"receipts[{i}].logs is not a list")
            logs[tx_hash] = (
                tuple(_parse_log(log, f"receipts[{i}].logs[{j}]") for j, log in enumerate(logs_raw))
                if logs_raw
                else ()
            )
        traces_raw = obj.get("traces")
        if traces_raw is not None and not isinstance(traces_raw, list):
            raise ValueError("block 'traces' is not a list (trace_block)")
        txs_raw = obj.get("transactions")
        if not isinstance(txs_raw, list):
            raise ValueError("block has no 'transactions' list")
        txs = []
        for i, tx in enumerate(txs_raw):
            if not isinstance(tx, dict):
                raise ValueError(
                    f"transactions[{i}] is not an object (fetch blocks with full transactions)"
                )
            where = f"transactions[{i}]."
            tx_hash = parse_data(tx.get("hash"), "hash", 32, where=where)
            if tx_hash not in statuses:
                raise ValueError(f"transactions[{i}] has no receipt")
            to = tx.get("to")
            index = tx.get("transactionIndex")
            txs.append(
                L1Transaction(
                    hash=tx_hash,
                    index=i
                    if index is None
                    else parse_quantity(index, "transactionIndex", where=where),
                    sender=parse_data(tx.get("from"), "from", 20, where=where),
                    to=None if to is None else parse_data(to, "to", 20, where=where),
                    value=parse_quantity(tx.get("value"), "value", where=where),
                    input=parse_data(tx.get("input"), "input", where=where),
                    status=statuses[tx_hash],
                    logs=logs[tx_hash],
                )
            )
        return cls(
            number=parse_quantity(obj.get("number"), "number", SLOT_LIMIT),
            hash=parse_data(obj.get("hash"), "hash", 32),
            parent_hash=parse_data(obj.get("parentHash"), "parentHash", 32),
            timestamp=parse_quantity(obj.get("timestamp"), "timestamp", TIMESTAMP_LIMIT),
            transactions=tuple(txs),
            traces=None if traces_raw is None else tuple(traces_raw),
        )

    @classmethod
    def from_json(cls, text: bytes) -> L1Block:
        """Build a block from one JSON text of the `from_rpc` shape (a replay-file line).

        The same block, or the same error (ValueError, UnicodeDecodeError, RecursionError),
        as `from_rpc(json.loads(text.decode()))`, in a fraction of its time.
        """
        # Not ASCII: msgspec does not check UTF-8 in the keys it skips, `decode` does.
        block = _from_json_fast(text) if text.isascii() else None
        if block is None:
            block = cls.from_rpc(json.loads(text.decode()))
        return block

    @classmethod
    def from_rpc_fast(cls, obj: Any) -> L1Block:
        """`from_rpc`, the same block or the same error, faster where the C extension runs."""
        block = _from_dict_fast(obj) if _l1 is not None else None
        return cls.from_rpc(obj) if block is None else block

    def to_rpc(self) -> dict[str, Any]:
        """The JSON a node would return for this block, with `receipts` (the replay-file line),
        and `traces` when the block has them."""
        block_hash = to_data(self.hash)
        number = to_quantity(self.number)
        extra: dict[str, Any] = {} if self.traces is None else {"traces": list(self.traces)}
        return {
            "number": number,
            "hash": block_hash,
            "parentHash": to_data(self.parent_hash),
            "timestamp": to_quantity(self.timestamp),
            "transactions": [
                {
                    "hash": to_data(tx.hash),
                    "blockHash": block_hash,
                    "blockNumber": number,
                    "transactionIndex": to_quantity(tx.index),
                    "from": to_data(tx.sender),
                    "to": None if tx.to is None else to_data(tx.to),
                    "value": to_quantity(tx.value),
                    "input": to_data(tx.input),
                }
                for tx in self.transactions
            ],
            "receipts": [
                {
                    "transactionHash": to_data(tx.hash),
                    "transactionIndex": to_quantity(tx.index),
                    "blockHash": block_hash,
                    "blockNumber": number,
                    **({} if tx.status is None else {"status": to_quantity(tx.status)}),
                    "logs": [
                        {
                            "address": to_data(log.address),
                            "topics": [to_data(t) for t in log.topics],
                            "data": to_data(log.data),
                        }
                        for log in tx.logs
                    ],
                }
                for tx in self.transactions
            ],
            **extra,
        }


def _parse_log(obj: Any, where: str) -> L1Log:
    if not isinstance(obj, dict):
        raise ValueError(f"{where} is not an object")
    topics = obj.get("topics") or []
    if not isinstance(topics, list):
        raise ValueError(f"{where}.topics is not a list")
    return L1Log(
        address=parse_data(obj.get("address"), ".address", 20, where=where),
        topics=tuple(parse_data(t, ".topics", 32, where=where) for t in topics),
        data=parse_data(obj.get("data", "0x"), ".data", where=where),
    )


# ---------------------------------------------------------------------- the fast path
# The RPC shape with only the fields kept, as msgspec decodes it: keys a node adds are skipped
# without building them. A wrong type fails the decoding, and the reference then runs; so do
# the defaults: each is what the reference reads for an absent key (`get`, or "0x" for data).


class _RpcLog(msgspec.Struct, frozen=True, gc=False):
    address: str
    topics: list[str] | None = None
    data: str = "0x"


class _RpcReceipt(msgspec.Struct, frozen=True, gc=False):
    transactionHash: str
    status: str | None = None
    logs: list[_RpcLog] | None = None


class _RpcTransaction(msgspec.Struct, frozen=True, gc=False, rename={"from_": "from"}):
    hash: str
    from_: str
    value: str
    input: str
    to: str | None = None
    transactionIndex: str | None = None


class _RpcBlock(msgspec.Struct, frozen=True, gc=False):
    number: str
    hash: str
    parentHash: str
    timestamp: str
    transactions: list[_RpcTransaction]
    receipts: list[_RpcReceipt]
    # Kept as the JSON text and decoded by `json`: plugins read traces as `json` builds them.
    traces: msgspec.Raw = msgspec.Raw(b"null")


_DECODER = msgspec.json.Decoder(_RpcBlock)
_In = TypeVar("_In")
_Out = TypeVar("_Out")

#: Python frames between a caller of `json.loads` and `json`'s scanner count towards the
#: recursion limit (`json.loads`, `JSONDecoder.decode`, `raw_decode`); msgspec's decoder, a C
#: function, adds none. With this many levels taken first, msgspec runs out of depth before
#: `json` would (2 suffice on CPython 3.11, the tests find; more only make the fast path
#: decline, and `json` decide, a few levels sooner).
_JSON_FRAMES = 6


def decode_as_deep_as_json(decode: Callable[[_In], _Out], text: _In) -> _Out:
    """`decode(text)` (a msgspec decoder) with `_JSON_FRAMES` levels of the recursion limit
    taken first, so that it runs out of depth no later than `json.loads(text)` called from here
    would (tests/core/test_l1_fast.py and tests/core/test_ethrpc_json.py find the limits)."""
    if _l1 is not None:
        # Counted where `json` counts its nesting on every CPython (3.12 counts C calls apart
        # from Python frames), at no cost.
        return cast("_Out", _l1.deeper(decode, text, _JSON_FRAMES))
    return _frames_down(decode, text, _JSON_FRAMES)


def _frames_down(decode: Callable[[_In], _Out], text: _In, frames: int) -> _Out:
    """`decode(text)` called `frames` Python frames down (3.11 counts them with C calls)."""
    if frames:
        return _frames_down(decode, text, frames - 1)
    return decode(text)


def _decode_deeper(text: bytes) -> _RpcBlock:
    return decode_as_deep_as_json(_DECODER.decode, text)


def _from_json_fast(text: bytes) -> L1Block | None:
    """The block of the JSON `text`, or None when the fast path does not take it."""
    try:
        raw = _decode_deeper(text)
        traces_text = bytes(raw.traces)
        traces = None if traces_text == b"null" else json.loads(traces_text)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    if traces is not None and type(traces) is not list:
        return None
    txs = (
        _transactions_py(raw.transactions, raw.receipts)
        if _l1 is None
        else _l1.transactions(raw.transactions, raw.receipts, True)
    )
    if txs is None:
        return None
    return _header(raw.number, raw.hash, raw.parentHash, raw.timestamp, txs, traces)


def _from_dict_fast(obj: Any) -> L1Block | None:
    """The block of the decoded JSON `obj` through `_l1.c`, or None when it does not take it."""
    if type(obj) is not dict:
        return None
    traces = obj.get("traces")
    if traces is not None and type(traces) is not list:
        return None
    txs = _l1.transactions(obj.get("transactions"), obj.get("receipts"), False)
    if txs is None:
        return None
    return _header(
        obj.get("number"), obj.get("hash"), obj.get("parentHash"), obj.get("timestamp"), txs, traces
    )


def _header(
    number: Any,
    block_hash: Any,
    parent_hash: Any,
    timestamp: Any,
    txs: tuple[L1Transaction, ...],
    traces: list[Any] | None,
) -> L1Block | None:
    """The block of these header fields and transactions, or None where the reference fails:
    through `_l1.block`, or `_block` for what it declines (more than 16 digits)."""
    block: L1Block | None = None
    if _l1 is not None:
        block = _l1.block(number, block_hash, parent_hash, timestamp, txs, traces)
    if block is None:
        block = _block(number, block_hash, parent_hash, timestamp, txs, traces)
    return block


def _block(
    number: Any,
    block_hash: Any,
    parent_hash: Any,
    timestamp: Any,
    txs: tuple[L1Transaction, ...],
    traces: list[Any] | None,
) -> L1Block | None:
    """The Python reference of `_l1.block`: the block, or None where the reference fails."""
    try:
        return L1Block(
            number=parse_quantity(number, "number", SLOT_LIMIT),
            hash=parse_data(block_hash, "hash", 32),
            parent_hash=parse_data(parent_hash, "parentHash", 32),
            timestamp=parse_quantity(timestamp, "timestamp", TIMESTAMP_LIMIT),
            transactions=txs,
            traces=None if traces is None else tuple(traces),
        )
    except ValueError:
        return None


def _transactions_py(
    txs: list[_RpcTransaction], receipts: list[_RpcReceipt]
) -> tuple[L1Transaction, ...] | None:
    """The Python reference of `_l1.transactions` over msgspec's Structs: the transactions, or
    None where the reference would fail (which then says why)."""
    try:
        entries: dict[bytes, tuple[int | None, tuple[L1Log, ...]]] = {}
        for receipt in receipts:
            status = receipt.status
            entries[parse_data(receipt.transactionHash, "", 32)] = (
                None if status is None else parse_quantity(status, ""),
                tuple(
                    L1Log(
                        parse_data(log.address, "", 20),
                        tuple(parse_data(t, "", 32) for t in log.topics or ()),
                        parse_data(log.data, ""),
                    )
                    for log in receipt.logs or ()
                ),
            )
        out = []
        for i, tx in enumerate(txs):
            tx_hash = parse_data(tx.hash, "", 32)
            entry = entries.get(tx_hash)
            if entry is None:
                return None
            index = tx.transactionIndex
            to = tx.to
            out.append(
                L1Transaction(
                    hash=tx_hash,
                    index=i if index is None else parse_quantity(index, ""),
                    sender=parse_data(tx.from_, "", 20),
                    to=None if to is None else parse_data(to, "", 20),
                    value=parse_quantity(tx.value, ""),
                    input=parse_data(tx.input, ""),
                    status=entry[0],
                    logs=entry[1],
                )
            )
    except ValueError:
        return None
    return tuple(out)


if _l1 is not None:
    _l1.init(L1Transaction, L1Log, L1Block)
