"""The documents' C part (`_summary.c`) against their definition in Python
(`documents.summarize_changes_py`): the same Document and words, field for field, on random
transactions of every shape the node produces and some it never should; and the cases the C
code leaves to Python."""

from __future__ import annotations

import random
import types
from typing import Any, Literal

import pytest
from solders.pubkey import Pubkey

from monmouth.core.payloads import TransactionInfo
from monmouth.plugins.rag import _summary
from monmouth.plugins.rag.documents import (
    SYSTEM_PROGRAM,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    Prior,
    summarize_changes,
    summarize_changes_py,
)
from monmouth.plugins.rag.embed import words

SYSTEM = str(Pubkey.from_bytes(SYSTEM_PROGRAM))
TOKEN = str(Pubkey.from_bytes(TOKEN_PROGRAM))
MEMO = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
UNKNOWN = str(Pubkey.new_unique())
PROGRAMS = [SYSTEM, TOKEN, MEMO, UNKNOWN]
PROGRAM_KEYS = [SYSTEM_PROGRAM, TOKEN_PROGRAM, TOKEN_2022_PROGRAM, bytes(Pubkey.from_string(MEMO))]
ERRORS: list[Any] = [
    {"InstructionError": [0, {"Custom": 1}]},
    {"InstructionError": [1, {"Custom": 17}]},
    {"InstructionError": [0, {"Custom": 99}]},
    {"InstructionError": [1, "InvalidAccountData"]},
    {"InstructionError": [7, {"BorshIoError": "short"}]},
    {"InstructionError": [0, "ProgramFailedToComplete"]},
    "AccountNotFound",
    {"InsufficientFundsForRent": {"account_index": 2}},
    "ÜnicodeError",
]


def random_logs(rng: random.Random) -> list[str]:
    """Log lines of one transaction: invokes at depth 1 and 2, instruction names, failures,
    the runtime's boilerplate, program output (some of it not ASCII)."""
    logs: list[str] = []
    for _ in range(rng.randint(0, 4)):
        program = rng.choice(PROGRAMS)
        logs.append(f"Program {program} invoke [1]")
        roll = rng.random()
        if roll < 0.3:
            name = rng.choice(["Transfer", "MintTo", "InitializeAccount3", "Burn", "Ünïcode"])
            logs.append(f"Program log: Instruction: {name}")
        elif roll < 0.4:
            logs.append(f"Program {rng.choice(PROGRAMS)} invoke [2]")
            logs.append(f"Program {rng.choice(PROGRAMS)} success")
        elif roll < 0.5:
            logs.append(f"Transfer: insufficient lamports {rng.randint(0, 9)}, need 10")
        elif roll < 0.55:
            logs.append("Program log: Error: insufficient funds")
        elif roll < 0.65:
            logs.append("Program log: héllo wörld ß 1.5.3 x.25")
        logs.append(f"Program {program} consumed {rng.randint(100, 999)} of 200000 compute units")
        logs.append(f"Program {program} success")
    return logs


def random_prior(rng: random.Random, mints: list[bytes]) -> Prior:
    lamports = rng.choice([0, 0, 1, 5000, 2_039_280, 10**9, 2**63 - 1, 2**64 - 1])
    kind = rng.choice([0, 0, 1, 2, 3])
    if kind == 1:
        return Prior(lamports, 1, rng.choice([0, 1, 10**6, 2**64 - 1]), rng.choice(mints))
    if kind == 2:
        return Prior(lamports, 2, rng.choice([0, 10**6, 10**12, 2**64 - 1]))
    return Prior(lamports, kind)


def random_case(rng: random.Random, n: int) -> tuple[Any, ...]:
    """(doc_id, tx, slot, block_hash, changes, max_log_lines) of one random transaction."""
    keys = [rng.randbytes(32) for _ in range(rng.randint(0, 6))]
    accounts = keys + rng.sample(PROGRAM_KEYS, k=rng.randint(0, 2))
    if rng.random() < 0.3:
        rng.shuffle(accounts)
    mints = [rng.randbytes(32) for _ in range(2)]
    changes: dict[bytes, tuple[Prior | None, Prior]] = {}
    for key in rng.sample(accounts, k=min(len(accounts), rng.randint(0, 5))) + mints[:1]:
        before = None if rng.random() < 0.15 else random_prior(rng, mints)
        changes[key] = (before, random_prior(rng, mints))
    status: Literal["ok", "failed"] = "failed" if rng.random() < 0.3 else "ok"
    error = rng.choice(ERRORS) if status == "failed" else None
    tx = TransactionInfo(
        rng.randbytes(64),
        status,
        None,
        error,
        rng.choice([5000, 5000, 10000, 15000, 0, 4999]),
        rng.choice([150, 0, 3000]),
        tuple(random_logs(rng)),
        tuple(accounts),
        rng.randbytes(32),
        rng.randint(0, 300),
        rng.randint(0, 3000),
    )
    slot = rng.choice([0, 1, n, 2**40])
    return n, tx, slot, rng.randbytes(32), changes, rng.choice([0, 3, 8])


def both(case: tuple[Any, ...]) -> None:
    doc_id, tx, slot, block_hash, changes, max_log_lines = case
    made = summarize_changes(doc_id, tx, slot, block_hash, changes, max_log_lines=max_log_lines)
    reference = summarize_changes_py(
        doc_id, tx, slot, block_hash, changes, max_log_lines=max_log_lines
    )
    assert made[0] == reference[0]
    assert made[0].summary == reference[0].summary
    assert made[1] == reference[1]


def test_c_equals_python_on_random_transactions() -> None:
    rng = random.Random(20261126)
    handled = 0
    for n in range(3000):
        case = random_case(rng, n)
        both(case)
        handled += _summary.summarize(*case) is not None
    assert handled == 3000  # none of these needs the Python definition


def test_words_are_the_summarys_words() -> None:
    rng = random.Random(7)
    for n in range(500):
        case = random_case(rng, n)
        document, said = summarize_changes(*case[:5], max_log_lines=case[5])
        assert said == words(document.summary)


def test_transfers_say_from_and_to() -> None:
    payer, to = Pubkey.new_unique(), Pubkey.new_unique()
    tx = TransactionInfo(
        bytes(range(64)),
        "ok",
        None,
        None,
        5000,
        150,
        (f"Program {SYSTEM} invoke [1]", f"Program {SYSTEM} success"),
        (bytes(payer), bytes(to), SYSTEM_PROGRAM),
        bytes(32),
        0,
        0,
    )
    changes = {
        bytes(payer): (Prior(10**10), Prior(10**10 - 1_500_000_000 - 5000)),
        bytes(to): (Prior(0), Prior(1_500_000_000)),
    }
    made = _summary.summarize(1, tx, 9, bytes(32), changes, 8)
    assert made is not None
    document, _ = made
    assert f"Moved 1.5 SOL from {payer} to {to}." in document.summary
    assert document.instructions == ("system.transfer",)
    both((1, tx, 9, bytes(32), changes, 8))


@pytest.mark.parametrize(
    ("fee", "units", "lamports"),
    [(2**70, 150, 10**9), (5000, 2**65, 10**9), (5000, 150, 2**70), (-5000, 150, 10**9)],
)
def test_what_c_leaves_to_python_comes_out_the_same(fee: int, units: int, lamports: int) -> None:
    """Integers beyond 64 bits go to the Python definition (None from C); a negative fee does
    not, and gives the definition's one signer."""
    key = Pubkey.new_unique()
    tx = TransactionInfo(
        bytes(64), "ok", None, None, fee, units, (), (bytes(key),), bytes(32), 0, 0
    )
    changes = {bytes(key): (Prior(1), Prior(lamports))}
    beyond = max(fee, units, lamports) >= 2**64
    assert (_summary.summarize(1, tx, 2, bytes(32), changes, 8) is None) == beyond
    both((1, tx, 2, bytes(32), changes, 8))


def test_changes_that_are_not_a_dict() -> None:
    rng = random.Random(3)
    for n in range(50):
        doc_id, tx, slot, block_hash, changes, max_log_lines = random_case(rng, n)
        proxy = types.MappingProxyType(changes)
        assert _summary.summarize(doc_id, tx, slot, block_hash, proxy, max_log_lines) is None
        both((doc_id, tx, slot, block_hash, proxy, max_log_lines))


def test_only_executed_transactions() -> None:
    rejected = TransactionInfo(
        bytes(64), "rejected", "fee_payer", None, 0, 0, (), (), bytes(32), 0, 0
    )
    unsigned = TransactionInfo(None, "ok", None, None, 0, 0, (), (), bytes(32), 0, 0)
    for tx in (rejected, unsigned):
        with pytest.raises(ValueError, match="only executed"):
            summarize_changes(1, tx, 1, bytes(32), {})
        with pytest.raises(ValueError, match="only executed"):
            summarize_changes_py(1, tx, 1, bytes(32), {})


def test_bad_input_raises() -> None:
    loose: Any = _summary
    tx = TransactionInfo(bytes(64), "ok", None, None, 5000, 1, (), (), bytes(32), 0, 0)
    with pytest.raises(TypeError):
        loose.summarize(1, tx, 1, "not bytes", {}, 8)
    with pytest.raises(TypeError):
        loose.summarize(1, tx, 1, bytes(32), {})
    with pytest.raises(AttributeError):
        loose.summarize(1, object(), 1, bytes(32), {}, 8)
    with pytest.raises(TypeError, match="helpers"):
        loose.configure(len)
    with pytest.raises(TypeError, match="must be a dict"):
        loose.configure(*([len] * 14))
