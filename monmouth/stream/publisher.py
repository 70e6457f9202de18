"""The live publisher: an XPUB socket in its own thread, fed segments in sequence order.

The node hands over each segment after its LMDB commit (`submit`); the thread expands it for
the prefixes subscribed right now (learnt from the XPUB socket), so a topic nobody subscribed to
is never formatted or encoded, and seals it with the per-prefix counts. Between segments it
sends a heartbeat each interval.

The node runs it in a child process (`monmouth.stream.publisher_process`), so that the formatting
does not hold the node's interpreter lock; `on_subscription` and `count` let the child report to it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import structlog
import zmq
import zmq.backend

from monmouth.core.records import Segment
from monmouth.core.telemetry import STREAM_MESSAGES
from monmouth.stream.schema import (
    STREAM_VERSION,
    AlertBody,
    Header,
    HeartbeatBody,
    encode,
)
from monmouth.stream.security import ServerCurve
from monmouth.stream.segments import Expander
from monmouth.stream.topics import PrefixSet

_RECENT = 16
#: The socket's own send, beneath pyzmq's Python wrapper (which looks for routing ids and
#: groups, which an XPUB socket never has), with the flag as a plain int: a message of three
#: frames costs a third of `send_multipart`'s time this way (0.9 against 3.3 µs, measured),
#: and the publisher sends one per message a subscriber takes.
_send = zmq.backend.Socket.send
_MORE = int(zmq.SNDMORE)
log = structlog.get_logger("monmouth.stream")


def count_sent(kind: str, messages: int) -> None:
    """Count `messages` sent of `kind` in this process's `monmouth_stream_messages`."""
    STREAM_MESSAGES.add(messages, {"kind": kind})


@dataclass(frozen=True, slots=True)
class Head:
    """What heartbeats report about the instance's state."""

    height: int | None
    hash: str | None
    state_hash: str | None
    first_height: int | None = None


class SubscriptionLimits(msgspec.Struct, frozen=True, array_like=True):
    """What subscribers may cost the publisher (`[stream] max_subscription_bytes` and
    `max_subscriptions`).

    :ivar max_bytes: a subscription message longer than this disconnects its subscriber
        (ZeroMQ's MAXMSGSIZE on the XPUB socket), before it reaches memory.
    :ivar max_count: distinct prefixes tracked for filtering; more are logged and ignored here
        (their subscribers still receive what ZeroMQ's own filter passes).
    """

    max_bytes: int = 1024
    max_count: int = 100_000


DEFAULT_LIMITS = SubscriptionLimits()


class Publisher:
    """Publishes one instance's messages. `submit`, `set_head` and `send_alert` are
    thread-safe.

    :param on_subscription: called from the thread with a prefix and whether it was subscribed
        (True) or its last subscriber left (False), once `subscriptions` has it so.
    :param count: called from the thread with a kind and how many messages of it were sent
        (default: this process's `monmouth_stream_messages`).
    """

    def __init__(
        self,
        context: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        *,
        instance: str,
        role: str,
        stream_id: str,
        last_seq: int,
        curve: ServerCurve | None = None,
        heartbeat_interval: float = 1.0,
        send_hwm: int = 200_000,
        first_height: Callable[[], int | None] = lambda: None,
        on_subscription: Callable[[str, bool], None] = lambda prefix, added: None,
        count: Callable[[str, int], None] = count_sent,
        limits: SubscriptionLimits = DEFAULT_LIMITS,
    ) -> None:
        self.endpoint = endpoint
        self.instance = instance
        self.role = role
        self.stream_id = stream_id
        self.heartbeat_interval = heartbeat_interval
        self.subscriptions = PrefixSet()
        #: The last logged message sent (heartbeats report it).
        self.last_seq = last_seq
        self.messages_sent = 0
        self._first_height = first_height
        self._on_subscription = on_subscription
        self._count = count
        self._context = context
        self._head = Head(None, None, None)
        self._recent: deque[tuple[int, str]] = deque(maxlen=_RECENT)
        #: Segments (a count alone: skipped, `skip`) and alerts, in the order submitted.
        self._queue: deque[tuple[int, Segment | int] | AlertBody] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next_beat = time.monotonic()
        self._socket = context.socket(zmq.XPUB)
        # On close, what is queued still goes out to connected subscribers for a moment.
        self._socket.linger = 2000
        # Room for bursts (a big block is many messages); a subscriber slower than this loses
        # messages, finds the gap from the seal counts, and replays them.
        self._socket.sndhwm = send_hwm
        # A subscription is a message too: 1 byte of (un)subscribe plus the prefix.
        self._socket.maxmsgsize = limits.max_bytes + 1
        self.limits = limits
        self._over_limit = False
        if curve is not None:
            curve.apply(self._socket)
        self._socket.bind(endpoint)
        self._wake_addr = f"inproc://monmouth-publisher-{id(self)}"
        self._wake_rx = context.socket(zmq.PAIR)
        self._wake_rx.bind(self._wake_addr)
        self._wake_tx = context.socket(zmq.PAIR)
        self._wake_tx.connect(self._wake_addr)
        self._thread = threading.Thread(target=self._loop, name="monmouth-publisher", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producer side

    def _wake(self) -> None:
        with contextlib.suppress(zmq.Again):  # a wake-up is already pending
            self._wake_tx.send(b"", zmq.NOBLOCK)

    def submit(self, seq: int, segment: Segment) -> None:
        """Queue a committed segment; callers submit in sequence order."""
        with self._lock:
            self._queue.append((seq, segment))
            self._wake()

    def skip(self, seq: int, count: int) -> None:
        """A committed segment of `count` messages from `seq` that is not sent (nobody was
        subscribed when it was submitted): heartbeats count it as sent."""
        with self._lock:
            self._queue.append((seq, count))
            self._wake()

    def set_head(self, height: int | None, hash_: str | None, state_hash: str | None) -> None:
        """The instance's new head, for heartbeats (after a commit or a revert)."""
        with self._lock:
            while self._recent and height is not None and self._recent[-1][0] >= height:
                self._recent.pop()
            if height is not None and state_hash is not None:
                self._recent.append((height, state_hash))
            self._head = Head(height, hash_, state_hash)

    def send_alert(self, body: AlertBody) -> None:
        """Publish an alert (kind `alert`, topic `alert/SEVERITY/`); the instance that raised
        it has logged it (`PublisherProcess.alert`)."""
        with self._lock:
            self._queue.append(body)
            self._wake()

    def close(self) -> None:
        """Send what is queued, then stop. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        with self._lock:
            self._wake()
        self._thread.join(timeout=10)
        for sock in (self._wake_tx, self._wake_rx):
            sock.close(linger=0)
        self._socket.close()

    # ------------------------------------------------------------------ the thread

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._wake_rx, zmq.POLLIN)
        while True:
            timeout = max(0.0, self._next_beat - time.monotonic())
            events = dict(poller.poll(int(timeout * 1000)))
            if self._socket in events:
                self._read_subscriptions()
            if self._wake_rx in events:
                while True:
                    try:
                        self._wake_rx.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
            self._drain()
            self._beat_if_due()
            if self._stop.is_set():
                self._drain()
                return

    def _read_subscriptions(self) -> None:
        while True:
            try:
                raw = self._socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not raw:
                continue
            prefix = raw[1:].decode(errors="replace")
            if raw[0] == 1:
                if len(self.subscriptions) >= self.limits.max_count:
                    if not self._over_limit:
                        log.warning(
                            "too many stream subscriptions: more are not tracked",
                            limit=self.limits.max_count,
                        )
                        self._over_limit = True
                    continue
                self.subscriptions.add(prefix)
                self._on_subscription(prefix, True)
            elif raw[0] == 0:
                self.subscriptions.discard(prefix)
                self._on_subscription(prefix, False)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                item = self._queue.popleft()
            # Subscriptions that arrived meanwhile count from the next segment on.
            self._read_subscriptions()
            if isinstance(item, AlertBody):
                self._send_ephemeral("alert", f"alert/{item.severity}/", item)
                continue
            seq, segment = item
            if isinstance(segment, int):
                self.last_seq = seq + segment - 1
            else:
                if self.subscriptions:
                    self._send_segment(seq, segment)
                self.last_seq = seq + segment.count - 1
            # A long backlog must not silence the heartbeat: a monitor would call us dead.
            self._beat_if_due()

    def _send_segment(self, seq: int, segment: Segment) -> None:
        """Send the messages of `segment` somebody wants, each as (topic, header, body)."""
        messages, _ = Expander(self.subscriptions).messages(seq, segment)
        sock, send, more = self._socket, _send, _MORE
        sent: dict[str, int] = {}
        for _, kind, topics, header, body in messages:
            for topic in topics:
                send(sock, topic, more)
                send(sock, header, more)
                send(sock, body)
            sent[kind] = sent.get(kind, 0) + len(topics)
        for kind, count in sent.items():
            self.messages_sent += count
            self._count(kind, count)

    def _beat_if_due(self) -> None:
        if time.monotonic() >= self._next_beat:
            self._heartbeat()
            self._next_beat = time.monotonic() + self.heartbeat_interval

    def _send_ephemeral(self, kind: str, topic: str, body: object) -> None:
        if not self.subscriptions.matching(topic):
            return
        head = self._head
        height = -1 if head.height is None else head.height
        header = encode(Header(STREAM_VERSION, self.last_seq, kind, height))
        self._socket.send_multipart((topic.encode(), header, encode(body)))
        self.messages_sent += 1
        self._count(kind, 1)

    def _heartbeat(self) -> None:
        with self._lock:
            head, recent = self._head, list(self._recent)
        try:
            first_height = self._first_height()
        except Exception:  # a store closing under us: the heartbeat goes without it
            first_height = None
        body = HeartbeatBody(
            instance=self.instance,
            role=self.role,
            stream_id=self.stream_id,
            head=head.height,
            head_hash=head.hash,
            state_hash=head.state_hash,
            last_seq=self.last_seq,
            first_height=first_height,
            recent=recent,
            time=time.time(),
        )
        self._send_ephemeral("heartbeat", f"heartbeat/{self.instance}/", body)
