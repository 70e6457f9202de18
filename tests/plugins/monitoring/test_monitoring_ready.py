"""`/ready` against a real L1 node: `monmouth run --rpc-url` follows anvil; the node is ready
once caught up, not ready (with the reason) while anvil is stopped, and ready again when anvil
comes back and the node has taken its new block."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import clirun
import httpx
from anvil import Anvil
from ports import free_port


def poll(client: httpx.Client, url: str, until: Callable[[int, Any], bool], what: str) -> Any:
    """GET `url` until `until(status_code, json)`; its last answer."""
    deadline = time.monotonic() + 60
    last: Any = None
    while time.monotonic() < deadline:
        try:
            response = client.get(url)
            last = response.json()
            if until(response.status_code, last):
                return last
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise AssertionError(f"{what}: last answer {last}")


def metric(client: httpx.Client, url: str, name: str) -> float | None:
    for line in client.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_ready_follows_the_l1_node(anvil: Anvil, tmp_path: Path) -> None:
    anvil.mine(5)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MONMOUTH_STORE__SYNC": "false",
        "MONMOUTH_SOURCE__POLL_INTERVAL": "0.1",
        "MONMOUTH_PLUGINS__MONITORING__ADDRESS": f"127.0.0.1:{port}",
        "MONMOUTH_PLUGINS__MONITORING__PROBE_INTERVAL": "0.2",
        "MONMOUTH_PLUGINS__MONITORING__MAX_LAG_BLOCKS": "0",
    }
    args = ["run", "--rpc-url", anvil.url, "--data-dir", str(tmp_path / "data")]
    with (
        (tmp_path / "node.log").open("w") as log,
        clirun.spawn(*args, env=env, stdout=log, stderr=log) as node,
        httpx.Client(timeout=5) as client,
    ):
        try:
            ready = poll(client, f"{url}/ready", lambda code, r: code == 200, "never ready")
            assert ready["ready"] is True and ready["reasons"] == []
            checks = {c["name"]: c["ok"] for c in ready["checks"]}
            assert checks == {
                "caught_up": True,
                "l1_reachable": True,
                "store_writable": True,
                "no_plugin_halted": True,
                "no_plugin_stalled": True,
            }
            status = client.get(f"{url}/status").json()
            assert status["head"]["number"] == status["l1_head"] == anvil.block_number() == 5
            assert status["lag_blocks"] == 0 and status["lag_seconds"] == 0.0
            assert metric(client, url, "monmouth_l1_up") == 1.0
            assert metric(client, url, "monmouth_lag_blocks") == 0.0

            anvil.stop()
            down = poll(client, f"{url}/ready", lambda code, r: code == 503, "still ready")
            assert down["ready"] is False
            (reason,) = down["reasons"]
            assert reason.startswith("the L1 node is unreachable: ")
            assert metric(client, url, "monmouth_l1_up") == 0.0
            assert metric(client, url, "monmouth_ready") == 0.0
            assert client.get(f"{url}/health").json()["status"] == "alive"  # alive all along

            anvil.restart()
            anvil.mine(1)
            back = poll(
                client,
                f"{url}/status",
                lambda code, s: s["readiness"]["ready"] and s["head"]["number"] == 6,
                "not ready again",
            )
            assert back["l1_head"] == 6 and back["l1_reachable"] is True
            assert client.get(f"{url}/ready").status_code == 200
        finally:
            node.send_signal(signal.SIGTERM)
            node.wait(60)
    assert node.returncode == 0, (tmp_path / "node.log").read_text()
    log_text = (tmp_path / "node.log").read_text()
    assert "L1 node unreachable" in log_text and "L1 node reachable again" in log_text
