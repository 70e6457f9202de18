"""simulateTransaction, and the preflight of sendTransaction: a transaction run in LiteSVM
against the state at a commitment, nothing kept.

One runtime serves every simulation of the server. Before each, the accounts the transaction
names (its keys, its lookup tables and the addresses it loads through them) are set from the
request's snapshot as of the commitment's block, or restored to the runtime's own (programs,
sysvars) or to nothing where the state has none; the clock is that block's. Those are all the
accounts a transaction can touch, so what earlier simulations left in the runtime does not
matter, as in the node's own executor.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from solders.transaction import VersionedTransaction

from monmouth.core import b58
from monmouth.plugins.rpc.accounts import encode_account
from monmouth.plugins.rpc.errors import (
    BLOCK_NOT_AVAILABLE,
    SEND_TRANSACTION_PREFLIGHT_FAILURE,
    RpcError,
    invalid_params,
)
from monmouth.plugins.rpc.params import base58_of
from monmouth.plugins.rpc.snapshot import Snapshot
from monmouth.rust_svm.errors import error_json
from monmouth.rust_svm.runtime import (
    Simulation,
    SvmRuntime,
    loaded_addresses,
    lookup_tables,
)
from monmouth.rust_svm.runtime import encode_account as store_encoding

__all__ = ["Simulator", "describe_error", "preflight_failure", "simulation_result"]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
# Agave's Display of the transaction errors a client meets most (solana-transaction-error).
_TRANSACTION_ERRORS = {
    "AccountInUse": "Account in use",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "SignatureFailure": "Transaction did not pass signature verification",
}
_INSTRUCTION_ERRORS = {
    "InsufficientFunds": "insufficient funds for instruction",
    "InvalidAccountData": "invalid account data for instruction",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "IncorrectProgramId": "incorrect program id for instruction",
    "ProgramFailedToComplete": "Program failed to complete",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
}


def describe_error(err: Any) -> str:
    """An error in Solana's JSON form as Agave's Display words it (preflight messages)."""
    if isinstance(err, str):
        return _TRANSACTION_ERRORS.get(err, _CAMEL.sub(" ", err).lower())
    if isinstance(err, dict) and "InstructionError" in err:
        index, detail = err["InstructionError"]
        if isinstance(detail, dict) and "Custom" in detail:
            text = f"custom program error: {detail['Custom']:#x}"
        elif isinstance(detail, str):
            text = _INSTRUCTION_ERRORS.get(detail, _CAMEL.sub(" ", detail).lower())
        else:
            text = str(detail)
        return f"Error processing Instruction {index}: {text}"
    if isinstance(err, dict) and "InsufficientFundsForRent" in err:
        index = err["InsufficientFundsForRent"].get("account_index")
        return f"Transaction results in an account ({index}) with insufficient funds for rent"
    return str(err)


class Simulator:
    """The server's one simulation runtime (module docstring), made on first use."""

    def __init__(self) -> None:
        self._runtime: SvmRuntime | None = None

    def run(self, snap: Snapshot, slot: int, tx: VersionedTransaction) -> Simulation:
        runtime = self._runtime
        if runtime is None:
            runtime = self._runtime = SvmRuntime()
        block = snap.view.block(slot)
        if block is None:
            raise RpcError(BLOCK_NOT_AVAILABLE, f"Block not available for slot {slot}")
        keys = [bytes(k) for k in tx.message.account_keys] + lookup_tables(tx)
        self._load(runtime, snap, slot, keys)
        self._load(runtime, snap, slot, loaded_addresses(tx, runtime))
        # Last: loading a sysvar the transaction names restores the runtime's own clock.
        runtime.set_clock(slot, block.timestamp)
        return runtime.simulate(tx)

    @staticmethod
    def _load(runtime: SvmRuntime, snap: Snapshot, slot: int, keys: list[bytes]) -> None:
        for key in dict.fromkeys(keys):
            runtime.set(key, snap.account(key, slot))


def simulation_result(
    simulation: Simulation | None,
    *,
    err: Any = None,
    accounts: list[Any] | None = None,
    inner: bool = False,
    replacement: Any = None,
) -> dict[str, Any]:
    """Agave's `RpcSimulateTransactionResult` (2.2's fields); `simulation` None: the
    transaction did not run (`err` says why)."""
    if simulation is None:
        return {
            "err": err,
            "logs": [],
            "accounts": None,
            "unitsConsumed": 0,
            "returnData": None,
            "innerInstructions": None,
            "replacementBlockhash": replacement,
        }
    execution = simulation.execution
    returned = simulation.return_data
    return {
        "err": None if execution.error is None else error_json(execution.error),
        "logs": execution.logs,
        "accounts": accounts,
        "unitsConsumed": execution.compute_units,
        "returnData": None
        if returned is None
        else {
            "programId": b58.encode(returned[0]),
            "data": [base64.b64encode(returned[1]).decode(), "base64"],
        },
        "innerInstructions": _inner(simulation) if inner else None,
        "replacementBlockhash": replacement,
    }


def _inner(simulation: Simulation) -> list[Any]:
    return [
        {
            "index": index,
            "instructions": [
                {
                    "programIdIndex": program,
                    "accounts": list(accounts),
                    "data": b58.encode(data),
                    "stackHeight": height,
                }
                for program, accounts, data, height in group
            ],
        }
        for index, group in enumerate(simulation.inner_instructions)
        if group
    ]


def post_accounts(
    snap: Snapshot, slot: int, simulation: Simulation, config: Any, where: str
) -> list[Any] | None:
    """The `accounts` a simulation was asked for (`{addresses, encoding}`), as they would be
    after it."""
    if config is None:
        return None
    if not isinstance(config, dict) or not isinstance(config.get("addresses"), list):
        raise invalid_params(f"{where} must be an object with an `addresses` array")
    encoding = config.get("encoding") or "base64"
    if encoding in ("binary", "base58"):
        raise invalid_params(f"{where}.encoding: base58 encoding not supported")
    out: list[Any] = []
    for i, text in enumerate(config["addresses"]):
        key = base58_of(text, 32)
        if key is None:
            raise invalid_params(f"{where}.addresses[{i}] is not a public key")
        account = simulation.post_accounts.get(key)
        raw = store_encoding(account) if account is not None else snap.account(key, slot)
        out.append(None if raw is None else encode_account(raw, encoding))
    return out


def preflight_failure(result: dict[str, Any]) -> RpcError:
    """-32002 with the simulation result as `data`, worded as Agave's preflight."""
    return RpcError(
        SEND_TRANSACTION_PREFLIGHT_FAILURE,
        f"Transaction simulation failed: {describe_error(result['err'])}",
        result,
    )
