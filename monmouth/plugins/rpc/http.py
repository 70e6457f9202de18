"""A small HTTP/1.1 server on asyncio's protocols: what the JSON-RPC endpoint needs, no more.

POST bodies with a Content-Length (no chunked uploads: every Solana client sends a length),
keep-alive and pipelining (answers in request order), `Expect: 100-continue`, CORS as Agave's
server sends it (`Access-Control-Allow-Origin: *`, preflight OPTIONS answered), `GET /health`.
Limits: header section size, body size (413), the time a request may take to arrive whole (408),
and how long an idle keep-alive connection stays open. A handler answers bytes at once or
awaits (a relayed write); the connection stops reading while it waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Handler", "HttpLimits", "HttpProtocol"]

#: What a POST handler returns: the JSON body at once, or later.
Handler = Callable[[bytes], "bytes | Awaitable[bytes]"]
HealthCheck = Callable[[], str]

_MAX_HEADER_BYTES = 16 * 1024
_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
_CORS = b"Access-Control-Allow-Origin: *\r\n"


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_body_bytes: int
    #: Seconds for a request to arrive whole once its first byte came.
    request_timeout: float
    #: Seconds an idle keep-alive connection is kept.
    idle_timeout: float = 60.0


def response(
    status: int,
    body: bytes,
    content_type: bytes = b"application/json; charset=utf-8",
    *,
    close: bool = False,
    extra: bytes = b"",
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Length: {len(body)}\r\n".encode()
        + b"Content-Type: "
        + content_type
        + b"\r\n"
        + _CORS
        + extra
        + (b"Connection: close\r\n" if close else b"")
        + b"\r\n"
    )
    return head + body


class HttpProtocol(asyncio.Protocol):
    """One connection. `handler` answers POST bodies; `health` answers GET /health."""

    def __init__(self, handler: Handler, health: HealthCheck, limits: HttpLimits) -> None:
        self.handler = handler
        self.health = health
        self.limits = limits
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False
        self.closing = False
        self.timer: asyncio.TimerHandle | None = None
        #: `100 Continue` was sent for the request waiting for its body.
        self.continued = False
        self.loop = asyncio.get_running_loop()

    # ------------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._arm(self.limits.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self._disarm()

    def data_received(self, data: bytes) -> None:
        if not self.buffer:
            # The first bytes of a request: it has request_timeout to arrive whole.
            self._arm(self.limits.request_timeout)
        self.buffer += data
        if not self.busy:
            self._process()

    # ------------------------------------------------------------------ timers

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self.timer = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expired(self) -> None:
        self.timer = None
        if self.busy or self.transport is None:
            return
        if self.buffer:
            self._finish(response(408, b"request timed out\n", b"text/plain", close=True))
        else:
            self.transport.close()

    # ------------------------------------------------------------------ requests

    def _finish(self, data: bytes) -> None:
        """Send a last answer and close."""
        self.closing = True
        self.buffer.clear()
        if self.transport is not None:
            self.transport.write(data)
            self.transport.close()

    def _process(self) -> None:
        """Answer every complete request in the buffer, in order, until one must wait."""
        while not self.closing and not self.busy:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEADER_BYTES:
                    self._finish(response(431, b"headers too large\n", b"text/plain", close=True))
                return
            try:
                method, path, version, headers = _parse_head(bytes(self.buffer[:end]))
            except ValueError:
                self._finish(response(400, b"bad request\n", b"text/plain", close=True))
                return
            close = headers.get("connection", "").lower() == "close" or (
                version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive"
            )
            if "transfer-encoding" in headers:
                self._finish(response(411, b"send a Content-Length\n", b"text/plain", close=True))
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._finish(response(400, b"bad Content-Length\n", b"text/plain", close=True))
                return
            if length < 0 or length > self.limits.max_body_bytes:
                self._finish(response(413, b"request too large\n", b"text/plain", close=True))
                return
            start = end + 4
            if len(self.buffer) < start + length:
                if headers.get("expect", "").lower() == "100-continue" and not self.continued:
                    self.continued = True
                    assert self.transport is not None
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            self.continued = False
            body = bytes(self.buffer[start : start + length])
            del self.buffer[: start + length]
            if self.buffer:
                # The next request has begun: its own time to arrive whole starts now.
                self._arm(self.limits.request_timeout)
            self._answer(method, path, headers, body, close)
        if not self.buffer and not self.busy and not self.closing:
            self._arm(self.limits.idle_timeout)

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, close: bool
    ) -> None:
        assert self.transport is not None
        if method == "POST":
            content_type = headers.get("content-type", "application/json").lower()
            if "json" not in content_type:
                self._write(
                    response(
                        415,
                        b"Supported content types are: application/json\n",
                        b"text/plain",
                        close=close,
                    ),
                    close,
                )
                return
            answer = self.handler(body)
            if isinstance(answer, bytes):
                self._write(_json_response(answer, close), close)
                return
            self.busy = True
            self._disarm()
            self.transport.pause_reading()
            task = self.loop.create_task(_await(answer))
            task.add_done_callback(lambda t: self._resume(t, close))
        elif method == "OPTIONS":
            allowed = headers.get("access-control-request-headers", "content-type")
            extra = (
                b"Access-Control-Allow-Methods: POST, OPTIONS\r\n"
                + f"Access-Control-Allow-Headers: {allowed}\r\n".encode()
                + b"Access-Control-Max-Age: 86400\r\n"
            )
            self._write(response(200, b"", b"text/plain", close=close, extra=extra), close)
        elif method == "GET" and path.split("?", 1)[0] == "/health":
            text = self.health().encode()
            self._write(response(200, text, b"text/plain; charset=utf-8", close=close), close)
        else:
            self._write(
                response(
                    405,
                    b"Used HTTP Method is not allowed. POST or OPTIONS is required\n",
                    b"text/plain",
                    close=close,
                ),
                close,
            )

    def _write(self, data: bytes, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if close:
            self.closing = True
            self.transport.close()

    def _resume(self, task: asyncio.Task[bytes], close: bool) -> None:
        self.busy = False
        if task.cancelled() or self.transport is None or self.transport.is_closing():
            return
        exc = task.exception()
        if exc is not None:
            self._finish(response(500, b"internal error\n", b"text/plain", close=True))
            return
        self._write(_json_response(task.result(), close), close)
        if not self.closing:
            self.transport.resume_reading()
            if self.buffer:
                self._arm(self.limits.request_timeout)
            self._process()


async def _await(answer: Awaitable[bytes]) -> bytes:
    return await answer


def _json_response(body: bytes, close: bool) -> bytes:
    # Every call of a batch a notification: JSON-RPC answers nothing.
    return response(200, body, close=close) if body else response(204, b"", close=close)


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, version = lines[0].split(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(version)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(line)
        headers[name.strip().lower()] = value.strip()
    return method, path, version, headers
