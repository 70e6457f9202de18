"""What one client of the stream may cost (docs/stream.md, "Limits"): hostile or stalled
clients on real ZeroMQ sockets, against a node publishing on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
import zmq
from streamkit import NodeThread, free_endpoint, stream_settings, wait_until

from monmouth.stream import Subscriber
from monmouth.stream.schema import Request, decode_reply
from monmouth.stream.security import next_port
from monmouth.stream.subscriber import ask

Context = zmq.Context[zmq.Socket[bytes]]

#: Three subscribers to 50 MB prefixes, which stay connected (reconnecting) until killed.
HOSTILE_SUBSCRIBERS = """
import sys, time, zmq
context = zmq.Context()
sockets = []
for _ in range(3):
    sock = context.socket(zmq.SUB)
    sock.subscribe(b"x" * 50_000_000)
    sock.connect(sys.argv[1])
    sockets.append(sock)
time.sleep(600)
"""

#: DEALER sockets that each ask for the whole log and never read, with small buffers so the
#: replies back up at the node.
STALLED_CLIENTS = """
import sys, time, zmq, msgspec
context = zmq.Context()
sockets = []
for _ in range(int(sys.argv[2])):
    sock = context.socket(zmq.DEALER)
    sock.rcvhwm = 1
    sock.rcvbuf = 4096
    sock.connect(sys.argv[1])
    sock.send(msgspec.msgpack.encode({"op": "replay", "from_seq": 0}))
    sockets.append(sock)
time.sleep(600)
"""


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def node(tmp_path: Path) -> NodeThread:
    endpoint = free_endpoint()
    settings = stream_settings(
        tmp_path / "d",
        endpoint,
        devnet={"interval": 0.0, "txs_per_block": 40},
        stream={"client_timeout": 2.0, "max_requests_per_client": 2},
    )
    node = NodeThread(settings, max_blocks=60)
    node.join(timeout=240)
    return node


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="RSS from /proc")
def test_huge_subscriptions_cost_the_publisher_nothing(node: NodeThread) -> None:
    endpoint = node.node.settings.stream.publish
    assert endpoint is not None
    publisher = node.node.events.publisher  # type: ignore[attr-defined]
    before = rss_mb(publisher.pid)
    try:
        # In a process of its own: libzmq 4.3.5 crashes closing a SUB socket its peer cut off.
        hostile = subprocess.Popen([sys.executable, "-c", HOSTILE_SUBSCRIBERS, endpoint])
        try:
            time.sleep(4)
            # Before the limit, this took the publisher from 63 MB to 4.1 GB in 5 s.
            assert rss_mb(publisher.pid) - before < 100
            with Subscriber(endpoint, kinds=["block"], from_height=0) as sub:
                first = next(iter(sub))
                assert first.kind == "block"
        finally:
            hostile.kill()
            hostile.wait()
    finally:
        node.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="RSS from /proc")
def test_clients_that_never_read_are_dropped_and_block_nobody(node: NodeThread) -> None:
    endpoint = node.node.settings.stream.publish
    assert endpoint is not None
    server = node.node.events.server  # type: ignore[attr-defined]
    request = next_port(endpoint)
    context: Context = zmq.Context()
    before = rss_mb(os.getpid())
    stalled = subprocess.Popen([sys.executable, "-c", STALLED_CLIENTS, request, "100"])
    try:
        wait_until(lambda: server.requests >= 100, timeout=60, what="the stalled requests")
        # Meanwhile everybody else is served at once.
        started = time.monotonic()
        [(status, _)] = list(ask(context, request, Request("status"), timeout=5.0))
        assert status.head == 59
        assert time.monotonic() - started < 5
        replayed = list(ask(context, request, Request("replay", from_height=0), timeout=30.0))
        assert replayed[-1][0].done
        wait_until(lambda: server.dropped >= 100, timeout=60, what="the stalled clients dropped")
        # Before the limits, 300 such clients took a node from 103 MB to 2.4 GB.
        assert rss_mb(os.getpid()) - before < 300
    finally:
        stalled.kill()
        stalled.wait()
        # Let the node's sockets see them gone before it closes: libzmq 4.3.5 can abort
        # (session_base.cpp:233) when a socket closes with linger 0 while a peer that left
        # mid-reply is being cleaned up.
        time.sleep(1)
        node.close()
        context.destroy(linger=0)


def test_oversized_and_excess_requests(node: NodeThread) -> None:
    endpoint = node.node.settings.stream.publish
    assert endpoint is not None
    request = next_port(endpoint)
    context: Context = zmq.Context()
    try:
        big = context.socket(zmq.DEALER)
        big.linger = 0
        big.connect(request)
        big.send(b"\x80" * 200_000)
        assert not big.poll(1000)  # disconnected unread, no reply
        greedy = context.socket(zmq.DEALER)
        greedy.linger = 0
        greedy.connect(request)
        for _ in range(3):
            greedy.send(msgspec.msgpack.encode({"op": "replay", "from_seq": 0}))
        errors: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not errors:
            if greedy.poll(1000):
                reply = decode_reply(greedy.recv_multipart()[0])
                if reply.error is not None:
                    errors.append(reply.error)
        assert errors and "too many requests" in errors[0]
        [(status, _)] = list(ask(context, request, Request("status")))
        assert status.head == 59
    finally:
        node.close()
        context.destroy(linger=0)
