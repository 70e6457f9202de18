"""The devnet's relay: inbox messages from outside (a plugin's sendTransaction, its faucet) that
the devnet chain puts into its next block, as an L1 node's mempool would.

A message stays the relay's until a canonical block carries it: the chain takes the queue when it
makes a block (`take`), after the block's seeded workload, and hands back what a reorg dropped
(`requeue`), so the new branch carries it again, ahead of what arrived since. Arrival order is
execution order. `send_transactions` and `deposit` may be called from any thread; `take` and
`requeue` belong to the chain's thread.

Nothing here draws a random number or reads a clock: a devnet that nobody relays to makes exactly
the chain it made before the relay existed.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from monmouth.core import inbox
from monmouth.core.relay import RelayError

__all__ = ["MAX_CALLDATA", "MAX_PENDING", "DevnetRelay", "RelayedMessage"]

#: Queued entries (transactions and deposits) that the relay holds at most; more is refused.
MAX_PENDING: Final = 10_000
#: Calldata bytes of one batch message at most: below the 128 KiB an Ethereum mempool takes per
#: transaction, with room for the envelope.
MAX_CALLDATA: Final = 120_000


@dataclass(frozen=True, slots=True)
class RelayedMessage:
    """One inbox message the relay hands the chain: its calldata and its L1 value in wei."""

    calldata: bytes
    value: int


class DevnetRelay:
    """An `InboxRelay` (`monmouth.core.relay`) for the embedded devnet (see the module docstring).

    :param max_pending: entries (a transaction or a deposit each) queued at most; a call that
        would go beyond raises `RelayError` and queues nothing.
    :param max_calldata: calldata bytes of one batch message at most.
    """

    def __init__(self, *, max_pending: int = MAX_PENDING, max_calldata: int = MAX_CALLDATA) -> None:
        if max_calldata < 2 + 2 + inbox.MAX_TX_SIZE:
            raise ValueError(f"max_calldata must hold one transaction of {inbox.MAX_TX_SIZE} bytes")
        self._lock = threading.Lock()
        self._max_pending = max_pending
        self._max_calldata = max_calldata
        #: Transactions (bytes) and deposits ((recipient, lamports)) in arrival order.
        self._queue: deque[bytes | tuple[bytes, int]] = deque()
        #: Messages a reorg dropped, to go first into the next block.
        self._returned: list[RelayedMessage] = []

    # -- InboxRelay ---------------------------------------------------------------------------

    def send_transactions(self, transactions: Sequence[bytes]) -> None:
        """Queue Solana wire transactions for the next block (batched in arrival order)."""
        items = [bytes(tx) for tx in transactions]
        for i, tx in enumerate(items):
            if not 0 < len(tx) <= inbox.MAX_TX_SIZE:
                raise RelayError(
                    f"transaction {i} is {len(tx)} bytes; a Solana transaction is 1 to "
                    f"{inbox.MAX_TX_SIZE} bytes"
                )
        self._put(items)

    def deposit(self, recipient: bytes, lamports: int) -> None:
        """Queue a deposit of `lamports` (value `lamports * 10**9` wei) to `recipient`."""
        if len(recipient) != 32:
            raise RelayError(f"a deposit's recipient is 32 bytes, got {len(recipient)}")
        if not 0 < lamports <= inbox.MAX_LAMPORTS:
            raise RelayError(f"a deposit is 1 to {inbox.MAX_LAMPORTS} lamports, got {lamports}")
        self._put([(bytes(recipient), lamports)])

    # -- the chain's side ---------------------------------------------------------------------

    def pending(self) -> int:
        """Entries queued and not yet in a block (messages a reorg handed back not counted)."""
        with self._lock:
            return len(self._queue)

    def take(self) -> list[RelayedMessage]:
        """Everything waiting, as inbox messages in order: what a reorg handed back, then the
        queue, consecutive transactions batched up to `max_calldata` bytes a message."""
        with self._lock:
            if not self._queue and not self._returned:
                return []
            messages, self._returned = self._returned, []
            queued = list(self._queue)
            self._queue.clear()
        batch: list[bytes] = []
        size = 2
        for item in queued:
            if isinstance(item, bytes):
                if batch and size + 2 + len(item) > self._max_calldata:
                    messages.append(RelayedMessage(inbox.encode_batch(batch), 0))
                    batch, size = [], 2
                batch.append(item)
                size += 2 + len(item)
                continue
            if batch:
                messages.append(RelayedMessage(inbox.encode_batch(batch), 0))
                batch, size = [], 2
            recipient, lamports = item
            messages.append(
                RelayedMessage(inbox.encode_deposit(recipient), lamports * inbox.WEI_PER_LAMPORT)
            )
        if batch:
            messages.append(RelayedMessage(inbox.encode_batch(batch), 0))
        return messages

    def requeue(self, messages: Sequence[RelayedMessage]) -> None:
        """Hand back messages whose block a reorg dropped, oldest first: the next `take` returns
        them before anything else (they were taken already, so the bound does not apply)."""
        if messages:
            with self._lock:
                self._returned = [*messages, *self._returned]

    def _put(self, items: Sequence[bytes | tuple[bytes, int]]) -> None:
        with self._lock:
            if len(self._queue) + len(items) > self._max_pending:
                raise RelayError(
                    f"the devnet relay's queue is full ({len(self._queue)} of "
                    f"{self._max_pending} entries waiting for a block); retry after the next "
                    "block"
                )
            self._queue.extend(items)
