"""What `/health`, `/ready` and `/status` answer, and the gauges read: frozen payloads, and the
readiness rules as pure functions of them (unit-testable without a node)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

#: The checks /ready makes, in the order it reports them.
CHECKS = ("caught_up", "l1_reachable", "store_writable", "no_plugin_halted", "no_plugin_stalled")


@dataclass(frozen=True, slots=True)
class L1Probe:
    """The last look at the L1 node (source `rpc`): `eth_getBlockByNumber("latest")`.

    :ivar at: when it was made (`time.monotonic()`).
    :ivar head: the L1 head's number, None when the probe failed.
    :ivar timestamp: the L1 head's timestamp (Unix seconds), None when the probe failed.
    :ivar error: why it failed, None when it answered.
    """

    at: float
    head: int | None
    timestamp: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Head:
    """The node's head block. `hash` is 0x-hex, `state_hash` base58 (as `monmouth status`)."""

    number: int
    hash: str
    state_hash: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The state hash after the last block whose number is a multiple of checkpoint_interval:
    instances that passed that height can be compared there. Two that executed the same L1
    block (`block_hash`, 0x-hex) must agree; two on either side of a reorg need not."""

    height: int
    block_hash: str
    state_hash: str


@dataclass(frozen=True, slots=True)
class PluginHealth:
    """One running plugin, as the node's plugin host sees it."""

    name: str
    queue_depth: int
    errors: int
    disabled: bool
    halted: bool
    #: Seconds the node has been waiting on its full queue (0 when it is not).
    waiting_seconds: float = 0.0
    #: Left behind at stop (it did not take or finish its calls in time).
    abandoned: bool = False


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness condition. `detail` says what was found, failing or not."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Sla:
    """Blocks committed within the target latency, over the window.

    :ivar blocks: blocks committed in the window (all nodes of this process).
    :ivar on_time: those committed within `target_seconds` of reaching the node.
    :ivar share: `on_time / blocks`, None when no block was committed in the window.
    """

    target_seconds: float
    window_seconds: float
    blocks: int
    on_time: int
    share: float | None


@dataclass(frozen=True, slots=True)
class Readiness:
    """The answer of /ready: ready when every check passed; `reasons` are the failed checks'
    details, in the order of `CHECKS`."""

    ready: bool
    reasons: tuple[str, ...]
    checks: tuple[Check, ...]
    sla: Sla


@dataclass(frozen=True, slots=True)
class Counts:
    """What the plugin counted from its per-block hooks since the node started (blocks that a
    reorg undid and the node executed again count again, as in `node.stats`).

    :ivar transactions: SVM transactions by status: `ok`, `failed`, `rejected`.
    :ivar rejected_by_reason: rejected transactions by reason (`docs/protocol.md`).
    :ivar reorgs_by_depth: reorgs and reverts, by the number of blocks undone (as a string).
    """

    blocks: int
    transactions: Mapping[str, int]
    rejected_by_reason: Mapping[str, int]
    deposits: int
    messages: int
    reorgs_by_depth: Mapping[str, int]
    reverted: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The node's state at one moment: what /status answers and the gauges observe.

    :ivar source: the source kind (`devnet`, `replay`, `rpc`).
    :ivar l1_head: the L1 node's head (source rpc), None when unknown or local.
    :ivar l1_reachable: whether the L1 node answered the last probe; None for a local source.
    :ivar lag_blocks: `l1_head - head`, None when the L1 head is unknown.
    :ivar lag_seconds: the L1 head's timestamp minus the head's, None when unknown.
    """

    instance: str
    version: str
    uptime_seconds: float
    source: str
    head: Head | None
    l1_head: int | None
    l1_reachable: bool | None
    lag_blocks: int | None
    lag_seconds: float | None
    counts: Counts
    lmdb_map_size: int | None
    lmdb_used: int | None
    stream_subscriptions: int | None
    checkpoint: Checkpoint | None
    plugins: tuple[PluginHealth, ...]
    readiness: Readiness


def evaluate(
    *,
    local_source: bool,
    head: int | None,
    l1_head: int | None,
    probe: L1Probe | None,
    max_lag: int,
    store: Check,
    halted: tuple[str, str] | None,
    sla: Sla,
    stalled: Mapping[str, float] | None = None,
    stall_timeout: float = 30.0,
) -> Readiness:
    """Apply the readiness rules.

    :param local_source: the source is the devnet or a replay file, or the node is an
        analyzer: there is no L1 node to reach or to lag behind.
    :param head: the node's head number (None for an empty state).
    :param l1_head: the L1 node's head number as last seen (None when unknown).
    :param probe: the last probe of the L1 node (None before the first one, or local).
    :param max_lag: the most blocks the head may be behind and still be ready.
    :param store: the store check, made by the caller (it touches the file system).
    :param halted: (plugin, reason) when a plugin halted the node.
    :param stalled: the plugins whose full queue the node has waited on for longer than
        `stall_timeout` seconds, with the seconds waited.
    """
    checks: list[Check] = []
    if local_source:
        local = "no L1 node to follow (devnet, replay file, or an analyzer)"
        checks.append(Check("caught_up", True, local))
        checks.append(Check("l1_reachable", True, local))
    else:
        if l1_head is None:
            checks.append(Check("caught_up", False, "the L1 node's head is not known yet"))
        else:
            lag = max(l1_head - (head if head is not None else -1), 0)
            checks.append(
                Check(
                    "caught_up",
                    lag <= max_lag,
                    f"{lag} block(s) behind the L1 head #{l1_head} (at most {max_lag})",
                )
            )
        if probe is None:
            checks.append(Check("l1_reachable", False, "the L1 node was not probed yet"))
        elif probe.error is not None:
            checks.append(
                Check("l1_reachable", False, f"the L1 node is unreachable: {probe.error}")
            )
        else:
            checks.append(Check("l1_reachable", True, f"the L1 node answered, head #{probe.head}"))
    checks.append(store)
    if halted is None:
        checks.append(Check("no_plugin_halted", True, "no plugin halted the node"))
    else:
        plugin, reason = halted
        checks.append(
            Check("no_plugin_halted", False, f"plugin {plugin!r} halted the node: {reason}")
        )
    if not stalled:
        checks.append(Check("no_plugin_stalled", True, "no plugin holds the node up"))
    else:
        waits = ", ".join(f"{name!r} for {wait:.0f} s" for name, wait in sorted(stalled.items()))
        checks.append(
            Check(
                "no_plugin_stalled",
                False,
                f"the node is waiting on the full queue of plugin {waits} "
                f"(over [plugins] stall_timeout = {stall_timeout:g} s)",
            )
        )
    failed = tuple(c.detail for c in checks if not c.ok)
    return Readiness(not failed, failed, tuple(checks), sla)


class SlaWindow:
    """Cumulative (blocks, on-time blocks) samples over a sliding time window.

    The share over the window is the difference between the newest sample and the oldest one
    still in the window (or the baseline, the first sample, when the window holds one sample).
    """

    def __init__(self, target: float, window: float) -> None:
        self.target = target
        self.window = window
        self._samples: deque[tuple[float, int, int]] = deque()
        # Sampled in the plugin's probe thread, read by HTTP requests and metric collection.
        self._lock = threading.Lock()

    def add(self, at: float, total: int, on_time: int) -> None:
        """Record the cumulative counts at `at` (monotonic seconds, increasing)."""
        with self._lock:
            self._samples.append((at, total, on_time))
            # Keep one sample at or before the window's start: the difference spans the window.
            while len(self._samples) >= 2 and self._samples[1][0] <= at - self.window:
                self._samples.popleft()

    def sla(self) -> Sla:
        with self._lock:
            if len(self._samples) < 2:
                return Sla(self.target, self.window, 0, 0, None)
            _, total0, on_time0 = self._samples[0]
            _, total1, on_time1 = self._samples[-1]
        blocks, on_time = total1 - total0, on_time1 - on_time0
        share = on_time / blocks if blocks > 0 else None
        return Sla(self.target, self.window, blocks, on_time, share)
