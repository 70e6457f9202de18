"""The request socket (ROUTER): replay from the LMDB log, and status.

A replay answers with the very messages that were published (same sequence numbers, same
bodies), in chunks: each reply frame is followed by its messages' (topic, header, body) frames,
and the last has `done`. A malformed request gets an error reply; nothing a client sends can
stop the node.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
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


class RequestServer:
    """Answers requests in its own thread, reading the store with its own read transactions."""

    def __init__(
        self,
        context: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        store: Store,
        *,
        head: Callable[[], int | None],
        curve: ServerCurve | None = None,
        methods: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.requests = 0
        self.errors = 0
        self._store = store
        self._head = head
        #: op `call`: the methods plugins registered (`register_rpc_methods`), by name.
        self.methods = methods if methods is not None else {}
        self._stop = threading.Event()
        self._socket = context.socket(zmq.ROUTER)
        self._socket.linger = 0
        # A client that stops reading fails its replay after this, instead of blocking others.
        self._socket.sndtimeo = 10_000
        self._socket.router_mandatory = True
        if curve is not None:
            curve.apply(self._socket)
        self._socket.bind(endpoint)
        self._thread = threading.Thread(target=self._loop, name="monmouth-requests", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self._socket.close(linger=0)

    def _loop(self) -> None:
        sock = self._socket
        while not self._stop.is_set():
            if not sock.poll(100):
                continue
            frames = sock.recv_multipart()
            self.requests += 1
            ident = frames[0]
            try:
                if len(frames) != 2:
                    raise ValueError(f"expected one request frame, got {len(frames) - 1}")
                request = decode_request(frames[1])
                self._answer(ident, request)
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                self.errors += 1
                self._send(ident, [encode(Reply(0, error=f"bad request: {exc}"))])
            except zmq.ZMQError as exc:
                self.errors += 1
                log.warning("request abandoned", error=str(exc))
            except Exception as exc:  # never let a request stop the thread
                self.errors += 1
                log.exception("request failed")
                self._send(ident, [encode(Reply(0, error=f"internal error: {exc}"))])

    def _send(self, ident: bytes, frames: list[bytes]) -> None:
        try:
            self._socket.send_multipart([ident, *frames])
        except zmq.ZMQError as exc:
            log.warning("reply not delivered", error=str(exc))

    def _snapshot(self, ident: bytes, base: Reply) -> None:
        frames: list[bytes] = []
        for key, value in self._store.snapshot():
            frames += (key, value)
            if len(frames) >= 2 * CHUNK * 8:
                reply = msgspec.structs.replace(base, done=False)
                self._socket.send_multipart([ident, encode(reply), *frames])
                frames = []
        self._socket.send_multipart([ident, encode(base), *frames])

    def _answer(self, ident: bytes, request: Request) -> None:
        store = self._store
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
            self._send(ident, [encode(base)])
            return
        if request.op == "snapshot":
            self._snapshot(ident, base)
            return
        if request.op == "call":
            method = self.methods.get(request.method or "")
            if method is None:
                known = ", ".join(sorted(self.methods)) or "none"
                raise ValueError(f"no method {request.method!r} (registered: {known})")
            try:
                result = encode(method(request.params))
            except (TypeError, ValueError) as exc:
                self._send(ident, [encode(msgspec.structs.replace(base, error=str(exc)))])
                return
            self._send(ident, [encode(base), result])
            return
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
        wanted = PrefixSet(request.topics) if request.topics else None
        expander = Expander(wanted)
        frames: list[bytes] = []
        count = 0
        for seq, segment in store.segments(start, last):
            messages, _ = expander.expand(seq, segment)
            for msg in messages:
                if msg.seq < start or msg.seq > last:
                    continue
                frames += (msg.topics[0], msg.header, msg.body)
                count += 1
                if count == CHUNK:
                    reply = msgspec.structs.replace(base, done=False, last_seq=last)
                    self._socket.send_multipart([ident, encode(reply), *frames])
                    frames, count = [], 0
        reply = msgspec.structs.replace(base, done=True, last_seq=last)
        self._socket.send_multipart([ident, encode(reply), *frames])
