"""Per-block costs (issue 21, item 2): the node's CPU for an L1 block without inbox messages, and
for a block with one small message (one transfer) beyond its transaction.

The node runs as `monmouth bench` runs it (defaults: monitoring on, stream log kept, from a
replay file to committed state), over:

- **empty**: L1 blocks of six plain Ethereum transactions each (what a devnet block holds),
  none to the inbox: CPU of all the node's threads and children per block, over the run
  (`empty_block_ms`), and between a run of N blocks and one of 4N (`empty_block_marginal_ms`:
  without what a run costs once, such as starting the store's writer process);
- **one transfer**: a transfer per L1 block, against 1,000 per block in the same round: the
  CPU per block at one per block, minus the CPU per transaction at 1,000 per block.

Rounds alternate the settings, so that the machine's drift falls on all of them alike.

With `--ab`: the empty blocks alone, the node reading as before (`reading_as_before`) against
now, interleaved. With `--parse`: the main thread's CPU (`time.thread_time`) to read and route
each L1 transaction, in process, the way before (`json.loads`, `L1Block.from_rpc`, the routers
looked up per call) against the way the node reads blocks now (`L1Block.from_json`,
`PluginHost.route` with its planned routers), rounds interleaved, over replay-file lines of
three shapes: the empty block above (six plain transactions, as `write_replay` writes them), no
transactions at all, and a mainnet-like block (200 transactions with every key geth returns, a
third of them with two event logs). Two more rows per shape: the RPC source's way, an answer
decoded whole (`json.loads` against `ethrpc.loads`) and the block parsed from it (`from_rpc`
against `from_rpc_fast`), without routing.

    python benches/bench_blocks.py [--blocks N] [--rounds R] [--json]
    python benches/bench_blocks.py --ab [--blocks N] [--rounds R] [--json]
    python benches/bench_blocks.py --parse [--rounds R] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from report import emit, machine

from monmouth import bench
from monmouth.core.config import load_settings
from monmouth.core.ethrpc import loads
from monmouth.core.l1 import IMPLEMENTATION, L1Block, L1Transaction
from monmouth.core.plugins import PluginHalted, PluginHost

#: Plain L1 transactions in each empty block.
PLAIN_TXS = 6


def empty_chain(count: int) -> list[L1Block]:
    """`count` linked L1 blocks from genesis, each with PLAIN_TXS transactions to no inbox."""
    blocks: list[L1Block] = []
    parent = bytes(32)
    for number in range(count):
        txs = tuple(
            L1Transaction(
                hash=hashlib.sha256(b"tx%d.%d" % (number, i)).digest(),
                index=i,
                sender=b"\x01" * 20,
                to=b"\x11" * 20,
                value=10**15,
                input=b"\xa9\x05\x9c\xbb" + bytes(64),  # an ERC-20 transfer's size
                status=1,
            )
            for i in range(PLAIN_TXS)
        )
        block_hash = hashlib.sha256(b"block%d" % number + parent).digest()
        blocks.append(L1Block(number, block_hash, parent, 1_700_000_000 + 12 * number, txs))
        parent = block_hash
    return blocks


def _cpu(blocks: list[L1Block]) -> tuple[float, int]:
    """CPU seconds of every thread and child of the node over `blocks`, and the transactions
    it executed."""
    with tempfile.TemporaryDirectory() as tmp:
        run = bench.node_run(blocks, Path(tmp))
    return run.cpu_main_s + run.cpu_other_s + run.cpu_children_s, run.node.stats.transactions


def measure(count: int, rounds: int, users: int = 1000) -> dict[str, Any]:
    empty = empty_chain(count)
    # Four times as many: the difference is what a block costs, without what a run costs once
    # (the store's writer process starting, about 0.07 s of CPU).
    longer = empty_chain(4 * count)
    single = bench.generate("transfers", count, 1, users)
    full = bench.generate("transfers", 20 * 1000, 1000, users)
    empty_ms: list[float] = []
    marginal_ms: list[float] = []
    beyond_ms: list[float] = []
    per_tx_us: list[float] = []
    for _ in range(rounds):
        cpu, _ = _cpu(empty)
        empty_ms.append(cpu / len(empty) * 1e3)
        cpu_longer, _ = _cpu(longer)
        marginal_ms.append((cpu_longer - cpu) / (len(longer) - len(empty)) * 1e3)
        cpu_full, txs_full = _cpu(full)
        per_tx = cpu_full / txs_full
        cpu_single, _ = _cpu(single)
        # The generated chain's first block funds the users; every other carries one transfer.
        per_block = cpu_single / len(single)
        per_tx_us.append(per_tx * 1e6)
        beyond_ms.append((per_block - per_tx) * 1e3)
    return {
        "blocks": count,
        "rounds": rounds,
        "empty_block_ms": [round(x, 4) for x in empty_ms],
        "empty_block_ms_median": round(statistics.median(empty_ms), 4),
        "empty_block_marginal_ms": [round(x, 4) for x in marginal_ms],
        "empty_block_marginal_ms_median": round(statistics.median(marginal_ms), 4),
        "one_transfer_block_beyond_tx_ms": [round(x, 4) for x in beyond_ms],
        "one_transfer_block_beyond_tx_ms_median": round(statistics.median(beyond_ms), 4),
        "per_tx_us_at_1000": [round(x, 1) for x in per_tx_us],
        "machine": machine(),
    }


# ---------------------------------------------------------------------- --parse


def mainnet_like_line(number: int, txs: int = 200) -> bytes:
    """A replay-file line as geth answers `eth_getBlockByNumber(n, true)` and
    `eth_getBlockReceipts(n)`: every key (gas, signature, access list, logs bloom ...), a third
    of the transactions with two logs of three topics, none to the inbox."""

    def h(*parts: object) -> str:
        return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()

    block_hash, parent = h("block", number), h("block", number - 1)
    transactions, receipts = [], []
    for i in range(txs):
        tx_hash = h("tx", number, i)
        sender, to = "0x" + h("from", i)[2:42], "0x" + h("to", i % 40)[2:42]
        transactions.append(
            {
                "blockHash": block_hash,
                "blockNumber": hex(number),
                "from": sender,
                "gas": "0x2dc6c0",
                "gasPrice": "0x3b9aca00",
                "maxFeePerGas": "0x77359400",
                "maxPriorityFeePerGas": "0x3b9aca00",
                "hash": tx_hash,
                "input": "0xa9059cbb" + "00" * 12 + to[2:] + "%064x" % (i * 10**15),
                "nonce": hex(i),
                "to": to,
                "transactionIndex": hex(i),
                "value": hex(i * 10**16),
                "type": "0x2",
                "accessList": [],
                "chainId": "0x1",
                "v": "0x1",
                "r": h("r", i),
                "s": h("s", i),
                "yParity": "0x1",
            }
        )
        logs = [
            {
                "address": to,
                "topics": [h("topic", j, k) for k in range(3)],
                "data": "0x" + "%064x" % (i * 10**15),
                "blockNumber": hex(number),
                "transactionHash": tx_hash,
                "transactionIndex": hex(i),
                "blockHash": block_hash,
                "logIndex": hex(2 * i + j),
                "removed": False,
            }
            for j in range(2 if i % 3 == 0 else 0)
        ]
        receipts.append(
            {
                "blockHash": block_hash,
                "blockNumber": hex(number),
                "contractAddress": None,
                "cumulativeGasUsed": hex(21000 * (i + 1)),
                "effectiveGasPrice": "0x3b9aca00",
                "from": sender,
                "gasUsed": "0xc350",
                "logs": logs,
                "logsBloom": "0x" + "00" * 256,
                "status": "0x1",
                "to": to,
                "transactionHash": tx_hash,
                "transactionIndex": hex(i),
                "type": "0x2",
            }
        )
    block = {
        "number": hex(number),
        "hash": block_hash,
        "parentHash": parent,
        "timestamp": hex(1_700_000_000 + 12 * number),
        "miner": "0x" + "00" * 20,
        "gasLimit": "0x1c9c380",
        "gasUsed": "0x0",
        "baseFeePerGas": "0x3b9aca00",
        "logsBloom": "0x" + "00" * 256,
        "extraData": "0x",
        "transactions": transactions,
        "receipts": receipts,
    }
    return json.dumps(block, separators=(",", ":")).encode()


def routing_host() -> PluginHost:
    """A plugin host with the built-in routing plugin alone (the node's one router)."""
    from monmouth.plugins.routing.plugin import Plugin as Routing

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, data_dir=Path(tmp))
    host = PluginHost.empty(settings)
    host.pm.register(Routing(settings), name="routing")
    return host


def route_per_call(host: PluginHost, tx: L1Transaction, block: L1Block) -> bytes | None:
    """`PluginHost.route` as it was: the routers looked up, and their arguments built, on every
    call."""
    for impl in reversed(host.pm.hook.route_transaction.get_hookimpls()):
        state = host.states.get(impl.plugin_name)
        if state is not None and (state.disabled or state.abandoned):
            continue
        args = {"tx": tx, "block": block}
        try:
            result = impl.function(**{a: args[a] for a in impl.argnames})
        except Exception as exc:
            reason = f"route_transaction raised {type(exc).__name__}: {exc}"
            raise PluginHalted(impl.plugin_name, reason) from exc
        if result is None:
            continue
        if not isinstance(result, bytes | bytearray | memoryview):
            reason = f"route_transaction returned {type(result).__name__}, not bytes or None"
            raise PluginHalted(impl.plugin_name, reason)
        return bytes(result)
    return None


@contextmanager
def reading_as_before() -> Iterator[None]:
    """The node reads replay lines with `json.loads` and `L1Block.from_rpc`, and looks its
    routers up per call, as before the fast path (for an A/B in one process)."""
    saved_from_json = L1Block.__dict__["from_json"]
    saved_route = PluginHost.route

    def from_json(cls: type[L1Block], text: bytes) -> L1Block:
        return cls.from_rpc(json.loads(text.decode()))

    L1Block.from_json = classmethod(from_json)  # type: ignore[assignment, method-assign]
    PluginHost.route = route_per_call  # type: ignore[assignment, method-assign]
    try:
        yield
    finally:
        L1Block.from_json = saved_from_json  # type: ignore[method-assign]
        PluginHost.route = saved_route  # type: ignore[method-assign]


def measure_ab(count: int, rounds: int) -> dict[str, Any]:
    """The node's CPU per empty block (six plain transactions), reading as before against now,
    interleaved."""
    empty = empty_chain(count)
    before_ms: list[float] = []
    now_ms: list[float] = []
    for _ in range(rounds):
        with reading_as_before():
            before_ms.append(_cpu(empty)[0] / count * 1e3)
        now_ms.append(_cpu(empty)[0] / count * 1e3)
    return {
        "blocks": count,
        "implementation": IMPLEMENTATION,
        "before_ms_per_block": [round(x, 4) for x in before_ms],
        "now_ms_per_block": [round(x, 4) for x in now_ms],
        "before_median": round(statistics.median(before_ms), 4),
        "now_median": round(statistics.median(now_ms), 4),
        "machine": machine(),
    }


def _cpu_per_line(lines: list[bytes], read: Callable[[bytes], None]) -> float:
    started = time.thread_time()
    for line in lines:
        read(line)
    return (time.thread_time() - started) / len(lines)


def measure_parse(rounds: int, lines_per_shape: int = 200) -> dict[str, Any]:
    host = routing_host()

    def before(line: bytes) -> None:
        block = L1Block.from_rpc(json.loads(line.decode()))
        for tx in block.transactions:
            route_per_call(host, tx, block)

    def now(line: bytes) -> None:
        block = L1Block.from_json(line)
        route = host.route
        for tx in block.transactions:
            route(tx, block)

    def parse_only(line: bytes) -> None:
        L1Block.from_json(line)

    # The RPC source's way: the answer's JSON decoded whole, then the block parsed from it (as
    # one answer here; the source merges a block's and its receipts' answers).
    answers: dict[bytes, bytes] = {}

    def rpc_before(line: bytes) -> None:
        L1Block.from_rpc(json.loads(answers[line])[0]["result"])

    def rpc_now(line: bytes) -> None:
        L1Block.from_rpc_fast(loads(answers[line])[0]["result"])

    empty = [
        json.dumps(b.to_rpc(), separators=(",", ":")).encode() for b in empty_chain(lines_per_shape)
    ]
    no_txs = [
        json.dumps(L1Block(b.number, b.hash, b.parent_hash, b.timestamp, ()).to_rpc()).encode()
        for b in empty_chain(lines_per_shape)
    ]
    mainnet = [mainnet_like_line(n) for n in range(1, 21)]
    shapes = {"six plain txs": empty, "no txs": no_txs, "mainnet-like, 200 txs": mainnet}
    for lines in shapes.values():
        answers.update({line: b'[{"jsonrpc":"2.0","id":1,"result":%s}]' % line for line in lines})
    ways = {
        "before": before,
        "now": now,
        "now, parse alone": parse_only,
        "RPC answer, before": rpc_before,
        "RPC answer, now": rpc_now,
    }
    # The routing plugin sees no inbox transaction in these blocks: each answers None.
    samples: dict[str, dict[str, list[float]]] = {s: {w: [] for w in ways} for s in shapes}
    for _ in range(rounds):
        for shape, lines in shapes.items():
            for way, read in ways.items():
                samples[shape][way].append(_cpu_per_line(lines, read))
    result: dict[str, Any] = {"implementation": IMPLEMENTATION, "rounds": rounds}
    for shape, by_way in samples.items():
        txs = len(L1Block.from_json(shapes[shape][0]).transactions)
        for way, cpu in by_way.items():
            best = min(cpu)
            key = f"{shape} / {way}"
            result[key] = f"{best * 1e6:.1f} us/block" + (
                f", {best / txs * 1e6:.2f} us/L1 tx" if txs else ""
            )
    result["machine"] = machine()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5000, help="L1 blocks per setting")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parse", action="store_true", help="reading and routing alone, A/B")
    parser.add_argument("--ab", action="store_true", help="empty blocks, reading before/now")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.parse:
        emit(measure_parse(args.rounds), args.json)
    elif args.ab:
        emit(measure_ab(args.blocks, args.rounds), args.json)
    else:
        emit(measure(args.blocks, args.rounds), args.json)


if __name__ == "__main__":
    main()
