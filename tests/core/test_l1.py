"""L1 blocks in the JSON shape Ethereum nodes return, and the replay file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chainbuilder import ChainBuilder
from hypothesis import given
from hypothesis import strategies as st

from monmouth.core.errors import ReplayFileError
from monmouth.core.hexutil import parse_data, parse_quantity
from monmouth.core.l1 import L1Block
from monmouth.core.sources.replay import read_replay, write_replay


def rpc_block() -> dict[str, Any]:
    chain = ChainBuilder()
    chain.block()
    block = chain.block(chain.l1tx(0, b"\x01\x00", value=5), chain.l1tx(1, b"", to=None, status=0))
    return block.to_rpc()


def test_round_trip() -> None:
    obj = rpc_block()
    block = L1Block.from_rpc(obj)
    assert L1Block.from_rpc(json.loads(json.dumps(block.to_rpc()))) == block
    assert block.transactions[1].to is None and block.transactions[1].status == 0


def test_ignores_what_it_does_not_need() -> None:
    obj = rpc_block()
    obj["miner"] = "0x" + "00" * 20
    obj["transactions"][0]["gas"] = "0x5208"
    obj["receipts"][0]["logs"] = []
    assert L1Block.from_rpc(obj) == L1Block.from_rpc(rpc_block())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.pop("receipts"), "receipts"),
        (lambda o: o.update(number="12"), "number"),
        (lambda o: o.update(hash="0x1234"), "hash must be 32 bytes"),
        (lambda o: o["receipts"].pop(), "has no receipt"),
        (lambda o: o.update(transactions=["0x" + "11" * 32]), "full transactions"),
        (lambda o: o["transactions"][0].update(value="zz"), "value"),
        # Every key the node reads is required alike: no missing key is taken as empty.
        (lambda o: o["transactions"][0].pop("input"), "input"),
        (lambda o: o["transactions"][0].pop("value"), "value"),
        (lambda o: o.update(timestamp=hex(2**63)), "timestamp is out of range"),
        (lambda o: o.update(number=hex(2**64)), "number is out of range"),
    ],
)
def test_errors_name_the_field(mutate: Any, message: str) -> None:
    obj = rpc_block()
    mutate(obj)
    with pytest.raises(ValueError, match=message):
        L1Block.from_rpc(obj)


def test_replay_file_must_link(tmp_path: Path) -> None:
    chain = ChainBuilder()
    for _ in range(3):
        chain.block()
    path = tmp_path / "chain.jsonl"
    assert write_replay(path, chain.blocks) == 3
    assert list(read_replay(path)) == chain.blocks
    path.write_text("\n".join(json.dumps(b.to_rpc()) for b in [chain.blocks[0], chain.blocks[2]]))
    with pytest.raises(ReplayFileError, match="line 2: block #2 does not follow block #0"):
        list(read_replay(path))
    with pytest.raises(ReplayFileError, match="cannot read"):
        list(read_replay(tmp_path / "missing.jsonl"))


def test_replay_skips_blank_lines_and_counts_them(tmp_path: Path) -> None:
    chain = ChainBuilder()
    for _ in range(2):
        chain.block()
    lines = [json.dumps(b.to_rpc()).encode() for b in chain.blocks]
    path = tmp_path / "chain.jsonl"
    # Blank and whitespace-only lines (any ASCII whitespace), a last line without its newline.
    path.write_bytes(b"\n \t\r\n" + lines[0] + b"\n\x0b\x0c\n" + lines[1])
    assert list(read_replay(path)) == chain.blocks
    path.write_bytes(b"\n  \n" + lines[0] + b'\n\n{"number": 5}')
    with pytest.raises(ReplayFileError, match="line 5: block has no 'receipts' list"):
        list(read_replay(path))


# `from_rpc` passes the field's place (`where`) apart from its name, so that the name is built
# only when a check fails: the same values and the same errors as the whole name given.

_hexish = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEFxX _g-", max_size=70).map(lambda t: "0x" + t),
    st.text(max_size=12),
    st.integers(),
    st.none(),
    st.binary(max_size=4),
)


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except ValueError as exc:
        return ("error", str(exc))


@given(_hexish, st.sampled_from([None, 20, 32]))
def test_field_data_checks_equal_parse_data(text: object, size: int | None) -> None:
    assert _outcome(lambda: parse_data(text, "input", size, where="transactions[3].")) == _outcome(
        lambda: parse_data(text, "transactions[3].input", size)
    )


@given(_hexish)
def test_field_quantity_checks_equal_parse_quantity(text: object) -> None:
    assert _outcome(lambda: parse_quantity(text, "status", where="receipts[0].")) == _outcome(
        lambda: parse_quantity(text, "receipts[0].status")
    )
