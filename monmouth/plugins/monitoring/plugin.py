"""The `monitoring` plugin's hooks: per-block counts, health checks, metrics and traces (the
package docstring says what it serves and what it costs)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import structlog

from monmouth import __version__
from monmouth.core import b58
from monmouth.hooks import Host, hookimpl
from monmouth.plugins.monitoring.config import Config
from monmouth.plugins.monitoring.health import (
    Check,
    Checkpoint,
    Counts,
    Head,
    L1Probe,
    PluginHealth,
    Readiness,
    SlaWindow,
    Snapshot,
    evaluate,
)
from monmouth.plugins.monitoring.server import HttpServer, Response

if TYPE_CHECKING:
    from monmouth.hooks import BlockInfo, Settings, TransactionInfo
    from monmouth.plugins.monitoring.meters import Meters
    from monmouth.plugins.monitoring.probe import Prober
    from monmouth.plugins.monitoring.tracing import Tracing

__all__ = ["Plugin", "counts_reasons"]

log = structlog.get_logger("monmouth.monitoring")


@dataclass(slots=True)
class _Tally:
    """The counts, as the plugin's worker adds to them: plain integers, read at collection."""

    blocks: int = 0
    ok: int = 0
    failed: int = 0
    rejected: int = 0
    deposits: int = 0
    messages: int = 0
    reverted: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    reorgs: dict[str, int] = field(default_factory=dict)

    def counts(self) -> Counts:
        # dict() copies in one step of the interpreter: the worker may be adding meanwhile.
        return Counts(
            blocks=self.blocks,
            transactions={"ok": self.ok, "failed": self.failed, "rejected": self.rejected},
            rejected_by_reason=dict(self.reasons),
            deposits=self.deposits,
            messages=self.messages,
            reorgs_by_depth=dict(self.reorgs),
            reverted=self.reverted,
        )


def _l1_node(settings: Settings) -> str | None:
    """The URL of the L1 node the node follows; None for the devnet, a replay file, or a
    role that follows another instance's stream."""
    source = settings.source
    if settings.role != "executor" or source.kind != "rpc":
        return None
    return source.rpc_url


def counts_reasons(settings: Settings, config: Config) -> bool:
    """Whether to count rejections by reason: `count_reasons`, where "auto" means when the
    node builds the transaction payloads anyway (an executor keeping or publishing a stream)."""
    if config.count_reasons != "auto":
        return config.count_reasons == "on"
    stream = settings.stream
    return settings.role == "executor" and (stream.keep_blocks > 0 or stream.publish is not None)


class Plugin:
    """Counts per block, answers health checks, serves metrics; see the package docstring.

    Built in every process that loads plugins (a node, an analyzer, tests), so the
    constructor only keeps the configuration: the server binds in `startup`.
    """

    config_model = Config

    def __init__(self, settings: Settings, config: Config) -> None:
        self.settings = settings
        self.config = config
        self.node: Host | None = None
        self.meters: Meters | None = None
        self.tracing: Tracing | None = None
        self.server: HttpServer | None = None
        self.prober: Prober | None = None
        self.sla = SlaWindow(config.sla_target_seconds, config.sla_window_seconds)
        #: Whether rejections are counted by reason (`count_reasons`).
        self.counts_reasons = counts_reasons(settings, config)
        if not self.counts_reasons:
            # pluggy registers the hooks the instance has: shadowing this one unregisters it,
            # so the node builds no transaction payloads for it, nor does an analyzer
            # subscribe to transaction messages.
            self.notify_transactions = None  # type: ignore[method-assign, assignment]
        #: Written by this plugin's worker (the per-block hooks) only; read at collection.
        self._tally = _Tally()
        #: Written by the worker, read by the server: replaced whole, never mutated.
        self.checkpoint: Checkpoint | None = None
        self._started = time.monotonic()

    # ------------------------------------------------------------------ lifecycle

    @hookimpl
    def startup(self, node: Host) -> None:
        """Bind the HTTP server (a taken address is a ConfigError naming the key), install the
        SDK providers (once per process), start probing."""
        # The SDK's imports wait for a node: the CLI loads plugins for every command.
        from monmouth.plugins.monitoring.meters import Meters
        from monmouth.plugins.monitoring.probe import Prober, probe_l1

        config = self.config
        self.node = node
        self._started = time.monotonic()
        # First: when binding fails, nothing else was set up (a failed startup gets no shutdown).
        # The server answers only from `start` below, once `meters` and the rest are set: an
        # early scrape (a test polling for the port) used to find `meters` still None (a 500).
        if config.address is not None:
            self.server = HttpServer(
                config.address,
                {
                    "/metrics": self._metrics,
                    "/health": self._health,
                    "/ready": self._ready,
                    "/status": self._status,
                },
            )
        try:
            meters = self.meters = Meters.install(config.sla_target_seconds)
            if meters.target != config.sla_target_seconds:
                log.warning(
                    "this process measures the SLA against the first node's target",
                    sla_target_seconds=meters.target,
                    configured=config.sla_target_seconds,
                )
            self.sla = SlaWindow(meters.target, config.sla_window_seconds)
            self.checkpoint = self._stored_checkpoint(node)
            if config.otlp_endpoint is not None:
                from monmouth.plugins.monitoring.tracing import Tracing, log_trace_context

                self.tracing = Tracing.install()
                self.tracing.attach(self, config.otlp_endpoint)
                log_trace_context()
            meters.attach(self)
            url = _l1_node(node.settings)
            probe: Callable[[], L1Probe] | None = None
            if url is not None:
                interval = config.probe_interval

                def probe() -> L1Probe:
                    return probe_l1(url, interval)

            self.prober = Prober(config.probe_interval, self._sample_sla, probe)
        except BaseException:
            if self.server is not None:  # bound, never started: only its socket to let go
                self.server.close()
                self.server = None
            raise
        if self.server is not None:
            self.server.start()
            log.info("monitoring", url=self.server.url, paths="/metrics /health /ready /status")

    @hookimpl
    def shutdown(self, node: Host) -> None:
        """Stop serving (requests in flight finish first), probing, observing, exporting."""
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.prober is not None:
            self.prober.close()
            self.prober = None
        if self.meters is not None:
            self.meters.detach(self)
        if self.tracing is not None:
            self.tracing.detach(self)
            self.tracing = None

    # ------------------------------------------------------------------ per block (worker)

    @hookimpl
    def notify_transactions(self, block: BlockInfo, transactions: list[TransactionInfo]) -> None:
        """Rejections by reason: the only per-transaction work, and only in blocks that have
        rejections (the block's counts say so)."""
        if not block.rejected:
            return
        reasons = self._tally.reasons
        for tx in transactions:
            if tx.status == "rejected":
                reason = tx.reason or "unknown"
                reasons[reason] = reasons.get(reason, 0) + 1

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        tally = self._tally
        tally.blocks += 1
        tally.ok += block.ok
        tally.failed += block.failed
        tally.rejected += block.rejected
        tally.deposits += block.deposits
        tally.messages += block.messages
        if block.number % self.config.checkpoint_interval == 0:
            self.checkpoint = Checkpoint(block.number, "0x" + block.hash.hex(), block.state_hash)

    @hookimpl
    def revert_blocks(self, blocks: list[BlockInfo]) -> None:
        """One reorg (or revert) of `len(blocks)` blocks."""
        if not blocks:
            return
        tally = self._tally
        depth = str(len(blocks))
        tally.reorgs[depth] = tally.reorgs.get(depth, 0) + 1
        tally.reverted += len(blocks)
        checkpoint = self.checkpoint
        if checkpoint is not None and checkpoint.height >= blocks[-1].number:
            # Its block left the chain; the block that replaces it sets it again.
            self.checkpoint = None

    # ------------------------------------------------------------------ reading the node

    def _stored_checkpoint(self, node: Host) -> Checkpoint | None:
        # The plugin also runs in an analyzer, which keeps no state: what it lacks is unknown.
        if node.store is None:
            return None
        head = node.store.head()
        if head is None:
            return None
        height = head.number - head.number % self.config.checkpoint_interval
        record = node.store.block(height)
        if record is None:
            return None  # pruned, or before the state's first block
        return Checkpoint(height, "0x" + record.hash.hex(), b58.encode(record.checksum))

    def _sample_sla(self) -> None:
        meters = self.meters
        if meters is not None:
            counts = meters.latency_counts()
            self.sla.add(time.monotonic(), counts.total, counts.on_time)

    def _store_check(self, node: Host) -> Check:
        store = node.store
        if store is None:
            return Check("store_writable", True, "no store: an analyzer holds no state")
        path = store.path
        if not os.access(path, os.W_OK):
            return Check("store_writable", False, f"the data directory {path} is not writable")
        free_mb = shutil.disk_usage(path).free // 2**20
        if free_mb < self.config.min_free_disk_mb:
            return Check(
                "store_writable",
                False,
                f"{free_mb} MiB free for the data directory {path} "
                f"(at least {self.config.min_free_disk_mb} MiB)",
            )
        return Check("store_writable", True, f"writable, {free_mb} MiB free")

    def snapshot(self) -> Snapshot:
        """The node now. Called from the server's and the SDK's threads: reads only values the
        node replaces whole (its head, counters, the last probe)."""
        node = self.node
        if node is None:
            raise RuntimeError("the monitoring plugin has not started")
        info = node.last_block
        head = (
            None
            if info is None
            else Head(info.number, "0x" + info.hash.hex(), info.state_hash, info.timestamp)
        )
        local = _l1_node(node.settings) is None
        probe = None if self.prober is None else self.prober.last
        l1_head: int | None = None
        lag_blocks: int | None = None
        lag_seconds: float | None = None
        if not local:
            seen = [node.l1_head, probe.head if probe is not None else None]
            known = [n for n in seen if n is not None]
            l1_head = max(known) if known else None
            if l1_head is not None:
                lag_blocks = max(l1_head - (head.number if head is not None else -1), 0)
            if head is not None and probe is not None and probe.ok:
                assert probe.head is not None and probe.timestamp is not None
                behind = head.number < probe.head
                lag_seconds = float(max(probe.timestamp - head.timestamp, 0)) if behind else 0.0
        map_size: int | None = None
        used: int | None = None
        store = node.store
        try:
            if store is not None:
                lmdb = store.info()
                map_size, used = int(lmdb["map_size"]), int(lmdb["used"])
        except Exception:  # the store is closing: report nothing rather than fail the scrape
            pass
        halted_by = node.plugins.halt.plugin
        depths = node.plugins.queue_depths()
        now = time.monotonic()
        plugins = tuple(
            PluginHealth(
                name,
                depths.get(name, 0),
                state.errors,
                state.disabled,
                name == halted_by,
                round(state.stalled_for(now), 3),
                state.abandoned,
            )
            for name, state in sorted(node.plugins.states.items())
        )
        readiness = evaluate(
            local_source=local,
            head=None if head is None else head.number,
            l1_head=l1_head,
            probe=probe,
            max_lag=self.config.max_lag_blocks,
            store=self._store_check(node),
            halted=None if halted_by is None else (halted_by, node.plugins.halt.reason),
            sla=self.sla.sla(),
            stalled=node.plugins.stalled(),
            stall_timeout=node.plugins.stall_timeout,
        )
        return Snapshot(
            instance=node.settings.instance,
            version=__version__,
            uptime_seconds=round(time.monotonic() - self._started, 3),
            source=node.settings.source.kind,
            head=head,
            l1_head=l1_head,
            l1_reachable=None if local else (probe is not None and probe.ok),
            lag_blocks=lag_blocks,
            lag_seconds=lag_seconds,
            counts=self._tally.counts(),
            lmdb_map_size=map_size,
            lmdb_used=used,
            stream_subscriptions=node.stream_subscriptions(),
            checkpoint=self.checkpoint,
            plugins=plugins,
            readiness=readiness,
        )

    def readiness(self) -> Readiness:
        return self.snapshot().readiness

    @property
    def url(self) -> str | None:
        """Where the endpoints are served (`http://HOST:PORT`), None when they are not."""
        return None if self.server is None else self.server.url

    # ------------------------------------------------------------------ endpoints

    def _metrics(self, headers: Mapping[str, str]) -> Response:
        from prometheus_client.exposition import choose_encoder

        assert self.meters is not None
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        return Response(200, content_type, self.meters.exposition(encoder))

    def _health(self, headers: Mapping[str, str]) -> Response:
        node = self.node
        assert node is not None
        return Response.json(
            200,
            {
                "status": "alive",
                "instance": node.settings.instance,
                "version": __version__,
                "uptime_seconds": round(time.monotonic() - self._started, 3),
            },
        )

    def _ready(self, headers: Mapping[str, str]) -> Response:
        readiness = self.readiness()
        return Response.json(200 if readiness.ready else 503, asdict(readiness))

    def _status(self, headers: Mapping[str, str]) -> Response:
        return Response.json(200, asdict(self.snapshot()))
