"""The publisher alone: heartbeats keep coming while it works through a backlog."""

from __future__ import annotations

import os
import time

import zmq
from streamkit import free_endpoint

from monmouth.core.records import BlockRecord, Segment
from monmouth.rust_svm.accounts import AccountRecord
from monmouth.stream.publisher import Publisher
from monmouth.stream.schema import decode_header
from monmouth.stream.segments import block_segment


def _heavy_segment(number: int, accounts: int) -> tuple[int, Segment]:
    record = BlockRecord(number, os.urandom(32), os.urandom(32), 0, bytes(32), 0, 0, 0, 0, 0)
    value = AccountRecord(1, bytes(32), False, 0, b"x" * 64).encode()
    writes = [(os.urandom(32), None, value) for _ in range(accounts)]
    return accounts + 2, block_segment(record, number - 1, writes, [])


def _backlog(
    publisher: Publisher, sub: zmq.Socket[bytes], segments: int
) -> tuple[float, list[float]]:
    """Submit `segments` heavy segments at once; return how long the publisher took to
    work through them and when heartbeats arrived meanwhile (gaps from the start).

    One segment, made before and submitted `segments` times: submitting takes microseconds,
    so the backlog is the publisher's work alone. Made one by one in the loop, the publisher
    drained them as fast as they were made, and the backlog grew to 40,960 segments of
    random bytes, minutes to make (a CI run timed out)."""
    count, segment = _heavy_segment(publisher.last_seq + 2, 1500)
    seq = publisher.last_seq + 1
    for _ in range(segments):
        publisher.submit(seq, segment)
        seq += count
    beats: list[float] = []
    started = time.monotonic()
    while publisher.last_seq < seq - 1 and time.monotonic() - started < 120:
        if sub.poll(100):
            _, header, _ = sub.recv_multipart()
            if decode_header(header).kind == "heartbeat":
                beats.append(time.monotonic())
    assert publisher.last_seq == seq - 1
    return time.monotonic() - started, [
        b - a for a, b in zip([started, *beats], beats, strict=False)
    ]


def test_heartbeats_go_on_during_a_backlog() -> None:
    endpoint = free_endpoint()
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    publisher = Publisher(
        context,
        endpoint,
        instance="t",
        role="executor",
        stream_id="s",
        last_seq=-1,
        heartbeat_interval=0.1,
    )
    sub = context.socket(zmq.SUB)
    sub.subscribe(b"")
    sub.connect(endpoint)
    try:
        deadline = time.monotonic() + 5
        while not publisher.subscriptions and time.monotonic() < deadline:
            time.sleep(0.01)
        # The backlog has to outlast a heartbeat interval many times over; how many
        # segments that takes depends on the machine, so grow it until it does.
        segments = 40
        backlog, gaps = _backlog(publisher, sub, segments)
        while backlog < 1.0 and segments < 40_960:
            segments *= 2
            backlog, gaps = _backlog(publisher, sub, segments)
        assert backlog >= 1.0, f"{segments} segments took only {backlog:.2f} s"
        # A heartbeat goes out between segments, at least once a second of backlog.
        assert len(gaps) >= int(backlog) and max(gaps) < 1.0, (backlog, gaps)
    finally:
        sub.close(0)
        publisher.close()
        context.term()
