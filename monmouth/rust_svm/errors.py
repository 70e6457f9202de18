"""Turning the runtime's transaction errors into names and Solana JSON-RPC shaped values."""

from __future__ import annotations

import json
import re
from typing import Any

from solders.transaction_status import (
    InstructionErrorCustom,
    InstructionErrorFieldless,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
)

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _variant(obj: object) -> str:
    # Fieldless enums print as `TransactionErrorFieldless.AccountNotFound`.
    return str(obj).rsplit(".", 1)[-1]


def error_name(err: object) -> str:
    """The variant name of a `TransactionError`: `AccountNotFound`, `InstructionError`, ..."""
    if isinstance(err, TransactionErrorFieldless):
        return _variant(err)
    name = type(err).__name__
    return name.removeprefix("TransactionError") or name


def snake(name: str) -> str:
    """`BlockhashNotFound` -> `blockhash_not_found`, the form rejection reasons take."""
    return _CAMEL.sub("_", name).lower()


def error_json(err: object) -> Any:
    """The error as Solana's JSON-RPC shows it in `meta.err`."""
    if isinstance(err, TransactionErrorFieldless):
        return _variant(err)
    if isinstance(err, TransactionErrorInstructionError):
        inner = err.err
        detail: Any
        if isinstance(inner, InstructionErrorCustom):
            detail = {"Custom": inner.code}
        elif isinstance(inner, InstructionErrorFieldless):
            detail = _variant(inner)
        else:
            detail = _to_json(inner)
        return {"InstructionError": [err.index, detail]}
    return {error_name(err): _to_json(err)}


def _to_json(obj: object) -> Any:
    to_json = getattr(obj, "to_json", None)
    if to_json is None:
        return str(obj)
    try:
        return json.loads(to_json())
    except ValueError:
        return str(obj)
