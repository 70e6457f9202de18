"""`mev.block`'s parameters and the choice of record at one height (`queries.py`), on a real
MevStore: what `monmouth mev --block N` shows, locally and through `--endpoint`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monmouth.plugins.mev.queries import block_answer, block_number, pick
from monmouth.plugins.mev.store import MevBlock, MevStore


def record(number: int, fill: int) -> MevBlock:
    block_hash = "0x" + (bytes([fill]) * 32).hex()
    return MevBlock(block_number=number, block_hash=block_hash, traced=False)


@pytest.mark.parametrize("params", [{"block": 7}, 7, [7], [{"block": 7}]])
def test_block_number_takes_a_number_in_any_of_its_forms(params: Any) -> None:
    assert block_number(params) == 7


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"block": 7, "hash": "x"}, "unknown params hash"),
        ({}, "params must be a block number"),
        ("7", "params must be a block number"),
        (True, "params must be a block number"),
        (-1, "params must be a block number"),
        (None, "params must be a block number"),
    ],
)
def test_block_number_refuses_anything_else(params: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        block_number(params)


def test_pick_prefers_the_chains_block() -> None:
    a, b = record(5, 1), record(5, 2)
    assert pick([], None) is None
    assert pick([a], bytes([9]) * 32) is a  # one record: it is the plugin's only view
    assert pick([a, b], bytes([2]) * 32) is b
    assert pick([a, b], bytes([9]) * 32) is None  # neither is the chain's block
    assert pick([a, b], None) is a


def test_block_answer_reads_the_store(tmp_path: Path) -> None:
    with MevStore(tmp_path / "mev", sync=False) as store:
        assert block_answer(store, 5, None) == {"block": None, "head": None}
        store.put(record(5, 1))
        store.put(record(6, 3))
        answer = block_answer(store, 5, bytes([1]) * 32)
        assert answer["head"] == 6
        assert answer["block"]["block_number"] == 5
        assert answer["block"]["block_hash"] == "0x" + "01" * 32
        # One record per height (a put replaces the others): it is answered, as the CLI did.
        assert block_answer(store, 5, bytes([2]) * 32)["block"] == answer["block"]
        assert block_answer(store, 7, None) == {"block": None, "head": 6}
