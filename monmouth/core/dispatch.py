"""Feeding plugins off the execution path: a worker and a bounded queue per plugin.

Notification hooks (accounts, transactions, blocks, slots, reverts) are queued per plugin and run
in the plugin's own thread, in order; a hook may be a plain function or a coroutine (each worker
has its own event loop). A full queue makes the node wait (nothing is dropped) and says which
plugin is behind. A plugin that raises is logged with its name and traceback and then handled by
its `on_error` policy: `log` (carry on), `disable` (it gets nothing more) or `halt` (the node stops
after the current block).
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from monmouth.core.telemetry import BEHIND

log = structlog.get_logger("monmouth.plugins")

OnError = Literal["log", "disable", "halt"]
#: Seconds a full queue may block the node before it says which plugin is behind.
BEHIND_WARNING = 1.0
_STOP = object()


@dataclass(slots=True)
class PluginState:
    """What the node knows about one running plugin's health."""

    name: str
    on_error: OnError = "disable"
    errors: int = 0
    behind: int = 0  # times the node waited on this plugin's full queue
    disabled: bool = False


def call_hook(function: Callable[..., Any], kwargs: dict[str, Any], loop: Any = None) -> Any:
    """Call a hook implementation, running it to completion if it is a coroutine."""
    result = function(**kwargs)
    if inspect.isawaitable(result):
        if loop is None:
            return asyncio.run(_await(result))
        return loop.run_until_complete(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


class Worker:
    """One plugin's queue and thread."""

    def __init__(
        self,
        state: PluginState,
        queue_size: int,
        on_failure: Callable[[PluginState, str, BaseException], None],
    ) -> None:
        self.state = state
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._on_failure = on_failure
        self._thread = threading.Thread(target=self._run, name=f"plugin-{state.name}", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def put(self, hook: str, function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        """Queue one call; waits (never drops) when the plugin is behind."""
        if self.state.disabled:
            return
        item = (hook, function, kwargs)
        try:
            self._queue.put(item, timeout=BEHIND_WARNING)
        except queue.Full:
            self.state.behind += 1
            BEHIND.add(1, {"plugin": self.state.name})
            log.warning(
                "plugin is behind; the node waits for it",
                plugin=self.state.name,
                queue_size=self._queue.maxsize,
            )
            self._queue.put(item)

    def drain(self) -> None:
        """Wait until every queued call has run."""
        self._queue.join()

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while True:
                item = self._queue.get()
                try:
                    if item is _STOP:
                        return
                    hook, function, kwargs = item
                    if self.state.disabled:
                        continue
                    try:
                        call_hook(function, kwargs, loop)
                    except Exception as exc:
                        self._on_failure(self.state, hook, exc)
                finally:
                    self._queue.task_done()
        finally:
            loop.close()


@dataclass(slots=True)
class Halt:
    """Set when a plugin with `on_error = "halt"` failed: the node stops after this block."""

    plugin: str | None = None
    reason: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, plugin: str, reason: str) -> None:
        with self.lock:
            if self.plugin is None:
                self.plugin, self.reason = plugin, reason
