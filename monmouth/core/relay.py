"""What the core offers plugins for writing to the inbox: a relay, and the protocol it follows.

A plugin that accepts Solana transactions from outside (the `rpc` plugin's sendTransaction, its
faucet) does not post them itself: it hands them to the host's relay, which knows how the chain
the node follows takes inbox messages. On the embedded devnet they go into the next block; on an
L1 node they are posted to the inbox contract, signed by a configured key. `monmouth.app` builds
the relay that fits the source; a host without one (an analyzer, a replica, a node following an
L1 node without a relay key) has `relay = None`.

Relaying is fire-and-forget: `send_transactions` returns once the relay has taken the
transactions, not when they land. A client learns the outcome as it does on Solana, from the
transaction's status once its block is executed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class InboxRelay(Protocol):
    """Posts inbox messages for the node's chain (see the module docstring)."""

    def send_transactions(self, transactions: Sequence[bytes]) -> None:
        """Relay Solana wire transactions (each at most 1232 bytes), batched as the relay sees fit.

        Raises `RelayError` when the relay cannot take them (stopped, queue full, L1 refused).
        """
        ...

    def deposit(self, recipient: bytes, lamports: int) -> None:
        """Credit `lamports` to the 32-byte SVM account `recipient` (an inbox deposit).

        Raises `RelayError` when the relay cannot (no funds, not allowed, stopped).
        """
        ...


class RelayError(Exception):
    """The relay could not take a message; the text says why and what to do."""
