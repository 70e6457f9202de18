"""The stream log in LMDB: durable sequence numbers, segments in the block's transaction,
pruning, and expansion that gives a replay exactly what was published."""

from __future__ import annotations

from pathlib import Path

import anyio
from streamkit import stream_settings

from monmouth.app import build_node, make_source
from monmouth.core.node import Node
from monmouth.core.state import Store
from monmouth.stream.segments import Expander
from monmouth.stream.topics import PrefixSet

DEVNET = {"reorg_probability": 0.3, "reorg_max_depth": 3, "txs_per_block": 10}


def _run(data: Path, blocks: int, **stream: object) -> Node:
    settings = stream_settings(data, None, devnet=DEVNET, stream=stream)
    node = build_node(settings)
    anyio.run(lambda: node.run(make_source(settings), max_blocks=blocks))
    return node


def _messages(store: Store, wanted: PrefixSet | None = None) -> list[tuple[int, str, int]]:
    first, next_seq, _ = store.stream_bounds()
    out = []
    for seq, segment in store.segments(first, next_seq - 1):
        messages, _ = Expander(wanted).expand(seq, segment)
        out += [(m.seq, m.kind, m.height) for m in messages]
    return out


def test_sequence_numbers_are_contiguous_and_durable(tmp_path: Path) -> None:
    node = _run(tmp_path / "d", 30)
    try:
        store = node.store
        messages = _messages(store)
        first, next_seq, first_height = store.stream_bounds()
        assert first == 0 and first_height == 0
        assert [seq for seq, _, _ in messages] == list(range(next_seq))
        kinds = {kind for _, kind, _ in messages}
        assert {"account", "transaction", "slot", "block", "revert"} <= kinds
        blocks = [h for _, kind, h in messages if kind == "block"]
        reverts = [h for _, kind, h in messages if kind == "revert"]
        # Every block committed appears once per execution; every revert is logged in order.
        assert len(blocks) == node.stats.blocks and len(reverts) == node.stats.reverted
    finally:
        node.close()
    # A restart continues the numbering where it stopped.
    node = _run(tmp_path / "d", 5)
    try:
        assert node.store.stream_bounds()[0] == 0
        assert _messages(node.store)[next_seq][0] == next_seq
    finally:
        node.close()


def test_canonical_height_index_and_pruning(tmp_path: Path) -> None:
    node = _run(tmp_path / "d", 60, keep_blocks=10)
    try:
        store = node.store
        head = store.head()
        assert head is not None
        first, _, first_height = store.stream_bounds()
        # The last 10 heights as of the highest head the log was pruned at: a reorg after that
        # brings the head down by up to its depth, and pruned segments do not come back.
        depth = DEVNET["reorg_max_depth"]
        assert first_height is not None and isinstance(depth, int)
        assert first > 0 and head.number - 9 <= first_height <= head.number - 9 + depth
        # The index points at the canonical execution of each height.
        seq = store.stream_seq_at(head.number)
        assert seq is not None
        block_msgs = [m for m in _messages(store) if m[0] >= seq and m[1] == "block"]
        assert block_msgs[0][2] == head.number
        assert store.stream_seq_at(head.number + 1) is None
        assert store.stream_seq_at(0) == first  # below the window: the oldest kept
    finally:
        node.close()


def test_counts_follow_the_wanted_prefixes(tmp_path: Path) -> None:
    node = _run(tmp_path / "d", 8)
    try:
        store = node.store
        first, next_seq, _ = store.stream_bounds()
        seq, segment = next(
            (s, g) for s, g in store.segments(first, next_seq - 1) if g.kind == "block"
        )
        everything, _ = Expander(None).expand(seq, segment)
        assert [m.seq for m in everything] == list(range(seq, seq + segment.count))
        accounts = [m for m in everything if m.kind == "account"]
        wanted = PrefixSet(["block/", "account/"])
        chosen, counts = Expander(wanted).expand(seq, segment)
        assert counts == {"block/": 1, "account/": len(accounts)}
        assert [m.kind for m in chosen] == ["account"] * len(accounts) + ["block"]
        # Only the last message carries the seal, with the counts.
        assert chosen[-1].header != chosen[0].header
        none, counts = Expander(PrefixSet(["nothing/"])).expand(seq, segment)
        assert none == [] and counts == {}
    finally:
        node.close()
