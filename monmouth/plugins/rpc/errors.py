"""JSON-RPC errors with Agave's codes and messages.

A method raises `RpcError`; the dispatcher turns it into the response's `error` object.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BLOCK_NOT_AVAILABLE",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "MIN_CONTEXT_SLOT_NOT_REACHED",
    "NODE_UNHEALTHY",
    "PARSE_ERROR",
    "SEND_TRANSACTION_PREFLIGHT_FAILURE",
    "SIGNATURE_VERIFICATION_FAILURE",
    "RpcError",
    "invalid_params",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Agave's server errors (rpc-client-api's custom_error.rs).
BLOCK_NOT_AVAILABLE = -32004
NODE_UNHEALTHY = -32005
SEND_TRANSACTION_PREFLIGHT_FAILURE = -32002
SIGNATURE_VERIFICATION_FAILURE = -32003
MIN_CONTEXT_SLOT_NOT_REACHED = -32016


class RpcError(Exception):
    """A JSON-RPC error: `code`, `message` and, where Agave sends one, `data`."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(detail: str) -> RpcError:
    """-32602 with Agave's prefix and a message that says which parameter."""
    return RpcError(INVALID_PARAMS, f"Invalid params: {detail}")
