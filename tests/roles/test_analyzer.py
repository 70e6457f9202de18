"""The analyzer: plugins fed from an executor's stream get what they get inside the executor."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from streamkit import (
    AnalyzerThread,
    analyzer_settings,
    analyzer_with,
    free_endpoint,
    stream_settings,
    wait_until,
)

from monmouth.app import build_node, make_source
from monmouth.core.config import Settings, load_settings
from monmouth.core.errors import ConfigError
from monmouth.core.node import Node
from monmouth.core.payloads import AccountUpdate, BlockInfo, TransactionInfo
from monmouth.core.plugins import PluginHalted, load_plugins
from monmouth.hooks import hookimpl
from monmouth.roles.analyzer import Analyzer
from monmouth.stream.subscriber import Subscriber


class Recorder:
    """Records every hook call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.nodes: list[object] = []

    @hookimpl
    def startup(self, node: object) -> None:
        self.nodes.append(node)
        self.calls.append(("startup", None))

    @hookimpl
    def end_of_startup(self, node: object) -> None:
        self.calls.append(("end_of_startup", None))

    @hookimpl
    def shutdown(self, node: object) -> None:
        self.calls.append(("shutdown", None))

    @hookimpl
    def update_accounts(
        self, block: BlockInfo | None, updates: list[AccountUpdate], is_startup: bool
    ) -> None:
        self.calls.append(("update_accounts", (block, list(updates), is_startup)))

    @hookimpl
    def notify_transactions(self, block: BlockInfo, transactions: list[TransactionInfo]) -> None:
        self.calls.append(("notify_transactions", (block, list(transactions))))

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        self.calls.append(("notify_block", block))

    @hookimpl
    def update_slot_status(self, slot: int, parent: int | None, status: str) -> None:
        self.calls.append(("update_slot_status", (slot, parent, status)))

    @hookimpl
    def revert_blocks(self, blocks: list[BlockInfo]) -> None:
        self.calls.append(("revert_blocks", list(blocks)))

    def hooks(self) -> list[str]:
        return [hook for hook, _ in self.calls]

    def of(self, hook: str) -> list[Any]:
        return [args for h, args in self.calls if h == hook]


class BlocksOnly:
    """A plugin that wants blocks only."""

    def __init__(self) -> None:
        self.blocks: list[int] = []

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        self.blocks.append(block.number)


class Boom:
    """Fails on the third block."""

    def __init__(self) -> None:
        self.seen = 0

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        self.seen += 1
        if self.seen == 3:
            raise RuntimeError("boom")


# ---------------------------------------------------------------------- helpers


def executor_settings(tmp_path: Path, endpoint: str, **devnet: Any) -> Settings:
    return stream_settings(
        tmp_path / "executor",
        endpoint,
        stream={"instance": "executor"},
        devnet={"txs_per_block": 8, **devnet},
    )


def follower_settings(
    tmp_path: Path, upstream: str, publish: str | None = None, **more: Any
) -> Settings:
    return analyzer_settings(
        tmp_path / "analyzer", upstream, publish, stream={"instance": "analyzer"}, **more
    )


def run_node(node: Node, blocks: int) -> None:
    anyio.run(functools.partial(node.run, make_source(node.settings), max_blocks=blocks))


# ---------------------------------------------------------------------- tests


def test_analyzer_needs_one_upstream(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="upstream"):
        Analyzer(settings)
    two = load_settings(
        None,
        data_dir=settings.data_dir,
        stream={"upstream": ["tcp://127.0.0.1:1", "tcp://127.0.0.1:3"]},
    )
    with pytest.raises(ConfigError, match="one executor"):
        Analyzer(two)


def test_analyzer_matches_the_executor(tmp_path: Path) -> None:
    endpoint, own = free_endpoint(), free_endpoint()
    settings = executor_settings(tmp_path, endpoint, reorg_probability=0.3, interval=0.02)
    inside = Recorder()
    node = build_node(settings, plugins=load_plugins(settings, extra=[("rec", inside)]))
    try:
        an_settings = follower_settings(tmp_path, endpoint, own)
        outside = Recorder()
        analyzer = analyzer_with(an_settings, rec=outside)
        assert outside.nodes == [analyzer]
        assert outside.hooks() == ["startup", "end_of_startup"]
        assert sorted(analyzer.kinds) == ["block", "revert", "slot", "transaction", "writes"]
        heartbeats = Subscriber(own, kinds=["heartbeat"])
        running = AnalyzerThread(analyzer)
        try:
            wait_until(analyzer.joined.is_set)
            run_node(node, 40)
            node.plugins.drain()
            head = node.stats.head
            assert head is not None
            assert node.stats.reverted > 0  # the test covers reverts
            wait_until(lambda: analyzer.last_block == head)
            assert analyzer.head is not None and analyzer.head.hash == head.hash
            assert running.error is None
            # Its heartbeats report the executor's head (earlier ones may be of another fork).
            deadline = time.monotonic() + 60  # a bound, not a measure: a loaded CI machine
            while True:
                assert time.monotonic() < deadline
                msg = heartbeats.receive(0.3)
                if msg is not None and msg.body.head_hash == "0x" + head.hash.hex():
                    assert msg.body.instance == "analyzer"
                    assert msg.body.role == "analyzer"
                    assert msg.body.head == head.number
                    assert msg.body.state_hash == head.state_hash
                    break
        finally:
            running.stop()
            heartbeats.close()
            analyzer.close()
            analyzer.close()  # idempotent
        assert running.error is None
        assert outside.hooks()[-1] == "shutdown"
    finally:
        node.close()

    # The same hooks, in the same order (but one revert_blocks call per reverted block).
    def sequence(rec: Recorder) -> list[str]:
        out: list[str] = []
        for hook, args in rec.calls:
            if hook == "revert_blocks":
                out += ["revert_blocks"] * len(args)
            elif hook not in ("startup", "end_of_startup", "shutdown"):
                out.append(hook)
        return out

    assert sequence(outside) == sequence(inside)
    assert outside.of("notify_block") == inside.of("notify_block")
    assert outside.of("update_slot_status") == inside.of("update_slot_status")
    assert outside.of("notify_transactions") == inside.of("notify_transactions")
    reverted_inside = [b for blocks in inside.of("revert_blocks") for b in blocks]
    reverted_outside = [b for blocks in outside.of("revert_blocks") for b in blocks]
    assert reverted_outside == reverted_inside
    assert all(len(blocks) == 1 for blocks in outside.of("revert_blocks"))
    assert analyzer.reverted == len(reverted_inside) > 0
    assert analyzer.blocks == len(inside.of("notify_block"))

    # Accounts: every write, as the executor called update_accounts (signature, write version).
    ins, outs = inside.of("update_accounts"), outside.of("update_accounts")
    assert len(ins) > 0
    assert outs == ins
    assert any(u.signature is not None for _, updates, _ in outs for u in updates)
    assert analyzer.accounts == sum(len(updates) for _, updates, _ in outs)


def test_analyzer_subscribes_to_what_plugins_need(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    settings = executor_settings(tmp_path, endpoint)
    node = build_node(settings)
    try:
        an_settings = follower_settings(tmp_path, endpoint)
        plugin = BlocksOnly()
        analyzer = Analyzer(an_settings, plugins=load_plugins(an_settings, extra=[plugin]))
        assert analyzer.kinds == ["block", "slot", "revert"]
        running = AnalyzerThread(analyzer)
        try:
            wait_until(analyzer.joined.is_set)
            run_node(node, 10)
            wait_until(lambda: analyzer.blocks == 10)
        finally:
            running.stop()
            analyzer.close()
        assert running.error is None
        assert plugin.blocks == list(range(10))
        assert analyzer.transactions == analyzer.accounts == 0  # never sent
    finally:
        node.close()


def test_a_halting_plugin_stops_the_analyzer(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    settings = executor_settings(tmp_path, endpoint)
    node = build_node(settings)
    try:
        an_settings = follower_settings(tmp_path, endpoint, plugins={"boom": {"on_error": "halt"}})
        plugin = Boom()
        analyzer = analyzer_with(an_settings, boom=plugin)
        running = AnalyzerThread(analyzer)
        try:
            wait_until(analyzer.joined.is_set)
            run_node(node, 6)
            running.thread.join(60)
            assert not running.thread.is_alive()
        finally:
            running.stop()
            analyzer.close()
        assert isinstance(running.error, PluginHalted)
        assert running.error.plugin == "boom"
        assert plugin.seen >= 3
    finally:
        node.close()
