"""`monmouth bench` prints the issue's JSON keys, for each workload, measured in one run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import clirun
import pytest

from monmouth import bench
from monmouth.app import build_node
from monmouth.core.config import load_settings
from monmouth.core.payloads import BlockInfo, TransactionInfo
from monmouth.core.plugins import load_plugins
from monmouth.devnet import DevnetSource
from monmouth.hooks import hookimpl
from monmouth.rust_svm.verify_py import TABLE_STATS

KEYS = {
    "workload",
    "txs",
    "litesvm_sigverify_tps",
    "litesvm_nosig_tps",
    "node_tps",
    "ratio_vs_sigverify",
    "ratio_vs_nosig",
    "peak_rss_mb",
    "cpu_per_tx_us",
    "litesvm_cpu_per_tx_us",
    "cpu_ratio",
    "node_cpu_children_s",
    "per_block",
    "stream_subscribers",
    "main_cpu_per_tx_us",
    "litesvm_exec_cpu_per_tx_us",
    "ratio_limit",
    "ed25519_tables",
}


@pytest.mark.slow
@pytest.mark.parametrize("workload", bench.WORKLOADS)
def test_bench_json(workload: str) -> None:
    proc = clirun.monmouth(
        *("bench", "--workload", workload, "--txs", "600", "--per-block", "300", "--json"),
        timeout=300,
        code=0,
    )
    result = json.loads(proc.stdout)
    assert set(result) >= KEYS
    assert result["workload"] == workload and result["txs"] >= 600
    for key in ("litesvm_sigverify_tps", "litesvm_nosig_tps", "node_tps"):
        assert result[key] > 0
    assert result["ratio_vs_sigverify"] == pytest.approx(
        result["node_tps"] / result["litesvm_sigverify_tps"], rel=0.01
    )
    assert result["cpu_ratio"] == pytest.approx(
        result["cpu_per_tx_us"] / result["litesvm_cpu_per_tx_us"], rel=0.01
    )
    assert result["per_block"] == 300 and result["stream_subscribers"] is None
    tables = result["ed25519_tables"]
    assert set(tables) == set(TABLE_STATS)
    assert 0 <= tables["table_accepted"] <= result["txs"] and tables["tables_wrong"] == 0
    assert 0 < result["main_cpu_per_tx_us"] < result["cpu_per_tx_us"]
    # The formula over the rounded CPU figures, so within their rounding.
    assert result["ratio_limit"] == pytest.approx(
        bench.ratio_limit(
            result["litesvm_cpu_per_tx_us"], result["cpu_per_tx_us"], result["main_cpu_per_tx_us"]
        ),
        rel=0.02,
    )


def test_ratio_limit_is_the_tighter_of_the_cores_and_the_main_thread() -> None:
    # Checks on the other core, the main thread the bottleneck: 50 / 45 µs.
    assert bench.ratio_limit(50.0, 82.0, 45.0, cores=2) == pytest.approx(50 / 45)
    # The main thread light, both cores full: 2 x 50 / 90 µs.
    assert bench.ratio_limit(50.0, 90.0, 20.0, cores=2) == pytest.approx(100 / 90)
    assert bench.ratio_limit(50.0, 90.0, 20.0, cores=1) == pytest.approx(50 / 90)


#: Enough transactions that the publisher's CPU shows in clock ticks.
BENCH_STREAM = ["--txs", "20000", "--per-block", "50", "--stream", "1", "--json"]


def test_bench_with_the_stream_published_and_a_subscriber() -> None:
    proc = clirun.monmouth("bench", *BENCH_STREAM, timeout=300, code=0)
    result = json.loads(proc.stdout)
    assert result["stream_subscribers"] == 1 and result["per_block"] == 50
    # The publisher is a child process: its CPU is the node's too.
    assert result["node_cpu_children_s"] > 0


class TokenLogs:
    """Counts the transactions that invoked the SPL Token program."""

    def __init__(self) -> None:
        self.token = self.total = 0

    @hookimpl
    def notify_transactions(self, block: BlockInfo, transactions: list[TransactionInfo]) -> None:
        for tx in transactions:
            self.total += 1
            self.token += any("TokenkegQ" in line for line in tx.logs)


def test_the_spl_workload_is_token_transfers(tmp_path: Path) -> None:
    devnet = {"workload": "spl", "failure_rate": 0.0, "bad_input_rate": 0.0, "txs_per_block": 40}
    settings = load_settings(None, data_dir=tmp_path / "d", store={"sync": False}, devnet=devnet)

    logs = TokenLogs()
    with build_node(settings, plugins=load_plugins(settings, extra=[("logs", logs)])) as node:
        anyio.run(
            lambda: node.run(
                DevnetSource(settings.devnet, settings.inbox.address_bytes), max_blocks=12
            )
        )
        assert node.stats.failed == 0 and node.stats.rejected == 0
    assert logs.total > 300 and logs.token > 0.8 * logs.total


def test_the_ed25519_bench_runs() -> None:
    bench_script = Path(__file__).resolve().parents[1] / "benches" / "bench_ed25519.py"
    proc = clirun.python(str(bench_script), "--count", "200", "--json", timeout=120, code=0)
    result = json.loads(proc.stdout)
    for key in (
        "pynacl_libsodium_native_2t",
        "node_tables_native_2t",
        "solders_dalek_python_1t",
        "pynacl_python_2t",
    ):
        assert result[key] > 0
    assert result["node_uses"].startswith(("libsodium", "PyNaCl"))
    # The table checks accept only what the runtime accepts, tables built (the mixed-order
    # speccheck keys that libsodium accepts).
    assert result["node_tables_native_strict"] == "yes"
    assert result["node_tables_native_tables_built"] >= 1


def test_cpu_from_proc_counts_a_child_and_its_reaped_children() -> None:
    """`child_pids` lists a live child; `stat_cpu` reads its CPU, and with `reaped` what its own
    finished children spent (a child that burns CPU in a grandchild it waited for)."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    script = (
        "import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {burn!r}], check=True)\n"
        "print('ready', flush=True)\ntime.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        assert child.pid in bench.child_pids()
        stat = Path(f"/proc/{child.pid}/stat").read_text()
        own, reaped = bench.stat_cpu(stat), bench.stat_cpu(stat, reaped=True)
        assert reaped - own >= 0.25  # the grandchild's 0.3 s, in clock ticks
        assert own < 0.25
    finally:
        child.kill()
        child.communicate()
    assert child.pid not in bench.child_pids()
    with pytest.raises(IndexError):
        bench.stat_cpu("not a stat line")
