"""Ingest benchmark: the node's committed SVM tx/s against LiteSVM's own loop, in one run.

Generates the devnet transfer workload, then measures over the same transactions:

- LiteSVM's `send_transaction` loop with signature checks on, and again with them off (the
  runtime alone, no state kept beyond memory, accounts funded directly);
- the whole node from a replay file to committed LMDB state (routing, decoding, blockhash window,
  replay protection, signature checks, execution, lattice hash, fsync'd commit per block).

Prints both rates and their ratio (`--json` for one object). Figures depend on the machine; run
on an otherwise idle one, and compare ratios from one run, not figures across runs.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import anyio
from report import emit
from solders.account import Account
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from monmouth.core import inbox
from monmouth.core.config import load_settings
from monmouth.core.l1 import L1Block
from monmouth.core.node import Node
from monmouth.core.sources.devnet import DevnetChain
from monmouth.core.sources.replay import ReplaySource, write_replay


def generate(txs: int, per_block: int, users: int) -> list[L1Block]:
    settings = load_settings(
        None,
        devnet={
            "workload": "transfers",
            "txs_per_block": per_block,
            "batch_size": 64,
            "users": users,
            "failure_rate": 0.0,
            "bad_input_rate": 0.0,
        },
    )
    chain = DevnetChain(settings.devnet, settings.inbox.address_bytes)
    count = 0
    while count < txs:
        chain.next_event()
        count += sum(len(m) for m in _batches(chain.tip))
    return list(chain.canonical())


def _batches(block: L1Block) -> list[tuple[bytes, ...]]:
    out = []
    for tx in block.transactions:
        if tx.to == inbox.DEFAULT_INBOX_ADDRESS and tx.status == 1:
            msg = inbox.decode(tx.input, tx.value)
            if isinstance(msg, inbox.Batch):
                out.append(msg.transactions)
    return out


def litesvm_loop(blocks: list[L1Block], sigverify: bool) -> tuple[int, float]:
    """LiteSVM alone over the same transactions; deposits become direct account funding."""
    svm = (
        LiteSVM().with_sigverify(sigverify).with_blockhash_check(False).with_transaction_history(0)
    )
    txs: list[VersionedTransaction] = []
    for block in blocks:
        for tx in block.transactions:
            if tx.to != inbox.DEFAULT_INBOX_ADDRESS or tx.status != 1:
                continue
            msg = inbox.decode(tx.input, tx.value)
            if isinstance(msg, inbox.Deposit):
                key = Pubkey(msg.recipient)
                have = svm.get_account(key)
                lamports = msg.lamports + (have.lamports if have else 0)
                svm.set_account(key, Account(lamports, b"", Pubkey.default()))
            elif isinstance(msg, inbox.Batch):
                txs.extend(VersionedTransaction.from_bytes(raw) for raw in msg.transactions)
    start = time.perf_counter()
    for wire_tx in txs:
        svm.send_transaction(wire_tx)
    return len(txs), time.perf_counter() - start


def node_run(blocks: list[L1Block], workdir: Path) -> tuple[int, float]:
    replay = workdir / "chain.jsonl"
    write_replay(replay, blocks)
    settings = load_settings(None, data_dir=workdir / "data", stream={"publish": None})
    with Node(settings) as node:
        start = time.perf_counter()
        anyio.run(node.run, ReplaySource(replay))
        elapsed = time.perf_counter() - start
        assert node.stats.failed == 0 and node.stats.rejected == 0, node.stats
        return node.stats.transactions, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=20_000, help="SVM transactions to run")
    parser.add_argument("--txs-per-block", type=int, default=1000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    blocks = generate(args.txs, args.txs_per_block, args.users)
    n_sig, t_sig = litesvm_loop(blocks, sigverify=True)
    n_nosig, t_nosig = litesvm_loop(blocks, sigverify=False)
    with tempfile.TemporaryDirectory() as tmp:
        n_node, t_node = node_run(blocks, Path(tmp))
    assert n_node == n_sig, (n_node, n_sig)
    result = {
        "workload": "transfers",
        "txs": n_node,
        "blocks": len(blocks),
        "litesvm_sigverify_tps": round(n_sig / t_sig),
        "litesvm_nosig_tps": round(n_nosig / t_nosig),
        "node_tps": round(n_node / t_node),
        "ratio_vs_sigverify": round((n_node / t_node) / (n_sig / t_sig), 3),
        "ratio_vs_nosig": round((n_node / t_node) / (n_nosig / t_nosig), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
