"""The subscriber over real loopback sockets: every message exactly once, whatever happens to
the subscriber, the publisher or the pipe between them."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import zmq
from ports import free_pair
from streamkit import NodeThread, free_endpoint, stream_settings, wait_until

from monmouth.app import build_node
from monmouth.core.errors import ConfigError
from monmouth.core.node import Node
from monmouth.core.payloads import BlockInfo
from monmouth.core.plugins import load_plugins
from monmouth.hooks import hookimpl
from monmouth.stream import Message, Subscriber
from monmouth.stream.eventlog import StreamService, Topic
from monmouth.stream.schema import Request, decode_reply
from monmouth.stream.security import next_port
from monmouth.stream.subscriber import ask

pytestmark = pytest.mark.slow

LIVE = {"interval": 0.01, "txs_per_block": 10}


def _everything(node: Node) -> list[int]:
    """The sequence numbers the node's log holds, as a replay from 0 gives them."""
    _, next_seq, _ = node.store.stream_bounds()
    return list(range(next_seq))


def _collect(sub: Subscriber, until: int, timeout: float = 30.0) -> list[Message]:
    """Messages (not heartbeats) until everything up to sequence number `until` was handled."""
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = sub.receive(0.2)
        if msg is None:
            if sub.last is not None and sub.last >= until:
                return out
            continue
        if msg.kind != "heartbeat":
            out.append(msg)
    raise TimeoutError(f"stopped at {out[-1].seq if out else None}, wanted {until}")


def test_a_killed_subscriber_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    node = NodeThread(stream_settings(tmp_path / "d", endpoint, devnet=LIVE), max_blocks=50)
    try:
        first = Subscriber(endpoint, from_height=0)
        seen: list[Message] = []
        while len(seen) < 300:
            msg = first.receive(5)
            assert msg is not None
            if msg.kind != "heartbeat":
                seen.append(msg)
        first.close()  # killed mid-block
        node.join()
        last = _everything(node.node)[-1]
        with Subscriber(endpoint, from_seq=seen[-1].seq + 1) as second:
            seen += _collect(second, last)
        seqs = [m.seq for m in seen]
        assert seqs == _everything(node.node)
        assert "gap" not in {m.kind for m in seen}
    finally:
        node.close()


def test_a_restarted_publisher_is_followed_without_loss(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    settings = stream_settings(tmp_path / "d", endpoint, devnet=LIVE)
    node = NodeThread(settings, max_blocks=20)
    sub = Subscriber(endpoint, from_height=0, request_timeout=1.0)
    try:
        seen = _collect(sub, 10)
        node.close()  # the publisher goes away mid-stream
        time.sleep(0.5)
        node = NodeThread(settings, max_blocks=20)  # same data, same endpoint
        node.join()
        seen += _collect(sub, _everything(node.node)[-1])
        seqs = [m.seq for m in seen]
        assert seqs == _everything(node.node), "every message exactly once, in order"
    finally:
        sub.close()
        node.close()


def test_messages_dropped_by_zeromq_are_replayed(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    # A tiny queue at both ends: a subscriber that does not read loses messages in ZeroMQ.
    settings = stream_settings(
        tmp_path / "d",
        endpoint,
        devnet={"txs_per_block": 30, "interval": 0.005},
        stream={"send_hwm": 20},
    )
    start = threading.Event()
    node = NodeThread(settings, max_blocks=40, start=start)
    sub = Subscriber(endpoint, receive_hwm=20)
    try:
        # The node starts once its process knows of the subscriber: until then, nobody being
        # subscribed, it sends the publisher no segment (a live subscriber joins from there).
        wait_until(lambda: bool(node.node.stream_subscriptions()), what="the subscriber known")
        start.set()
        node.join()  # not reading meanwhile
        seen = _collect(sub, _everything(node.node)[-1])
        seqs = [m.seq for m in seen]
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), "contiguous, each once"
        assert seqs[0] < seqs[-1] // 2, "it joined early and recovered what ZeroMQ dropped"
        assert sub.replays > 0
    finally:
        sub.close()
        node.close()


def test_filters_deliver_only_what_was_asked(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    node = NodeThread(stream_settings(tmp_path / "d", endpoint, devnet=LIVE), max_blocks=25)
    try:
        node.join()
        last = _everything(node.node)[-1]
        with Subscriber(endpoint, from_height=0) as all_of_it:
            everything = [m for m in _collect(all_of_it, last)]
        tx = next(m.body for m in everything if m.kind == "transaction" and m.body.status == "ok")
        payer = tx.accounts[0]
        owner_of = {m.body.pubkey: m.body.owner for m in everything if m.kind == "account"}
        program = next(o for o in owner_of.values() if o != "11111111111111111111111111111111")

        def replay(**filters: object) -> list[Message]:
            with Subscriber(endpoint, from_height=0, **filters) as sub:  # type: ignore[arg-type]
                return [m for m in _collect(sub, last) if m.kind not in ("gap",)]

        by_account = replay(accounts=[payer])
        assert by_account and {m.kind for m in by_account} == {"account"}
        assert all(m.body.pubkey == payer for m in by_account)
        assert len(by_account) == sum(
            1 for m in everything if m.kind == "account" and m.body.pubkey == payer
        )
        by_owner = replay(owners=[program])
        assert by_owner and all(m.body.owner == program for m in by_owner)
        mentions = replay(mentions=[payer])
        expected = [
            m.seq for m in everything if m.kind == "transaction" and payer in m.body.accounts
        ]
        assert [m.seq for m in mentions] == expected
        ok_only = replay(mentions=[payer], include_failed=False)
        assert {m.body.status for m in ok_only} == {"ok"}
        by_sig = replay(signatures=[tx.signature])
        assert [m.body.signature for m in by_sig] == [tx.signature]
        blocks = replay(kinds=["block"])
        assert [m.seq for m in blocks] == [m.seq for m in everything if m.kind == "block"]
    finally:
        node.close()


def test_bad_requests_get_an_error_and_the_node_goes_on(tmp_path: Path) -> None:
    # The recursion limit as py_ecc (under eth_account) sets it: there, a request nested deep
    # enough overflows the request thread's C stack unless it is refused before decoding.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        _bad_requests(tmp_path)
    finally:
        sys.setrecursionlimit(limit)


def _bad_requests(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    node = NodeThread(stream_settings(tmp_path / "d", endpoint, devnet=LIVE), max_blocks=5)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        node.join()
        sock = context.socket(zmq.DEALER)
        sock.connect(next_port(endpoint))
        # The last: params nested 60,000 deep (which used to end the request thread).
        deep = b"\x82\xa2op\xa4call\xa6params" + b"\x91" * 60_000 + b"\xc0"
        garbage_frames = ([b"\xff\x00"], [b"x", b"y"], [msgspec.msgpack.encode({"op": "drop"})])
        for garbage in (*garbage_frames, [deep]):
            sock.send_multipart(garbage)
            assert sock.poll(5000)
            reply = decode_reply(sock.recv_multipart()[0])
            assert reply.error is not None and "bad request" in reply.error
        sock.close(0)
        with pytest.raises(ValueError, match="exactly one"):
            list(ask(context, next_port(endpoint), Request("replay")))
        for negative in (
            Request("replay", from_height=-1),
            Request("replay", from_seq=-1),
            Request("replay", from_seq=0, to_seq=-5),
        ):
            with pytest.raises(ValueError, match="must be 0 or more"):
                list(ask(context, next_port(endpoint), negative))
        [(status, _)] = list(ask(context, next_port(endpoint), Request("status")))
        head = node.node.head
        assert head is not None and status.head == head.number
        assert status.last_seq == node.node.store.stream_bounds()[1] - 1
        # Still serving and publishing.
        with Subscriber(endpoint, kinds=["block"], from_height=0) as sub:
            assert _collect(sub, 0)
    finally:
        context.term()
        node.close()


def test_a_replay_older_than_the_log_reports_a_gap(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    settings = stream_settings(tmp_path / "d", endpoint, devnet=LIVE, stream={"keep_blocks": 5})
    node = NodeThread(settings, max_blocks=30)
    try:
        node.join()
        first, next_seq, first_height = node.node.store.stream_bounds()
        assert first > 0 and first_height is not None
        with Subscriber(endpoint, from_seq=0) as sub:
            got = _collect(sub, next_seq - 1)
        assert got[0].kind == "gap" and got[0].body["to_seq"] == first - 1
        assert [m.seq for m in got[1:]] == list(range(first, next_seq))
        with Subscriber(endpoint, kinds=["block"], from_height=0) as sub:
            blocks = _collect(sub, next_seq - 1)
        assert blocks[0].height == first_height  # the oldest height still stored
    finally:
        node.close()


def test_binding_beyond_loopback_needs_curve_or_consent(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="insecure-bind"):
        build_node(stream_settings(tmp_path / "d", "tcp://0.0.0.0:7799"))
    port = free_pair()  # the request socket binds the next one
    consent = stream_settings(
        tmp_path / "e", f"tcp://0.0.0.0:{port}", stream={"insecure_bind": True}
    )
    build_node(consent).close()


class Finder:
    """Publishes a finding of its own kind for every third block."""

    def __init__(self) -> None:
        self.topic: Topic | None = None

    @hookimpl
    def register_stream_topics(self, register: Callable[..., Topic]) -> None:
        self.topic = register("finding", "blocks whose number is a multiple of 3")

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        if block.number % 3 == 0 and self.topic is not None:
            self.topic.publish(block.number, {"number": block.number}, key="three")


def test_plugin_kinds_are_published_and_replayed(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    settings = stream_settings(tmp_path / "d", endpoint, devnet=LIVE)
    go = threading.Event()
    pm = load_plugins(settings, extra=[("finder", Finder())])
    node = NodeThread(settings, max_blocks=12, plugins=pm, start=go)
    live = Subscriber(endpoint, kinds=["finding"])
    try:
        events = node.node.events
        assert isinstance(events, StreamService)
        publisher = events.publisher
        assert publisher is not None
        wait_until(lambda: "finding/" in set(publisher.subscriptions), what="the subscription")
        go.set()
        node.join()
        node.node.plugins.drain()
        got = _collect(live, node.node.store.stream_bounds()[1] - 1)
        assert [m.body for m in got] == [{"number": n} for n in (0, 3, 6, 9)]
        assert all(m.topic == "finding/three/" and m.kind == "finding" for m in got)
        with Subscriber(endpoint, kinds=["finding"], from_height=0) as again:
            replayed = _collect(again, got[-1].seq)
        assert [m.seq for m in replayed] == [m.seq for m in got]
        assert all(m.replayed for m in replayed)
    finally:
        live.close()
        node.close()


def test_async_iteration(tmp_path: Path) -> None:
    import anyio

    endpoint = free_endpoint()
    node = NodeThread(stream_settings(tmp_path / "d", endpoint, devnet=LIVE), max_blocks=6)
    try:
        node.join()

        async def first_blocks() -> list[int]:
            got: list[int] = []
            with Subscriber(endpoint, kinds=["block"], from_height=0) as sub:
                async for msg in sub:
                    if msg.kind == "block":
                        got.append(msg.body.number)
                    if len(got) == 6:
                        break
            return got

        assert anyio.run(first_blocks) == list(range(6))
    finally:
        node.close()


class StateHash:
    @hookimpl
    def register_rpc_methods(self, register: Callable[..., None]) -> None:
        def state_hash(node: Node, params: object) -> dict[str, object]:
            if params != {"verbose": True}:
                raise ValueError("pass {'verbose': true}")
            return {"head": node.stats.head.number if node.stats.head else None}

        register("getStateHash", state_hash)


def test_plugin_methods_are_served_on_the_request_socket(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    settings = stream_settings(tmp_path / "d", endpoint, devnet=LIVE)
    pm = load_plugins(settings, extra=[("hash", StateHash())])
    node = NodeThread(settings, max_blocks=3, plugins=pm)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        node.join()
        request = Request("call", method="getStateHash", params={"verbose": True})
        [(_, frames)] = list(ask(context, next_port(endpoint), request))
        assert msgspec.msgpack.decode(frames[0]) == {"head": 2}
        with pytest.raises(ValueError, match="verbose"):
            list(ask(context, next_port(endpoint), Request("call", method="getStateHash")))
        with pytest.raises(ValueError, match="getStateHash"):
            list(ask(context, next_port(endpoint), Request("call", method="nope")))
    finally:
        context.term()
        node.close()
