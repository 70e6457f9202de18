"""The wiring layer: the one place that builds a running instance from settings.

Layers import downward only (rust_svm <- core <- stream, roles, plugins, devnet <- app, cli):
the core defines what it needs (an `EventLog`, plugins through `PluginHost`) and this module
hands it the implementations that live above it. Applications that embed a node call
`build_node`; `monmouth run` does the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

from monmouth.core.config import Settings
from monmouth.core.node import Node
from monmouth.core.notifications import FinishedHeight

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
    settings enable, or `plugins`), and the event stream (`[stream]`: the log it keeps, and
    its publisher and request socket when it publishes).

    :param on_finished: called with each finished height, once its block is durable.
    """

    def stream(store: Store, head: Callable[[], int | None]) -> StreamService:
        from monmouth.stream.eventlog import StreamService

        return StreamService(settings, store, head=head)

    return Node(settings, plugins=plugins, event_log=stream, on_finished=on_finished)
