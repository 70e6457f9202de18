"""Executed transactions as Solana's JSON-RPC shows them: getTransaction, getBlock and
getSignaturesForAddress, from the details the core keeps (`TxDetail`, `[store]
transaction_details`) and its signatures-by-address index (`[store] index_signatures`).

Shapes are Agave 2.2's (`transaction-status` crate: `EncodedConfirmedTransactionWithStatusMeta`,
`UiTransactionStatusMeta`, `UiConfirmedBlock`). `jsonParsed` lists account keys parsed and shows
the instructions of the programs `parsed_instructions` knows parsed (`{program, programId,
parsed}`), any other partially decoded (program id, account keys, base58 data), as Agave does.
"""

from __future__ import annotations

import base64
from typing import Any

from solders.message import MessageV0
from solders.transaction import VersionedTransaction

from monmouth.core.records import TxDetail, TxRecord, detail_key
from monmouth.plugins.rpc.accounts import token_amount
from monmouth.plugins.rpc.errors import (
    BLOCK_NOT_AVAILABLE,
    INVALID_PARAMS,
    RpcError,
    invalid_params,
)
from monmouth.plugins.rpc.params import (
    Params,
    b58,
    base58_of,
    config_of,
    positional,
    pubkey_of,
    u64_of,
)
from monmouth.plugins.rpc.parsed_instructions import parse_instruction
from monmouth.plugins.rpc.snapshot import Snapshot, parse_commitment

__all__ = ["get_block", "get_signatures_for_address", "get_transaction"]

#: Agave's -32015 (`RpcCustomError::UnsupportedTransactionVersion`).
UNSUPPORTED_TRANSACTION_VERSION = -32015
#: Agave's -32011 (`RpcCustomError::TransactionHistoryNotAvailable`).
TRANSACTION_HISTORY_NOT_AVAILABLE = -32011
MAX_SIGNATURES_FOR_ADDRESS = 1000
_ENCODINGS = ("json", "jsonParsed", "base58", "base64", "binary")
_DETAILS = ("full", "signatures", "none", "accounts")


# ---------------------------------------------------------------------- parameters


def _commitment_slot(snap: Snapshot, cfg: dict[str, Any]) -> int:
    """The block a history read may see: confirmed or finalized only, as Agave."""
    if parse_commitment(cfg) == "processed":
        raise invalid_params("Method does not support commitment below `confirmed`")
    return snap.slot(cfg)


def _tx_encoding(cfg: dict[str, Any], where: str) -> str:
    encoding = cfg.get("encoding") or "json"
    if encoding not in _ENCODINGS:
        raise invalid_params(
            f"{where}.encoding: unknown encoding {encoding!r}, expected one of "
            + ", ".join(_ENCODINGS)
        )
    return str(encoding)


def _max_version(cfg: dict[str, Any], where: str) -> int | None:
    value = cfg.get("maxSupportedTransactionVersion")
    if value is None:
        return None
    return u64_of(value, f"{where}.maxSupportedTransactionVersion")


def _version(wire: bytes, max_version: int | None) -> Any:
    """The transaction's `version` field (absent: None), or -32015 as Agave."""
    at = 1 + 64 * wire[0]  # fewer than 128 signatures: a one-byte count
    version = wire[at] & 0x7F if wire[at] & 0x80 else None
    if version is not None and (max_version is None or version > max_version):
        if max_version is None:
            message = (
                f"Transaction version ({version}) is not supported by the requesting client. "
                "Please try the request again with the following configuration parameter: "
                '"maxSupportedTransactionVersion": 0'
            )
        else:
            message = f"Transaction version ({version}) is not supported"
        raise RpcError(UNSUPPORTED_TRANSACTION_VERSION, message)
    if max_version is None:
        return None
    return "legacy" if version is None else version


# ---------------------------------------------------------------------- encoding


def _keys(tx: VersionedTransaction, detail: TxDetail) -> list[tuple[bytes, bool, bool, str]]:
    """(pubkey, writable, signer, source) of every account key, loaded ones after."""
    msg = tx.message
    header = msg.header
    keys = [bytes(k) for k in msg.account_keys]
    n_sig, n_keys = header.num_required_signatures, len(keys)
    ro_signed, ro_unsigned = (
        header.num_readonly_signed_accounts,
        header.num_readonly_unsigned_accounts,
    )
    programs = {ix.program_id_index for ix in msg.instructions}
    out = [
        (
            key,
            i not in programs and (i < n_sig - ro_signed or n_sig <= i < n_keys - ro_unsigned),
            i < n_sig,
            "transaction",
        )
        for i, key in enumerate(keys)
    ]
    if detail.loaded is not None:
        out += [(key, True, False, "lookupTable") for key in detail.loaded[0]]
        out += [(key, False, False, "lookupTable") for key in detail.loaded[1]]
    return out


def _parsed_keys(keys: list[tuple[bytes, bool, bool, str]]) -> list[dict[str, Any]]:
    return [{"pubkey": b58(k), "writable": w, "signer": s, "source": src} for k, w, s, src in keys]


def _lookups(tx: VersionedTransaction) -> list[dict[str, Any]] | None:
    msg = tx.message
    if not isinstance(msg, MessageV0):
        return None
    return [
        {
            "accountKey": b58(bytes(lookup.account_key)),
            "writableIndexes": list(bytes(lookup.writable_indexes)),
            "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
        }
        for lookup in msg.address_table_lookups
    ]


def _instruction(
    program: int, accounts: bytes, data: bytes, height: int | None, keys: list[bytes] | None
) -> dict[str, Any]:
    """A compiled instruction (`keys` None) or, for jsonParsed, parsed when its program is one
    Agave parses, else partially decoded."""
    if keys is None:
        return {
            "programIdIndex": program,
            "accounts": list(accounts),
            "data": b58(data),
            "stackHeight": height,
        }
    parsed = parse_instruction(keys[program], keys, accounts, data)
    if parsed is not None:
        parsed["stackHeight"] = height
        return parsed
    return {
        "programId": b58(keys[program]),
        "accounts": [b58(keys[i]) for i in accounts],
        "data": b58(data),
        "stackHeight": height,
    }


def _transaction(
    tx: VersionedTransaction,
    detail: TxDetail,
    keys: list[tuple[bytes, bool, bool, str]],
    encoding: str,
) -> Any:
    if encoding == "base64":
        return [base64.b64encode(detail.wire).decode(), "base64"]
    if encoding == "base58":
        return [b58(detail.wire), "base58"]
    if encoding == "binary":
        return b58(detail.wire)
    msg = tx.message
    signatures = [str(s) for s in tx.signatures]
    instructions = msg.instructions
    message: dict[str, Any]
    if encoding == "jsonParsed":
        plain = [k for k, *_ in keys]
        message = {
            "accountKeys": _parsed_keys(keys),
            "recentBlockhash": str(msg.recent_blockhash),
            "instructions": [
                _instruction(ix.program_id_index, bytes(ix.accounts), bytes(ix.data), None, plain)
                for ix in instructions
            ],
        }
    else:
        header = msg.header
        message = {
            "header": {
                "numRequiredSignatures": header.num_required_signatures,
                "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
            },
            "accountKeys": [str(k) for k in msg.account_keys],
            "recentBlockhash": str(msg.recent_blockhash),
            "instructions": [
                _instruction(ix.program_id_index, bytes(ix.accounts), bytes(ix.data), None, None)
                for ix in instructions
            ],
        }
    lookups = _lookups(tx)
    if lookups is not None:
        message["addressTableLookups"] = lookups
    return {"signatures": signatures, "message": message}


def _token_balances(detail: TxDetail, pre: bool) -> list[dict[str, Any]]:
    return [
        {
            "accountIndex": t.index,
            "mint": b58(t.mint),
            "uiTokenAmount": token_amount(t.amount, t.decimals),
            "owner": b58(t.owner),
            "programId": b58(t.program),
        }
        for t in (detail.pre_tokens if pre else detail.post_tokens)
    ]


def _meta(
    record: TxRecord,
    detail: TxDetail,
    keys: list[tuple[bytes, bool, bool, str]],
    encoding: str,
    *,
    accounts_only: bool = False,
) -> dict[str, Any]:
    """Agave's `UiTransactionStatusMeta` (jsonParsed: instructions partially decoded and no
    `loadedAddresses`, as Agave's parsed meta)."""
    err = record.error if record.status == "failed" else None
    meta: dict[str, Any] = {
        "err": err,
        "status": {"Ok": None} if err is None else {"Err": err},
        "fee": record.fee,
        "preBalances": detail.pre,
        "postBalances": detail.post,
        "preTokenBalances": _token_balances(detail, True),
        "postTokenBalances": _token_balances(detail, False),
    }
    if accounts_only:
        return meta
    parsed = encoding == "jsonParsed"
    plain = [k for k, *_ in keys] if parsed else None
    meta["innerInstructions"] = [
        {
            "index": index,
            "instructions": [_instruction(p, a, d, h, plain) for p, a, d, h in group],
        }
        for index, group in enumerate(detail.inner)
        if group
    ]
    meta["logMessages"] = record.logs
    meta["rewards"] = []
    if not parsed:
        writable, readonly = detail.loaded or ([], [])
        meta["loadedAddresses"] = {
            "writable": [b58(k) for k in writable],
            "readonly": [b58(k) for k in readonly],
        }
    if detail.return_data is not None:
        program, data = detail.return_data
        meta["returnData"] = {
            "programId": b58(program),
            "data": [base64.b64encode(data).decode(), "base64"],
        }
    meta["computeUnitsConsumed"] = record.compute_units
    return meta


def encode_with_meta(
    record: TxRecord, detail: TxDetail, encoding: str, max_version: int | None, details: str
) -> dict[str, Any]:
    """Agave's `EncodedTransactionWithStatusMeta` (`details`: full or accounts)."""
    version = _version(detail.wire, max_version)
    tx = VersionedTransaction.from_bytes(detail.wire)
    keys = _keys(tx, detail)
    out: dict[str, Any]
    if details == "accounts":
        out = {
            "transaction": {
                "signatures": [str(s) for s in tx.signatures],
                "accountKeys": _parsed_keys(keys),
            },
            "meta": _meta(record, detail, keys, encoding, accounts_only=True),
        }
    else:
        out = {
            "transaction": _transaction(tx, detail, keys, encoding),
            "meta": _meta(record, detail, keys, encoding),
        }
    if version is not None:
        out["version"] = version
    return out


# ---------------------------------------------------------------------- methods


def _signature(value: Any, where: str) -> bytes:
    raw = base58_of(value, 64)
    if raw is None:
        raise RpcError(INVALID_PARAMS, f"Invalid param: {where} is not a signature")
    return raw


def get_transaction(snap: Snapshot, params: Params) -> Any:
    signature, config = positional(params, "getTransaction", 1, 2)
    raw = _signature(signature, "params[0]")
    if isinstance(config, str):
        config = {"encoding": config}  # Agave still takes the encoding alone
    cfg = config_of(config, "params[1]")
    encoding = _tx_encoding(cfg, "params[1]")
    max_version = _max_version(cfg, "params[1]")
    top = _commitment_slot(snap, cfg)
    record = snap.view.tx(raw)
    if record is None or not record.executed or record.slot > top:
        return None
    detail = snap.view.detail(record)
    block = snap.view.block(record.slot)
    if detail is None or block is None:
        return None  # kept by a node with transaction details off, or an older version
    out = encode_with_meta(record, detail, encoding, max_version, "full")
    out["slot"] = record.slot
    out["blockTime"] = block.timestamp
    return out


def get_block(snap: Snapshot, params: Params) -> Any:
    slot, config = positional(params, "getBlock", 1, 2)
    number = u64_of(slot, "params[0] (slot)")
    if isinstance(config, str):
        config = {"encoding": config}
    cfg = config_of(config, "params[1]")
    encoding = _tx_encoding(cfg, "params[1]")
    max_version = _max_version(cfg, "params[1]")
    details = cfg.get("transactionDetails") or "full"
    if details not in _DETAILS:
        raise invalid_params(
            f"params[1].transactionDetails: unknown {details!r}, expected one of "
            + ", ".join(_DETAILS)
        )
    rewards = cfg.get("rewards")
    top = _commitment_slot(snap, cfg)
    block = snap.view.block(number) if number <= top else None
    if block is None:
        raise RpcError(BLOCK_NOT_AVAILABLE, f"Block not available for slot {number}")
    stored = snap.view.block_details(number)
    if len(stored) != block.ok + block.failed:
        # Committed with transaction details off, or by a version that kept none.
        raise RpcError(BLOCK_NOT_AVAILABLE, f"Block not available for slot {number}")
    out: dict[str, Any] = {
        "blockHeight": number,
        "blockTime": block.timestamp,
        "blockhash": b58(block.hash),
        "parentSlot": max(number - 1, 0),
        "previousBlockhash": b58(block.parent_hash),
    }
    if details == "signatures":
        out["signatures"] = [b58(_first_signature(d.wire)) for d in stored]
    elif details != "none":
        transactions = []
        for detail in stored:
            record = snap.view.tx(_first_signature(detail.wire))
            assert record is not None
            transactions.append(encode_with_meta(record, detail, encoding, max_version, details))
        out["transactions"] = transactions
    if rewards is None or rewards:
        out["rewards"] = []
    return out


def _first_signature(wire: bytes) -> bytes:
    return wire[1:65]


def get_signatures_for_address(snap: Snapshot, params: Params) -> Any:
    address, config = positional(params, "getSignaturesForAddress", 1, 2)
    key = pubkey_of(address, "params[0]")
    cfg = config_of(config, "params[1]")
    limit = cfg.get("limit")
    limit = MAX_SIGNATURES_FOR_ADDRESS if limit is None else u64_of(limit, "params[1].limit")
    if not 1 <= limit <= MAX_SIGNATURES_FOR_ADDRESS:
        raise invalid_params(f"Invalid limit; max {MAX_SIGNATURES_FOR_ADDRESS}")
    before = None if cfg.get("before") is None else _signature(cfg["before"], "params[1].before")
    until = None if cfg.get("until") is None else _signature(cfg["until"], "params[1].until")
    top = _commitment_slot(snap, cfg)
    if not snap.view.signatures_indexed():
        raise RpcError(
            TRANSACTION_HISTORY_NOT_AVAILABLE,
            "Transaction history is not available from this node: the signatures-by-address "
            "index is off; set `[store] index_signatures = true` (and transaction_details) "
            "and restart the node (it indexes the blocks it commits from then on)",
        )
    start = _position(snap, before)
    if before is not None and start is None:
        return []  # Agave: an unknown `before` answers nothing
    stop = _position(snap, until)
    out: list[dict[str, Any]] = []
    times: dict[int, int | None] = {}
    for position, signature in snap.view.signatures_for(key):
        if int.from_bytes(position[:8], "big") > top:
            continue
        if start is not None and position >= start:
            continue
        if stop is not None and position <= stop:
            break
        record_raw = snap.view.tx(signature)
        if record_raw is None:
            continue
        record: TxRecord = record_raw
        slot = record.slot
        if slot not in times:
            block = snap.view.block(slot)
            times[slot] = None if block is None else block.timestamp
        err = record.error if record.status == "failed" else None
        status, _ = snap.status_of(slot)
        out.append(
            {
                "signature": b58(signature),
                "slot": slot,
                "err": err,
                "memo": None,
                "blockTime": times[slot],
                "confirmationStatus": status,
            }
        )
        if len(out) >= limit:
            break
    return out


def _position(snap: Snapshot, signature: bytes | None) -> bytes | None:
    """The detail key of an executed transaction (before/until), or None when unknown."""
    if signature is None:
        return None
    record = snap.view.tx(signature)
    if record is None or not record.executed:
        return None
    return detail_key(record.slot, record.l1_tx_index, record.position)
