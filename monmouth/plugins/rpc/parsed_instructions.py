"""Instructions as Agave's `jsonParsed` transactions show them (`transaction-status`'s
`parse_instruction`): for the programs it knows, `{program, programId, parsed: {type, info}}`;
for any other program, or data it cannot read, the caller keeps the partially decoded form
(`{programId, accounts, data}`).

Parsed here, as Agave: the System program, SPL Token and Token-2022 (`program` "spl-token" for
both: the base instructions, and Token-2022's mint close authority, transfer fee, default
account state, required memos, non-transferable, interest-bearing, CPI guard, permanent
delegate, metadata/group/group-member pointer and token metadata interface instructions), SPL
Memo (v1, v3: the UTF-8 text), the associated token account program and address lookup tables.
Not parsed here though Agave parses them: Token-2022's confidential-transfer, transfer-hook,
reallocate, scaled-UI-amount and pausable instructions, the token group interface's, the BPF
loaders, stake and vote; they stay partially decoded. Agave does not parse ComputeBudget either.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import Any

import base58

from monmouth.core import b58
from monmouth.core.spl import TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from monmouth.plugins.rpc.accounts import token_amount

__all__ = ["parse_instruction"]

SYSTEM_PROGRAM = bytes(32)
ASSOCIATED_TOKEN_PROGRAM = bytes(base58.b58decode("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"))
LOOKUP_TABLE_PROGRAM = bytes(base58.b58decode("AddressLookupTab1e1111111111111111111111111"))
MEMO_PROGRAMS = frozenset(
    bytes(base58.b58decode(key))
    for key in (
        "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo",  # v1
        "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",  # v3
    )
)


class NotParsable(Exception):
    """The data or the accounts do not make an instruction the parser knows."""


def _b58(key: bytes) -> str:
    return b58.encode(key)


class _Reader:
    """Little-endian fields from instruction data; NotParsable past the end. Bytes after the
    fields are ignored, as bincode (System) and the token programs' unpacking ignore them."""

    def __init__(self, data: bytes, at: int = 0) -> None:
        self.data, self.at = data, at

    def take(self, fmt: str) -> Any:
        try:
            values = struct.unpack_from("<" + fmt, self.data, self.at)
        except struct.error as error:
            raise NotParsable from error
        self.at += struct.calcsize("<" + fmt)
        return values[0] if len(values) == 1 else values

    def key(self) -> str:
        raw = self.data[self.at : self.at + 32]
        if len(raw) != 32:
            raise NotParsable
        self.at += 32
        return _b58(raw)

    def option_key(self) -> str | None:
        """A `COption<Pubkey>` as token instructions pack it: a u8 tag, then the key."""
        tag = self.take("B")
        if tag == 0:
            return None
        if tag != 1:
            raise NotParsable
        return self.key()

    def bincode_string(self) -> str:
        length = self.take("Q")
        raw = self.data[self.at : self.at + length]
        if len(raw) != length:
            raise NotParsable
        self.at += length
        try:
            return raw.decode()
        except UnicodeDecodeError as error:
            raise NotParsable from error


class _Accounts:
    """The instruction's accounts as base58 keys."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def need(self, count: int) -> None:
        if len(self.keys) < count:
            raise NotParsable

    def __getitem__(self, position: int) -> str:
        if position >= len(self.keys):
            raise NotParsable
        return self.keys[position]


def parse_instruction(
    program: bytes, account_keys: list[bytes], accounts: bytes, data: bytes
) -> dict[str, Any] | None:
    """`{program, programId, parsed}` of one compiled instruction (its account indexes into
    `account_keys`), or None when Agave would show it partially decoded."""
    name, parser = _PROGRAMS.get(program, (None, None))
    if name is None or parser is None:
        return None
    if any(i >= len(account_keys) for i in accounts) or (not accounts and name != "spl-memo"):
        return None  # Agave: an instruction key mismatch, shown partially decoded
    keys = _Accounts([_b58(account_keys[i]) for i in accounts])
    try:
        parsed = parser(data, keys)
    except NotParsable:
        return None
    return {"program": name, "programId": _b58(program), "parsed": parsed}


def _kind(kind: str, info: dict[str, Any]) -> dict[str, Any]:
    return {"info": info, "type": kind}


# ---------------------------------------------------------------------- system


def _system(data: bytes, a: _Accounts) -> Any:
    r = _Reader(data)
    tag = r.take("I")
    if tag == 0:
        lamports, space = r.take("QQ")
        owner = r.key()
        a.need(2)
        return _kind(
            "createAccount",
            {
                "source": a[0],
                "newAccount": a[1],
                "lamports": lamports,
                "space": space,
                "owner": owner,
            },
        )
    if tag == 1:
        owner = r.key()
        a.need(1)
        return _kind("assign", {"account": a[0], "owner": owner})
    if tag == 2:
        lamports = r.take("Q")
        a.need(2)
        return _kind("transfer", {"source": a[0], "destination": a[1], "lamports": lamports})
    if tag == 3:
        base, seed = r.key(), r.bincode_string()
        lamports, space = r.take("QQ")
        owner = r.key()
        a.need(2)
        return _kind(
            "createAccountWithSeed",
            {
                "source": a[0],
                "newAccount": a[1],
                "base": base,
                "seed": seed,
                "lamports": lamports,
                "space": space,
                "owner": owner,
            },
        )
    if tag == 4:
        a.need(3)
        return _kind(
            "advanceNonce",
            {"nonceAccount": a[0], "recentBlockhashesSysvar": a[1], "nonceAuthority": a[2]},
        )
    if tag == 5:
        lamports = r.take("Q")
        a.need(5)
        return _kind(
            "withdrawFromNonce",
            {
                "nonceAccount": a[0],
                "destination": a[1],
                "recentBlockhashesSysvar": a[2],
                "rentSysvar": a[3],
                "nonceAuthority": a[4],
                "lamports": lamports,
            },
        )
    if tag == 6:
        authority = r.key()
        a.need(3)
        return _kind(
            "initializeNonce",
            {
                "nonceAccount": a[0],
                "recentBlockhashesSysvar": a[1],
                "rentSysvar": a[2],
                "nonceAuthority": authority,
            },
        )
    if tag == 7:
        authority = r.key()
        a.need(2)
        return _kind(
            "authorizeNonce",
            {"nonceAccount": a[0], "nonceAuthority": a[1], "newAuthorized": authority},
        )
    if tag == 8:
        space = r.take("Q")
        a.need(1)
        return _kind("allocate", {"account": a[0], "space": space})
    if tag == 9:
        base, seed = r.key(), r.bincode_string()
        space = r.take("Q")
        owner = r.key()
        a.need(2)
        return _kind(
            "allocateWithSeed",
            {"account": a[0], "base": base, "seed": seed, "space": space, "owner": owner},
        )
    if tag == 10:
        base, seed, owner = r.key(), r.bincode_string(), r.key()
        a.need(2)
        return _kind(
            "assignWithSeed", {"account": a[0], "base": base, "seed": seed, "owner": owner}
        )
    if tag == 11:
        lamports = r.take("Q")
        seed, owner = r.bincode_string(), r.key()
        a.need(3)
        return _kind(
            "transferWithSeed",
            {
                "source": a[0],
                "sourceBase": a[1],
                "destination": a[2],
                "lamports": lamports,
                "sourceSeed": seed,
                "sourceOwner": owner,
            },
        )
    if tag == 12:
        a.need(1)
        return _kind("upgradeNonce", {"nonceAccount": a[0]})
    raise NotParsable


# ---------------------------------------------------------------------- spl token

_AUTHORITY_TYPES = (
    "mintTokens",
    "freezeAccount",
    "accountOwner",
    "closeAccount",
    "transferFeeConfig",
    "withheldWithdraw",
    "closeMint",
    "interestRate",
    "permanentDelegate",
    "confidentialTransferMint",
    "transferHookProgramId",
    "confidentialTransferFeeConfig",
    "metadataPointer",
    "groupPointer",
    "groupMemberPointer",
    "scaledUiAmount",
    "pause",
    "permissionedBurn",
)
_EXTENSION_TYPES = (
    "uninitialized",
    "transferFeeConfig",
    "transferFeeAmount",
    "mintCloseAuthority",
    "confidentialTransferMint",
    "confidentialTransferAccount",
    "defaultAccountState",
    "immutableOwner",
    "memoTransfer",
    "nonTransferable",
    "interestBearingConfig",
    "cpiGuard",
    "permanentDelegate",
    "nonTransferableAccount",
    "transferHook",
    "transferHookAccount",
    "confidentialTransferFeeConfig",
    "confidentialTransferFeeAmount",
    "metadataPointer",
    "tokenMetadata",
    "groupPointer",
    "groupMemberPointer",
    "tokenGroup",
    "tokenGroupMember",
    "confidentialMintBurn",
    "scaledUiAmount",
    "pausable",
    "pausableAccount",
    "permissionedBurn",
)


def _signers(info: dict[str, Any], a: _Accounts, last: int, single: str, multisig: str) -> None:
    """Agave's `parse_signers`: one authority, or a multisig and its signers after it."""
    if len(a.keys) > last + 1:
        info[multisig] = a[last]
        info["signers"] = a.keys[last + 1 :]
    elif len(a.keys) > last:
        info[single] = a[last]


def _mint_init(r: _Reader, info: dict[str, Any]) -> None:
    info["decimals"] = r.take("B")
    info["mintAuthority"] = r.key()
    freeze = r.option_key()
    if freeze is not None:
        info["freezeAuthority"] = freeze


def _token(data: bytes, a: _Accounts) -> Any:
    metadata = _TOKEN_METADATA.get(data[:8])
    if metadata is not None:  # no token instruction starts with these bytes (all above 200)
        kind, info = metadata(_Reader(data, 8), a)
        return _kind(kind, info)
    r = _Reader(data)
    tag = r.take("B")
    handler = _TOKEN.get(tag)
    if handler is None:
        raise NotParsable
    kind, info = handler(r, a)
    return _kind(kind, info)


def _initialize_mint(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    a.need(2)
    info: dict[str, Any] = {"mint": a[0]}
    _mint_init(r, info)
    info["rentSysvar"] = a[1]
    return "initializeMint", info


def _initialize_mint2(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    a.need(1)
    info: dict[str, Any] = {"mint": a[0]}
    _mint_init(r, info)
    return "initializeMint2", info


def _initialize_account(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    a.need(4)
    return "initializeAccount", {"account": a[0], "mint": a[1], "owner": a[2], "rentSysvar": a[3]}


def _initialize_account2(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    owner = r.key()
    a.need(3)
    return "initializeAccount2", {"account": a[0], "mint": a[1], "owner": owner, "rentSysvar": a[2]}


def _initialize_account3(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    owner = r.key()
    a.need(2)
    return "initializeAccount3", {"account": a[0], "mint": a[1], "owner": owner}


def _initialize_multisig(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    m = r.take("B")
    a.need(3)
    return "initializeMultisig", {
        "multisig": a[0],
        "rentSysvar": a[1],
        "signers": a.keys[2:],
        "m": m,
    }


def _initialize_multisig2(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    m = r.take("B")
    a.need(2)
    return "initializeMultisig2", {"multisig": a[0], "signers": a.keys[1:], "m": m}


def _amount_op(
    kind: str, first: str, second: str, single: str, multisig: str
) -> Callable[[_Reader, _Accounts], tuple[str, dict[str, Any]]]:
    """Transfer, Approve, MintTo, Burn: two accounts, an amount, an authority."""

    def parse(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
        amount = r.take("Q")
        a.need(3)
        info: dict[str, Any] = {first: a[0], second: a[1], "amount": str(amount)}
        _signers(info, a, 2, single, multisig)
        return kind, info

    return parse


def _checked_op(
    kind: str, names: tuple[str, ...], single: str, multisig: str
) -> Callable[[_Reader, _Accounts], tuple[str, dict[str, Any]]]:
    """The `...Checked` instructions: accounts, then an amount shown with the decimals."""

    def parse(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
        amount, decimals = r.take("QB")
        a.need(len(names) + 1)
        info: dict[str, Any] = {name: a[i] for i, name in enumerate(names)}
        info["tokenAmount"] = token_amount(amount, decimals)
        _signers(info, a, len(names), single, multisig)
        return kind, info

    return parse


def _no_data_op(
    kind: str, names: tuple[str, ...], single: str, multisig: str
) -> Callable[[_Reader, _Accounts], tuple[str, dict[str, Any]]]:
    """Revoke, CloseAccount, Freeze/Thaw, WithdrawExcessLamports: accounts and an authority."""

    def parse(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
        a.need(len(names) + 1)
        info: dict[str, Any] = {name: a[i] for i, name in enumerate(names)}
        _signers(info, a, len(names), single, multisig)
        return kind, info

    return parse


def _set_authority(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    kind = r.take("B")
    if kind >= len(_AUTHORITY_TYPES):
        raise NotParsable
    new = r.option_key()
    a.need(2)
    name = _AUTHORITY_TYPES[kind]
    owned = "account" if name in ("accountOwner", "closeAccount") else "mint"
    info: dict[str, Any] = {owned: a[0], "authorityType": name, "newAuthority": new}
    _signers(info, a, 1, "authority", "multisigAuthority")
    return "setAuthority", info


def _one(kind: str, name: str) -> Callable[[_Reader, _Accounts], tuple[str, dict[str, Any]]]:
    def parse(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
        a.need(1)
        return kind, {name: a[0]}

    return parse


def _get_account_data_size(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    types = []
    while r.at < len(r.data):
        kind = r.take("H")
        if kind >= len(_EXTENSION_TYPES):
            raise NotParsable
        types.append(_EXTENSION_TYPES[kind])
    a.need(1)
    info: dict[str, Any] = {"mint": a[0]}
    if types:
        info["extensionTypes"] = types
    return "getAccountDataSize", info


def _amount_to_ui_amount(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    amount = r.take("Q")
    a.need(1)
    return "amountToUiAmount", {"mint": a[0], "amount": str(amount)}


def _ui_amount_to_amount(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    try:
        text = r.data[r.at :].decode()
    except UnicodeDecodeError as error:
        raise NotParsable from error
    r.at = len(r.data)
    a.need(1)
    return "uiAmountToAmount", {"mint": a[0], "uiAmount": text}


def _mint_close_authority(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    authority = r.option_key()
    a.need(1)
    return "initializeMintCloseAuthority", {"mint": a[0], "newAuthority": authority}


def _permanent_delegate(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    delegate = r.key()
    a.need(1)
    return "initializePermanentDelegate", {"mint": a[0], "delegate": delegate}


def _create_native_mint(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    a.need(3)
    return "createNativeMint", {"payer": a[0], "nativeMint": a[1], "systemProgram": a[2]}


def _optional_nonzero(r: _Reader) -> str | None:
    """An `OptionalNonZeroPubkey` (32 bytes, all zero = none)."""
    raw = r.data[r.at : r.at + 32]
    if len(raw) != 32:
        raise NotParsable
    r.at += 32
    return None if raw == bytes(32) else _b58(raw)


def _exactly(r: _Reader, size: int) -> None:
    """Pod instruction data (bytemuck) must be exactly its size after the sub-instruction."""
    if len(r.data) - r.at != size:
        raise NotParsable


def _transfer_fee(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    sub = r.take("B")
    if sub == 0:
        config, withdraw = r.option_key(), r.option_key()
        basis_points, maximum = r.take("HQ")
        a.need(1)
        info: dict[str, Any] = {
            "mint": a[0],
            "transferFeeBasisPoints": basis_points,
            "maximumFee": maximum,
        }
        if config is not None:
            info["transferFeeConfigAuthority"] = config
        if withdraw is not None:
            info["withdrawWithheldAuthority"] = withdraw
        return "initializeTransferFeeConfig", info
    if sub == 1:
        amount, decimals, fee = r.take("QBQ")
        a.need(4)
        info = {
            "source": a[0],
            "mint": a[1],
            "destination": a[2],
            "tokenAmount": token_amount(amount, decimals),
            "feeAmount": token_amount(fee, decimals),
        }
        _signers(info, a, 3, "authority", "multisigAuthority")
        return "transferCheckedWithFee", info
    if sub == 2:
        a.need(3)
        info = {"mint": a[0], "feeRecipient": a[1]}
        _signers(info, a, 2, "withdrawWithheldAuthority", "multisigWithdrawWithheldAuthority")
        return "withdrawWithheldTokensFromMint", info
    if sub == 3:
        count = r.take("B")
        a.need(3 + count)
        first_source = len(a.keys) - count
        info = {"mint": a[0], "feeRecipient": a[1], "sourceAccounts": a.keys[first_source:]}
        _signers(
            info,
            _Accounts(a.keys[:first_source]),
            2,
            "withdrawWithheldAuthority",
            "multisigWithdrawWithheldAuthority",
        )
        return "withdrawWithheldTokensFromAccounts", info
    if sub == 4:
        a.need(1)
        return "harvestWithheldTokensToMint", {"mint": a[0], "sourceAccounts": a.keys[1:]}
    if sub == 5:
        basis_points, maximum = r.take("HQ")
        a.need(2)
        info = {"mint": a[0], "transferFeeBasisPoints": basis_points, "maximumFee": maximum}
        # Agave's field name, lower-case t included.
        _signers(info, a, 1, "transferFeeConfigAuthority", "multisigtransferFeeConfigAuthority")
        return "setTransferFee", info
    raise NotParsable


def _default_account_state(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    _exactly(r, 2)
    sub, state = r.take("BB")
    if state > 2:
        raise NotParsable
    info: dict[str, Any] = {"mint": a[0], "accountState": _ACCOUNT_STATES[state]}
    if sub == 0:
        a.need(1)
        return "initializeDefaultAccountState", info
    if sub == 1:
        a.need(2)
        _signers(info, a, 1, "freezeAuthority", "multisigFreezeAuthority")
        return "updateDefaultAccountState", info
    raise NotParsable


def _toggle(suffix: str) -> Callable[[_Reader, _Accounts], tuple[str, dict[str, Any]]]:
    """Memo transfers and the CPI guard: enable (0) or disable (1) on a token account."""

    def parse(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
        sub = r.take("B")
        if sub > 1:
            raise NotParsable
        a.need(2)
        info: dict[str, Any] = {"account": a[0]}
        _signers(info, a, 1, "owner", "multisigOwner")
        return ("enable" if sub == 0 else "disable") + suffix, info

    return parse


def _interest_bearing(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    sub = r.take("B")
    if sub == 0:
        _exactly(r, 34)
        authority = _optional_nonzero(r)
        a.need(1)
        return "initializeInterestBearingConfig", {
            "mint": a[0],
            "rateAuthority": authority,
            "rate": r.take("h"),
        }
    if sub == 1:
        _exactly(r, 2)
        a.need(2)
        info: dict[str, Any] = {"mint": a[0], "newRate": r.take("h")}
        _signers(info, a, 1, "rateAuthority", "multisigRateAuthority")
        return "updateInterestBearingConfigRate", info
    raise NotParsable


def _pointer(name: str, field: str) -> Callable[[_Reader, _Accounts], tuple[str, dict[str, Any]]]:
    """The metadata, group and group member pointers: initialize (authority and address, each
    left out when none) or update (the address, by the authority)."""

    def parse(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
        sub = r.take("B")
        info: dict[str, Any]
        if sub == 0:
            _exactly(r, 64)
            authority, address = _optional_nonzero(r), _optional_nonzero(r)
            a.need(1)
            info = {"mint": a[0]}
            if authority is not None:
                info["authority"] = authority
            if address is not None:
                info[field] = address
            return f"initialize{name}", info
        if sub == 1:
            _exactly(r, 32)
            address = _optional_nonzero(r)
            a.need(2)
            info = {"mint": a[0]}
            if address is not None:
                info[field] = address
            _signers(info, a, 1, "authority", "multisigAuthority")
            return f"update{name}", info
        raise NotParsable

    return parse


_ACCOUNT_STATES = ("uninitialized", "initialized", "frozen")

_TOKEN: dict[int, Callable[[_Reader, _Accounts], tuple[str, dict[str, Any]]]] = {
    0: _initialize_mint,
    1: _initialize_account,
    2: _initialize_multisig,
    3: _amount_op("transfer", "source", "destination", "authority", "multisigAuthority"),
    4: _amount_op("approve", "source", "delegate", "owner", "multisigOwner"),
    5: _no_data_op("revoke", ("source",), "owner", "multisigOwner"),
    6: _set_authority,
    7: _amount_op("mintTo", "mint", "account", "mintAuthority", "multisigMintAuthority"),
    8: _amount_op("burn", "account", "mint", "authority", "multisigAuthority"),
    9: _no_data_op("closeAccount", ("account", "destination"), "owner", "multisigOwner"),
    10: _no_data_op(
        "freezeAccount", ("account", "mint"), "freezeAuthority", "multisigFreezeAuthority"
    ),
    11: _no_data_op(
        "thawAccount", ("account", "mint"), "freezeAuthority", "multisigFreezeAuthority"
    ),
    12: _checked_op(
        "transferChecked", ("source", "mint", "destination"), "authority", "multisigAuthority"
    ),
    13: _checked_op("approveChecked", ("source", "mint", "delegate"), "owner", "multisigOwner"),
    14: _checked_op("mintToChecked", ("mint", "account"), "mintAuthority", "multisigMintAuthority"),
    15: _checked_op("burnChecked", ("account", "mint"), "authority", "multisigAuthority"),
    16: _initialize_account2,
    17: _one("syncNative", "account"),
    18: _initialize_account3,
    19: _initialize_multisig2,
    20: _initialize_mint2,
    21: _get_account_data_size,
    22: _one("initializeImmutableOwner", "account"),
    23: _amount_to_ui_amount,
    24: _ui_amount_to_amount,
    25: _mint_close_authority,
    26: _transfer_fee,
    28: _default_account_state,
    29: _create_native_mint,
    30: _toggle("RequiredMemoTransfers"),
    32: _one("initializeNonTransferableMint", "mint"),
    33: _interest_bearing,
    34: _toggle("CpiGuard"),
    35: _permanent_delegate,
    38: _no_data_op(
        "withdrawExcessLamports", ("source", "destination"), "authority", "multisigAuthority"
    ),
    39: _pointer("MetadataPointer", "metadataAddress"),
    40: _pointer("GroupPointer", "groupAddress"),
    41: _pointer("GroupMemberPointer", "memberAddress"),
}


# ---------------------------------------------------------------------- token metadata interface
# spl-token-metadata-interface's instructions, which Token-2022 serves for metadata kept in the
# mint: an 8-byte discriminator (the first bytes of sha256 of a namespaced name), then Borsh.


def _borsh_string(r: _Reader) -> str:
    length = r.take("I")
    raw = r.data[r.at : r.at + length]
    if len(raw) != length:
        raise NotParsable
    r.at += length
    try:
        return raw.decode()
    except UnicodeDecodeError as error:
        raise NotParsable from error


def _borsh_option_u64(r: _Reader) -> int | None:
    tag = r.take("B")
    if tag > 1:
        raise NotParsable
    return r.take("Q") if tag else None


def _metadata_initialize(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    name, symbol, uri = _borsh_string(r), _borsh_string(r), _borsh_string(r)
    a.need(4)
    return "initializeTokenMetadata", {
        "metadata": a[0],
        "updateAuthority": a[1],
        "mint": a[2],
        "mintAuthority": a[3],
        "name": name,
        "symbol": symbol,
        "uri": uri,
    }


_FIELDS = ("name", "symbol", "uri")


def _metadata_update_field(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    tag = r.take("B")
    if tag < len(_FIELDS):
        field = _FIELDS[tag]
    elif tag == 3:
        field = _borsh_string(r)  # Field::Key: an additional field, named by its key
    else:
        raise NotParsable
    value = _borsh_string(r)
    a.need(2)
    return "updateTokenMetadataField", {
        "metadata": a[0],
        "updateAuthority": a[1],
        "field": field,
        "value": value,
    }


def _metadata_remove_key(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    idempotent = r.take("B")
    if idempotent > 1:
        raise NotParsable
    key = _borsh_string(r)
    a.need(2)
    return "removeTokenMetadataKey", {
        "metadata": a[0],
        "updateAuthority": a[1],
        "key": key,
        "idempotent": bool(idempotent),
    }


def _metadata_update_authority(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    new = _optional_nonzero(r)
    a.need(2)
    return "updateTokenMetadataAuthority", {
        "metadata": a[0],
        "updateAuthority": a[1],
        "newAuthority": new,
    }


def _metadata_emit(r: _Reader, a: _Accounts) -> tuple[str, dict[str, Any]]:
    start, end = _borsh_option_u64(r), _borsh_option_u64(r)
    a.need(1)
    info: dict[str, Any] = {"metadata": a[0]}
    if start is not None:
        info["start"] = start
    if end is not None:
        info["end"] = end
    return "emitTokenMetadata", info


def _discriminator(name: str) -> bytes:
    return hashlib.sha256(f"spl_token_metadata_interface:{name}".encode()).digest()[:8]


_TOKEN_METADATA: dict[bytes, Callable[[_Reader, _Accounts], tuple[str, dict[str, Any]]]] = {
    _discriminator("initialize_account"): _metadata_initialize,
    _discriminator("updating_field"): _metadata_update_field,
    _discriminator("remove_key_ix"): _metadata_remove_key,
    _discriminator("update_the_authority"): _metadata_update_authority,
    _discriminator("emitter"): _metadata_emit,
}


# ---------------------------------------------------------------------- address lookup tables


def _lookup_table(data: bytes, a: _Accounts) -> Any:
    """The address lookup table program's instructions (bincode: a u32 tag, then fields)."""
    r = _Reader(data)
    tag = r.take("I")
    if tag == 0:
        slot, bump = r.take("QB")
        a.need(4)
        return _kind(
            "createLookupTable",
            {
                "lookupTableAccount": a[0],
                "lookupTableAuthority": a[1],
                "payerAccount": a[2],
                "systemProgram": a[3],
                "recentSlot": slot,
                "bumpSeed": bump,
            },
        )
    if tag == 2:
        count = r.take("Q")
        if count > len(data):
            raise NotParsable
        addresses = [r.key() for _ in range(count)]
        a.need(2)
        info: dict[str, Any] = {
            "lookupTableAccount": a[0],
            "lookupTableAuthority": a[1],
            "newAddresses": addresses,
        }
        if len(a.keys) >= 4:
            info["payerAccount"], info["systemProgram"] = a[2], a[3]
        return _kind("extendLookupTable", info)
    if tag in (1, 3):
        a.need(2)
        kind = "freezeLookupTable" if tag == 1 else "deactivateLookupTable"
        return _kind(kind, {"lookupTableAccount": a[0], "lookupTableAuthority": a[1]})
    if tag == 4:
        a.need(3)
        return _kind(
            "closeLookupTable",
            {"lookupTableAccount": a[0], "lookupTableAuthority": a[1], "recipient": a[2]},
        )
    raise NotParsable


# ---------------------------------------------------------------------- others


def _memo(data: bytes, a: _Accounts) -> Any:
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        raise NotParsable from error


def _associated_token(data: bytes, a: _Accounts) -> Any:
    if len(data) > 1:
        raise NotParsable  # Borsh: the whole data is the one-byte variant
    kind = data[0] if data else 0
    if kind in (0, 1):
        a.need(6)
        return _kind(
            "create" if kind == 0 else "createIdempotent",
            {
                "source": a[0],
                "account": a[1],
                "wallet": a[2],
                "mint": a[3],
                "systemProgram": a[4],
                "tokenProgram": a[5],
            },
        )
    if kind == 2:
        a.need(7)
        return _kind(
            "recoverNested",
            {
                "nestedSource": a[0],
                "nestedMint": a[1],
                "destination": a[2],
                "nestedOwner": a[3],
                "ownerMint": a[4],
                "wallet": a[5],
                "tokenProgram": a[6],
            },
        )
    raise NotParsable


_PROGRAMS: dict[bytes, tuple[str, Callable[[bytes, _Accounts], Any]]] = {
    SYSTEM_PROGRAM: ("system", _system),
    TOKEN_PROGRAM: ("spl-token", _token),
    TOKEN_2022_PROGRAM: ("spl-token", _token),
    ASSOCIATED_TOKEN_PROGRAM: ("spl-associated-token-account", _associated_token),
    LOOKUP_TABLE_PROGRAM: ("address-lookup-table", _lookup_table),
    **{memo: ("spl-memo", _memo) for memo in MEMO_PROGRAMS},
}
