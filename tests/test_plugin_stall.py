"""A plugin that stops taking its calls: the node says so on `/ready` and in `monmouth top`,
and SIGTERM or SIGINT still stop it within `[plugins] stop_timeout`, keeping what it
committed. A real `monmouth run` process, its monitoring endpoint on loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import clirun
import httpx
import pytest
from plugin_install import install_plugin
from ports import free_port
from test_cli import ENV, monmouth, status

#: Blocks forever in its first call; the node's queue for it (2 calls) fills at once.
STUCK_PLUGIN = """
import threading
from monmouth.hooks import hookimpl

@hookimpl
def notify_block(block):
    threading.Event().wait()
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stuck_plugin_is_seen_and_the_node_still_stops(
    signum: signal.Signals, tmp_path: Path
) -> None:
    env = install_plugin(tmp_path, "stuck", STUCK_PLUGIN)
    address = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    proc = clirun.spawn(
        "run",
        "--data-dir",
        str(data),
        env={
            **ENV,
            **env,
            "MONMOUTH_PLUGINS__STUCK__QUEUE_SIZE": "2",
            "MONMOUTH_PLUGINS__STALL_TIMEOUT": "1",
            "MONMOUTH_PLUGINS__STOP_TIMEOUT": "2",
            "MONMOUTH_PLUGINS__MONITORING__ADDRESS": address,
            "MONMOUTH_DEVNET__INTERVAL": "0.05",
        },
        stdout=subprocess.DEVNULL,
    )
    try:
        reasons: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://{address}/ready", timeout=5)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            reasons = ready.json()["reasons"]
            if ready.status_code == 503 and any("stuck" in r for r in reasons):
                break
            time.sleep(0.2)
        assert any("waiting on the full queue of plugin 'stuck'" in r for r in reasons), reasons
        top = json.loads(monmouth("top", "--json", "--endpoint", address).stdout)
        [view] = top if isinstance(top, list) else top["instances"]
        assert view["plugins_waited"]["stuck"] > 1
        proc.send_signal(signum)
        started = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        # stop_timeout (2 s) for the stuck plugin, then the node closes as usual.
        assert time.monotonic() - started < 30
        assert proc.returncode == 0, stderr
        assert "plugin abandoned" in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    head = status(data)["head_number"]
    assert isinstance(head, int) and head >= 1
    # The committed blocks stay, and the node goes on from them without the plugin.
    monmouth("run", "--data-dir", str(data), "--blocks", "2")
    assert status(data)["head_number"] == head + 2
