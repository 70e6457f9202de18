"""Ingest benchmark (`make bench`): the node's committed SVM tx/s against LiteSVM's own loop.

The measurement lives in `monmouth.bench` (also `monmouth bench`); this script runs it with
the benchmark's options. `--matrix` runs every workload at each block size and prints the table
of docs/performance.md ("The limit"). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from report import emit, machine

from monmouth import bench

#: The columns of the `--matrix` table: (heading, key of `bench.run`'s result).
COLUMNS = (
    ("workload", "workload"),
    ("per block", "per_block"),
    ("node tx/s", "node_tps"),
    ("LiteSVM tx/s", "litesvm_sigverify_tps"),
    ("ratio", "ratio_vs_sigverify"),
    ("node µs/tx", "cpu_per_tx_us"),
    ("main thread", "main_cpu_per_tx_us"),
    ("LiteSVM µs/tx", "litesvm_cpu_per_tx_us"),
    ("of it execution", "litesvm_exec_cpu_per_tx_us"),
    ("cpu_ratio", "cpu_ratio"),
    ("limit", "ratio_limit"),
    ("cores used", "node_cores_used"),
)


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| " + " | ".join(h for h, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        cells = (f"{row[k]:,}" if isinstance(row[k], int) else str(row[k]) for _, k in COLUMNS)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=bench.WORKLOADS, default="transfers")
    parser.add_argument("--txs", type=int, default=100_000, help="SVM transactions to run")
    parser.add_argument("--txs-per-block", type=int, default=1000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument(
        "--matrix",
        metavar="SIZES",
        help="every workload at each of these comma-separated block sizes (e.g. 50,1000)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not args.matrix:
        result = bench.run(args.workload, args.txs, per_block=args.txs_per_block, users=args.users)
        emit(result, args.json)
        return
    sizes = [int(s) for s in args.matrix.split(",")]
    rows = []
    for workload in bench.WORKLOADS:
        for size in sizes:
            rows.append(bench.run(workload, args.txs, per_block=size, users=args.users))
            if not args.json:
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        print(json.dumps({"machine": machine(), "runs": rows}))
    else:
        print(machine())
        print(table(rows))


if __name__ == "__main__":
    main()
