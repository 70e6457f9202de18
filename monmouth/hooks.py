"""Every hook a monmouth plugin can implement, and the marker plugins import.

Hooks are grouped by lifecycle. A plugin implements any subset::

    from monmouth.hooks import hookimpl

    @hookimpl
    def notify_block(block):
        print(block.number, block.state_hash)

This module holds the hooks the executing node calls today; the plugin-system issue adds the
Geyser-style account and transaction callbacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from monmouth.core.l1 import L1Block, L1Transaction
    from monmouth.core.node import Node
    from monmouth.core.payloads import BlockInfo

PROJECT = "monmouth"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------
# Lifecycle
# -------------------------------------------------------------------------


@hookspec
def startup(node: Node) -> None:
    """Called once when the node has opened its state, before the first notification.

    :param node: the node; `node.settings` is the configuration, `node.store` the state.

    Any plugin may implement it.
    """


@hookspec
def shutdown(node: Node) -> None:
    """Called once when the node stops, after the last block was committed.

    :param node: the node.

    Any plugin may implement it.
    """


# -------------------------------------------------------------------------
# Routing (consensus-critical)
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def route_transaction(tx: L1Transaction, block: L1Block) -> bytes | None:
    """Decide whether an L1 transaction carries an inbox message, and return its bytes.

    Stops at the first non-None result. Every instance of one deployment must route alike, so an
    implementation must be a pure function of its arguments and its configuration.

    :param tx: the L1 transaction, with its receipt status.
    :param block: the L1 block that holds it.
    :returns: the inbox message (version byte first), or None to let other plugins decide.

    The built-in `routing` plugin implements it for the configured inbox address.
    """


# -------------------------------------------------------------------------
# Results
# -------------------------------------------------------------------------


@hookspec
def notify_block(block: BlockInfo) -> None:
    """Called after a block was committed durably.

    :param block: the block's header, counts and state hash.

    Any plugin may implement it.
    """


@hookspec
def update_slot_status(slot: int, parent: int | None, status: str) -> None:
    """Called when a slot (an L1 block number) changes status, as Geyser's callback of that name.

    :param slot: the slot.
    :param parent: the parent slot, None for the first block of the state.
    :param status: `processed` (executed and committed), `confirmed` (the L1 block is `safe`) or
        `finalized` (the L1 block is `finalized`).

    Any plugin may implement it.
    """


@hookspec
def revert_blocks(blocks: list[BlockInfo]) -> None:
    """Called after blocks were reverted (a reorg or a revert), tip first.

    :param blocks: the blocks that left the canonical chain, highest first.

    Any plugin may implement it.
    """
