"""Plugins in an analyzer build what they build in the executor (issue 20, items 2 and 4).

An executor on the devnet (reorgs) runs `rag` itself and publishes over real loopback sockets;
an analyzer follows it with `rag` too. The analyzer starts late (it replays what it missed from
the executor's log), is stopped and restarted midway, and the executor itself is restarted
midway. At the same head both indexes hold the same LMDB databases byte for byte (documents,
vectors, terms, balances, ids) and answer the same exact queries with the same bytes.

The faults: an upstream whose log no longer reaches back to what the analyzer needs, an
upstream that does not log writes, and an upstream with another history: the analyzer stops
with an error naming what is missing and what to do, instead of indexing wrongly.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import clirun
import lmdb
import msgspec
import pytest
from anvil import Anvil
from chainbuilder import keypair
from streamkit import (
    AnalyzerThread,
    NodeThread,
    analyzer_settings,
    analyzer_with,
    free_endpoint,
    stream_settings,
    wait_until,
)
from test_rpc_source import SOL, deposit, inbox_call, pay, post, tip

from monmouth.core import inbox
from monmouth.core.config import Settings
from monmouth.core.errors import DataDirError, SourceError
from monmouth.core.payloads import AccountUpdate, BlockInfo
from monmouth.core.plugins import load_plugins
from monmouth.hooks import hookimpl
from monmouth.plugins.mev import MevStore
from monmouth.plugins.rag.index import RagIndex
from monmouth.roles.analyzer import POSITION_FILE, Analyzer, load_position

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DEVNET: dict[str, Any] = {
    "seed": 5,
    "txs_per_block": 16,
    "failure_rate": 0.1,
    "reorg_probability": 0.3,
    "reorg_max_depth": 3,
    "interval": 0.02,
}
QUERIES = ("failed transfer insufficient", "create account initialize mint", "mint to", "token")
RAG_DATABASES = (b"docs", b"vectors", b"sigs", b"terms", b"blocks", b"balances", b"meta")


def executor_settings(data_dir: Path, endpoint: str, **more: Any) -> Settings:
    """`stream_settings` on this module's devnet (reorgs), `more["devnet"]` over it."""
    devnet = {**DEVNET, **more.pop("devnet", {})}
    return stream_settings(data_dir, endpoint, devnet=devnet, **more)


def rag_databases(path: Path) -> dict[bytes, list[tuple[bytes, bytes]]]:
    """Every key and value of the rag index's LMDB databases."""
    env = lmdb.open(str(path / "rag"), readonly=True, lock=False, max_dbs=len(RAG_DATABASES))
    try:
        out: dict[bytes, list[tuple[bytes, bytes]]] = {}
        with env.begin() as txn:
            for name in RAG_DATABASES:
                db = env.open_db(name, txn=txn, create=False, dupsort=name == b"terms")
                out[name] = list(txn.cursor(db=db).iternext())
        return out
    finally:
        env.close()


def exact_answers(path: Path) -> list[bytes]:
    """The JSON of the exact queries (by brute force: no HNSW graph involved)."""
    with RagIndex(path / "rag", readonly=True) as index:
        return [
            json.dumps(
                [hit.to_json() for hit in index.query(text, k=8, exact=True)], sort_keys=True
            ).encode()
            for text in QUERIES
        ]


def test_rag_in_an_analyzer_builds_the_executors_index(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    rag = {"enable": ["rag"], "rag": {"worker_min": 8}}
    ex_settings = executor_settings(tmp_path / "executor", endpoint, plugins=rag)
    an_settings = analyzer_settings(tmp_path / "analyzer", endpoint, plugins=rag)
    reverted = 0

    executor = NodeThread(ex_settings, max_blocks=14)
    first: AnalyzerThread | None = None
    second: AnalyzerThread | None = None
    try:
        wait_until(lambda: executor.node.stats.blocks >= 6, what="the executor's first blocks")
        # Started late: it replays the executor's log from the start.
        first = AnalyzerThread(Analyzer(an_settings))
        wait_until(lambda: first is not None and first.analyzer.blocks >= 10, timeout=120)
        first.close()  # stopped midway: it resumes from the position it stored
        assert first.error is None
        position = load_position(tmp_path / "analyzer" / POSITION_FILE)
        assert position is not None and position.seq > 0  # (a revert's height may be lower)
        executor.join(120)
        reverted += executor.node.stats.reverted
        executor.close()  # the executor restarts too, with the same log
        executor = NodeThread(ex_settings, max_blocks=26)
        second = AnalyzerThread(Analyzer(an_settings))
        executor.join(180)
        reverted += executor.node.stats.reverted
        executor.node.plugins.drain()
        head = executor.node.stats.head
        assert head is not None
        assert reverted > 0, "the devnet made no reorg; pick another seed"
        wait_until(
            lambda: second is not None and second.analyzer.last_block == head,
            timeout=180,
            what="the analyzer reaching the executor's head",
        )
        assert second.error is None
        assert second.analyzer.gaps == 0
    finally:
        for one in (first, second):
            if one is not None:
                one.close()
        executor.close()

    ours, theirs = rag_databases(tmp_path / "analyzer"), rag_databases(tmp_path / "executor")
    assert len(theirs[b"docs"]) > 100
    for name in RAG_DATABASES:
        assert ours[name] == theirs[name], name.decode()
    assert exact_answers(tmp_path / "analyzer") == exact_answers(tmp_path / "executor")


def test_rag_after_an_analyzer_crash_indexes_nothing_twice(tmp_path: Path) -> None:
    """A crash loses the position stored since the last checkpoint: the analyzer replays
    blocks the index already holds, and rag skips them (here the whole log is replayed)."""
    endpoint = free_endpoint()
    rag = {"enable": ["rag"]}
    ex_settings = executor_settings(
        tmp_path / "executor", endpoint, plugins=rag, devnet={"reorg_probability": 0.0}
    )
    an_settings = analyzer_settings(tmp_path / "analyzer", endpoint, plugins=rag)
    executor = NodeThread(ex_settings, max_blocks=12)
    try:
        executor.join(120)
        head = executor.node.stats.head
        first = AnalyzerThread(Analyzer(an_settings))
        wait_until(lambda: first.analyzer.last_block == head, timeout=120)
        first.close()
        path = tmp_path / "analyzer" / POSITION_FILE
        stored = load_position(path)
        assert stored is not None and head is not None and stored.height == head.number
        # What a crash before the first checkpoint leaves: no position.
        path.unlink()
        second = AnalyzerThread(Analyzer(an_settings))
        wait_until(lambda: second.analyzer.last_block == head, timeout=120)
        second.close()
        assert second.error is None
        assert second.analyzer.blocks == head.number + 1  # every block handed over again
    finally:
        executor.close()
    ours, theirs = rag_databases(tmp_path / "analyzer"), rag_databases(tmp_path / "executor")
    for name in RAG_DATABASES:
        assert ours[name] == theirs[name], name.decode()


def test_monmouth_run_role_analyzer_with_rag(tmp_path: Path) -> None:
    """The command an operator runs: `monmouth run --role analyzer --upstream ...` with rag
    enabled, in a process of its own, stopped by SIGTERM and started again."""
    endpoint = free_endpoint()
    rag = {"enable": ["rag"]}
    ex_settings = executor_settings(tmp_path / "executor", endpoint, plugins=rag)
    data = tmp_path / "analyzer"
    command = ("run", "--role", "analyzer", "--upstream", endpoint, "--publish", "none")
    env = {
        **os.environ,  # conftest's: no monitoring or rpc listeners
        "MONMOUTH_PLUGINS__ENABLE": '["rag"]',
        "MONMOUTH_STORE__SYNC": "false",
    }

    def indexed() -> tuple[int, bytes] | None:
        try:
            with RagIndex(data / "rag", readonly=True) as index:
                return index.store.meta().head
        except DataDirError:  # not made yet, or the analyzer is making it
            return None

    def follow(blocks: int) -> None:
        executor = NodeThread(ex_settings, max_blocks=blocks)
        try:
            executor.join(120)
            executor.node.plugins.drain()
            head = executor.node.stats.head
            assert head is not None
            proc = clirun.spawn(
                *command, "--data-dir", str(data), env=env, stdout=subprocess.DEVNULL, stderr=None
            )
            try:
                wait_until(lambda: indexed() == (head.number, head.hash), timeout=120)
            finally:
                clirun.stop(proc)
        finally:
            executor.close()

    follow(8)
    follow(16)  # the executor and the analyzer restarted: 8 more blocks
    ours, theirs = rag_databases(data), rag_databases(tmp_path / "executor")
    for name in RAG_DATABASES:
        assert ours[name] == theirs[name], name.decode()


def mev_records(path: Path) -> list[bytes]:
    """Every block record the mev plugin stored, encoded, in height order."""
    with MevStore(path / "mev", readonly=True) as store:
        return [msgspec.msgpack.encode(r) for n in store.numbers() for r in store.at(n)]


def test_mev_in_an_analyzer_records_what_it_records_in_the_executor(
    anvil: Anvil, tmp_path: Path
) -> None:
    """The analyzer fetches each block's call traces from its own `[source] rpc_url` (the same
    anvil here): its records equal the executor's, across its restart and an L1 reorg."""
    alice, bob = keypair(1), keypair(2)
    deposit(anvil, alice.pubkey(), 50)
    for i in range(4):
        post(anvil, pay(alice, bob.pubkey(), SOL + i, tip(anvil).hash))
    endpoint = free_endpoint()
    source = {"kind": "rpc", "rpc_url": anvil.url, "poll_interval": 0.05}
    mev = {"enable": ["mev"]}
    ex_settings = stream_settings(tmp_path / "executor", endpoint, source=source, plugins=mev)
    an_settings = analyzer_settings(tmp_path / "analyzer", endpoint, plugins=mev, source=source)

    def following(blocks: int) -> NodeThread:
        # Until anvil's tip (a node on an rpc source waits for new heads, never for a stop).
        executor = NodeThread(ex_settings, max_blocks=blocks)
        executor.join(120)
        assert executor.node.head == tip(anvil)
        return executor

    first_tip = tip(anvil).number
    executor = following(first_tip + 1)
    analyzer: AnalyzerThread | None = None
    try:
        assert executor.node.plugins.wants_traces()
        analyzer = AnalyzerThread(Analyzer(an_settings))
        assert analyzer.analyzer.want_traces
        wait_until(lambda: analyzer is not None and analyzer.analyzer.blocks >= 3, timeout=120)
        analyzer.close()  # restarted below, after the reorg
        assert analyzer.error is None
        executor.close()
        # An L1 reorg of the last two blocks (one payment in the new branch), and one more.
        anvil.rpc(
            "anvil_reorg",
            2,
            [
                [
                    inbox_call(
                        inbox.encode_batch([pay(alice, bob.pubkey(), 7 * SOL, tip(anvil).hash)])
                    ),
                    1,
                ]
            ],
        )
        post(anvil, pay(alice, bob.pubkey(), 3 * SOL, tip(anvil).hash))
        executor = following(tip(anvil).number - first_tip + 2)  # blocks first_tip - 1 on
        assert executor.node.stats.reverted > 0
        analyzer = AnalyzerThread(Analyzer(an_settings))
        head = executor.node.head
        wait_until(
            lambda: analyzer is not None and analyzer.analyzer.head == head,
            timeout=120,
            what="the analyzer at the executor's head",
        )
        assert analyzer.analyzer.reverted > 0
        executor.node.plugins.drain()
    finally:
        if analyzer is not None:
            analyzer.close()
        executor.close()
    ours, theirs = mev_records(tmp_path / "analyzer"), mev_records(tmp_path / "executor")
    assert len(theirs) >= 6
    assert ours == theirs
    with MevStore(tmp_path / "analyzer" / "mev", readonly=True) as store:
        assert all(r.traced for n in store.numbers() for r in store.at(n))


def test_the_position_is_checkpointed_while_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While it runs, the analyzer stores the position the plugins had drained one checkpoint
    earlier, so that a crash replays at most two checkpoints' worth of blocks."""
    import monmouth.roles.analyzer as analyzer_module

    monkeypatch.setattr(analyzer_module, "CHECKPOINT_SECONDS", 0.3)
    endpoint = free_endpoint()
    ex_settings = executor_settings(tmp_path / "executor", endpoint, devnet={"seed": 3})
    an_settings = analyzer_settings(tmp_path / "analyzer", endpoint)
    path = tmp_path / "analyzer" / POSITION_FILE
    executor = NodeThread(ex_settings, max_blocks=6)
    try:
        executor.join(120)
        head = executor.node.stats.head
        assert head is not None
        running = AnalyzerThread(Analyzer(an_settings))
        try:
            wait_until(lambda: running.analyzer.last_block == head, timeout=60)
            # Never ahead of what the plugins ran; at the head within two checkpoints.
            wait_until(
                lambda: (p := load_position(path)) is not None and p.height == head.number,
                timeout=30,
            )
            saved = load_position(path)
            assert saved is not None and running.analyzer.position is not None
            assert saved.seq <= running.analyzer.position.seq
        finally:
            running.close()
        assert running.error is None
    finally:
        executor.close()


class Accounts:
    """A plugin that takes `update_accounts` (so the analyzer needs the writes)."""

    def __init__(self) -> None:
        self.blocks: list[int] = []

    @hookimpl
    def update_accounts(
        self, block: BlockInfo | None, updates: list[AccountUpdate], is_startup: bool
    ) -> None:
        if block is not None:
            self.blocks.append(block.number)


def test_an_analyzer_behind_the_log_says_what_is_missing(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    ex_settings = executor_settings(
        tmp_path / "executor", endpoint, stream={"keep_blocks": 4}, devnet={"seed": 3}
    )
    an_settings = analyzer_settings(tmp_path / "analyzer", endpoint)
    executor = NodeThread(ex_settings, max_blocks=6)
    try:
        executor.join(120)
        plugin = Accounts()
        running = AnalyzerThread(analyzer_with(an_settings, accounts=plugin))
        # The log holds the last 4 blocks only: a first run cannot see the chain's start.
        running.thread.join(60)
        assert not running.thread.is_alive()
        assert isinstance(running.error, SourceError)
        assert "its first block" in str(running.error)
        assert "keep_blocks" in str(running.error)
        assert plugin.blocks == []  # nothing handed over out of order
        running.analyzer.close()
    finally:
        executor.close()


def test_a_restarted_analyzer_behind_the_log_names_the_first_missing_height(
    tmp_path: Path,
) -> None:
    endpoint = free_endpoint()
    ex_settings = executor_settings(
        tmp_path / "executor",
        endpoint,
        stream={"keep_blocks": 3},
        devnet={"seed": 3, "reorg_probability": 0.0},
    )
    an_settings = analyzer_settings(tmp_path / "analyzer", endpoint)
    executor = NodeThread(ex_settings, max_blocks=5)
    try:
        plugin = Accounts()
        running = AnalyzerThread(analyzer_with(an_settings, accounts=plugin))
        executor.join(120)
        head = executor.node.stats.head
        assert head is not None
        wait_until(lambda: running.analyzer.last_block == head, timeout=60)
        running.close()
        assert running.error is None
        assert plugin.blocks == list(range(head.number + 1))
    finally:
        executor.close()
    # The executor goes on while the analyzer is down, further than its log keeps.
    executor = NodeThread(ex_settings, max_blocks=8)
    try:
        executor.join(120)
        again = AnalyzerThread(
            Analyzer(an_settings, plugins=load_plugins(an_settings, extra=[Accounts()]))
        )
        again.thread.join(60)
        assert not again.thread.is_alive()
        assert isinstance(again.error, SourceError)
        assert f"height {head.number + 1}" in str(again.error)
        again.analyzer.close()
    finally:
        executor.close()


def test_an_upstream_without_writes_is_refused(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    ex_settings = executor_settings(
        tmp_path / "executor", endpoint, stream={"writes": "never"}, devnet={"seed": 3}
    )
    an_settings = analyzer_settings(tmp_path / "analyzer", endpoint)
    executor = NodeThread(ex_settings, max_blocks=3)
    try:
        plugin = Accounts()
        running = AnalyzerThread(analyzer_with(an_settings, accounts=plugin))
        executor.join(120)
        running.thread.join(60)
        assert not running.thread.is_alive()
        assert isinstance(running.error, SourceError)
        assert 'writes = "always"' in str(running.error)
        assert plugin.blocks == []
        running.analyzer.close()
    finally:
        executor.close()


def test_an_analyzer_refuses_another_history(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    an_settings = analyzer_settings(tmp_path / "analyzer", endpoint)
    executor = NodeThread(
        executor_settings(tmp_path / "one", endpoint, devnet={"seed": 3}), max_blocks=3
    )
    try:
        running = AnalyzerThread(Analyzer(an_settings))
        executor.join(120)
        head = executor.node.stats.head
        wait_until(lambda: running.analyzer.last_block == head, timeout=60)
        running.close()
    finally:
        executor.close()
    # Another executor (a new data directory: a new log) at the same address.
    executor = NodeThread(
        executor_settings(tmp_path / "two", endpoint, devnet={"seed": 3}), max_blocks=1
    )
    try:
        executor.join(120)
        again = AnalyzerThread(Analyzer(an_settings))
        again.thread.join(60)
        assert isinstance(again.error, SourceError)
        assert "another history" in str(again.error)
        again.analyzer.close()
    finally:
        executor.close()
