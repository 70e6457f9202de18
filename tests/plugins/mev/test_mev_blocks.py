"""The 27 mainnet blocks of mev-inspect-py's fixtures, against its published results.

The data is in `tests/data/mev-inspect/` (xz-compressed; see its README for provenance and
licence). Missing data is a failure, not a skip.
"""

from __future__ import annotations

import gzip
import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from monmouth.plugins.mev import (
    Block,
    inspect_block,
    inspect_traces,
    load_block,
    parse_traces,
    read_block_file,
    to_json_dict,
)

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mev-inspect"
BLOCKS_DIR = DATA_DIR / "blocks"
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"


def block_paths() -> list[Path]:
    paths = sorted(BLOCKS_DIR.glob("*.json.xz"))
    assert len(paths) == 27, f"expected the 27 block files of mev-inspect-py in {BLOCKS_DIR}"
    return paths


def block_name(path: Path) -> str:
    """The block number of a block file, as its name gives it: `12775690.json.xz` → `12775690`."""
    return path.name.removesuffix(".json.xz")


@cache
def block(number: int) -> Block:
    path = BLOCKS_DIR / f"{number}.json.xz"
    assert path.is_file(), f"missing test data {path}: see {DATA_DIR / 'README.md'}"
    return load_block(path)


def test_the_data_is_there() -> None:
    assert (DATA_DIR / "README.md").is_file(), f"missing test data in {DATA_DIR}"
    block_paths()


def test_sandwich_of_12775690_is_mev_inspects_field_by_field() -> None:
    result = inspect_block(block(12775690))
    assert len(result.swaps) == 21
    expected = json.loads((DATA_DIR / "expected" / "12775690.sandwiches.json").read_text())
    got = to_json_dict(result)["sandwiches"]
    assert len(got) == len(expected) == 1
    for field, value in expected[0].items():
        assert got[0][field] == value, field
    assert got == expected
    [sandwich] = result.sandwiches
    assert sandwich.profit_amount == 49991481915322274
    assert sandwich.profit_amount == (
        sandwich.backrun_swap.token_out_amount - sandwich.frontrun_swap.token_in_amount
    )


def test_arbitrages_of_12914944() -> None:
    result = inspect_block(block(12914944))
    assert len(result.swaps) == 51
    profits = {
        "0x448245bf1a507b73516c4eeee01611927dada6610bf26d403012f2e66800d8f0": 750005273675102326,
        "0xfcf4558f6432689ea57737fe63124a5ec39fd6ba6aaf198df13a825dd599bffc": (
            53560707941943273628
        ),
    }
    assert {arb.transaction_hash: arb.profit_amount for arb in result.arbitrages} == profits
    for arb in result.arbitrages:
        assert len(arb.swaps) == 3
        assert arb.profit_token_address == WETH
        assert arb.swaps[1].token_in_address == "0x25f8087ead173b73d6e8b84329989a8eea16cf73"
        assert arb.swaps[1].token_out_address == USDC
        assert arb.profit_amount == arb.end_amount - arb.start_amount
        assert arb.error is None


@pytest.mark.parametrize(
    ("number", "tx", "trace_address", "expected"),
    [
        # mev-inspect-py's tests/test_0x.py, with token in and out the way round its
        # "Switch token amounts for taker and maker on 0x" change (PR 215) made them.
        (
            13666312,
            "0xa043976d736ec8dc930c0556dffd0a86a4bfc80bf98fb7995c791fb4dc488b5d",
            [0, 2, 0, 1],
            ("0x00000000000e1d0dabf7b7c7b68866fc940d0db8", USDC, 143949683150, WETH, 35 * 10**18),
        ),
        (
            13666184,
            "0x9255addffa2dbeb9560c5e20e78a78c949488d2054c70b2155c39f9e28394cbf",
            [0, 1],
            (
                "0xdef1c0ded9bec7f1a1670819833240f027b25eff",
                "0x9ff79c75ae2bcbe0ec63c0375a3ec90ff75bbe0f",
                100000001,
                USDC,
                30000000,
            ),
        ),
        (
            13666326,
            "0x1c948eb7c59ddbe6b916cf68f5df86eb44a7c9e728221fcd8ab750f137fd2a0f",
            [0, 1, 13, 0, 1],
            ("0xdef171fe48cf0115b1d80b88dc8eab59176fee57", WETH, 705 * 10**17, USDC, 288948250430),
        ),
        (
            13666363,
            "0x4f66832e654f8a4d773d9769571155df3722401343247376d6bb56626db29b90",
            [1, 0, 1, 0, 1],
            (
                "0xdef1c0ded9bec7f1a1670819833240f027b25eff",
                "0x95ad61b0a150d79219dcf64e1e6cc01f0b64c4ce",
                92404351093861841165644172,
                WETH,
                979486121594935552,
            ),
        ),
    ],
)
def test_zero_ex_order_fills(
    number: int, tx: str, trace_address: list[int], expected: tuple[str, str, int, str, int]
) -> None:
    swaps = to_json_dict(inspect_block(block(number)))["swaps"]
    matches = [s for s in swaps if s["transaction_hash"] == tx and s["protocol"] == "0x"]
    assert [s["trace_address"] for s in matches] == [trace_address]
    [found] = matches
    assert found["abi_name"] == "INativeOrdersFeature"
    assert found["contract_address"] == found["to_address"]
    assert found["contract_address"] == "0xdef1c0ded9bec7f1a1670819833240f027b25eff"
    assert (
        found["from_address"],
        found["token_in_address"],
        found["token_in_amount"],
        found["token_out_address"],
        found["token_out_amount"],
    ) == expected


@pytest.mark.parametrize("path", block_paths(), ids=lambda path: block_name(path))
def test_every_block_inspects(path: Path) -> None:
    blk = load_block(path)
    result = inspect_block(blk)
    data = to_json_dict(result)
    assert list(data) == ["block_number", "swaps", "sandwiches", "arbitrages"]
    assert data["block_number"] == blk.block_number
    assert json.loads(json.dumps(data)) == data  # plain JSON data, integers staying integers
    for swap in data["swaps"]:
        for key in ("contract_address", "from_address", "to_address", "token_in_address"):
            assert swap[key] == swap[key].lower()
        assert isinstance(swap["token_in_amount"], int)
        assert swap["block_number"] == blk.block_number
    for arb in data["arbitrages"]:
        assert arb["profit_amount"] == arb["end_amount"] - arb["start_amount"]
    # The same traces in any order give the same result.
    shuffled = list(blk.traces)
    random.Random(block_name(path)).shuffle(shuffled)
    assert inspect_traces(shuffled, blk.block_number) == result


def test_trace_block_output_gives_the_same_result() -> None:
    """The node will feed `trace_block` output: camelCase keys, more numbers as hex strings."""
    obj = read_block_file(BLOCKS_DIR / "12914944.json.xz")
    rpc = [_as_rpc(trace) for trace in obj["traces"]]
    from_rpc = inspect_traces(parse_traces(rpc), obj["block_number"])
    assert to_json_dict(from_rpc) == to_json_dict(inspect_block(obj))


def _as_rpc(trace: dict[str, Any]) -> dict[str, Any]:
    position = trace["transaction_position"]
    return {
        "action": trace["action"],
        "blockHash": trace["block_hash"],
        "blockNumber": hex(trace["block_number"]),
        "result": trace["result"],
        "subtraces": trace["subtraces"],
        "traceAddress": trace["trace_address"],
        "transactionHash": trace["transaction_hash"],
        "transactionPosition": None if position is None else hex(position),
        "type": trace["type"],
        **({"error": trace["error"]} if trace["error"] is not None else {}),
    }


def test_block_files_read_plain_xz_or_gzip(tmp_path: Path) -> None:
    xz = BLOCKS_DIR / "12775690.json.xz"
    obj = read_block_file(xz)
    raw = json.dumps(obj).encode()
    (tmp_path / "b.json").write_bytes(raw)
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(raw))
    assert read_block_file(tmp_path / "b.json") == read_block_file(tmp_path / "b.json.gz") == obj
    assert load_block(tmp_path / "b.json.gz") == load_block(xz) == load_block(obj)
    (tmp_path / "bad.json.xz").write_bytes(raw)
    with pytest.raises(ValueError, match=r"bad\.json\.xz: not valid xz data"):
        load_block(tmp_path / "bad.json.xz")
    (tmp_path / "bad.json.gz").write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(ValueError, match=r"bad\.json\.gz: not valid gz data"):
        load_block(tmp_path / "bad.json.gz")
