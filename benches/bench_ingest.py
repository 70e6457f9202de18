"""Ingest benchmark (`make bench`): the node's committed SVM tx/s against LiteSVM's own loop.

The measurement lives in `monmouth.bench` (also `monmouth bench`); this script runs it with
the benchmark's options. See docs/performance.md.
"""

from __future__ import annotations

import argparse

from report import emit

from monmouth import bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=bench.WORKLOADS, default="transfers")
    parser.add_argument("--txs", type=int, default=100_000, help="SVM transactions to run")
    parser.add_argument("--txs-per-block", type=int, default=1000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = bench.run(args.workload, args.txs, per_block=args.txs_per_block, users=args.users)
    emit(result, args.json)


if __name__ == "__main__":
    main()
