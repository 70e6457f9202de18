"""What the rpc server (a child process) and the plugin (in the node's process) say over the
child's pipes, framed by `monmouth.core.pipes` and encoded with MessagePack.

The child speaks first, once: `Ready` (the URL it serves, or why it could not bind). Then it
sends a `RelayRequest` for each sendTransaction or requestAirdrop, and the plugin answers each
with a `RelayAnswer` of the same id, in any order. Reads never cross the pipe: the child reads
LMDB itself.

Down the child's stdin the plugin also sends the node's events for PubSub (`Committed`,
`Reverted`, `SlotStatus`), tagged so that one decoder takes every `ToServer` message. They are
small on purpose (a block's number and hash, not its accounts): the child reads what changed
from LMDB, so the node's hook costs one small write (`Resync` when the plugin had to drop
events because the child was behind).
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "Committed",
    "Ready",
    "RelayAnswer",
    "RelayRequest",
    "Resync",
    "Reverted",
    "SlotStatus",
    "ToServer",
]


class Ready(msgspec.Struct, frozen=True, array_like=True):
    """The server is listening at `url` (and PubSub at `pubsub_url`, None when off), or
    `error` says why it is not."""

    url: str | None
    error: str | None = None
    pubsub_url: str | None = None


class RelayRequest(msgspec.Struct, frozen=True, array_like=True):
    """Hand transactions (`send`) or a deposit (`deposit`) to the node's relay."""

    id: int
    op: Literal["send", "deposit"]
    transactions: list[bytes] = []
    recipient: bytes = b""
    lamports: int = 0


class RelayAnswer(msgspec.Struct, frozen=True, array_like=True, tag="answer"):
    """Done when `code` is None; else the JSON-RPC error to answer with."""

    id: int
    code: int | None = None
    message: str | None = None


class Committed(msgspec.Struct, frozen=True, array_like=True, tag="committed"):
    """Block `number` (L1 block hash `hash`) was committed durably: the child may read it."""

    number: int
    hash: bytes


class Reverted(msgspec.Struct, frozen=True, array_like=True, tag="reverted"):
    """Blocks left the chain (a reorg or a revert), highest first, as (number, hash)."""

    blocks: list[tuple[int, bytes]]


class SlotStatus(msgspec.Struct, frozen=True, array_like=True, tag="slot"):
    """A slot became `confirmed` (the L1 block is safe) or `finalized`; `processed` comes as
    `Committed`."""

    slot: int
    parent: int | None
    status: str


class Resync(msgspec.Struct, frozen=True, array_like=True, tag="resync"):
    """Events were dropped (the child was behind): re-read the state and catch up from it."""


#: Everything the plugin sends down the child's stdin.
ToServer = RelayAnswer | Committed | Reverted | SlotStatus | Resync
