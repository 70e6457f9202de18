"""The process's OpenTelemetry metrics: one SDK MeterProvider, read for Prometheus, installed once.

The core records its instruments through the OpenTelemetry API (`monmouth/core/telemetry.py`
and `monmouth/stream/publisher.py`); they stay no-ops until an SDK MeterProvider is installed
globally, which `Meters.install` does the first time a monitoring plugin starts. Installing is
idempotent: every later plugin in the process (tests run many nodes) shares the same provider,
reader and instruments, because the API allows one global provider per process and an
instrument's callbacks cannot be removed.

Everything this plugin exports is observed when someone collects (a scrape, an SLA sample), from
the plugin that started last (`attach`): one node per process is what an operator runs, and what
a Prometheus target describes. Its counts are plain integers that its per-block hooks add to, in
its worker thread; they reach the SDK only at collection. So the hot path pays for the core's
few records per block, into one reader, and nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, MetricsData
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, ProcessCollector

if TYPE_CHECKING:
    from monmouth.plugins.monitoring.health import Snapshot

log = structlog.get_logger("monmouth.monitoring")

#: The core's histograms, all in seconds.
LATENCY = "monmouth_block_latency_seconds"
SECONDS_HISTOGRAMS = ("monmouth_block_execute_seconds", "monmouth_block_commit_seconds", LATENCY)
#: Bucket bounds for the seconds histograms (the SDK's defaults are for milliseconds). The SLA
#: target is added, so that "committed within the target" is an exact bucket.
SECONDS_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class Observed(Protocol):
    """What the instruments read: the plugin that started last."""

    def snapshot(self) -> Snapshot:
        """The node's state and the plugin's counts now."""
        ...


@dataclass(frozen=True, slots=True)
class LatencyCounts:
    """The cumulative count of committed blocks, and of those within the SLA target."""

    total: int
    on_time: int


class _Reader(PrometheusMetricReader):
    """The Prometheus reader, which also keeps the latency histogram's counts of the last
    collection, and can collect for those alone (`sample`) without feeding the exposition.

    One reader for both: every reader of a provider aggregates every measurement again, on the
    node's thread.
    """

    def __init__(self, registry: CollectorRegistry, target: float) -> None:
        super().__init__(
            # Every exported name starts with monmouth_: no target_info, no otel_scope labels.
            disable_target_info=True,
            scope_info_enabled=False,
            registry=registry,
        )
        self._target = target
        self._local = threading.local()
        self.latency = LatencyCounts(0, 0)

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self.latency = _latency_counts(metrics_data, self._target)
        if getattr(self._local, "sampling", False):
            return  # a sample: the next scrape collects afresh
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)

    def sample(self) -> LatencyCounts:
        """Collect now, for the latency counts only."""
        self._local.sampling = True
        try:
            self.collect()
        finally:
            self._local.sampling = False
        return self.latency


class Meters:
    """The SDK MeterProvider and everything read from it. Build it with `Meters.install`."""

    _lock = threading.Lock()
    _installed: Meters | None = None

    @classmethod
    def install(cls, sla_target: float) -> Meters:
        """The process's Meters, built and installed globally on first use.

        :param sla_target: seconds; a bucket bound of the latency histogram. Later calls with
            another target get the first one's provider: see `target`.
        """
        with cls._lock:
            if cls._installed is None:
                cls._installed = cls(sla_target)
            return cls._installed

    def __init__(self, sla_target: float) -> None:
        bounds = tuple(sorted({*SECONDS_BUCKETS, sla_target}))
        #: The latency bucket bound the SLA is measured against.
        self.target = sla_target
        #: Our own registry: the process-wide default one may hold someone else's collectors.
        self.registry = CollectorRegistry()
        # process_resident_memory_bytes, process_cpu_seconds_total, open fds: what a plugin's
        # own allocations cost shows there (docs/plugins.md).
        ProcessCollector(registry=self.registry)
        self._reader = _Reader(self.registry, sla_target)
        # One exposition at a time: the exporter's collector queues each collection's data and
        # drains the queue while encoding, so two scrapes at once (the HTTP server answers each
        # in a thread of its own) could take each other's data: one answer without the
        # OpenTelemetry metrics, or an IndexError (a 500) when both drain the last entry.
        self._exposition_lock = threading.Lock()
        views = [
            View(instrument_name=name, aggregation=ExplicitBucketHistogramAggregation(bounds))
            for name in SECONDS_HISTOGRAMS
            if name != "monmouth_block_commit_seconds"
        ]
        # The core labels commit times with the group size (1 to 64 blocks): as many series of
        # every bucket. Groups are visible enough as fewer, slower commits during catch-up.
        views.append(
            View(
                instrument_name="monmouth_block_commit_seconds",
                aggregation=ExplicitBucketHistogramAggregation(bounds),
                attribute_keys=set(),
            )
        )
        self.provider = MeterProvider(
            metric_readers=[self._reader],
            views=views,
            resource=Resource.create({"service.name": "monmouth"}),
        )
        metrics.set_meter_provider(self.provider)
        #: False when another SDK provider was installed first (an embedding application, a
        #: test): the core's instruments then report there, and /metrics has ours only.
        self.global_provider = metrics.get_meter_provider() is self.provider
        if not self.global_provider:
            log.warning(
                "another OpenTelemetry MeterProvider is installed; /metrics serves the "
                "monitoring plugin's metrics only, not the core's"
            )
        self._observed: list[Observed] = []
        self._observed_lock = threading.Lock()
        # The snapshot of the collection under way: the SDK runs one collection at a time and
        # calls the observable instruments in the order they were created; the first takes the
        # snapshot, the others read it. Every value of one collection is of the same moment,
        # and the node is asked once per collection, not once per instrument.
        self._current: Snapshot | None = None
        self._build_instruments()

    # ------------------------------------------------------------------ observed plugins

    def attach(self, observed: Observed) -> None:
        """Make the instruments read `observed` (until it detaches)."""
        with self._observed_lock:
            self._observed.append(observed)

    def detach(self, observed: Observed) -> None:
        with self._observed_lock:
            if observed in self._observed:
                self._observed.remove(observed)

    def _refresh(self) -> Snapshot | None:
        """Take the observed plugin's snapshot for this collection."""
        with self._observed_lock:
            observed = self._observed[-1] if self._observed else None
        # Cleared first: when `snapshot` raises (the SDK logs it and goes on), the collection's
        # other instruments report nothing rather than the previous collection's values.
        self._current = None
        self._current = None if observed is None else observed.snapshot()
        return self._current

    def exposition(self, encode: Callable[[CollectorRegistry], bytes]) -> bytes:
        """Collect now and encode everything `registry` holds (a /metrics answer), one
        exposition at a time."""
        with self._exposition_lock:
            return encode(self.registry)

    # ------------------------------------------------------------------ the SLA

    def latency_counts(self) -> LatencyCounts:
        """Blocks committed so far in this process, and those within the SLA target."""
        return self._reader.sample()

    # ------------------------------------------------------------------ instruments

    def _build_instruments(self) -> None:
        meter = self.provider.get_meter("monmouth.monitoring")
        first = True

        def observe(kind: str, name: str, description: str, unit: str, read: _Read) -> None:
            nonlocal first
            refresh, first = first, False

            def callback(options: CallbackOptions) -> Iterable[Observation]:
                snap = self._refresh() if refresh else self._current
                return () if snap is None else read(snap)

            create = (
                meter.create_observable_counter
                if kind == "counter"
                else meter.create_observable_gauge
            )
            create(name, callbacks=[callback], unit=unit, description=description)

        def one(
            value: float | None, attributes: Mapping[str, str] | None = None
        ) -> list[Observation]:
            return [] if value is None else [Observation(value, attributes)]

        # Counts from the per-block hooks (exported as NAME_total).
        observe(
            "counter",
            "monmouth_blocks_committed",
            "L1 blocks committed",
            "{block}",
            lambda s: one(s.counts.blocks),
        )
        observe(
            "counter",
            "monmouth_transactions",
            "SVM transactions committed, by status (ok, failed, rejected)",
            "{transaction}",
            lambda s: [
                Observation(n, {"status": status}) for status, n in s.counts.transactions.items()
            ],
        )
        observe(
            "counter",
            "monmouth_transactions_rejected",
            "SVM transactions rejected, by reason (docs/protocol.md)",
            "{transaction}",
            lambda s: [
                Observation(n, {"reason": reason})
                for reason, n in s.counts.rejected_by_reason.items()
            ],
        )
        observe(
            "counter",
            "monmouth_deposits",
            "Deposits credited",
            "{deposit}",
            lambda s: one(s.counts.deposits),
        )
        observe(
            "counter",
            "monmouth_inbox_messages",
            "Inbox messages found in committed L1 blocks",
            "{message}",
            lambda s: one(s.counts.messages),
        )
        observe(
            "counter",
            "monmouth_reorgs",
            "Reorgs and reverts of the L1 chain, by depth (blocks undone)",
            "{reorg}",
            lambda s: [
                Observation(n, {"depth": depth}) for depth, n in s.counts.reorgs_by_depth.items()
            ],
        )
        observe(
            "counter",
            "monmouth_blocks_reverted",
            "L1 blocks undone by reorgs and reverts",
            "{block}",
            lambda s: one(s.counts.reverted),
        )
        # The node's state, read when collected.
        observe(
            "gauge",
            "monmouth_head_block",
            "The node's head: the last L1 block it committed",
            "{block}",
            lambda s: one(s.head.number if s.head is not None else None),
        )
        observe(
            "gauge",
            "monmouth_l1_head_block",
            "The L1 node's head, as last seen (source rpc)",
            "{block}",
            lambda s: one(s.l1_head),
        )
        observe(
            "gauge",
            "monmouth_lag_blocks",
            "L1 head minus the node's head",
            "{block}",
            lambda s: one(s.lag_blocks),
        )
        observe(
            "gauge",
            "monmouth_lag_seconds",
            "L1 head's timestamp minus the node's head's timestamp",
            "s",
            lambda s: one(s.lag_seconds),
        )
        observe(
            "gauge",
            "monmouth_l1_up",
            "1 when the L1 node answered the last probe (always 1 for a local source)",
            "1",
            lambda s: one(0.0 if s.l1_reachable is False else 1.0),
        )
        observe(
            "gauge",
            "monmouth_ready",
            "1 when /ready says ready (caught up, L1 reachable, store writable, no halt)",
            "1",
            lambda s: one(float(s.readiness.ready)),
        )
        observe(
            "gauge",
            "monmouth_lmdb_map_size_bytes",
            "LMDB map size (the map doubles by itself when full)",
            "By",
            lambda s: one(s.lmdb_map_size),
        )
        observe(
            "gauge",
            "monmouth_lmdb_used_bytes",
            "LMDB pages in use, in bytes",
            "By",
            lambda s: one(s.lmdb_used),
        )
        observe(
            "gauge",
            "monmouth_plugin_queue_depth",
            "Notifications waiting in each plugin's queue",
            "{notification}",
            lambda s: [Observation(p.queue_depth, {"plugin": p.name}) for p in s.plugins],
        )
        observe(
            "gauge",
            "monmouth_plugin_up",
            "1 while a plugin runs; 0 once it was disabled after an error, or halted the node",
            "1",
            lambda s: [
                Observation(0.0 if p.disabled or p.halted else 1.0, {"plugin": p.name})
                for p in s.plugins
            ],
        )
        observe(
            "gauge",
            "monmouth_stream_subscriptions",
            "Distinct topic prefixes the event stream's subscribers asked for",
            "{subscription}",
            lambda s: one(s.stream_subscriptions),
        )
        observe(
            "gauge",
            "monmouth_state_checkpoint_info",
            "The state hash after the L1 block at the last checkpoint height (a multiple of "
            "checkpoint_interval)",
            "1",
            lambda s: (
                []
                if s.checkpoint is None
                else [
                    Observation(
                        1,
                        {
                            "height": str(s.checkpoint.height),
                            "block_hash": s.checkpoint.block_hash,
                            "state_hash": s.checkpoint.state_hash,
                        },
                    )
                ]
            ),
        )
        observe(
            "gauge",
            "monmouth_sla_on_time_ratio",
            "Share of the blocks committed within the SLA target, over the SLA window",
            "1",
            lambda s: one(s.readiness.sla.share),
        )
        observe(
            "gauge",
            "monmouth_sla_target_seconds",
            "The SLA target: a block reaching the node is committed within this",
            "s",
            lambda s: one(s.readiness.sla.target_seconds),
        )


class _Read(Protocol):
    def __call__(self, snapshot: Snapshot, /) -> Iterable[Observation]: ...


def _latency_counts(data: MetricsData, target: float) -> LatencyCounts:
    total = on_time = 0
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != LATENCY:
                    continue
                for point in metric.data.data_points:
                    if isinstance(point, HistogramDataPoint):
                        total += point.count
                        on_time += _at_most(point, target)
    return LatencyCounts(total, on_time)


def _at_most(point: HistogramDataPoint, bound: float) -> int:
    """How many of the point's values are at most `bound` (one of its bucket bounds)."""
    count = 0
    for upper, n in zip(point.explicit_bounds, point.bucket_counts, strict=False):
        if upper > bound:
            break
        count += n
    return count
