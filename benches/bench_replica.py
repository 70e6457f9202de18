"""Replica benchmark: what the stream's `detail` messages cost, and how fast a replica follows.

An executor ingests devnet blocks (`monmouth.bench.generate`, `--workload`) from a replay file at
full speed (fsync off), publishing its stream, while a replica on the same machine follows it
from its first block; once with both keeping transaction details (`[store]
transaction_details`, the default: the executor sends `detail` messages, the replica stores
them), once with neither keeping them (the whole feature off, not only the stream's part: the
segment figures below isolate that). Each run in fresh data directories.

- `segment_bytes_per_block_without` / `_with`: the stored size of a block segment built from
  the executor's logged blocks without and with their details, and `extra_bytes_per_detail`;
- `segment_build_ms_per_block_without` / `_with`: CPU time of `block_segment` per block (the
  executor's added work; encoding the details a second time);
- per mode, `executor_tps_*` (the executor's own rate while the replica follows) and
  `replica_tps_*` (transactions over the time from the executor's start until the replica has
  its head) and `replica_lag_s_*` (how long after the executor's end).

The executor, its publisher process and the replica share the machine's cores: on a small
machine the figures are lower bounds, and only ratios from one run compare.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio
from bench_stream import free_port_pair
from report import emit

from monmouth.app import build_node
from monmouth.bench import WORKLOADS, generate
from monmouth.core.config import load_settings
from monmouth.core.sources.replay import ReplaySource, write_replay
from monmouth.core.state import DetailWrite, Store
from monmouth.roles.replica import Replica
from monmouth.stream.segments import block_segment, decode_block_data

#: Plugins that would bind ports stay off: the benchmark measures the stream.
NO_PORTS = {"rpc": {"address": None}, "monitoring": {"address": None}}


def segment_cost(store: Store) -> dict[str, Any]:
    """Rebuild the executor's logged block segments without and with their details."""
    first, next_seq, _ = store.stream_bounds()
    sizes = [0, 0]
    cpu = [0.0, 0.0]
    details = blocks = 0
    for _, segment in store.segments(first, next_seq - 1):
        if segment.kind != "block":
            continue
        data = decode_block_data(segment.data)
        writes = [DetailWrite.from_record(k, v) for k, v in data.details]
        accounts = [(k, None, v) for k, v in data.accounts]
        for i, kept in enumerate(((), writes)):
            start = time.thread_time()
            built = block_segment(data.block, data.parent, accounts, data.txs, kept)
            cpu[i] += time.thread_time() - start
            sizes[i] += len(built.data)
        details += len(writes)
        blocks += 1
    return {
        "blocks": blocks,
        "details": details,
        "segment_bytes_per_block_without": sizes[0] // blocks,
        "segment_bytes_per_block_with": sizes[1] // blocks,
        "extra_bytes_per_detail": (sizes[1] - sizes[0]) // max(details, 1),
        "segment_build_ms_per_block_without": round(cpu[0] / blocks * 1e3, 3),
        "segment_build_ms_per_block_with": round(cpu[1] / blocks * 1e3, 3),
    }


def follow(replay: Path, workdir: Path, details: bool) -> dict[str, Any]:
    """One executor over `replay` with a replica following it; returns the rates (and, with
    details, the segment cost measured on the executor's log)."""
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"  # the replica asks at the next port
    executor = load_settings(
        None,
        data_dir=workdir / "executor",
        store={"sync": False, "transaction_details": details},
        stream={"publish": endpoint},
        plugins=NO_PORTS,
    )
    follower = load_settings(
        None,
        data_dir=workdir / "replica",
        role="replica",
        store={"sync": False, "transaction_details": details},
        stream={"publish": None, "upstream": [endpoint]},
        plugins=NO_PORTS,
    )
    mode = "details" if details else "no_details"
    out: dict[str, Any] = {}
    txs = 0
    with build_node(executor) as node:
        replica = Replica(follower)
        stop = threading.Event()
        thread = threading.Thread(target=replica.run, args=(stop,), daemon=True)
        thread.start()
        try:
            while replica.store.meta(b"upstream_seq") is None:  # its (empty) snapshot
                time.sleep(0.02)
            start = time.perf_counter()
            anyio.run(functools.partial(node.run, ReplaySource(replay)))
            ended = time.perf_counter()
            head = node.store.head()
            assert head is not None
            txs = sum(b.ok + b.failed + b.rejected for b in node.store.blocks(0, head.number))
            while (mine := replica.store.head()) is None or mine.hash != head.hash:
                if replica.halted is not None:
                    raise RuntimeError(f"the replica stopped: {replica.halted}")
                time.sleep(0.02)
            caught_up = time.perf_counter()
        finally:
            stop.set()
            thread.join()
            replica.close()
        out[f"txs_{mode}"] = txs
        out[f"executor_tps_{mode}"] = round(txs / (ended - start))
        out[f"replica_tps_{mode}"] = round(txs / (caught_up - start))
        out[f"replica_lag_s_{mode}"] = round(caught_up - ended, 2)
        if details:
            out.update(segment_cost(node.store))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=WORKLOADS, default="transfers")
    parser.add_argument("--txs", type=int, default=20_000, help="SVM transactions to run")
    parser.add_argument("--per-block", type=int, default=200, help="SVM transactions per block")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    blocks = generate(args.workload, args.txs, args.per_block, args.users)
    result: dict[str, Any] = {"workload": args.workload, "txs": args.txs}
    with tempfile.TemporaryDirectory() as tmp:
        replay = Path(tmp) / "chain.jsonl"
        write_replay(replay, blocks)
        for details in (True, False):
            with tempfile.TemporaryDirectory(dir=tmp) as workdir:
                result.update(follow(replay, Path(workdir), details))
    emit(result, args.json)


if __name__ == "__main__":
    main()
