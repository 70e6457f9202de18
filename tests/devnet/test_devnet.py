"""The devnet source: determinism, chain shape, reorgs, planted bad input, restarts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import anyio
import pytest
from planted import assert_model_agrees, execute
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from monmouth.core.config import DevnetSettings
from monmouth.core.errors import SourceError
from monmouth.core.inbox import DEFAULT_INBOX_ADDRESS, Batch, Deposit, Rejected, decode
from monmouth.core.l1 import BlockId, L1Block
from monmouth.core.notifications import ChainCommitted, ChainReorged, ChainReverted, Notification
from monmouth.core.reasons import Reason
from monmouth.devnet import (
    BLOCKHASH_WINDOW,
    DECOY,
    FAILED,
    REVERTED,
    DevnetChain,
    DevnetSource,
    Planted,
)
from monmouth.devnet.instructions import SYSTEM_PROGRAM_ID, transfer_tx

INBOX = DEFAULT_INBOX_ADDRESS
MESSAGE_REASONS = {
    Reason.UNKNOWN_VERSION,
    Reason.UNKNOWN_KIND,
    Reason.MALFORMED_BATCH,
    Reason.MALFORMED_DEPOSIT,
    Reason.EMPTY_DEPOSIT,
}


def devnet(**overrides: Any) -> DevnetSettings:
    """Devnet settings with `overrides` (validated, as the config file would be)."""
    return DevnetSettings.model_validate(overrides)


def run(chain: DevnetChain, events: int) -> list[Notification]:
    return [chain.next_event() for _ in range(events)]


def shape(event: Notification) -> tuple[str, tuple[bytes, ...], tuple[bytes, ...]]:
    """A notification as block hashes, to compare streams."""
    if isinstance(event, ChainCommitted):
        return ("committed", tuple(b.hash for b in event.new), ())
    if isinstance(event, ChainReorged):
        return ("reorged", tuple(b.hash for b in event.old), tuple(b.hash for b in event.new))
    assert isinstance(event, ChainReverted), event  # the devnet reports no finality
    return ("reverted", tuple(b.hash for b in event.old), ())


def new_blocks(event: Notification) -> tuple[L1Block, ...]:
    assert isinstance(event, ChainCommitted | ChainReorged)
    return event.new


def all_hashes(chain: DevnetChain) -> list[bytes]:
    return [b.hash for b in chain.canonical()]


# -- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_the_same_chain() -> None:
    settings = devnet(reorg_probability=0.2)
    a, b = DevnetChain(settings, INBOX), DevnetChain(settings, INBOX)
    assert [shape(e) for e in run(a, 60)] == [shape(e) for e in run(b, 60)]
    assert a.canonical() == b.canonical()


def test_another_seed_or_workload_gives_another_chain() -> None:
    base = DevnetChain(devnet(), INBOX)
    other_seed = DevnetChain(devnet(seed=8), INBOX)
    other_workload = DevnetChain(devnet(workload="transfers"), INBOX)
    for chain in (base, other_seed, other_workload):
        run(chain, 5)
    hashes = set(all_hashes(base))
    assert not hashes & set(all_hashes(other_seed))
    assert not hashes & set(all_hashes(other_workload))


# -- chain shape and reorgs ----------------------------------------------------------------------


def check_links(blocks: Iterable[L1Block], settings: DevnetSettings) -> None:
    previous: L1Block | None = None
    for block in blocks:
        assert len(block.hash) == 32
        assert block.timestamp == settings.genesis_timestamp + block.number * settings.block_time
        if previous is None:
            assert block.number == 0 and block.parent_hash == bytes(32)
        else:
            assert block.number == previous.number + 1
            assert block.parent_hash == previous.hash
        assert [tx.index for tx in block.transactions] == list(range(len(block.transactions)))
        assert len({tx.hash for tx in block.transactions}) == len(block.transactions)
        previous = block


def test_links_timestamps_and_reorgs_line_up() -> None:
    settings = devnet(reorg_probability=0.3, reorg_max_depth=4, txs_per_block=6)
    chain = DevnetChain(settings, INBOX)
    view = [chain.tip]  # what a follower of the notifications believes
    reorgs = 0
    for event in run(chain, 300):
        if isinstance(event, ChainReorged):
            reorgs += 1
            old, new = event.old, event.new
            assert 1 <= len(old) <= settings.reorg_max_depth
            assert len(new) in (len(old), len(old) + 1)
            assert old == tuple(view[-len(old) :])
            assert new[0].number == old[0].number
            assert new[0].parent_hash == view[-len(old) - 1].hash
            assert not {b.hash for b in old} & {b.hash for b in new}
            del view[-len(old) :]
            view.extend(new)
        else:
            assert isinstance(event, ChainCommitted) and len(event.new) == 1
            assert event.new[0].parent_hash == view[-1].hash
            view.extend(event.new)
        check_links(view, settings)
    assert reorgs > 30
    assert tuple(view) == chain.canonical()
    assert chain.tip.number > 200


def test_no_reorg_before_there_are_enough_blocks() -> None:
    settings = devnet(reorg_probability=1.0, reorg_max_depth=5, txs_per_block=2)
    chain = DevnetChain(settings, INBOX)
    events = run(chain, 20)
    # Reorgs start once the tip is above the deepest reorg, so genesis never leaves.
    assert all(isinstance(e, ChainCommitted) for e in events[:6])
    assert all(isinstance(e, ChainReorged) for e in events[6:])
    assert chain.canonical()[0].number == 0


def test_keep_blocks_bounds_memory_but_not_the_chain() -> None:
    settings = devnet(txs_per_block=2, reorg_probability=0.2)
    kept = DevnetChain(settings, INBOX, keep_blocks=10)
    full = DevnetChain(settings, INBOX)
    run(kept, 150)
    run(full, 150)
    assert kept.canonical() == full.canonical()[-10:]
    assert kept.hash_at(3) == full.hash_at(3)


# -- what the blocks carry -----------------------------------------------------------------------


def inbox_message(block: L1Block, index: int) -> Batch | Deposit | Rejected:
    tx = block.transactions[index]
    return decode(tx.input, tx.value)


def test_every_reason_a_revert_and_a_decoy_in_the_first_50_blocks() -> None:
    chain = DevnetChain(devnet(), INBOX)
    run(chain, 50)
    seen = {p.what for block in chain.canonical() for p in chain.planted(block.hash)}
    assert set(Reason) | {FAILED, REVERTED, DECOY} <= seen
    check_planted(chain)


def test_planted_input_is_what_it_says_over_a_long_run_with_reorgs() -> None:
    settings = devnet(seed=9, reorg_probability=0.3, bad_input_rate=0.3, txs_per_block=8)
    chain = DevnetChain(settings, INBOX)
    run(chain, 250)
    details = {(p.what, p.detail) for block in chain.canonical() for p in chain.planted(block.hash)}
    assert (Reason.BLOCKHASH_NOT_FOUND, "older than the window") in details
    assert (Reason.BLOCKHASH_NOT_FOUND, "reorged-out block") in details
    check_planted(chain)


def check_planted(chain: DevnetChain) -> None:
    """Each planted record describes its transaction; good transactions name a recent block."""
    executed_before: dict[bytes, int] = {}  # wire bytes of good transactions -> block number
    for block in chain.canonical():
        marks = {(p.tx_index, p.position): p for p in chain.planted(block.hash)}
        window = {chain.hash_at(n) for n in range(max(0, block.number - 150), block.number)}
        for tx in block.transactions:
            if tx.to != INBOX or tx.status != 1:
                continue
            message = decode(tx.input, tx.value)
            if isinstance(message, Batch):
                for position, raw in enumerate(message.transactions):
                    mark = marks.get((tx.index, position))
                    if mark is None or mark.what == FAILED:
                        executed_before[raw] = block.number
                        good = VersionedTransaction.from_bytes(raw)
                        assert bytes(good.message.recent_blockhash) in window
        for tx_index_position, p in marks.items():
            tx = block.transactions[p.tx_index]
            message = inbox_message(block, p.tx_index)
            assert tx_index_position == (p.tx_index, p.position)
            if p.what in MESSAGE_REASONS:
                assert (tx.to, tx.status) == (INBOX, 1)
                assert message == Rejected(Reason(p.what)), p
            elif p.what == REVERTED:
                assert (tx.to, tx.status) == (INBOX, 0)
                assert isinstance(message, Batch | Deposit)
            elif p.what == DECOY:
                assert tx.to != INBOX and tx.status == 1
                assert isinstance(message, Batch | Deposit)
            else:
                assert (tx.to, tx.status) == (INBOX, 1)
                assert isinstance(message, Batch) and p.position is not None
                raw = message.transactions[p.position]
                check_bad_transaction(p, raw, window, executed_before, block.number)


def check_bad_transaction(
    p: Planted, raw: bytes, window: set[bytes | None], executed: dict[bytes, int], number: int
) -> None:
    if p.what == Reason.MALFORMED_TX:
        with pytest.raises(ValueError):
            VersionedTransaction.from_bytes(raw)
        return
    tx = VersionedTransaction.from_bytes(raw)
    blockhash = bytes(tx.message.recent_blockhash)
    assert p.signature == bytes(tx.signatures[0])
    if p.what == Reason.BLOCKHASH_NOT_FOUND:
        assert blockhash not in window
        return
    assert blockhash in window
    if p.what == Reason.SIGNATURE_FAILURE:
        assert not all(tx.verify_with_results())
    elif p.what == Reason.ALREADY_PROCESSED:
        assert all(tx.verify_with_results())
        assert number - BLOCKHASH_WINDOW <= executed[raw] < number
    elif p.what == Reason.FEE_PAYER:
        assert all(tx.verify_with_results())
        assert raw not in executed
    else:
        assert p.what == FAILED
        assert all(tx.verify_with_results())


def test_transfers_workload_is_only_system_transfers() -> None:
    settings = devnet(workload="transfers", failure_rate=0, bad_input_rate=0)
    chain = DevnetChain(settings, INBOX)
    run(chain, 10)
    count = 0
    signatures: set[bytes] = set()
    for block in chain.canonical():
        for tx in block.transactions:
            if tx.to != INBOX or tx.status != 1:
                continue
            message = decode(tx.input, tx.value)
            if not isinstance(message, Batch):
                assert isinstance(message, Deposit)
                continue
            assert len(message.transactions) <= settings.batch_size
            for raw in message.transactions:
                decoded = VersionedTransaction.from_bytes(raw)
                keys = decoded.message.account_keys
                assert [keys[ix.program_id_index] for ix in decoded.message.instructions] == [
                    SYSTEM_PROGRAM_ID
                ]
                signatures.add(bytes(decoded.signatures[0]))
                count += 1
    assert count == 10 * settings.txs_per_block
    assert len(signatures) == count


@pytest.mark.parametrize("v0", [False, True])
def test_hand_built_transfer_is_what_solders_builds(v0: bool) -> None:
    payer, to = Keypair.from_seed(bytes(range(32))), Keypair.from_seed(bytes(32)).pubkey()
    blockhash = bytes(range(100, 132))
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=1234567))
    if v0:
        msg: Message | MessageV0 = MessageV0.try_compile(payer.pubkey(), [ix], [], Hash(blockhash))
    else:
        msg = Message.new_with_blockhash([ix], payer.pubkey(), Hash(blockhash))
    expected = bytes(VersionedTransaction(msg, [payer]))
    made = transfer_tx(bytes(payer), bytes(payer.pubkey()), bytes(to), 1234567, blockhash, v0=v0)
    assert made == expected


def l1_rpc_round_trip(block: L1Block) -> L1Block:
    return L1Block.from_rpc(json.loads(json.dumps(block.to_rpc())))


def test_blocks_round_trip_through_rpc_json() -> None:
    chain = DevnetChain(devnet(reorg_probability=0.2), INBOX)
    run(chain, 40)
    blocks = chain.canonical()
    assert any(tx.to is None for b in blocks for tx in b.transactions)
    assert any(tx.status == 0 for b in blocks for tx in b.transactions)
    for block in blocks:
        assert l1_rpc_round_trip(block) == block


# -- the workload executes as planted ------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        devnet(),
        devnet(workload="transfers", users=5, failure_rate=0.1),
        devnet(seed=3, reorg_probability=0.3, txs_per_block=30, batch_size=4),
    ],
    ids=["mixed", "transfers", "mixed-reorgs"],
)
def test_workload_executes_as_planted(settings: DevnetSettings) -> None:
    chain = DevnetChain(settings, INBOX)
    run(chain, 60)
    svm, runs = execute(chain)
    for tx in runs:
        if tx.planted_to_fail:
            assert isinstance(tx.result, FailedTransactionMetadata), tx.block
            assert "Custom(1)" in str(tx.result.err()), tx.result.err()
        else:
            assert not isinstance(tx.result, FailedTransactionMetadata), (
                tx.block,
                tx.result.err(),
                tx.result.meta().logs(),
            )
    failed = sum(tx.failed for tx in runs)
    assert len(runs) - failed > 40 * settings.txs_per_block * 0.8
    assert failed > 0
    assert_model_agrees(chain, svm)


# -- the source: start, restart, foreign heads ---------------------------------------------------


async def take(source: DevnetSource, head: BlockId | None, count: int) -> list[Notification]:
    out: list[Notification] = []
    async for event in source.notifications(head):
        out.append(event)
        if len(out) == count:
            break
    return out


def test_source_starts_at_genesis() -> None:
    settings = devnet(reorg_probability=0.3)
    events = anyio.run(take, DevnetSource(settings, INBOX), None, 30)
    chain = DevnetChain(settings, INBOX)
    assert events[0] == ChainCommitted((chain.canonical()[0],))
    assert [shape(e) for e in events[1:]] == [shape(e) for e in run(chain, 29)]


def test_restart_continues_as_a_straight_run_would() -> None:
    settings = devnet(reorg_probability=0.3, txs_per_block=4)
    source = DevnetSource(settings, INBOX)
    straight = anyio.run(take, source, None, 80)
    # Heads a node could have persisted: the tip after some event, or a block inside a segment
    # (the node crashed half-way through it); some of them a later reorg drops again.
    cases: list[tuple[BlockId, int]] = []
    for i, event in enumerate(straight[:60]):
        segment = new_blocks(event)
        cases.append((segment[-1].id, i + 1))
        if len(segment) > 1:
            cases.append((segment[0].id, i + 1))
    assert sum(1 for e in straight[:60] if isinstance(e, ChainReorged) and len(e.new) > 1) > 2
    for head, next_index in cases:
        resumed = anyio.run(take, source, head, 10)
        rest = tuple(b for b in new_blocks(straight[next_index - 1]) if b.number > head.number)
        expected = ([ChainCommitted(rest)] if rest else []) + straight[next_index:]
        assert [shape(e) for e in resumed] == [shape(e) for e in expected[:10]], head


def test_restart_from_a_foreign_head_fails() -> None:
    settings = devnet(reorg_probability=0.3)
    foreign = DevnetChain(settings.model_copy(update={"seed": 8}), INBOX)
    run(foreign, 30)
    for head in (foreign.tip.id, foreign.canonical()[0].id, BlockId(5, bytes(32))):
        with pytest.raises(SourceError, match=r"not on this devnet's chain.*another seed"):
            anyio.run(take, DevnetSource(settings, INBOX), head, 1)


def test_interval_paces_the_events() -> None:
    source = DevnetSource(devnet(interval=0.05, txs_per_block=1), INBOX)
    start = time.monotonic()
    events = anyio.run(take, source, None, 4)
    assert len(events) == 4
    assert time.monotonic() - start >= 0.15
