"""The store's writer process (`core.storewriter`): a node whose group commits a child process
writes, while the next group executes, stores exactly what a node that writes them inline
stores; a child that dies stops the node with WriterError, reporting nothing it did not
confirm, and a restart continues to the same state; a child that fails says why."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import store_contents

from monmouth import bench
from monmouth.app import build_node
from monmouth.core import node as node_module
from monmouth.core.config import load_settings
from monmouth.core.errors import DataDirError, WriterError
from monmouth.core.l1 import L1Block
from monmouth.core.notifications import FinishedHeight
from monmouth.core.sources.replay import ReplaySource, write_replay
from monmouth.core.state import Store, wait_for_writer
from monmouth.core.storewriter import StoreWriter


@pytest.fixture(scope="module")
def blocks() -> list[L1Block]:
    # Transfers among few users: consecutive groups write the same accounts, so a group reads
    # what the group in flight wrote (the executor's sealed writes).
    return bench.generate("transfers", 1200, 40, 30)


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    # Groups of a few blocks: many groups, each executed while the one before is written.
    monkeypatch.setattr(node_module, "GROUP_TXS", 100)


def _contents(path: Path) -> dict[str, list[tuple[bytes, bytes]]]:
    with Store(path, readonly=True) as store:
        return store_contents(store)


def _run(blocks: list[L1Block], data: Path, writer: str, **settings: Any) -> tuple[list[int], Any]:
    replay = data.parent / "chain.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    write_replay(replay, blocks)
    finished: list[int] = []
    config = load_settings(None, data_dir=data, store={"sync": False, "writer": writer, **settings})
    with build_node(config, on_finished=lambda h: finished.append(h.block.number)) as node:
        stats = anyio.run(node.run, ReplaySource(replay))
    return finished, stats


@pytest.fixture
def inline(blocks: list[L1Block], tmp_path: Path) -> dict[str, list[tuple[bytes, bytes]]]:
    _run(blocks, tmp_path / "inline" / "data", "inline")
    return _contents(tmp_path / "inline" / "data")


@pytest.mark.usefixtures("small_groups")
def test_the_process_stores_what_inline_stores(
    blocks: list[L1Block], tmp_path: Path, inline: dict[str, list[tuple[bytes, bytes]]]
) -> None:
    finished, stats = _run(blocks, tmp_path / "process" / "data", "process")
    assert stats.commits > 5  # groups were in flight while others executed
    assert finished == sorted(finished) and finished[-1] == blocks[-1].number
    assert _contents(tmp_path / "process" / "data") == inline


@pytest.mark.usefixtures("small_groups")
def test_a_map_grown_by_the_child_is_adopted(
    blocks: list[L1Block], tmp_path: Path, inline: dict[str, list[tuple[bytes, bytes]]]
) -> None:
    # A 1 MiB map: the child doubles it several times while the node's process reads the
    # state (its background reads and the executor's) and writes finality between groups.
    data = tmp_path / "small" / "data"
    _run(blocks, data, "process", map_size_mb=1)
    with Store(data, readonly=True) as store:
        assert store.map_size > 1 << 20
    assert _contents(data) == inline


@pytest.fixture
def kill_at_second_result(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """SIGKILL the writer child before the node reads its answer for the second group."""
    killed: list[int] = []
    calls: list[StoreWriter] = []
    result = StoreWriter.result

    def killing(self: StoreWriter) -> list[int]:
        calls.append(self)
        if len(calls) == 2:
            os.kill(self.pid, signal.SIGKILL)
            killed.append(self.pid)
        return result(self)

    monkeypatch.setattr(StoreWriter, "result", killing)
    yield killed


@pytest.mark.usefixtures("small_groups")
def test_a_dead_child_stops_the_node_and_a_restart_continues(
    blocks: list[L1Block],
    tmp_path: Path,
    inline: dict[str, list[tuple[bytes, bytes]]],
    kill_at_second_result: list[int],
) -> None:
    data = tmp_path / "killed" / "data"
    replay = tmp_path / "killed" / "chain.jsonl"
    replay.parent.mkdir()
    write_replay(replay, blocks)
    config = load_settings(None, data_dir=data, store={"sync": False, "writer": "process"})
    finished: list[FinishedHeight] = []
    with (
        build_node(config, on_finished=finished.append) as node,
        pytest.raises(WriterError, match="writer process ended"),
    ):
        anyio.run(node.run, ReplaySource(replay))
    assert kill_at_second_result
    # Everything reported is stored (a group the child answered before it was killed was
    # committed, and is reported); nothing after the failure was.
    with Store(data, readonly=True) as store:
        head = store.head()
        assert head is not None
        assert finished and head.number >= finished[-1].block.number
        assert head.number < blocks[-1].number
    # Run again: it continues from the stored head to the state of an uninterrupted run.
    again, _ = _run(blocks, data, "process")
    assert again[-1] == blocks[-1].number
    assert _contents(data) == inline


def test_a_failure_in_the_child_is_reported(tmp_path: Path) -> None:
    with Store(tmp_path / "data", sync=False) as store:
        writer = StoreWriter(store)
        try:
            writer.submit([{"not": "a block"}])  # type: ignore[list-item]
            with pytest.raises(WriterError, match="failed to commit blocks"):
                writer.result()
            # The child goes on: the store is as it was, and the next group is taken.
            writer.submit([])
            assert writer.result() == []
            assert store.head() is None
        finally:
            writer.close()
        assert writer._process.returncode == 0


def test_the_child_ends_with_its_input(tmp_path: Path) -> None:
    with Store(tmp_path / "data", sync=False) as store:
        writer = StoreWriter(store)
        writer.submit([])
        assert writer.result() == []
        writer.close()
        assert writer._process.returncode == 0
        with pytest.raises(WriterError):
            writer.submit([])


def test_auto_writes_in_a_process_where_two_cpus_are_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert node_module.writer_process("process") and not node_module.writer_process("inline")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert not node_module.writer_process("auto")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert node_module.writer_process("auto")


def test_a_store_opened_for_writing_waits_for_a_live_writer(tmp_path: Path) -> None:
    # The writer of a node that was killed finishes the group it was sent, then ends: a node
    # started meanwhile on the directory must not read the head before that.
    data = tmp_path / "data"
    with Store(data, sync=False) as store:
        writer = StoreWriter(store)
        try:
            writer.submit([])  # the child is up and holds the lock
            assert writer.result() == []
            with pytest.raises(DataDirError, match="another process writes"):
                wait_for_writer(data, timeout=0.3)
        finally:
            writer.close()
        wait_for_writer(data, timeout=0.3)  # ended with the child
