"""Every OpenTelemetry instrument of the node and the stream, and the tracer, in one place (names
in docs/operations.md; the monitoring plugin's own meters are in `plugins/monitoring/meters.py`).

They are no-ops until an SDK provider is installed (the built-in `monitoring` plugin does that):
recording then costs well under a microsecond per call, and the core records per block, not per
transaction. Everything a plugin can see through hooks (counts by status and reason, reorgs)
is counted by the monitoring plugin itself; the core records only what hooks cannot see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

meter = metrics.get_meter("monmouth.node")
tracer = trace.get_tracer("monmouth.node")


class SpanSwitch:
    """Whether the core opens its spans per block (`block` and its children `route`,
    `execute`, `verify`, `commit`, `notify`).

    Off while no TracerProvider is installed, and while the monitoring plugin's is the
    process's and records nothing (no OTLP exporter attached): the spans would all be dropped,
    and starting even a span that is dropped costs about 5 µs, 30 µs of the 120 µs an L1 block
    without inbox messages cost. Any other provider (an embedding application's) gets the
    spans as before.
    """

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = True

    def active(self) -> bool:
        """Whether to open spans now: on, and a TracerProvider installed (before one is, the
        API's tracer drops every span, at the same cost per span)."""
        return self.on and not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


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


class Total:
    """A process-wide count the main thread adds to per block, exported as an observable
    counter: read when a metric reader collects, instead of an SDK `Counter.add` per block
    (3 to 15 µs each with the monitoring plugin's reader, a few per block: a sizeable share
    of a small block's cost). Sums every node of the process, as a counter does."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def add(self, amount: int) -> None:
        self.value += amount

    def observe(self, options: CallbackOptions) -> list[Observation]:
        """The observable counter's callback."""
        return [Observation(self.value)]


def _total(name: str, unit: str, description: str) -> Total:
    total = Total()
    meter.create_observable_counter(
        name, callbacks=[total.observe], unit=unit, description=description
    )
    return total


SIGNATURES = _total("monmouth_signatures_verified", "{signature}", "Ed25519 signatures checked")

#: What the last signature verifier of the process did with per-key tables (its `stats()`).
_tables_source: Callable[[], Mapping[str, int]] | None = None


def observe_signature_tables(source: Callable[[], Mapping[str, int]]) -> None:
    """Make the `monmouth_signature_table*` counters read `source`, a verifier's `stats`
    (the last caller wins)."""
    global _tables_source
    _tables_source = source


def _table_stats() -> Mapping[str, int]:
    """The verifier's `stats()`, or nothing (no verifier, or it is gone)."""
    return {} if _tables_source is None else _tables_source()


def _tables(options: CallbackOptions) -> list[Observation]:
    stats = _table_stats()
    if not stats:
        return []
    return [
        Observation(stats["table_accepted"], {"verdict": "accepted"}),
        Observation(stats["table_rejected"], {"verdict": "rejected"}),
    ]


def _tables_built(options: CallbackOptions) -> list[Observation]:
    stats = _table_stats()
    return [Observation(stats["tables_built"])] if stats else []


meter.create_observable_counter(
    "monmouth_signature_table_checks",
    callbacks=[_tables],
    unit="{signature}",
    description="Signatures checked from per-key tables, by verdict (rejected: then libsodium's)",
)
meter.create_observable_counter(
    "monmouth_signature_tables_built",
    callbacks=[_tables_built],
    unit="{table}",
    description="Per-key tables built by the signature-check threads",
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

CACHE_HITS = _total(
    "monmouth_cache_hits", "{account}", "Accounts a block named that were resident in the runtime"
)
CACHE_NEGATIVE_HITS = _total(
    "monmouth_cache_negative_hits",
    "{account}",
    "Accounts a block named that were known absent (no LMDB read)",
)
CACHE_MISSES = _total(
    "monmouth_cache_misses", "{account}", "Accounts read from LMDB because they were not resident"
)
CACHE_PREFETCH_LOADS = _total(
    "monmouth_cache_prefetch_loads",
    "{account}",
    "Accounts read from LMDB before the block that named them ran",
)
CACHE_EVICTIONS = _total(
    "monmouth_cache_evictions", "{account}", "Accounts let go from the runtime between blocks"
)


def record_cache(hits: int, negative_hits: int, misses: int, prefetch: int, evicted: int) -> None:
    """Add one block's cache counts (plain integer additions: read when metrics are
    collected)."""
    CACHE_HITS.value += hits
    CACHE_NEGATIVE_HITS.value += negative_hits
    CACHE_MISSES.value += misses
    CACHE_PREFETCH_LOADS.value += prefetch
    CACHE_EVICTIONS.value += evicted


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
