"""SVM-side MEV patterns: each rule on hand-built transactions, reverts, and the devnet's plants
found end to end through a node."""

from __future__ import annotations

import hashlib
import math
from typing import Literal

import anyio
import base58
import msgspec
import pytest
from msgspec.structs import replace

from monmouth.app import build_node, devnet_chain, make_source
from monmouth.core.config import Settings, load_settings
from monmouth.core.node import Node
from monmouth.core.payloads import BlockInfo, TransactionInfo
from monmouth.core.plugins import load_plugins
from monmouth.core.state import Store
from monmouth.devnet import Planted
from monmouth.hooks import hookimpl
from monmouth.plugins.mev.devnet import (
    CU_OUTLIER,
    OUTLIER_TRANSFERS,
    REPLAY,
    SPAM,
    SPAM_BURST,
    SVM_SANDWICH,
)
from monmouth.plugins.mev.svm import (
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
    WELL_KNOWN_ACCOUNTS,
    ProgramStats,
    SvmDetector,
    SvmDetectorConfig,
    SvmFinding,
    invoked_programs,
    program_compute_units,
)
from monmouth.rust_svm.accounts import AccountRecord

DEX = base58.b58encode(hashlib.blake2b(b"dex", digest_size=32).digest()).decode()


def key(name: str) -> bytes:
    return hashlib.blake2b(name.encode(), digest_size=32).digest()


def b58(raw: bytes) -> str:
    return base58.b58encode(raw).decode()


def sig(name: str) -> bytes:
    return hashlib.blake2b(name.encode(), digest_size=64).digest()


def logs(*calls: tuple[str, int | None]) -> tuple[str, ...]:
    """Depth-1 invocations: (program, consumed units, or None for a builtin)."""
    out: list[str] = []
    for program, units in calls:
        out.append(f"Program {program} invoke [1]")
        if units is not None:
            out.append(f"Program {program} consumed {units} of 200000 compute units")
        out.append(f"Program {program} success")
    return tuple(out)


def tx(
    name: str,
    payer: str,
    *touched: str,
    status: Literal["ok", "failed", "rejected"] = "ok",
    reason: str | None = None,
    calls: tuple[tuple[str, int | None], ...] = ((TOKEN_PROGRAM, 120),),
) -> TransactionInfo:
    """A transaction paid by `payer` touching the accounts named `touched` (and its programs)."""
    executed = status != "rejected"
    programs = [base58.b58decode(p) for p, _ in calls]
    units = sum(150 if u is None else u for _, u in calls) if executed else 0
    return TransactionInfo(
        signature=sig(name),
        status=status,
        reason=reason,
        error=None,
        fee=5000 if executed else 0,
        compute_units=units,
        logs=logs(*calls) if executed else (),
        accounts=(key(payer), *(key(t) for t in touched), *programs),
        l1_tx_hash=bytes(32),
        l1_tx_index=0,
        position=0,
    )


def block(number: int) -> BlockInfo:
    return BlockInfo(
        number, key(f"block {number}"), key(f"block {number - 1}"), 0, "", 0, 0, 0, 0, 0
    )


def kinds(findings: list[SvmFinding], kind: str) -> list[SvmFinding]:
    return [f for f in findings if f.kind == kind]


def signatures(*names: str) -> list[str]:
    return [b58(sig(n)) for n in names]


# -- sandwiches ----------------------------------------------------------------------------------


def test_sandwich_front_victim_back_on_a_shared_token_account() -> None:
    txs = [
        tx("front", "alice", "alice-ata", "pool"),
        tx("victim", "bob", "bob-ata", "pool"),
        tx("back", "alice", "alice-ata", "pool"),
    ]
    (found,) = SvmDetector().inspect(block(5), txs)
    assert found.kind == "svm_sandwich" and found.block_number == 5
    assert found.signatures == signatures("front", "victim", "back")
    assert found.accounts == [b58(key("pool"))]
    assert found.score == 1.0
    assert found.evidence["signer"] == b58(key("alice"))
    assert found.evidence["victim_signer"] == b58(key("bob"))
    assert (found.evidence["front_index"], found.evidence["back_index"]) == (0, 2)
    assert (found.evidence["victims"], found.evidence["between"]) == (1, 1)
    assert "block 5" in found.summary and found.summary.endswith(".")
    # Findings cross process boundaries as plain JSON.
    assert msgspec.json.decode(msgspec.json.encode(found), type=SvmFinding) == found


def test_sandwich_score_counts_bystanders_and_several_victims() -> None:
    txs = [
        tx("front", "alice", "pool"),
        tx("bystander", "carol", "elsewhere"),
        tx("victim 1", "bob", "pool"),
        tx("victim 2", "dave", "pool", status="failed"),  # failed transactions executed too
        tx("back", "alice", "pool"),
    ]
    (found,) = SvmDetector().inspect(block(1), txs)
    assert found.signatures == signatures("front", "victim 1", "victim 2", "back")
    assert (found.evidence["victims"], found.evidence["between"]) == (2, 3)
    assert found.score == pytest.approx(0.5 + 0.5 * 2 / 3)


@pytest.mark.parametrize(
    "middle",
    [
        tx("middle", "bob", "bob-ata", "other-pool"),  # touches other accounts
        tx("middle", "alice", "pool"),  # the same signer
        tx("middle", "bob", "pool", status="rejected", reason="fee_payer"),  # never executed
        tx("middle", "bob", "bob-ata", "alice"),  # shares only a fee payer
    ],
    ids=["other-accounts", "same-signer", "rejected", "shares-a-fee-payer"],
)
def test_no_sandwich_when_the_middle_transaction_does_not_qualify(middle: TransactionInfo) -> None:
    txs = [tx("front", "alice", "pool"), middle, tx("back", "alice", "pool")]
    assert kinds(SvmDetector().inspect(block(1), txs), "svm_sandwich") == []


def test_programs_and_sysvars_are_not_shared_accounts() -> None:
    dex_calls = ((DEX, 900), (TOKEN_PROGRAM, 120))
    txs = [
        tx("front", "alice", calls=dex_calls),
        tx("victim", "bob", calls=dex_calls),
        tx("back", "alice", calls=dex_calls),
    ]
    assert SvmDetector().inspect(block(1), txs) == []  # only the DEX and token programs shared
    clock = "SysvarC1ock11111111111111111111111111111111"
    assert clock in WELL_KNOWN_ACCOUNTS
    with_clock = [replace(i, accounts=(*i.accounts, base58.b58decode(clock))) for i in txs]
    assert SvmDetector().inspect(block(1), with_clock) == []
    with_pool = [replace(i, accounts=(*i.accounts, key("pool"))) for i in with_clock]
    assert len(SvmDetector().inspect(block(1), with_pool)) == 1


def test_system_transfers_take_no_part_unless_asked() -> None:
    system = ((SYSTEM_PROGRAM, None),)
    txs = [
        tx("front", "alice", "wallet", calls=system),
        tx("victim", "bob", "wallet", calls=system),
        tx("back", "alice", "wallet", calls=system),
    ]
    assert SvmDetector().inspect(block(1), txs) == []
    loose = SvmDetector(SvmDetectorConfig(sandwich_skip_builtin=False))
    (found,) = loose.inspect(block(1), txs)
    assert found.accounts == [b58(key("wallet"))]


def test_one_finding_per_pair_of_legs_over_several_accounts() -> None:
    txs = [
        tx("front", "alice", "pool", "vault"),
        tx("victim", "bob", "pool", "vault"),
        tx("back", "alice", "pool", "vault"),
        tx("second back", "alice", "pool"),
    ]
    (found,) = SvmDetector().inspect(block(1), txs)
    assert found.accounts == sorted([b58(key("pool")), b58(key("vault"))])
    assert found.evidence["shared_accounts"] == 2


# -- spam ----------------------------------------------------------------------------------------


def test_spam_is_a_burst_of_failures_from_one_fee_payer() -> None:
    system = ((SYSTEM_PROGRAM, None),)
    burst = [tx(f"fail {i}", "spammer", "x", status="failed", calls=system) for i in range(4)]
    burst.append(tx("rejected", "spammer", "x", status="rejected", reason="blockhash_not_found"))
    good = [tx(f"ok {i}", "spammer", "x", calls=system) for i in range(2)]
    others = [tx(f"other {i}", f"user {i}", "x", status="failed", calls=system) for i in range(9)]
    (found,) = SvmDetector().inspect(block(3), [*good, *burst, *others])
    assert found.kind == "spam"
    assert found.accounts == [b58(key("spammer"))]
    assert found.signatures == signatures(*(f"fail {i}" for i in range(4)), "rejected")
    assert found.evidence == {
        "bad": 5,
        "failed": 4,
        "rejected": 1,
        "total": 7,
        "fees": 4 * 5000,
        "spam_min": 5,
    }
    assert found.score == pytest.approx((5 / 7) * (5 / 10))


def test_no_spam_below_the_threshold_or_from_forged_signatures() -> None:
    four = [tx(f"fail {i}", "payer", status="failed") for i in range(4)]
    forged = [
        tx(f"forged {i}", "payer", status="rejected", reason="signature_failure") for i in range(3)
    ]
    assert SvmDetector().inspect(block(1), [*four, *forged]) == []
    (found,) = SvmDetector(SvmDetectorConfig(spam_min=4)).inspect(block(1), [*four, *forged])
    assert found.evidence["total"] == 4 and found.score == pytest.approx(0.5)


# -- replays -------------------------------------------------------------------------------------


def test_a_signature_seen_in_an_earlier_block_is_a_replay() -> None:
    detector = SvmDetector()
    original = tx("transfer", "alice", "x")
    assert detector.inspect(block(10), [original]) == []
    again = tx("transfer", "alice", "x", status="rejected", reason="blockhash_not_found")
    (found,) = detector.inspect(block(12), [tx("other", "bob", "y"), again])
    assert found.kind == "replay" and found.signatures == signatures("transfer")
    assert found.accounts == [b58(key("alice"))]
    assert found.evidence == {
        "copies": 1,
        "first_block": 10,
        "first_status": "ok",
        "index": 1,
        "outcome": "blockhash_not_found",
    }
    assert found.score == 1.0


def test_already_processed_is_a_replay_even_when_the_detector_never_saw_the_original() -> None:
    again = tx("old", "alice", "x", status="rejected", reason="already_processed")
    (found,) = SvmDetector().inspect(block(7), [again, again])
    assert found.evidence["first_block"] == -1 and found.evidence["copies"] == 2
    assert found.score == 1.0


def test_replays_within_a_block_retries_and_the_window() -> None:
    detector = SvmDetector(SvmDetectorConfig(replay_window=5))
    first = tx("retry", "alice", "x", status="rejected", reason="fee_payer")
    (found,) = detector.inspect(block(1), [first, first])
    assert (found.evidence["first_block"], found.evidence["first_status"]) == (1, "rejected")
    assert found.score == 0.5  # a retry of something that never executed
    assert detector.inspect(block(7), [tx("retry", "alice", "x")]) == []  # 6 blocks later
    (found,) = detector.inspect(block(12), [tx("retry", "alice", "x")])
    assert found.evidence["first_block"] == 7  # the sighting outside the window was replaced


def test_forged_signatures_are_no_replays() -> None:
    detector = SvmDetector()
    detector.inspect(block(1), [tx("t", "alice", "x")])
    forged = tx("t", "mallory", "x", status="rejected", reason="signature_failure")
    assert detector.inspect(block(2), [forged, forged]) == []


# -- compute-unit outliers -----------------------------------------------------------------------


def test_program_compute_units_from_logs() -> None:
    nested = (
        f"Program {DEX} invoke [1]",
        "Program log: swap",
        f"Program {TOKEN_PROGRAM} invoke [2]",
        f"Program {TOKEN_PROGRAM} consumed 4000 of 190000 compute units",
        f"Program {TOKEN_PROGRAM} success",
        f"Program {DEX} consumed 10000 of 200000 compute units",
        f"Program {DEX} success",
        f"Program {SYSTEM_PROGRAM} invoke [1]",
        f"Program {SYSTEM_PROGRAM} success",
        f"Program {SYSTEM_PROGRAM} invoke [1]",
        f"Program {SYSTEM_PROGRAM} success",
        f"Program return: {DEX} AQ==",
    )
    assert invoked_programs(nested) == [DEX, TOKEN_PROGRAM, SYSTEM_PROGRAM]
    # The DEX's own line includes its CPI; the two system calls share the rest.
    assert program_compute_units(nested, 10300) == {DEX: 10000.0, SYSTEM_PROGRAM: 300.0}
    assert program_compute_units((), 500) == {}


def feed(detector: SvmDetector, program: str, values: list[int], first: int) -> None:
    """One block of `values` compute units in `program` per block number from `first`."""
    for offset, chunk in enumerate(values[i : i + 10] for i in range(0, len(values), 10)):
        txs = [
            tx(f"{first}-{offset}-{i}", f"user {i}", calls=((program, units),))
            for i, units in enumerate(chunk)
        ]
        assert detector.inspect(block(first + offset), txs) == []


def test_cu_outlier_against_running_statistics() -> None:
    detector = SvmDetector()
    values = [1000 + 10 * (i % 7) for i in range(30)]
    feed(detector, DEX, values, first=1)
    stats = detector.program_stats()[DEX]
    mean, std = sum(values) / 30, math.sqrt(sum((v - sum(values) / 30) ** 2 for v in values) / 29)
    assert stats.samples == 30
    assert stats.mean == pytest.approx(mean) and stats.std == pytest.approx(std)
    scale = max(std, 0.1 * mean)  # the floor: 10% of the mean
    txs = [tx("heavy", "whale", calls=((DEX, 2000),)), tx("normal", "user", calls=((DEX, 1010),))]
    (found,) = detector.inspect(block(4), txs)
    assert found.kind == "cu_outlier" and found.signatures == signatures("heavy")
    assert found.accounts == [b58(key("whale")), DEX]
    z = (2000 - mean) / scale
    assert found.evidence["z"] == pytest.approx(z)
    assert found.evidence["compute_units"] == 2000.0 and found.evidence["samples"] == 30
    assert found.score == pytest.approx(1 - 4 / z)
    # Just under the threshold is not flagged.
    border = int(detector.program_stats()[DEX].mean + 4 * 0.1 * detector.program_stats()[DEX].mean)
    assert detector.inspect(block(5), [tx("border", "u", calls=((DEX, border - 2),))]) == []


def test_no_outlier_before_min_samples_and_builtins_use_the_rest() -> None:
    detector = SvmDetector()
    feed(detector, DEX, [1000] * 29, first=1)
    assert detector.inspect(block(4), [tx("early", "u", calls=((DEX, 9000),))]) == []
    system = SvmDetector()
    singles = [tx(f"s{i}", f"u{i}", calls=((SYSTEM_PROGRAM, None),)) for i in range(30)]
    assert system.inspect(block(1), singles) == []
    assert system.program_stats()[SYSTEM_PROGRAM] == ProgramStats(samples=30, mean=150, std=0.0)
    heavy = tx("many", "u", calls=((SYSTEM_PROGRAM, None),) * 3)  # 450 units, all system
    (found,) = system.inspect(block(2), [heavy])
    assert found.evidence["compute_units"] == 450.0
    assert found.evidence["z"] == pytest.approx(300 / 15)  # std 0: the floor, 10% of 150


# -- state: reverts and determinism --------------------------------------------------------------


def busy_block(number: int) -> list[TransactionInfo]:
    """Transactions that touch every kind of state: compute units, signatures."""
    return [
        tx(
            f"b{number}-{i}",
            f"user {i}",
            f"acct {i}",
            calls=((DEX, 1000 + 37 * ((number * i) % 11)),),
        )
        for i in range(12)
    ]


def test_revert_restores_the_state_exactly() -> None:
    detector, fresh = SvmDetector(), SvmDetector()
    for number in range(1, 6):
        detector.inspect(block(number), busy_block(number))
        fresh.inspect(block(number), busy_block(number))
    before = detector.program_stats()
    heavy = [*busy_block(6), tx("heavy", "whale", calls=((DEX, 50_000),)), tx("b1-1", "user 1")]
    first = detector.inspect(block(6), heavy)
    assert {f.kind for f in first} == {"cu_outlier", "replay"}
    detector.inspect(block(7), busy_block(7))
    assert detector.program_stats() != before
    detector.revert(6)
    assert detector.program_stats() == before  # bit for bit, not approximately
    assert detector.newest == 5
    # The replay memory forgot block 6: the same block gives the same findings again.
    assert detector.inspect(block(6), heavy) == first
    # Inspecting a height again reverts it first (a reorg nobody reported).
    assert detector.inspect(block(6), heavy) == first
    assert fresh.inspect(block(6), heavy) == first
    assert detector.program_stats() == fresh.program_stats()


def test_revert_ignores_unseen_blocks_and_refuses_forgotten_ones() -> None:
    detector = SvmDetector(SvmDetectorConfig(replay_window=2, revert_depth=1))
    for number in range(1, 10):
        detector.inspect(block(number), busy_block(number))
    detector.revert(20)  # never inspected
    assert detector.newest == 9
    detector.revert(8)
    assert detector.newest == 7
    # Records go back replay_window + revert_depth blocks from the newest inspected (9): to 6.
    with pytest.raises(ValueError, match="cannot revert block 5: blocks up to 5"):
        detector.revert(5)
    detector.revert(6)
    assert detector.newest is None


def test_same_blocks_give_the_same_findings() -> None:
    def run() -> list[SvmFinding]:
        detector = SvmDetector(SvmDetectorConfig(cu_min_samples=10))
        out: list[SvmFinding] = []
        for number in range(1, 8):
            txs = busy_block(number)
            if number % 3 == 0:
                txs += [
                    tx("front", "a", "pool"),
                    tx("victim", "b", "pool"),
                    tx("back", "a", "pool"),
                ]
                txs += [tx(f"f{number}{i}", "spam", status="failed") for i in range(6)]
                txs.append(tx("heavy", "whale", calls=((DEX, 90_000),)))
            out += detector.inspect(block(number), txs)
        return out

    first = run()
    assert {f.kind for f in first} == {"svm_sandwich", "spam", "replay", "cu_outlier"}
    assert run() == first


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="spam_min"):
        SvmDetectorConfig(spam_min=0)
    with pytest.raises(ValueError, match="cu_k"):
        SvmDetectorConfig(cu_k=0)
    with pytest.raises(ValueError, match="cu_min_samples"):
        SvmDetectorConfig(cu_min_samples=1)


# -- end to end: the devnet's planted patterns through a node ------------------------------------


class MevRecorder:
    """A plugin feeding `SvmDetector` from the node's hooks, keeping findings of live blocks."""

    def __init__(self) -> None:
        self.detector = SvmDetector()
        self.findings: dict[int, list[SvmFinding]] = {}
        self.transactions: dict[int, tuple[BlockInfo, list[TransactionInfo]]] = {}
        self.blocks: dict[int, BlockInfo] = {}

    @hookimpl
    def notify_transactions(self, block: BlockInfo, transactions: list[TransactionInfo]) -> None:
        self.transactions[block.number] = (block, list(transactions))
        self.findings[block.number] = self.detector.inspect(block, transactions)

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        self.blocks[block.number] = block

    @hookimpl
    def revert_blocks(self, blocks: list[BlockInfo]) -> None:
        for gone in blocks:  # highest first
            self.detector.revert(gone.number)
            for kept in (self.findings, self.transactions, self.blocks):
                kept.pop(gone.number, None)


def with_devnet(settings: Settings, **devnet: object) -> Settings:
    """The fixture's settings (temporary data directory, no fsync) with devnet settings."""
    return load_settings(None, data_dir=settings.data_dir, store={"sync": False}, devnet=devnet)


def run_node(settings: Settings, blocks: int) -> tuple[MevRecorder, Node]:
    recorder = MevRecorder()
    node = build_node(settings, plugins=load_plugins(settings, extra=[("mev-recorder", recorder)]))
    with node:
        anyio.run(lambda: node.run(make_source(settings), max_blocks=blocks))
    return recorder, node


def planted_by_block(settings: Settings, recorder: MevRecorder) -> dict[int, list[Planted]]:
    """The devnet's planted records of the blocks the node committed (the chain is the same)."""
    chain = devnet_chain(settings.devnet, settings.inbox.address_bytes)
    tip = max(recorder.blocks)
    while chain.tip.number < tip:
        chain.next_event()
    out: dict[int, list[Planted]] = {}
    for l1 in chain.canonical():
        assert recorder.blocks[l1.number].hash == l1.hash
        out[l1.number] = list(chain.planted(l1.hash))
    return out


def b58_all(planted: list[Planted]) -> list[str]:
    return [b58(p.signature) for p in planted if p.signature is not None]


def test_devnet_patterns_are_found_with_their_signatures(settings: Settings) -> None:
    settings = with_devnet(settings, mev_patterns=True)
    recorder, _ = run_node(settings, 24)
    planted = planted_by_block(settings, recorder)
    seen: dict[str, int] = {}
    spam_blocks: set[int] = set()
    outlier_blocks: set[int] = set()
    for number, marks in planted.items():
        findings = recorder.findings.get(number, [])
        by_pattern: dict[str, list[Planted]] = {}
        for p in marks:
            if p.pattern is not None:
                by_pattern.setdefault(p.pattern, []).append(p)
        assert len(by_pattern) <= 1, number  # one pattern per block
        for pattern, group in by_pattern.items():
            seen[pattern] = seen.get(pattern, 0) + 1
            wanted = b58_all(group)
            if pattern == SVM_SANDWICH:
                assert [p.detail for p in group] == ["front", "victim", "back"]
                (found,) = [f for f in kinds(findings, "svm_sandwich") if f.signatures == wanted]
                assert found.score == 1.0  # three in a row
                assert found.evidence["signer"] != found.evidence["victim_signer"]
            elif pattern == SPAM:
                assert len(group) == SPAM_BURST
                (found,) = kinds(findings, "spam")
                assert set(wanted) <= set(found.signatures)
                assert int(found.evidence["failed"]) >= SPAM_BURST
                spam_blocks.add(number)
            elif pattern == REPLAY:
                (found,) = [f for f in kinds(findings, "replay") if f.signatures == wanted]
                assert found.score == 1.0
                assert found.evidence["first_status"] == "ok"
                assert 0 < int(found.evidence["first_block"]) < number
            else:
                assert pattern == CU_OUTLIER
                (found,) = kinds(findings, "cu_outlier")
                assert found.signatures == wanted
                assert found.accounts[1] == SYSTEM_PROGRAM
                assert found.evidence["compute_units"] == OUTLIER_TRANSFERS * 150
                outlier_blocks.add(number)
    assert set(seen) == {SVM_SANDWICH, SPAM, REPLAY, CU_OUTLIER}
    assert min(seen.values()) >= 4
    # Spam and outliers appear only where planted.
    assert {n for n, fs in recorder.findings.items() if kinds(fs, "spam")} == spam_blocks
    assert {n for n, fs in recorder.findings.items() if kinds(fs, "cu_outlier")} == outlier_blocks


def test_default_devnet_has_no_spam_outliers_or_token_account_sandwiches(
    settings: Settings,
) -> None:
    assert not settings.devnet.mev_patterns
    recorder, _ = run_node(settings, 40)
    findings = [f for fs in recorder.findings.values() for f in fs]
    assert kinds(findings, "spam") == [] and kinds(findings, "cu_outlier") == []
    # The bad-input cycle re-sends executed transactions now and then (`already_processed`).
    assert kinds(findings, "replay")
    assert all(f.evidence["outcome"] == "already_processed" for f in kinds(findings, "replay"))
    # Sandwich-shaped sequences do occur in the first blocks, while there are few token accounts:
    # a mint authority's MintTo into an account before and after a transfer by the account's
    # owner, say. Each is what the rule says, and shares only SPL Token accounts (mints or token
    # accounts), never a wallet or a program.
    sandwiches = kinds(findings, "svm_sandwich")
    assert sandwiches
    for found in sandwiches:
        _, transactions = recorder.transactions[found.block_number]
        by_signature = {b58(t.signature): t for t in transactions if t.signature is not None}
        front, *victims, back = (by_signature[s] for s in found.signatures)
        assert front.accounts[0] == back.accounts[0]
        assert all(v.accounts[0] != front.accounts[0] for v in victims)
        keys = {base58.b58decode(a) for a in found.accounts}
        assert keys <= set(front.accounts) and keys <= set(back.accounts)
        assert all(keys & set(v.accounts) for v in victims)
    with Store(settings.data_dir, readonly=True) as store:
        shared = sorted({base58.b58decode(a) for f in sandwiches for a in f.accounts})
        records = dict(zip(shared, store.accounts(shared), strict=True))
    for address, raw in records.items():
        assert raw is not None
        account = AccountRecord.decode(raw)
        assert b58(account.owner) == TOKEN_PROGRAM, b58(address)
        assert len(account.data) in (82, 165), b58(address)  # a mint or a token account


def test_reorgs_leave_the_detector_as_a_straight_run_of_the_canonical_chain(
    settings: Settings,
) -> None:
    settings = with_devnet(settings, mev_patterns=True, reorg_probability=0.3, reorg_max_depth=4)
    recorder, node = run_node(settings, 60)
    assert node.stats.reverted > 0
    straight = SvmDetector()
    for number in sorted(recorder.transactions):
        info, transactions = recorder.transactions[number]
        assert straight.inspect(info, transactions) == recorder.findings[number], number
    assert straight.program_stats() == recorder.detector.program_stats()
    kinds_found = {f.kind for fs in recorder.findings.values() for f in fs}
    assert kinds_found == {"svm_sandwich", "spam", "replay", "cu_outlier"}
