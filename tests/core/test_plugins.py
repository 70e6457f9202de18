"""The plugin host on a real node: sync and async hooks, payloads, ordering, slow plugins,
failure policies, routing errors, unknown hooks, plugin tables, the startup snapshot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from pydantic import BaseModel

from monmouth.app import build_node
from monmouth.core import dispatch
from monmouth.core.config import Settings, StreamSettings, load_settings
from monmouth.core.errors import ConfigError
from monmouth.core.node import Node
from monmouth.core.payloads import AccountUpdate, BlockInfo, TransactionInfo
from monmouth.core.plugins import PluginHalted, instantiate, load_plugins
from monmouth.devnet import DevnetSource
from monmouth.hooks import hookimpl
from monmouth.rust_svm.accounts import AccountRecord

# One SDK meter provider for this test process: the plugin host's instruments report to it.
metric_reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[metric_reader]))


def make_settings(tmp_path: Path, **plugins: Any) -> Settings:
    return load_settings(
        None, data_dir=tmp_path / "data", store={"sync": False}, plugins=plugins or {}
    )


def run(settings: Settings, plugins: list[object | tuple[str, object]], blocks: int) -> Node:
    node = build_node(settings, plugins=load_plugins(settings, extra=plugins))
    try:
        source = DevnetSource(settings.devnet, settings.inbox.address_bytes)
        anyio.run(lambda: node.run(source, max_blocks=blocks))
    finally:
        node.close()
    return node


class Recorder:
    """Sync and async implementations of the result hooks, recording what they get."""

    def __init__(self) -> None:
        self.blocks: list[int] = []
        self.transactions: list[TransactionInfo] = []
        self.updates: list[tuple[int, AccountUpdate]] = []
        self.slots: list[tuple[int, str]] = []
        self.lifecycle: list[str] = []

    @hookimpl
    def startup(self, node: Node) -> None:
        self.lifecycle.append("startup")

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        self.blocks.append(block.number)

    @hookimpl
    async def notify_transactions(
        self, block: BlockInfo, transactions: list[TransactionInfo]
    ) -> None:
        await asyncio.sleep(0)
        self.transactions.extend(transactions)

    @hookimpl
    async def update_accounts(
        self, block: BlockInfo | None, updates: list[AccountUpdate], is_startup: bool
    ) -> None:
        assert block is not None and not is_startup
        self.updates.extend((block.number, u) for u in updates)

    @hookimpl
    def update_slot_status(self, slot: int, parent: int | None, status: str) -> None:
        self.slots.append((slot, status))

    @hookimpl
    def shutdown(self, node: Node) -> None:
        self.lifecycle.append("shutdown")


def test_hooks_get_every_block_transaction_and_write_in_order(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    recorder = Recorder()
    node = run(settings, [recorder], blocks=40)
    assert recorder.lifecycle == ["startup", "shutdown"]
    assert recorder.blocks == list(range(40))
    assert recorder.slots == [(n, "processed") for n in range(40)]
    statuses = {t.status for t in recorder.transactions}
    assert statuses == {"ok", "failed", "rejected"}
    assert len(recorder.transactions) == node.stats.transactions
    # Write versions increase within a block; the last write of each account is the stored one.
    last: dict[bytes, AccountUpdate] = {}
    for number in range(40):
        versions = [u.write_version for n, u in recorder.updates if n == number]
        assert versions == sorted(versions) == list(range(len(versions)))
    for _, update in recorder.updates:
        last[update.pubkey] = update
    with node.store.__class__(settings.data_dir, readonly=True) as store:
        for pubkey, update in last.items():
            raw = store.account(pubkey)
            if update.lamports == 0:
                assert raw is None
            else:
                assert raw is not None
                assert AccountRecord.decode(raw).lamports == update.lamports
    signed = [u for _, u in recorder.updates if u.signature is not None]
    assert signed and any(u.signature is None for _, u in recorder.updates)  # deposits


def test_no_payloads_when_no_plugin_asks(tmp_path: Path) -> None:
    # The stream's replay log needs the transactions; without it and without plugins, nothing.
    settings = make_settings(tmp_path).model_copy(
        update={"stream": StreamSettings(publish=None, keep_blocks=0)}
    )
    with build_node(settings) as node:
        assert not node.executor.want_updates and not node.executor.want_transactions
    with build_node(make_settings(tmp_path)) as node:
        assert not node.executor.want_updates and node.executor.want_transactions


class Slow:
    def __init__(self) -> None:
        self.blocks: list[int] = []

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        # Slower than the node per block even on a loaded machine (at 20 ms, a node slowed by
        # other work could keep behind it, and the queue never filled).
        time.sleep(0.1)
        self.blocks.append(block.number)


def test_a_slow_plugin_makes_the_node_wait_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch, "BEHIND_WARNING", 0.001)
    settings = make_settings(tmp_path, slow={"queue_size": 1})
    slow = Slow()
    node = run(settings, [("slow", slow)], blocks=12)
    assert slow.blocks == list(range(12))
    assert node.plugins.states["slow"].behind > 0
    # ... and the metric names it.
    data = metric_reader.get_metrics_data()
    assert data is not None
    points = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "monmouth_plugin_behind"
        for point in metric.data.data_points
    ]
    assert any(
        isinstance(p, NumberDataPoint) and p.attributes == {"plugin": "slow"} and p.value > 0
        for p in points
    )


class Fails:
    def __init__(self, at: int) -> None:
        self.at = at
        self.seen: list[int] = []

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        self.seen.append(block.number)
        if block.number == self.at:
            raise RuntimeError("boom")


@pytest.mark.parametrize(("policy", "expected"), [("log", 10), ("disable", 4)])
def test_failure_policies_log_and_disable(tmp_path: Path, policy: str, expected: int) -> None:
    settings = make_settings(tmp_path, flaky={"on_error": policy})
    flaky = Fails(at=3)
    node = run(settings, [("flaky", flaky)], blocks=10)
    assert len(flaky.seen) == expected
    assert node.stats.blocks == 10  # the node carried on
    state = node.plugins.states["flaky"]
    assert state.errors == 1 and state.disabled == (policy == "disable")


def test_halt_policy_stops_after_the_block(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, strict={"on_error": "halt"})
    strict = Fails(at=3)
    with pytest.raises(PluginHalted, match="strict") as info:
        run(settings, [("strict", strict)], blocks=10)
    assert info.value.plugin == "strict"
    with build_node(make_settings(tmp_path)) as node:
        head = node.head
        # Block 3 is durable; the node stopped no later than the block after it was reported.
        assert head is not None and 3 <= head.number <= 4


class BadRouter:
    @hookimpl(tryfirst=True)
    def route_transaction(self, tx: Any, block: Any) -> bytes | None:
        raise ValueError("cannot route")


def test_routing_errors_always_halt(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, router={"on_error": "log"})
    with pytest.raises(PluginHalted, match="route_transaction raised ValueError"):
        run(settings, [("router", BadRouter())], blocks=3)


class Typo:
    @hookimpl
    def notify_blocks(self, block: BlockInfo) -> None:
        pass


def test_an_unknown_hook_is_an_error_naming_the_plugin(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(ConfigError, match=r"typo.*notify_blocks"):
        load_plugins(settings, extra=[("typo", Typo())])


class Every(BaseModel):
    every: int = 1


class Configured:
    config_model = Every

    def __init__(self, settings: Settings, config: Every) -> None:
        self.config = config


def test_plugin_tables_are_validated_by_the_plugin(tmp_path: Path) -> None:
    good = make_settings(tmp_path, configured={"every": 5, "on_error": "log"})
    plugin = instantiate("configured", Configured, good)
    assert isinstance(plugin, Configured) and plugin.config.every == 5
    bad = make_settings(tmp_path, configured={"every": "often"})
    with pytest.raises(ConfigError, match=r"\[plugins.configured\] every"):
        instantiate("configured", Configured, bad)
    with pytest.raises(ConfigError, match="unknown plugin"):
        load_plugins(make_settings(tmp_path, nobody={"on_error": "log"}))


class NoArguments:
    def __init__(self) -> None:
        pass


class Fussy:
    config_model = Every

    def __init__(self, settings: Settings, config: Every) -> None:
        raise TypeError("Fussy wants a Mapping")


def test_a_constructor_that_does_not_fit_is_one_config_error(tmp_path: Path) -> None:
    """`Plugin(settings)` or `Plugin(settings, config)` that raises TypeError: one line naming
    the plugin, not a traceback."""
    settings = make_settings(tmp_path)
    with pytest.raises(ConfigError) as caught:
        instantiate("x", NoArguments, settings)
    assert str(caught.value) == (
        "plugin 'x' cannot be built: NoArguments.__init__() takes 1 positional argument but 2 "
        "were given"
    )
    with pytest.raises(ConfigError, match=r"^plugin 'fussy' cannot be built: Fussy wants"):
        instantiate("fussy", Fussy, settings)


class Snapshot:
    wants_startup_snapshot = True

    def __init__(self) -> None:
        self.snapshot: dict[bytes, int] = {}
        self.events: list[str] = []

    @hookimpl
    def update_accounts(
        self, block: BlockInfo | None, updates: list[AccountUpdate], is_startup: bool
    ) -> None:
        if is_startup:
            self.events.append("snapshot")
            self.snapshot.update((u.pubkey, u.lamports) for u in updates)

    @hookimpl
    def end_of_startup(self, node: Node) -> None:
        self.events.append("end_of_startup")


def test_startup_snapshot_then_end_of_startup(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    run(settings, [], blocks=8)
    plugin = Snapshot()
    with build_node(settings, plugins=load_plugins(settings, extra=[plugin])) as node:
        stored = {k: AccountRecord.decode(v).lamports for k, v in node.store.iter_accounts()}
    assert plugin.snapshot == stored and len(stored) > 5
    assert plugin.events[-1] == "end_of_startup" and plugin.events[0] == "snapshot"


class TxOnlyRouter:
    """A router that takes only the argument it needs, as pluggy allows."""

    @hookimpl(tryfirst=True)
    def route_transaction(self, tx: Any) -> bytes | None:
        return None


def test_hook_implementations_may_take_fewer_arguments(tmp_path: Path) -> None:
    node = run(make_settings(tmp_path), [TxOnlyRouter()], blocks=5)
    assert node.stats.ok > 0  # the built-in router still routes after it


class AsyncRouter:
    @hookimpl
    async def route_transaction(self, tx: Any, block: Any) -> bytes | None:
        return None


class BadArgs:
    @hookimpl
    def notify_block(self, blok: BlockInfo) -> None:
        pass


def test_unfit_implementations_are_config_errors(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(ConfigError, match="must be a plain function"):
        load_plugins(settings, extra=[("async-router", AsyncRouter())])
    with pytest.raises(ConfigError, match="bad-args"):
        load_plugins(settings, extra=[("bad-args", BadArgs())])
