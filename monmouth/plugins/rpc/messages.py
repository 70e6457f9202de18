"""What the rpc server (a child process) and the plugin (in the node's process) say over the
child's pipes, framed by `monmouth.core.pipes` and encoded with MessagePack.

The child speaks first, once: `Ready` (the URL it serves, or why it could not bind). Then it
sends a `RelayRequest` for each sendTransaction or requestAirdrop, and the plugin answers each
with a `RelayAnswer` of the same id, in any order. Reads never cross the pipe: the child reads
LMDB itself.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Ready", "RelayAnswer", "RelayRequest"]


class Ready(msgspec.Struct, frozen=True, array_like=True):
    """The server is listening at `url`, or `error` says why it is not."""

    url: str | None
    error: str | None = None


class RelayRequest(msgspec.Struct, frozen=True, array_like=True):
    """Hand transactions (`send`) or a deposit (`deposit`) to the node's relay."""

    id: int
    op: Literal["send", "deposit"]
    transactions: list[bytes] = []
    recipient: bytes = b""
    lamports: int = 0


class RelayAnswer(msgspec.Struct, frozen=True, array_like=True):
    """Done when `code` is None; else the JSON-RPC error to answer with."""

    id: int
    code: int | None = None
    message: str | None = None
