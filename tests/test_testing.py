"""The pytest plugin for plugin authors (monmouth/testing.py), used as they use it."""

from __future__ import annotations

from pathlib import Path

import clirun
import pytest
from pydantic import BaseModel

from monmouth.core.config import Settings
from monmouth.core.errors import ConfigError
from monmouth.core.node import Node
from monmouth.core.payloads import AccountUpdate, BlockInfo, TransactionInfo
from monmouth.core.plugins import PluginHalted
from monmouth.core.sources.replay import write_replay
from monmouth.core.state import Store
from monmouth.devnet import DevnetChain
from monmouth.hooks import hookimpl
from monmouth.testing import MonmouthRunner


class Recorder:
    """Records the hooks it gets, in the order it gets them."""

    wants_startup_snapshot = True

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.blocks: list[int] = []
        self.transactions = 0
        self.reverted: list[int] = []
        self.snapshot: list[AccountUpdate] = []
        self.snapshot_block: BlockInfo | None = None

    @hookimpl
    def startup(self, node: Node) -> None:
        self.calls.append("startup")

    @hookimpl
    def end_of_startup(self, node: Node) -> None:
        self.calls.append("end_of_startup")

    @hookimpl
    def update_accounts(
        self, block: BlockInfo | None, updates: list[AccountUpdate], is_startup: bool
    ) -> None:
        if is_startup:
            self.snapshot.extend(updates)
            self.snapshot_block = block

    @hookimpl
    async def notify_transactions(
        self, block: BlockInfo, transactions: list[TransactionInfo]
    ) -> None:
        self.transactions += len(transactions)

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        self.blocks.append(block.number)

    @hookimpl
    def revert_blocks(self, blocks: list[BlockInfo]) -> None:
        self.reverted.extend(b.number for b in blocks)

    @hookimpl
    def shutdown(self, node: Node) -> None:
        self.calls.append("shutdown")


def test_settings_fixture(monmouth_settings: Settings, tmp_path: Path) -> None:
    assert monmouth_settings.data_dir.parent == tmp_path
    assert monmouth_settings.store.sync is False


def test_run_on_the_devnet(monmouth_run: MonmouthRunner) -> None:
    recorder = Recorder()
    run = monmouth_run(recorder, blocks=5)
    assert run.plugin is recorder
    assert recorder.calls == ["startup", "end_of_startup", "shutdown"]
    assert recorder.blocks == [0, 1, 2, 3, 4]
    assert run.head is not None and run.head.number == 4
    assert run.stats.blocks == 5 and recorder.transactions == run.stats.transactions > 0
    assert run.failures == ()
    with Store(run.data_dir, readonly=True) as store:
        head = store.head_id()
        assert head is not None and head.number == 4


def test_devnet_settings_and_reverts(monmouth_run: MonmouthRunner) -> None:
    recorder = Recorder()
    run = monmouth_run(recorder, blocks=40, seed=3, reorg_probability=0.3, txs_per_block=4)
    assert run.settings.devnet.seed == 3
    assert run.stats.reverted > 0
    assert len(recorder.reverted) == run.stats.reverted


def test_continuing_a_data_dir_delivers_the_startup_snapshot(
    monmouth_run: MonmouthRunner,
) -> None:
    first = monmouth_run(Recorder(), blocks=3)
    recorder = Recorder()
    second = monmouth_run(recorder, blocks=2, data_dir=first.data_dir)
    with Store(first.data_dir, readonly=True) as store:
        accounts = sum(1 for _ in store.iter_accounts())
    assert recorder.snapshot_block is not None and recorder.snapshot_block.number == 2
    assert len(recorder.snapshot) > 0 and all(u.signature is None for u in recorder.snapshot)
    # The snapshot is of the state at start-up: the second run then changed or added accounts.
    assert 0 < len(recorder.snapshot) <= accounts
    assert recorder.blocks == [3, 4] and second.head is not None and second.head.number == 4


def test_replay_file_to_its_end(
    monmouth_run: MonmouthRunner, monmouth_settings: Settings, tmp_path: Path
) -> None:
    chain = DevnetChain(monmouth_settings.devnet, monmouth_settings.inbox.address_bytes)
    for _ in range(6):
        chain.next_event()
    replay = tmp_path / "chain.jsonl"
    write_replay(replay, chain.canonical())
    recorder = Recorder()
    run = monmouth_run(recorder, blocks=None, replay_file=replay)
    assert run.settings.source.kind == "replay"
    assert run.head is not None and run.head.hash == chain.tip.hash
    assert recorder.blocks == list(range(chain.tip.number + 1))


class Every(BaseModel):
    every: int = 1


class Configured:
    config_model = Every

    def __init__(self, settings: Settings, config: Every) -> None:
        self.every = config.every
        self.printed: list[int] = []

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        if block.number % self.every == 0:
            self.printed.append(block.number)


def test_a_class_is_instantiated_with_its_validated_config(
    monmouth_run: MonmouthRunner,
) -> None:
    run = monmouth_run(Configured, blocks=5, config={"every": 2})
    assert isinstance(run.plugin, Configured) and run.plugin.printed == [0, 2, 4]
    with pytest.raises(ConfigError, match=r"\[plugins.plugin\] every"):
        monmouth_run(Configured, blocks=1, config={"every": "often"})
    with pytest.raises(ConfigError, match="takes no settings"):
        monmouth_run(Fails, blocks=1, config={"every": 2})


class Fails:
    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        if block.number == 2:
            raise RuntimeError("no good")


def test_a_failing_plugin_fails_the_test_unless_unchecked(monmouth_run: MonmouthRunner) -> None:
    with pytest.raises(pytest.fail.Exception, match="RuntimeError: no good"):
        monmouth_run(Fails(), blocks=4)
    run = monmouth_run(Fails(), blocks=4, check=False)
    (failure,) = run.failures
    assert failure.hook == "notify_block" and failure.policy == "disable"
    assert "no good" in failure.traceback
    assert run.stats.blocks == 4  # the node carried on without the plugin


def test_the_table_sets_the_failure_policy(monmouth_run: MonmouthRunner) -> None:
    with pytest.raises(PluginHalted, match="'strict' halted the node"):
        monmouth_run(Fails(), blocks=10, name="strict", config={"on_error": "halt"})
    run = monmouth_run(Fails(), blocks=4, check=False, config={"on_error": "log"})
    assert [f.policy for f in run.failures] == ["log"]


def test_the_devnet_needs_a_block_limit(monmouth_run: MonmouthRunner) -> None:
    with pytest.raises(ValueError, match="never ends"):
        monmouth_run(Recorder(), blocks=None)


def test_importing_the_pytest_plugin_imports_no_part_of_the_node() -> None:
    # pytest imports it in every run of every suite in the environment (entry point `pytest11`).
    code = "import sys, monmouth.testing; print(sorted(m for m in sys.modules if 'monmouth.' in m))"
    out = clirun.python("-c", code, timeout=60, code=0).stdout
    assert out.strip() == "['monmouth.testing']"
