"""The `routing` plugin's hook: `route_transaction`, the inbox rule (package docstring).

Consensus-critical: the decision depends on the transaction and the configured address only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monmouth.hooks import hookimpl

if TYPE_CHECKING:
    from monmouth.core.config import Settings
    from monmouth.core.l1 import L1Block, L1Transaction


class Plugin:
    """Routes transactions to the configured inbox address."""

    def __init__(self, settings: Settings) -> None:
        self.inbox = settings.inbox.address_bytes

    @hookimpl
    def route_transaction(self, tx: L1Transaction, block: L1Block) -> bytes | None:
        if tx.to == self.inbox and tx.status == 1:
            return tx.input
        return None
