"""The monitor shows an analyzer's lag: a real executor, an analyzer whose plugin is held back
(its queue fills, so the analyzer's head stops), and a monitor watching both over real
loopback sockets. The analyzer's `behind` grows past `max_analyzer_lag_blocks`
(`analyzer_lagging`), and once the plugin is let go it catches up (`analyzer_caught_up`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from streamkit import (
    AnalyzerThread,
    NodeThread,
    analyzer_settings,
    analyzer_with,
    free_endpoint,
    stream_settings,
    wait_until,
)

from monmouth.core.config import load_settings
from monmouth.core.payloads import BlockInfo
from monmouth.hooks import hookimpl
from monmouth.roles.monitor import Alert, Monitor

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NO_SERVERS = {"disable": ["rpc", "monitoring"]}


class Gate:
    """Waits in its first block until opened: with a queue of one, the analyzer stops too."""

    def __init__(self) -> None:
        self.open = threading.Event()

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        self.open.wait(120)


def test_the_monitor_shows_an_analyzer_falling_behind_and_catching_up(tmp_path: Path) -> None:
    endpoint, own, watch = free_endpoint(), free_endpoint(), free_endpoint()
    node = NodeThread(
        stream_settings(
            tmp_path / "executor",
            endpoint,
            stream={"instance": "executor"},
            devnet={"interval": 0.05, "txs_per_block": 2},
            plugins=NO_SERVERS,
        )
    )
    gate = Gate()
    settings = analyzer_settings(
        tmp_path / "analyzer",
        endpoint,
        own,
        stream={"instance": "analyzer"},
        plugins={**NO_SERVERS, "gate": {"queue_size": 1}},
    )
    behind = analyzer_with(settings, gate=gate)
    monitor = Monitor(
        load_settings(
            None,
            data_dir=tmp_path / "monitor",
            role="monitor",
            stream={
                "publish": watch,
                "instance": "watch",
                "upstream": [endpoint, own],
                "heartbeat_interval": 0.2,
                "max_silence": 30.0,
                "max_analyzer_lag_blocks": 5,
            },
        )
    )
    analyzer = AnalyzerThread(behind)  # started, as the monitor, once both are built
    stop = threading.Event()
    watching = threading.Thread(target=monitor.run, args=(stop,), daemon=True)
    watching.start()

    def raised(code: str) -> list[Alert]:
        return [a for a in monitor.alerts if a.code == code]

    try:
        wait_until(lambda: raised("analyzer_lagging") != [], 120, what="analyzer_lagging")
        lagging = raised("analyzer_lagging")[0]
        assert lagging.instance == "analyzer" and lagging.details["leader"] == "executor"
        assert lagging.details["behind"] > 5 and lagging.details["role"] == "analyzer"
        seen = monitor.status()["instances"]
        assert seen["analyzer"]["behind"] > 5 and seen["analyzer"]["lagging"]
        # Measured against the executor (as of the last evaluation; a heartbeat may be newer).
        assert 5 < seen["analyzer"]["reference"] <= seen["executor"]["head"]
        assert seen["executor"]["behind"] == 0
        assert not raised("instance_lagging")  # an analyzer has its own rule

        gate.open.set()
        wait_until(lambda: raised("analyzer_caught_up") != [], 120, what="analyzer_caught_up")
        node.stop()
        executor_head = node.node.head
        assert executor_head is not None

        def caught_up() -> bool:
            st: dict[str, Any] = monitor.status()["instances"]["analyzer"]
            return bool(st["head"] == executor_head.number and st["behind"] == 0)

        wait_until(caught_up, 60, what="the analyzer at the executor's head")
        assert not monitor.status()["instances"]["analyzer"]["lagging"]
        assert analyzer.error is None
    finally:
        gate.open.set()
        stop.set()
        watching.join(30)
        analyzer.close()
        monitor.close()
        node.close()
