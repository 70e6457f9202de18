"""Commitment on an Ethereum clock, read from one consistent snapshot of the state.

`processed` is the executed head, `confirmed` the stored safe block, `finalized` the stored
finalized block (`Store.set_finality`, from the L1 node's `safe` and `finalized` tags or the
devnet's depths). A node that knows no finality (the embedded devnet without depths, a replay
file) answers `confirmed` and `finalized` with the head: clients that wait for `finalized`, as
solana-py and the Solana CLI do by default, then work, and the node claims no more than
`processed` would. Known safe and finalized blocks above the head (the L1 node is ahead of the
node) count as the head.
"""

from __future__ import annotations

from typing import Any, Literal

from monmouth.core.records import BlockRecord
from monmouth.core.view import StateView
from monmouth.plugins.rpc.counts import TransactionCounter
from monmouth.plugins.rpc.errors import (
    MIN_CONTEXT_SLOT_NOT_REACHED,
    NODE_UNHEALTHY,
    RpcError,
    invalid_params,
)

__all__ = ["API_VERSION", "Commitment", "Snapshot", "parse_commitment"]

#: The Agave version whose RPC this one answers like (also `getVersion`'s `solana-core`).
API_VERSION = "2.2.0"

Commitment = Literal["processed", "confirmed", "finalized"]
# Agave still accepts the deprecated names.
_COMMITMENTS: dict[str, Commitment] = {
    "processed": "processed",
    "confirmed": "confirmed",
    "finalized": "finalized",
    "recent": "processed",
    "single": "confirmed",
    "singleGossip": "confirmed",
    "root": "finalized",
    "max": "finalized",
}


def parse_commitment(config: dict[str, Any], default: Commitment = "finalized") -> Commitment:
    """The `commitment` of a config object (Agave's default: finalized)."""
    value = config.get("commitment")
    if value is None:
        return default
    if not isinstance(value, str) or value not in _COMMITMENTS:
        raise invalid_params(
            f"unknown commitment {value!r}, expected one of `processed`, `confirmed`, `finalized`"
        )
    return _COMMITMENTS[value]


class Snapshot:
    """The state one request reads: a `StateView`, its head, and the commitment levels."""

    __slots__ = ("confirmed", "counter", "finalized", "head", "view")

    def __init__(self, view: StateView, counter: TransactionCounter | None = None) -> None:
        self.view = view
        self.counter = TransactionCounter() if counter is None else counter
        self.head: BlockRecord | None = view.head()
        head = -1 if self.head is None else self.head.number
        safe, finalized = view.finality()
        self.confirmed = head if safe is None else min(safe, head)
        fallback = self.confirmed if safe is not None else head
        self.finalized = fallback if finalized is None else min(finalized, head)

    @property
    def processed(self) -> int:
        return -1 if self.head is None else self.head.number

    def require_head(self) -> BlockRecord:
        """The head block; -32005 when the node has executed none yet."""
        if self.head is None:
            raise RpcError(NODE_UNHEALTHY, "Node is unhealthy: no block executed yet")
        return self.head

    def slot(self, config: dict[str, Any], default: Commitment = "finalized") -> int:
        """The block a read at the config's commitment sees; honours `minContextSlot`."""
        self.require_head()
        commitment = parse_commitment(config, default)
        slot = self.at(commitment)
        minimum = config.get("minContextSlot")
        if minimum is not None:
            if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 0:
                raise invalid_params("minContextSlot must be an unsigned integer")
            if slot < minimum:
                raise RpcError(
                    MIN_CONTEXT_SLOT_NOT_REACHED,
                    "Minimum context slot has not been reached",
                    {"contextSlot": slot},
                )
        return slot

    def at(self, commitment: Commitment) -> int:
        if commitment == "processed":
            return self.processed
        return self.confirmed if commitment == "confirmed" else self.finalized

    def status_of(self, slot: int) -> tuple[str, int | None]:
        """A transaction's `confirmationStatus` and `confirmations` for a block it is in
        (Agave: null confirmations once rooted, i.e. finalized)."""
        if slot <= self.finalized:
            return "finalized", None
        if slot <= self.confirmed:
            return "confirmed", self.processed - slot
        return "processed", self.processed - slot

    def account(self, pubkey: bytes, slot: int) -> bytes | None:
        """The encoded account as block `slot` left it."""
        if slot >= self.processed:
            return self.view.account(pubkey)
        return self.view.account_at(pubkey, slot, self.processed)

    def transaction_count(self, slot: int) -> int:
        """Transactions executed (succeeded or failed) in the blocks up to `slot`."""
        return self.counter.count(self.view, slot)

    def context(self, slot: int, value: Any) -> dict[str, Any]:
        """Agave's `RpcResponse` wrapper."""
        return {"context": {"apiVersion": API_VERSION, "slot": slot}, "value": value}
