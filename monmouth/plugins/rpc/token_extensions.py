"""Token-2022 account and mint extensions as Agave's `jsonParsed` lists them
(`account-decoder`'s `parse_token_extension`, `UiExtension`): `extensions: [{extension, state}]`,
the extension's name in camelCase, its fields in `state` (no `state` for those without fields).

A Token-2022 account longer than the base layout has, after the base (a mint padded to 165
bytes, or a token account), one account-type byte and then TLV entries: a u16 extension type, a
u16 length, the value. Pubkeys there are `OptionalNonZeroPubkey` (32 zero bytes = none). An
entry this module cannot read (unknown to it, or shorter than its layout) is listed as
`unparseableExtension`, as Agave lists one it cannot read.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

from monmouth.core import b58

__all__ = ["EXTENSIONS_AT", "parse_extensions"]

#: Where the TLV entries start: after the 165-byte base and the account-type byte.
EXTENSIONS_AT = 166
_STATES = ("uninitialized", "initialized", "frozen")


def _key(value: bytes) -> str:
    return b58.encode(value)


def _optional_key(value: bytes) -> str | None:
    return None if value == bytes(32) else _key(value)


def _transfer_fee(value: bytes, at: int) -> dict[str, Any]:
    epoch, maximum_fee, basis_points = struct.unpack_from("<QQH", value, at)
    return {"epoch": epoch, "maximumFee": maximum_fee, "transferFeeBasisPoints": basis_points}


def _transfer_fee_config(v: bytes) -> dict[str, Any]:
    (withheld,) = struct.unpack_from("<Q", v, 64)
    return {
        "transferFeeConfigAuthority": _optional_key(v[0:32]),
        "withdrawWithheldAuthority": _optional_key(v[32:64]),
        "withheldAmount": withheld,
        "olderTransferFee": _transfer_fee(v, 72),
        "newerTransferFee": _transfer_fee(v, 90),
    }


def _interest_bearing(v: bytes) -> dict[str, Any]:
    started, average, updated, current = struct.unpack_from("<qhqh", v, 32)
    return {
        "rateAuthority": _optional_key(v[0:32]),
        "initializationTimestamp": started,
        "preUpdateAverageRate": average,
        "lastUpdateTimestamp": updated,
        "currentRate": current,
    }


def _borsh_string(v: bytes, at: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<I", v, at)
    end = at + 4 + length
    if end > len(v):
        raise ValueError("string past the end")
    return v[at + 4 : end].decode(), end


def _token_metadata(v: bytes) -> dict[str, Any]:
    """spl-token-metadata-interface's `TokenMetadata` (Borsh): update authority, mint, name,
    symbol, uri, then additional (key, value) pairs."""
    name, at = _borsh_string(v, 64)
    symbol, at = _borsh_string(v, at)
    uri, at = _borsh_string(v, at)
    (count,) = struct.unpack_from("<I", v, at)
    at += 4
    additional = []
    for _ in range(count):
        key, at = _borsh_string(v, at)
        value, at = _borsh_string(v, at)
        additional.append([key, value])
    return {
        "updateAuthority": _optional_key(v[0:32]),
        "mint": _key(v[32:64]),
        "name": name,
        "symbol": symbol,
        "uri": uri,
        "additionalMetadata": additional,
    }


def _f64_text(value: float) -> str:
    """Rust's `f64::to_string` for the values a multiplier takes: no `.0` on whole numbers."""
    return str(int(value)) if value.is_integer() else repr(value)


def _scaled_ui_amount(v: bytes) -> dict[str, Any]:
    multiplier, effective, new_multiplier = struct.unpack_from("<dqd", v, 32)
    return {
        "authority": _optional_key(v[0:32]),
        "multiplier": _f64_text(multiplier),
        "newMultiplierEffectiveTimestamp": effective,
        "newMultiplier": _f64_text(new_multiplier),
    }


def _two_keys(first: str, second: str) -> Callable[[bytes], dict[str, Any]]:
    return lambda v: {first: _optional_key(v[0:32]), second: _optional_key(v[32:64])}


def _elgamal(value: bytes) -> str | None:
    """A `PodElGamalPubkey` option as Agave shows it (base64), None when all zero."""
    return None if value == bytes(32) else _b64(value)


def _b64(value: bytes) -> str:
    """A ciphertext or ElGamal key as its `Display` shows it: base64."""
    return base64.b64encode(value).decode()


def _confidential_account(v: bytes) -> dict[str, Any]:
    counters = struct.unpack_from("<QQQQ", v, 263)
    return {
        "approved": bool(v[0]),
        "elgamalPubkey": _b64(v[1:33]),
        "pendingBalanceLo": _b64(v[33:97]),
        "pendingBalanceHi": _b64(v[97:161]),
        "availableBalance": _b64(v[161:225]),
        "decryptableAvailableBalance": _b64(v[225:261]),
        "allowConfidentialCredits": bool(v[261]),
        "allowNonConfidentialCredits": bool(v[262]),
        "pendingBalanceCreditCounter": counters[0],
        "maximumPendingBalanceCreditCounter": counters[1],
        "expectedPendingBalanceCreditCounter": counters[2],
        "actualPendingBalanceCreditCounter": counters[3],
    }


#: Extension type (spl-token-2022's `ExtensionType`, u16) -> (name, minimum length, state of
#: the value; None for an extension without fields).
_PARSERS: dict[int, tuple[str, int, Callable[[bytes], dict[str, Any]] | None]] = {
    1: ("transferFeeConfig", 108, _transfer_fee_config),
    2: ("transferFeeAmount", 8, lambda v: {"withheldAmount": struct.unpack_from("<Q", v)[0]}),
    3: ("mintCloseAuthority", 32, lambda v: {"closeAuthority": _optional_key(v[0:32])}),
    4: (
        "confidentialTransferMint",
        65,
        lambda v: {
            "authority": _optional_key(v[0:32]),
            "autoApproveNewAccounts": bool(v[32]),
            "auditorElgamalPubkey": _elgamal(v[33:65]),
        },
    ),
    5: ("confidentialTransferAccount", 295, _confidential_account),
    6: (
        "defaultAccountState",
        1,
        lambda v: {"accountState": _STATES[v[0]] if v[0] < len(_STATES) else "uninitialized"},
    ),
    7: ("immutableOwner", 0, None),
    8: ("memoTransfer", 1, lambda v: {"requireIncomingTransferMemos": bool(v[0])}),
    9: ("nonTransferable", 0, None),
    10: ("interestBearingConfig", 52, _interest_bearing),
    11: ("cpiGuard", 1, lambda v: {"lockCpi": bool(v[0])}),
    12: ("permanentDelegate", 32, lambda v: {"delegate": _optional_key(v[0:32])}),
    13: ("nonTransferableAccount", 0, None),
    14: ("transferHook", 64, _two_keys("authority", "programId")),
    15: ("transferHookAccount", 1, lambda v: {"transferring": bool(v[0])}),
    16: (
        "confidentialTransferFeeConfig",
        129,
        lambda v: {
            "authority": _optional_key(v[0:32]),
            "withdrawWithheldAuthorityElgamalPubkey": _elgamal(v[32:64]),
            "harvestToMintEnabled": bool(v[64]),
            "withheldAmount": _b64(v[65:129]),
        },
    ),
    17: ("confidentialTransferFeeAmount", 64, lambda v: {"withheldAmount": _b64(v[0:64])}),
    18: ("metadataPointer", 64, _two_keys("authority", "metadataAddress")),
    19: ("tokenMetadata", 76, _token_metadata),
    20: ("groupPointer", 64, _two_keys("authority", "groupAddress")),
    21: (
        "tokenGroup",
        80,
        lambda v: {
            "updateAuthority": _optional_key(v[0:32]),
            "mint": _key(v[32:64]),
            "size": struct.unpack_from("<Q", v, 64)[0],
            "maxSize": struct.unpack_from("<Q", v, 72)[0],
        },
    ),
    22: ("groupMemberPointer", 64, _two_keys("authority", "memberAddress")),
    23: (
        "tokenGroupMember",
        72,
        lambda v: {
            "mint": _key(v[0:32]),
            "group": _key(v[32:64]),
            "memberNumber": struct.unpack_from("<Q", v, 64)[0],
        },
    ),
    24: (
        "confidentialMintBurn",
        196,
        lambda v: {
            "confidentialSupply": _b64(v[0:64]),
            "decryptableSupply": _b64(v[64:100]),
            "supplyElgamalPubkey": _b64(v[100:132]),
            "pendingBurn": _b64(v[132:196]),
        },
    ),
    25: ("scaledUiAmountConfig", 56, _scaled_ui_amount),
    26: (
        "pausableConfig",
        33,
        lambda v: {"authority": _optional_key(v[0:32]), "paused": bool(v[32])},
    ),
    27: ("pausableAccount", 0, None),
}


def parse_extensions(data: bytes) -> list[dict[str, Any]]:
    """The extensions of a Token-2022 mint or account (its whole data), in the order stored.

    Stops at an uninitialized entry (type 0: the rest is unused space) or at the end, as
    Token-2022 does when it lists an account's extension types."""
    out: list[dict[str, Any]] = []
    at = EXTENSIONS_AT
    while at + 4 <= len(data):
        kind, length = struct.unpack_from("<HH", data, at)
        if kind == 0:
            break
        value = data[at + 4 : at + 4 + length]
        at += 4 + length
        out.append(_parse_one(kind, value, len(value) == length))
    return out


def _parse_one(kind: int, value: bytes, whole: bool) -> dict[str, Any]:
    known = _PARSERS.get(kind)
    if known is None or not whole:
        return {"extension": "unparseableExtension"}
    name, size, parse = known
    if len(value) < size:
        return {"extension": "unparseableExtension"}
    if parse is None:
        return {"extension": name}
    try:
        state = parse(value)
    except (ValueError, struct.error, UnicodeDecodeError):
        return {"extension": "unparseableExtension"}
    return {"extension": name, "state": state}
