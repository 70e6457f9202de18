"""The devnet's MEV patterns (`mev_patterns`): off by default, planted in a cycle, each what it
says, executing as planted, deterministic."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from planted import assert_model_agrees, execute
from solders.transaction import VersionedTransaction

from monmouth.app import devnet_chain
from monmouth.core.config import DevnetSettings
from monmouth.core.inbox import DEFAULT_INBOX_ADDRESS, Batch, decode
from monmouth.core.l1 import L1Block
from monmouth.core.reasons import Reason
from monmouth.devnet import BLOCKHASH_WINDOW, FAILED, OK, DevnetChain, Planted
from monmouth.devnet.instructions import SYSTEM_PROGRAM_ID, TOKEN_PROGRAM_ID
from monmouth.plugins.mev.devnet import (
    CU_OUTLIER,
    MEV_PATTERNS,
    OUTLIER_TRANSFERS,
    REPLAY,
    SPAM,
    SPAM_BURST,
    SVM_SANDWICH,
)

INBOX = DEFAULT_INBOX_ADDRESS


def devnet(**overrides: Any) -> DevnetSettings:
    return DevnetSettings.model_validate(overrides)


def chain_of(settings: DevnetSettings, events: int) -> DevnetChain:
    chain = devnet_chain(settings, INBOX)
    for _ in range(events):
        chain.next_event()
    return chain


def batches(block: L1Block) -> dict[int, Batch]:
    """The block's good batch messages, by L1 transaction index."""
    out: dict[int, Batch] = {}
    for tx in block.transactions:
        if tx.to == INBOX and tx.status == 1:
            message = decode(tx.input, tx.value)
            if isinstance(message, Batch):
                out[tx.index] = message
    return out


def raw_of(block: L1Block, p: Planted) -> bytes:
    assert p.position is not None
    return batches(block)[p.tx_index].transactions[p.position]


def patterns(chain: DevnetChain) -> dict[int, list[Planted]]:
    """Planted records with a pattern, by block number."""
    out: dict[int, list[Planted]] = {}
    for block in chain.canonical():
        marks = [p for p in chain.planted(block.hash) if p.pattern is not None]
        if marks:
            out[block.number] = marks
    return out


def test_off_by_default_and_on_in_a_cycle() -> None:
    assert devnet().mev_patterns is False
    assert patterns(chain_of(devnet(), 40)) == {}
    chain = chain_of(devnet(mev_patterns=True), 40)
    found = patterns(chain)
    order = []
    for number, marks in sorted(found.items()):
        kinds = {p.pattern for p in marks}
        assert len(kinds) == 1, number  # one pattern per block
        order.append(kinds.pop())
    assert set(found) == set(range(1, 41))  # every block with transactions carries one
    for pattern in MEV_PATTERNS:
        assert order.count(pattern) >= 5, pattern
    # A fixed cycle; one that cannot be made yet (no token accounts in the first blocks) is
    # passed over and comes again on its next turn.
    position = [MEV_PATTERNS.index(p) for p in order]
    steps = [(b - a) % len(MEV_PATTERNS) for a, b in pairwise(position)]
    assert 0 not in steps
    assert steps.count(1) >= len(steps) - 3  # at this seed only the first blocks skip one


def test_patterns_are_what_they_say() -> None:
    chain = chain_of(devnet(mev_patterns=True, seed=11), 60)
    executed: dict[bytes, int] = {}  # good or failing transactions -> block
    checked: set[str] = set()
    for block in chain.canonical():
        marks = {(p.tx_index, p.position): p for p in chain.planted(block.hash)}
        planted = [p for p in chain.planted(block.hash) if p.pattern is not None]
        order = [(p.tx_index, p.position) for p in planted]
        assert order == sorted(order)  # in execution order
        txs = [VersionedTransaction.from_bytes(raw_of(block, p)) for p in planted]
        kind = planted[0].pattern if planted else None
        if kind == SVM_SANDWICH:
            assert [(p.what, p.detail) for p in planted] == [
                (OK, "front"),
                (OK, "victim"),
                (OK, "back"),
            ]
            signers = [tx.message.account_keys[0] for tx in txs]
            assert signers[0] == signers[2] != signers[1]
            destinations = set()
            for tx in txs:
                (ix,) = tx.message.instructions
                keys = tx.message.account_keys
                assert keys[ix.program_id_index] == TOKEN_PROGRAM_ID
                assert bytes(ix.data)[0] == 3  # SPL Token Transfer
                destinations.add(keys[ix.accounts[1]])
            assert len(destinations) == 1  # all three onto the same token account
        elif kind == SPAM:
            assert len(planted) == SPAM_BURST
            assert {p.what for p in planted} == {FAILED}
            assert len({tx.message.account_keys[0] for tx in txs}) == 1
        elif kind == REPLAY:
            (p,) = planted
            assert p.what == Reason.ALREADY_PROCESSED
            raw = raw_of(block, p)
            assert block.number - 3 <= executed[raw] < block.number
            blockhash = bytes(txs[0].message.recent_blockhash)
            window = range(max(0, block.number - BLOCKHASH_WINDOW), block.number)
            assert blockhash in {chain.hash_at(n) for n in window}
        elif kind == CU_OUTLIER:
            (p,) = planted
            assert p.what == OK
            (tx,) = txs
            programs = {
                tx.message.account_keys[ix.program_id_index] for ix in tx.message.instructions
            }
            assert programs == {SYSTEM_PROGRAM_ID}
            assert len(tx.message.instructions) == OUTLIER_TRANSFERS
        if kind is not None:
            checked.add(kind)
        for index, message in batches(block).items():
            for position, raw in enumerate(message.transactions):
                mark = marks.get((index, position))
                if mark is None or mark.what in (OK, FAILED):
                    executed.setdefault(raw, block.number)
    assert checked == set(MEV_PATTERNS)


@pytest.mark.parametrize(
    "settings",
    [
        devnet(mev_patterns=True),
        devnet(mev_patterns=True, seed=3, reorg_probability=0.3, txs_per_block=30, batch_size=4),
        devnet(mev_patterns=True, workload="transfers", users=6),
    ],
    ids=["mixed", "mixed-reorgs", "transfers"],
)
def test_patterns_execute_as_planted(settings: DevnetSettings) -> None:
    chain = chain_of(settings, 60)
    svm, runs = execute(chain)
    for tx in runs:
        # Planted OK succeed, planted FAILED fail (the workload's own as well).
        assert tx.failed == tx.planted_to_fail, (tx.block, tx.mark)
    assert sum(tx.mark is not None and tx.mark.pattern is not None for tx in runs) > 40
    assert_model_agrees(chain, svm)
    if settings.workload == "transfers":  # no tokens: no sandwich, the other three in turn
        assert SVM_SANDWICH not in {p.pattern for marks in patterns(chain).values() for p in marks}


def test_same_settings_same_chain_with_patterns() -> None:
    settings = devnet(mev_patterns=True, reorg_probability=0.3)
    a, b = chain_of(settings, 60), chain_of(settings, 60)
    assert a.canonical() == b.canonical()
    assert patterns(a) == patterns(b)
    plain = chain_of(devnet(reorg_probability=0.3), 60)
    assert plain.canonical()[0] == a.canonical()[0]  # genesis carries no transactions
    assert plain.canonical()[1] != a.canonical()[1]
