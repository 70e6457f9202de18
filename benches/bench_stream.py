"""Stream benchmark: messages/s to 1 and 10 subscribers, commit-to-delivery latency, ingest cost.

The node ingests the devnet transfer workload (`monmouth.bench.generate`, as `make bench`) from
a replay file at full speed, fsync on, publishing its stream, once with no subscriber and once
per entry of `--subscribers` (default 1 and 10), each run in a fresh data directory. Each run:

- the node's committed tx/s (and its ratio to the run with no subscriber, which still builds and
  logs every segment: the difference is the cost of expanding, encoding and sending);
- messages/s delivered, counted per subscriber from its first message to the last block's `block`
  message (logged messages only: heartbeats are left out). With several subscribers,
  `messages_per_s_N` is the sum of deliveries over the span from the earliest first message to
  the latest last `block` message, and `messages_per_s_N_each` the mean per-subscriber rate;
- commit-to-delivery latency per block: from the node's `on_finished` to the arrival of the
  block's `block` message, over every (subscriber, block) pair. The node commits in groups (one
  LMDB transaction per replay notification of up to 16 blocks) and calls `on_finished` once per
  group, right after the commit and the hand-over of the group's segments to the publisher, with
  the group's last block: a block's commit time is that of the first finished height at or
  above it. `latency_p50_ms`/`latency_p99_ms` are those of the first run with subscribers,
  `latency_p50_ms_N` etc. those of each run. When the stream is slower than ingest (the
  publisher process runs at the lowest priority, so during catch-up it gets what the node
  leaves of the cores), the backlog grows during the run and the latency is mostly queueing:
  it then grows with `--txs`.

CPU, per SVM transaction: `node_cpu_us_per_tx_N` is the node's process (every thread) over the
ingest; `publisher_cpu_us_per_tx_N` the publisher's child process from before the ingest until it
has sent everything (for N subscribers, until they all received the last message; with none,
until it has handled the last segment). The child runs at the lowest priority, so during
catch-up most of its work comes after the node's last commit: its CPU is what the stream costs
whoever shares the machine, its timing is not.

Every subscriber checks that it received every sequence number exactly once, in order, and never a
`gap` message (recovery by replay is allowed and reported); the benchmark fails otherwise. It
also times the heartbeats: `heartbeat_max_gap_s_N` is the longest wait between two (the interval
is 1 s) until the last block's message, which a monitor with `max_silence` (5 s) would alert on.

Subscribers are processes (`multiprocessing`, spawn), not threads. A subscriber decodes every
message in Python (MessagePack, dataclass per message, the client's bookkeeping): as a thread of
the node's process it would hold the GIL against the node's main thread, so the figures would
mostly measure GIL contention that no deployment has (subscribers live in other processes,
usually on other machines). As processes, they compete with the node only for
cores, which they do in a real co-located deployment too: on a 2-core machine, ten subscriber
processes still slow the node down, and that is part of the figure. The clock shared by the
processes is CLOCK_MONOTONIC, system-wide on Linux.

Figures depend on the machine; run on an otherwise idle one, and compare ratios from one run.
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing
import resource
import socket
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypedDict

import anyio
import numpy as np
from report import emit

from monmouth.app import build_node
from monmouth.bench import generate, stat_cpu
from monmouth.core.config import load_settings
from monmouth.core.notifications import FinishedHeight
from monmouth.core.sources.replay import ReplaySource, write_replay
from monmouth.stream.eventlog import StreamService
from monmouth.stream.schema import EPHEMERAL_KINDS
from monmouth.stream.subscriber import Subscriber

#: Seconds a subscriber waits for its first heartbeat, and for a message once running.
READY_TIMEOUT = 60.0
STALL_TIMEOUT = 60.0
#: Deviations from the expected sequence a subscriber reports in detail (it counts them all).
MAX_ERRORS = 20


def now() -> float:
    """CLOCK_MONOTONIC: one clock for the node's process and the subscribers' (Linux)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class Received(TypedDict):
    """What one subscriber process reports (a plain dict, so it pickles across `spawn`)."""

    #: Logged messages up to and including the last block's `block` message, and their span.
    counted: int
    first: float
    end: float
    #: `block` message arrival per block number.
    arrivals: dict[int, float]
    #: Every logged message received, and the next sequence number it expected at the end.
    total: int
    next_seq: int
    replayed: int
    replays: int
    #: The longest wait between two heartbeats, from the first to the last block's message.
    heartbeat_gap: float
    errors: list[str]


# ---------------------------------------------------------------------- the subscriber process


def subscribe(endpoint: str, last_block: int, conn: Connection) -> None:
    """Receive everything, check the sequence, time the `block` messages, report on `conn`.

    Sends "ready" once a heartbeat arrived (the publisher then has its subscriptions and it has
    joined at the log's head), then receives until the parent's final sequence number is in.
    """
    errors: list[str] = []
    arrivals: dict[int, float] = {}
    first = end = 0.0
    counted = total = replayed = expected = 0
    final: int | None = None
    with Subscriber(endpoint) as sub:
        deadline = now() + READY_TIMEOUT
        while True:
            msg = sub.receive(0.1)
            if msg is not None and msg.kind == "heartbeat":
                break
            if msg is not None:
                errors.append(f"{msg.kind} #{msg.seq} before the first heartbeat")
            if now() > deadline:
                errors.append("no heartbeat")
                conn.send("failed")
                conn.send(_report(0, 0.0, 0.0, {}, 0, 0, 0, sub.replays, 0.0, errors))
                return
        conn.send("ready")
        heard = beat = now()
        gap = 0.0
        while final is None or expected <= final:
            msg = sub.receive(0.2)
            if msg is None or msg.kind in EPHEMERAL_KINDS or end:
                if final is None and conn.poll():
                    final = conn.recv()
                if msg is None:
                    if now() - heard > STALL_TIMEOUT:
                        errors.append(f"nothing for {STALL_TIMEOUT}s, expecting #{expected}")
                        break
                    continue
            heard = t = now()
            kind = msg.kind
            if kind == "heartbeat":
                if not end:
                    gap = max(gap, t - beat)
                beat = t
            if kind in EPHEMERAL_KINDS:
                continue
            if kind == "gap":
                errors.append(f"gap message: {msg.body}")
                continue
            if msg.seq != expected:
                if len(errors) < MAX_ERRORS:
                    what = "duplicate" if msg.seq < expected else "missing before"
                    errors.append(f"{what} #{msg.seq} (expected #{expected})")
                elif len(errors) == MAX_ERRORS:
                    errors.append("more sequence errors left out")
            expected = max(expected, msg.seq + 1)
            total += 1
            replayed += msg.replayed
            if total == 1:
                first = t
            if kind == "block":
                number: int = msg.body.number
                if number in arrivals:
                    errors.append(f"block #{number} delivered twice")
                arrivals[number] = t
                if number == last_block:
                    end, counted = t, total
        if not end:
            errors.append(f"the last block #{last_block} never arrived")
        conn.send(
            _report(
                counted, first, end, arrivals, total, expected, replayed, sub.replays, gap, errors
            )
        )


def _report(
    counted: int,
    first: float,
    end: float,
    arrivals: dict[int, float],
    total: int,
    next_seq: int,
    replayed: int,
    replays: int,
    heartbeat_gap: float,
    errors: list[str],
) -> Received:
    return Received(
        counted=counted,
        first=first,
        end=end,
        arrivals=arrivals,
        total=total,
        next_seq=next_seq,
        replayed=replayed,
        replays=replays,
        heartbeat_gap=heartbeat_gap,
        errors=errors,
    )


# ---------------------------------------------------------------------- the node's side


def free_port_pair() -> int:
    """A port P with P and P+1 free on loopback (the publisher and its request socket)."""
    for _ in range(100):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port: int = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


@dataclass(frozen=True, slots=True)
class Run:
    subscribers: int
    txs: int
    blocks: int
    commits: int
    node_seconds: float
    #: Logged messages in the run (the last sequence number + 1), and the frames sent for them.
    messages: int
    wire_messages: int
    received: list[Received]
    latencies_ms: list[float]
    #: CPU seconds of the node's process over the ingest, and of the publisher's child process
    #: until it had sent everything.
    node_cpu_s: float
    publisher_cpu_s: float


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) of a live process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        return stat_cpu(f.read())


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def commit_times(finished: list[tuple[int, float]], numbers: list[int]) -> dict[int, float]:
    """Each block's commit time: that of the first finished height at or above it."""
    heights = [h for h, _ in finished]
    return {n: finished[bisect.bisect_left(heights, n)][1] for n in numbers}


def run(replay: Path, workdir: Path, subscribers: int, numbers: list[int]) -> Run:
    """One fresh node over `replay` (blocks `numbers`), with `subscribers` subscriber processes."""
    port = free_port_pair()
    endpoint = f"tcp://127.0.0.1:{port}"
    settings = load_settings(
        None,
        data_dir=workdir / "data",
        store={"sync": True},
        stream={"publish": endpoint},
    )
    finished: list[tuple[int, float]] = []

    def on_finished(height: FinishedHeight) -> None:
        finished.append((height.block.number, now()))

    ctx = multiprocessing.get_context("spawn")
    procs: list[multiprocessing.process.BaseProcess] = []
    conns: list[Connection] = []
    with build_node(settings, on_finished=on_finished) as node:
        try:
            for i in range(subscribers):
                ours, theirs = ctx.Pipe()
                proc = ctx.Process(
                    target=subscribe,
                    args=(endpoint, numbers[-1], theirs),
                    name=f"bench-subscriber-{i}",
                    daemon=True,
                )
                proc.start()
                theirs.close()
                procs.append(proc)
                conns.append(ours)
            for i, conn in enumerate(conns):
                if not conn.poll(READY_TIMEOUT + 30) or conn.recv() != "ready":
                    raise RuntimeError(f"subscriber {i} did not get ready")
            events = node.events
            assert isinstance(events, StreamService) and events.publisher is not None
            publisher = events.publisher
            publisher_cpu = process_cpu(publisher.pid)
            start, cpu = now(), own_cpu()
            stats = anyio.run(node.run, ReplaySource(replay))
            elapsed, node_cpu = now() - start, own_cpu() - cpu
            assert stats.failed == 0 and stats.rejected == 0, stats
            messages = node.store.stream_bounds()[1]
            for conn in conns:
                conn.send(messages - 1)
            received: list[Received] = []
            for i, conn in enumerate(conns):
                if not conn.poll(STALL_TIMEOUT + 30):
                    raise RuntimeError(f"subscriber {i} did not report")
                received.append(conn.recv())
            deadline = now() + STALL_TIMEOUT
            while publisher.last_seq < messages - 1 and now() < deadline:
                time.sleep(0.01)  # with no subscriber, nothing else says it is done
            publisher_cpu = process_cpu(publisher.pid) - publisher_cpu
            wire = publisher.messages_sent
        finally:
            for child in procs:
                child.join(timeout=10)
                if child.is_alive():
                    child.terminate()
                    child.join()
            for conn in conns:
                conn.close()
    check(received, messages, set(numbers))
    committed = commit_times(finished, numbers)
    latencies = [
        (t - committed[number]) * 1000 for got in received for number, t in got["arrivals"].items()
    ]
    return Run(
        subscribers,
        stats.transactions,
        stats.blocks,
        stats.commits,
        elapsed,
        messages,
        wire,
        received,
        latencies,
        node_cpu,
        publisher_cpu,
    )


def check(received: list[Received], messages: int, blocks: set[int]) -> None:
    """Fail loudly unless every subscriber got sequence numbers 0..messages-1 exactly once."""
    problems = []
    for i, got in enumerate(received):
        errors = list(got["errors"])
        if got["next_seq"] != messages or got["total"] != messages:
            errors.append(
                f"received {got['total']} messages up to #{got['next_seq'] - 1}, "
                f"published {messages} (#0 to #{messages - 1})"
            )
        if set(got["arrivals"]) != blocks:
            missing = sorted(blocks - set(got["arrivals"]))[:10]
            errors.append(f"block messages missing for blocks {missing}")
        problems += [f"subscriber {i}: {e}" for e in errors]
    if problems:
        raise SystemExit("stream delivery check failed:\n  " + "\n  ".join(problems))


def rate(got: list[Received]) -> tuple[float, float]:
    """(deliveries/s over the span of all subscribers, mean per-subscriber messages/s)."""
    span = max(g["end"] for g in got) - min(g["first"] for g in got)
    each = [g["counted"] / (g["end"] - g["first"]) for g in got]
    return sum(g["counted"] for g in got) / span, sum(each) / len(each)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=20_000, help="SVM transactions to run")
    parser.add_argument("--per-block", type=int, default=200, help="SVM transactions per block")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument(
        "--subscribers", default="1,10", help="subscriber counts, comma-separated (default 1,10)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    counts = [int(n) for n in args.subscribers.split(",") if n.strip()]
    if not counts or min(counts) < 1:
        parser.error("--subscribers takes positive counts, such as 1,10")

    blocks = generate("transfers", args.txs, args.per_block, args.users)
    numbers = [b.number for b in blocks]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        replay = Path(tmp) / "chain.jsonl"
        write_replay(replay, blocks)
        for n in [0, *counts]:
            with tempfile.TemporaryDirectory(dir=tmp) as workdir:
                runs.append(run(replay, Path(workdir), n, numbers))
    base = runs[0]
    for other in runs[1:]:
        same = (other.txs, other.messages) == (base.txs, base.messages)
        assert same, (other.subscribers, other.txs, other.messages, base.txs, base.messages)
    base_tps = base.txs / base.node_seconds
    result: dict[str, Any] = {
        "workload": "transfers",
        "txs": base.txs,
        "blocks": base.blocks,
        "commits": base.commits,
        "messages": base.messages,
        "node_tps_no_subscribers": round(base_tps),
        "node_cpu_us_per_tx_0": round(base.node_cpu_s / base.txs * 1e6, 1),
        "publisher_cpu_us_per_tx_0": round(base.publisher_cpu_s / base.txs * 1e6, 1),
    }
    for r in runs[1:]:
        n = r.subscribers
        total, each = rate(r.received)
        lat = np.array(r.latencies_ms)
        result[f"messages_per_s_{n}"] = round(total)
        if n > 1:
            result[f"messages_per_s_{n}_each"] = round(each)
        result[f"node_tps_{n}"] = round(r.txs / r.node_seconds)
        result[f"node_tps_ratio_{n}"] = round((r.txs / r.node_seconds) / base_tps, 3)
        result[f"node_cpu_us_per_tx_{n}"] = round(r.node_cpu_s / r.txs * 1e6, 1)
        result[f"publisher_cpu_us_per_tx_{n}"] = round(r.publisher_cpu_s / r.txs * 1e6, 1)
        result[f"latency_p50_ms_{n}"] = round(float(np.percentile(lat, 50)), 1)
        result[f"latency_p99_ms_{n}"] = round(float(np.percentile(lat, 99)), 1)
        result[f"latency_max_ms_{n}"] = round(float(lat.max()), 1)
        result[f"replayed_messages_{n}"] = sum(g["replayed"] for g in r.received)
        result[f"wire_frames_per_message_{n}"] = round(r.wire_messages / r.messages, 2)
        result[f"heartbeat_max_gap_s_{n}"] = round(max(g["heartbeat_gap"] for g in r.received), 2)
    first = runs[1].subscribers
    result["latency_p50_ms"] = result[f"latency_p50_ms_{first}"]
    result["latency_p99_ms"] = result[f"latency_p99_ms_{first}"]
    emit(result, args.json)


if __name__ == "__main__":
    main()
