"""The wiring layer: the one place that builds a node's parts from settings.

It sits on top of everything else (`monmouth.core`, `monmouth.devnet`, `monmouth.stream`,
`monmouth.plugins`) and is the only module that may know them all: the core never imports the
devnet or a plugin, and the devnet never imports a plugin, so what joins them (the devnet source
of `[source] kind`, the mev plugin's patterns of `[devnet] mev_patterns`) is decided here.
The command line (`monmouth.cli`) and the test helpers (`monmouth.testing`) build through it.
"""

from __future__ import annotations

from collections.abc import Callable

from monmouth.core.config import DevnetSettings, Settings
from monmouth.core.errors import ConfigError
from monmouth.core.sources.base import Source
from monmouth.devnet import DevnetChain, DevnetSource, WorkloadPatterns


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


def make_source(settings: Settings, *, traces: bool = False) -> Source:
    """Build the configured source; raises ConfigError when it lacks what it needs.

    :param traces: fetch each block's call traces (`trace_block`) where the source can (rpc);
        the node asks when a running plugin wants them (`PluginHost.wants_traces`).
    """
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
        settings.devnet, settings.inbox.address_bytes, devnet_patterns(settings.devnet)
    )
