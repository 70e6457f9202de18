"""A monmouth plugin to start from: one line per committed block (or per Nth block).

The entry point `template` (in pyproject.toml) names this module; the node finds its `Plugin`
class and builds it as `Plugin(settings, config)`, where `config` is the `[plugins.template]`
table validated by `Plugin.config_model`. Enable it with `[plugins] enable = ["template"]`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monmouth.hooks import hookimpl
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from monmouth.core.config import Settings
    from monmouth.core.payloads import BlockInfo, TransactionInfo

__version__ = "0.1.0"


class Config(BaseModel):
    """The `[plugins.template]` table (`on_error` and `queue_size` there belong to the node)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Print every Nth block: blocks whose number is a multiple of `every`.
    every: int = Field(1, ge=1)


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
