"""Commitment on the Ethereum clock: processed = head, confirmed = the stored safe block,
finalized = the stored finalized block; reads answer with the state as of that block, which a
node that ran only up to that block holds (the reference)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import base58
import pytest
from rpcnode import BLOCKS, Served, plugin_url, served_node
from solders.hash import Hash
from solders.pubkey import Pubkey

from monmouth.rust_svm.accounts import AccountRecord

pytestmark = pytest.mark.timeout(180)

SAFE, FINALIZED = BLOCKS - 3, BLOCKS - 6


@pytest.fixture(scope="module")
def final(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The module's node, with safe and finalized blocks recorded."""
    node = served_node(tmp_path_factory.mktemp("rpc") / "data")
    node.store.set_finality(SAFE, FINALIZED)
    try:
        yield Served(node, plugin_url(node))
    finally:
        node.close()


def reference(tmp_path: Path, blocks: int) -> dict[bytes, bytes]:
    """The accounts of a node that ran the same devnet chain for `blocks` blocks only."""
    node = served_node(tmp_path / "ref", blocks)
    try:
        head = node.store.head()
        assert head is not None and head.number == blocks - 1
        return dict(node.store.iter_accounts())
    finally:
        node.close()


def test_slots_per_commitment(final: Served) -> None:
    head = BLOCKS - 1
    for commitment, slot in (("processed", head), ("confirmed", SAFE), ("finalized", FINALIZED)):
        assert final.result("getSlot", [{"commitment": commitment}]) == slot
        latest = final.result("getLatestBlockhash", [{"commitment": commitment}])
        block = final.node.store.block(slot)
        assert block is not None
        assert latest["context"]["slot"] == slot
        assert latest["value"] == {
            "blockhash": str(Hash(block.hash)),
            "lastValidBlockHeight": slot + 150,
        }
        executed = sum(b.ok + b.failed for b in final.node.store.blocks(0, slot))
        assert final.result("getTransactionCount", [{"commitment": commitment}]) == executed
        epoch = final.result("getEpochInfo", [{"commitment": commitment}])
        assert (epoch["absoluteSlot"], epoch["transactionCount"]) == (slot, executed)
    # Agave's default is finalized; the deprecated names still map.
    assert final.result("getSlot") == FINALIZED
    assert final.result("getSlot", [{"commitment": "singleGossip"}]) == SAFE
    assert final.result("getBlocks", [0]) == list(range(FINALIZED + 1))
    error = final.call("getSlot", [{"commitment": "finalized", "minContextSlot": SAFE}])["error"]
    assert error["code"] == -32016 and error["data"] == {"contextSlot": FINALIZED}


def test_state_as_of_each_commitment(final: Served, tmp_path: Path) -> None:
    for commitment, slot in (("finalized", FINALIZED), ("confirmed", SAFE)):
        expected = reference(tmp_path / commitment, slot + 1)
        now = dict(final.node.store.iter_accounts())
        changed = [k for k in set(expected) | set(now) if expected.get(k) != now.get(k)]
        assert changed, "later blocks changed some accounts"
        keys = sorted(set(expected) | set(now))
        for start in range(0, len(keys), 100):
            chunk = keys[start : start + 100]
            answer = final.result(
                "getMultipleAccounts",
                [[str(Pubkey(k)) for k in chunk], {"encoding": "base64", "commitment": commitment}],
            )
            assert answer["context"]["slot"] == slot
            for key, value in zip(chunk, answer["value"], strict=True):
                if key not in expected:
                    assert value is None
                    continue
                record = AccountRecord.decode(expected[key])
                assert value["lamports"] == record.lamports
                assert value["data"][0] == base64.b64encode(record.data).decode()
        # A scan at the commitment: the reference's accounts of one program, as they were.
        program = next(AccountRecord.decode(expected[k]).owner for k in changed if k in expected)
        scanned = final.result(
            "getProgramAccounts",
            [str(Pubkey(program)), {"encoding": "base64", "commitment": commitment}],
        )
        assert {
            base58.b58decode(a["pubkey"]): base64.b64decode(a["account"]["data"][0])
            for a in scanned
        } == {
            k: AccountRecord.decode(v).data
            for k, v in expected.items()
            if AccountRecord.decode(v).owner == program
        }
        key = changed[0]
        balance = final.result("getBalance", [str(Pubkey(key)), {"commitment": commitment}])
        lamports = AccountRecord.decode(expected[key]).lamports if key in expected else 0
        assert balance == {"context": {"apiVersion": "2.2.0", "slot": slot}, "value": lamports}


def test_confirmation_status(final: Served) -> None:
    records = final.records()
    by_slot = {r.slot: r for r in records if r.status == "ok"}
    cases = {
        FINALIZED: ("finalized", None),
        SAFE: ("confirmed", BLOCKS - 1 - SAFE),
        BLOCKS - 1: ("processed", 0),
    }
    signatures = [base58.b58encode(by_slot[slot].signature).decode() for slot in cases]
    answer = final.result("getSignatureStatuses", [signatures])
    assert answer["context"]["slot"] == BLOCKS - 1
    for status, (confirmation, confirmations) in zip(answer["value"], cases.values(), strict=True):
        assert status["confirmationStatus"] == confirmation
        assert status["confirmations"] == confirmations
