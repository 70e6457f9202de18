"""The request socket (ROUTER): replay from the LMDB log, status, and plugins' methods.

A replay answers with the very messages that were published (same sequence numbers, same
bodies), in chunks: each reply frame is followed by its messages' (topic, header, body) frames,
and the last has `done`. A malformed request gets an error reply; nothing a client sends can
stop the node, and no client can make the others wait or the node grow without bound: what one
may cost is `RequestLimits` (docs/stream.md, "Limits").

An instance without a store (an analyzer) serves the same socket store-less: `status` (its
head, and the head of the executor it follows) and `call` (its plugins' methods), with the same
limits; `replay` and `snapshot` are refused with an error naming where to ask instead, since it
keeps no log.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
import zmq

from monmouth.core.state import Store
from monmouth.stream.schema import Reply, Request, decode_request, encode
from monmouth.stream.security import ServerCurve
from monmouth.stream.segments import Expander
from monmouth.stream.topics import PrefixSet

log = structlog.get_logger("monmouth.stream")
#: Messages per reply frame: large enough to amortise a send, small enough to interleave.
CHUNK = 512
#: Bytes of message frames per reply, whichever of the two comes first.
CHUNK_BYTES = 1 << 20
#: Replies queued for one client before it must read (libzmq counts whole multipart
#: messages): with replies of at most about CHUNK_BYTES, a client that stops reading costs
#: the node a few MB at most.
CLIENT_HWM = 4
CLIENT_SNDBUF = 256 * 1024

#: One reply to send: its frames, without the client's identity.
Frames = list[bytes]


@dataclass(frozen=True)
class RequestLimits:
    """What one client of the request socket may cost (`[stream]` settings of the same names).

    :ivar max_request_bytes: a larger request frame disconnects its client (ZeroMQ's
        MAXMSGSIZE), before it is read into memory.
    :ivar max_requests_per_client: requests of one client being answered or waiting; more are
        refused with an error reply.
    :ivar max_active_replays: replays and snapshots sent at the same time (each holds an LMDB
        read transaction); the others wait their turn.
    :ivar client_timeout: seconds a client may leave a reply unread before its requests are
        dropped.
    """

    max_request_bytes: int = 65536
    max_requests_per_client: int = 8
    max_active_replays: int = 16
    client_timeout: float = 30.0


@dataclass
class _Job:
    """A request being answered: its replies, made as they are sent."""

    replies: Iterator[Frames]
    #: Whether it reads the log or the state (and so takes one of the active slots).
    heavy: bool
    #: Whether its first reply was made (a heavy one then holds a read transaction).
    started: bool = False
    #: A reply the client's queue had no room for, sent first next time.
    pending: Frames | None = None
    #: Since when the client has had no room (monotonic seconds), None while it reads.
    blocked_since: float | None = None


class RequestServer:
    """Answers requests in its own thread, reading the store with its own read transactions.

    Requests are answered a reply at a time, round robin over clients and never blocking on
    one: a client that stops reading has its requests dropped after `client_timeout`, and
    meanwhile every other client is answered.

    :param store: the instance's state and log; None for a store-less instance (an analyzer),
        which answers `status` and `call` only (module docstring).
    :param head: the instance's head number, for every reply.
    :param upstream_head: the head of the executor this instance follows, as last heard
        (`Reply.upstream_head`); None for an executor.
    """

    def __init__(
        self,
        context: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        store: Store | None,
        *,
        head: Callable[[], int | None],
        upstream_head: Callable[[], int | None] | None = None,
        curve: ServerCurve | None = None,
        methods: Mapping[str, Callable[[Any], Any]] | None = None,
        limits: RequestLimits | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.limits = limits = limits or RequestLimits()
        self.requests = 0
        self.errors = 0
        #: Requests dropped because their client did not read in time.
        self.dropped = 0
        self._store = store
        self._head = head
        self._upstream_head = upstream_head
        #: op `call`: the methods plugins registered (`register_rpc_methods`), by name.
        self.methods = methods if methods is not None else {}
        self._jobs: dict[bytes, deque[_Job]] = {}
        self._stop = threading.Event()
        self._socket = context.socket(zmq.ROUTER)
        self._socket.linger = 0
        self._socket.maxmsgsize = limits.max_request_bytes
        self._socket.sndhwm = CLIENT_HWM
        # And the kernel's share of a client that stops reading (Linux doubles it).
        self._socket.sndbuf = CLIENT_SNDBUF
        # A full client queue or a client gone raises instead of blocking or dropping silently.
        self._socket.router_mandatory = True
        if curve is not None:
            curve.apply(self._socket)
        self._socket.bind(endpoint)
        # `close` wakes the thread through this pair: with nothing to answer it waits for a
        # request without a timeout, instead of waking (and taking the interpreter lock from
        # the node's executing thread) 50 times a second.
        wake = f"inproc://monmouth-requests-{id(self)}"
        self._wake_rx = context.socket(zmq.PAIR)
        self._wake_rx.bind(wake)
        self._wake_tx = context.socket(zmq.PAIR)
        self._wake_tx.connect(wake)
        self._thread = threading.Thread(target=self._loop, name="monmouth-requests", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        with contextlib.suppress(zmq.Again):  # a wake-up is already pending
            self._wake_tx.send(b"", zmq.NOBLOCK)
        self._thread.join(timeout=10)
        for sock in (self._wake_tx, self._wake_rx, self._socket):
            sock.close(linger=0)
        self._jobs.clear()

    # ------------------------------------------------------------------ the thread

    def _loop(self) -> None:
        sock = self._socket
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._wake_rx, zmq.POLLIN)
        while not self._stop.is_set():
            # Wait only when nothing can be sent; otherwise just look for new requests. A
            # client with no room for its reply is tried again every 20 ms (ZeroMQ tells no
            # room per client); with no request at all, wait for one (or `close`).
            busy = self._progress()
            timeout = 0 if busy else 20 if self._jobs else None
            if sock in dict(poller.poll(timeout)):
                for _ in range(64):  # bounded, so replies keep flowing under a flood
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._take(frames)

    def _take(self, frames: list[bytes]) -> None:
        """Queue one request's answer (or answer at once with an error)."""
        self.requests += 1
        ident = frames[0]
        queue = self._jobs.setdefault(ident, deque())
        if len(queue) >= self.limits.max_requests_per_client:
            self.errors += 1
            error = f"too many requests at once (at most {self.limits.max_requests_per_client})"
            queue.append(_Job(iter([[encode(Reply(0, error=error))]]), heavy=False))
            return
        try:
            if len(frames) != 2:
                raise ValueError(f"expected one request frame, got {len(frames) - 1}")
            request = decode_request(frames[1])
            queue.append(self._job(request))
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            self.errors += 1
            queue.append(_Job(iter([[encode(Reply(0, error=f"bad request: {exc}"))]]), False))

    def _progress(self) -> bool:
        """Send each client's next reply, at most one each, round robin; returns whether any
        was sent (more may follow at once)."""
        sent = False
        active = sum(1 for queue in self._jobs.values() if queue[0].heavy and queue[0].started)
        now = time.monotonic()
        for ident in list(self._jobs):
            queue = self._jobs[ident]
            job = queue[0]
            if job.pending is None:
                if job.heavy and not job.started:
                    if active >= self.limits.max_active_replays:
                        continue  # waits for a slot; it holds no read transaction yet
                    job.started = True
                    active += 1
                try:
                    job.pending = next(job.replies)
                except StopIteration:
                    self._finish(ident, queue)
                    continue
                except Exception as exc:  # never let a request stop the thread
                    self.errors += 1
                    log.exception("request failed")
                    job.replies = iter([])
                    job.pending = [encode(Reply(0, error=f"internal error: {exc}"))]
            try:
                self._socket.send_multipart([ident, *job.pending], zmq.NOBLOCK)
            except zmq.Again:
                if job.blocked_since is None:
                    job.blocked_since = now
                elif now - job.blocked_since > self.limits.client_timeout:
                    self._drop(ident, "did not read its replies in time")
                continue
            except zmq.ZMQError as exc:  # the client is gone (EHOSTUNREACH)
                self._drop(ident, str(exc))
                continue
            job.pending, job.blocked_since = None, None
            sent = True
        return sent

    def _finish(self, ident: bytes, queue: deque[_Job]) -> None:
        queue.popleft()
        if not queue:
            del self._jobs[ident]

    def _drop(self, ident: bytes, why: str) -> None:
        jobs = self._jobs.pop(ident, deque())
        self.dropped += len(jobs)
        for job in jobs:
            close = getattr(job.replies, "close", None)
            if close is not None:
                close()  # ends the generator: its read transaction is released now
        log.warning("stream client dropped", why=why, requests=len(jobs))

    # ------------------------------------------------------------------ answers

    def _job(self, request: Request) -> _Job:
        """The answer to one request; raises ValueError for a request that cannot be served."""
        store = self._store
        if store is None:
            return self._stateless(request)
        first_seq, next_seq, first_height = store.stream_bounds()
        base = Reply(
            request.id,
            first_seq=first_seq,
            first_height=first_height,
            last_seq=next_seq - 1,
            stream_id=store.stream_id,
            head=self._head(),
        )
        if request.op == "status":
            return _Job(iter([[encode(base)]]), heavy=False)
        if request.op == "snapshot":
            return _Job(self._snapshot(base), heavy=True)
        if request.op == "call":
            return self._call(request, base)
        if (request.from_seq is None) == (request.from_height is None):
            raise ValueError("replay takes exactly one of from_seq and from_height")
        for name in ("from_seq", "from_height", "to_seq"):
            if (getattr(request, name) or 0) < 0:
                raise ValueError(f"replay's {name} must be 0 or more")
        if request.from_seq is not None:
            start = request.from_seq
        else:
            assert request.from_height is not None
            found = store.stream_seq_at(request.from_height)
            start = next_seq if found is None else found
        last = next_seq - 1 if request.to_seq is None else min(request.to_seq, next_seq - 1)
        # What is older than the log's start is gone: the reply's first_seq says so.
        start = max(start, first_seq)
        return _Job(self._replay(request, base, start, last), heavy=True)

    def _call(self, request: Request, base: Reply) -> _Job:
        """Op `call`: a plugin's method, answered from this thread (it reads what the plugin
        keeps; a method that raises TypeError or ValueError gets an error reply)."""
        method = self.methods.get(request.method or "")
        if method is None:
            known = ", ".join(sorted(self.methods)) or "none"
            raise ValueError(f"no method {request.method!r} (registered: {known})")
        try:
            result = encode(method(request.params))
        except (TypeError, ValueError) as exc:
            error = msgspec.structs.replace(base, error=str(exc))
            return _Job(iter([[encode(error)]]), heavy=False)
        return _Job(iter([[encode(base), result]]), heavy=False)

    def _stateless(self, request: Request) -> _Job:
        """The answer of an instance without a store: `status` and `call` only."""
        upstream = self._upstream_head
        base = Reply(
            request.id,
            head=self._head(),
            upstream_head=None if upstream is None else upstream(),
        )
        if request.op == "status":
            return _Job(iter([[encode(base)]]), heavy=False)
        if request.op == "call":
            return self._call(request, base)
        raise ValueError(
            f"{request.op} needs a stream log, and this instance keeps none (an analyzer): "
            "ask the executor it follows"
        )

    def _snapshot(self, base: Reply) -> Iterator[Frames]:
        assert self._store is not None
        frames: Frames = []
        size = 0
        for key, value in self._store.snapshot():
            frames += (key, value)
            size += len(value)
            if len(frames) >= 2 * CHUNK or size >= CHUNK_BYTES:
                yield [encode(msgspec.structs.replace(base, done=False)), *frames]
                frames, size = [], 0
        yield [encode(base), *frames]

    def _replay(self, request: Request, base: Reply, start: int, last: int) -> Iterator[Frames]:
        wanted = PrefixSet(request.topics) if request.topics else None
        expander = Expander(wanted)
        frames: Frames = []
        count = size = 0
        assert self._store is not None
        for seq, segment in self._store.segments(start, last):
            messages, _ = expander.expand(seq, segment)
            for msg in messages:
                if msg.seq < start or msg.seq > last:
                    continue
                frames += (msg.topics[0], msg.header, msg.body)
                count += 1
                size += len(msg.body)
                if count == CHUNK or size >= CHUNK_BYTES:
                    reply = msgspec.structs.replace(base, done=False, last_seq=last)
                    yield [encode(reply), *frames]
                    frames, count, size = [], 0, 0
        reply = msgspec.structs.replace(base, done=True, last_seq=last)
        yield [encode(reply), *frames]
