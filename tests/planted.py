"""The devnet's canonical chain run in a bare LiteSVM, as the node would run it, to check what
the workload planted (tests/devnet/test_devnet.py, tests/plugins/mev/test_mev_devnet.py).

Deposits credit their recipient; a rejected message or transaction (planted with a `Reason`,
or as REVERTED or DECOY) is skipped as the node skips it; every other transaction runs, with
its planted mark (OK, FAILED, or none for the workload's own) beside its result.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.account import Account
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata

from monmouth.core.inbox import DEFAULT_INBOX_ADDRESS, Batch, Deposit, decode
from monmouth.devnet import FAILED, OK, DevnetChain, Planted
from monmouth.devnet.instructions import SYSTEM_PROGRAM_ID


@dataclass(frozen=True, slots=True)
class Executed:
    """One Solana transaction of the chain and what LiteSVM made of it."""

    block: int
    mark: Planted | None
    result: TransactionMetadata | FailedTransactionMetadata

    @property
    def failed(self) -> bool:
        return isinstance(self.result, FailedTransactionMetadata)

    @property
    def planted_to_fail(self) -> bool:
        return self.mark is not None and self.mark.what == FAILED


def execute(chain: DevnetChain) -> tuple[LiteSVM, list[Executed]]:
    """Run the canonical chain's good transactions in LiteSVM; the SVM after, and each run."""
    # LiteSVM does not know L1 hashes as blockhashes; the window is checked by the devnet tests.
    svm = LiteSVM().with_blockhash_check(False)
    runs: list[Executed] = []
    for block in chain.canonical():
        marks = {(p.tx_index, p.position): p for p in chain.planted(block.hash)}
        for tx in block.transactions:
            if tx.to != DEFAULT_INBOX_ADDRESS or tx.status != 1:
                continue
            message = decode(tx.input, tx.value)
            if isinstance(message, Deposit):
                key = Pubkey(message.recipient)
                account = svm.get_account(key)
                lamports = message.lamports + (0 if account is None else account.lamports)
                svm.set_account(key, Account(lamports, b"", SYSTEM_PROGRAM_ID, False))
            elif isinstance(message, Batch):
                for position, raw in enumerate(message.transactions):
                    mark = marks.get((tx.index, position))
                    if mark is not None and mark.what not in (OK, FAILED):
                        continue  # rejected: never executed
                    result = svm.send_transaction(VersionedTransaction.from_bytes(raw))
                    runs.append(Executed(block.number, mark, result))
    return svm, runs


def assert_model_agrees(chain: DevnetChain, svm: LiteSVM) -> None:
    """The model the workload keeps agrees with the runtime to the lamport and the token."""
    model = chain._model
    for user in range(model.funded):
        public = Pubkey(chain._workload.user(user)[0])
        assert svm.get_balance(public) == model.balances[user], user
    for (address, _, _), amount in zip(model.token_accounts, model.token_amounts, strict=True):
        account = svm.get_account(Pubkey(address))
        assert account is not None
        assert int.from_bytes(account.data[64:72], "little") == amount
