"""A SUB socket on upstream instances' streams, in a ZeroMQ context of its own.

The analyzer's head watcher (`analyzer_requests.UpstreamHead`) and the monitor read the latest
word of their upstreams (heartbeats, alerts) this way, not through the stream's `Subscriber`,
which replays what it missed from the publisher's log: a heartbeat missed is superseded by the
next one. Each owns its context, so closing it never waits on another socket of the process.
"""

from __future__ import annotations

from collections.abc import Iterable

import zmq

from monmouth.core.errors import ConfigError
from monmouth.stream.security import ClientCurve

#: Reconnect after 100 ms (an instance restarting), backing off to 2 s while it stays away.
RECONNECT_MS = 100
RECONNECT_MAX_MS = 2_000


class UpstreamSocket:
    """A connected SUB socket and its context; `close` closes both.

    :ivar socket: poll and receive on it from one thread (ZeroMQ sockets are not thread-safe).
    """

    def __init__(
        self, endpoints: Iterable[str], topics: Iterable[bytes], curve: ClientCurve | None
    ) -> None:
        """Subscribe to `topics` (prefixes) and connect to every endpoint, with CURVE client keys
        when given. A malformed endpoint is a ConfigError naming it; nothing is left open when
        the constructor raises."""
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.socket = self._context.socket(zmq.SUB)
        self.socket.linger = 0
        self.socket.reconnect_ivl = RECONNECT_MS
        self.socket.reconnect_ivl_max = RECONNECT_MAX_MS
        try:
            if curve is not None:
                curve.apply(self.socket)
            for topic in topics:
                self.socket.subscribe(topic)
            for endpoint in endpoints:
                try:
                    self.socket.connect(endpoint)
                except zmq.ZMQError as exc:
                    raise ConfigError(f"cannot follow the upstream {endpoint!r}: {exc}") from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the socket (nothing queued to send: a SUB sends nothing) and the context."""
        self.socket.close(linger=0)
        self._context.term()
