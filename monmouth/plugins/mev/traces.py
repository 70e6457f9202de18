"""Parity-style call traces and the block files that carry them, parsed into frozen structs.

Two sources have the same shape: the block files of mev-inspect-py's test fixtures (snake_case
keys, numbers partly as hex strings) and the `trace_block` JSON-RPC method of reth, anvil or any
Parity-compatible node (camelCase keys, numbers as hex strings or JSON integers). Both are
accepted: every numeric field may be an integer or a `0x` hex string, and the per-trace keys may be
spelled either way (`trace_address` or `traceAddress`, and so on).

What callers may rely on after parsing: addresses and hashes are lower-case `0x` hex strings, call
data and outputs are `bytes`, numbers are non-negative `int`s, `trace_address` is a tuple. Any
malformed input raises `ValueError` whose message starts with the path of the offending field,
e.g. `traces[12].action.value: expected an integer or a 0x-hex string, got 'abc'`.
"""

from __future__ import annotations

import gzip
import lzma
import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast

import msgspec

TraceType: TypeAlias = Literal["call", "create", "delegateCall", "reward", "suicide"]
"""The trace types mev-inspect-py knows; any other is rejected, as it rejects them."""

_TRACE_TYPES: frozenset[str] = frozenset(("call", "create", "delegateCall", "reward", "suicide"))


class Action(msgspec.Struct, frozen=True, kw_only=True):
    """What a trace did. Which fields are set depends on the trace type.

    - `call`: `from_address`, `to_address`, `call_type` (`call`, `staticcall`, `delegatecall`,
      ...), `gas`, `input`, `value` are all set.
    - `create`: `from_address`, `gas`, `init`, `value`.
    - `suicide`: `address`, `balance`, `refund_address`.
    - `reward`: `author`, `reward_type`, `value`.
    """

    from_address: str | None = None
    to_address: str | None = None
    call_type: str | None = None
    gas: int | None = None
    input: bytes | None = None
    value: int | None = None
    init: bytes | None = None
    address: str | None = None
    balance: int | None = None
    refund_address: str | None = None
    author: str | None = None
    reward_type: str | None = None


class TraceResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a successful trace returned: gas used and output, or the created contract."""

    gas_used: int | None = None
    output: bytes | None = None
    address: str | None = None
    code: bytes | None = None


class Trace(msgspec.Struct, frozen=True, kw_only=True):
    """One trace of `trace_block`.

    :ivar trace_address: the path of the call in its transaction's call tree; `()` for the
        top-level call.
    :ivar transaction_hash: None only for block and uncle rewards.
    :ivar transaction_position: the transaction's index in the block; None only for rewards.
    :ivar error: None, or why the call failed (`"Reverted"`, `"Out of gas"`, ...).
    :ivar block_number: None when the source did not say (the caller then supplies it).
    """

    action: Action
    result: TraceResult | None
    subtraces: int
    trace_address: tuple[int, ...]
    transaction_hash: str | None
    transaction_position: int | None
    type: TraceType
    error: str | None
    block_number: int | None = None
    block_hash: str | None = None


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """The receipt fields the block files carry (no event logs)."""

    block_number: int
    transaction_hash: str
    transaction_index: int
    gas_used: int
    effective_gas_price: int
    cumulative_gas_used: int
    to: str | None


class Block(msgspec.Struct, frozen=True, kw_only=True):
    """One block file: header fields, every trace in block order, the receipts.

    :ivar block_timestamp: 0 where the file has none (most of the fixtures).
    :ivar base_fee_per_gas: 0 before London.
    """

    block_number: int
    miner: str
    base_fee_per_gas: int
    block_timestamp: int
    traces: tuple[Trace, ...]
    receipts: tuple[Receipt, ...]


def load_block(source: str | os.PathLike[str] | Mapping[str, Any]) -> Block:
    """Parse a block file from its path (see `read_block_file`), or from the already-decoded JSON
    object.

    Raises ValueError naming the field (or the file, for unreadable JSON) on malformed input, and
    OSError when the file cannot be read.
    """
    if isinstance(source, Mapping):
        return _parse_block(source)
    return _parse_block(read_block_file(source))


def read_block_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The top-level JSON object of a block file, unparsed.

    A name ending in `.xz` or `.gz` is decompressed first (xz or gzip), any other is read as
    plain JSON. Raises ValueError naming the file when it is not valid JSON, not valid compressed
    data, or not a JSON object at the top level, and OSError when it cannot be read.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        if path.suffix == ".xz":
            raw = lzma.decompress(raw, format=lzma.FORMAT_XZ)
        elif path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (lzma.LZMAError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not valid {path.suffix[1:]} data: {exc}") from exc
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object at the top level")
    return obj


def parse_traces(objs: Sequence[Any], where: str = "traces") -> tuple[Trace, ...]:
    """Parse a list of traces, e.g. the result of a `trace_block` JSON-RPC call.

    Raises ValueError naming the field, `traces[i].<field>`, on malformed input.
    """
    if not isinstance(objs, list | tuple):
        raise ValueError(f"{where}: expected a list of traces, got {type(objs).__name__}")
    return tuple(parse_trace(obj, f"{where}[{index}]") for index, obj in enumerate(objs))


def parse_trace(obj: Any, where: str = "trace") -> Trace:
    """Parse one trace object (snake_case or camelCase keys). Raises ValueError naming the field."""
    fields = _mapping(obj, where)
    trace_type = _required(fields, where, "type")
    if not isinstance(trace_type, str) or trace_type not in _TRACE_TYPES:
        raise ValueError(f"{where}.type: unknown trace type {trace_type!r}")
    action = _parse_action(_required(fields, where, "action"), f"{where}.action", trace_type)
    raw_result = _optional(fields, "result")
    result = None if raw_result is None else _parse_result(raw_result, f"{where}.result")
    raw_address = _required(fields, where, "trace_address", "traceAddress")
    if not isinstance(raw_address, list | tuple):
        raise ValueError(f"{where}.trace_address: expected a list of integers")
    trace_address = tuple(
        _int(item, f"{where}.trace_address[{index}]") for index, item in enumerate(raw_address)
    )
    tx_hash = _optional(fields, "transaction_hash", "transactionHash")
    position = _optional(fields, "transaction_position", "transactionPosition")
    error = _optional(fields, "error")
    if error is not None and not isinstance(error, str):
        raise ValueError(f"{where}.error: expected a string or null, got {error!r}")
    block_number = _optional(fields, "block_number", "blockNumber")
    block_hash = _optional(fields, "block_hash", "blockHash")
    subtraces = _optional(fields, "subtraces")
    return Trace(
        action=action,
        result=result,
        subtraces=0 if subtraces is None else _int(subtraces, f"{where}.subtraces"),
        trace_address=trace_address,
        transaction_hash=None if tx_hash is None else _hash(tx_hash, f"{where}.transaction_hash"),
        transaction_position=(
            None if position is None else _int(position, f"{where}.transaction_position")
        ),
        type=cast(TraceType, trace_type),
        error=error,
        block_number=None if block_number is None else _int(block_number, f"{where}.block_number"),
        block_hash=None if block_hash is None else _hash(block_hash, f"{where}.block_hash"),
    )


def _parse_block(obj: Mapping[str, Any]) -> Block:
    block_number = _int(_required(obj, "", "block_number"), "block_number")
    traces = parse_traces(_required(obj, "", "traces"), "traces")
    for index, trace in enumerate(traces):
        if trace.block_number is not None and trace.block_number != block_number:
            raise ValueError(
                f"traces[{index}].block_number: {trace.block_number} in the file of block "
                f"{block_number}"
            )
    raw_receipts = obj.get("receipts", [])
    if not isinstance(raw_receipts, list | tuple):
        raise ValueError("receipts: expected a list of receipts")
    timestamp = obj.get("block_timestamp")
    base_fee = obj.get("base_fee_per_gas")
    return Block(
        block_number=block_number,
        miner=_address(_required(obj, "", "miner"), "miner"),
        base_fee_per_gas=0 if base_fee is None else _int(base_fee, "base_fee_per_gas"),
        block_timestamp=0 if timestamp is None else _int(timestamp, "block_timestamp"),
        traces=traces,
        receipts=tuple(
            _parse_receipt(item, f"receipts[{index}]") for index, item in enumerate(raw_receipts)
        ),
    )


def _parse_action(obj: Any, where: str, trace_type: str) -> Action:
    fields = _mapping(obj, where)

    def addr(*keys: str) -> str | None:
        value = _optional(fields, *keys)
        return None if value is None else _address(value, f"{where}.{keys[0]}")

    def num(key: str) -> int | None:
        value = _optional(fields, key)
        return None if value is None else _int(value, f"{where}.{key}")

    def data(key: str) -> bytes | None:
        value = _optional(fields, key)
        return None if value is None else _data(value, f"{where}.{key}")

    if trace_type == "call":
        # mev-inspect-py's CallAction requires all five; a call without them is not a call.
        for key in ("from", "to", "input", "value", "gas"):
            _required(fields, where, key)
    call_type = _optional(fields, "callType", "call_type")
    reward_type = _optional(fields, "rewardType", "reward_type")
    for key, text in (("callType", call_type), ("rewardType", reward_type)):
        if text is not None and not isinstance(text, str):
            raise ValueError(f"{where}.{key}: expected a string, got {text!r}")
    return Action(
        from_address=addr("from"),
        to_address=addr("to"),
        call_type=call_type,
        gas=num("gas"),
        input=data("input"),
        value=num("value"),
        init=data("init"),
        address=addr("address"),
        balance=num("balance"),
        refund_address=addr("refundAddress", "refund_address"),
        author=addr("author"),
        reward_type=reward_type,
    )


def _parse_result(obj: Any, where: str) -> TraceResult:
    fields = _mapping(obj, where)
    gas_used = _optional(fields, "gasUsed", "gas_used")
    output = _optional(fields, "output")
    address = _optional(fields, "address")
    code = _optional(fields, "code")
    return TraceResult(
        gas_used=None if gas_used is None else _int(gas_used, f"{where}.gasUsed"),
        output=None if output is None else _data(output, f"{where}.output"),
        address=None if address is None else _address(address, f"{where}.address"),
        code=None if code is None else _data(code, f"{where}.code"),
    )


def _parse_receipt(obj: Any, where: str) -> Receipt:
    fields = _mapping(obj, where)

    def num(*keys: str) -> int:
        return _int(_required(fields, where, *keys), f"{where}.{keys[0]}")

    to = _optional(fields, "to")
    return Receipt(
        block_number=num("block_number", "blockNumber"),
        transaction_hash=_hash(
            _required(fields, where, "transaction_hash", "transactionHash"),
            f"{where}.transaction_hash",
        ),
        transaction_index=num("transaction_index", "transactionIndex"),
        gas_used=num("gas_used", "gasUsed"),
        effective_gas_price=num("effective_gas_price", "effectiveGasPrice"),
        cumulative_gas_used=num("cumulative_gas_used", "cumulativeGasUsed"),
        to=None if to is None else _address(to, f"{where}.to"),
    )


# --- field helpers ----------------------------------------------------------------------------


def _mapping(obj: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(obj).__name__}")
    return obj


def _optional(fields: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in fields:
            return fields[key]
    return None


def _required(fields: Mapping[str, Any], where: str, *keys: str) -> Any:
    for key in keys:
        if key in fields:
            return fields[key]
    raise ValueError(f"{where}.{keys[0]}: missing" if where else f"{keys[0]}: missing")


def _int(value: Any, where: str) -> int:
    """A non-negative integer given as a JSON integer or a `0x` hex string (`"0x"` is 0)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{where}: expected a non-negative integer, got {value}")
        return value
    if isinstance(value, str) and value[:2] in ("0x", "0X"):
        digits = value[2:]
        if digits == "":
            return 0
        try:
            parsed = int(digits, 16)
        except ValueError:
            pass
        else:
            # int() also accepts "_" separators and a sign; a hex quantity has neither.
            if digits.isalnum():
                return parsed
    raise ValueError(f"{where}: expected an integer or a 0x-hex string, got {value!r}")


def _data(value: Any, where: str) -> bytes:
    if isinstance(value, str) and value[:2] in ("0x", "0X"):
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            pass
        else:
            # bytes.fromhex skips whitespace between bytes; hex data has none.
            if 2 * len(raw) == len(value) - 2:
                return raw
    raise ValueError(f"{where}: expected 0x-prefixed hex data of whole bytes, got {value!r:.80}")


def _fixed_hex(value: Any, where: str, size: int, what: str) -> str:
    if isinstance(value, str) and len(value) == 2 + 2 * size and value[:2] in ("0x", "0X"):
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            pass
        else:
            if len(raw) == size:
                return value.lower()
    raise ValueError(f"{where}: expected {what} ({size} bytes as 0x-hex), got {value!r:.80}")


def _address(value: Any, where: str) -> str:
    return _fixed_hex(value, where, 20, "an address")


def _hash(value: Any, where: str) -> str:
    return _fixed_hex(value, where, 32, "a hash")
