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
node (`rpc`) with a relay key (`[relay] key_file`), it gives the node an `L1Relay`
(`monmouth.client.relay`), which posts to the L1 node's inbox from a thread of its own and which
the node closes when it closes (`Node.on_close`); without a key, or following a replay file,
`node.relay` is None.
The command line (`monmouth.cli`), the test helpers (`monmouth.testing`) and applications that
embed a node build through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy
from pydantic import ValidationError

from monmouth.core.config import DevnetSettings, Settings
from monmouth.core.errors import ConfigError
from monmouth.core.node import Node
from monmouth.core.notifications import FinishedHeight
from monmouth.core.plugins import HOST_KEYS
from monmouth.core.relay import InboxRelay
from monmouth.core.sources.base import Source
from monmouth.devnet import DevnetChain, DevnetRelay, DevnetSource, WorkloadPatterns

if TYPE_CHECKING:
    from monmouth.client.relay import L1Relay
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
    the source is the devnet, an `L1Relay` following an L1 node with a relay key (see
    `l1_relay_for`), else None; pass the node to `make_source`).

    :param on_finished: called with each finished height, once its block is durable.
    """

    def stream(store: Store, head: Callable[[], int | None]) -> StreamService:
        from monmouth.stream.eventlog import StreamService

        return StreamService(settings, store, head=head)

    l1_relay = l1_relay_for(settings)
    relay: InboxRelay | None = DevnetRelay() if settings.source.kind == "devnet" else l1_relay
    try:
        node = Node(
            settings, plugins=plugins, event_log=stream, on_finished=on_finished, relay=relay
        )
    except BaseException:
        if l1_relay is not None:
            l1_relay.close()
        raise
    if l1_relay is not None:
        node.on_close(l1_relay.close)
    return node


def l1_relay_for(settings: Settings) -> L1Relay | None:
    """The `L1Relay` of a node that follows an L1 node (`[source] kind = "rpc"`) with a relay key
    (`[relay] key_file`), started; else None. Raises ConfigError for a key file that is
    unreadable, readable by others, or holds no key, and for a bad `[plugins.rpc]` airdrop key.

    The airdrop policy is the rpc plugin's (`[plugins.rpc] airdrop`, `airdrop_max_lamports`):
    requestAirdrop is its method. Read here, through its config model, since the relay enforces
    it and the relay is built before the plugins.
    """
    key_file = settings.relay.key_file
    url = settings.source.rpc_url
    if settings.source.kind != "rpc" or key_file is None or url is None:
        return None
    from monmouth.client.relay import L1Relay, load_key
    from monmouth.plugins.rpc.config import Config as RpcConfig

    table = settings.plugins.table("rpc")
    try:
        rpc = RpcConfig.model_validate({k: v for k, v in table.items() if k not in HOST_KEYS})
    except ValidationError as exc:
        raise ConfigError(f"[plugins.rpc]: {exc.errors()[0]['msg']}") from None
    return L1Relay(
        url,
        load_key(key_file),
        inbox_address=settings.inbox.address_bytes,
        batch_window=settings.relay.batch_window,
        max_calldata=settings.relay.max_calldata,
        max_pending=settings.relay.max_pending,
        airdrop=rpc.airdrop,
        airdrop_max_lamports=rpc.airdrop_max_lamports,
    )


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
    if node is not None and not (settings.source.kind == "rpc" and _is_l1_relay(node.relay)):
        node.relay = source.relay if isinstance(source, DevnetSource) else None
    return source


def _is_l1_relay(relay: InboxRelay | None) -> bool:
    if relay is None:
        return False
    from monmouth.client.relay import L1Relay

    return isinstance(relay, L1Relay)


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
