"""The analyzer's request side: its request socket, and the executor's head it reports.

An analyzer keeps no state and no log, but its plugins keep their own (rag's index, mev's
findings), and people ask them: `monmouth rag query --endpoint`, `monmouth mev --block N
--endpoint`. So the analyzer serves a request socket like the executor's (`[stream] request`,
by default the publish port + 1; CURVE and the same limits), store-less: `status` and op
`call` for the methods its plugins register (`register_rpc_methods`), bound to the analyzer as
the executor binds them to itself; `replay` and `snapshot` are refused (ask the executor).

Every reply says the analyzer's head and, as `upstream_head`, the executor's: the head in the
executor's last heartbeat, watched on a SUB socket of its own in a thread of its own (so the
analyzer's loop over the stream is left as it is), or the analyzer's own head when that is
higher (it heard a block before the heartbeat that names it). How far behind the executor a
plugin's index is, is measured against it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
import zmq

from monmouth.core.config import Settings
from monmouth.roles.upstream import UpstreamSocket
from monmouth.stream.eventlog import StreamService
from monmouth.stream.schema import HeartbeatBody, decode_body, decode_header
from monmouth.stream.security import ClientCurve

if TYPE_CHECKING:
    from monmouth.roles.analyzer import Analyzer

log = structlog.get_logger("monmouth.analyzer")

#: The executor's heartbeats: all the watcher subscribes to.
HEARTBEATS = b"heartbeat/"
#: The longest the watcher waits before looking at `close` again (milliseconds).
_POLL_MS = 200


class UpstreamHead:
    """The head in the newest heartbeat of one publisher, watched in a daemon thread.

    :param endpoint: the publisher (the executor's `--publish`).
    :param curve: the client keys, when the publisher requires CURVE.
    """

    def __init__(self, endpoint: str, curve: ClientCurve | None) -> None:
        self.endpoint = endpoint
        self.heartbeats = 0
        self._head: int | None = None
        self._stop = threading.Event()
        self._upstream = UpstreamSocket([endpoint], [HEARTBEATS], curve)
        self._thread = threading.Thread(
            target=self._loop, name="monmouth-upstream-head", daemon=True
        )
        self._thread.start()

    @property
    def head(self) -> int | None:
        """The head of the last heartbeat heard; None before the first (or at an empty
        executor)."""
        return self._head

    def _loop(self) -> None:
        sock = self._upstream.socket
        while not self._stop.is_set():
            if not sock.poll(_POLL_MS):
                continue
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if len(frames) != 3:
                    continue
                try:
                    header = decode_header(frames[1])
                    body = decode_body(header.kind, frames[2])
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue  # the analyzer's own subscriber logs what is malformed
                if isinstance(body, HeartbeatBody):
                    self._head = body.head
                    self.heartbeats += 1

    def close(self) -> None:
        """Stop the thread, close the socket. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(5)
        self._upstream.close()


class RequestSide:
    """The analyzer's stream service (heartbeats; the store-less request socket with its
    plugins' methods) and the executor's head it reports. Built once, before `startup`.

    :ivar stream: the analyzer's `StreamService`.
    :ivar watcher: the executor's heartbeats (`UpstreamHead`), watched while publishing.
    """

    def __init__(self, analyzer: Analyzer, settings: Settings) -> None:
        self._analyzer = analyzer
        self.watcher: UpstreamHead | None = None
        if settings.stream.publish is not None:
            self.watcher = UpstreamHead(analyzer.upstream, analyzer.curve)
        try:
            self.stream = StreamService(
                settings,
                None,
                head=self._head,
                stateless_requests=True,
                upstream_head=self.upstream_head,
            )
            try:
                analyzer.plugins.register_methods(self._add_method)
            except BaseException:
                self.stream.close()
                raise
        except BaseException:
            self.close()
            raise

    def _add_method(self, name: str, function: Callable[[Analyzer, Any], Any]) -> None:
        """`register_rpc_methods`: served on the request socket (op `call`), bound to the
        analyzer as the executor binds them to itself."""
        self.stream.add_method(name, functools.partial(function, self._analyzer))

    def _head(self) -> int | None:
        head = self._analyzer.head
        return None if head is None else head.number

    def upstream_head(self) -> int | None:
        """The executor's head as the analyzer knows it (module docstring); None when it has
        heard nothing yet."""
        heard = None if self.watcher is None else self.watcher.head
        own = self._head()
        if heard is None or own is None:
            return heard if own is None else own
        return max(heard, own)

    def close(self) -> None:
        """Stop watching the executor's heartbeats (the analyzer closes the stream)."""
        if self.watcher is not None:
            self.watcher.close()
