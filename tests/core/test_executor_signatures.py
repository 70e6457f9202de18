"""The `already_processed` check from memory (`BlockExecutor._remembers`): the signatures executed
in the blocks this process executed decide it once they cover the blockhash window, the store
before that (a restart) and for a rejection's earlier status; reverts forget their blocks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from chainbuilder import ChainBuilder, keypair, sol_transfer
from conftest import store_contents
from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from monmouth.app import build_node
from monmouth.core.config import Settings, load_settings
from monmouth.core.executor import BLOCKHASH_WINDOW, REORG_MARGIN, BlockExecutor
from monmouth.core.l1 import L1Block
from monmouth.core.node import Node
from monmouth.core.notifications import ChainCommitted, ChainReorged
from monmouth.core.records import TxRecord, decode_message

SOL = 10**9


def sig(raw: bytes) -> bytes:
    return bytes(VersionedTransaction.from_bytes(raw).signatures[0])


def outcomes(node: Node, number: int) -> list[tuple[str, str | None]]:
    return [o for _, raw in node.store.iter_messages(number) for o in decode_message(raw).outcomes]


def extend(node: Node, chain: ChainBuilder, upto: int) -> None:
    """Empty blocks until the chain's tip is block `upto`, committed."""
    start = len(chain.blocks)
    while len(chain.blocks) <= upto:
        chain.block()
    if len(chain.blocks) > start:
        node.apply(ChainCommitted(tuple(chain.blocks[start:])))


def add(node: Node, chain: ChainBuilder, *txs: bytes) -> int:
    """Commit one block carrying `txs`; its number."""
    chain.block(chain.batch(0, *txs))
    node.apply(ChainCommitted((chain.blocks[-1],)))
    return len(chain.blocks) - 1


class StoreReads:
    """Counts the executor's reads of earlier transaction statuses (`_stored_txs`)."""

    def __init__(self, executor: BlockExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        read = executor._stored_txs

        def counted(signatures: list[bytes]) -> dict[bytes, TxRecord | None]:
            self.calls += 1
            return read(signatures)

        monkeypatch.setattr(executor, "_stored_txs", counted)


@pytest.fixture
def node(settings: Settings) -> Iterator[Node]:
    with build_node(settings) as n:
        yield n


def funded(node: Node, chain: ChainBuilder, *payers: Keypair) -> None:
    chain.block(*(chain.deposit(i, p.pubkey(), 100 * SOL) for i, p in enumerate(payers)))
    node.apply(ChainCommitted((chain.blocks[-1],)))


def test_repeat_at_the_window_edge_from_memory(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    funded(node, chain, alice)
    extend(node, chain, 199)
    original = sol_transfer(alice, bob.pubkey(), SOL, chain.tip_hash)  # names block 199
    assert add(node, chain, original) == 200
    extend(node, chain, 348)
    reads = StoreReads(node.executor, monkeypatch)
    # Block 349: block 199 is the oldest blockhash it allows, block 200 the oldest where a
    # transaction it can repeat executed. Memory alone decides (a fresh store: from the start).
    assert add(node, chain, original) == 349
    assert outcomes(node, 349) == [("rejected", "already_processed")]
    assert reads.calls == 0
    rec = node.store.tx(sig(original))
    assert rec is not None and (rec.status, rec.slot) == ("ok", 200)


def test_fresh_store_needs_no_reads(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    reads = StoreReads(node.executor, monkeypatch)
    funded(node, chain, alice)
    original = sol_transfer(alice, bob.pubkey(), SOL, chain.tip_hash)
    assert add(node, chain, original) == 1
    assert add(node, chain, original) == 2
    assert outcomes(node, 2) == [("rejected", "already_processed")]
    # Every stored block was executed here, from block 0 on.
    assert reads.calls == 0


def test_stale_repeat_of_a_forgotten_transaction_keeps_its_status(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    funded(node, chain, alice)
    original = sol_transfer(alice, bob.pubkey(), SOL, chain.tip_hash)
    assert add(node, chain, original) == 1
    extend(node, chain, 399)  # block 1 left memory long ago
    assert sig(original) not in node.executor._executed_sigs
    reads = StoreReads(node.executor, monkeypatch)
    fresh = sol_transfer(alice, bob.pubkey(), 2 * SOL, chain.tip_hash)
    assert add(node, chain, original, fresh) == 400
    assert outcomes(node, 400) == [("rejected", "blockhash_not_found"), ("ok", None)]
    assert reads.calls == 1  # the rejection's earlier status only
    rec = node.store.tx(sig(original))
    assert rec is not None and (rec.status, rec.reason, rec.slot) == ("ok", None, 1)


def test_restart_reads_the_store_until_memory_covers_the_window(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    with build_node(settings) as node:
        funded(node, chain, alice)
        extend(node, chain, 9)
        original = sol_transfer(alice, bob.pubkey(), SOL, chain.tip_hash)  # names block 9
        assert add(node, chain, original) == 10  # the head when the next process starts
    with build_node(settings) as node:
        reads = StoreReads(node.executor, monkeypatch)
        assert add(node, chain, original) == 11
        assert outcomes(node, 11) == [("rejected", "already_processed")]
        extend(node, chain, 158)
        calls = reads.calls
        # Block 159 allows block 9's hash; its window of executions (blocks 10 ...) still
        # starts at a block the earlier process executed.
        assert add(node, chain, original) == 10 + BLOCKHASH_WINDOW - 1
        assert outcomes(node, 159) == [("rejected", "already_processed")]
        assert reads.calls == calls + 1
        # From block 160 on, every block its window reaches was executed here: memory alone.
        extend(node, chain, 160)
        assert reads.calls == calls + 1
        rec = node.store.tx(sig(original))
        assert rec is not None and (rec.status, rec.slot) == ("ok", 10)


def test_reverted_execution_is_forgotten(node: Node) -> None:
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    funded(node, chain, alice)
    extend(node, chain, 159)
    original = sol_transfer(alice, bob.pubkey(), SOL, chain.tip_hash)
    assert add(node, chain, original) == 160
    extend(node, chain, 162)
    # A reorg takes blocks 160 ... 162 away; the fork carries the transaction in its block 162.
    fork = ChainBuilder(salt=b"fork")
    fork.blocks = chain.blocks[:160]
    fork.block()
    fork.block()
    fork.block(fork.batch(0, original))
    node.apply(ChainReorged(tuple(chain.blocks[160:]), tuple(fork.blocks[160:])))
    assert outcomes(node, 162) == [("ok", None)]
    rec = node.store.tx(sig(original))
    assert rec is not None and (rec.status, rec.slot) == ("ok", 162)


def test_revert_deeper_than_memory_reads_the_store(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    funded(node, chain, alice)
    extend(node, chain, 59)
    original = sol_transfer(alice, bob.pubkey(), SOL, chain.tip_hash)  # names block 59
    assert add(node, chain, original) == 60
    extend(node, chain, 299)  # memory kept blocks from 299 + 1 - 150 - REORG_MARGIN on
    assert 300 - BLOCKHASH_WINDOW - REORG_MARGIN > 60
    # Back to block 199: its successor's window reaches block 60 again, which memory dropped.
    fork = ChainBuilder(salt=b"fork")
    fork.blocks = chain.blocks[:200]
    fork.block(fork.batch(0, original))
    reads = StoreReads(node.executor, monkeypatch)
    node.apply(ChainReorged(tuple(chain.blocks[200:]), tuple(fork.blocks[200:])))
    assert outcomes(node, 200) == [("rejected", "already_processed")]
    assert reads.calls == 1
    rec = node.store.tx(sig(original))
    assert rec is not None and (rec.status, rec.slot) == ("ok", 60)


def _run_workload(
    tmp_path: Path, seed: int, memory: bool, monkeypatch: pytest.MonkeyPatch
) -> dict[str, list[tuple[bytes, bytes]]]:
    """The stored tables after a workload of transfers and repeats, with a reorg and a restart,
    the executor deciding repeats from memory or (`memory` False) always from the store."""
    if not memory:
        monkeypatch.setattr(BlockExecutor, "_remembers", lambda self, number: False)
    settings = load_settings(None, data_dir=tmp_path / "data", store={"sync": False})
    rng = random.Random(seed)
    payers = [keypair(100 + i) for i in range(4)]
    to = keypair(99).pubkey()
    chain = ChainBuilder()
    executed: list[bytes] = []  # every transfer sent, in order

    def transfers(count: int) -> tuple[bytes, ...]:
        out = []
        for _ in range(count):
            age = rng.choice([1, 2, 50, 149, 150, 151, 170])
            hashes = chain.blocks[max(0, len(chain.blocks) - age) :]
            raw = sol_transfer(rng.choice(payers), to, rng.randrange(1, 10**6), hashes[0].hash)
            out.append(raw)
            executed.append(raw)
        if executed and rng.random() < 0.6:
            out.append(rng.choice(executed))
        if executed and rng.random() < 0.3:
            out.append(executed[-rng.randrange(1, min(len(executed), 400) + 1)])
        return tuple(out)

    def next_blocks(count: int) -> tuple[L1Block, ...]:
        start = len(chain.blocks)
        for _ in range(count):
            txs = transfers(rng.randrange(4))
            chain.block(chain.batch(0, *txs)) if txs else chain.block()
        return tuple(chain.blocks[start:])

    with build_node(settings) as node:
        chain.block(*(chain.deposit(i, p.pubkey(), 1000 * SOL) for i, p in enumerate(payers)))
        node.apply(ChainCommitted((chain.blocks[-1],)))
        node.apply(ChainCommitted(next_blocks(260)))
        # A reorg of 5 blocks, the new ones repeating some the old ones executed.
        old = tuple(chain.blocks[-5:])
        chain.blocks = chain.blocks[:-5]
        chain.salt = b"fork"
        node.apply(ChainReorged(old, next_blocks(6)))
    with build_node(settings) as node:  # a restart: the store decides for 149 blocks
        node.apply(ChainCommitted(next_blocks(200)))
        return store_contents(node.store)


def test_memory_gives_the_stores_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        reference = _run_workload(tmp_path / "store", 7, False, m)
    contents = _run_workload(tmp_path / "memory", 7, True, monkeypatch)
    # The workload has what the check decides: repeats in and past the window, of statuses the
    # store holds beyond memory.
    reasons = {reason for _, v in contents["messages"] for _, reason in decode_message(v).outcomes}
    assert reasons >= {None, "already_processed", "blockhash_not_found"}
    assert contents == reference


def test_revert_below_the_restart(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    with build_node(settings) as node:
        funded(node, chain, alice)
        extend(node, chain, 49)
        original = sol_transfer(alice, bob.pubkey(), SOL, chain.blocks[39].hash)
        assert add(node, chain, original) == 50
        extend(node, chain, 60)
    with build_node(settings) as node:
        extend(node, chain, 70)
        # Blocks 46 ... 70, of both processes, are undone; the fork executes the transaction
        # again, in its block 46.
        fork = ChainBuilder(salt=b"fork")
        fork.blocks = chain.blocks[:46]
        fork.block(fork.batch(0, original))
        fork.block(fork.batch(0, original))
        node.apply(ChainReorged(tuple(chain.blocks[46:]), tuple(fork.blocks[46:])))
        assert outcomes(node, 46) == [("ok", None)]
        assert outcomes(node, 47) == [("rejected", "already_processed")]
        # Every block from 46 on is this process's: memory alone from block 46 + 149 on.
        extend(node, fork, 193)
        reads = StoreReads(node.executor, monkeypatch)
        extend(node, fork, 194)
        assert reads.calls == 1
        extend(node, fork, 196)
        assert reads.calls == 1
        rec = node.store.tx(sig(original))
        assert rec is not None and (rec.status, rec.slot) == ("ok", 46)
