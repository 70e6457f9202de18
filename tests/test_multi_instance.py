"""examples/multi_instance/run.sh: four processes, real sockets, and the replica agrees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamkit import free_endpoint

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "multi_instance" / "run.sh"


def test_the_four_roles_run_together_and_the_replica_agrees(tmp_path: Path) -> None:
    base = int(free_endpoint().rsplit(":", 1)[1])
    env = {
        **os.environ,
        "WORK": str(tmp_path / "work"),
        "BASE_PORT": str(base),
        "MONMOUTH": f"{sys.executable} -m monmouth",
    }
    env.pop("MONMOUTH_STREAM__PUBLISH", None)  # the script chooses its endpoints
    proc = subprocess.run(
        ["bash", str(SCRIPT), "6"], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "replica agrees with the executor at block #" in proc.stdout
    work = tmp_path / "work"
    assert '"snapshot loaded"' in (work / "replica.log").read_text()
    monitor = (work / "monitor.log").read_text()
    for name in ("executor", "replica", "analyzer"):
        assert f'"instance": "{name}"' in monitor
    assert "state_hash_mismatch" not in monitor
