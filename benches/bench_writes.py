"""What the stream's `writes` cost the executor: log bytes per transaction and ingest rate.

The node ingests the devnet workload (`monmouth.bench.generate`, transfers or SPL) from a replay
file at full speed, fsync on, publishing its stream, each run in a fresh data directory:

- `never`: `[stream] writes = "never"`, no subscriber (the segments as before the kind existed);
- `always`: `writes = "always"` (what the default, "published", does with a published stream:
  every block's writes logged for replay), no subscriber: the executor captures each write
  (`BlockExecutor.want_writes`) and the segment stores it;
- `always_1`: the same with one subscriber process taking what an analyzer with `rag` takes
  (`writes`, `transaction`, and the control kinds), decoding every message, until the last block.

Reported: the node's committed tx/s per run and its ratio to `never` and to `always` (best run
of each), the node process's CPU time per transaction (all its threads: execution, signature
checks, commits; the publisher child and the subscriber are other processes) and the ratios of
the lowest of each, which a shared machine's load disturbs less than wall-clock rates; the log's
bytes per transaction (the stored block segments' sizes over the transactions, for `never` and
`always`); and the writes per transaction. The subscriber checks it got every block's `writes`.
Runs alternate (`--rounds`) so that drift of a shared machine's load falls on every variant.

Figures depend on the machine: compare ratios from one run; `machine()` says what it ran on.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio
from bench_stream import free_port_pair
from report import emit, machine

from monmouth.app import build_node
from monmouth.bench import generate
from monmouth.core.config import load_settings
from monmouth.core.sources.replay import ReplaySource, write_replay
from monmouth.stream.subscriber import Subscriber

READY_TIMEOUT = 30.0


def subscribe(endpoint: str, last_block: int, conn: Connection) -> None:
    """An analyzer's subscription: receive until the last block, count blocks with writes."""
    with Subscriber(endpoint, kinds=["writes", "transaction", "block"]) as sub:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            msg = sub.receive(0.1)
            if msg is not None and msg.kind == "heartbeat":
                break
        conn.send("ready")
        writes = blocks = 0
        while True:
            msg = sub.receive(60.0)
            if msg is None:
                break
            if msg.kind == "writes":
                writes += 1
            elif msg.kind == "block":
                blocks += 1
                if msg.body.number == last_block:
                    break
        conn.send({"writes": writes, "blocks": blocks})


def run(replay: Path, workdir: Path, mode: str, subscriber: bool, last: int) -> dict[str, Any]:
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    settings = load_settings(
        None,
        data_dir=workdir / "data",
        store={"sync": True},
        stream={"publish": endpoint, "writes": mode},
        plugins={"disable": ["rpc", "monitoring"]},
    )
    ctx = multiprocessing.get_context("spawn")
    with build_node(settings) as node:
        proc = None
        conn = None
        if subscriber:
            conn, theirs = ctx.Pipe()
            proc = ctx.Process(target=subscribe, args=(endpoint, last, theirs), daemon=True)
            proc.start()
            theirs.close()
            if not conn.poll(READY_TIMEOUT + 30) or conn.recv() != "ready":
                raise RuntimeError("the subscriber did not get ready")
        start, cpu_start = time.perf_counter(), time.process_time()
        stats = anyio.run(node.run, ReplaySource(replay))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        first, nxt, _ = node.store.stream_bounds()
        segment_bytes = sum(
            len(seg.data) for _, seg in node.store.segments(first, nxt - 1) if seg.kind == "block"
        )
        got = None
        if proc is not None and conn is not None:
            if not conn.poll(120):
                raise RuntimeError("the subscriber did not report")
            got = conn.recv()
            proc.join(10)
            if got["writes"] != got["blocks"]:
                raise RuntimeError(f"blocks without writes at the subscriber: {got}")
    return {
        "tps": stats.transactions / elapsed,
        "cpu_us_per_tx": cpu / stats.transactions * 1e6,
        "txs": stats.transactions,
        "segment_bytes": segment_bytes,
        "subscriber": got,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("transfers", "spl"), default="transfers")
    parser.add_argument("--txs", type=int, default=20_000)
    parser.add_argument("--per-block", type=int, default=200)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"workload": args.workload, **machine()}
    blocks = generate(args.workload, args.txs, args.per_block, args.users)
    variants = {
        "never": ("never", False),
        "always": ("always", False),
        "always_1": ("always", True),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        replay = Path(tmp) / "chain.jsonl"
        write_replay(replay, blocks)
        for _ in range(args.rounds):
            for name, (mode, sub) in variants.items():
                with tempfile.TemporaryDirectory(dir=tmp) as workdir:
                    runs[name].append(run(replay, Path(workdir), mode, sub, blocks[-1].number))
    txs = runs["never"][0]["txs"]
    result["txs"] = txs
    best = {name: max(r["tps"] for r in rs) for name, rs in runs.items()}
    for name, rs in runs.items():
        result[f"tps_{name}"] = [round(r["tps"]) for r in rs]
    for name, rs in runs.items():
        result[f"cpu_us_per_tx_{name}"] = [round(r["cpu_us_per_tx"], 1) for r in rs]
    # The node's own process CPU per transaction (every thread of it; the publisher child and
    # the subscriber are other processes): less sensitive to a shared machine's load than tx/s.
    low = {name: min(r["cpu_us_per_tx"] for r in rs) for name, rs in runs.items()}
    result["cpu_ratio_never_to_always"] = round(low["never"] / low["always"], 3)
    result["cpu_ratio_always_to_subscriber"] = round(low["always"] / low["always_1"], 3)
    result["ratio_always_to_never"] = round(best["always"] / best["never"], 3)
    result["ratio_subscriber_to_always"] = round(best["always_1"] / best["always"], 3)
    result["ratio_subscriber_to_never"] = round(best["always_1"] / best["never"], 3)
    result["log_bytes_per_tx_never"] = round(runs["never"][0]["segment_bytes"] / txs, 1)
    result["log_bytes_per_tx_always"] = round(runs["always"][0]["segment_bytes"] / txs, 1)
    result["load_after"] = os.getloadavg()[0]
    emit(result, args.json)


if __name__ == "__main__":
    main()
