"""examples/multi_instance/run.sh: four processes, real sockets; the replica agrees, and the
analyzer runs rag and mev and answers through its request socket at the executor's head."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import clirun
import pytest
from streamkit import free_endpoint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "multi_instance" / "run.sh"


def test_the_four_roles_run_together_and_the_replica_agrees(tmp_path: Path) -> None:
    base = int(free_endpoint().rsplit(":", 1)[1])
    env = {
        **os.environ,
        "WORK": str(tmp_path / "work"),
        "BASE_PORT": str(base),
        "MONMOUTH": " ".join(clirun.MONMOUTH),
    }
    env.pop("MONMOUTH_STREAM__PUBLISH", None)  # the script chooses its endpoints
    proc = subprocess.run(
        ["bash", str(SCRIPT), "6"], env=env, capture_output=True, text=True, timeout=480
    )
    work = tmp_path / "work"
    analyzer_log = (work / "analyzer.log").read_text()
    if proc.returncode != 0 and "the rag plugin runs in an executor" in analyzer_log:
        pytest.skip("rag refuses to start in an analyzer (issue 20 item 2 not merged)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "replica agrees with the executor at block #" in proc.stdout
    # The analyzer's rag, asked through its request socket, is at the executor's last block.
    assert "the analyzer's rag index is at the executor's head #" in proc.stdout
    assert "0 block(s) behind the executor" in proc.stdout
    # And its mev plugin has a record of that block.
    assert re.search(r'mev --block (\d+): \{"block_number": \1, ', proc.stdout), proc.stdout
    assert '"snapshot loaded"' in (work / "replica.log").read_text()
    monitor = (work / "monitor.log").read_text()
    for name in ("executor", "replica", "analyzer"):
        assert f'"instance": "{name}"' in monitor
    # The monitor shows the analyzer's lag against the executor.
    assert '"role": "analyzer", "head": ' in monitor and '"behind": ' in monitor
    assert "state_hash_mismatch" not in monitor
