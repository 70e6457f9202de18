"""The HTTP side: `/metrics` (Prometheus), `/health`, `/ready` and `/status` (JSON), served by
a small threaded server of the standard library in a thread of its own."""

from __future__ import annotations

import errno
import json
import selectors
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monmouth.core.errors import ConfigError
from monmouth.plugins.monitoring.config import parse_address

#: Seconds a client may take to send its request: a stuck client must not hold shutdown.
REQUEST_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Response:
    """What an endpoint answers."""

    status: int
    content_type: str
    body: bytes

    @classmethod
    def json(cls, status: int, value: Any) -> Response:
        return cls(status, "application/json", json.dumps(value).encode() + b"\n")


#: An endpoint takes the request's headers (for content negotiation) and answers.
Endpoint = Callable[[Mapping[str, str]], Response]


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (they are short), so nothing reads the node after
    # the plugin's shutdown returned.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], routes: Mapping[str, Endpoint]) -> None:
        self.routes = routes
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        # `stop` wakes `serve` through this pair: between requests the thread sleeps until a
        # connection comes, where `serve_forever` woke every poll interval to look for a
        # shutdown (each time taking the interpreter lock from the node's executing thread).
        # Made first: a failed bind calls `server_close` from the constructor.
        self._wake_rx, self._wake_tx = socket.socketpair()
        self._stopping = False
        super().__init__(address, _Handler)

    def serve(self) -> None:
        """Answer connections until `stop` (what `serve_forever` does, without polling)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_rx, selectors.EVENT_READ)
            while not self._stopping:
                ready = selector.select()
                if self._stopping:
                    return
                if any(key.fileobj is self for key, _ in ready):
                    # Readable: accepts at once (`timeout` is None) and hands it to a thread.
                    self.handle_request()
                self.service_actions()

    def stop(self) -> None:
        """Make `serve` return (after the request it is accepting, if any)."""
        self._stopping = True
        self._wake_tx.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._wake_rx.close()
        self._wake_tx.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        endpoint = self.server.routes.get(path)
        if endpoint is None:
            answer = Response.json(
                404, {"error": f"no such path: {path}", "paths": sorted(self.server.routes)}
            )
        else:
            try:
                answer = endpoint({k.lower(): v for k, v in self.headers.items()})
            except Exception as exc:  # a bug must show as a 500, not kill the server thread
                answer = Response.json(500, {"error": f"{type(exc).__name__}: {exc}"})
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line."""


class HttpServer:
    """Serves `routes` on `address` from a background thread. Binds (and listens) in the
    constructor, so that a taken address fails early; answers only once `start` was called:
    until then a request waits in the listen backlog, so no endpoint runs before what it reads
    is set up."""

    def __init__(self, address: str, routes: Mapping[str, Endpoint]) -> None:
        host, port = parse_address(address)
        try:
            self._server = _Server((host, port), routes)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"[plugins.monitoring] address: {address} is already in use (another "
                    'monmouth node?); set another HOST:PORT, or "none" to serve nothing'
                ) from None
            raise ConfigError(
                f"[plugins.monitoring] address: cannot listen on {address}: {exc.strerror or exc}"
            ) from None
        bound_host, bound_port = str(host), int(self._server.server_address[1])
        #: The address actually bound ("HOST:PORT"; port 0 in the configuration takes a free one).
        self.address = (
            f"[{bound_host}]:{bound_port}" if ":" in bound_host else f"{bound_host}:{bound_port}"
        )
        self._thread = threading.Thread(
            target=self._server.serve, name="monitoring-http", daemon=True
        )

    def start(self) -> None:
        """Start answering (requests already waiting are answered first). Idempotent."""
        if self._thread.ident is None:
            self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def close(self) -> None:
        """Stop serving and wait for requests in flight (a server never started just lets go
        of its socket). Idempotent."""
        if self._thread.is_alive():
            self._server.stop()
            self._thread.join()
        self._server.server_close()
