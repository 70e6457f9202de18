"""`/metrics`, `/status`, `/health`, `/ready` and `monmouth top`, scraped with a real HTTP client
from a devnet node running in a process of its own: the counters move while it runs, and once
it has stopped committing they agree with the node's own counts, `monmouth status` and the
store."""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import base58
import clirun
import httpx
import pytest
from ports import free_port, refused_port
from prometheus_client.parser import text_string_to_metric_families

from monmouth.core.state import Store

HERE = Path(__file__).resolve().parent
NODE = HERE / "monitoring_node.py"
BLOCKS = 60
CHECKPOINT = 8


@dataclass(frozen=True)
class Scrape:
    """One /metrics answer: every sample's value by (name, sorted labels)."""

    values: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def get(self, name: str, **labels: str) -> float | None:
        return self.values.get((name, tuple(sorted(labels.items()))))

    def total(self, name: str) -> float:
        return sum(v for (n, _), v in self.values.items() if n == name)

    def labelled(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {labels: v for (n, labels), v in self.values.items() if n == name}


def scrape(client: httpx.Client, url: str) -> Scrape:
    response = client.get(f"{url}/metrics")
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return Scrape(values)


@dataclass(frozen=True)
class Running:
    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    log: Path


@pytest.fixture
def devnet_node(tmp_path: Path) -> Iterator[Running]:
    port = free_port()
    env = {
        **os.environ,
        "MONMOUTH_PLUGINS__MONITORING__ADDRESS": f"127.0.0.1:{port}",
        "MONMOUTH_PLUGINS__MONITORING__CHECKPOINT_INTERVAL": str(CHECKPOINT),
        "MONMOUTH_PLUGINS__MONITORING__PROBE_INTERVAL": "0.2",
        # A live pace, reorgs, and every kind of rejection the devnet plants.
        "MONMOUTH_DEVNET__INTERVAL": "0.05",
        "MONMOUTH_DEVNET__REORG_PROBABILITY": "0.15",
        "MONMOUTH_DEVNET__BAD_INPUT_RATE": "0.2",
    }
    data_dir = tmp_path / "data"
    with (tmp_path / "node.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(NODE), str(data_dir), str(BLOCKS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    with process:  # closes its pipes
        try:
            yield Running(process, f"http://127.0.0.1:{port}", data_dir, tmp_path / "node.log")
        finally:
            assert process.stdin is not None
            process.stdin.close()  # the node closes when its input does
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(client: httpx.Client, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.get(f"{url}/health").raise_for_status()
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the node did not serve /health"
            time.sleep(0.05)


def monmouth(*args: str) -> str:
    return clirun.monmouth(*args, code=0).stdout


def test_metrics_move_during_a_run_and_agree_with_the_node(devnet_node: Running) -> None:
    url = devnet_node.url
    with httpx.Client(timeout=10) as client:
        wait_for(client, url)
        health = client.get(f"{url}/health").json()
        assert health["status"] == "alive"

        # While it runs: scrape until the counters moved twice.
        seen: list[Scrape] = []
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:
            s = scrape(client, url)
            if not seen or s.total("monmouth_blocks_committed_total") > seen[-1].total(
                "monmouth_blocks_committed_total"
            ):
                seen.append(s)
            time.sleep(0.1)
        assert len(seen) == 3, "the block counter did not move"
        # The process's own memory, where a plugin's allocations show.
        assert seen[-1].total("process_resident_memory_bytes") > 10 * 2**20
        for before, after in itertools.pairwise(seen):
            for name in ("monmouth_transactions_total", "monmouth_block_execute_seconds_count"):
                assert after.total(name) >= before.total(name)

        # Stopped committing: the node printed its counts and keeps its endpoints open.
        assert devnet_node.process.stdout is not None
        line = devnet_node.process.stdout.readline()
        assert line, devnet_node.log.read_text()
        stats = json.loads(line)
        final = scrape(client, url)
        status = client.get(f"{url}/status").json()
        ready = client.get(f"{url}/ready")
        top = json.loads(
            monmouth("top", "--endpoint", url, "--once", "--json", "--interval", "0.2")
        )

    # The node's own counts.
    assert stats["blocks"] == BLOCKS and stats["reverted"] > 0
    assert final.get("monmouth_blocks_committed_total") == stats["blocks"]
    for status_name in ("ok", "failed", "rejected"):
        assert final.get("monmouth_transactions_total", status=status_name) == stats[status_name]
    assert final.total("monmouth_transactions_rejected_total") == stats["rejected"]
    reasons = {
        dict(labels)["reason"] for labels in final.labelled("monmouth_transactions_rejected_total")
    }
    assert {"signature_failure", "blockhash_not_found"} <= reasons
    assert final.get("monmouth_deposits_total") == stats["deposits"]
    assert final.get("monmouth_blocks_reverted_total") == stats["reverted"]
    depths = final.labelled("monmouth_reorgs_total")
    assert sum(int(dict(k)["depth"]) * v for k, v in depths.items()) == stats["reverted"]
    # The core's instruments, through the same provider: one execution per committed block.
    assert final.get("monmouth_block_execute_seconds_count") == stats["blocks"]
    assert final.get("monmouth_block_latency_seconds_count") == stats["blocks"]
    assert final.get("monmouth_block_commit_seconds_count") == stats["commits"]
    assert final.total("monmouth_signatures_verified_total") > stats["ok"]
    # The devnet's users sign again and again: most of their checks come from tables.
    from_tables = final.get("monmouth_signature_table_checks_total", verdict="accepted")
    verified = final.total("monmouth_signatures_verified_total")
    assert from_tables is not None and 0 < from_tables <= verified
    assert (final.get("monmouth_signature_tables_built_total") or 0) > 0
    assert final.get("monmouth_block_latency_seconds_bucket", le="1.0") is not None

    # `monmouth status` and the store (opened while the node holds it, as an operator would).
    st = json.loads(monmouth("status", "--data-dir", str(devnet_node.data_dir), "--json"))
    head = st["head_number"]
    assert final.get("monmouth_head_block") == head
    assert status["head"]["number"] == head
    assert status["head"]["state_hash"] == st["state_hash"]
    assert status["head"]["hash"] == st["head_hash"]
    counts = status["counts"]
    assert counts["blocks"] == stats["blocks"] and counts["reverted"] == stats["reverted"]
    assert counts["transactions"] == {k: stats[k] for k in ("ok", "failed", "rejected")}
    assert sum(counts["rejected_by_reason"].values()) == stats["rejected"]
    height = head - head % CHECKPOINT
    with Store(devnet_node.data_dir, readonly=True) as store:
        record = store.block(height)
        assert record is not None
        block_hash = "0x" + record.hash.hex()
        checkpoint = base58.b58encode(record.checksum).decode()
    assert final.labelled("monmouth_state_checkpoint_info") == {
        (("block_hash", block_hash), ("height", str(height)), ("state_hash", checkpoint)): 1.0
    }
    assert status["checkpoint"] == {
        "height": height,
        "block_hash": block_hash,
        "state_hash": checkpoint,
    }
    map_size = final.get("monmouth_lmdb_map_size_bytes")
    used = final.get("monmouth_lmdb_used_bytes")
    assert map_size is not None and used is not None and 0 < used <= map_size

    # Plugins, readiness, the SLA.
    assert final.get("monmouth_plugin_queue_depth", plugin="routing") == 0
    assert final.get("monmouth_plugin_up", plugin="monitoring") == 1
    assert final.get("monmouth_ready") == 1 and final.get("monmouth_l1_up") == 1
    assert ready.status_code == 200 and ready.json()["ready"] is True
    share = final.get("monmouth_sla_on_time_ratio")
    assert share is not None and 0.0 <= share <= 1.0
    assert final.get("monmouth_sla_target_seconds") == 1.0
    # Every series is a documented metric (docs/operations.md): monmouth_*, and the standard
    # process_* of the node's process.
    operations = (HERE.parents[2] / "docs" / "operations.md").read_text()
    for name, _ in final.values:
        histogram = re.sub(r"_(bucket|count|sum)$", "", name)
        assert f"| `{name}` |" in operations or f"| `{histogram}` | histogram |" in operations, (
            f"{name} is not documented"
        )

    # `monmouth top` read the same instance.
    (row,) = top["instances"]
    assert row["up"] and row["head"] == head and row["state_hash"] == st["state_hash"]
    assert row["transactions"] == counts["transactions"]
    assert row["tps"] == 0.0  # stopped committing: nothing moved over the interval
    assert not row["disagrees"]


def test_a_taken_address_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    port = free_port()
    # A configuration that cannot work stops the start-up (exit 2), whatever the plugin's
    # failure policy.
    env = {**os.environ, "MONMOUTH_PLUGINS__MONITORING__ADDRESS": f"127.0.0.1:{port}"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        args = ["run", "--data-dir", str(tmp_path / "d"), "--blocks", "2"]
        proc = clirun.monmouth(*args, env=env)
    assert proc.returncode == 2, proc.stderr
    assert f"[plugins.monitoring] address: 127.0.0.1:{port} is already in use" in proc.stderr


@pytest.mark.parametrize("disable", ["[]", '["monitoring"]'])
def test_top_exists_whether_the_plugin_runs_or_not(disable: str) -> None:
    env = {**os.environ, "MONMOUTH_PLUGINS__DISABLE": disable}
    with refused_port() as port:
        args = ["top", "--endpoint", f"127.0.0.1:{port}", "--json", "--interval", "0.1"]
        proc = clirun.monmouth(*args, env=env, timeout=None)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["instances"]
    assert row["up"] is False and "ConnectError" in row["error"]
