"""Feeding plugins off the execution path: a worker and a bounded queue per plugin.

Notification hooks (accounts, transactions, blocks, slots, reverts) are queued per plugin and run
in the plugin's own thread, in order; a hook may be a plain function or a coroutine (each worker
has its own event loop). A full queue makes the node wait (nothing is dropped) and says which
plugin is behind; a queue full for longer than `[plugins] stall_timeout` marks the plugin
stalled (`/ready` says so), and once the node is asked to stop it waits at most
`[plugins] stop_timeout` for a plugin before abandoning it, so a stuck plugin never keeps the
node from stopping. A plugin that raises is logged with its name and traceback and then handled by
its `on_error` policy: `log` (carry on), `disable` (it gets nothing more) or `halt` (the node stops
after the current block).
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
import time
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
    #: Since when (monotonic seconds) the node has been waiting on this plugin's full queue;
    #: None while it is not waiting.
    waiting_since: float | None = None
    #: Left behind at stop: it did not take or finish its calls within the stop timeout.
    abandoned: bool = False

    def stalled_for(self, now: float) -> float:
        """Seconds the node has been waiting on this plugin's full queue (0 when it is not)."""
        since = self.waiting_since
        return 0.0 if since is None else max(now - since, 0.0)


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


@dataclass(slots=True)
class Stopping:
    """Set when the node is asked to stop (from a signal handler too): from then on the node
    waits for each plugin at most `timeout` seconds."""

    timeout: float
    event: threading.Event = field(default_factory=threading.Event)
    #: When the stop was asked (monotonic seconds).
    at: float = 0.0

    def set(self) -> None:
        if not self.event.is_set():
            self.at = time.monotonic()
            self.event.set()

    def expired(self) -> bool:
        """Whether the node was asked to stop more than `timeout` seconds ago."""
        return self.event.is_set() and time.monotonic() - self.at > self.timeout


#: Seconds between two looks at the stop request while the node waits on a plugin.
_WAIT_SLICE = 0.1


class Worker:
    """One plugin's queue and thread."""

    def __init__(
        self,
        state: PluginState,
        queue_size: int,
        on_failure: Callable[[PluginState, str, BaseException], None],
        stopping: Stopping | None = None,
    ) -> None:
        self.state = state
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._on_failure = on_failure
        self._stopping = stopping if stopping is not None else Stopping(10.0)
        self._thread = threading.Thread(target=self._run, name=f"plugin-{state.name}", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def put(self, hook: str, function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        """Queue one call; waits (never drops) when the plugin is behind, until the node is
        asked to stop and the stop timeout has passed: then the plugin is abandoned."""
        state = self.state
        if state.disabled or state.abandoned:
            return
        item = (hook, function, kwargs)
        try:
            self._queue.put_nowait(item)
            return
        except queue.Full:
            pass
        state.waiting_since = started = time.monotonic()
        warned = False
        try:
            while True:
                try:
                    # In slices: a signal handler's stop request is seen within one.
                    slice_ = _WAIT_SLICE if warned else min(_WAIT_SLICE, BEHIND_WARNING)
                    self._queue.put(item, timeout=slice_)
                    return
                except queue.Full:
                    pass
                if self._stopping.expired():
                    self.abandon(f"its queue stayed full while stopping ({hook} not delivered)")
                    return
                if not warned and time.monotonic() - started >= BEHIND_WARNING:
                    warned = True
                    state.behind += 1
                    BEHIND.add(1, {"plugin": state.name})
                    log.warning(
                        "plugin is behind; the node waits for it",
                        plugin=state.name,
                        queue_size=self._queue.maxsize,
                    )
        finally:
            state.waiting_since = None

    def abandon(self, why: str) -> None:
        """Leave the plugin behind: it gets nothing more, and stopping does not wait for it
        (its thread is a daemon and dies with the process)."""
        if not self.state.abandoned:
            self.state.abandoned = True
            log.error("plugin abandoned", plugin=self.state.name, why=why)

    def drain(self) -> None:
        """Wait until every queued call has run; once the node is asked to stop, at most until
        the stop timeout, then the plugin is abandoned."""
        while self._queue.unfinished_tasks and not self.state.abandoned:
            if self._stopping.expired():
                self.abandon("it did not finish its queued calls within the stop timeout")
                return
            with self._queue.all_tasks_done:
                if self._queue.unfinished_tasks:
                    self._queue.all_tasks_done.wait(_WAIT_SLICE)

    def stop(self) -> None:
        if self.state.abandoned:
            return
        try:
            self._queue.put(_STOP, timeout=self._stopping.timeout)
        except queue.Full:
            self.abandon("its queue stayed full at stop")
            return
        self._thread.join(timeout=self._stopping.timeout)
        if self._thread.is_alive():
            self.abandon("its thread did not end within the stop timeout")

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
