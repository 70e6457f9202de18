"""Helpers for tests of the event stream: a node or an analyzer in a thread, and the free
loopback endpoints of `ports` (imported from here by the stream tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pluggy
from ports import free_endpoint

from monmouth.app import build_node, make_source
from monmouth.core.config import Settings, load_settings
from monmouth.core.plugins import load_plugins
from monmouth.roles.analyzer import Analyzer

__all__ = [
    "AnalyzerThread",
    "NodeThread",
    "analyzer_settings",
    "analyzer_with",
    "free_endpoint",
    "stream_settings",
    "wait_until",
]


def stream_settings(data_dir: Path, endpoint: str | None, **more: Any) -> Settings:
    """Test settings (fsync off) publishing at `endpoint`, with a fast heartbeat: an executor's.

    `more` are further settings; its `stream` table is merged into the one made here.
    """
    stream = {"publish": endpoint, "heartbeat_interval": 0.2, **more.pop("stream", {})}
    return load_settings(None, data_dir=data_dir, store={"sync": False}, stream=stream, **more)


def analyzer_settings(
    data_dir: Path, upstream: str, publish: str | None = None, **more: Any
) -> Settings:
    """Test settings of an analyzer following the executor at `upstream`: fsync off, a fast
    heartbeat, its own stream (heartbeats and its request socket) at `publish` if given.

    `more` are further settings; its `stream` table is merged into the one made here.
    """
    stream = {"upstream": [upstream], **more.pop("stream", {})}
    return stream_settings(data_dir, publish, role="analyzer", stream=stream, **more)


def analyzer_with(settings: Settings, **plugins: object) -> Analyzer:
    """An analyzer of `settings` with the plugins they enable and `plugins` registered too,
    each under its keyword's name (so that its `[plugins.NAME]` table applies)."""
    return Analyzer(settings, plugins=load_plugins(settings, extra=list(plugins.items())))


class NodeThread:
    """A node following its configured source in a thread, until `max_blocks` or `stop()`
    (from when `start` is set, if given).

    The node (and so its publisher) stays open after the run ends, until `close()`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        max_blocks: int | None = None,
        plugins: pluggy.PluginManager | None = None,
        start: threading.Event | None = None,
    ) -> None:
        self.node = build_node(settings, plugins=plugins)
        self.error: BaseException | None = None
        source = make_source(settings, traces=self.node.plugins.wants_traces())

        def body() -> None:
            if start is not None:
                start.wait()
            try:
                anyio.run(lambda: self.node.run(source, max_blocks=max_blocks))
            except BaseException as exc:  # surfaced by join()
                self.error = exc

        self._thread = threading.Thread(target=body, daemon=True)
        self._thread.start()

    def join(self, timeout: float = 60.0) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the node did not finish")
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self.node.request_stop()
        self.join()

    def close(self) -> None:
        if self._thread.is_alive():
            self.stop()
        self.node.close()


class AnalyzerThread:
    """An analyzer's `run` in a thread until `stop`, with what it raised (`error`)."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.analyzer.run(self.stopping)
        except BaseException as exc:  # surfaced by the test, through `error`
            self.error = exc

    def stop(self, timeout: float = 60.0) -> None:
        """Ask `run` to return (it polls the event), and wait for it."""
        self.stopping.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the analyzer's run did not return once stopped"

    def close(self) -> None:
        """`stop`, then close the analyzer."""
        self.stop()
        self.analyzer.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)
