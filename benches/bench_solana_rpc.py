"""Solana JSON-RPC benchmark: requests/s and latency of the `rpc` plugin's server, and what
serving costs the node's ingest (issue 16, items 6 and 8).

1. Reads on an idle node: a node runs `--blocks` devnet blocks (mixed workload: users, SPL
   mints and token accounts), then load processes send one method at a time over keep-alive
   HTTP/1.1 connections for `--seconds`: getAccountInfo (base64), getBalance,
   getSignatureStatuses (100 signatures), getProgramAccounts (SPL Token mints, a scan) and
   sendTransaction (a signed transfer, preflight simulated, handed to a relay that counts), at
   each of `--connections` (default 1, 16, 64) spread over `--clients` processes. Each: req/s,
   p50 and p99 latency in ms, and how many answers were JSON-RPC errors (`_errors`, shown only
   when not 0).
2. The same while the node ingests: the same node goes on executing devnet blocks (the mixed
   workload, as fast as it can) in this process, in one run, while the loads run one after the
   other; each cell also gives the node's executed transactions/s under that load
   (`_ingest_tps`), next to `ingest_tps_unloaded`, its rate with no load (measured first, for
   `--seconds`). The state grows meanwhile (`accounts_after_ingest`), and the
   getProgramAccounts scan with it.
3. Ingest under a fixed load: the node's executed transactions/s over `--ingest-blocks` blocks of
   the transfers workload, in a fresh data directory, once idle and once while load processes
   send getAccountInfo at `--load-rate` requests/s in total; `ingest_ratio` is loaded / idle
   (target ≥ 0.8 at 1,000 requests/s).

The load runs in processes of its own (spawn), never in the node's, as real clients do; on a
2-core machine they still take a share of the cores, and that is part of the figures.
Figures depend on the machine; compare ratios from one run. Without `--json` a table follows
the keys.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import multiprocessing
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
#: How long the load processes are given to start (spawn, imports) before they all begin.
SPAWN_SECONDS = 3.0
METHODS = (
    "getAccountInfo",
    "getBalance",
    "getSignatureStatuses",
    "getProgramAccounts",
    "sendTransaction",
)


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


@dataclass(frozen=True)
class Sends:
    """sendTransaction bodies signed in the load process itself over a recent blockhash (asked
    with getLatestBlockhash every `REFRESH_SECONDS`, untimed): while the node ingests as fast as
    it can, a blockhash taken before the load started would expire (150 blocks) within it."""

    seed: bytes

    def body(self, blockhash: bytes, i: int) -> bytes:
        return _send_body(_keypair(self.seed), blockhash, i)


#: How often a load process asks for a new blockhash for the transactions it signs.
REFRESH_SECONDS = 0.25


@functools.cache
def _keypair(seed: bytes) -> Keypair:
    return Keypair.from_seed(seed)


def _send_body(payer: Keypair, blockhash: bytes, i: int) -> bytes:
    ix = transfer(
        TransferParams(
            from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1_000_000 + i
        )
    )
    message = Message.new_with_blockhash([ix], payer.pubkey(), Hash(blockhash))
    tx = base64.b64encode(bytes(Transaction([payer], message, Hash(blockhash)))).decode()
    return call("sendTransaction", [tx, {"encoding": "base64", "preflightCommitment": "processed"}])


def _client(
    url: str,
    requests: list[bytes] | Sends,
    connections: int,
    seconds: float,
    rate: float | None,
    start_at: float,
) -> tuple[list[float], int]:
    """One load process: from `start_at` (wall clock, so that every process and the ingest
    start together whatever spawning took), `connections` keep-alive connections, each one
    request in flight; with `rate`, at most that many requests/s in total. Returns the
    latencies and how many answers were JSON-RPC errors (an expired blockhash, say: counted,
    never hidden)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    errors = 0

    async def exchange(reader: Any, writer: Any, request: bytes) -> bytes:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body: bytes = await reader.readexactly(length)
        return body

    async def connection(index: int, stop: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        i = index
        gap = None if rate is None else connections / rate
        next_at = time.monotonic()
        blockhash, asked = b"", 0.0
        while time.monotonic() < stop:
            if gap is not None:
                next_at += gap
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if isinstance(requests, Sends):
                if time.monotonic() - asked > REFRESH_SECONDS:
                    latest = json.loads(await exchange(reader, writer, LATEST_BLOCKHASH))
                    blockhash = bytes(Hash.from_string(latest["result"]["value"]["blockhash"]))
                    asked = time.monotonic()
                request = requests.body(blockhash, i)
            else:
                request = requests[i % len(requests)]
            i += connections
            started = time.perf_counter()
            body = await exchange(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            if body.startswith(b'{"jsonrpc":"2.0","error"') or b'"error":' in body[:64]:
                errors += 1
        writer.close()

    async def run() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        stop = time.monotonic() + seconds
        await asyncio.gather(*(connection(i, stop) for i in range(connections)))

    asyncio.run(run())
    return latencies, errors


def _shares(connections: int, clients: int) -> list[int]:
    clients = max(1, min(clients, connections))
    return [
        connections // clients + (1 if i < connections % clients else 0) for i in range(clients)
    ]


def load(
    url: str,
    requests: list[bytes] | Sends,
    connections: int,
    clients: int,
    seconds: float,
    rate: float | None = None,
    meanwhile: Callable[[Any], Any] | None = None,
) -> dict[str, float]:
    """Runs the load and summarises it; `meanwhile(pending)` runs in this process while the
    load processes work, from when they start (it is given their AsyncResult, to stop when
    they are done)."""
    shares = _shares(connections, clients)
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + SPAWN_SECONDS
    with context.Pool(len(shares)) as pool:
        pending = pool.starmap_async(
            _client,
            [
                (
                    url,
                    requests,
                    share,
                    seconds,
                    None if rate is None else rate * share / connections,
                    start_at,
                )
                for share in shares
            ],
        )
        if meanwhile is not None:
            time.sleep(max(0.0, start_at - time.time()))
            meanwhile(pending)
        parts = pending.get()
    latencies = sorted(x for part, _ in parts for x in part)
    errors = sum(e for _, e in parts)
    if not latencies:
        return {"rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "errors": errors}
    return {
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "errors": errors,
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


def workloads(node: Node) -> dict[str, list[bytes] | Sends]:
    """Request bodies per method, over the node's own accounts and transactions."""
    store = node.store
    keys = [str(Pubkey(k)) for k, _ in store.iter_accounts()]
    signatures: list[str] = []
    in_txs = False
    for key, value in store.snapshot():
        if key == b"":
            in_txs = value == b"txs"
        elif in_txs:
            signatures.append(_b58(decode_tx(value).signature))
    hundred = (signatures * (100 // max(len(signatures), 1) + 1))[:100]
    base64_config = {"encoding": "base64", "commitment": "processed"}
    work: dict[str, list[bytes] | Sends] = {
        "getAccountInfo": [call("getAccountInfo", [k, base64_config]) for k in keys[:200]],
        "getBalance": [call("getBalance", [k, {"commitment": "processed"}]) for k in keys[:200]],
        "getSignatureStatuses": [call("getSignatureStatuses", [hundred])],
        "getProgramAccounts": [
            call(
                "getProgramAccounts",
                [TOKEN_PROGRAM, {**base64_config, "filters": [{"dataSize": 82}]}],
            )
        ],
        "sendTransaction": Sends(derive("user", 7, 0)),  # a funded user of the workload
    }
    assert tuple(work) == METHODS
    return work


def call(method: str, params: list[Any]) -> bytes:
    return _request({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


LATEST_BLOCKHASH = call("getLatestBlockhash", [{"commitment": "processed"}])


def _b58(raw: bytes) -> str:
    return str(base58.b58encode(raw).decode())


def _executed(node: Node) -> int:
    # Counted as blocks execute, not as their groups commit (during a catch-up, up to half a
    # second later).
    return node.stats.executed


Sample = tuple[float, int]


def _sample(node: Node) -> Sample:
    """(now, transactions executed so far): read from another thread while the node runs (two
    ints the node's thread replaces, never half-written)."""
    return time.perf_counter(), _executed(node)


def _rate(first: Sample, last: Sample) -> float:
    elapsed = last[0] - first[0]
    return round((last[1] - first[1]) / elapsed, 1) if elapsed > 0 else 0.0


def _ingesting(node: Node, source: Any, control: Callable[[], None]) -> None:
    """Runs the node on `source` in this thread (one run, as a live node runs) while `control`
    runs in another; stops the node when `control` returns, re-raises what it raised."""
    failures: list[BaseException] = []

    def controller() -> None:
        try:
            control()
        except BaseException as error:  # re-raised in the caller's thread
            failures.append(error)
        finally:
            node.request_stop()

    thread = threading.Thread(target=controller, name="bench-control")
    thread.start()
    try:
        anyio.run(node.run, source)
    finally:
        thread.join()
    if failures:
        raise failures[0]


def _mark(node: Node, marks: list[Sample], pending: Any) -> None:
    """Samples the node's ingest when the load starts and when it is done."""
    marks.append(_sample(node))
    pending.wait()
    marks.append(_sample(node))


def reads(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    settings = _settings(work / "reads")
    with build_node(settings) as node:
        source = make_source(settings)
        anyio.run(functools.partial(node.run, source, max_blocks=args.blocks))
        node.relay = CountingRelay()
        url = _url(node)
        out["accounts"] = node.store.accounts_count()
        for method in METHODS:
            for connections in args.connections:
                requests = workloads(node)[method]
                result = load(url, requests, connections, args.clients, args.seconds)
                _put(out, f"{method}_{connections}", result)
        if args.skip_ingest:
            return out
        # The same methods while the node goes on executing blocks of the same workload.
        fixed = workloads(node)  # read from the store before it is written again

        def control() -> None:
            first = _sample(node)
            time.sleep(args.seconds)
            out["ingest_tps_unloaded"] = _rate(first, _sample(node))
            for method in METHODS:
                for connections in args.connections:
                    requests = fixed[method]
                    marks: list[Sample] = []
                    result = load(
                        url,
                        requests,
                        connections,
                        args.clients,
                        args.seconds,
                        meanwhile=functools.partial(_mark, node, marks),
                    )
                    result["ingest_tps"] = _rate(*marks)
                    _put(out, f"ingesting_{method}_{connections}", result)

        _ingesting(node, source, control)
        out["blocks_executed"] = node.stats.blocks
        # The scans above grew with the state: how large it was at the end.
        out["accounts_after_ingest"] = node.store.accounts_count()
    return out


def _put(out: dict[str, Any], prefix: str, result: dict[str, float]) -> None:
    for name, value in result.items():
        if name != "errors" or value:
            out[f"{prefix}_{name}"] = value


def ingest(args: argparse.Namespace, work: Path, rate: float | None) -> dict[str, float]:
    """Executed transactions/s of a fresh node (transfers workload) over `--ingest-seconds`,
    idle or while load processes send getAccountInfo at `rate` requests/s in total (and the
    rate they were served at)."""
    settings = _settings(
        work / ("ingest-loaded" if rate else "ingest-idle"),
        workload="transfers",
        txs_per_block=args.txs_per_block,
    )
    measured: dict[str, float] = {}
    with build_node(settings) as node:
        source = make_source(settings)
        anyio.run(functools.partial(node.run, source, max_blocks=2))
        requests = workloads(node)["getAccountInfo"]

        def timed(stop: Callable[[float], Any]) -> float:
            first = _sample(node)
            stop(args.ingest_seconds)
            return _rate(first, _sample(node))

        def idle() -> None:
            measured["tps"] = timed(time.sleep)

        def loaded() -> None:
            def meanwhile(pending: Any) -> None:
                measured["tps"] = timed(lambda seconds: pending.wait(seconds))

            served = load(
                _url(node),
                requests,
                4 * args.clients,
                args.clients,
                args.ingest_seconds + 0.5,
                rate,
                meanwhile=meanwhile,
            )
            measured["load_rps"], measured["load_p99_ms"] = served["rps"], served["p99_ms"]

        _ingesting(node, source, loaded if rate else idle)
    return measured


def table(result: dict[str, Any], connections: Sequence[int]) -> str:
    """The read figures as a text table: one row per method and phase, one column group
    (req/s, p50, p99 ms) per connection count, and the ingest rate under each load."""
    head = f"{'method':<22}{'phase':<10}" + "".join(
        f"{f'{c} conn: req/s':>16}{'p50 ms':>10}{'p99 ms':>10}" for c in connections
    )
    lines = [head]
    for phase, prefix in (("idle", ""), ("ingesting", "ingesting_")):
        for method in METHODS:
            if f"{prefix}{method}_{connections[0]}_rps" not in result:
                continue
            row = f"{method:<22}{phase:<10}"
            for c in connections:
                key = f"{prefix}{method}_{c}"
                row += f"{result[key + '_rps']:>16}{result[key + '_p50_ms']:>10.2f}"
                row += f"{result[key + '_p99_ms']:>10.2f}"
            lines.append(row)
    if "ingest_tps_unloaded" in result:
        lines.append("")
        lines.append(
            "node ingest, tx/s: unloaded "
            f"{result['ingest_tps_unloaded']}; under each load above (connections "
            + "/".join(str(c) for c in connections)
            + "):"
        )
        for method in METHODS:
            rates = [result.get(f"ingesting_{method}_{c}_ingest_tps") for c in connections]
            lines.append(f"  {method:<22}" + " / ".join(str(r) for r in rates))
    if "ingest_ratio" in result:
        lines.append(
            f"transfers ingest, tx/s: idle {result['ingest_tps_idle']}, while serving "
            f"{result['load_rps']} getAccountInfo req/s (asked {result['load_rate']}) "
            f"{result['ingest_tps_loaded']}: ratio {result['ingest_ratio']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--clients", type=int, default=2, help="load processes")
    parser.add_argument("--ingest-seconds", type=float, default=10.0)
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
            result["ingest_tps_idle"] = round(idle["tps"], 1)
            result["ingest_tps_loaded"] = round(loaded["tps"], 1)
            result["ingest_ratio"] = round(loaded["tps"] / idle["tps"], 3)
            result["load_rate"] = args.load_rate
            result["load_rps"] = loaded["load_rps"]
            result["load_p99_ms"] = loaded["load_p99_ms"]
    emit(result, args.json)
    if not args.json:
        print()
        print(table(result, args.connections))


if __name__ == "__main__":
    main()
