"""Semantics of one block (docs/protocol.md sections 1-3), on hand-built L1 blocks through a real
node: LiteSVM executes, LMDB stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chainbuilder import ChainBuilder, keypair, sol_transfer
from conftest import recompute_lthash
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from monmouth.app import build_node
from monmouth.core import inbox
from monmouth.core.config import Settings, load_settings
from monmouth.core.executor import ExecutedBlock, Prepared
from monmouth.core.l1 import L1Block
from monmouth.core.node import Node
from monmouth.core.notifications import ChainCommitted, ChainReverted
from monmouth.core.records import decode_message
from monmouth.rust_svm.accounts import AccountRecord

SOL = 10**9
FEE = 5000


def sig(raw: bytes) -> bytes:
    return bytes(VersionedTransaction.from_bytes(raw).signatures[0])


def lamports(node: Node, key: Pubkey) -> int | None:
    raw = node.store.account(bytes(key))
    return None if raw is None else AccountRecord.decode(raw).lamports


@pytest.fixture
def node(settings: Settings) -> Iterator[Node]:
    with build_node(settings) as n:
        yield n


@pytest.fixture(params=[True, False], ids=["details", "no-details"])
def any_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    """A node keeping transaction details (the default) and one that does not: the executor
    tells a charged failure from a rejection by other means in each."""
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        store={"sync": False, "transaction_details": request.param},
    )
    with build_node(settings) as n:
        yield n


def commit(node: Node, chain: ChainBuilder) -> None:
    node.apply(ChainCommitted((chain.blocks[-1],)))


def test_deposit_transfer_failure_and_fees(any_node: Node) -> None:
    node = any_node
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    chain.block(chain.deposit(0, alice.pubkey(), 2 * SOL))
    commit(node, chain)
    assert lamports(node, alice.pubkey()) == 2 * SOL

    ok_tx = sol_transfer(alice, bob.pubkey(), SOL // 2, chain.tip_hash)
    failing = sol_transfer(alice, bob.pubkey(), 100 * SOL, chain.tip_hash)
    chain.block(chain.batch(0, ok_tx, failing))
    commit(node, chain)

    assert lamports(node, alice.pubkey()) == 2 * SOL - SOL // 2 - 2 * FEE
    assert lamports(node, bob.pubkey()) == SOL // 2
    ok = node.store.tx(sig(ok_tx))
    bad = node.store.tx(sig(failing))
    assert ok is not None and ok.status == "ok" and ok.fee == FEE and ok.slot == 1
    assert ok.compute_units > 0 and ok.logs
    assert bad is not None and bad.status == "failed" and bad.fee == FEE
    assert bad.error == {"InstructionError": [0, {"Custom": 1}]}
    assert node.state == recompute_lthash(node.store)


def test_every_transaction_rejection_reason(any_node: Node) -> None:
    node = any_node
    alice, bob, nobody = keypair(1), keypair(2), keypair(3)
    chain = ChainBuilder()
    chain.block(chain.deposit(0, alice.pubkey(), 5 * SOL))
    commit(node, chain)
    genesis_hash = chain.tip_hash

    good = sol_transfer(alice, bob.pubkey(), SOL, chain.tip_hash)
    flipped = bytearray(sol_transfer(alice, bob.pubkey(), SOL + 1, chain.tip_hash))
    flipped[10] ^= 1
    stale = sol_transfer(alice, bob.pubkey(), SOL + 2, os.urandom(32))
    unfunded = sol_transfer(nobody, bob.pubkey(), SOL, chain.tip_hash)
    trailing = sol_transfer(alice, bob.pubkey(), SOL + 3, chain.tip_hash) + b"\x00"
    chain.block(chain.batch(0, good, bytes(flipped), stale, unfunded, b"garbage", trailing, good))
    commit(node, chain)

    rec = node.store.tx(sig(good))
    assert rec is not None and rec.status == "ok"
    # A signature that fails its check does not name a transaction: no status by signature.
    assert node.store.tx(sig(bytes(flipped))) is None
    for raw, reason in [
        (stale, "blockhash_not_found"),
        (unfunded, "fee_payer"),
    ]:
        r = node.store.tx(sig(raw))
        assert r is not None, reason
        assert (r.status, r.reason, r.fee) == ("rejected", reason, 0)
    ((_, raw_msg),) = list(node.store.iter_messages(1))
    outcomes = decode_message(raw_msg).outcomes
    assert outcomes == [
        ("ok", None),
        ("rejected", "signature_failure"),
        ("rejected", "blockhash_not_found"),
        ("rejected", "fee_payer"),
        ("rejected", "malformed_tx"),
        ("rejected", "malformed_tx"),
        ("rejected", "already_processed"),
    ]
    # Rejected transactions cost nothing: only the one good transfer's fee was paid.
    assert lamports(node, alice.pubkey()) == 5 * SOL - SOL - FEE
    assert lamports(node, nobody.pubkey()) is None

    # Replay in a later block is rejected too, and never hides the original status.
    chain.block(chain.batch(0, good))
    commit(node, chain)
    ((_, raw_msg),) = list(node.store.iter_messages(2))
    assert decode_message(raw_msg).outcomes == [("rejected", "already_processed")]
    rec = node.store.tx(sig(good))
    assert rec is not None and rec.status == "ok" and rec.slot == 1

    # The blockhash window is the previous 150 blocks: genesis ages out at block 151.
    while len(chain.blocks) < 150:
        chain.block()
        commit(node, chain)
    in_window = sol_transfer(alice, bob.pubkey(), SOL + 10, genesis_hash)
    chain.block(chain.batch(0, in_window))  # block 150: genesis (block 0) is 150 back
    commit(node, chain)
    assert node.store.tx(sig(in_window)).status == "ok"  # type: ignore[union-attr]
    aged = sol_transfer(alice, bob.pubkey(), SOL + 11, genesis_hash)
    chain.block(chain.batch(0, aged))  # block 151
    commit(node, chain)
    assert node.store.tx(sig(aged)).reason == "blockhash_not_found"  # type: ignore[union-attr]


def test_message_rejections_and_routing(node: Node) -> None:
    alice = keypair(1)
    chain = ChainBuilder()
    chain.block(
        chain.l1tx(0, b"\x02\x00\x01\x00a"),  # unknown_version (a batch under version 1)
        chain.l1tx(1, b"\x01\x07", value=SOL),  # unknown_kind
        chain.l1tx(2, b"\x01\x00\x09\x00ab"),  # malformed_batch
        chain.l1tx(3, b"\x01\x01" + bytes(31), value=SOL),  # malformed_deposit
        chain.l1tx(4, inbox.encode_deposit(bytes(alice.pubkey())), value=SOL - 1),  # empty
        # Not inbox messages: a reverted inbox call and a call to another address.
        chain.l1tx(5, inbox.encode_deposit(bytes(alice.pubkey())), value=SOL, status=0),
        chain.l1tx(6, inbox.encode_deposit(bytes(alice.pubkey())), value=SOL, to=bytes(20)),
    )
    commit(node, chain)
    records = [decode_message(raw) for _, raw in node.store.iter_messages(0)]
    reasons = [record.reason for record in records]
    # A kind byte means nothing under an unknown version.
    assert [record.kind for record in records] == [None, None, "batch", "deposit", "deposit"]
    assert reasons == [
        "unknown_version",
        "unknown_kind",
        "malformed_batch",
        "malformed_deposit",
        "empty_deposit",
    ]
    assert node.store.accounts_count() == 0


def test_revert_restores_accounts_statuses_and_hash(node: Node) -> None:
    alice, bob, carol = keypair(1), keypair(2), keypair(3)
    chain = ChainBuilder()
    chain.block(chain.deposit(0, alice.pubkey(), 3 * SOL), chain.deposit(1, bob.pubkey(), SOL))
    commit(node, chain)
    # Carol cannot pay yet: her transfer is rejected in block 1 ...
    carol_tx = sol_transfer(carol, alice.pubkey(), SOL // 4, chain.tip_hash)
    chain.block(chain.batch(0, carol_tx))
    commit(node, chain)
    assert node.store.tx(sig(carol_tx)).reason == "fee_payer"  # type: ignore[union-attr]
    before = (node.state.copy(), dict(node.store.iter_accounts()), node.store.tx(sig(carol_tx)))

    # ... and executes in block 2, once funded, along with a transfer that creates an account.
    t1 = sol_transfer(alice, carol.pubkey(), SOL, chain.tip_hash)
    chain.block(chain.batch(0, t1, carol_tx), chain.deposit(1, bob.pubkey(), SOL))
    commit(node, chain)
    assert node.store.tx(sig(carol_tx)).status == "ok"  # type: ignore[union-attr]
    assert lamports(node, bob.pubkey()) == 2 * SOL

    node.apply(ChainReverted((chain.blocks[2],)))
    after = (node.state, dict(node.store.iter_accounts()), node.store.tx(sig(carol_tx)))
    assert after == before
    assert node.store.tx(sig(t1)) is None
    assert node.state == recompute_lthash(node.store)
    assert node.store.head_id() == chain.blocks[1].id

    # The runtime forgot the reverted block too: re-applying gives the same result again.
    commit(node, chain)
    assert node.store.tx(sig(carol_tx)).status == "ok"  # type: ignore[union-attr]
    assert lamports(node, carol.pubkey()) == SOL - SOL // 4 - FEE
    assert node.state == recompute_lthash(node.store)


def test_deposit_to_runtime_account_and_revert(node: Node) -> None:
    # The SPL Token program is the runtime's: crediting it makes it state; reverting restores
    # the runtime's own program, not an empty account.
    token = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
    chain = ChainBuilder()
    chain.block()
    commit(node, chain)
    original = node.runtime.get_object(bytes(token))
    assert original is not None
    chain.block(chain.deposit(0, token, SOL))
    commit(node, chain)
    assert node.store.account(bytes(token)) is not None
    node.apply(ChainReverted((chain.blocks[1],)))
    assert node.store.account(bytes(token)) is None
    assert node.runtime.get_object(bytes(token)) == original


def test_restart_resumes_with_lazy_loading(settings: Settings) -> None:
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    chain.block(chain.deposit(0, alice.pubkey(), 3 * SOL))
    with build_node(settings) as node:
        commit(node, chain)
    with build_node(settings) as node:
        assert node.head == chain.blocks[0].id
        assert bytes(alice.pubkey()) not in node.runtime.resident  # not loaded until touched
        chain.block(chain.batch(0, sol_transfer(alice, bob.pubkey(), SOL, chain.tip_hash)))
        commit(node, chain)
        assert lamports(node, bob.pubkey()) == SOL
        assert node.state == recompute_lthash(node.store)


@pytest.mark.parametrize(
    ("txs", "most", "ahead"),
    [(5, 12, 8), (15, 12, 12), (15, 100, 15)],
    ids=["at-least-LOOKAHEAD", "at-most-LOOKAHEAD_MAX", "LOOKAHEAD_TXS"],
)
def test_small_blocks_are_prepared_further_ahead(
    node: Node, monkeypatch: pytest.MonkeyPatch, txs: int, most: int, ahead: int
) -> None:
    """Blocks are prepared at least LOOKAHEAD (8) ahead, and further while fewer than
    LOOKAHEAD_TXS transactions are queued, up to LOOKAHEAD_MAX; the state is the same."""
    from monmouth.core import node as node_module

    monkeypatch.setattr(node_module, "LOOKAHEAD_TXS", txs)
    monkeypatch.setattr(node_module, "LOOKAHEAD_MAX", most)
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    chain.block(chain.deposit(0, alice.pubkey(), 5 * SOL))
    commit(node, chain)
    for n in range(20):  # one transfer per block
        chain.block(
            chain.batch(0, sol_transfer(alice, bob.pubkey(), SOL // 10 + n, chain.tip_hash))
        )
    events: list[tuple[str, int]] = []
    executor = node.executor
    prepare, execute = executor.prepare, executor.execute

    def preparing(block: L1Block) -> Prepared:
        events.append(("prepare", block.number))
        return prepare(block)

    def executing(prepared: Prepared, *args: Any) -> ExecutedBlock:
        events.append(("execute", prepared.block.number))
        return execute(prepared, *args)

    monkeypatch.setattr(executor, "prepare", preparing)
    monkeypatch.setattr(executor, "execute", executing)
    node.apply(ChainCommitted(tuple(chain.blocks[1:])))
    first = events.index(("execute", 1))
    assert events[:first] == [("prepare", n) for n in range(1, ahead + 1)]
    # Then one more block prepared per block executed, each executed once, in order.
    assert [e for e in events if e[0] == "execute"] == [("execute", n) for n in range(1, 21)]
    assert lamports(node, bob.pubkey()) == sum(SOL // 10 + n for n in range(20))


def test_an_untouched_runtime_account_named_writable_stays_out_of_the_state(node: Node) -> None:
    # The executor copies before a block only the accounts the state does not hold: a builtin
    # named writable (and left as it was) must not become state, nor change the hash, while
    # the state accounts the same transaction changes are written.
    from solders.hash import Hash
    from solders.instruction import AccountMeta, Instruction
    from solders.message import Message
    from solders.system_program import TransferParams, transfer

    token = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
    alice, bob = keypair(1), keypair(2)
    chain = ChainBuilder()
    chain.block(chain.deposit(0, alice.pubkey(), 2 * SOL))
    commit(node, chain)
    plain = transfer(
        TransferParams(from_pubkey=alice.pubkey(), to_pubkey=bob.pubkey(), lamports=SOL)
    )
    ix = Instruction(
        plain.program_id, plain.data, [*plain.accounts, AccountMeta(token, False, True)]
    )
    raw = bytes(
        VersionedTransaction(
            Message.new_with_blockhash([ix], alice.pubkey(), Hash(chain.tip_hash)), [alice]
        )
    )
    chain.block(chain.batch(0, raw))
    commit(node, chain)
    rec = node.store.tx(sig(raw))
    assert rec is not None and rec.status == "ok"
    assert lamports(node, alice.pubkey()) == SOL - FEE
    assert lamports(node, bob.pubkey()) == SOL
    assert node.store.account(bytes(token)) is None
    assert node.state == recompute_lthash(node.store)
