"""Traces over OTLP, and log lines that carry the block number and trace id.

The core already opens a `block` span per L1 block (attributes `l1.block.number`,
`l1.block.hash`) with children `route`, `execute`, `commit` and `notify`, through the
OpenTelemetry API: no-ops until an SDK TracerProvider is installed. `Tracing.install` installs
one, once per process, whose sampler records nothing until a plugin `attach`es an OTLP exporter;
so a node without `otlp_endpoint` pays for no span at all, and tests that run many nodes in one
process can turn export on and off.

`add_trace_context` is a structlog processor: inside a block's trace, it adds `trace_id`,
`span_id` and `block` (the block number, from the `block` span's attributes) to every log line.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping, Sequence
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from monmouth.core.telemetry import SPANS

log = structlog.get_logger("monmouth.monitoring")

#: The core's span per block and its attribute holding the block number (core/node.py).
BLOCK_SPAN = "block"
BLOCK_NUMBER = "l1.block.number"
#: Seconds an OTLP export may take before it is given up (the collector may be gone).
EXPORT_TIMEOUT = 5.0


class _Switch(Sampler):
    """Records every span while an exporter is attached, none otherwise."""

    def __init__(self) -> None:
        self.on = False

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        sampler = ALWAYS_ON if self.on else ALWAYS_OFF
        return sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "monmouth: on while an OTLP exporter is attached"


class _Forward(SpanProcessor):
    """Hands spans to the attached exporter's processor, and keeps the block number of every
    open block trace for the log processor."""

    def __init__(self) -> None:
        self.target: SpanProcessor | None = None
        #: trace id -> block number, while the block's span is open.
        self.blocks: dict[int, int] = {}

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if span.name == BLOCK_SPAN:
            number = (span.attributes or {}).get(BLOCK_NUMBER)
            if isinstance(number, int):
                self.blocks[span.context.trace_id] = number
        target = self.target
        if target is not None:
            target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if span.name == BLOCK_SPAN and span.context is not None:
            self.blocks.pop(span.context.trace_id, None)
        target = self.target
        if target is not None:
            target.on_end(span)

    def shutdown(self) -> None:
        target = self.target
        if target is not None:
            target.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        target = self.target
        return True if target is None else target.force_flush(timeout_millis)


class Tracing:
    """The process's TracerProvider. Build it with `Tracing.install`."""

    _lock = threading.Lock()
    _installed: Tracing | None = None

    @classmethod
    def install(cls) -> Tracing:
        """The process's Tracing, built and installed globally on first use."""
        with cls._lock:
            if cls._installed is None:
                cls._installed = cls()
            return cls._installed

    def __init__(self) -> None:
        self._switch = _Switch()
        self._forward = _Forward()
        # The SDK's own metrics (spans started, queue sizes) stay out of /metrics.
        self.provider = TracerProvider(
            sampler=self._switch,
            resource=Resource.create({"service.name": "monmouth"}),
            meter_provider=NoOpMeterProvider(),
        )
        self.provider.add_span_processor(self._forward)
        trace.set_tracer_provider(self.provider)
        #: False when another SDK provider was installed first: spans then go there.
        self.global_provider = trace.get_tracer_provider() is self.provider
        self._owner: object | None = None
        # Ours records nothing until an exporter is attached: the core need not open spans.
        SPANS.on = not self.global_provider

    def attach(self, owner: object, endpoint: str) -> None:
        """Export every span to the OTLP/HTTP collector at `endpoint` (its base URL, or the
        full `/v1/traces` URL) until `owner` detaches."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        if not self.global_provider:
            log.warning(
                "another OpenTelemetry TracerProvider is installed; the node's spans go there, "
                "not to otlp_endpoint",
                otlp_endpoint=endpoint,
            )
            return
        url = (
            endpoint
            if endpoint.rstrip("/").endswith("/v1/traces")
            else (endpoint.rstrip("/") + "/v1/traces")
        )
        exporter = OTLPSpanExporter(
            endpoint=url, timeout=EXPORT_TIMEOUT, meter_provider=NoOpMeterProvider()
        )
        processor = BatchSpanProcessor(exporter, meter_provider=NoOpMeterProvider())
        with self._lock:
            previous, self._forward.target, self._owner = self._forward.target, processor, owner
            self._switch.on = SPANS.on = True
        if previous is not None:
            _close(previous)
        log.info("exporting traces", otlp_endpoint=url)

    def detach(self, owner: object) -> None:
        """Stop recording spans and send what was recorded, within `EXPORT_TIMEOUT` (if
        `owner` attached last)."""
        with self._lock:
            if self._owner is not owner:
                return
            self._switch.on = SPANS.on = False
            target, self._forward.target, self._owner = self._forward.target, None, None
        if target is not None:
            _close(target)

    def block_of(self, trace_id: int) -> int | None:
        """The block number of an open block trace."""
        return self._forward.blocks.get(trace_id)


def _close(processor: SpanProcessor) -> None:
    """Send what is queued, waiting `EXPORT_TIMEOUT` at most: a collector that is gone must
    not hold the node's shutdown (each batch would wait out the exporter's retries). What is
    not sent by then goes on in the background until the process exits."""
    closing = threading.Thread(target=processor.shutdown, name="monitoring-otlp", daemon=True)
    closing.start()
    closing.join(EXPORT_TIMEOUT)
    if closing.is_alive():
        log.warning("the OTLP collector did not take the last spans in time; still trying")


def add_trace_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current span's `trace_id` and `span_id` (hex, as OTLP shows
    them) and, inside a block's trace, `block` (its number). Keys already bound win (for
    example `block` bound with `structlog.contextvars.bind_contextvars`)."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return event_dict
    event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
    event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
    installed = Tracing._installed
    number = None if installed is None else installed.block_of(span_context.trace_id)
    if number is not None:
        event_dict.setdefault("block", number)
    return event_dict


def log_trace_context() -> None:
    """Add `add_trace_context` to structlog's processors, before the renderer (idempotent)."""
    processors = list(structlog.get_config()["processors"])
    if add_trace_context in processors:
        return
    # The last processor renders the line (JSON or console): ours must run before it.
    processors.insert(max(len(processors) - 1, 0), add_trace_context)
    structlog.configure(processors=processors)
