"""The devnet's SVM-side MEV patterns: what `[devnet] mev_patterns = true` plants, so that the
SVM detector (`svm.py`) has something to find on the embedded chain.

`MevPatterns` is a `monmouth.devnet.WorkloadPatterns`; `monmouth.app` hands a new one to each
devnet chain when `[devnet] mev_patterns` is on (off by default; off, the chain is exactly the one
without it). Each block with transactions then also carries one pattern, after its other
transactions, in the cycle of `MEV_PATTERNS`: `svm_sandwich` (user A's SPL token transfer onto
token account x, user B's onto x, A's onto x again, one after the other), `spam` (`SPAM_BURST`
system transfers of more than the payer holds, from one payer), `replay` (an executed
transaction of the last blocks sent again, rejected as `already_processed`) and `cu_outlier`
(one system transaction of `OUTLIER_TRANSFERS` transfers). A pattern that cannot be made yet (no
mint with three token accounts and two holders, nothing executed yet) is passed over until its
next turn; the `transfers` workload never has a sandwich. The transactions of a pattern carry its
name in `Planted.pattern`.
"""

from __future__ import annotations

from random import Random
from typing import Final

from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer

from monmouth.core.reasons import Reason
from monmouth.devnet.instructions import FEE, sign_solders, transfer_tx
from monmouth.devnet.patterns import Entry
from monmouth.devnet.plan import BLOCKHASH_WINDOW, FAILED, OK, Context, Model
from monmouth.devnet.workload import FLOOR, Workload

SVM_SANDWICH: Final = "svm_sandwich"
"""MEV pattern: one user's token transfer before and after another's onto the same account."""
SPAM: Final = "spam"
"""MEV pattern: one fee payer's burst of transfers that fail."""
REPLAY: Final = "replay"
"""MEV pattern: a transaction that already executed, sent again."""
CU_OUTLIER: Final = "cu_outlier"
"""MEV pattern: a system transaction of many transfers, far costlier than its program's usual."""
#: The order in which `MevPatterns` plants them, one per block.
MEV_PATTERNS: Final[tuple[str, ...]] = (SVM_SANDWICH, SPAM, REPLAY, CU_OUTLIER)
#: Failing transfers of a spam burst.
SPAM_BURST: Final = 6
#: Transfer instructions of a compute-unit outlier.
OUTLIER_TRANSFERS: Final = 16


class MevPatterns:
    """Plants one MEV pattern per block, in the cycle of `MEV_PATTERNS`.

    Keeps its position in the cycle, which moves forward across reorgs like the workload's own
    counters: one instance per chain.
    """

    def __init__(self) -> None:
        self._next = 0

    def plant(
        self, workload: Workload, number: int, rng: Random, model: Model, ctx: Context
    ) -> list[Entry]:
        """The next pattern of the cycle that can be made now, appended after the block's
        transactions (so the model's order is the execution order); none when none can."""
        blockhash = ctx.hash_at(number - 1)
        assert blockhash is not None
        for step in range(len(MEV_PATTERNS)):
            kind = MEV_PATTERNS[(self._next + step) % len(MEV_PATTERNS)]
            if kind == SVM_SANDWICH:
                made = _plant_sandwich(workload, rng, model, blockhash)
            elif kind == SPAM:
                made = _plant_spam(workload, rng, model, blockhash)
            elif kind == REPLAY:
                made = _plant_replay(number, rng, ctx)
            else:
                made = _plant_outlier(workload, rng, model, blockhash)
            if made is not None:
                self._next = (self._next + step + 1) % len(MEV_PATTERNS)
                return made
        return []


def _plant_sandwich(
    workload: Workload, rng: Random, model: Model, blockhash: bytes
) -> list[Entry] | None:
    """User A's token transfer a -> x, user B's b -> x, A's a -> x again: three in a row."""
    need = workload.nonce + 3  # each leg moves a fresh nonce's worth of tokens
    mints = [m for m, accounts in enumerate(model.mint_accounts) if len(accounts) >= 3]
    if not mints:
        return None
    start = rng.randrange(len(mints))
    for mint in mints[start:] + mints[:start]:
        accounts = model.mint_accounts[mint]
        found = _sandwich_accounts(model, accounts, need)
        if found is None:
            continue
        a, b, x = found
        legs: list[Entry] = []
        for source, role in ((a, "front"), (b, "victim"), (a, "back")):
            amount = workload.next_nonce()
            workload.spend(model, model.token_accounts[source][2], FEE)
            model.token_amounts[source] -= amount
            model.token_amounts[x] += amount
            raw = workload.token_transfer_tx(model, source, x, amount, blockhash, False)
            legs.append((raw, (OK, role, SVM_SANDWICH)))
        return legs
    return None


def _sandwich_accounts(model: Model, accounts: list[int], need: int) -> tuple[int, int, int] | None:
    """Token accounts (a, b, x) of one mint: a's owner can pay two transfers, b's another
    owner one, x is a third account."""
    for a in accounts:
        owner_a = model.token_accounts[a][2]
        if model.token_amounts[a] < 2 * need or model.balances[owner_a] < 2 * FEE + FLOOR:
            continue
        for b in accounts:
            owner_b = model.token_accounts[b][2]
            if (
                owner_b == owner_a
                or model.token_amounts[b] < need
                or model.balances[owner_b] < FEE + FLOOR
            ):
                continue
            for x in accounts:
                if x not in (a, b):
                    return a, b, x
    return None


def _plant_spam(
    workload: Workload, rng: Random, model: Model, blockhash: bytes
) -> list[Entry] | None:
    """`SPAM_BURST` system transfers of more than the payer holds, from one payer."""
    payer = workload.pick_payer(rng, model, SPAM_BURST * FEE)
    if payer is None:
        return None
    public, secret = workload.user(payer)
    out: list[Entry] = []
    for _ in range(SPAM_BURST):
        workload.next_nonce()
        recipient = workload.other_user(rng, model, payer)
        amount = workload.overdraft(model.balances[payer], rng)
        workload.spend(model, payer, FEE)
        raw = transfer_tx(secret, public, workload.user(recipient)[0], amount, blockhash)
        out.append((raw, (FAILED, "system transfer over balance", SPAM)))
    return out


def _plant_replay(number: int, rng: Random, ctx: Context) -> list[Entry] | None:
    """A transaction that executed in one of the last blocks, sent again."""
    candidates = [raw for _, raw, at in ctx.recent_executed if at >= number - BLOCKHASH_WINDOW]
    if not candidates:
        return None
    return [(rng.choice(candidates), (Reason.ALREADY_PROCESSED, "re-sent", REPLAY))]


def _plant_outlier(
    workload: Workload, rng: Random, model: Model, blockhash: bytes
) -> list[Entry] | None:
    """One system transaction of `OUTLIER_TRANSFERS` transfers (the usual has one)."""
    amounts = [rng.randint(1, 9) * 10**6 for _ in range(OUTLIER_TRANSFERS)]
    amounts[0] += workload.next_nonce()  # unique bytes
    payer = workload.pick_payer(rng, model, sum(amounts) + FEE)
    if payer is None:
        return None
    owner = workload.user_keypair(payer)
    instructions: list[Instruction] = []
    for amount in amounts:
        recipient = workload.other_user(rng, model, payer)
        model.balances[recipient] += amount
        params = TransferParams(
            from_pubkey=owner.pubkey(),
            to_pubkey=Pubkey(workload.user(recipient)[0]),
            lamports=amount,
        )
        instructions.append(transfer(params))
    workload.spend(model, payer, sum(amounts) + FEE)
    raw = sign_solders(instructions, [owner], blockhash, False)
    return [(raw, (OK, f"{OUTLIER_TRANSFERS} system transfers", CU_OUTLIER))]
