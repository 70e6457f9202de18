"""The node's run loop: group commits within a notification and their bounds, a replay file's
notifications of small blocks, a commit and report before the node waits for the source (the
head), what a failing source or a stop leaves durable, and the blockhash window."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from pathlib import Path

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
from monmouth.core.eventlog import NullEventLog
from monmouth.core.executor import BLOCKHASH_WINDOW
from monmouth.core.l1 import BlockId, L1Block
from monmouth.core.node import Node, RecentBlocks
from monmouth.core.notifications import (
    ChainCommitted,
    ChainFinality,
    ChainReverted,
    FinishedHeight,
    Notification,
)
from monmouth.core.records import block_key
from monmouth.core.sources import replay
from monmouth.core.sources.base import HashAt
from monmouth.core.sources.replay import ReplaySource, write_replay
from monmouth.core.state import Store

#: 41 L1 blocks: the users' deposits, then 40 blocks of five transfers each.
BLOCKS = bench.generate("transfers", 200, 5, 20)


def settings_at(path: Path, writer: str = "auto") -> Settings:
    return load_settings(
        None,
        data_dir=path,
        store={"sync": False, "writer": writer},
        stream={"publish": None},
        plugins={"monitoring": {"address": "none"}, "rpc": {"address": "none"}},
    )


class OneByOne:
    """A source that yields one block per notification, each ready at once (`pause` 0: a
    catch-up) or after a pause (a node at the L1 head), and records what the node had made
    durable each time it was asked for the next; it may fail after `fail_after` blocks."""

    def __init__(
        self,
        blocks: list[L1Block],
        pause: float,
        fail_after: int | None = None,
        *,
        catching_up: bool = False,
    ):
        self.blocks = blocks
        self.catching_up = catching_up
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


class Scripted:
    """A source that gives its notifications at once, saying more follows (`catching_up`)
    until the last."""

    def __init__(self, notifications: list[Notification]):
        self.script = notifications
        self.catching_up = False

    async def notifications(
        self, head: BlockId | None, hash_at: HashAt | None = None
    ) -> AsyncGenerator[Notification, None]:
        for i, notification in enumerate(self.script):
            self.catching_up = i < len(self.script) - 1
            yield notification


def run(path: Path, source: OneByOne, max_blocks: int | None = None) -> tuple[int, object]:
    settings = settings_at(path)
    with build_node(settings, on_finished=lambda h: source.finished.append(h.block.number)) as node:
        anyio.run(lambda: node.run(source, max_blocks=max_blocks))
        assert node.state == recompute_lthash(node.store)
        assert node.stats.executed == node.stats.transactions
        return node.stats.commits, snapshot(node.store)


def grouped(path: Path) -> int:
    """Commits of a node that gets all of BLOCKS in one notification."""
    with build_node(settings_at(path)) as node:
        node.apply(ChainCommitted(tuple(BLOCKS)))
        assert node.state == recompute_lthash(node.store)
        assert node.stats.executed == node.stats.transactions
        return node.stats.commits


def test_groups_end_at_their_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert grouped(tmp_path / "whole") == 1  # GROUP_BLOCKS, GROUP_TXS and GROUP_SECONDS far
    monkeypatch.setattr(node_module, "GROUP_BLOCKS", 8)
    assert grouped(tmp_path / "a") == 6  # 8 + 8 + 8 + 8 + 8 + 1 blocks
    monkeypatch.setattr(node_module, "GROUP_BLOCKS", 256)
    monkeypatch.setattr(node_module, "GROUP_TXS", 50)  # ten blocks of five
    assert grouped(tmp_path / "b") == 4  # the deposits' block and ten of five, then 10 + 10 + 10
    monkeypatch.setattr(node_module, "GROUP_TXS", 10_000)
    monkeypatch.setattr(node_module, "GROUP_SECONDS", 0.0)  # each block is its group's last
    assert grouped(tmp_path / "c") == len(BLOCKS)


def test_a_replay_file_of_small_blocks_comes_in_large_notifications(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay notification ends at BATCH blocks or BATCH_BYTES of calldata. While the file
    has more (`catching_up`), a group goes on across notifications, so the commits are those of
    one notification; the state is the same whatever the batches."""
    write_replay(tmp_path / "chain.jsonl", BLOCKS)
    states = []
    for name, batch, size in (("a", 1024, 16 << 20), ("b", 4, 16 << 20), ("c", 1024, 1)):
        monkeypatch.setattr(replay, "BATCH", batch)
        monkeypatch.setattr(replay, "BATCH_BYTES", size)
        more: list[bool] = []  # what the node was told with each notification
        with build_node(settings_at(tmp_path / name)) as node:
            apply = node.apply
            monkeypatch.setattr(
                node,
                "apply",
                lambda n, *, more, seen=more, apply=apply: seen.append(more) or apply(n, more=more),
            )
            anyio.run(node.run, ReplaySource(tmp_path / "chain.jsonl"))
            states.append((node.stats.commits, snapshot(node.store)))
        # Every notification but the last says more follows (41 blocks: 10 of 4, and 1).
        assert more == [True] * (len(more) - 1) + [False]
        assert len(more) == {"a": 1, "b": 11, "c": len(BLOCKS)}[name]
    assert [commits for commits, _ in states] == [1, 1, 1]
    assert states[0][1] == states[1][1] == states[2][1]


def test_a_source_without_more_at_once_gets_each_notification_reported(tmp_path: Path) -> None:
    """A source that does not say it has more (`catching_up`) finds each notification's blocks
    committed and reported before it is asked for the next; one that does, not (even past its
    end: the run reports what it executed when the source ends)."""
    for catching_up, finished in ((False, [0, 1, 2, 3, 4, 5]), (True, [5])):
        source = OneByOne(BLOCKS[:6], pause=0, catching_up=catching_up)
        assert run(tmp_path / str(catching_up), source)[0] == len(finished)
        assert source.finished == finished  # a group reports its last block


def test_a_notification_that_reads_the_store_lands_the_open_group_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finality and a revert after notifications that left a group open and one in flight:
    both see the blocks stored (a finalized block the node committed, a revert of blocks
    committed), with the writer process and inline."""
    monkeypatch.setattr(node_module, "GROUP_BLOCKS", 4)  # a group in flight, another open
    expected = None
    for writer in ("process", "inline"):
        notes: list[Notification] = [
            ChainCommitted(tuple(BLOCKS[:10])),
            ChainFinality(BLOCKS[8].id, BLOCKS[6].id),
            ChainCommitted(tuple(BLOCKS[10:20])),
            ChainReverted(tuple(BLOCKS[17:20])),
            ChainCommitted(tuple(BLOCKS[17:22])),
        ]
        source = Scripted(notes)
        with build_node(settings_at(tmp_path / writer, writer)) as node:
            anyio.run(node.run, source)
            assert node.store.finality() == (8, 6)
            assert node.head is not None and node.head.number == 21
            assert node.state == recompute_lthash(node.store)
            contents = snapshot(node.store)
        expected = expected or contents
        assert contents == expected


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
    assert source.finished == list(range(17))  # one notification, one group: each block
    with build_node(settings_at(tmp_path)) as node:
        assert node.head is not None and node.head.number == 16


def test_a_failing_block_commits_the_group_before_it(tmp_path: Path) -> None:
    """A block that does not extend the head ends the run with a SourceError; the blocks
    executed before it, in the open group, are committed."""
    broken = [*BLOCKS[:12], BLOCKS[13]]
    source = OneByOne(broken, pause=0)
    with pytest.raises(SourceError, match="does not extend the head"):
        run(tmp_path, source)
    assert source.finished == list(range(12))
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


def test_executed_counts_the_open_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`RunStats.executed` counts every transaction executed so far, the group not yet
    committed included, while `transactions` moves only when a group commits."""
    monkeypatch.setattr(node_module, "GROUP_BLOCKS", 8)
    seen: list[tuple[int, int, int]] = []  # (executed so far, stats.executed, transactions)
    with build_node(settings_at(tmp_path)) as node:
        execute = node.executor.execute
        so_far = 0

        def counted(*args: object, **kwargs: object) -> object:
            nonlocal so_far
            seen.append((so_far, node.stats.executed, node.stats.transactions))
            result = execute(*args, **kwargs)  # type: ignore[arg-type]
            so_far += len(result.write.txs)
            return result

        monkeypatch.setattr(node.executor, "execute", counted)
        node.apply(ChainCommitted(tuple(BLOCKS)))
        assert node.stats.executed == node.stats.transactions == so_far == 200
    assert all(executed == ours for ours, executed, _ in seen)
    # Within a group of eight blocks, the committed count lags what was executed.
    assert any(transactions < executed for _, executed, transactions in seen)
    assert all(transactions <= executed for _, executed, transactions in seen)


def test_the_event_log_may_ask_for_the_head_as_soon_as_it_is_built(tmp_path: Path) -> None:
    """The stream's request thread asks for the head the moment the event log starts, before
    the node's constructor returns: the head is known by then, fresh or stored. A corrupt head
    closes what the node had opened."""
    asked: list[int | None] = []

    def event_log(store: Store, head: Callable[[], int | None]) -> NullEventLog:
        asked.append(head())
        return NullEventLog()

    settings = settings_at(tmp_path)
    with Node(settings, event_log=event_log) as node:
        node.apply(ChainCommitted(tuple(BLOCKS[:5])))
    with Node(settings, event_log=event_log):
        pass
    assert asked == [None, 4]

    # Another lattice hash stored for the head (the store's own layout, as a disk fault).
    with Store(tmp_path) as store, store._env.begin(write=True) as txn:
        txn.put(block_key(4), bytes(2048), db=store._db["lthash"])
    with pytest.raises(SourceError, match="is corrupt"):
        Node(settings, event_log=event_log)
    with Node(settings.model_copy(update={"data_dir": tmp_path / "other"})):
        pass  # the verifier and the plugins of the refused node were closed
