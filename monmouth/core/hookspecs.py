"""Every hook a monmouth plugin can implement, and the markers (the specifications; plugin
authors import them from `monmouth.hooks`, the public API, which re-exports this module's hooks).

Hooks are grouped by lifecycle. A plugin implements any subset, as plain functions or coroutines::

    from monmouth.hooks import hookimpl

    @hookimpl
    def notify_block(block):
        print(block.number, block.state_hash)

Notification hooks (accounts, transactions, blocks, slots, reverts) run off the execution path,
in the plugin's own worker, in order, fed through a bounded queue: a slow plugin makes the node
wait, never skips. `startup`, `end_of_startup`, `shutdown`, `route_transaction` and
`account_cache` run inline.
See docs/plugins.md for a runnable example of each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from monmouth.core.cachespec import AccountCacheSpec
    from monmouth.core.eventlog import Topic
    from monmouth.core.host import Host
    from monmouth.core.l1 import L1Block, L1Transaction
    from monmouth.core.payloads import AccountUpdate, BlockInfo, TransactionInfo

PROJECT = "monmouth"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------
# Lifecycle
# -------------------------------------------------------------------------


@hookspec
def startup(node: Host) -> None:
    """Called once when the node has opened its state, before the first notification.

    :param node: the instance that runs the plugin (a `Host`: the executor, or an analyzer);
        `node.settings` is the configuration, `node.store` the state (None in an analyzer).

    Any plugin may implement it. A plugin that sets the class attribute
    `wants_startup_snapshot = True` then receives every stored account through
    `update_accounts(..., is_startup=True)`, followed by `end_of_startup`.
    """


@hookspec
def end_of_startup(node: Host) -> None:
    """Called once after the startup snapshot (if any plugin asked for one) was delivered.

    :param node: the node.

    Any plugin may implement it.
    """


@hookspec
def shutdown(node: Host) -> None:
    """Called once when the node stops, after the last block was committed and every plugin's
    queue was drained.

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
    implementation must be a pure function of its arguments and its configuration. An error here
    always halts the node: routing decides state.

    :param tx: the L1 transaction, with its receipt status and logs.
    :param block: the L1 block that holds it.
    :returns: the inbox message (version byte first), or None to let other plugins decide.

    The built-in `routing` plugin implements it for the configured inbox address. Must be a plain
    function (it runs inline, on the execution path).
    """


# -------------------------------------------------------------------------
# The account cache
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def account_cache() -> AccountCacheSpec | None:
    """Choose which state accounts stay resident in the SVM runtime: the eviction policy and
    the hot tier's budget.

    Called once, inline, when the node starts (after the plugins are built, before `startup`).
    Stops at the first non-None result; with none, every account stays resident (unbounded).
    What is resident never changes the state: the node reads an evicted account back from its
    store, and evicts only between blocks.

    :returns: an `AccountCacheSpec(policy, hot_bytes)`, whose policy implements
        `EvictionPolicy` (`access`, `forget`, `victims`, `resident_bytes`, `__len__`), or None
        to let another plugin decide.

    The built-in `cache` plugin implements it (`[plugins.cache]`, docs/cache.md); a plugin
    that replaces its policy disables it or implements the hook with `tryfirst=True`. Must be
    a plain function.
    """


# -------------------------------------------------------------------------
# Results (Geyser's callbacks, batched per block)
# -------------------------------------------------------------------------


@hookspec
def update_accounts(
    block: BlockInfo | None, updates: list[AccountUpdate], is_startup: bool
) -> None:
    """Called with every account a block changed, in write order, after the block is durable.

    :param block: the block that changed them; the head (or None for an empty state) for the
        startup snapshot.
    :param updates: one update per write, with the signature that wrote it and a write version
        increasing within the block; deposits have no signature.
    :param is_startup: True for the startup snapshot (see `startup`).

    Any plugin may implement it; the node builds these payloads only when one does.
    """


@hookspec
def notify_transactions(block: BlockInfo, transactions: list[TransactionInfo]) -> None:
    """Called with every Solana transaction of a block, in execution order, after it is durable.

    :param block: the block.
    :param transactions: each with its status (`ok`, `failed`, `rejected`), reason or error, fee,
        compute units, logs, accounts, and its L1 transaction hash and position.

    Any plugin may implement it; the node builds these payloads only when one does.
    """


@hookspec
def notify_l1_block(block: L1Block) -> None:
    """Called with each committed L1 block as the source gave it, after it is durable and
    before the block's `notify_block`.

    :param block: the L1 block: header, transactions and receipts' logs; `block.traces` holds
        the block's `trace_block` output when a running plugin sets `wants_traces = True` and
        the L1 node serves it (None otherwise).

    Any plugin may implement it; the node queues it only when one does.
    """


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


# -------------------------------------------------------------------------
# Registration (llm's `register(...)` pattern)
# -------------------------------------------------------------------------


@hookspec
def register_commands(register: Callable[..., Any]) -> None:
    """Add commands to the `monmouth` CLI.

    :param register: call `register(function, name=None)` with a typer-style command function.

    Any plugin may implement it, as a module-level function of its package (or a staticmethod
    of the class its entry point names): the CLI calls it when it starts, before arguments are
    parsed, without building the plugin. A built-in's commands are offered even while it is
    off; a third-party plugin's when it is enabled (`--config` honoured).
    """


@hookspec
def register_stream_topics(register: Callable[..., Topic]) -> None:
    """Add message kinds to the event stream (called inline at start-up, before `startup`).

    :param register: call `register(kind, description)` for each kind the plugin publishes; it
        returns a `Topic` whose `publish(height, body, key="")` sends a durable, replayable
        message of that kind.

    Any plugin may implement it.
    """


@hookspec
def register_rpc_methods(register: Callable[..., Any]) -> None:
    """Add methods to the node's request interface (the stream's request socket, op `call`;
    called inline at start-up, before `startup`).

    :param register: call `register(name, function)`; the function takes the node and the
        request's params and returns a JSON-serialisable result.

    Any plugin may implement it.
    """
