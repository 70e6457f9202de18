"""Fuzzing replay-line parsing: any JSON value is an `L1Block` or a ValueError
(`L1Block.from_rpc`), and any bytes in a replay file give blocks, then at most one
ReplayFileError naming the line (`read_replay`), never another exception."""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from monmouth.core.errors import ReplayFileError
from monmouth.core.l1 import L1Block, L1Log, L1Transaction
from monmouth.core.sources.replay import read_replay

_TX = L1Transaction(
    hash=bytes([1] * 32),
    index=0,
    sender=bytes([2] * 20),
    to=bytes([3] * 20),
    value=10**9,
    input=b"\x01\x00\x01\x00a",
    status=1,
    logs=(L1Log(bytes([4] * 20), (bytes([5] * 32),), b"data"),),
)
#: A valid block as a node returns it: the fuzzer breaks one part of it at a time.
BLOCK = L1Block(7, bytes([8] * 32), bytes([9] * 32), 1_700_000_000, (_TX,)).to_rpc()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["0x", "0x0", "0x-1", "0x_1", "0xg", "0x" + "f" * 64, "0x" + "1" * 67]),
    st.builds(lambda n: "0x" + "ab" * n, st.integers(0, 40)),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


PATHS = _paths(BLOCK)


@st.composite
def broken_blocks(draw: st.DrawFn) -> Any:
    """The valid block with a few of its values (or the whole) replaced or removed."""
    block = json.loads(json.dumps(BLOCK))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        if not path:
            return draw(json_values)
        parent = block
        try:
            for step in path[:-1]:
                parent = parent[step]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the way there
    return block


@given(st.one_of(broken_blocks(), json_values))
@example(BLOCK)
# Found by this test: a receipt whose `logs` is a number raised TypeError, not ValueError.
@example({**BLOCK, "receipts": [{**BLOCK["receipts"][0], "logs": 5}]})
@example({**BLOCK, "receipts": [{**BLOCK["receipts"][0], "logs": True}]})
def test_from_rpc_gives_a_block_or_value_error(obj: Any) -> None:
    try:
        block = L1Block.from_rpc(obj)
    except ValueError:
        return
    # What is accepted round-trips: the replay file `monmouth record` writes reads the same.
    assert L1Block.from_rpc(block.to_rpc()) == block


def _line(obj: Any) -> bytes:
    return json.dumps(obj).encode()


lines = st.one_of(
    broken_blocks().map(_line),
    st.just(_line(BLOCK)),
    st.binary(max_size=200),
    st.sampled_from([b"", b"   ", b"[" * 100_000, b"\xff\xfe", b"{", b"null", b"1e999999"]),
)


@given(st.lists(lines, max_size=5))
@example([_line(BLOCK), b"\xff"])  # a line that is not UTF-8, after a good block
@example([_line(BLOCK), b"[" * 100_000])  # nested too deeply for the JSON parser
def test_read_replay_gives_blocks_then_one_replay_file_error(content: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "replay.jsonl"
        path.write_bytes(b"\n".join(content))
        blocks = []
        try:
            for block in read_replay(path):
                blocks.append(block)
        except ReplayFileError as exc:
            assert "\n" not in str(exc)  # one line for the operator
            assert str(path) in str(exc)
        for previous, block in itertools.pairwise(blocks):
            assert block.number == previous.number + 1
            assert block.parent_hash == previous.hash
