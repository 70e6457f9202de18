"""The `cache` plugin and the `account_cache` hook: its table, the node it configures, a third
party's policy through the same hook, and its metrics in `/metrics` and `monmouth top`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import clirun
import httpx
import pytest
from ports import free_port
from prometheus_client.parser import text_string_to_metric_families
from streamkit import wait_until

from monmouth.core.config import load_settings
from monmouth.core.errors import ConfigError
from monmouth.core.node import Node
from monmouth.core.plugins import load_plugins
from monmouth.hooks import AccountCacheSpec, hookimpl
from monmouth.plugins.cache.config import DEFAULT_HOT_BYTES
from monmouth.plugins.cache.policy import Arc, Lru

MONITORING_NODE = Path(__file__).resolve().parent.parent / "monitoring" / "monitoring_node.py"


def node(tmp_path: Path, extra: list[object] | None = None, **plugins: object) -> Node:
    settings = load_settings(
        None, data_dir=tmp_path / "data", store={"sync": False}, plugins=plugins
    )
    return Node(settings, plugins=load_plugins(settings, extra=extra))


# -- the table ------------------------------------------------------------------------------------


def test_the_default_is_arc_within_two_gib(tmp_path: Path) -> None:
    with node(tmp_path) as n:
        cache = n.executor.cache
        assert isinstance(cache.policy, Arc)
        assert cache.hot_bytes == DEFAULT_HOT_BYTES == 2 << 30


def test_unbounded_and_a_policy_by_name(tmp_path: Path) -> None:
    with node(tmp_path, cache={"hot_bytes": "Unbounded", "policy": "unbounded"}) as n:
        cache = n.executor.cache
        assert cache.hot_bytes is None
        assert type(cache.policy).__name__ == "Unbounded"


def test_without_the_plugin_every_account_stays(tmp_path: Path) -> None:
    with node(tmp_path, disable=["cache"]) as n:
        assert n.executor.cache.policy is None and n.executor.cache.evict() == 0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"policy": "mru"}, r"\[plugins.cache\] policy: .*unknown policy 'mru'; known: .*lru"),
        ({"hot_bytes": -1}, r"\[plugins.cache\] hot_bytes"),
        ({"warm_bytes": 1 << 20}, r"\[plugins.cache\] warm_bytes"),
        ({"hot": 5}, r"\[plugins.cache\] hot"),
    ],
)
def test_a_bad_table_names_the_key(tmp_path: Path, table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        node(tmp_path, cache=table)


# -- the hook -------------------------------------------------------------------------------------


class Fifo(Lru):
    """A third party's policy (LRU's bookkeeping, admitted order only)."""

    def access(self, key: bytes, size: int) -> None:
        if key not in self._sizes:
            super().access(key, size)


class ThirdParty:
    @hookimpl(tryfirst=True)
    def account_cache(self) -> AccountCacheSpec:
        return AccountCacheSpec(Fifo(), 12345)


def test_a_third_party_account_cache_comes_first(tmp_path: Path) -> None:
    with node(tmp_path, extra=[ThirdParty()]) as n:
        cache = n.executor.cache
        assert isinstance(cache.policy, Fifo) and cache.hot_bytes == 12345


def test_none_lets_the_builtin_decide(tmp_path: Path) -> None:
    class Abstains:
        @hookimpl(tryfirst=True)
        def account_cache(self) -> None:
            return None

    with node(tmp_path, extra=[Abstains()]) as n:
        assert isinstance(n.executor.cache.policy, Arc)


def test_an_account_cache_that_raises_stops_the_start(tmp_path: Path) -> None:
    class Broken:
        @hookimpl
        def account_cache(self) -> AccountCacheSpec:
            raise RuntimeError("no memory figure")

    with pytest.raises(ConfigError, match="account_cache raised RuntimeError: no memory figure"):
        node(tmp_path, extra=[("broken", Broken())])


def test_an_async_account_cache_is_refused(tmp_path: Path) -> None:
    class Async:
        @hookimpl
        async def account_cache(self) -> AccountCacheSpec:
            return AccountCacheSpec(Lru(), 1)

    with pytest.raises(ConfigError, match="account_cache must be a plain function"):
        node(tmp_path, extra=[("async", Async())])


# -- metrics and top ------------------------------------------------------------------------------


def _scrape(text: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def test_metrics_and_top_show_the_cache(tmp_path: Path) -> None:
    """A devnet node with a hot tier of 20 KB: its counters and gauges in /metrics add up, and
    `monmouth top --json` shows a hit rate and the hot tier within its budget."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MONMOUTH_PLUGINS__MONITORING__ADDRESS": f"127.0.0.1:{port}",
        "MONMOUTH_PLUGINS__CACHE__HOT_BYTES": "20000",
        "MONMOUTH_DEVNET__INTERVAL": "0.05",
        "MONMOUTH_DEVNET__USERS": "64",
    }
    with (tmp_path / "node.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(MONITORING_NODE), str(tmp_path / "data"), "200"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    with process, httpx.Client(timeout=10) as client:
        try:

            def scraped() -> dict[str, float]:
                try:
                    response = client.get(f"{url}/metrics")
                except httpx.TransportError:
                    return {}  # not serving yet
                assert response.status_code == 200, response.text
                return _scrape(response.text)

            # While it runs: top samples twice, so the hit rate is over an interval of blocks.
            wait_until(
                lambda: scraped().get("monmouth_blocks_committed_total", 0) >= 10,
                120,
                what="blocks",
            )
            top = clirun.monmouth("top", "--json", "--endpoint", url, code=0)
            (view,) = json.loads(top.stdout)["instances"]
            assert view["up"] and 0 < view["cache_hit_rate"] < 1
            assert view["cache_budget_bytes"] == 20000
            assert process.stdout is not None
            json.loads(process.stdout.readline())  # the node has committed its 200 blocks
            m = scraped()
        finally:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(60)
    assert m["monmouth_cache_budget_bytes"] == 20000
    assert 0 < m["monmouth_cache_resident_bytes"] <= 20000  # the devnet deploys no program
    assert m["monmouth_cache_resident_accounts"] > 0
    assert m["monmouth_cache_hits_total"] > 0
    assert m["monmouth_cache_misses_total"] >= m["monmouth_cache_prefetch_loads_total"] > 0
    # Everything read and not resident now was evicted (nothing is deleted otherwise).
    resident = m["monmouth_cache_resident_accounts"] + m["monmouth_cache_negative_entries"]
    assert m["monmouth_cache_evictions_total"] == m["monmouth_cache_misses_total"] - resident


def test_top_shows_the_hit_rate_between_two_samples_and_the_hot_tier() -> None:
    from rich.console import Console

    from monmouth.plugins.monitoring.top import CacheSample, Sample, build_views, render

    status = {"instance": "a", "head": {"number": 5}, "readiness": {"ready": True}}
    before = Sample(
        "http://a", 0.0, status, 0.0, 0.0, None, CacheSample(10, 5, 5, 3, 3 << 20, None)
    )
    now = Sample(
        "http://a", 2.0, status, 0.0, 0.0, None, CacheSample(40, 5, 15, 4, 3 << 20, 8 << 20)
    )
    (first,) = build_views([before], None)
    assert first.cache_hit_rate is None and first.cache_resident_accounts == 3
    (view,) = build_views([now], [before])
    # 30 found resident and 10 read in the interval; negative hits count as found.
    assert view.cache_hit_rate == 30 / 40
    assert (view.cache_resident_accounts, view.cache_budget_bytes) == (4, 8 << 20)
    console = Console(record=True, width=200)
    console.print(render([view]))
    text = console.export_text()
    assert "hit 75.0%" in text and "4 acc 3 MiB/8 MiB" in text
    # An instance without the cache (an analyzer) shows a dash.
    (bare,) = build_views([Sample("http://b", 0.0, status, 0.0, 0.0, None)], None)
    assert bare.cache_resident_accounts is None
