"""The template's hooks: count each block's transactions, print a line per `every`-th block."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monmouth.hooks import hookimpl

from monmouth_plugin_template.config import Config

if TYPE_CHECKING:
    from monmouth.hooks import BlockInfo, Settings, TransactionInfo


class Plugin:
    """Counts each block's transactions and prints a line for every `every`-th block."""

    config_model = Config

    def __init__(self, settings: Settings, config: Config) -> None:
        self.every = config.every
        # Written by notify_transactions, read by notify_block: both run in this plugin's own
        # worker, one after the other, so they need no lock.
        self._ok = 0
        self._failed = 0

    @hookimpl
    def notify_transactions(self, block: BlockInfo, transactions: list[TransactionInfo]) -> None:
        """Count the block's executed transactions (called before `notify_block`)."""
        self._ok += sum(tx.status == "ok" for tx in transactions)
        self._failed += sum(tx.status == "failed" for tx in transactions)

    @hookimpl
    async def notify_block(self, block: BlockInfo) -> None:
        """Print the block's line. A coroutine: a real plugin awaits its I/O here (an HTTP call,
        a database write) in its own event loop, while the node goes on executing."""
        if block.number % self.every == 0:
            print(
                f"template: block {block.number}: {self._ok} ok, {self._failed} failed "
                f"since the last line; state {block.state_hash}",
                flush=True,
            )
            self._ok = self._failed = 0
