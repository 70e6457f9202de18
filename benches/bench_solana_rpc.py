"""Solana JSON-RPC benchmark: requests/s and latency of the `rpc` plugin's server, and what
serving costs the node's ingest (issue 16, items 6 and 8).

1. Reads on an idle node: a node runs `--blocks` devnet blocks (mixed workload: users, SPL
   mints and token accounts), then load processes send one method at a time over keep-alive
   HTTP/1.1 connections for `--seconds`: getAccountInfo (base64), getBalance,
   getSignatureStatuses (100 signatures), getProgramAccounts (SPL Token mints, a scan) and
   sendTransaction (a signed transfer, preflight simulated, handed to a relay that counts), at
   each of `--connections` (default 1, 16, 64) spread over `--clients` processes. Each: req/s,
   p50 and p99 latency in ms.
2. Ingest under load: the node's executed transactions/s over `--ingest-blocks` blocks of the
   transfers workload, in a fresh data directory, once idle and once while load processes send
   getAccountInfo at `--load-rate` requests/s in total; `ingest_ratio` is loaded / idle
   (target ≥ 0.8 at 1,000 requests/s).

The load runs in processes of its own (spawn), never in the node's, as real clients do; on a
2-core machine they still take a share of the cores, and that is part of the figures.
Figures depend on the machine; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import multiprocessing
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import base58
from report import emit
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from monmouth.app import build_node, make_source
from monmouth.core.config import load_settings
from monmouth.core.node import Node
from monmouth.core.records import decode_tx
from monmouth.devnet.plan import derive

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


class CountingRelay:
    """Takes every relayed write and counts it (the devnet's relay is `monmouth dev`'s)."""

    def __init__(self) -> None:
        self.taken = 0

    def send_transactions(self, transactions: Sequence[bytes]) -> None:
        self.taken += len(transactions)

    def deposit(self, recipient: bytes, lamports: int) -> None:
        self.taken += 1


def _request(body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return (
        b"POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )


def _client(
    url: str, requests: list[bytes], connections: int, seconds: float, rate: float | None
) -> list[float]:
    """One load process: `connections` keep-alive connections, each one request in flight;
    with `rate`, at most that many requests/s in total. Returns the latencies."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []

    async def connection(index: int, stop: float) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        i = index
        gap = None if rate is None else connections / rate
        next_at = time.monotonic()
        while time.monotonic() < stop:
            if gap is not None:
                next_at += gap
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += connections
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
        writer.close()

    async def run() -> None:
        stop = time.monotonic() + seconds
        await asyncio.gather(*(connection(i, stop) for i in range(connections)))

    asyncio.run(run())
    return latencies


def load(
    url: str,
    requests: list[bytes],
    connections: int,
    clients: int,
    seconds: float,
    rate: float | None = None,
) -> dict[str, float]:
    clients = max(1, min(clients, connections))
    shares = [
        connections // clients + (1 if i < connections % clients else 0) for i in range(clients)
    ]
    context = multiprocessing.get_context("spawn")
    with context.Pool(clients) as pool:
        started = time.monotonic()
        parts = pool.starmap(
            _client,
            [
                (
                    url,
                    requests,
                    share,
                    seconds,
                    None if rate is None else rate * share / connections,
                )
                for share in shares
            ],
        )
        elapsed = time.monotonic() - started
    latencies = sorted(x for part in parts for x in part)
    if not latencies:
        return {"rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0}
    return {
        "rps": round(len(latencies) / min(elapsed, seconds + 0.5), 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
    }


def _settings(data_dir: Path, **devnet: Any) -> Any:
    return load_settings(
        None,
        data_dir=data_dir,
        store={"sync": False},
        stream={"publish": None},
        plugins={"rpc": {"address": "127.0.0.1:0"}, "monitoring": {"address": "none"}},
        devnet=devnet,
    )


def _url(node: Node) -> str:
    url = getattr(node.pm.get_plugin("rpc"), "url", None)
    assert isinstance(url, str), "the rpc plugin is not serving"
    return url


def workloads(node: Node) -> dict[str, list[bytes]]:
    """Request bodies per method, over the node's own accounts and transactions."""
    store = node.store
    head = store.head()
    assert head is not None
    keys = [str(Pubkey(k)) for k, _ in store.iter_accounts()]
    signatures: list[str] = []
    in_txs = False
    for key, value in store.snapshot():
        if key == b"":
            in_txs = value == b"txs"
        elif in_txs:
            signatures.append(_b58(decode_tx(value).signature))
    hundred = (signatures * (100 // max(len(signatures), 1) + 1))[:100]
    payer = Keypair.from_seed(derive("user", 7, 0))
    sends = []
    for i in range(64):
        ix = transfer(
            TransferParams(
                from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1_000_000 + i
            )
        )
        message = Message.new_with_blockhash([ix], payer.pubkey(), Hash(head.hash))
        tx = Transaction([payer], message, Hash(head.hash))
        sends.append(base64.b64encode(bytes(tx)).decode())

    def call(method: str, params: list[Any]) -> bytes:
        return _request({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})

    base64_config = {"encoding": "base64", "commitment": "processed"}
    return {
        "getAccountInfo": [call("getAccountInfo", [k, base64_config]) for k in keys[:200]],
        "getBalance": [call("getBalance", [k, {"commitment": "processed"}]) for k in keys[:200]],
        "getSignatureStatuses": [call("getSignatureStatuses", [hundred])],
        "getProgramAccounts": [
            call(
                "getProgramAccounts",
                [TOKEN_PROGRAM, {**base64_config, "filters": [{"dataSize": 82}]}],
            )
        ],
        "sendTransaction": [
            call(
                "sendTransaction", [tx, {"encoding": "base64", "preflightCommitment": "processed"}]
            )
            for tx in sends
        ],
    }


def _b58(raw: bytes) -> str:
    return str(base58.b58encode(raw).decode())


def reads(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    settings = _settings(work / "reads")
    with build_node(settings) as node:
        anyio.run(functools.partial(node.run, make_source(settings), max_blocks=args.blocks))
        node.relay = CountingRelay()
        url = _url(node)
        out["accounts"] = node.store.accounts_count()
        for method, requests in workloads(node).items():
            for connections in args.connections:
                result = load(url, requests, connections, args.clients, args.seconds)
                for name, value in result.items():
                    out[f"{method}_{connections}_{name}"] = value
    return out


def ingest(args: argparse.Namespace, work: Path, rate: float | None) -> float:
    """Executed transactions/s of a fresh node over the ingest blocks, with or without load."""
    settings = _settings(
        work / ("ingest-loaded" if rate else "ingest-idle"),
        workload="transfers",
        txs_per_block=args.txs_per_block,
    )
    with build_node(settings) as node:
        anyio.run(functools.partial(node.run, make_source(settings), max_blocks=2))
        pool = None
        if rate:
            requests = workloads(node)["getAccountInfo"]
            seconds = args.seconds * 4
            context = multiprocessing.get_context("spawn")
            pool = context.Pool(args.clients)
            pending = pool.starmap_async(
                _client,
                [(_url(node), requests, 4, seconds, rate / args.clients)] * args.clients,
            )
            time.sleep(1.0)  # the load is running before ingest starts
        started = time.perf_counter()
        stats = anyio.run(
            functools.partial(node.run, make_source(settings), max_blocks=args.ingest_blocks)
        )
        elapsed = time.perf_counter() - started
        if pool is not None:
            served = sum(len(part) for part in pending.get())
            pool.close()
            if not args.json:
                print(f"load served {served} requests")
    return (stats.ok + stats.failed) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--clients", type=int, default=2, help="load processes")
    parser.add_argument("--ingest-blocks", type=int, default=30)
    parser.add_argument("--txs-per-block", type=int, default=400)
    parser.add_argument("--load-rate", type=float, default=1000.0)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-solana-rpc-") as tmp:
        work = Path(tmp)
        result = reads(args, work)
        if not args.skip_ingest:
            idle = ingest(args, work, None)
            loaded = ingest(args, work, args.load_rate)
            result["ingest_tps_idle"] = round(idle, 1)
            result["ingest_tps_loaded"] = round(loaded, 1)
            result["ingest_ratio"] = round(loaded / idle, 3)
            result["load_rate"] = args.load_rate
    emit(result, args.json)


if __name__ == "__main__":
    main()
