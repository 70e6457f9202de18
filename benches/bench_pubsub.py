"""Solana PubSub benchmark: what subscribers cost the node's ingest, and how soon they hear of a
commit (issue 17, item 5).

A fresh node ingests `--blocks` devnet blocks of the transfers workload (`--txs-per-block`
transfers among `--users` funded users) twice: once with PubSub serving nobody, once while a
subscriber process holds `--connections` WebSocket connections with `--accounts`
accountSubscribe (processed, base64, on the users that the transfers change) and `--logs`
logsSubscribe (`{mentions: [a user]}`, processed) spread over them. Reported:

- ingest_tps_idle / ingest_tps_subscribed (medians of `--rounds` alternated runs) and their
  ratio (target ≥ 0.85);
- notification latency from commit, p50 and p99 in ms: the time a notification reached the
  subscriber process minus the time the node made its context slot durable (`on_finished`);
  an account notification coalesced over several blocks is measured from its context slot
  (the last of them), a logs notification from the block of its transaction;
- the CPU (share of one core) the rpc child and the subscriber process used while the node
  ingested;
- the rpc child's memory per connection: its anonymous resident memory (RssAnon: not the
  LMDB map's pages, which are the page cache's) with the connections and
  subscriptions open minus before, divided by the connections (and after the ingest, with
  whatever backlogs were left).

The subscribers run in a process of their own (spawn), as real clients do; on a 2-core machine
they take a share of the cores, which is part of the figures. Figures depend on the machine;
compare ratios from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from report import emit, machine
from solders.keypair import Keypair

from monmouth.app import build_node, make_source
from monmouth.bench import stat_cpu
from monmouth.core.config import load_settings
from monmouth.core.notifications import FinishedHeight
from monmouth.devnet.plan import derive
from monmouth.plugins.rpc.plugin import Plugin


def _settings(data_dir: Path, args: argparse.Namespace) -> Any:
    return load_settings(
        None,
        data_dir=data_dir,
        store={"sync": False},
        stream={"publish": None},
        plugins={
            "rpc": {"address": "127.0.0.1:0", "pubsub_max_backlog": 100_000},
            "monitoring": {"address": "none"},
        },
        devnet={"workload": "transfers", "txs_per_block": args.txs_per_block, "users": args.users},
    )


def _users(count: int, seed: int = 7) -> list[str]:
    return [str(Keypair.from_seed(derive("user", seed, i)).pubkey()) for i in range(count)]


def _subscriber(
    url: str,
    accounts: list[str],
    logs: list[str],
    connections: int,
    ready: Any,
    stop: Any,
    out: Any,
) -> None:
    """The subscriber process: opens the connections, subscribes, then records (kind, slot,
    arrival time) of every notification until `stop`."""
    import websockets

    seen: list[tuple[str, int, float]] = []

    async def connection(index: int) -> None:
        mine = accounts[index::connections]
        watched = logs[index::connections]
        async with websockets.connect(url, max_size=None, compression=None) as ws:
            calls = [
                ("accountSubscribe", [a, {"encoding": "base64", "commitment": "processed"}])
                for a in mine
            ]
            calls += [
                ("logsSubscribe", [{"mentions": [a]}, {"commitment": "processed"}]) for a in watched
            ]
            for i, (method, params) in enumerate(calls):
                await ws.send(
                    json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
                )
            answered = 0
            while answered < len(calls):
                if "result" in json.loads(await ws.recv()):
                    answered += 1
            subscribed.append(index)
            while True:
                message = await ws.recv()
                now = time.time()
                body = json.loads(message)
                result = body["params"]["result"]
                seen.append((body["method"], result["context"]["slot"], now))

    subscribed: list[int] = []

    async def main() -> None:
        tasks = [asyncio.create_task(connection(i)) for i in range(connections)]
        while len(subscribed) < connections:
            await asyncio.sleep(0.05)
            for task in tasks:
                if task.done():
                    task.result()
        ready.set()
        await asyncio.to_thread(stop.wait)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    out.put(seen)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise RuntimeError("no RssAnon")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    return stat_cpu(Path(f"/proc/{pid}/stat").read_text())


def _percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    cuts = statistics.quantiles(values, n=100)
    return round(cuts[49], 2), round(cuts[98], 2)


def run(args: argparse.Namespace, work: Path, subscribed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    commits: dict[int, float] = {}
    last = [-1]

    def finished(height: FinishedHeight) -> None:
        now = time.time()
        for number in range(last[0] + 1, height.block.number + 1):
            commits[number] = now
        last[0] = height.block.number

    settings = _settings(work / ("subscribed" if subscribed else "idle"), args)
    with build_node(settings, on_finished=finished) as node:
        anyio.run(functools.partial(node.run, make_source(settings), max_blocks=2))
        plugin = node.pm.get_plugin("rpc")
        assert isinstance(plugin, Plugin) and plugin.pubsub_url is not None
        assert plugin.process is not None
        child = plugin.process.pid
        process = None
        if subscribed:
            users = _users(args.users)
            if args.quiet_accounts:
                users = [str(Keypair().pubkey()) for _ in users]
            accounts = [users[i % len(users)] for i in range(args.accounts)]
            logs = [users[i % len(users)] for i in range(args.logs)]
            context = multiprocessing.get_context("spawn")
            ready, stop, results = context.Event(), context.Event(), context.Queue()
            rss_before = _rss_kib(child)
            process = context.Process(
                target=_subscriber,
                args=(plugin.pubsub_url, accounts, logs, args.connections, ready, stop, results),
            )
            process.start()
            assert ready.wait(120), "the subscribers did not get ready"
            time.sleep(0.5)
            rss_open = _rss_kib(child)
            out["rss_per_connection_kib"] = round((rss_open - rss_before) / args.connections, 1)
        child_cpu = _cpu_seconds(child)
        subscriber_cpu = _cpu_seconds(process.pid) if process and process.pid else 0.0
        node_cpu = _cpu_seconds(os.getpid())
        started = time.perf_counter()
        stats = anyio.run(
            functools.partial(node.run, make_source(settings), max_blocks=args.blocks)
        )
        elapsed = time.perf_counter() - started
        out["tps"] = (stats.ok + stats.failed) / elapsed
        # The node's own CPU: its share of a core, and milliseconds per 1,000 transactions
        # (the same per transaction with fewer cores' worth of it means it was starved).
        node_used = _cpu_seconds(os.getpid()) - node_cpu
        out["node_cpu"] = round(node_used / elapsed, 3)
        out["node_cpu_ms_per_1000_tx"] = round(node_used * 1e6 / max(stats.ok + stats.failed, 1), 1)
        out["data_mib"] = round(
            sum(f.stat().st_size for f in Path(settings.data_dir).rglob("*.mdb")) / 2**20, 1
        )
        # Share of one core each used while the node ingested.
        out["rpc_child_cpu"] = round((_cpu_seconds(child) - child_cpu) / elapsed, 3)
        if process is not None and process.pid:
            used = _cpu_seconds(process.pid) - subscriber_cpu
            out["subscriber_process_cpu"] = round(used / elapsed, 3)
        if process is not None:
            time.sleep(2.0)  # the last notifications arrive
            out["rss_per_connection_after_kib"] = round(
                (_rss_kib(child) - rss_before) / args.connections, 1
            )
            stop.set()
            seen: list[tuple[str, int, float]] = results.get(timeout=60)
            process.join(timeout=30)
            for method, name in (("accountNotification", "account"), ("logsNotification", "logs")):
                latencies = [
                    (at - commits[slot]) * 1000
                    for m, slot, at in seen
                    if m == method and slot in commits
                ]
                p50, p99 = _percentiles(latencies)
                out[f"{name}_notifications"] = len(latencies)
                out[f"{name}_latency_p50_ms"] = p50
                out[f"{name}_latency_p99_ms"] = p99
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=30)
    parser.add_argument("--txs-per-block", type=int, default=400)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--logs", type=int, default=100)
    parser.add_argument(
        "--quiet-accounts",
        action="store_true",
        help="subscribe to accounts nothing changes (the cost of watching, not of notifying)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="idle/subscribed pairs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = machine()
    idle_runs: list[dict[str, Any]] = []
    loaded_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-pubsub-") as tmp:
        # Alternated rounds: on a shared machine the load of others moves between runs.
        for round_ in range(args.rounds):
            work = Path(tmp) / str(round_)
            idle_runs.append(run(args, work, subscribed=False))
            loaded_runs.append(run(args, work, subscribed=True))
    idle_tps = [r["tps"] for r in idle_runs]
    loaded_tps = [r["tps"] for r in loaded_runs]
    result["ingest_tps_idle"] = round(statistics.median(idle_tps), 1)
    result["ingest_tps_subscribed"] = round(statistics.median(loaded_tps), 1)
    result["ingest_ratio"] = round(result["ingest_tps_subscribed"] / result["ingest_tps_idle"], 3)
    result["ingest_tps_rounds"] = [
        (round(a), round(b)) for a, b in zip(idle_tps, loaded_tps, strict=True)
    ]
    result["rpc_child_cpu_idle"] = statistics.median(r["rpc_child_cpu"] for r in idle_runs)
    result["data_mib_idle"] = idle_runs[-1]["data_mib"]
    result["node_cpu_idle"] = idle_runs[-1]["node_cpu"]
    result["node_cpu_ms_per_1000_tx_idle"] = idle_runs[-1]["node_cpu_ms_per_1000_tx"]
    # The last subscribed round's figures.
    loaded = loaded_runs[-1]
    loaded.pop("tps")
    result.update(loaded)
    result["load_after"] = os.getloadavg()[0]
    emit(result, args.json)


if __name__ == "__main__":
    main()
