"""Per-block costs (issue 21, item 2): the node's CPU for an L1 block without inbox messages, and
for a block with one small message (one transfer) beyond its transaction.

The node runs as `monmouth bench` runs it (defaults: monitoring on, stream log kept, from a
replay file to committed state), over:

- **empty**: L1 blocks of six plain Ethereum transactions each (what a devnet block holds),
  none to the inbox: CPU of all the node's threads per block;
- **one transfer**: a transfer per L1 block, against 1,000 per block in the same round: the
  CPU per block at one per block, minus the CPU per transaction at 1,000 per block.

Rounds alternate the settings, so that the machine's drift falls on all of them alike.

    python benches/bench_blocks.py [--blocks N] [--rounds R] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
from pathlib import Path
from typing import Any

from report import emit, machine

from monmouth import bench
from monmouth.core.l1 import L1Block, L1Transaction

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
    single = bench.generate("transfers", count, 1, users)
    full = bench.generate("transfers", 20 * 1000, 1000, users)
    empty_ms: list[float] = []
    beyond_ms: list[float] = []
    per_tx_us: list[float] = []
    for _ in range(rounds):
        cpu, _ = _cpu(empty)
        empty_ms.append(cpu / len(empty) * 1e3)
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
        "one_transfer_block_beyond_tx_ms": [round(x, 4) for x in beyond_ms],
        "one_transfer_block_beyond_tx_ms_median": round(statistics.median(beyond_ms), 4),
        "per_tx_us_at_1000": [round(x, 1) for x in per_tx_us],
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5000, help="L1 blocks per setting")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    emit(measure(args.blocks, args.rounds), args.json)


if __name__ == "__main__":
    main()
