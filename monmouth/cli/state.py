"""`monmouth status`, `account` and `tx`: what the node's state holds, read-only (they work
while the node runs)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import base58
import typer

from monmouth.commands import ConfigFile, DataDir, JsonFlag, emit, fail, guard, open_store
from monmouth.core import b58
from monmouth.core.errors import UserError
from monmouth.core.hexutil import to_data


def status(config: ConfigFile = None, data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """The head, the state hash, and how many accounts and transactions the state holds."""

    def body() -> dict[str, Any]:
        with open_store(config, data_dir) as store:
            head = store.head()
            if head is None:
                # The lattice hash brings numpy: imported only for the empty state's hash.
                from monmouth.core.lthash import LtHash

                state_hash = LtHash.identity().checksum_b58()
            else:
                state_hash = b58.encode(head.checksum)
            return {
                "head_number": None if head is None else head.number,
                "head_hash": None if head is None else to_data(head.hash),
                "state_hash": state_hash,
                "accounts": store.accounts_count(),
                "transactions": store.transactions_count(),
            }

    emit(guard(body), as_json)


def decode_b58(text: str, size: int, what: str) -> bytes:
    try:
        raw = base58.b58decode(text)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise UserError(f"{text!r} is not a base58 {what} ({size} bytes)")
    return bytes(raw)


def account(
    pubkey: Annotated[str, typer.Argument(help="Account address (base58).")],
    config: ConfigFile = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """One account of the state; exit 1 when it does not exist."""

    def body() -> bytes | None:
        key = decode_b58(pubkey, 32, "public key")
        with open_store(config, data_dir) as store:
            return store.account(key)

    raw = guard(body)
    if raw is None:
        raise fail(f"account {pubkey} does not exist", 1)
    from monmouth.rust_svm.accounts import AccountRecord

    rec = AccountRecord.decode(raw)
    result = {
        "pubkey": pubkey,
        "lamports": rec.lamports,
        "owner": b58.encode(rec.owner),
        "executable": rec.executable,
        "rent_epoch": rec.rent_epoch,
        "data": base64.b64encode(rec.data).decode(),
    }
    emit(result, as_json)


def tx(
    signature: Annotated[str, typer.Argument(help="Transaction signature (base58).")],
    config: ConfigFile = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """One transaction's status, fee, compute units and logs; exit 1 when unknown."""

    def body() -> Any:
        sig = decode_b58(signature, 64, "signature")
        with open_store(config, data_dir) as store:
            return store.tx(sig)

    rec = guard(body)
    if rec is None:
        raise fail(f"transaction {signature} is unknown", 1)
    result = {
        "signature": signature,
        "status": rec.status,
        "reason": rec.reason,
        "error": rec.error,
        "slot": rec.slot,
        "fee": rec.fee,
        "compute_units": rec.compute_units,
        "logs": rec.logs,
    }
    emit(result, as_json)
