"""The wiring layer: the one place that builds a running instance from settings.

It sits on top of everything else (`monmouth.core`, `monmouth.devnet`, `monmouth.stream`,
`monmouth.plugins`) and is the only module that may know them all. Layers import downward only
(docs/architecture.md): the core defines what it needs (an `EventLog`, plugins through
`PluginHost`) and never imports the stream, the devnet or a plugin; the devnet never imports a
plugin. What joins them is decided here: the node's event stream (`build_node`), the source of
`[source] kind` (`make_source`), the mev plugin's patterns of `[devnet] mev_patterns`, and the
node's relay (`build_node`, then `make_source(..., node=node)`).

Building an executor is two calls, node first (the source asks it which traces its plugins
want, and takes its relay):

    with build_node(settings) as node:
        source = make_source(settings, traces=node.plugins.wants_traces(), node=node)
        anyio.run(node.run, source)

The relay: `build_node` gives the node (`node.relay`, the `InboxRelay` of `monmouth.core.relay`
that plugins reach as `host.relay`) a `DevnetRelay` when `[source] kind` is the devnet, before
the plugins start, so `startup` already sees it; `make_source(..., node=node)` builds the devnet
source on that relay, so what the plugins send goes into the chain's next block. Following an L1
node (`rpc`) or a replay file, `node.relay` is None: posting to an L1 inbox needs a relay key,
which no setting provides yet.
The command line (`monmouth.cli`), the test helpers (`monmouth.testing`) and applications that
embed a node build through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

from monmouth.core.config import DevnetSettings, Settings
from monmouth.core.errors import ConfigError
from monmouth.core.node import Node
from monmouth.core.notifications import FinishedHeight
from monmouth.core.sources.base import Source
from monmouth.devnet import DevnetChain, DevnetRelay, DevnetSource, WorkloadPatterns

if TYPE_CHECKING:
    from monmouth.core.state import Store
    from monmouth.stream.eventlog import StreamService


def build_node(
    settings: Settings,
    *,
    plugins: pluggy.PluginManager | None = None,
    on_finished: Callable[[FinishedHeight], None] | None = None,
) -> Node:
    """An executor as the settings describe it: its store, runtime and plugins (those the
    settings enable, or `plugins`), the event stream (`[stream]`: the log it keeps, and
    its publisher and request socket when it publishes), and its relay (a `DevnetRelay` when
    the source is the devnet, else None; pass the node to `make_source`).

    :param on_finished: called with each finished height, once its block is durable.
    """

    def stream(store: Store, head: Callable[[], int | None]) -> StreamService:
        from monmouth.stream.eventlog import StreamService

        return StreamService(settings, store, head=head)

    relay = DevnetRelay() if settings.source.kind == "devnet" else None
    return Node(settings, plugins=plugins, event_log=stream, on_finished=on_finished, relay=relay)


def devnet_patterns(settings: DevnetSettings) -> Callable[[], WorkloadPatterns] | None:
    """What makes the patterns planted into each devnet chain: the mev plugin's MEV patterns
    when `[devnet] mev_patterns` is on, else None (none)."""
    if not settings.mev_patterns:
        return None
    from monmouth.plugins.mev.devnet import MevPatterns

    return MevPatterns


def devnet_chain(
    settings: DevnetSettings, inbox_address: bytes, *, keep_blocks: int | None = None
) -> DevnetChain:
    """A `DevnetChain` with the patterns its settings ask for (see `devnet_patterns`)."""
    patterns = devnet_patterns(settings)
    return DevnetChain(
        settings,
        inbox_address,
        keep_blocks=keep_blocks,
        patterns=None if patterns is None else patterns(),
    )


def make_source(
    settings: Settings,
    *,
    traces: bool = False,
    node: Node | None = None,
) -> Source:
    """Build the configured source; raises ConfigError when it lacks what it needs.

    :param traces: fetch each block's call traces (`trace_block`) where the source can (rpc);
        the node asks when a running plugin wants them (`PluginHost.wants_traces`).
    :param node: the node that will follow the source (from `build_node`): the devnet source
        takes the messages of its relay (`node.relay`, when a `DevnetRelay`), and `node.relay`
        is then the source's; None for a source that takes none (rpc, replay).
    """
    relay = node.relay if node is not None and isinstance(node.relay, DevnetRelay) else None
    source = _source(settings, traces, relay)
    if node is not None:
        node.relay = source.relay if isinstance(source, DevnetSource) else None
    return source


def _source(settings: Settings, traces: bool, relay: DevnetRelay | None) -> Source:
    kind = settings.source.kind
    if kind == "replay":
        from monmouth.core.sources.replay import ReplaySource

        if settings.source.replay_file is None:
            raise ConfigError("the replay source needs a file: pass --replay-file FILE")
        return ReplaySource(settings.source.replay_file)
    if kind == "rpc":
        from monmouth.core.sources.rpc import RpcSource

        if settings.source.rpc_url is None:
            raise ConfigError("the rpc source needs a node: pass --rpc-url URL")
        return RpcSource(
            settings.source.rpc_url,
            start_block=settings.source.start_block,
            poll_interval=settings.source.poll_interval,
            traces=traces,
        )
    return DevnetSource(
        settings.devnet, settings.inbox.address_bytes, devnet_patterns(settings.devnet), relay=relay
    )
