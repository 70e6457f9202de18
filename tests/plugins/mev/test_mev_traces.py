"""Parsing traces and block files: both spellings, hex or integer numbers, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monmouth.plugins.mev.traces import Action, load_block, parse_trace, parse_traces

TX_HASH = "0x" + "ab" * 32
BLOCK_HASH = "0x" + "cd" * 32
FROM = "0x" + "11" * 20
TO = "0x" + "22" * 20


def file_trace(**changes: Any) -> dict[str, Any]:
    """A call trace as the block files spell it."""
    trace: dict[str, Any] = {
        "action": {
            "from": FROM,
            "callType": "call",
            "gas": "0x5208",
            "input": "0xa9059cbb",
            "to": TO,
            "value": "0x1a",
        },
        "block_hash": BLOCK_HASH,
        "block_number": 100,
        "result": {"gasUsed": "0x10", "output": "0x"},
        "subtraces": 0,
        "trace_address": [0, 1],
        "transaction_hash": TX_HASH,
        "transaction_position": 3,
        "type": "call",
        "error": None,
    }
    trace.update(changes)
    return trace


def rpc_trace() -> dict[str, Any]:
    """The same trace as `trace_block` returns it: camelCase keys, integers where JSON has them."""
    return {
        "action": {
            "from": FROM.upper().replace("0X", "0x"),
            "callType": "call",
            "gas": 21000,
            "input": "0xA9059CBB",
            "to": TO,
            "value": 26,
        },
        "blockHash": BLOCK_HASH,
        "blockNumber": "0x64",
        "result": {"gasUsed": 16, "output": "0x"},
        "subtraces": 0,
        "traceAddress": [0, 1],
        "transactionHash": TX_HASH.upper().replace("0X", "0x"),
        "transactionPosition": "0x3",
        "type": "call",
    }


def block_file(traces: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "block_number": 100,
        "miner": FROM,
        "base_fee_per_gas": 0,
        "traces": traces,
        "receipts": [
            {
                "block_number": 100,
                "transaction_hash": TX_HASH,
                "transaction_index": 3,
                "gas_used": 21000,
                "effective_gas_price": 1,
                "cumulative_gas_used": 21000,
                "to": TO,
            }
        ],
    }


def test_a_file_trace_parses() -> None:
    trace = parse_trace(file_trace())
    assert trace.action == Action(
        from_address=FROM,
        to_address=TO,
        call_type="call",
        gas=21000,
        input=bytes.fromhex("a9059cbb"),
        value=26,
    )
    assert trace.result is not None and trace.result.gas_used == 16
    assert trace.result.output == b""
    assert trace.trace_address == (0, 1)
    assert (trace.transaction_hash, trace.transaction_position) == (TX_HASH, 3)
    assert (trace.block_number, trace.block_hash, trace.type) == (100, BLOCK_HASH, "call")


def test_rpc_spelling_and_integers_give_the_same_trace() -> None:
    assert parse_trace(rpc_trace()) == parse_trace(file_trace())


def test_empty_hex_quantity_is_zero() -> None:
    trace = parse_trace(file_trace(action={**file_trace()["action"], "value": "0x"}))
    assert trace.action.value == 0


def test_other_trace_types() -> None:
    reward = parse_trace(
        file_trace(
            action={"author": TO, "rewardType": "block", "value": "0x1bc16d674ec80000"},
            result=None,
            trace_address=[],
            transaction_hash=None,
            transaction_position=None,
            type="reward",
        )
    )
    assert reward.action.author == TO and reward.action.value == 2 * 10**18
    assert reward.transaction_hash is None
    suicide = parse_trace(
        file_trace(
            action={"address": TO, "balance": "0x0", "refundAddress": FROM},
            result=None,
            type="suicide",
        )
    )
    assert suicide.action.refund_address == FROM and suicide.action.input is None


def test_block_file_from_dict_and_from_path(tmp_path: Path) -> None:
    obj = block_file([file_trace()])
    path = tmp_path / "block.json"
    path.write_text(json.dumps(obj))
    from_dict = load_block(obj)
    assert load_block(path) == from_dict == load_block(str(path))
    assert from_dict.block_number == 100 and from_dict.block_timestamp == 0
    assert from_dict.receipts[0].transaction_index == 3
    assert len(from_dict.traces) == 1


def test_parse_traces_names_the_index() -> None:
    with pytest.raises(ValueError, match=r"^traces\[1\]\.type: unknown trace type 'staticcall'"):
        parse_traces([file_trace(), file_trace(type="staticcall")])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"action": {"from": FROM, "to": TO, "input": "0x", "gas": "0x0"}},
            r"action\.value: missing",
        ),
        ({"action": {**file_trace()["action"], "value": "abc"}}, r"action\.value: expected an"),
        ({"action": {**file_trace()["action"], "value": "0x-1"}}, r"action\.value: expected an"),
        ({"action": {**file_trace()["action"], "value": -1}}, r"action\.value: expected a non-neg"),
        ({"action": {**file_trace()["action"], "gas": True}}, r"action\.gas: expected an"),
        ({"action": {**file_trace()["action"], "input": "0xabc"}}, r"action\.input: expected 0x"),
        ({"action": {**file_trace()["action"], "input": "a9"}}, r"action\.input: expected 0x"),
        (
            {"action": {**file_trace()["action"], "to": "0x1234"}},
            r"action\.to: expected an address",
        ),
        ({"action": "call"}, r"action: expected an object"),
        ({"trace_address": "0.1"}, r"trace_address: expected a list"),
        ({"trace_address": [0, "x"]}, r"trace_address\[1\]: expected an"),
        ({"transaction_hash": "0x1234"}, r"transaction_hash: expected a hash"),
        ({"transaction_position": "3"}, r"transaction_position: expected an"),
        ({"error": 1}, r"error: expected a string"),
        ({"type": None}, r"type: unknown trace type"),
        ({"type": ["call"]}, r"type: unknown trace type"),
        ({"result": []}, r"result: expected an object"),
    ],
)
def test_malformed_traces_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^traces\[0\]\." + message):
        load_block(block_file([file_trace(**change)]))


def test_missing_keys_are_named() -> None:
    trace = file_trace()
    del trace["trace_address"]
    with pytest.raises(ValueError, match=r"^traces\[0\]\.trace_address: missing"):
        parse_traces([trace])
    with pytest.raises(ValueError, match=r"^traces: missing"):
        load_block({"block_number": 1, "miner": FROM})


def test_malformed_block_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^block_number: expected an"):
        load_block({**block_file([]), "block_number": "one hundred"})
    with pytest.raises(ValueError, match=r"^traces\[0\]\.block_number: 101 in the file of block"):
        load_block(block_file([file_trace(block_number=101)]))
    no_gas = block_file([])
    del no_gas["receipts"][0]["gas_used"]
    with pytest.raises(ValueError, match=r"^receipts\[0\]\.gas_used: missing"):
        load_block(no_gas)
    with pytest.raises(ValueError, match=r"^traces: expected a list"):
        load_block({**block_file([]), "traces": {"0": file_trace()}})
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_block(bad_json)
    not_object = tmp_path / "list.json"
    not_object.write_text("[]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        load_block(not_object)
    with pytest.raises(OSError):
        load_block(tmp_path / "missing.json")
