"""Solana's JSON-RPC methods, answered from one snapshot of the node's LMDB state.

Each read method takes the request's `Snapshot` and its positional parameters and returns the
`result`, shaped as Agave's (`rpc/src/rpc.rs`); each raises `RpcError` with Agave's code. The
writing methods (`sendTransaction`, `requestAirdrop`) check what they can against the snapshot
here (`prepare_send`, `prepare_airdrop`) and are relayed by the server through the node;
simulateTransaction and the preflight run in the server's `Simulator`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import base58
from solders.message import from_bytes_versioned
from solders.transaction import VersionedTransaction

from monmouth.core.errors import DataDirError
from monmouth.plugins.rpc.accounts import (
    ENCODINGS,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    encode_account,
    mint_decimals_of,
    parse_data_slice,
    token_amount,
)
from monmouth.plugins.rpc.errors import (
    BLOCK_NOT_AVAILABLE,
    INVALID_PARAMS,
    SIGNATURE_VERIFICATION_FAILURE,
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
from monmouth.plugins.rpc.simulate import (
    Simulator,
    post_accounts,
    preflight_failure,
    simulation_result,
)
from monmouth.plugins.rpc.snapshot import API_VERSION, Snapshot
from monmouth.plugins.rpc.transactions import (
    get_block,
    get_signatures_for_address,
    get_transaction,
)
from monmouth.rust_svm.accounts import AccountRecord

__all__ = [
    "AIRDROP_MAGIC",
    "BLOCKHASH_WINDOW",
    "LAMPORTS_PER_SIGNATURE",
    "READ_METHODS",
    "Airdrop",
    "Send",
    "airdrop_id",
    "airdrop_slot",
    "filters_match",
    "mint_decimals",
    "parse_filters",
    "prepare_airdrop",
    "prepare_send",
    "simulate_transaction",
]

#: Solana's window, on L1 blocks: a transaction in block n names the hash of one of n-150…n-1.
BLOCKHASH_WINDOW = 150
LAMPORTS_PER_SIGNATURE = 5000
#: How many slots back getSignatureStatuses looks without `searchTransactionHistory`
#: (Agave's status cache: MAX_RECENT_BLOCKHASHES).
STATUS_CACHE_SLOTS = 300
SLOTS_PER_EPOCH = 432_000
MAX_SIGNATURES = 256
MAX_MULTIPLE_ACCOUNTS = 100
MAX_SLOT_RANGE = 500_000
#: `getVersion`'s `feature-set`: Agave hashes its active features into a u32; this node runs
#: LiteSVM's feature set, fixed by the pinned solders, so the number is a constant.
FEATURE_SET = 3_294_202_862
# Agave's size limits on an encoded transaction (PACKET_DATA_SIZE = 1232 raw bytes).
_PACKET_DATA_SIZE = 1232
_MAX_BASE58_SIZE = 1683
_MAX_BASE64_SIZE = 1644
#: The first bytes of an airdrop's id (`airdrop_id`): no ed25519 signature begins so by design,
#: and by chance only once in 2**64.
AIRDROP_MAGIC = b"\xffAIRDROP"

Method = Callable[[Snapshot, Params], Any]


# ---------------------------------------------------------------------- parameters


def _encoding(config: dict[str, Any], where: str, default: str) -> str:
    encoding = config.get("encoding") or default
    if encoding not in ENCODINGS:
        raise invalid_params(
            f"{where}.encoding: unknown encoding {encoding!r}, expected one of "
            + ", ".join(ENCODINGS)
        )
    return str(encoding)


# ---------------------------------------------------------------------- node and cluster


def get_health(snap: Snapshot, params: Params) -> Any:
    positional(params, "getHealth", 0, 0)
    snap.require_head()
    return "ok"


def get_version(snap: Snapshot, params: Params) -> Any:
    positional(params, "getVersion", 0, 0)
    return {"solana-core": API_VERSION, "feature-set": FEATURE_SET}


def identity(snap: Snapshot) -> bytes:
    """The node's identity: a key derived from its genesis, as stable as the chain it follows."""
    return hashlib.sha256(b"monmouth identity" + genesis_hash(snap)).digest()


def get_identity(snap: Snapshot, params: Params) -> Any:
    positional(params, "getIdentity", 0, 0)
    return {"identity": b58(identity(snap))}


def genesis_hash(snap: Snapshot) -> bytes:
    """The hash of L1 block 0, or of the first block the state holds when it starts later."""
    snap.require_head()
    first = snap.view.first_block()
    block = None if first is None else snap.view.block(first)
    return b"" if block is None else block.hash


def get_genesis_hash(snap: Snapshot, params: Params) -> Any:
    positional(params, "getGenesisHash", 0, 0)
    return b58(genesis_hash(snap))


def _slot_params(snap: Snapshot, params: Params, method: str) -> int:
    (config,) = positional(params, method, 0, 1)
    return snap.slot(config_of(config, "params[0]"))


def get_slot(snap: Snapshot, params: Params) -> Any:
    return _slot_params(snap, params, "getSlot")


def get_block_height(snap: Snapshot, params: Params) -> Any:
    # One block per slot: the block height is the slot (lastValidBlockHeight counts so too).
    return _slot_params(snap, params, "getBlockHeight")


def get_transaction_count(snap: Snapshot, params: Params) -> Any:
    return snap.transaction_count(_slot_params(snap, params, "getTransactionCount"))


def get_epoch_info(snap: Snapshot, params: Params) -> Any:
    slot = _slot_params(snap, params, "getEpochInfo")
    return {
        "absoluteSlot": slot,
        "blockHeight": slot,
        "epoch": slot // SLOTS_PER_EPOCH,
        "slotIndex": slot % SLOTS_PER_EPOCH,
        "slotsInEpoch": SLOTS_PER_EPOCH,
        "transactionCount": snap.transaction_count(slot),
    }


def get_epoch_schedule(snap: Snapshot, params: Params) -> Any:
    positional(params, "getEpochSchedule", 0, 0)
    return {
        "firstNormalEpoch": 0,
        "firstNormalSlot": 0,
        "leaderScheduleSlotOffset": SLOTS_PER_EPOCH,
        "slotsPerEpoch": SLOTS_PER_EPOCH,
        "warmup": False,
    }


def get_minimum_balance_for_rent_exemption(snap: Snapshot, params: Params) -> Any:
    size, config = positional(params, "getMinimumBalanceForRentExemption", 1, 2)
    config_of(config, "params[1]")
    return rent_exempt_minimum(u64_of(size, "params[0] (data length)"))


def rent_exempt_minimum(size: int) -> int:
    """Solana's rent: (128 bytes of account overhead + data) * 3480 lamports per byte-year * 2
    years."""
    return (128 + size) * 3480 * 2


# ---------------------------------------------------------------------- blockhashes and fees


def _window_slot(snap: Snapshot, blockhash: bytes, slot: int) -> int | None:
    """The number of the block with this hash when a transaction naming it may still land in
    the block after `slot`, else None."""
    for block_number in range(slot, max(slot - BLOCKHASH_WINDOW, -1), -1):
        block = snap.view.block(block_number)
        if block is not None and block.hash == blockhash:
            return block_number
    return None


def get_latest_blockhash(snap: Snapshot, params: Params) -> Any:
    (config,) = positional(params, "getLatestBlockhash", 0, 1)
    slot = snap.slot(config_of(config, "params[0]"))
    block = snap.view.block(slot)
    if block is None:
        raise RpcError(BLOCK_NOT_AVAILABLE, f"Block not available for slot {slot}")
    value = {"blockhash": b58(block.hash), "lastValidBlockHeight": slot + BLOCKHASH_WINDOW}
    return snap.context(slot, value)


def _hash(value: Any, where: str) -> bytes:
    raw = base58_of(value, 32)
    if raw is None:
        raise RpcError(INVALID_PARAMS, f"Invalid param: {where} {value!r} is not a blockhash")
    return raw


def is_blockhash_valid(snap: Snapshot, params: Params) -> Any:
    blockhash, config = positional(params, "isBlockhashValid", 1, 2)
    raw = _hash(blockhash, "params[0]")
    slot = snap.slot(config_of(config, "params[1]"), "finalized")
    return snap.context(slot, _window_slot(snap, raw, slot) is not None)


def get_fee_for_message(snap: Snapshot, params: Params) -> Any:
    message, config = positional(params, "getFeeForMessage", 1, 2)
    slot = snap.slot(config_of(config, "params[1]"))
    if not isinstance(message, str):
        raise invalid_params("params[0] must be a base64 message")
    try:
        parsed = from_bytes_versioned(base64.b64decode(message, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise invalid_params(f"params[0] is not a base64 Solana message: {exc}") from None
    recent = bytes(parsed.recent_blockhash)
    if _window_slot(snap, recent, slot) is None:
        return snap.context(slot, None)  # Agave: no fee for an expired blockhash
    fee = LAMPORTS_PER_SIGNATURE * parsed.header.num_required_signatures
    return snap.context(slot, fee)


# ---------------------------------------------------------------------- accounts


def mint_decimals(snap: Snapshot, slot: int) -> Callable[[bytes], int | None]:
    return lambda mint: mint_decimals_of(snap.account(mint, slot))


def _account_reads(
    snap: Snapshot, config: Any, where: str
) -> tuple[int, str, tuple[int, int] | None]:
    cfg = config_of(config, where)
    slot = snap.slot(cfg)
    encoding = _encoding(cfg, where, "binary")
    return slot, encoding, parse_data_slice(cfg.get("dataSlice"), where)


def _ui_account(
    snap: Snapshot, key: bytes, slot: int, encoding: str, data_slice: tuple[int, int] | None
) -> Any:
    try:
        raw = snap.account(key, slot)
    except DataDirError as exc:
        raise RpcError(BLOCK_NOT_AVAILABLE, str(exc)) from None
    if raw is None:
        return None
    return encode_account(raw, encoding, data_slice, mint_decimals(snap, slot))


def get_balance(snap: Snapshot, params: Params) -> Any:
    pubkey, config = positional(params, "getBalance", 1, 2)
    key = pubkey_of(pubkey, "params[0]")
    slot = snap.slot(config_of(config, "params[1]"))
    raw = snap.account(key, slot)
    return snap.context(slot, 0 if raw is None else AccountRecord.decode(raw).lamports)


def get_account_info(snap: Snapshot, params: Params) -> Any:
    pubkey, config = positional(params, "getAccountInfo", 1, 2)
    key = pubkey_of(pubkey, "params[0]")
    slot, encoding, data_slice = _account_reads(snap, config, "params[1]")
    return snap.context(slot, _ui_account(snap, key, slot, encoding, data_slice))


def get_multiple_accounts(snap: Snapshot, params: Params) -> Any:
    pubkeys, config = positional(params, "getMultipleAccounts", 1, 2)
    if not isinstance(pubkeys, list):
        raise invalid_params("params[0] must be an array of base58 public keys")
    if len(pubkeys) > MAX_MULTIPLE_ACCOUNTS:
        raise invalid_params(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
    keys = [pubkey_of(p, f"params[0][{i}]") for i, p in enumerate(pubkeys)]
    slot, encoding, data_slice = _account_reads(snap, config, "params[1]")
    return snap.context(slot, [_ui_account(snap, k, slot, encoding, data_slice) for k in keys])


# ---------------------------------------------------------------------- signatures


def airdrop_id(recipient: bytes, lamports: int, after: int, nonce: int) -> bytes:
    """The 64-byte id requestAirdrop answers in place of a transaction signature.

    It carries what finds the deposit again, so nothing is stored: the deposit credits
    `recipient` with `lamports` in a block after `after`, and `nonce` counts the airdrops of
    the same recipient, amount and `after` before it (the nonce-th such deposit is its).
    """
    return AIRDROP_MAGIC + struct.pack(">QQQ", after, lamports, nonce) + recipient


def airdrop_slot(snap: Snapshot, raw: bytes) -> int | None:
    """The block that executed the deposit an airdrop id names, or None (not yet, or never
    within the status cache's window)."""
    after, lamports, nonce = struct.unpack_from(">QQQ", raw, len(AIRDROP_MAGIC))
    recipient = raw[32:]
    last = min(snap.processed, after + STATUS_CACHE_SLOTS)
    seen = 0
    for number, _index, message in snap.view.messages(after + 1, last):
        if (
            message.kind == "deposit"
            and message.reason is None
            and message.recipient == recipient
            and message.lamports == lamports
        ):
            if seen == nonce:
                return number
            seen += 1
    return None


def get_signature_statuses(snap: Snapshot, params: Params) -> Any:
    signatures, config = positional(params, "getSignatureStatuses", 1, 2)
    if not isinstance(signatures, list):
        raise invalid_params("params[0] must be an array of base58 signatures")
    if len(signatures) > MAX_SIGNATURES:
        raise invalid_params(f"Too many inputs provided; max {MAX_SIGNATURES}")
    search_history = bool(config_of(config, "params[1]").get("searchTransactionHistory"))
    head = snap.require_head().number
    statuses: list[Any] = []
    for i, text in enumerate(signatures):
        raw = base58_of(text, 64)
        if raw is None:
            raise RpcError(INVALID_PARAMS, f"Invalid param: params[0][{i}] is not a signature")
        statuses.append(_status(snap, raw, head, search_history))
    return snap.context(head, statuses)


def _status(snap: Snapshot, raw: bytes, head: int, search_history: bool) -> Any:
    if raw.startswith(AIRDROP_MAGIC):
        slot = airdrop_slot(snap, raw)
        err = None
    else:
        record = snap.view.tx(raw)
        # A rejected transaction never made it into a block: unknown, as on Solana.
        if record is None or not record.executed:
            return None
        slot, err = record.slot, record.error if record.status == "failed" else None
    if slot is None or (not search_history and slot < head - STATUS_CACHE_SLOTS):
        return None
    confirmation, confirmations = snap.status_of(slot)
    return {
        "slot": slot,
        "confirmations": confirmations,
        "err": err,
        "status": {"Ok": None} if err is None else {"Err": err},
        "confirmationStatus": confirmation,
    }


# ---------------------------------------------------------------------- blocks


def get_first_available_block(snap: Snapshot, params: Params) -> Any:
    positional(params, "getFirstAvailableBlock", 0, 0)
    return snap.view.first_block() or 0


def minimum_ledger_slot(snap: Snapshot, params: Params) -> Any:
    positional(params, "minimumLedgerSlot", 0, 0)
    return snap.view.first_block() or 0


def get_block_time(snap: Snapshot, params: Params) -> Any:
    (slot,) = positional(params, "getBlockTime", 1, 1)
    number = u64_of(slot, "params[0] (slot)")
    block = snap.view.block(number) if number <= snap.processed else None
    if block is None:
        raise RpcError(BLOCK_NOT_AVAILABLE, f"Block not available for slot {number}")
    return block.timestamp


def _blocks_commitment(snap: Snapshot, config: Any, where: str) -> int:
    cfg = config_of(config, where)
    if cfg.get("commitment") in ("processed", "recent"):
        raise invalid_params("Method does not support commitment below `confirmed`")
    return snap.slot(cfg)


def get_blocks(snap: Snapshot, params: Params) -> Any:
    start, end, config = positional(params, "getBlocks", 1, 3)
    if isinstance(end, dict) and config is None:
        end, config = None, end  # Agave takes the config in the end slot's place
    first = u64_of(start, "params[0] (start slot)")
    top = _blocks_commitment(snap, config, "params[2]")
    last = top if end is None else min(u64_of(end, "params[1] (end slot)"), top)
    if end is not None and end - first > MAX_SLOT_RANGE:
        raise invalid_params(f"Slot range too large; max {MAX_SLOT_RANGE}")
    return snap.view.block_numbers(first, last, MAX_SLOT_RANGE + 1)


def get_blocks_with_limit(snap: Snapshot, params: Params) -> Any:
    start, limit, config = positional(params, "getBlocksWithLimit", 2, 3)
    first = u64_of(start, "params[0] (start slot)")
    count = u64_of(limit, "params[1] (limit)")
    if count > MAX_SLOT_RANGE:
        raise invalid_params(f"Limit too large; max {MAX_SLOT_RANGE}")
    top = _blocks_commitment(snap, config, "params[2]")
    return snap.view.block_numbers(first, top, count)


# ---------------------------------------------------------------------- scans
# With the core's account indexes (`[store] index_owners`, `index_tokens`) these read the
# accounts an index lists; without them they scan the accounts at the commitment's block, as
# Agave does without its account indexes.

MAX_FILTERS = 4
_MAX_MEMCMP_BYTES = 128
_TOKEN_OWNERS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)


def scan_accounts(snap: Snapshot, slot: int) -> Iterator[tuple[bytes, bytes]]:
    try:
        yield from snap.view.accounts_at(slot, snap.processed)
    except DataDirError as exc:
        raise RpcError(BLOCK_NOT_AVAILABLE, str(exc)) from None


def candidate_accounts(
    snap: Snapshot, slot: int, index: str, key: bytes
) -> Iterable[tuple[bytes, bytes]]:
    """The accounts (as block `slot` left them) that may match: those an account index lists
    under `key` at the head, plus every account changed after `slot`; all accounts (a scan)
    when the node does not keep that index. Callers still check each account."""
    listed = snap.view.account_index(index, key)
    if listed is None:
        return scan_accounts(snap, slot)
    changed: dict[bytes, bytes | None] = {}
    if slot < snap.processed:
        try:
            changed = snap.view.changes_after(slot, snap.processed)
        except DataDirError as exc:
            raise RpcError(BLOCK_NOT_AVAILABLE, str(exc)) from None
    out: list[tuple[bytes, bytes]] = []
    for pubkey in sorted(set(listed).union(changed)) if changed else listed:
        raw = changed[pubkey] if pubkey in changed else snap.view.account(pubkey)
        if raw is not None:
            out.append((pubkey, raw))
    return out


def parse_filters(value: Any, where: str) -> list[tuple[int | None, int, bytes]]:
    """Filters as (dataSize, memcmp offset, memcmp bytes) triples."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_params(f"{where} must be an array of filters")
    if len(value) > MAX_FILTERS:
        raise invalid_params(f"Too many filters provided; max {MAX_FILTERS}")
    out: list[tuple[int | None, int, bytes]] = []
    for i, item in enumerate(value):
        here = f"{where}[{i}]"
        if isinstance(item, dict) and "dataSize" in item:
            out.append((u64_of(item["dataSize"], f"{here}.dataSize"), 0, b""))
            continue
        memcmp = item.get("memcmp") if isinstance(item, dict) else None
        if not isinstance(memcmp, dict):
            raise invalid_params(f"{here} must be {{dataSize}} or {{memcmp: {{offset, bytes}}}}")
        offset = u64_of(memcmp.get("offset"), f"{here}.memcmp.offset")
        text, encoding = memcmp.get("bytes"), memcmp.get("encoding") or "base58"
        if not isinstance(text, str):
            raise invalid_params(f"{here}.memcmp.bytes must be a string")
        try:
            if encoding == "base58":
                data = bytes(base58.b58decode(text))
            elif encoding == "base64":
                data = base64.b64decode(text, validate=True)
            else:
                raise invalid_params(f"{here}.memcmp.encoding must be base58 or base64")
        except (ValueError, binascii.Error):
            raise invalid_params(f"{here}.memcmp.bytes is not {encoding}") from None
        if len(data) > _MAX_MEMCMP_BYTES:
            raise invalid_params(f"{here}.memcmp.bytes: more than {_MAX_MEMCMP_BYTES} bytes")
        out.append((None, offset, data))
    return out


def filters_match(data: bytes, filters: list[tuple[int | None, int, bytes]]) -> bool:
    for size, offset, expected in filters:
        if size is not None:
            if len(data) != size:
                return False
        elif data[offset : offset + len(expected)] != expected:
            return False
    return True


def _keyed(
    snap: Snapshot, key: bytes, raw: bytes, slot: int, encoding: str, data_slice: Any
) -> dict[str, Any]:
    account = encode_account(raw, encoding, data_slice, mint_decimals(snap, slot))
    return {"pubkey": b58(key), "account": account}


def get_program_accounts(snap: Snapshot, params: Params) -> Any:
    program, config = positional(params, "getProgramAccounts", 1, 2)
    owner = pubkey_of(program, "params[0]")
    slot, encoding, data_slice = _account_reads(snap, config, "params[1]")
    cfg = config_of(config, "params[1]")
    filters = parse_filters(cfg.get("filters"), "params[1].filters")
    found = []
    for key, raw in candidate_accounts(snap, slot, "by_owner", owner):
        if raw[17:49] == owner and filters_match(raw[49:], filters):
            found.append(_keyed(snap, key, raw, slot, encoding, data_slice))
    return snap.context(slot, found) if cfg.get("withContext") else found


def _token_filter(value: Any, where: str) -> tuple[bytes | None, bytes | None]:
    """(mint, program) of a token-accounts filter: `{mint}` or `{programId}`."""
    if not isinstance(value, dict) or ("mint" in value) == ("programId" in value):
        raise invalid_params(f"{where} must be {{mint: KEY}} or {{programId: KEY}}")
    if "mint" in value:
        return pubkey_of(value["mint"], f"{where}.mint"), None
    program = pubkey_of(value["programId"], f"{where}.programId")
    if program not in _TOKEN_OWNERS:
        raise RpcError(INVALID_PARAMS, "Invalid param: unrecognized Token program id")
    return None, program


def _is_token_account(owner: bytes, data: bytes) -> bool:
    """SPL Token's 165 bytes, or Token-2022's with extensions after its account-type byte 2
    (mints are 82 bytes; multisigs, 355, have no type byte)."""
    if owner == TOKEN_PROGRAM:
        return len(data) == 165
    if owner == TOKEN_2022_PROGRAM:
        return len(data) == 165 or (len(data) > 165 and len(data) != 355 and data[165] == 2)
    return False


def _token_accounts(snap: Snapshot, params: Params, method: str, by_delegate: bool) -> Any:
    who, token_filter, config = positional(params, method, 2, 3)
    key = pubkey_of(who, "params[0]")
    mint, program = _token_filter(token_filter, "params[1]")
    slot, encoding, data_slice = _account_reads(snap, config, "params[2]")
    found = []
    index = "token_by_delegate" if by_delegate else "token_by_owner"
    for pubkey, raw in candidate_accounts(snap, slot, index, key):
        owner_program = raw[17:49]
        data = raw[49:]
        if not _is_token_account(owner_program, data):
            continue
        if (program is not None and owner_program != program) or (
            mint is not None and data[:32] != mint
        ):
            continue
        if by_delegate:
            if data[72:76] != b"\x01\x00\x00\x00" or data[76:108] != key:
                continue
        elif data[32:64] != key:
            continue
        found.append(_keyed(snap, pubkey, raw, slot, encoding, data_slice))
    return snap.context(slot, found)


def get_token_accounts_by_owner(snap: Snapshot, params: Params) -> Any:
    return _token_accounts(snap, params, "getTokenAccountsByOwner", False)


def get_token_accounts_by_delegate(snap: Snapshot, params: Params) -> Any:
    return _token_accounts(snap, params, "getTokenAccountsByDelegate", True)


def get_token_account_balance(snap: Snapshot, params: Params) -> Any:
    account, config = positional(params, "getTokenAccountBalance", 1, 2)
    key = pubkey_of(account, "params[0]")
    slot = snap.slot(config_of(config, "params[1]"))
    raw = snap.account(key, slot)
    data = b"" if raw is None else AccountRecord.decode(raw).data
    if raw is None or not _is_token_account(raw[17:49], data):
        raise RpcError(INVALID_PARAMS, "Invalid param: not a Token account")
    decimals = mint_decimals_of(snap.account(data[:32], slot))
    if decimals is None:
        raise RpcError(INVALID_PARAMS, "Invalid param: Token mint could not be unpacked")
    return snap.context(slot, token_amount(int.from_bytes(data[64:72], "little"), decimals))


def get_token_supply(snap: Snapshot, params: Params) -> Any:
    mint, config = positional(params, "getTokenSupply", 1, 2)
    key = pubkey_of(mint, "params[0]")
    slot = snap.slot(config_of(config, "params[1]"))
    raw = snap.account(key, slot)
    decimals = mint_decimals_of(raw)
    if raw is None or decimals is None:
        raise RpcError(INVALID_PARAMS, "Invalid param: not a Token mint")
    data = AccountRecord.decode(raw).data
    return snap.context(slot, token_amount(int.from_bytes(data[36:44], "little"), decimals))


READ_METHODS: dict[str, Method] = {
    "getAccountInfo": get_account_info,
    "getBalance": get_balance,
    "getBlock": get_block,
    "getBlockHeight": get_block_height,
    "getBlockTime": get_block_time,
    "getBlocks": get_blocks,
    "getBlocksWithLimit": get_blocks_with_limit,
    "getEpochInfo": get_epoch_info,
    "getEpochSchedule": get_epoch_schedule,
    "getFeeForMessage": get_fee_for_message,
    "getFirstAvailableBlock": get_first_available_block,
    "getGenesisHash": get_genesis_hash,
    "getHealth": get_health,
    "getIdentity": get_identity,
    "getLatestBlockhash": get_latest_blockhash,
    "getMinimumBalanceForRentExemption": get_minimum_balance_for_rent_exemption,
    "getMultipleAccounts": get_multiple_accounts,
    "getProgramAccounts": get_program_accounts,
    "getTokenAccountBalance": get_token_account_balance,
    "getTokenAccountsByDelegate": get_token_accounts_by_delegate,
    "getTokenAccountsByOwner": get_token_accounts_by_owner,
    "getTokenSupply": get_token_supply,
    "getSignatureStatuses": get_signature_statuses,
    "getSignaturesForAddress": get_signatures_for_address,
    "getSlot": get_slot,
    "getTransaction": get_transaction,
    "getTransactionCount": get_transaction_count,
    "getVersion": get_version,
    "isBlockhashValid": is_blockhash_valid,
    "minimumLedgerSlot": minimum_ledger_slot,
}


# ---------------------------------------------------------------------- writes


@dataclass(frozen=True, slots=True)
class Send:
    """A transaction that passed the checks, for the relay."""

    wire: bytes
    signature: str


@dataclass(frozen=True, slots=True)
class Airdrop:
    """A deposit to ask the relay for, with the id requestAirdrop answers."""

    recipient: bytes
    lamports: int
    after: int


def _decode_transaction(text: Any, encoding: str) -> bytes:
    if not isinstance(text, str):
        raise invalid_params("params[0] must be an encoded transaction string")
    name = "solana_transaction::versioned::VersionedTransaction"
    if encoding == "base58":
        if len(text) > _MAX_BASE58_SIZE:
            raise invalid_params(
                f"base58 encoded {name} too large: {len(text)} bytes "
                f"(max: encoded/raw {_MAX_BASE58_SIZE}/{_PACKET_DATA_SIZE})"
            )
        try:
            wire = bytes(base58.b58decode(text))
        except ValueError:
            raise invalid_params(f"invalid base58 encoding: {text[:16]!r}…") from None
    elif encoding == "base64":
        if len(text) > _MAX_BASE64_SIZE:
            raise invalid_params(
                f"base64 encoded {name} too large: {len(text)} bytes "
                f"(max: encoded/raw {_MAX_BASE64_SIZE}/{_PACKET_DATA_SIZE})"
            )
        try:
            wire = base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise invalid_params("invalid base64 encoding") from None
    else:
        raise invalid_params(
            f"unsupported encoding: {encoding}. Supported encodings: base58, base64"
        )
    if len(wire) > _PACKET_DATA_SIZE:
        raise invalid_params(
            f"decoded {name} too large: {len(wire)} bytes (max: {_PACKET_DATA_SIZE} bytes)"
        )
    return wire


def _transaction(text: Any, encoding: str) -> VersionedTransaction:
    wire = _decode_transaction(text, encoding)
    try:
        tx = VersionedTransaction.from_bytes(wire)
        tx.sanitize()
    except Exception as exc:  # solders raises its own error types for malformed input
        raise invalid_params(f"failed to deserialize {encoding} transaction: {exc}") from None
    return tx


def _verify(tx: VersionedTransaction) -> None:
    if not tx.signatures or not all(tx.verify_with_results()):
        raise RpcError(SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure")


def simulate_transaction(snap: Snapshot, params: Params, simulator: Simulator) -> Any:
    """simulateTransaction: the transaction run at the commitment's block, nothing kept."""
    text, config = positional(params, "simulateTransaction", 1, 2)
    cfg = config_of(config, "params[1]")
    tx = _transaction(text, cfg.get("encoding") or "base58")
    replace = bool(cfg.get("replaceRecentBlockhash"))
    if cfg.get("sigVerify"):
        if replace:
            raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
        _verify(tx)
    slot = snap.slot(cfg)
    replacement = None
    if replace:
        block = snap.view.block(slot)
        assert block is not None
        replacement = {
            "blockhash": b58(block.hash),
            "lastValidBlockHeight": slot + BLOCKHASH_WINDOW,
        }
    elif _window_slot(snap, bytes(tx.message.recent_blockhash), slot) is None:
        return snap.context(slot, simulation_result(None, err="BlockhashNotFound"))
    simulation = simulator.run(snap, slot, tx)
    accounts = post_accounts(snap, slot, simulation, cfg.get("accounts"), "params[1].accounts")
    result = simulation_result(
        simulation,
        accounts=accounts,
        inner=bool(cfg.get("innerInstructions")),
        replacement=replacement,
    )
    return snap.context(slot, result)


def prepare_send(snap: Snapshot, params: Params, simulator: Simulator) -> Send:
    """Decode, verify and (unless `skipPreflight`) simulate a sendTransaction at
    `preflightCommitment`: an expired blockhash, a signature already executed, or a failing
    simulation answers -32002 with the simulation result."""
    text, config = positional(params, "sendTransaction", 1, 2)
    cfg = config_of(config, "params[1]")
    tx = _transaction(text, cfg.get("encoding") or "base58")
    _verify(tx)
    wire = bytes(tx)
    signature = bytes(tx.signatures[0])
    if not cfg.get("skipPreflight"):
        preflight = dict(cfg)
        preflight["commitment"] = cfg.get("preflightCommitment")
        slot = snap.slot(preflight)
        if _window_slot(snap, bytes(tx.message.recent_blockhash), slot) is None:
            raise preflight_failure(simulation_result(None, err="BlockhashNotFound"))
        record = snap.view.tx(signature)
        if record is not None and record.executed:
            raise preflight_failure(simulation_result(None, err="AlreadyProcessed"))
        result = simulation_result(simulator.run(snap, slot, tx))
        if result["err"] is not None:
            raise preflight_failure(result)
    else:
        snap.slot({"minContextSlot": cfg.get("minContextSlot")}, "processed")
    return Send(wire, b58(signature))


def prepare_airdrop(snap: Snapshot, params: Params, cap: int) -> Airdrop:
    """Check a requestAirdrop's parameters against this node's cap."""
    pubkey, lamports, config = positional(params, "requestAirdrop", 2, 3)
    recipient = pubkey_of(pubkey, "params[0]")
    amount = u64_of(lamports, "params[1] (lamports)")
    config_of(config, "params[2]")
    if amount == 0:
        raise invalid_params("params[1]: an airdrop of 0 lamports credits nothing")
    if amount > cap:
        raise invalid_params(
            f"params[1]: {amount} lamports is over this node's airdrop cap of {cap} "
            "([plugins.rpc] airdrop_max_lamports)"
        )
    return Airdrop(recipient, amount, snap.require_head().number)
