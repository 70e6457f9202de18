"""The whole process as users run it (issue 21, item 3): `monmouth run` from a replay file with
the defaults (the stream published, monitoring and the Solana RPC serving), with nobody and with
subscribers taking every message, against the node as `monmouth bench` runs it, over the same
transactions.

`monmouth run` is timed from its `starting` to its `stopped` log line (so the interpreter's
start and the imports do not count); `monmouth bench`'s node (`bench.node_run`) in this process.
Rounds alternate the settings, so that the machine's drift falls on all of them alike.

    python benches/bench_process.py [--txs N] [--per-block N] [--subscribers 0,1] [--rounds R]
                                    [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from report import emit, machine

from monmouth import bench
from monmouth.core.l1 import L1Block
from monmouth.core.sources.replay import write_replay


def _when(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()


def run_process(replay: Path, workdir: Path, subscribers: int) -> tuple[float, int]:
    """`monmouth run` over `replay` with the defaults on free ports, `subscribers` raw SUB
    processes taking every message: (seconds from `starting` to `stopped`, transactions)."""
    publish, request = bench.free_endpoints()
    env = {
        **os.environ,
        "MONMOUTH_STREAM__PUBLISH": publish,
        "MONMOUTH_STREAM__REQUEST": request,
        "MONMOUTH_PLUGINS__MONITORING__ADDRESS": f"127.0.0.1:{bench.free_port()}",
        "MONMOUTH_PLUGINS__RPC__ADDRESS": f"127.0.0.1:{bench.free_port()}",
    }
    command = [sys.executable, "-m", "monmouth", "run", "--source", "replay"]
    command += ["--replay-file", str(replay), "--data-dir", str(workdir / "data")]
    with bench.subscriber_processes(publish, subscribers):
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"monmouth run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    lines = {}
    for raw in proc.stderr.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("event") in ("starting", "stopped"):
            lines[line["event"]] = line
    stopped = lines["stopped"]
    return _when(stopped) - _when(lines["starting"]), stopped["ok"] + stopped["failed"]


def measure(
    blocks: list[L1Block], subscribers: list[int], rounds: int
) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"bench": []}
    rates.update({f"run_{n}": [] for n in subscribers})
    with tempfile.TemporaryDirectory() as tmp:
        replay = Path(tmp) / "chain.jsonl"
        write_replay(replay, blocks)
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as work:
                node = bench.node_run(blocks, Path(work))
                rates["bench"].append(node.node.stats.transactions / node.seconds)
            for n in subscribers:
                with tempfile.TemporaryDirectory() as work:
                    seconds, txs = run_process(replay, Path(work), n)
                    rates[f"run_{n}"].append(txs / seconds)
    out: dict[str, Any] = {"rounds": rounds, "machine": machine()}
    for name, values in rates.items():
        out[f"{name}_tps"] = [round(v) for v in values]
        if name != "bench":
            # Per round, against the bench of the same round.
            ratios = [v / b for v, b in zip(values, rates["bench"], strict=True)]
            out[f"{name}_ratio"] = [round(x, 3) for x in ratios]
            out[f"{name}_ratio_median"] = round(statistics.median(ratios), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=bench.WORKLOADS, default="transfers")
    parser.add_argument("--txs", type=int, default=60_000)
    parser.add_argument("--per-block", type=int, default=1000)
    parser.add_argument("--subscribers", default="0,1", help="comma-separated counts")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    blocks = bench.generate(args.workload, args.txs, args.per_block, 1000)
    counts = [int(n) for n in args.subscribers.split(",")]
    emit(measure(blocks, counts, args.rounds), args.json)


if __name__ == "__main__":
    main()
