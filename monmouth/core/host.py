"""What a plugin may rely on of the instance that runs it, and of a plugin class.

Every role that runs plugins hands itself to the lifecycle hooks as a `Host`: the executor
(`core.node.Node`), the analyzer (`roles.analyzer.Analyzer`), and the replica satisfies it too.
What a role does not have is None, never missing: an analyzer holds no state, so its `store` is
None, and a plugin asks `host.store is None` instead of guessing with `getattr`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from monmouth.core.config import Settings
    from monmouth.core.l1 import BlockId
    from monmouth.core.payloads import BlockInfo
    from monmouth.core.plugins import PluginHost
    from monmouth.core.relay import InboxRelay
    from monmouth.core.state import Store


class Host(Protocol):
    """The instance that runs the plugins (the `node` argument of the lifecycle hooks)."""

    @property
    def settings(self) -> Settings:
        """The configuration it was started with."""
        ...

    @property
    def store(self) -> Store | None:
        """Its SVM state (LMDB); None where it keeps none (an analyzer)."""
        ...

    @property
    def head(self) -> BlockId | None:
        """The last block applied (number, hash); None before the first."""
        ...

    @property
    def l1_head(self) -> int | None:
        """The L1 node's head as the source last saw it; None where unknown (the devnet, a
        replay file, a role that follows another instance's stream)."""
        ...

    @property
    def last_block(self) -> BlockInfo | None:
        """The last block applied, with its counts and state hash; None before the first."""
        ...

    @property
    def relay(self) -> InboxRelay | None:
        """Where transactions from outside go to reach the inbox (`core.relay`); None where the
        host cannot post (an analyzer, a replica, an L1 node without a relay key)."""
        ...

    @property
    def plugins(self) -> PluginHost:
        """The plugins it runs: their states, queue depths, and a halt if one was asked."""
        ...

    def stream_subscriptions(self) -> int | None:
        """How many topic subscriptions its stream's live subscribers hold; None when it does
        not publish a stream."""
        ...


class Plugin(Protocol):
    """What the node reads of a plugin class beside its `@hookimpl` methods.

    Every attribute is optional: `PLUGIN_DEFAULTS` holds what a class that does not set one gets.
    The node builds a class as `Plugin(settings)`, or `Plugin(settings, config)` when it has a
    `config_model`; a module registers as it is.
    """

    #: A pydantic model of the plugin's `[plugins.NAME]` table, validated at start-up and
    #: passed to the constructor; None: the plugin takes no settings.
    config_model: ClassVar[type[Any] | None]
    #: Ask for the L1 call traces of each block (`notify_l1_block`'s `block.traces`).
    wants_traces: ClassVar[bool]
    #: Ask for every stored account at start (`update_accounts(..., is_startup=True)`).
    wants_startup_snapshot: ClassVar[bool]


#: The value of each `Plugin` attribute for a class that does not set it.
PLUGIN_DEFAULTS: dict[str, Any] = {
    "config_model": None,
    "wants_traces": False,
    "wants_startup_snapshot": False,
}


def plugin_attribute(plugin: object, name: str) -> Any:
    """A `Plugin` attribute of a plugin object (class, instance or module), or its default."""
    return getattr(plugin, name, PLUGIN_DEFAULTS[name])
