"""The client library: every message once, in order, whatever the network and the publisher do.

How it keeps that promise:

- It always listens to the control kinds (blocks, slots, reverts, seals, heartbeats), which
  close every segment of the log with a seal. A seal says where its segment starts and how many
  of its messages fell under each subscribed prefix; a subscriber that holds fewer under one of
  its own, or sees a segment start past the last one it closed, asks the request socket to
  replay exactly the missing sequence numbers.
- A heartbeat says the last message published: anything short of it is replayed, so a stream
  never stops silently after a lost tail.
- Sequence numbers are durable at the publisher, so after a publisher restart the numbering
  goes on and the same mechanism fills what was missed. ZeroMQ reconnects by itself (with
  back-off); a replay that fails is retried with back-off, never in a tight loop.
- Copies of one message (sent under several topics) and replayed messages already seen are
  dropped by sequence number.
- What can no longer be replayed (pruned at the publisher) is reported as a message of kind
  `gap`, never skipped silently.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import msgspec
import structlog
import zmq

from monmouth.stream.schema import (
    CONTROL_PREFIXES,
    EPHEMERAL_KINDS,
    HeartbeatBody,
    Reply,
    Request,
    Seal,
    decode_body,
    decode_header,
    decode_reply,
    encode,
)
from monmouth.stream.security import ClientCurve, next_port
from monmouth.stream.topics import PrefixSet, filter_prefixes

log = structlog.get_logger("monmouth.stream")
DEFAULT_ENDPOINT = "tcp://127.0.0.1:7700"


@dataclass(frozen=True, slots=True)
class Message:
    """One message as delivered.

    :ivar seq: the publisher's sequence number (for `gap`, the first one missing).
    :ivar height: the L1 block it is about (the head, for heartbeats and alerts).
    :ivar topic: the topic it arrived under that matched a filter.
    :ivar body: the kind's struct (`monmouth.stream.schema`), or plain values for plugin kinds
        and for `gap` (`{"from_seq", "to_seq", "reason"}`).
    :ivar replayed: it came from the request socket, not the live stream.
    """

    seq: int
    kind: str
    height: int
    topic: str
    body: Any
    replayed: bool = False


class ReplayUnavailable(Exception):
    """The request socket did not answer in time."""


class _Stopped(Exception):
    """The stop event was set while a replay was being retried."""


@dataclass(slots=True)
class _Pending:
    kind: str
    height: int
    body: bytes
    topics: set[str] = field(default_factory=set)


class Subscriber:
    """Subscribe to one publisher. Iterate (or `async for`) to receive; `close` when done.

    With no filter it receives every message. Filters add up (any match delivers):

    :param kinds: whole kinds, such as `block`, `transaction` or a plugin's kind.
    :param accounts: updates of these accounts (base58).
    :param owners: updates of accounts owned by these programs.
    :param signatures: these transactions.
    :param mentions: transactions naming these accounts.
    :param include_failed: whether `signatures` and `mentions` include failed and rejected ones.
    :param topics: raw topic prefixes (see `docs/stream.md`).
    :param from_height: first replay the canonical blocks from this height, then go live.
    :param from_seq: first replay from this sequence number (a resume: the last seen + 1).
    :param request_endpoint: the publisher's request socket (default: the next port).
    :param curve: keys, when the publisher requires CURVE.
    :param receive_hwm: messages ZeroMQ holds for this subscriber before dropping.
    :param stop: when set, `receive` returns None instead of retrying an unavailable replay.
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        kinds: Iterable[str] = (),
        accounts: Iterable[str] = (),
        owners: Iterable[str] = (),
        signatures: Iterable[str] = (),
        mentions: Iterable[str] = (),
        include_failed: bool = True,
        topics: Iterable[str] = (),
        from_height: int | None = None,
        from_seq: int | None = None,
        request_endpoint: str | None = None,
        curve: ClientCurve | None = None,
        request_timeout: float = 5.0,
        silence_timeout: float = 5.0,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        stop: threading.Event | None = None,
        receive_hwm: int = 200_000,
    ) -> None:
        if from_height is not None and from_seq is not None:
            raise ValueError("give from_height or from_seq, not both")
        user = filter_prefixes(
            kinds=kinds,
            accounts=accounts,
            owners=owners,
            signatures=signatures,
            mentions=mentions,
            include_failed=include_failed,
        )
        user += [t for t in topics if t not in user]
        self.endpoint = endpoint
        self.request_endpoint = request_endpoint or next_port(endpoint)
        self.request_timeout = request_timeout
        self.silence_timeout = silence_timeout
        self.wanted = PrefixSet(user or [""])
        self.prefixes = PrefixSet([*(user or [""]), *CONTROL_PREFIXES])
        #: Every logged message up to here was delivered (or was not wanted); None: not started.
        self.last: int | None = None
        self.stream_id: str | None = None
        self.replays = 0
        self.duplicates = 0
        self._curve = curve
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._pending: dict[int, _Pending] = {}
        self._ready: deque[Message] = deque()
        self._last_heard = time.monotonic()
        self._silent_logged = False
        self._closed = False
        self._sub = self._context.socket(zmq.SUB)
        self._sub.linger = 0
        self._sub.rcvhwm = receive_hwm
        self._sub.reconnect_ivl = 100
        self._sub.reconnect_ivl_max = 2_000
        if curve is not None:
            curve.apply(self._sub)
        for prefix in self.prefixes:
            self._sub.subscribe(prefix.encode())
        self._sub.connect(endpoint)
        self._stop = stop
        # The resume replay runs on the first receive, so a constructor never blocks.
        self._resume: tuple[int | None, int | None] | None = (
            None if from_seq is None and from_height is None else (from_seq, from_height)
        )

    # ------------------------------------------------------------------ public

    def receive(self, timeout: float | None = None) -> Message | None:
        """The next message, or None when none came within `timeout` seconds (None: wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            if self._resume is not None:
                from_seq, from_height = self._resume
                self._replay(from_seq=from_seq, from_height=from_height)
                self._resume = None
        except _Stopped:
            return None
        while not self._ready:
            if self._closed:
                raise RuntimeError("the subscriber is closed")
            wait = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
            if wait <= 0:
                return None
            try:
                self._pump(wait)
            except _Stopped:
                return None
        return self._ready.popleft()

    def __iter__(self) -> Iterator[Message]:
        while True:
            msg = self.receive()
            assert msg is not None
            yield msg

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            # Short waits in a worker thread keep the event loop free and cancellation prompt.
            msg = await anyio.to_thread.run_sync(self.receive, 0.2)
            if msg is not None:
                yield msg

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sub.close(linger=0)
        if self._own_context:
            self._context.term()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ live messages

    def _pump(self, timeout: float) -> None:
        if not self._sub.poll(int(timeout * 1000)):
            silent = time.monotonic() - self._last_heard
            if silent > self.silence_timeout and not self._silent_logged:
                self._silent_logged = True
                log.warning("publisher silent", endpoint=self.endpoint, seconds=round(silent, 1))
            return
        for _ in range(10_000):
            try:
                frames = self._sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._last_heard = time.monotonic()
            self._silent_logged = False
            if len(frames) != 3:
                log.warning("malformed stream message", frames=len(frames))
                continue
            self._on_message(frames[0].decode(errors="replace"), frames[1], frames[2])

    def _on_message(self, topic: str, raw_header: bytes, body: bytes) -> None:
        header = decode_header(raw_header)
        if header.kind in EPHEMERAL_KINDS:
            decoded = decode_body(header.kind, body)
            if header.kind == "heartbeat":
                self._on_heartbeat(decoded)
            if self.wanted.matching(topic):
                self._ready.append(Message(header.seq, header.kind, header.height, topic, decoded))
            return
        if self.last is not None and header.seq <= self.last:
            self.duplicates += 1
            return
        pending = self._pending.get(header.seq)
        if pending is None:
            pending = self._pending[header.seq] = _Pending(header.kind, header.height, body)
        pending.topics.add(topic)
        if header.seal is not None:
            self._on_seal(header.seq, header.seal)

    def _on_seal(self, seq: int, seal: Seal) -> None:
        if self.last is None:
            self.last = seal.first - 1  # joining live: this segment is the first
        if seal.first > self.last + 1:
            self._replay(from_seq=self.last + 1, to_seq=seal.first - 1)
        if self.last >= seq:
            return  # the replay covered this segment
        held = {s: p for s, p in self._pending.items() if seal.first <= s <= seq}
        for prefix in self.prefixes:
            got = sum(1 for p in held.values() if any(t.startswith(prefix) for t in p.topics))
            if got != seal.counts.get(prefix, 0):
                log.info("stream gap", prefix=prefix, got=got, sent=seal.counts.get(prefix, 0))
                self._replay(from_seq=seal.first, to_seq=seq)
                return
        for s in sorted(held):
            p = self._pending.pop(s)
            self._deliver(s, p.kind, p.height, p.topics, p.body, replayed=False)
        self.last = seq
        self._drop_pending()

    def _on_heartbeat(self, beat: HeartbeatBody) -> None:
        if self.stream_id is None:
            self.stream_id = beat.stream_id
        elif beat.stream_id != self.stream_id:
            # Another history (a new data directory): numbering restarted, nothing to replay.
            log.warning("publisher stream changed", old=self.stream_id, new=beat.stream_id)
            self._ready.append(
                Message(
                    beat.last_seq,
                    "gap",
                    -1,
                    "gap/",
                    {"from_seq": self.last, "to_seq": None, "reason": "stream changed"},
                )
            )
            self.stream_id = beat.stream_id
            self._pending.clear()
            self.last = beat.last_seq
            return
        if self.last is None:
            self.last = beat.last_seq  # joining live from here
            self._drop_pending()
        elif beat.last_seq > self.last:
            # Everything up to last_seq was sent before this heartbeat: the rest was lost.
            self._replay(from_seq=self.last + 1, to_seq=beat.last_seq)

    def _drop_pending(self) -> None:
        last = self.last
        if last is not None:
            for s in [s for s in self._pending if s <= last]:
                del self._pending[s]

    def _deliver(
        self,
        seq: int,
        kind: str,
        height: int,
        topics: Iterable[str],
        body: bytes,
        *,
        replayed: bool,
    ) -> None:
        for topic in sorted(topics):
            if self.wanted.matching(topic):
                self._ready.append(
                    Message(seq, kind, height, topic, decode_body(kind, body), replayed)
                )
                return

    # ------------------------------------------------------------------ replay

    def _replay(
        self,
        *,
        from_seq: int | None = None,
        from_height: int | None = None,
        to_seq: int | None = None,
    ) -> None:
        """Fetch and deliver a range from the request socket, retrying with back-off."""
        delay = 0.2
        while True:
            try:
                self._replay_once(from_seq, from_height, to_seq)
                self.replays += 1
                return
            except ReplayUnavailable:
                if self._closed or (self._stop is not None and self._stop.is_set()):
                    raise _Stopped from None
                log.warning(
                    "replay unavailable, retrying",
                    endpoint=self.request_endpoint,
                    from_seq=from_seq,
                    retry_in=delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _replay_once(
        self, from_seq: int | None, from_height: int | None, to_seq: int | None
    ) -> None:
        request = Request(
            "replay",
            from_seq=from_seq,
            from_height=from_height,
            to_seq=to_seq,
            topics=list(self.prefixes),
        )
        frames_in: list[tuple[str, bytes, bytes]] = []
        replies = []
        for reply, body in ask(
            self._context, self.request_endpoint, request, self._curve, self.request_timeout
        ):
            replies.append(reply)
            for i in range(0, len(body) - 2, 3):
                frames_in.append((body[i].decode(), body[i + 1], body[i + 2]))
        self._apply_replay(replies[0], replies[-1], frames_in, from_seq)

    def _apply_replay(
        self,
        first: Reply,
        done: Reply,
        frames: list[tuple[str, bytes, bytes]],
        from_seq: int | None,
    ) -> None:
        if self.stream_id is None:
            self.stream_id = first.stream_id
        if (
            from_seq is not None
            and first.first_seq > from_seq
            and (self.last is None or first.first_seq > self.last + 1)
        ):
            self._ready.append(
                Message(
                    from_seq,
                    "gap",
                    -1,
                    "gap/",
                    {
                        "from_seq": from_seq,
                        "to_seq": first.first_seq - 1,
                        "reason": "no longer stored at the publisher",
                    },
                )
            )
        for topic, raw_header, body in frames:
            header = decode_header(raw_header)
            if self.last is not None and header.seq <= self.last:
                self.duplicates += 1
                continue
            self._deliver(header.seq, header.kind, header.height, (topic,), body, replayed=True)
            self.last = header.seq
        if self.last is None or done.last_seq > self.last:
            self.last = done.last_seq
        self._drop_pending()


_request_ids = itertools.count(1)


def ask(
    context: zmq.Context[zmq.Socket[bytes]],
    endpoint: str,
    request: Request,
    curve: ClientCurve | None = None,
    timeout: float = 5.0,
) -> Generator[tuple[Reply, list[bytes]], None, None]:
    """Send one request to a request socket and yield its reply frames with their data frames,
    until the one marked done. A fresh socket each time, so a late answer to an abandoned
    request never mixes in.

    Raises ReplayUnavailable when an answer takes longer than `timeout`, and ValueError when
    the server refuses the request.
    """
    request = msgspec.structs.replace(request, id=next(_request_ids))
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.identity = os.urandom(8)
    if curve is not None:
        curve.apply(sock)
    sock.connect(endpoint)
    try:
        sent = encode(request)
        sock.send(sent)
        while True:
            if not sock.poll(int(timeout * 1000)):
                raise ReplayUnavailable(f"no answer from {endpoint} within {timeout} s")
            frames = sock.recv_multipart()
            if frames == [sent]:
                # TCP connected the socket to itself (its own port was the one asked for,
                # which nothing listens on): what came back is the request.
                raise ReplayUnavailable(f"nothing answers at {endpoint}")
            reply = decode_reply(frames[0])
            if reply.error is not None:
                raise ValueError(f"{endpoint} refused the request: {reply.error}")
            if reply.id != request.id:
                continue
            yield reply, frames[1:]
            if reply.done:
                return
    finally:
        sock.close(linger=0)
