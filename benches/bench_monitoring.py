"""Monitoring overhead: the node's ingest rate with the monitoring plugin off, then on.

One generated replay file (the `monmouth bench` workload) is executed by a fresh node twice in
one process: first with `[plugins] disable = ["monitoring"]`, then with monitoring on, serving
`/metrics` on a free port, scraped every `--scrape-interval` seconds by another process meanwhile
(as Prometheus would; it scrapes every 15 to 60 s, 1 s is the harsher case). Off runs first
because the SDK, once installed, stays for the process; a warm-up run (off, the whole replay)
before both pays for what a process's first run pays alone (it is a few per cent slower than
the next).

Each pair runs in a process of its own, `--pairs` times. The summary gives the median rate of
each side and the median of the pairs' ratios (on / off: the pair ran back to back, under the
same load); and the CPU time per transaction of the whole process, every thread included
(`cpu_ratio`, off / on: what monitoring adds, which other processes on a shared machine move
less than they move the wall clock).

The issue's budget: the ratio on / off is at least 0.95.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from report import emit

from monmouth import bench
from monmouth.app import build_node
from monmouth.core.config import load_settings
from monmouth.core.sources.replay import ReplaySource, write_replay

#: The scraper: GET URL every INTERVAL seconds until killed; prints how many it made on SIGTERM.
SCRAPER = """
import signal, sys, time, urllib.request
url, interval, count = sys.argv[1], float(sys.argv[2]), 0
def done(*_):
    print(count, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
print("ready", flush=True)
while True:
    time.sleep(interval)
    with urllib.request.urlopen(url, timeout=5) as answer:
        answer.read()
    count += 1
"""


def run_node(
    replay: Path, workdir: Path, *, monitoring: bool, scrape_interval: float = 0.0
) -> dict[str, Any]:
    """A fresh node from the replay file to committed state: rate, CPU per transaction."""
    plugins: dict[str, Any] = (
        {"monitoring": {"address": "127.0.0.1:0"}} if monitoring else {"disable": ["monitoring"]}
    )
    settings = load_settings(
        None, data_dir=workdir / "data", stream={"publish": None}, plugins=plugins
    )
    with build_node(settings) as node:
        url = getattr(node.pm.get_plugin("monitoring"), "url", None)
        scraper = None
        if url is not None and scrape_interval > 0:
            scraper = subprocess.Popen(
                [sys.executable, "-c", SCRAPER, f"{url}/metrics", str(scrape_interval)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert scraper.stdout is not None
            scraper.stdout.readline()  # "ready": its start-up is not the node's time
        start, cpu_start = time.perf_counter(), time.process_time()
        anyio.run(functools.partial(node.run, ReplaySource(replay)))
        seconds = time.perf_counter() - start
        # Every thread of this process: node, verifiers, plugin workers, the HTTP server.
        cpu = time.process_time() - cpu_start
        scrapes = 0
        if scraper is not None:
            scraper.terminate()
            out, _ = scraper.communicate(timeout=30)
            scrapes = int(out.split()[-1])
        txs = node.stats.transactions
    return {
        "txs": txs,
        "seconds": seconds,
        "tps": txs / seconds,
        "cpu_us_per_tx": cpu / txs * 1e6,
        "scrapes": scrapes,
    }


def one_pair(replay: Path, scrape_interval: float) -> dict[str, Any]:
    """Warm-up (off), then off, then on, in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        run_node(replay, Path(tmp) / "warmup", monitoring=False)
        off = run_node(replay, Path(tmp) / "off", monitoring=False)
        on = run_node(replay, Path(tmp) / "on", monitoring=True, scrape_interval=scrape_interval)
    return {
        "off": off,
        "on": on,
        "ratio": on["tps"] / off["tps"],
        "cpu_ratio": off["cpu_us_per_tx"] / on["cpu_us_per_tx"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=bench.WORKLOADS, default="transfers")
    parser.add_argument("--txs", type=int, default=20_000, help="SVM transactions to run")
    parser.add_argument("--txs-per-block", type=int, default=1000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=5, help="off/on pairs, a process each")
    parser.add_argument(
        "--scrape-interval", type=float, default=1.0, help="seconds between scrapes (0: none)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pair", type=Path, help=argparse.SUPPRESS)  # a child: one pair
    args = parser.parse_args()

    if args.pair is not None:
        sys.stdout.write(json.dumps(one_pair(args.pair, args.scrape_interval)) + "\n")
        return

    blocks = bench.generate(args.workload, args.txs, args.txs_per_block, args.users)
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        replay = Path(tmp) / "chain.jsonl"
        write_replay(replay, blocks)
        scrape = str(args.scrape_interval)
        for _ in range(args.pairs):
            child = subprocess.run(
                [sys.executable, __file__, "--pair", str(replay), "--scrape-interval", scrape],
                capture_output=True,
                text=True,
                check=True,
            )
            pairs.append(json.loads(child.stdout.splitlines()[-1]))

    def median(key: str, side: str | None = None) -> float:
        return float(statistics.median(p[side][key] if side else p[key] for p in pairs))

    emit(
        {
            "workload": args.workload,
            "txs": pairs[0]["off"]["txs"],
            "blocks": len(blocks),
            "pairs": len(pairs),
            "scrape_interval": args.scrape_interval,
            "off_tps": round(median("tps", "off")),
            "on_tps": round(median("tps", "on")),
            "ratio": round(median("ratio"), 3),
            "pair_ratios": [round(p["ratio"], 3) for p in pairs],
            "pair_tps": [[round(p["off"]["tps"]), round(p["on"]["tps"])] for p in pairs],
            "off_cpu_us_per_tx": round(median("cpu_us_per_tx", "off"), 1),
            "on_cpu_us_per_tx": round(median("cpu_us_per_tx", "on"), 1),
            "cpu_ratio": round(median("cpu_ratio"), 3),
            "pair_cpu_ratios": [round(p["cpu_ratio"], 3) for p in pairs],
            "scrapes": [p["on"]["scrapes"] for p in pairs],
        },
        args.json,
    )


if __name__ == "__main__":
    main()
