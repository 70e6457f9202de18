"""The whole process as users run it (issue 21, item 3): `monmouth run` from a replay file with
the defaults (the stream published, monitoring and the Solana RPC serving), with nobody and with
subscribers taking every message, against the node as `monmouth bench` runs it, over the same
transactions; and where the CPU goes in each.

`monmouth run` is timed from its `starting` to its `stopped` log line (so the interpreter's
start and the imports do not count); `monmouth bench`'s node (as `bench.node_run` builds it) in
this process, from the start of `node.run` to its end. Rounds alternate the settings, so that
the machine's drift falls on all of them alike; each ratio is against the bench of its round.

CPU time per transaction (µs) over the same windows, read from /proc for every thread of the
node's process, its children and the subscribers: the machine is shared, so CPU time says what
each part costs where wall time only says how much of the machine it got.

- `main`: the node's main thread (routing, execution, commits);
- `checks`: the native signature-checking threads (they run at niceness 10, which names them);
- `threads`: every other thread of the node's process (the plugins' workers, the stream's
  writer and reader, the monitoring server, prefetching), each by name under `threads_by_name`
  (`monmouth run` is started through a launcher that gives each Python thread its name in the
  kernel, where /proc shows it; nothing else changes);
- `publisher`, `rpc`: the stream's publisher child and the rpc server's child;
- `subscribers`: the subscriber processes (raw SUB sockets taking every message);
- `life_total`: `monmouth run` from exec to exit with its children (their rusage when they were
  reaped), the interpreter's start, the imports and shutting down included.

`run_N_cpu_ratio` is computed from these (the bench's CPU per transaction over the run's, all
parts and subscribers included): what the rates' ratio would be if everything came out of the
same saturated cores. It does not move with other sessions' load as the rates do; it ignores
how much of the run's work the scheduler leaves for later (the publisher child at niceness 19).

    python benches/bench_process.py [--txs N] [--per-block N] [--subscribers 0,1] [--rounds R]
                                    [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from report import emit, machine

from monmouth import bench
from monmouth.app import build_node
from monmouth.bench import TICK, child_pids, stat_cpu
from monmouth.core.config import load_settings
from monmouth.core.l1 import L1Block
from monmouth.core.sources.replay import ReplaySource, write_replay

#: The niceness of the native signature-checking threads (monmouth/rust_svm/_verify.c).
_CHECKS_NICE = 10
#: `python -m monmouth ARGS` with each Python thread's name given to the kernel (prctl
#: PR_SET_NAME: 15 bytes, without the common `monmouth-`), so that /proc/PID/task/TID/comm
#: tells the threads apart.
_LAUNCHER = """
import ctypes, runpy, sys, threading
prctl = ctypes.CDLL(None).prctl
boot = threading.Thread._bootstrap_inner
def named(self):
    prctl(15, self.name.removeprefix("monmouth-").encode()[:15], 0, 0, 0)
    boot(self)
threading.Thread._bootstrap_inner = named
sys.argv[0] = "monmouth"
runpy.run_module("monmouth", run_name="__main__", alter_sys=True)
"""


# ---------------------------------------------------------------------- reading /proc


def _process_label(pid: int, root: int) -> str:
    if pid == root:
        return "node"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "child"
    if "monmouth.stream.publisher_process" in cmdline:
        return "publisher"
    if "monmouth.plugins.rpc.server" in cmdline:
        return "rpc"
    return "child"


def _thread_label(pid: int, tid: int, nice: int, comm: str, names: dict[int, str]) -> str:
    if tid == pid:
        return "main"
    if nice == _CHECKS_NICE:
        return "checks"
    # As the launcher names them in the kernel, so that both sides' names compare; and
    # Thread-3 (_relay) and prefetch_0 count under one name per kind.
    name = names.get(tid, comm).removeprefix("monmouth-")[:15]
    return re.sub(r"[-_]\d+\b", "", re.sub(r"^Thread-\d+ ", "", name)) or "thread"


def _tasks(pid: int, names: dict[int, str]) -> Iterable[tuple[int, str, float]]:
    """(tid, label, CPU seconds so far) of each thread of `pid` alive now."""
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                raw = Path(f"/proc/{pid}/task/{task}/stat").read_text()
                comm = raw[raw.index("(") + 1 : raw.rindex(")")]
                # Field 19 of proc(5) (nice), counted from 3 here.
                nice = int(raw.rsplit(")", 1)[1].split()[16])
                tid = int(task)
                yield tid, _thread_label(pid, tid, nice, comm, names), stat_cpu(raw)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """CPU seconds so far of each thread in a process tree and of some other processes, and
    the machine's busy time (every process's), at one moment."""

    threads: dict[tuple[int, int], tuple[str, float]]
    machine_busy: float
    at: float = field(default_factory=time.monotonic)


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


def snapshot(
    root: int, subscribers: frozenset[int] = frozenset(), names: dict[int, str] | None = None
) -> Snapshot:
    """Every thread of `root` and its descendants, labelled `process/thread`, and of the
    `subscribers` (labelled `subscribers`). `names`: thread names by native id (for a process
    that can tell them, this one)."""
    threads: dict[tuple[int, int], tuple[str, float]] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        todo.extend(child_pids(pid))
        if pid in subscribers:
            continue
        process = _process_label(pid, root)
        for tid, label, cpu in _tasks(pid, names or {}):
            threads[pid, tid] = (label if process == "node" else process, cpu)
    for pid in subscribers:
        for tid, _, cpu in _tasks(pid, {}):
            threads[pid, tid] = ("subscribers", cpu)
    return Snapshot(threads, _machine_busy())


def cpu_between(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds by label between two snapshots (a thread born in between counts from 0;
    one that ended in between is lost, which the node's threads do not do while it runs)."""
    out: dict[str, float] = {}
    for key, (label, cpu) in after.threads.items():
        start = before.threads.get(key, (label, 0.0))[1]
        out[label] = out.get(label, 0.0) + cpu - start
    out["machine"] = after.machine_busy - before.machine_busy
    return out


# ---------------------------------------------------------------------- the runs


@dataclass(frozen=True, slots=True)
class Run:
    """One measured run: transactions, seconds, CPU seconds by label over the same window
    (`life_total`: the whole process's life, where known)."""

    txs: int
    seconds: float
    cpu: dict[str, float]


def _when(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()


def run_process(replay: Path, workdir: Path, subscribers: int) -> Run:
    """`monmouth run` over `replay` with the defaults on free ports, `subscribers` raw SUB
    processes taking every message."""
    publish, request = bench.free_endpoints()
    env = {
        **os.environ,
        "MONMOUTH_STREAM__PUBLISH": publish,
        "MONMOUTH_STREAM__REQUEST": request,
        "MONMOUTH_PLUGINS__MONITORING__ADDRESS": f"127.0.0.1:{bench.free_port()}",
        "MONMOUTH_PLUGINS__RPC__ADDRESS": f"127.0.0.1:{bench.free_port()}",
    }
    command = [sys.executable, "-c", _LAUNCHER, "run", "--source", "replay"]
    command += ["--replay-file", str(replay), "--data-dir", str(workdir / "data")]
    lines: dict[str, dict[str, Any]] = {}
    snaps: dict[str, Snapshot] = {}
    stderr: list[str] = []
    with bench.subscriber_processes(publish, subscribers) as theirs:
        proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None

        def read() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                stderr.append(raw)
                if '"starting"' not in raw and '"stopped"' not in raw:
                    continue
                with contextlib.suppress(ValueError):
                    line = json.loads(raw)
                    event = line.get("event") if isinstance(line, dict) else None
                    if event in ("starting", "stopped"):
                        # At once: the process goes on (the window is off by this read).
                        snaps[event] = snapshot(proc.pid, theirs)
                        lines[event] = line

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        # wait4: the rusage of the process and of the children it reaped (its whole life).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        reader.join(timeout=60)
    if proc.returncode != 0 or "stopped" not in lines:
        raise RuntimeError(f"monmouth run failed ({proc.returncode}): {''.join(stderr)[-2000:]}")
    stopped = lines["stopped"]
    cpu = cpu_between(snaps["starting"], snaps["stopped"])
    cpu["life_total"] = usage.ru_utime + usage.ru_stime
    return Run(stopped["ok"] + stopped["failed"], _when(stopped) - _when(lines["starting"]), cpu)


def run_bench_node(replay: Path, workdir: Path) -> Run:
    """`monmouth bench`'s node (the settings of `bench.node_run`: monitoring, the stream log,
    no port bound) in this process, timed and measured around `node.run`."""
    defaults: dict[str, Any] = {
        "stream": {"publish": None},
        "plugins": {"monitoring": {"address": "none"}, "rpc": {"address": "none"}},
    }
    config = load_settings(None, data_dir=workdir / "data", **defaults)
    with build_node(config) as node:
        names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
        before = snapshot(os.getpid(), names=names)
        start = time.perf_counter()
        anyio.run(node.run, ReplaySource(replay))
        seconds = time.perf_counter() - start
        names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
        after = snapshot(os.getpid(), names=names)
        return Run(node.stats.transactions, seconds, cpu_between(before, after))


# ---------------------------------------------------------------------- the report

_GROUPS = ("main", "checks", "threads", "publisher", "rpc", "child", "subscribers")


def per_tx(run: Run) -> dict[str, Any]:
    """CPU µs per transaction by group (`threads`: the node's other threads, also by name),
    the total over the window, and the other processes' share of the machine meanwhile."""
    us = {label: 1e6 * cpu / run.txs for label, cpu in run.cpu.items()}
    groups = {g: 0.0 for g in _GROUPS}
    by_name: dict[str, float] = {}
    for label, value in us.items():
        if label in ("machine", "life_total"):
            continue
        if label in groups:
            groups[label] += value
        else:
            groups["threads"] += value
            by_name[label] = round(value, 2)
    total = sum(groups.values())
    out: dict[str, Any] = {g: round(v, 2) for g, v in groups.items() if v or g == "threads"}
    out["total"] = round(total, 2)
    if "life_total" in us:
        out["life_total"] = round(us["life_total"], 2)
    # The rest of the machine's busy time: other sessions' processes (cores, on average).
    out["others_cores"] = round(max(run.cpu["machine"] - total * run.txs / 1e6, 0) / run.seconds, 2)
    out["threads_by_name"] = dict(sorted(by_name.items(), key=lambda kv: -kv[1]))
    return out


def measure(blocks: list[L1Block], subscribers: list[int], rounds: int) -> dict[str, Any]:
    runs: dict[str, list[Run]] = {"bench": []}
    runs.update({f"run_{n}": [] for n in subscribers})
    out: dict[str, Any] = {"rounds": rounds, "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        replay = Path(tmp) / "chain.jsonl"
        write_replay(replay, blocks)
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as work:
                runs["bench"].append(run_bench_node(replay, Path(work)))
            for n in subscribers:
                with tempfile.TemporaryDirectory() as work:
                    runs[f"run_{n}"].append(run_process(replay, Path(work), n))
    out["load_after"] = os.getloadavg()[0]
    bench_tps = [r.txs / r.seconds for r in runs["bench"]]
    for name, values in runs.items():
        tps = [r.txs / r.seconds for r in values]
        out[f"{name}_tps"] = [round(v) for v in tps]
        if name != "bench":
            # Per round, against the bench of the same round.
            ratios = [v / b for v, b in zip(tps, bench_tps, strict=True)]
            out[f"{name}_ratio"] = [round(x, 3) for x in ratios]
            out[f"{name}_ratio_median"] = round(statistics.median(ratios), 3)
        out[f"{name}_cpu_us_per_tx"] = [per_tx(r) for r in values]
        if name != "bench":
            # Computed, not measured: the ratio of the rates if every part's CPU came out of
            # the same saturated cores (as on a machine the node fills), per round; it does
            # not move with other sessions' load as the rates do.
            cpu = [_window_total(r) for r in values]
            bench_cpu = [_window_total(r) for r in runs["bench"]]
            out[f"{name}_cpu_ratio"] = [
                round(b / c, 3) for b, c in zip(bench_cpu, cpu, strict=True)
            ]
    return out


def _window_total(run: Run) -> float:
    return sum(v for k, v in run.cpu.items() if k not in ("machine", "life_total"))


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
