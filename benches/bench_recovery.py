"""Reorg and restart costs: reverting 32 blocks against executing them, and the time from
starting a node on a state of 1,000,000 accounts to its first new block committed.

Targets (issue 6): a revert of 32 blocks costs at most a fifth of executing them; the restart
commits its first new block within 2 s of starting. Both in one run, `--json` for one object.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from report import emit
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from monmouth import bench
from monmouth.app import build_node
from monmouth.core import inbox
from monmouth.core.config import Settings, load_settings
from monmouth.core.l1 import L1Block, L1Transaction
from monmouth.core.lthash import LtHash, digest, sum_of
from monmouth.core.notifications import ChainCommitted
from monmouth.core.records import BlockRecord
from monmouth.core.state import BlockWrite, Store
from monmouth.rust_svm.accounts import AccountRecord, account_hash_input

SOL = 10**9


def _settings(data_dir: Path) -> Settings:
    return load_settings(None, data_dir=data_dir, stream={"publish": None})


def revert_cost(workdir: Path, depth: int, per_block: int) -> dict[str, float]:
    """Execute `depth` + 8 blocks one by one (commit per block), then revert the last `depth`."""
    blocks = bench.generate("transfers", (depth + 8) * per_block, per_block, 1000)
    with build_node(_settings(workdir / "revert")) as node:
        times = []
        for block in blocks:
            start = time.perf_counter()
            node.apply(ChainCommitted((block,)))
            times.append(time.perf_counter() - start)
        head = node.stats.head
        assert head is not None
        executed = sum(times[-depth:])
        start = time.perf_counter()
        node.revert_to(head.number - depth)
        reverted = time.perf_counter() - start
    return {
        "revert_depth": depth,
        "txs_per_block": per_block,
        "execute_last_blocks_s": round(executed, 3),
        "revert_s": round(reverted, 3),
        "revert_over_execute": round(reverted / executed, 3),
    }


def _keypair(n: int) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(f"bench-recovery-{n}".encode()).digest())


def build_state(data_dir: Path, accounts: int, signers: int) -> BlockRecord:
    """A state of `accounts` funded system accounts (the first `signers` ones have known keys),
    written in blocks of 100,000 accounts straight into the store, lattice hash included."""
    store = Store(data_dir, sync=False)
    lthash = LtHash.identity()
    parent = bytes(32)
    record: BlockRecord | None = None
    chunk = 100_000
    made = 0
    number = 0
    try:
        while made < accounts:
            n = min(chunk, accounts - made)
            keys = [
                bytes(_keypair(made + i).pubkey()) if made + i < signers else os.urandom(32)
                for i in range(n)
            ]
            value = AccountRecord(1000 * SOL, bytes(32), False, 0, b"").encode()
            lthash.mix_in(sum_of([digest(account_hash_input(k, value)) for k in keys]))
            block_hash = hashlib.sha256(b"state" + number.to_bytes(8, "big")).digest()
            record = BlockRecord(
                number,
                block_hash,
                parent,
                1_700_000_000 + 12 * number,
                lthash.checksum(),
                0,
                n,
                0,
                0,
                0,
            )
            store.commit_block(
                BlockWrite(record, lthash.copy(), [(k, None, value) for k in keys], [], [])
            )
            parent = block_hash
            made += n
            number += 1
    finally:
        store.close()
    assert record is not None
    return record


def restart_cost(workdir: Path, accounts: int, txs: int) -> dict[str, float]:
    data = workdir / "restart"
    started = time.perf_counter()
    head = build_state(data, accounts, signers=txs)
    built = time.perf_counter() - started
    wire = []
    for i in range(txs):
        payer = _keypair(i)
        to = _keypair((i + 1) % txs).pubkey()
        ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=SOL))
        msg = Message.new_with_blockhash([ix], payer.pubkey(), Hash(head.hash))
        wire.append(bytes(VersionedTransaction(msg, [payer])))
    number = head.number + 1
    tx = L1Transaction(
        hash=hashlib.sha256(b"tx").digest(),
        index=0,
        sender=bytes(20),
        to=inbox.DEFAULT_INBOX_ADDRESS,
        value=0,
        input=inbox.encode_batch(wire),
        status=1,
    )
    block = L1Block(number, hashlib.sha256(b"next").digest(), head.hash, head.timestamp + 12, (tx,))
    start = time.perf_counter()
    with build_node(_settings(data)) as node:
        opened = time.perf_counter() - start
        node.apply(ChainCommitted((block,)))
        first_block = time.perf_counter() - start
        assert node.stats.ok == txs, node.stats
        assert node.store.accounts_count() == accounts
    return {
        "accounts": accounts,
        "state_build_s": round(built, 1),
        "restart_open_s": round(opened, 3),
        "restart_first_block_s": round(first_block, 3),
        "first_block_txs": txs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--txs-per-block", type=int, default=500)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--first-block-txs", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = revert_cost(Path(tmp), args.depth, args.txs_per_block)
        result |= restart_cost(Path(tmp), args.accounts, args.first_block_txs)
    emit(result, args.json)


if __name__ == "__main__":
    main()
