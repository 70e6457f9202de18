"""Positional JSON-RPC parameters and config objects, checked as Agave checks them; every
error says which parameter (`params[1].dataSlice.offset`)."""

from __future__ import annotations

from typing import Any

import base58

from monmouth.core.b58 import encode as b58
from monmouth.plugins.rpc.errors import INVALID_PARAMS, RpcError, invalid_params

__all__ = ["Params", "b58", "config_of", "positional", "pubkey_of", "u64_of"]

Params = list[Any]


def positional(params: Any, method: str, required: int, most: int) -> Params:
    if params is None:
        params = []
    if not isinstance(params, list):
        raise invalid_params(f"{method} takes an array of parameters, not {type(params).__name__}")
    if len(params) < required:
        raise invalid_params(f"{method} needs at least {required} parameter(s), got {len(params)}")
    if len(params) > most:
        raise invalid_params(f"{method} takes at most {most} parameter(s), got {len(params)}")
    return params + [None] * (most - len(params))


def config_of(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_params(f"{where} must be a configuration object")
    return value


def base58_of(value: Any, size: int) -> bytes | None:
    """`value` decoded from base58 when it is a string of exactly `size` bytes, else None (the
    caller says which parameter and what it should have been)."""
    if not isinstance(value, str):
        return None
    try:
        raw = base58.b58decode(value)
    except ValueError:
        return None
    return bytes(raw) if len(raw) == size else None


def pubkey_of(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise invalid_params(f"{where} must be a base58 public key string")
    key = base58_of(value, 32)
    if key is None:
        raise RpcError(INVALID_PARAMS, f"Invalid param: {where} {value!r} is not a public key")
    return key


def u64_of(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
        raise invalid_params(f"{where} must be an unsigned 64-bit integer")
    return value
