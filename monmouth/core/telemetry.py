"""Every OpenTelemetry instrument of the node and the stream, and the tracer, in one place (names
in docs/operations.md; the monitoring plugin's own meters are in `plugins/monitoring/meters.py`).

They are no-ops until an SDK provider is installed (the built-in `monitoring` plugin does that):
recording then costs well under a microsecond per call, and the core records per block, not per
transaction. Everything a plugin can see through hooks (counts by status and reason, reorgs)
is counted by the monitoring plugin itself; the core records only what hooks cannot see.
"""

from __future__ import annotations

from opentelemetry import metrics, trace

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
