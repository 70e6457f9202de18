"""Traces over OTLP/HTTP to a collector of the test's own (a real HTTP server decoding the
protobuf requests): a `block` span per block with its stage children; nothing recorded once
the exporting node stopped or without `otlp_endpoint`; log lines inside a block's trace carry
its number and trace id."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from monmouth.app import build_node, make_source
from monmouth.core.config import load_settings
from monmouth.core.telemetry import SPANS
from monmouth.plugins.monitoring.tracing import EXPORT_TIMEOUT, Tracing, add_trace_context


class Collector:
    """An OTLP/HTTP trace collector: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.paths.append(self.path)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        collector.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    try:
        yield found
    finally:
        found.close()


def run_node(data_dir: Path, blocks: int, monitoring: dict[str, Any]) -> None:
    settings = load_settings(
        None, data_dir=data_dir, store={"sync": False}, plugins={"monitoring": monitoring}
    )
    with build_node(settings) as node:
        anyio.run(functools.partial(node.run, make_source(settings), max_blocks=blocks))


def test_a_span_per_block_with_its_stages(collector: Collector, tmp_path: Path) -> None:
    run_node(tmp_path / "a", 6, {"address": "none", "otlp_endpoint": collector.url})
    # The node's shutdown flushed every span to the collector.
    assert set(collector.paths) == {"/v1/traces"}
    blocks = [s for s in collector.spans if s.name == "block"]
    numbers = sorted(
        a.value.int_value for s in blocks for a in s.attributes if a.key == "l1.block.number"
    )
    assert numbers == list(range(6))
    for block in blocks:
        children = sorted(
            s.name
            for s in collector.spans
            if s.trace_id == block.trace_id and s.parent_span_id == block.span_id
        )
        assert children == ["commit", "execute", "notify", "route", "verify"]
        for child in collector.spans:
            if child.trace_id == block.trace_id and child.name != "block":
                assert block.start_time_unix_nano <= child.start_time_unix_nano
                assert child.end_time_unix_nano <= block.end_time_unix_nano
    exported = len(collector.spans)

    # Without otlp_endpoint, nothing is recorded, though the process's provider stays.
    run_node(tmp_path / "b", 3, {"address": "none"})
    assert len(collector.spans) == exported
    assert not trace.get_tracer("test").start_span("x").is_recording()
    # ... and the core does not even open its spans (each costs about 5 µs per block).
    assert not SPANS.on


def test_log_lines_in_a_block_trace_carry_its_number(collector: Collector) -> None:
    tracing = Tracing.install()
    owner = object()
    tracing.attach(owner, collector.url + "/v1/traces")
    try:
        tracer = trace.get_tracer("test")
        assert add_trace_context(None, "info", {"event": "outside"}) == {"event": "outside"}
        with (
            tracer.start_as_current_span("block", attributes={"l1.block.number": 42}) as block,
            tracer.start_as_current_span("execute") as execute,
        ):
            line = add_trace_context(None, "info", {"event": "inside"})
            bound = add_trace_context(None, "info", {"event": "bound", "block": 7})
        with (
            structlog.testing.capture_logs(processors=[add_trace_context]) as logs,
            tracer.start_as_current_span("block", attributes={"l1.block.number": 43}),
        ):
            structlog.get_logger("test").info("through structlog")
    finally:
        tracing.detach(owner)
    assert line == {
        "event": "inside",
        "trace_id": format(block.get_span_context().trace_id, "032x"),
        "span_id": format(execute.get_span_context().span_id, "016x"),
        "block": 42,
    }
    assert bound["block"] == 7  # a value bound in the log context wins
    assert logs[0]["block"] == 43 and len(logs[0]["trace_id"]) == 32


def test_a_collector_that_is_down_never_holds_the_node(tmp_path: Path) -> None:
    gone = Collector()
    gone.close()  # nothing listens there any more
    settings = load_settings(
        None,
        data_dir=tmp_path / "c",
        store={"sync": False},
        plugins={"monitoring": {"address": "none", "otlp_endpoint": gone.url}},
    )
    with structlog.testing.capture_logs() as logs:
        node = build_node(settings)
        try:
            # Some 750 spans: two batches, each of which the exporter would retry for its
            # whole timeout.
            anyio.run(functools.partial(node.run, make_source(settings), max_blocks=150))
        finally:
            start = time.monotonic()
            node.close()
            closing = time.monotonic() - start
    # Whether the exporter gives up at shutdown or had already failed fast depends on timing;
    # either way the node does not wait for it longer than the export timeout.
    assert closing < EXPORT_TIMEOUT + 2
    assert "exporting traces" in [e["event"] for e in logs]
