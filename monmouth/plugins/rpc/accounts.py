"""Accounts as Solana's JSON-RPC shows them (`UiAccount`): the encodings `binary` (legacy),
`base58`, `base64`, `base64+zstd` and `jsonParsed`, with `dataSlice`.

`jsonParsed` parses what Agave's `account-decoder` parses of the programs this node knows:
system nonce accounts, and SPL Token / Token-2022 mints and token accounts, with Token-2022's
extensions (`token_extensions`). Anything else falls back to base64, as Agave does.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

from monmouth.core import b58
from monmouth.core.spl import ACCOUNT_SIZE as _ACCOUNT_SIZE
from monmouth.core.spl import TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from monmouth.plugins.rpc.errors import invalid_params
from monmouth.plugins.rpc.token_extensions import parse_extensions
from monmouth.rust_svm.accounts import AccountRecord

__all__ = [
    "ENCODINGS",
    "MAX_BASE58_BYTES",
    "TOKEN_2022_PROGRAM",
    "TOKEN_PROGRAM",
    "DataSlice",
    "encode_account",
    "parse_data_slice",
    "token_amount",
]

#: Agave refuses to base58-encode more account data than this.
MAX_BASE58_BYTES = 128
ENCODINGS = ("binary", "base58", "base64", "base64+zstd", "jsonParsed")
SYSTEM_PROGRAM = bytes(32)
_TOKEN_PROGRAMS = {TOKEN_PROGRAM: "spl-token", TOKEN_2022_PROGRAM: "spl-token-2022"}
_MINT_SIZE = 82
# Token-2022 puts an account-type byte right after the base token-account layout.
_MINT_TYPE, _ACCOUNT_TYPE = 1, 2
_STATES = ("uninitialized", "initialized", "frozen")

DataSlice = tuple[int, int] | None
#: The decimals of a mint (None when the mint cannot be read), for token amounts.
MintDecimals = Callable[[bytes], int | None]


def parse_data_slice(value: Any, where: str) -> DataSlice:
    """`dataSlice` ({offset, length}) as a pair, or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_params(f"{where}.dataSlice must be an object {{offset, length}}")
    offset, length = value.get("offset"), value.get("length")
    for name, number in (("offset", offset), ("length", length)):
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise invalid_params(f"{where}.dataSlice.{name} must be an unsigned integer")
    return offset, length  # type: ignore[return-value]


def encode_account(
    raw: bytes,
    encoding: str,
    data_slice: DataSlice = None,
    mint_decimals: MintDecimals | None = None,
) -> dict[str, Any]:
    """One stored account (the runtime's layout) as a `UiAccount`.

    Raises RpcError (-32602) for base58 of more than `MAX_BASE58_BYTES`, as Agave does.
    """
    record = AccountRecord.decode(raw)
    data = record.data
    parsed = None
    if encoding == "jsonParsed":
        parsed = parse_account(record, mint_decimals)
    if parsed is not None:
        value: Any = parsed
    else:
        if data_slice is not None:
            offset, length = data_slice
            data = data[offset : offset + length]
        value = encode_data(data, "base64" if encoding == "jsonParsed" else encoding)
    return {
        "lamports": record.lamports,
        "data": value,
        "owner": b58.encode(record.owner),
        "executable": record.executable,
        "rentEpoch": record.rent_epoch,
        "space": len(record.data),
    }


def encode_data(data: bytes, encoding: str) -> Any:
    if encoding == "base64":
        return [base64.b64encode(data).decode(), "base64"]
    if encoding in ("base58", "binary"):
        if len(data) > MAX_BASE58_BYTES:
            raise invalid_params(
                f"Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, "
                "please use Base64 encoding."
            )
        text = b58.encode(data)
        return text if encoding == "binary" else [text, "base58"]
    if encoding == "base64+zstd":
        import zstandard

        return [base64.b64encode(zstandard.ZstdCompressor().compress(data)).decode(), encoding]
    raise invalid_params(f"unknown encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")


def _b58(key: bytes) -> str:
    return b58.encode(key)


def _option_key(data: bytes, offset: int) -> str | None:
    """A `COption<Pubkey>` (u32 tag, then 32 bytes) as base58 or None."""
    (tag,) = struct.unpack_from("<I", data, offset)
    return _b58(data[offset + 4 : offset + 36]) if tag == 1 else None


def parse_account(record: AccountRecord, mint_decimals: MintDecimals | None) -> Any:
    """`jsonParsed` data of a known account kind, or None (the caller falls back to base64)."""
    data, owner = record.data, record.owner
    if owner == SYSTEM_PROGRAM and len(data) == 80:
        return _parse_nonce(data)
    program = _TOKEN_PROGRAMS.get(owner)
    if program is None:
        return None
    kind = None
    if len(data) == _MINT_SIZE:
        kind = _MINT_TYPE
    elif len(data) == _ACCOUNT_SIZE:
        kind = _ACCOUNT_TYPE
    elif owner == TOKEN_2022_PROGRAM and len(data) > _ACCOUNT_SIZE:
        kind = data[_ACCOUNT_SIZE]
    if kind == _MINT_TYPE:
        info: Any = _parse_mint(data)
        parsed = {"info": info, "type": "mint"}
    elif kind == _ACCOUNT_TYPE:
        if mint_decimals is None:
            return None
        decimals = mint_decimals(data[:32])
        if decimals is None:
            return None
        info = _parse_token_account(data, decimals)
        if info is None:
            return None
        parsed = {"info": info, "type": "account"}
    else:
        return None
    if len(data) > _ACCOUNT_SIZE:
        extensions = parse_extensions(data)
        if extensions:  # Agave leaves the key out when there are none
            info["extensions"] = extensions
    return {"program": program, "parsed": parsed, "space": len(data)}


def _parse_nonce(data: bytes) -> Any:
    _version, state = struct.unpack_from("<II", data)
    if state == 0:
        return {"program": "nonce", "parsed": {"type": "uninitialized"}, "space": len(data)}
    (fee,) = struct.unpack_from("<Q", data, 72)
    info = {
        "authority": _b58(data[8:40]),
        "blockhash": _b58(data[40:72]),
        "feeCalculator": {"lamportsPerSignature": str(fee)},
    }
    return {
        "program": "nonce",
        "parsed": {"info": info, "type": "initialized"},
        "space": len(data),
    }


def mint_decimals_of(raw: bytes | None) -> int | None:
    """The decimals of an encoded mint account, None when it is not an initialized mint."""
    if raw is None:
        return None
    record = AccountRecord.decode(raw)
    data = record.data
    if record.owner not in _TOKEN_PROGRAMS or len(data) < _MINT_SIZE:
        return None
    if len(data) != _MINT_SIZE and not (len(data) > _ACCOUNT_SIZE and data[_ACCOUNT_SIZE] == 1):
        return None
    return data[44] if data[45] else None


def _parse_mint(data: bytes) -> Any:
    (supply,) = struct.unpack_from("<Q", data, 36)
    return {
        "decimals": data[44],
        "freezeAuthority": _option_key(data, 46),
        "isInitialized": bool(data[45]),
        "mintAuthority": _option_key(data, 0),
        "supply": str(supply),
    }


def token_amount(amount: int, decimals: int) -> dict[str, Any]:
    """Agave's `UiTokenAmount`."""
    text = str(amount).rjust(decimals + 1, "0")
    if decimals:
        whole, fraction = text[:-decimals], text[-decimals:].rstrip("0")
        text = f"{whole}.{fraction}" if fraction else whole
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": amount / 10**decimals,
        "uiAmountString": text,
    }


def _parse_token_account(data: bytes, decimals: int) -> Any:
    state = data[108]
    if state == 0 or state >= len(_STATES):
        return None
    (amount,) = struct.unpack_from("<Q", data, 64)
    (native_tag, native_reserve, delegated) = struct.unpack_from("<IQQ", data, 109)
    info: dict[str, Any] = {
        "isNative": native_tag == 1,
        "mint": _b58(data[0:32]),
        "owner": _b58(data[32:64]),
        "state": _STATES[state],
        "tokenAmount": token_amount(amount, decimals),
    }
    delegate = _option_key(data, 72)
    if delegate is not None:
        info["delegate"] = delegate
        info["delegatedAmount"] = token_amount(delegated, decimals)
    if native_tag == 1:
        info["rentExemptReserve"] = token_amount(native_reserve, decimals)
    close_authority = _option_key(data, 129)
    if close_authority is not None:
        info["closeAuthority"] = close_authority
    return info
