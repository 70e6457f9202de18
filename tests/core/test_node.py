"""The node's run loop: group commits that span the source's notifications while the next one is
ready (catch-up), a commit and report before the node waits for the source (the head), and what a
failing source or a stop leaves durable."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import recompute_lthash, snapshot
from hypothesis import given
from hypothesis import strategies as st

from monmouth import bench
from monmouth.app import build_node
from monmouth.core import node as node_module
from monmouth.core.config import Settings, load_settings
from monmouth.core.errors import SourceError
from monmouth.core.executor import BLOCKHASH_WINDOW, BlockExecutor, ExecutedBlock, Prepared
from monmouth.core.l1 import BlockId, L1Block
from monmouth.core.node import RecentBlocks
from monmouth.core.notifications import ChainCommitted, FinishedHeight, Notification
from monmouth.core.sources.base import HashAt
from monmouth.core.sources.replay import ReplaySource, write_replay

#: 41 L1 blocks: the users' deposits, then 40 blocks of five transfers each.
BLOCKS = bench.generate("transfers", 200, 5, 20)


def settings_at(path: Path) -> Settings:
    return load_settings(
        None,
        data_dir=path,
        store={"sync": False},
        stream={"publish": None},
        plugins={"monitoring": {"address": "none"}, "rpc": {"address": "none"}},
    )


class OneByOne:
    """A source that yields one block per notification, each ready at once (`pause` 0: a
    catch-up) or after a pause (a node at the L1 head), and records what the node had made
    durable each time it was asked for the next; it may fail after `fail_after` blocks."""

    def __init__(self, blocks: list[L1Block], pause: float, fail_after: int | None = None):
        self.blocks = blocks
        self.pause = pause
        self.fail_after = fail_after
        self.finished: list[int] = []
        self.heads_after_pause: list[int | None] = []

    async def notifications(
        self, head: BlockId | None, hash_at: HashAt | None = None
    ) -> AsyncGenerator[Notification, None]:
        for count, block in enumerate(self.blocks):
            if count == self.fail_after:
                raise SourceError("the source broke")
            if self.pause:
                await anyio.sleep(self.pause)
                self.heads_after_pause.append(self.finished[-1] if self.finished else None)
            yield ChainCommitted((block,))


def run(path: Path, source: OneByOne, max_blocks: int | None = None) -> tuple[int, object]:
    settings = settings_at(path)
    with build_node(settings, on_finished=lambda h: source.finished.append(h.block.number)) as node:
        anyio.run(lambda: node.run(source, max_blocks=max_blocks))
        assert node.state == recompute_lthash(node.store)
        assert node.stats.executed == node.stats.transactions
        return node.stats.commits, snapshot(node.store)


def test_a_group_spans_notifications_while_the_next_is_ready(tmp_path: Path) -> None:
    source = OneByOne(BLOCKS, pause=0)
    commits, state = run(tmp_path / "grouped", source)
    # 41 notifications of one block, all ready: one group (GROUP_BLOCKS and GROUP_TXS are far).
    assert commits == 1
    assert source.finished == [len(BLOCKS) - 1]
    # The same state as a replay file read in notifications of 64 blocks.
    settings = settings_at(tmp_path / "replayed")
    write_replay(tmp_path / "chain.jsonl", BLOCKS)
    with build_node(settings) as node:
        anyio.run(node.run, ReplaySource(tmp_path / "chain.jsonl"))
        assert snapshot(node.store) == state


def test_groups_still_end_at_their_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_module, "GROUP_BLOCKS", 8)
    commits, _ = run(tmp_path / "a", OneByOne(BLOCKS, pause=0))
    assert commits == 6  # 8 + 8 + 8 + 8 + 8 + 1 blocks
    monkeypatch.setattr(node_module, "GROUP_BLOCKS", 256)
    monkeypatch.setattr(node_module, "GROUP_TXS", 50)  # ten blocks of five
    commits, _ = run(tmp_path / "b", OneByOne(BLOCKS, pause=0))
    assert commits == 4  # the deposits' block and ten of five, then 10 + 10 + 10 blocks
    monkeypatch.setattr(node_module, "GROUP_TXS", 10_000)
    monkeypatch.setattr(node_module, "GROUP_SECONDS", 0.0)  # each block is its group's last
    commits, _ = run(tmp_path / "c", OneByOne(BLOCKS, pause=0))
    assert commits == len(BLOCKS)


def test_at_the_head_each_block_is_durable_before_the_node_waits(tmp_path: Path) -> None:
    source = OneByOne(BLOCKS[:6], pause=0.05)
    commits, _ = run(tmp_path, source)
    assert commits == 6
    # The source is read ahead of the node, but whenever it made the node wait, the node had
    # committed and reported the block before.
    assert source.heads_after_pause == [None, 0, 1, 2, 3, 4]


def test_a_failing_source_leaves_its_earlier_blocks_durable(tmp_path: Path) -> None:
    source = OneByOne(BLOCKS, pause=0, fail_after=30)
    # The source's own error, not an ExceptionGroup from the task that reads it.
    with pytest.raises(SourceError, match="the source broke"):
        run(tmp_path / "data", source)
    with build_node(settings_at(tmp_path / "data")) as node:
        assert node.head is not None and node.head.number == 29
        assert node.state == recompute_lthash(node.store)


def test_a_stop_at_max_blocks_commits_exactly_those(tmp_path: Path) -> None:
    source = OneByOne(BLOCKS, pause=0)
    run(tmp_path, source, max_blocks=17)
    assert source.finished == [16]
    with build_node(settings_at(tmp_path)) as node:
        assert node.head is not None and node.head.number == 16


def test_a_failing_block_commits_the_group_before_it(tmp_path: Path) -> None:
    """A block that does not extend the head ends the run with a SourceError; the blocks
    executed before it, in the open group, are committed."""
    broken = [*BLOCKS[:12], BLOCKS[13]]
    source = OneByOne(broken, pause=0)
    with pytest.raises(SourceError, match="does not extend the head"):
        run(tmp_path, source)
    assert source.finished == [11]
    with build_node(settings_at(tmp_path)) as node:
        assert node.head is not None and node.head.number == 11


def test_finished_heights_are_reported_in_order(tmp_path: Path) -> None:
    finished: list[FinishedHeight] = []
    settings = settings_at(tmp_path / "data")
    write_replay(tmp_path / "chain.jsonl", BLOCKS)
    with build_node(settings, on_finished=finished.append) as node:
        anyio.run(node.run, ReplaySource(tmp_path / "chain.jsonl"))
    numbers = [f.block.number for f in finished]
    assert numbers == sorted(numbers) and numbers[-1] == len(BLOCKS) - 1


@given(st.lists(st.integers(0, 40), max_size=400), st.booleans())
def test_the_blockhash_window_is_the_last_blocks_hashes(hashes: list[int], clear: bool) -> None:
    """The window a block on top of the head sees: the hashes of the BLOCKHASH_WINDOW blocks
    before it (the reference: gathered from the list of blocks), duplicates included."""
    recent = RecentBlocks()
    blocks: list[tuple[int, bytes]] = []
    for number, h in enumerate(hashes):
        if clear and number == len(hashes) // 2:
            recent.clear()
            blocks.clear()
        recent.append(number, bytes([h]) * 32)
        blocks.append((number, bytes([h]) * 32))
    nxt = L1Block(len(hashes), b"\xff" * 32, blocks[-1][1] if blocks else b"\xee" * 32, 0, ())
    window = recent.window(nxt)
    expected = {h for n, h in blocks if n >= nxt.number - BLOCKHASH_WINDOW} | {nxt.parent_hash}
    for h in range(42):
        assert (bytes([h]) * 32 in window) == (bytes([h]) * 32 in expected)
    assert (b"\xee" * 32 in window) == (b"\xee" * 32 in expected)
    assert list(recent) == blocks[-BLOCKHASH_WINDOW:]


def test_the_lookahead_spans_notifications_while_the_next_is_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One block per notification (a devnet flat out): the blocks after the one executing are
    prepared (their signatures checked) before it runs, as within one notification."""
    order: list[tuple[str, int]] = []
    prepare, execute = BlockExecutor.prepare, BlockExecutor.execute

    def prepared(self: BlockExecutor, block: L1Block) -> Prepared:
        order.append(("prepare", block.number))
        return prepare(self, block)

    def executed(self: BlockExecutor, p: Prepared, *args: Any) -> ExecutedBlock:
        order.append(("execute", p.block.number))
        return execute(self, p, *args)

    monkeypatch.setattr(BlockExecutor, "prepare", prepared)
    monkeypatch.setattr(BlockExecutor, "execute", executed)
    run(tmp_path / "a", OneByOne(BLOCKS, pause=0))
    # Block 20 ran after (at least) the LOOKAHEAD blocks behind it were prepared, each once.
    assert order.index(("prepare", 20 + node_module.LOOKAHEAD)) < order.index(("execute", 20))
    assert sorted(n for kind, n in order if kind == "prepare") == list(range(len(BLOCKS)))
    assert [n for kind, n in order if kind == "execute"] == list(range(len(BLOCKS)))
    # At the head nothing is prepared ahead: each block runs before the next arrives.
    order.clear()
    run(tmp_path / "b", OneByOne(BLOCKS[:4], pause=0.05))
    assert order == [(kind, n) for n in range(4) for kind in ("prepare", "execute")]
