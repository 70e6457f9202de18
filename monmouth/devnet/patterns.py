"""The extension point of the devnet workload: patterns that a plugin plants into each block.

The devnet never imports a plugin. Whoever builds the chain (`monmouth.app`) hands the workload a
`WorkloadPatterns`, and the workload calls it once per block that has Solana transactions, after
making its own, with the same random stream and model. The mev plugin's patterns
(`monmouth.plugins.mev.devnet`, on with `[devnet] mev_patterns`) are the example.

Determinism is the pattern's duty too: it draws only from the `rng` it is given, in an order that
depends on nothing but its arguments and its own state, and never reads the clock or iterates a
set. A pattern that needs no random number and changes nothing leaves the chain as it would be
without it.
"""

from __future__ import annotations

from random import Random
from typing import TYPE_CHECKING, Protocol

from monmouth.devnet.plan import Context, Model, Tag

if TYPE_CHECKING:
    from monmouth.devnet.workload import Workload

#: One Solana transaction of a block: its wire bytes and, when it was planted on purpose, its
#: tag (what, detail) or (what, detail, pattern); the chain turns tags into `Planted` records.
Entry = tuple[bytes, Tag | None]


class WorkloadPatterns(Protocol):
    """Transactions a plugin adds to the devnet's blocks, after the workload's own.

    One instance serves one chain (`DevnetChain`): it may keep state that moves forward across
    reorgs (a position in a cycle), as the workload's own counters do. `DevnetSource` therefore
    takes a factory and makes a new instance for every chain it builds.
    """

    def plant(
        self, workload: Workload, number: int, rng: Random, model: Model, ctx: Context
    ) -> list[Entry]:
        """The transactions to append to block `number`, in execution order.

        Called once for each block from 1 on when the workload makes transactions
        (`txs_per_block` > 0), after the workload's own transactions and before anything else
        of the block is drawn.

        :param workload: the workload, for its keys and its helpers (`user`, `user_keypair`,
            `next_nonce`, `nonce`, `spend`, `pick_payer`, `other_user`, `overdraft`,
            `token_transfer_tx`).
        :param number: the block being made.
        :param rng: the block's random stream; draw from it in a fixed order.
        :param model: who holds what after the workload's transactions; update it for every
            transaction that executes (fees included), so later blocks stay valid.
        :param ctx: the hashes and executed transactions of the blocks before.
        :returns: the entries to append (empty for none); tag each with its pattern's name as
            the third element, so `Planted.pattern` tells it apart.
        """
        ...
