"""Every OpenTelemetry instrument of the node and the stream, and the tracer, in one place (names
in docs/operations.md; the monitoring plugin's own meters are in `plugins/monitoring/meters.py`).

They are no-ops until an SDK provider is installed (the built-in `monitoring` plugin does that):
recording then costs well under a microsecond per call, and the core records per block, not per
transaction. Everything a plugin can see through hooks (counts by status and reason, reorgs)
is counted by the monitoring plugin itself; the core records only what hooks cannot see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

meter = metrics.get_meter("monmouth.node")
tracer = trace.get_tracer("monmouth.node")


class SpanSwitch:
    """Whether the core opens its spans per block (`block` and its children `route`,
    `execute`, `verify`, `commit`, `notify`).

    On unless the monitoring plugin's TracerProvider is the process's and records nothing (no
    OTLP exporter attached): its spans would all be dropped, and starting even a span that is
    dropped costs about 5 µs, 30 µs of the 120 µs an L1 block without inbox messages costs. Any
    other provider (an embedding application's) gets the spans as before.
    """

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = True


SPANS = SpanSwitch()

EXECUTE_SECONDS = meter.create_histogram(
    "monmouth_block_execute_seconds",
    unit="s",
    description="Time to execute one L1 block's SVM transactions (route to lattice hash)",
)
COMMIT_SECONDS = meter.create_histogram(
    "monmouth_block_commit_seconds",
    unit="s",
    description="Time of one LMDB commit (one block at the head, a group during catch-up)",
)
COMMITTED_SECONDS = meter.create_histogram(
    "monmouth_block_latency_seconds",
    unit="s",
    description="From a block reaching the node to its commit (what the SLA target measures)",
)
SIGNATURES = meter.create_counter(
    "monmouth_signatures_verified",
    unit="{signature}",
    description="Ed25519 signatures checked",
)

# ---------------------------------------------------------------------------- plugin dispatch
# Their own instrumentation scope, as when `core/dispatch.py` defined them: OTLP exports name it.
plugins_meter = metrics.get_meter("monmouth.plugins")

BEHIND = plugins_meter.create_counter(
    "monmouth_plugin_behind",
    unit="{wait}",
    description="Times the node waited for a plugin whose queue was full, by plugin",
)
ERRORS = plugins_meter.create_counter(
    "monmouth_plugin_errors",
    unit="{error}",
    description="Exceptions raised by plugin hooks, by plugin and hook",
)

# ---------------------------------------------------------------------------- stream
# Recorded in the publisher's child process, under the scope the stream always used.
stream_meter = metrics.get_meter("monmouth.stream")

STREAM_MESSAGES = stream_meter.create_counter(
    "monmouth_stream_messages", description="Stream messages sent (one per topic copy)"
)

# ---------------------------------------------------------------------------- account cache
# Counted by `core/accountcache.py` in plain integers and added here once per block.

CACHE_HITS = meter.create_counter(
    "monmouth_cache_hits",
    unit="{account}",
    description="Accounts a block named that were resident in the runtime",
)
CACHE_NEGATIVE_HITS = meter.create_counter(
    "monmouth_cache_negative_hits",
    unit="{account}",
    description="Accounts a block named that were known absent (no LMDB read)",
)
CACHE_MISSES = meter.create_counter(
    "monmouth_cache_misses",
    unit="{account}",
    description="Accounts read from LMDB because they were not resident",
)
CACHE_PREFETCH_LOADS = meter.create_counter(
    "monmouth_cache_prefetch_loads",
    unit="{account}",
    description="Accounts read from LMDB before the block that named them ran",
)
CACHE_EVICTIONS = meter.create_counter(
    "monmouth_cache_evictions",
    unit="{account}",
    description="Accounts let go from the runtime between blocks",
)


def record_cache(hits: int, negative_hits: int, misses: int, prefetch: int, evicted: int) -> None:
    """Add one block's cache counts (zeros are skipped: nothing to record)."""
    for counter, value in (
        (CACHE_HITS, hits),
        (CACHE_NEGATIVE_HITS, negative_hits),
        (CACHE_MISSES, misses),
        (CACHE_PREFETCH_LOADS, prefetch),
        (CACHE_EVICTIONS, evicted),
    ):
        if value:
            counter.add(value)


class CacheGauges(Protocol):
    """What the resident-set gauges read (`core.accountcache.CacheSnapshot`)."""

    @property
    def resident_accounts(self) -> int: ...
    @property
    def resident_bytes(self) -> int | None: ...
    @property
    def negative_entries(self) -> int: ...
    @property
    def pinned(self) -> int: ...
    @property
    def hot_bytes(self) -> int | None: ...


#: The last cache built in this process (one node per process is what an operator runs).
_cache_source: Callable[[], CacheGauges | None] | None = None


def observe_cache(source: Callable[[], CacheGauges | None]) -> None:
    """Make the `monmouth_cache_resident_*` gauges read `source` (the last caller wins)."""
    global _cache_source
    _cache_source = source


def _gauge(
    read: Callable[[CacheGauges], float | None],
) -> Callable[[CallbackOptions], list[Observation]]:
    def callback(options: CallbackOptions) -> list[Observation]:
        source = _cache_source
        snap = None if source is None else source()
        value = None if snap is None else read(snap)
        return [] if value is None else [Observation(value, {"tier": "hot"})]

    return callback


meter.create_observable_gauge(
    "monmouth_cache_resident_accounts",
    callbacks=[_gauge(lambda s: s.resident_accounts)],
    unit="{account}",
    description="State accounts resident, by tier (hot: inside the runtime)",
)
meter.create_observable_gauge(
    "monmouth_cache_resident_bytes",
    callbacks=[_gauge(lambda s: s.resident_bytes)],
    unit="By",
    description="What the resident accounts cost, by tier (as the cache counts them)",
)
meter.create_observable_gauge(
    "monmouth_cache_negative_entries",
    callbacks=[_gauge(lambda s: s.negative_entries)],
    unit="{key}",
    description="Keys known absent from the state, remembered in the hot tier",
)
meter.create_observable_gauge(
    "monmouth_cache_budget_bytes",
    callbacks=[_gauge(lambda s: s.hot_bytes)],
    unit="By",
    description="The budget of each tier ([plugins.cache] hot_bytes); absent when unbounded",
)
