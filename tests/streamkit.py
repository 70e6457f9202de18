"""Helpers for tests of the event stream: free loopback endpoints, and a node in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pluggy

from monmouth.app import build_node, make_source
from monmouth.core.config import Settings, load_settings

#: Ports this test process has handed out (each endpoint's and its request socket's): a port
#: is free until its node binds it, so two endpoints asked for in a row could otherwise
#: overlap (the second's publish port the first's request port).
_GIVEN: set[int] = set()


def free_endpoint() -> str:
    """A loopback endpoint whose port and the next one (the request socket) are free now, and
    neither handed out before by this process."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port in _GIVEN or port + 1 in _GIVEN:
            continue
        try:
            with socket.socket() as nxt:
                nxt.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        _GIVEN.update((port, port + 1))
        return f"tcp://127.0.0.1:{port}"
    raise RuntimeError("no two consecutive free ports on loopback")


def stream_settings(data_dir: Path, endpoint: str | None, **more: Any) -> Settings:
    """Test settings (fsync off) publishing at `endpoint`, with a fast heartbeat."""
    stream = {"publish": endpoint, "heartbeat_interval": 0.2, **more.pop("stream", {})}
    return load_settings(None, data_dir=data_dir, store={"sync": False}, stream=stream, **more)


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


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)
