"""The source the configuration asks for."""

from __future__ import annotations

from monmouth.core.config import Settings
from monmouth.core.errors import ConfigError
from monmouth.core.sources.base import Source


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
    from monmouth.core.sources.devnet import DevnetSource

    return DevnetSource(settings.devnet, settings.inbox.address_bytes)
