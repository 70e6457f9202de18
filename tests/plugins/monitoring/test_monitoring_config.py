"""The monitoring plugin's configuration and readiness rules, without a running node: the
`[plugins.monitoring]` table (file, environment), readiness checks, the SLA window, the
histogram bucket arithmetic, and what `monmouth top` makes of what instances answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint

from monmouth.core.config import load_settings
from monmouth.core.errors import ConfigError
from monmouth.core.plugins import instantiate, load_plugins
from monmouth.plugins import monitoring
from monmouth.plugins.monitoring.config import DEFAULT_ADDRESS, parse_address
from monmouth.plugins.monitoring.health import Check, L1Probe, Sla, SlaWindow, evaluate
from monmouth.plugins.monitoring.meters import _at_most
from monmouth.plugins.monitoring.top import Sample, build_views, normalize

STORE_OK = Check("store_writable", True, "writable")
NO_SLA = Sla(1.0, 300.0, 0, 0, None)


def plugin_for(table: dict[str, object]) -> monitoring.Plugin:
    settings = load_settings(None, plugins={"monitoring": table})
    plugin = instantiate("monitoring", monitoring, settings)
    assert isinstance(plugin, monitoring.Plugin)
    return plugin


def test_defaults_and_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite turns the server off through this variable (tests/conftest.py).
    monkeypatch.delenv("MONMOUTH_PLUGINS__MONITORING__ADDRESS", raising=False)
    plugin = plugin_for({})
    assert plugin.config.address == DEFAULT_ADDRESS == "127.0.0.1:9464"
    assert plugin.config.otlp_endpoint is None
    tuned = plugin_for({"address": "0.0.0.0:9100", "max_lag_blocks": 2, "otlp_endpoint": "none"})
    assert tuned.config.address == "0.0.0.0:9100"
    assert tuned.config.max_lag_blocks == 2
    assert tuned.config.otlp_endpoint is None
    for off in ("none", "off", "", "NONE"):
        assert plugin_for({"address": off}).config.address is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONMOUTH_PLUGINS__MONITORING__ADDRESS", "127.0.0.1:19999")
    monkeypatch.setenv("MONMOUTH_PLUGINS__MONITORING__SLA_TARGET_SECONDS", "0.25")
    plugin = instantiate("monitoring", monitoring, load_settings(None))
    assert isinstance(plugin, monitoring.Plugin)
    assert plugin.config.address == "127.0.0.1:19999"
    assert plugin.config.sla_target_seconds == 0.25


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"address": "9464"}, r"\[plugins.monitoring\] address: .*HOST:PORT"),
        ({"address": "localhost:http"}, r"\[plugins.monitoring\] address: .*not a number"),
        ({"address": "localhost:70000"}, r"\[plugins.monitoring\] address: .*0 to 65535"),
        ({"adress": "localhost:1"}, r"\[plugins.monitoring\] adress: Extra inputs"),
        ({"otlp_endpoint": "grpc://x:4317"}, r"\[plugins.monitoring\] otlp_endpoint"),
        ({"sla_target_seconds": 0}, r"\[plugins.monitoring\] sla_target_seconds"),
    ],
)
def test_invalid_tables_are_config_errors(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plugin_for(table)


def test_addresses() -> None:
    assert parse_address("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_address("[::1]:0") == ("::1", 0)
    assert parse_address("metrics.local:9100") == ("metrics.local", 9100)


def test_on_by_default_and_disable_able(tmp_path: Path) -> None:
    assert load_plugins(load_settings(None)).get_plugin("monitoring") is not None
    off = load_plugins(load_settings(None, plugins={"disable": ["monitoring"]}))
    assert off.get_plugin("monitoring") is None
    assert off.get_plugin("routing") is not None


def test_the_constructor_binds_nothing() -> None:
    # The CLI builds enabled plugins to find their commands: building must not take the port.
    first = plugin_for({"address": "127.0.0.1:9464"})
    second = plugin_for({"address": "127.0.0.1:9464"})
    assert first.server is None and second.server is None and first.node is None


# ---------------------------------------------------------------------------- readiness


def probe(head: int | None, error: str | None = None) -> L1Probe:
    return L1Probe(0.0, head, None if head is None else 1_700_000_000, error)


def test_a_local_source_is_ready_when_the_store_is_and_nothing_halted() -> None:
    ready = evaluate(
        local_source=True,
        head=None,
        l1_head=None,
        probe=None,
        max_lag=0,
        store=STORE_OK,
        halted=None,
        sla=NO_SLA,
    )
    assert ready.ready and ready.reasons == ()
    assert [c.name for c in ready.checks] == list(monitoring.health.CHECKS)


def test_lag_within_the_limit_and_beyond() -> None:
    def at(head: int, l1_head: int) -> tuple[bool, tuple[str, ...]]:
        r = evaluate(
            local_source=False,
            head=head,
            l1_head=l1_head,
            probe=probe(l1_head),
            max_lag=8,
            store=STORE_OK,
            halted=None,
            sla=NO_SLA,
        )
        return r.ready, r.reasons

    assert at(92, 100) == (True, ())
    ready, reasons = at(91, 100)
    assert not ready and reasons == ("9 block(s) behind the L1 head #100 (at most 8)",)
    assert at(105, 100)[0]  # ahead of a stale L1 head: not behind


def test_unreachable_unknown_unwritable_halted_each_give_a_reason() -> None:
    r = evaluate(
        local_source=False,
        head=10,
        l1_head=None,
        probe=probe(None, "connection refused"),
        max_lag=8,
        store=Check("store_writable", False, "the data directory /x is not writable"),
        halted=("indexer", "notify_block raised ValueError: boom"),
        sla=NO_SLA,
    )
    assert not r.ready
    assert r.reasons == (
        "the L1 node's head is not known yet",
        "the L1 node is unreachable: connection refused",
        "the data directory /x is not writable",
        "plugin 'indexer' halted the node: notify_block raised ValueError: boom",
    )
    never = evaluate(
        local_source=False,
        head=10,
        l1_head=10,
        probe=None,
        max_lag=8,
        store=STORE_OK,
        halted=None,
        sla=NO_SLA,
    )
    assert never.reasons == ("the L1 node was not probed yet",)


def test_the_sla_window_slides() -> None:
    window = SlaWindow(target=1.0, window=10.0)
    assert window.sla().share is None  # one sample or none: no interval yet
    window.add(0.0, 0, 0)
    assert window.sla() == Sla(1.0, 10.0, 0, 0, None)
    window.add(5.0, 10, 9)
    assert window.sla() == Sla(1.0, 10.0, 10, 9, 0.9)
    window.add(10.0, 20, 19)
    assert window.sla().share == 19 / 20
    # At 16 the sample of 0 left the window; the one of 5 is its start.
    window.add(16.0, 30, 29)
    assert window.sla() == Sla(1.0, 10.0, 20, 20, 1.0)
    window.add(40.0, 30, 29)  # nothing committed in the window
    assert window.sla().share is None


def test_on_time_is_a_cumulative_bucket_count() -> None:
    point = HistogramDataPoint(
        attributes={},
        start_time_unix_nano=0,
        time_unix_nano=0,
        count=10,
        sum=5.0,
        bucket_counts=[1, 2, 3, 4],
        explicit_bounds=[0.1, 0.5, 1.0],
        min=0.0,
        max=3.0,
        exemplars=[],
    )
    assert _at_most(point, 0.1) == 1
    assert _at_most(point, 0.5) == 3
    assert _at_most(point, 1.0) == 6  # the +Inf bucket (4) is above the target


# ---------------------------------------------------------------------------- monmouth top


def status(
    head: int, state_hash: str, checkpoint: tuple[int, str, str] | None, block_hash: str = "0x00"
) -> dict[str, object]:
    return {
        "instance": f"node-{head}",
        "head": {"number": head, "hash": block_hash, "state_hash": state_hash, "timestamp": 0},
        "l1_head": head + 1,
        "lag_blocks": 1,
        "lag_seconds": 12.0,
        "counts": {"transactions": {"ok": 5, "failed": 1, "rejected": 0}},
        "plugins": [
            {"name": "routing", "queue_depth": 0},
            {"name": "monitoring", "queue_depth": 3},
        ],
        "checkpoint": (
            None
            if checkpoint is None
            else dict(zip(("height", "block_hash", "state_hash"), checkpoint, strict=True))
        ),
        "readiness": {"ready": False, "reasons": ["1 block(s) behind"], "sla": {"share": 0.5}},
    }


def test_top_rates_and_disagreements() -> None:
    before = [
        Sample("http://a", 0.0, status(10, "AAA", (8, "0x08", "X")), 100.0, 10.0, None),
        Sample("http://b", 0.0, status(9, "BBB", (8, "0x08", "X")), 100.0, 9.0, None),
        Sample("http://c", 0.0, None, None, None, "ConnectError: refused"),
    ]
    after = [
        Sample("http://a", 2.0, status(12, "AAA", (8, "0x08", "X")), 300.0, 12.0, None),
        Sample("http://b", 2.0, status(12, "CCC", (8, "0x08", "X")), 140.0, 12.0, None),
        Sample("http://c", 2.0, None, None, None, "ConnectError: refused"),
    ]
    first = build_views(before, None)
    assert first[0].tps is None and not any(v.disagrees for v in first)
    a, b, c = build_views(after, before)
    assert a.tps == 100.0 and a.blocks_per_second == 1.0
    assert b.tps == 20.0
    assert a.head == b.head == 12 and a.disagrees and b.disagrees  # AAA vs CCC after block 12
    assert a.plugin_queues == {"routing": 0, "monitoring": 3}
    assert a.ready is False and a.reasons == ("1 block(s) behind",) and a.sla_share == 0.5
    assert not c.up and c.error == "ConnectError: refused"
    # At a checkpoint, the same; and two sides of a reorg (other block hashes) do not disagree.
    split = [
        Sample("http://a", 4.0, status(13, "AAA", (8, "0x08", "X"), "0x0a"), 300.0, 13.0, None),
        Sample("http://b", 4.0, status(13, "DDD", (8, "0x08", "Y"), "0x0b"), 140.0, 13.0, None),
    ]
    assert [v.disagrees for v in build_views(split, None)] == [True, True]
    reorg = [
        Sample("http://a", 4.0, status(13, "AAA", (8, "0x08", "X"), "0x0a"), 300.0, 13.0, None),
        Sample("http://b", 4.0, status(13, "DDD", (8, "0x8b", "Y"), "0x0b"), 140.0, 13.0, None),
    ]
    assert [v.disagrees for v in build_views(reorg, None)] == [False, False]
    assert normalize("127.0.0.1:9464") == "http://127.0.0.1:9464"
    assert normalize("https://node.example/") == "https://node.example"


def test_reasons_are_counted_when_the_payloads_exist_anyway() -> None:
    def counting(**settings: object) -> bool:
        pm = load_plugins(load_settings(None, **settings))
        plugin = pm.get_plugin("monitoring")
        assert isinstance(plugin, monitoring.Plugin)
        registered = "monitoring" in {
            impl.plugin_name for impl in pm.hook.notify_transactions.get_hookimpls()
        }
        assert registered == plugin.counts_reasons
        return plugin.counts_reasons

    assert counting()  # an executor keeps a stream log by default
    assert counting(stream={"publish": None, "keep_blocks": 0}) is False
    assert counting(role="analyzer", stream={"upstream": ["tcp://127.0.0.1:1"]}) is False
    on = {"monitoring": {"count_reasons": "on"}}
    assert counting(stream={"publish": None, "keep_blocks": 0}, plugins=on)
    assert counting(plugins={"monitoring": {"count_reasons": "off"}}) is False
