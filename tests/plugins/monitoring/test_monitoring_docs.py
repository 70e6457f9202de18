"""docs/operations.md, the Grafana dashboard and the Prometheus alert rules keep up with the
code: every metric they use is documented and recorded by the code, every configuration key
and alert is documented, and the dashboard is well-formed Grafana JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from monmouth.plugins.monitoring.config import Config

ROOT = Path(__file__).resolve().parents[3]
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
DASHBOARD = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
ALERTS = (ROOT / "docs" / "prometheus-alerts.yml").read_text()
SOURCES = "\n".join(p.read_text() for p in (ROOT / "monmouth").rglob("*.py"))


def documented() -> dict[str, str]:
    """The metrics table of docs/operations.md: name -> type."""
    return dict(re.findall(r"^\| `(monmouth_\w+)` \| ([\w ()]+?) \|", OPERATIONS, re.M))


def series_to_metric(name: str) -> str:
    """A histogram's `_bucket`, `_count` and `_sum` series belong to it."""
    for suffix in ("_bucket", "_count", "_sum"):
        base = name.removesuffix(suffix)
        if base != name and documented().get(base) == "histogram":
            return base
    return name


def expressions(panels: list[dict[str, Any]]) -> list[str]:
    found = []
    for panel in panels:
        found += [t["expr"] for t in panel.get("targets", [])]
        found += expressions(panel.get("panels", []))
    return found


def test_the_table_was_found() -> None:
    assert len(documented()) >= 25
    assert documented()["monmouth_block_latency_seconds"] == "histogram"


def test_the_dashboard_and_the_alerts_use_documented_metrics() -> None:
    used = set()
    for text in [*expressions(DASHBOARD["panels"]), ALERTS]:
        used |= {series_to_metric(n) for n in re.findall(r"\bmonmouth_\w+", text)}
    assert used, "no metric found"
    assert used - set(documented()) == set()
    # The dashboard shows nearly everything.
    shown = {
        series_to_metric(n)
        for e in expressions(DASHBOARD["panels"])
        for n in re.findall(r"\bmonmouth_\w+", e)
    }
    assert set(documented()) - shown == set()


def test_every_documented_metric_is_recorded_by_the_code() -> None:
    for name in documented():
        instrument = name.removesuffix("_total")
        assert f'"{instrument}"' in SOURCES, f"{name}: no instrument {instrument!r} in monmouth/"


def test_every_configuration_key_and_alert_is_documented() -> None:
    (toml,) = re.findall(r"```toml\n\[plugins\.monitoring\]\n(.*?)```", OPERATIONS, re.S)[:1]
    keys = set(re.findall(r"^(\w+) =", toml, re.M))
    assert set(Config.model_fields) <= keys
    alerts = re.findall(r"- alert: (\w+)", ALERTS)
    assert len(alerts) == len(set(alerts)) >= 10
    for alert in alerts:
        assert f"| `{alert}` |" in OPERATIONS, f"{alert} is not in docs/operations.md"


def test_the_dashboard_is_grafana_json() -> None:
    panels = DASHBOARD["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert "label_values(monmouth_head_block, instance)" in variables["instance"]["definition"]
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
