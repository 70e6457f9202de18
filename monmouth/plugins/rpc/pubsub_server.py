"""PubSub's WebSocket endpoint: connections, their backlogs and limits (subscriptions are
`pubsub.Notifier`'s).

The protocol (RFC 6455: handshake, framing, masking, fragmentation, UTF-8, close handshake,
pings) is the `websockets` library's sans-I/O core on asyncio, already a dependency of the
node (`core/ethrpc.py`), rather than a second implementation here. What it gives for bounded
memory and backpressure: `max_size` caps an incoming message, `max_queue` the incoming frames
buffered, `write_limit` the bytes in the socket's write buffer before `send` waits; compression
is off (a deflate context per connection costs hundreds of KiB).

Each connection has one bounded backlog (messages and bytes, `[plugins.rpc]
pubsub_max_backlog`, `pubsub_max_backlog_bytes`) that the notifier appends to without ever
waiting, and one task that drains it into the socket. A client that does not read fills its
backlog and is closed with 1008 (policy violation) and its backlog dropped; the notifier, the
node and the other connections never wait for it. A connection over the limits of
connections per node is refused during the handshake with HTTP 503; pings every
`pubsub_ping_interval` seconds reap dead peers; a plain-text `ping` (as @solana/kit sends)
is answered `pong`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from monmouth.plugins.rpc.errors import INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR, RpcError
from monmouth.plugins.rpc.pubsub import Notifier

__all__ = ["Connection", "PubSubLimits", "start_pubsub"]

log = structlog.get_logger("monmouth.rpc.pubsub")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
#: What the socket's write buffer may hold before `send` waits (the backlog takes the rest).
WRITE_LIMIT = 64 * 1024
#: The most messages one write to the socket takes.
WRITE_BATCH = 256
#: Incoming frames buffered per connection before reading from the socket stops.
MAX_QUEUE = 16
#: Seconds a closing handshake may take before the TCP connection is aborted.
CLOSE_TIMEOUT = 2.0
#: Close code for a client whose backlog overflowed (RFC 6455: policy violation).
SLOW_CLIENT = 1008


@dataclass(frozen=True, slots=True)
class PubSubLimits:
    """The `[plugins.rpc] pubsub_*` limits."""

    max_connections: int
    max_backlog: int
    max_backlog_bytes: int
    max_message_bytes: int
    ping_interval: float


class Connection:
    """One client: its backlog and the task that writes it (a `pubsub.Sink`)."""

    def __init__(self, ws: ServerConnection, limits: PubSubLimits) -> None:
        self.ws = ws
        self.limits = limits
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.ready = asyncio.Event()
        #: Set while the backlog is under half its limit: the reader waits for it before it
        #: takes the next request, so a client that floods requests is slowed, not cut off.
        self.room = asyncio.Event()
        self.room.set()
        self.closing = False
        self.sent = 0

    def full(self) -> bool:
        return len(self.queue) >= self.limits.max_backlog // 2

    def push(self, message: bytes, *, answer: bool = False) -> None:
        """Queue one text message; a full backlog closes the connection instead of waiting.

        `answer`: the answer to the client's own request, which counts against the bytes but
        not the messages (the reader stops reading requests instead, `room`)."""
        if self.closing:
            return
        transport = self.ws.transport
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        over_count = not answer and len(self.queue) >= self.limits.max_backlog
        over_bytes = self.queued_bytes + len(message) + buffered > self.limits.max_backlog_bytes
        if over_count or over_bytes:
            self.overflow()
            return
        self.queue.append(message)
        self.queued_bytes += len(message)
        self.ready.set()

    def overflow(self) -> None:
        self.closing = True
        log.warning(
            "pubsub client too slow, disconnected",
            peer=str(self.ws.remote_address),
            backlog=len(self.queue),
            backlog_bytes=self.queued_bytes,
        )
        self.queue.clear()
        self.queued_bytes = 0
        self.ready.set()
        self.room.set()
        asyncio.get_running_loop().create_task(
            self.ws.close(SLOW_CLIENT, "backlog over the limit: the client does not read")
        )

    async def write(self) -> None:
        """Drain the backlog into the socket until the connection closes.

        Everything queued goes out as one batch: its frames made by the protocol, then one
        write to the socket (a `send` per message, a system call each, costs more than the
        message); `send_context` (websockets' documented way to drive the protocol) checks
        the connection is open and waits while the socket's buffer is over `WRITE_LIMIT`."""
        protocol = self.ws.protocol
        while not self.closing:
            if not self.queue:
                self.ready.clear()
                await self.ready.wait()
                continue
            async with self.ws.send_context():
                for _ in range(min(len(self.queue), WRITE_BATCH)):
                    message = self.queue.popleft()
                    self.queued_bytes -= len(message)
                    protocol.send_text(message)
                    self.sent += 1
                chunks = protocol.data_to_send()
                transport = self.ws.transport
                if all(chunks):
                    transport.write(b"".join(chunks))
                else:  # an empty chunk asks for the end of the stream, as `send_data` does
                    for chunk in chunks:
                        if chunk:
                            transport.write(chunk)
                        elif transport.can_write_eof():
                            transport.write_eof()
                        else:
                            transport.close()
            if not self.full():
                self.room.set()


class _Endpoint:
    def __init__(self, notifier: Notifier, limits: PubSubLimits) -> None:
        self.notifier = notifier
        self.limits = limits
        self.connections: set[Connection] = set()

    def admit(self, ws: ServerConnection, request: Request) -> Response | None:
        if len(self.connections) >= self.limits.max_connections:
            return Response(
                503,
                "Service Unavailable",
                Headers({"Content-Type": "text/plain", "Connection": "close"}),
                b"too many PubSub connections ([plugins.rpc] pubsub_max_connections)\n",
            )
        return None

    async def handle(self, ws: ServerConnection) -> None:
        conn = Connection(ws, self.limits)
        self.connections.add(conn)
        writer = asyncio.get_running_loop().create_task(conn.write())
        try:
            async for message in ws:
                if conn.closing:
                    break
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                self.answer(conn, text)
                if conn.full():
                    conn.room.clear()
                    await conn.room.wait()
        except ConnectionClosed:
            pass
        finally:
            conn.closing = True
            conn.ready.set()
            self.connections.discard(conn)
            self.notifier.drop(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await writer

    def answer(self, conn: Connection, text: str) -> None:
        if text.strip().lower() == "ping":
            conn.push(b"pong", answer=True)
            return
        try:
            request = _decode(text)
        except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deep
            conn.push(_error(RpcError(PARSE_ERROR, "Parse error"), None), answer=True)
            return
        if isinstance(request, list):
            answers = [a for a in (self.call(conn, c) for c in request) if a is not None]
            if answers:
                conn.push(b"[" + b",".join(answers) + b"]", answer=True)
            return
        answer = self.call(conn, request)
        if answer is not None:
            conn.push(answer, answer=True)

    def call(self, conn: Connection, call: Any) -> bytes | None:
        if not isinstance(call, dict) or call.get("jsonrpc") != "2.0":
            return _error(RpcError(INVALID_REQUEST, "Invalid request"), None)
        request_id = call.get("id")
        method = call.get("method")
        if not isinstance(method, str):
            return _error(RpcError(INVALID_REQUEST, "Invalid request"), request_id)
        if method == "ping":
            # @solana/kit's JSON ping: a notification needs no answer; with an id, "pong".
            return None if "id" not in call else _result("pong", request_id)
        try:
            result = self.notifier.call(conn, method, call.get("params"))
        except RpcError as exc:
            return _error(exc, request_id)
        except Exception as exc:  # a bug must not close the connection; the client sees it
            log.exception("pubsub request failed", method=method)
            return _error(RpcError(INTERNAL_ERROR, f"Internal error: {exc}"), request_id)
        return _result(result, request_id)


def _error(error: RpcError, request_id: Any) -> bytes:
    return _encode({"jsonrpc": "2.0", "error": error.to_json(), "id": request_id})


def _result(result: Any, request_id: Any) -> bytes:
    return _encode({"jsonrpc": "2.0", "result": result, "id": request_id})


async def start_pubsub(
    notifier: Notifier, limits: PubSubLimits, host: str, port: int
) -> tuple[Server, set[Connection]]:
    """Listen on host:port (raises OSError when it cannot); the server and its live
    connections."""
    endpoint = _Endpoint(notifier, limits)
    server = await serve(
        endpoint.handle,
        host,
        port,
        process_request=endpoint.admit,
        compression=None,
        max_size=limits.max_message_bytes,
        max_queue=MAX_QUEUE,
        write_limit=WRITE_LIMIT,
        ping_interval=limits.ping_interval,
        ping_timeout=limits.ping_interval,
        close_timeout=CLOSE_TIMEOUT,
        server_header=None,
        reuse_address=True,
        backlog=1024,
    )
    return server, endpoint.connections
