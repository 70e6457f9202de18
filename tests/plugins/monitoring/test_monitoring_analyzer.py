"""The monitoring plugin in an analyzer (monmouth/roles/analyzer.py): its node handle has no
store, no run counters and no L1 node; the endpoints answer with what it has, and it asks the
executor for no more messages than the analyzer's other plugins do."""

from __future__ import annotations

from pathlib import Path

import httpx

from monmouth.core.config import load_settings
from monmouth.plugins import monitoring
from monmouth.roles.analyzer import Analyzer


def test_an_analyzer_is_monitored_without_a_store(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        data_dir=tmp_path / "analyzer",
        role="analyzer",
        stream={"upstream": ["tcp://127.0.0.1:1"], "publish": None},
        plugins={"monitoring": {"address": "127.0.0.1:0"}},
    )
    analyzer = Analyzer(settings)
    try:
        plugin = analyzer.pm.get_plugin("monitoring")
        assert isinstance(plugin, monitoring.Plugin) and plugin.url is not None
        assert analyzer.kinds == ["block", "slot", "revert"]  # no transactions for reasons
        with httpx.Client(timeout=10) as client:
            status = client.get(f"{plugin.url}/status").json()
            ready = client.get(f"{plugin.url}/ready")
            metrics = client.get(f"{plugin.url}/metrics").text
        assert status["head"] is None and status["lmdb_map_size"] is None
        assert status["l1_head"] is None and status["l1_reachable"] is None
        assert {p["name"] for p in status["plugins"]} >= {"monitoring", "routing"}
        assert ready.status_code == 200
        assert ready.json()["checks"][2]["detail"] == "no store: an analyzer holds no state"
        assert 'monmouth_plugin_up{plugin="monitoring"} 1.0' in metrics
        assert "monmouth_lmdb_used_bytes" not in metrics
    finally:
        analyzer.close()
    assert plugin.server is None  # shutdown closed it
