"""`monmouth dev`, run as users run it: a real process, real files, real signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import clirun
import pytest
from ports import free_port

from monmouth.cli.dev import rpc_url
from monmouth.core.config import load_settings
from monmouth.core.state import Store

#: The rpc plugin on a port of its own (the suite's default, "none", serves nothing); drawn,
#: not fixed, as other test sessions on the machine may run this module at the same time.
RPC = f"127.0.0.1:{free_port()}"
ENV = {
    **os.environ,
    "MONMOUTH_STORE__SYNC": "false",
    "MONMOUTH_PLUGINS__ENABLE": "[]",
    "MONMOUTH_PLUGINS__RPC__ADDRESS": RPC,
}


#: `monmouth dev` at a fast pace; it must succeed.
DEV = ("dev", "--block-time", "0.05")


def dev(*args: str) -> subprocess.CompletedProcess[str]:
    return clirun.monmouth(*DEV, *args, env=ENV, timeout=120, code=0)


def temporary_dir(stderr: str) -> Path:
    match = re.search(r"data dir\s+(\S+) \(temporary", stderr)
    assert match, stderr
    return Path(match.group(1))


def test_a_bounded_run_makes_empty_blocks_in_a_temporary_directory() -> None:
    proc = dev("--blocks", "4")
    assert f"http://{RPC}" in proc.stderr
    assert "every 0.05 s" in proc.stderr and "finalized 32" in proc.stderr
    assert "faucet" in proc.stderr and "relay" in proc.stderr
    assert not temporary_dir(proc.stderr).exists()


def test_blocks_keep_coming_with_nothing_sent_and_a_restart_continues(tmp_path: Path) -> None:
    data = tmp_path / "dev"
    started = int(time.time())
    proc = dev("--blocks", "5", "--data-dir", str(data), "--finalized-depth", "2")
    assert "temporary" not in proc.stderr
    with Store(data, readonly=True) as store:
        head = store.head()
        assert head is not None and head.number == 4
        blocks = list(store.blocks(0, 4))
        assert store.accounts_count() == 0 and store.transactions_count() == 0
        # Finality came after blocks 0..3: block 3 - 1 confirmed, 3 - 2 finalized.
        assert store.finality() == (2, 1)
    assert len({b.hash for b in blocks}) == 5
    stamps = [b.timestamp for b in blocks]
    assert stamps == sorted(stamps) and started <= stamps[0] <= int(time.time())
    dev("--blocks", "3", "--data-dir", str(data))
    with Store(data, readonly=True) as store:
        head = store.head()
        assert head is not None and head.number == 7


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_it_and_removes_the_temporary_directory() -> None:
    proc = clirun.spawn(*DEV, env=ENV)
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if "Ctrl-C" in line:
            break
    data = temporary_dir("".join(lines))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (data / "data.mdb").exists():
        time.sleep(0.1)
    time.sleep(0.5)
    err = clirun.stop(proc, signal.SIGINT)
    assert '"stopped"' in err
    assert not data.exists()


def test_the_banner_reads_the_rpc_plugin_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONMOUTH_PLUGINS__RPC__ADDRESS", raising=False)  # the suite's "none"
    assert rpc_url(load_settings(None)) == "http://127.0.0.1:8899"
    assert rpc_url(load_settings(None, plugins={"rpc": {"address": "none"}})) is None
    at = load_settings(None, plugins={"rpc": {"address": "0.0.0.0:9000"}})
    assert rpc_url(at) == "http://0.0.0.0:9000"
    assert rpc_url(load_settings(None, plugins={"disable": ["rpc"]})) is None
