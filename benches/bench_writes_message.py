"""What the publisher's formatting costs per transaction, with the `writes` message in C
(`stream/_segments.c`) and with its Python reference (`segments.writes_message`).

A node ingests the devnet workload (`monmouth.bench.generate`) with `[stream] writes =
"always"`, then its stored segments are expanded in this process as the publisher's child
expands them for a subscriber to everything (`Expander.messages`), alternating the two
implementations (`segments.IMPLEMENTATION`) over `--rounds` rounds. Reported, in CPU time
(`time.thread_time`) per transaction, the median and range over the rounds of each:

- `expand`: all the messages of every segment (accounts, writes, transactions, details,
  statuses, blocks) with their headers, the decoding of the segments included;
- `writes`: the `writes` messages alone (decoding each block segment as that implementation
  does, then making the message).

    python benches/bench_writes_message.py [--txs N] [--per-block N] [--rounds R] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from report import emit, machine

from monmouth import bench
from monmouth.core.records import Segment
from monmouth.core.state import Store
from monmouth.stream import segments
from monmouth.stream.segments import Expander


def _signatures(data: Any) -> list[str | None]:
    return [None if t.signature is None else segments._sig58(t.signature) for t in data.txs]


def _expand(stored: list[tuple[int, Segment]]) -> float:
    expander = Expander(None)
    start = time.thread_time()
    for seq, segment in stored:
        expander.messages(seq, segment)
    return time.thread_time() - start


def _writes(stored: list[tuple[int, Segment]], implementation: str) -> float:
    blocks = [s for _, s in stored if s.kind == "block"]
    start = time.thread_time()
    for segment in blocks:
        if implementation == "c":
            raw = segments._decode_raw_block(segment.data)
            segments.writes_message_c(raw, _signatures(raw))
        else:
            data = segments._decode_block(segment.data)
            segments.writes_message(data, _signatures(data))
    return time.thread_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=20_000)
    parser.add_argument("--per-block", type=int, default=1000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--workload", default="transfers", choices=bench.WORKLOADS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if segments.IMPLEMENTATION != "c":
        raise SystemExit("the _segments extension is not built")
    result: dict[str, Any] = machine()
    blocks = bench.generate(args.workload, args.txs, args.per_block, args.users)
    with tempfile.TemporaryDirectory() as tmp:
        bench.node_run(blocks, Path(tmp), stream={"publish": None, "writes": "always"})
        with Store(Path(tmp) / "data", readonly=True) as store:
            stored = list(store.segments(0, 1 << 62))
    txs = sum(len(segments._decode_block(s.data).txs) for _, s in stored if s.kind == "block")
    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for implementation in ("python", "c"):
            segments.IMPLEMENTATION = implementation
            for part, seconds in (
                ("expand", _expand(stored)),
                ("writes", _writes(stored, implementation)),
            ):
                times.setdefault(f"{part}_{implementation}", []).append(seconds / txs * 1e6)
    segments.IMPLEMENTATION = "c"
    result.update(workload=args.workload, txs=txs, segments=len(stored), rounds=args.rounds)
    for name, values in times.items():
        result[f"{name}_us"] = round(statistics.median(values), 2)
        result[f"{name}_range_us"] = [round(min(values), 2), round(max(values), 2)]
    for part in ("expand", "writes"):
        result[f"{part}_c_over_python"] = round(
            statistics.median(times[f"{part}_c"]) / statistics.median(times[f"{part}_python"]), 3
        )
    result["load_after"] = os.getloadavg()[0]
    emit(result, args.json)


if __name__ == "__main__":
    main()
