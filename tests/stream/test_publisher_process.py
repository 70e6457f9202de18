"""The publisher in a child process (`PublisherProcess`), over real loopback sockets: what it
publishes reaches a Subscriber in order, and the node's process sees the child's subscriptions,
progress and message counts; a bind conflict, a close and the child's death."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import clirun
import msgspec
import pytest
import zmq
from streamkit import free_endpoint, stream_settings, wait_until
from structlog.testing import capture_logs

from monmouth.core.errors import ConfigError
from monmouth.core.pipes import receive_frame
from monmouth.core.records import BlockRecord, Segment
from monmouth.rust_svm.accounts import AccountRecord
from monmouth.stream import Message, Subscriber
from monmouth.stream.eventlog import StreamService
from monmouth.stream.publisher_process import Command, PublisherProcess
from monmouth.stream.schema import decode_header
from monmouth.stream.segments import block_segment

ACCOUNTS = 3


def _segment(number: int) -> Segment:
    """A block segment of `ACCOUNTS` account updates: ACCOUNTS + 2 messages."""
    record = BlockRecord(number, os.urandom(32), os.urandom(32), 0, bytes(32), 0, 0, 0, 0, 0)
    value = AccountRecord(1, bytes(32), False, 0, b"x" * 8).encode()
    writes = [(os.urandom(32), None, value) for _ in range(ACCOUNTS)]
    return block_segment(record, number - 1 if number else None, writes, [])


def _submit(proxy: PublisherProcess, blocks: int) -> int:
    """Submit `blocks` block segments after the proxy's last sequence number, each followed by
    its head as the node does; returns the last sequence number submitted."""
    seq = proxy.last_seq + 1
    for number in range(blocks):
        segment = _segment(number)
        proxy.submit(seq, segment)
        proxy.set_head(number, f"0x{number:064x}", f"state{number}")
        seq += segment.count
    return seq - 1


@contextmanager
def _publishing(
    first_height: Callable[[], int | None] = lambda: None,
) -> Iterator[PublisherProcess]:
    proxy = PublisherProcess(
        free_endpoint(),
        instance="test",
        role="executor",
        stream_id="s",
        last_seq=-1,
        heartbeat_interval=0.1,
        first_height=first_height,
    )
    try:
        yield proxy
    finally:
        proxy.close()


def _joined(proxy: PublisherProcess, **filters: Any) -> Subscriber:
    """A live subscriber that has heard a heartbeat, and whose subscriptions the node's process
    knows: it takes every message submitted from there on live (before the node's process knows
    of a subscriber, segments go without their data, `Skip`)."""
    sub = Subscriber(proxy.endpoint, **filters)
    deadline = time.monotonic() + 30
    while sub.last is None:
        assert time.monotonic() < deadline, "no heartbeat"
        sub.receive(0.1)
    wait_until(lambda: "heartbeat/" in proxy.subscriptions, 30, "the subscription")
    return sub


def _collect(sub: Subscriber, until: int, timeout: float = 30.0) -> list[Message]:
    """Messages (heartbeats apart) until sequence number `until` was handled."""
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"stopped at {sub.last}, wanted {until}"
        msg = sub.receive(0.1)
        if msg is None:
            if sub.last is not None and sub.last >= until:
                return out
        elif msg.kind != "heartbeat":
            out.append(msg)


def test_messages_reach_a_subscriber_in_sequence() -> None:
    with _publishing(first_height=lambda: 7) as proxy:
        sub = _joined(proxy)
        try:
            last = _submit(proxy, 5)
            got = _collect(sub, last)
            assert [m.seq for m in got] == list(range(last + 1))
            assert [m.kind for m in got[: ACCOUNTS + 2]] == ["account"] * ACCOUNTS + [
                "slot",
                "block",
            ]
            assert not any(m.replayed for m in got) and sub.replays == 0
            # The head and the log's first height, as the node's process sent them, go out
            # in the child's heartbeats.
            deadline = time.monotonic() + 10
            while True:
                beat = sub.receive(0.5)
                assert time.monotonic() < deadline, "no heartbeat with the head"
                if beat is not None and beat.kind == "heartbeat" and beat.body.head == 4:
                    break
            assert beat.body.first_height == 7 and beat.body.last_seq == last
            assert beat.body.state_hash == "state4" and beat.body.instance == "test"
        finally:
            sub.close()
        wait_until(lambda: proxy.last_seq == last, 10, "the child's progress")
        # A subscriber to everything gets each message once, plus the heartbeats.
        assert proxy.messages_sent > 5 * (ACCOUNTS + 2)


def test_subscriptions_are_mirrored_in_the_node_process() -> None:
    with _publishing() as proxy:
        assert not proxy.subscriptions
        sub = Subscriber(proxy.endpoint, kinds=["finding"])
        try:
            wait_until(lambda: "finding/" in set(proxy.subscriptions), 10, "the subscription")
            assert "heartbeat/" in proxy.subscriptions  # every Subscriber listens to these
        finally:
            sub.close()
        wait_until(lambda: not proxy.subscriptions, 10, "the unsubscription")


def test_segments_nobody_subscribed_to_go_without_their_data() -> None:
    """While the node's process knows no subscription, a segment goes to the child as its
    numbers alone (`Skip`), which the child counts as sent; once a subscriber is known,
    segments go whole and reach it live, from the first one submitted after."""
    decode = msgspec.msgpack.Decoder(Command).decode
    with _publishing() as proxy:
        sent: list[str] = []
        frames = proxy._frames

        def seen(commands: list[Any]) -> Iterator[bytes]:
            for raw in frames(commands):
                sent.append(type(decode(receive_frame(io.BytesIO(raw)))).__name__)
                yield raw

        proxy._frames = seen  # type: ignore[method-assign]
        skipped = _submit(proxy, 20)
        wait_until(lambda: proxy.last_seq == skipped, 10, "the child's progress")
        assert sent == ["Skip", "SetHead"] * 20
        sub = _joined(proxy)
        try:
            sent.clear()
            last = _submit(proxy, 5)
            got = _collect(sub, last)
            assert [m.seq for m in got] == list(range(skipped + 1, last + 1))
            assert not any(m.replayed for m in got) and sub.replays == 0
            assert sent == ["Submit", "SetHead"] * 5
        finally:
            sub.close()


def test_close_sends_everything_submitted() -> None:
    with _publishing() as proxy:
        sub = _joined(proxy, kinds=["block"])
        try:
            last = _submit(proxy, 200)
            proxy.close()  # at once: the queue is still full
            # Its last report came before it ended.
            assert proxy.last_seq == last
            blocks = _collect(sub, last)
            assert [m.body.number for m in blocks] == list(range(200))
            proxy.close()  # idempotent
        finally:
            sub.close()


def test_a_bind_conflict_is_a_config_error(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    host, port = endpoint.removeprefix("tcp://").rsplit(":", 1)
    with socket.socket() as taken:
        taken.bind((host, int(port)))
        taken.listen()
        with pytest.raises(zmq.ZMQError):
            PublisherProcess(endpoint, instance="t", role="executor", stream_id="", last_seq=-1)
        with pytest.raises(ConfigError, match=r"cannot bind the stream at .*--publish none"):
            StreamService(stream_settings(tmp_path / "d", endpoint), None)


def test_signals_leave_the_child_running() -> None:
    with _publishing() as proxy:
        sub = _joined(proxy)
        try:
            # A Ctrl-C or SIGTERM to the process group: the node decides when the child ends.
            os.kill(proxy.pid, signal.SIGINT)
            os.kill(proxy.pid, signal.SIGTERM)
            time.sleep(0.3)
            last = _submit(proxy, 2)
            assert [m.seq for m in _collect(sub, last)] == list(range(last + 1))
        finally:
            sub.close()


def test_a_dead_child_is_logged_once_and_submits_go_on() -> None:
    with _publishing() as proxy:
        with capture_logs() as logs:
            os.kill(proxy.pid, signal.SIGKILL)

            def logged() -> list[MutableMapping[str, Any]]:
                return [e for e in logs if e["log_level"] == "error"]

            wait_until(lambda: bool(logged()), 10, "the error")
            _submit(proxy, 3)
            proxy.alert("test", "after the end", severity="warning")
            time.sleep(0.2)
        [error] = logged()
        assert "publisher process ended" in error["event"] and error["pid"] == proxy.pid
        assert any(e["event"] == "alert" for e in logs)  # still logged in the node's process
        proxy.close()


def _this_file(*args: str) -> list[str]:
    """A command that runs one of the `__main__` modes below in a fresh process."""
    return [sys.executable, __file__, *args]


#: For `_this_file`: streamkit is imported from the tests folder.
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def test_a_child_whose_node_dies_exits_and_frees_the_port() -> None:
    endpoint = free_endpoint()
    node = subprocess.Popen(_this_file("orphan", endpoint), stdout=subprocess.PIPE, env=ENV)
    try:
        assert node.stdout is not None
        child = int(node.stdout.readline())
        node.kill()  # no close: the child sees its input end without `Close`
        node.wait()
    finally:
        node.kill()
        node.wait()
        if node.stdout is not None:
            node.stdout.close()

    def gone() -> bool:
        # Exited: reaped, or a zombie until whoever adopted it reaps it.
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except FileNotFoundError:
            return True
        return stat.rsplit(")", 1)[1].split()[0] == "Z"

    wait_until(gone, 10, "the orphaned child's exit")
    PublisherProcess(endpoint, instance="t", role="executor", stream_id="", last_seq=-1).close()


def test_the_node_process_counts_the_messages() -> None:
    # The counter is the node process's global MeterProvider's, installed once per process:
    # this test runs in a fresh process (`_count_messages` below) that installs its own.
    done = clirun.python(__file__, "count", env=ENV, timeout=120, code=0)
    report = json.loads(done.stdout.splitlines()[-1])  # after anything logged to stdout
    counted, received = report["counted"], report["received"]
    assert sum(counted.values()) == report["messages_sent"]
    for kind in ("account", "slot", "block"):
        assert counted[kind] == received[kind], kind
    assert received["account"] == 4 * ACCOUNTS and received["block"] == 4
    assert counted["heartbeat"] >= 1


def _count_messages() -> dict[str, Any]:
    """In a fresh process: publish 4 blocks to a raw SUB socket that wants everything; what it
    received by kind, and what this process's `monmouth_stream_messages` counted."""
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    received: dict[str, int] = {}
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.subscribe(b"")
    with _publishing() as proxy:
        sub.connect(proxy.endpoint)
        wait_until(lambda: "" in set(proxy.subscriptions), 10, "the subscription")
        last = _submit(proxy, 4)
        wait_until(lambda: proxy.last_seq == last, 10, "the child's progress")
    while sub.poll(500):
        _, header, _ = sub.recv_multipart()
        kind = decode_header(header).kind
        received[kind] = received.get(kind, 0) + 1
    sub.close(0)
    context.term()
    counted: dict[str, int] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "monmouth_stream_messages":
                    for point in metric.data.data_points:
                        assert isinstance(point, NumberDataPoint) and point.attributes
                        counted[str(point.attributes["kind"])] = int(point.value)
    return {"counted": counted, "received": received, "messages_sent": proxy.messages_sent}


def _orphan(endpoint: str) -> None:
    """In a fresh process: publish at `endpoint`, say the child's pid, and wait to be killed."""
    proxy = PublisherProcess(endpoint, instance="t", role="executor", stream_id="", last_seq=-1)
    print(proxy.pid, flush=True)
    time.sleep(120)


if __name__ == "__main__":
    if sys.argv[1] == "count":
        print(json.dumps(_count_messages()))
    else:
        _orphan(sys.argv[2])
