"""One instance's stream: its log in the store, its publisher and request socket, its topics.

`StreamService` is the core's `EventLog` (`monmouth.core.eventlog`): the node builds segments
through it and never imports this package; `monmouth.app` wires one in.

The node writes each segment in the same LMDB transaction as the change it reports, then
submits it to the publisher, under one lock shared with plugins publishing their own kinds,
so the publisher receives segments in sequence order. The publisher runs in a child process
(`publisher_process.PublisherProcess`); the request socket stays here, beside the store it reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog
import zmq
from zmq.auth.thread import ThreadAuthenticator

from monmouth.core import b58
from monmouth.core.config import Settings
from monmouth.core.errors import ConfigError
from monmouth.core.eventlog import SlotChange, Writes
from monmouth.core.payloads import TransactionInfo
from monmouth.core.records import BlockRecord, Segment
from monmouth.core.state import DetailWrite, Store
from monmouth.stream.publisher import SubscriptionLimits
from monmouth.stream.publisher_process import PublisherProcess
from monmouth.stream.requests import RequestLimits, RequestServer
from monmouth.stream.schema import CORE_KINDS
from monmouth.stream.security import (
    ClientCurve,
    ServerCurve,
    check_bind,
    next_port,
    start_authenticator,
)
from monmouth.stream.segments import block_segment, plugin_segment, revert_segment, slot_segment

log = structlog.get_logger("monmouth.stream")


@dataclass(frozen=True, slots=True)
class Topic:
    """A message kind a plugin declared; `publish` appends to the log and sends it (the
    core's `Topic` protocol)."""

    kind: str
    description: str
    _service: StreamService

    def publish(self, height: int, body: Any, *, key: str = "") -> int:
        """Publish one message about L1 block `height` (any MessagePack-able body).

        :param key: an optional routing key: subscribers may filter on `KIND/KEY/`.
        :returns: its sequence number.
        """
        return self._service.publish_plugin(self.kind, height, body, key)


def client_curve(settings: Settings) -> ClientCurve | None:
    """The keys for following a CURVE upstream, when configured."""
    cfg = settings.stream
    if cfg.curve_client_key is None or cfg.upstream_server_key is None:
        return None
    return ClientCurve.load(cfg.curve_client_key, cfg.upstream_server_key)


class StreamService:
    """The stream side of one instance (an `EventLog`). Without `publish` it only keeps the log.

    The request socket is served when the instance has a store, and, without one, when
    `stateless_requests` is set (an analyzer: `status` and its plugins' methods, no replay;
    `upstream_head` gives the head of the executor it follows).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store | None,
        *,
        head: Callable[[], int | None] = lambda: None,
        stateless_requests: bool = False,
        upstream_head: Callable[[], int | None] | None = None,
    ) -> None:
        cfg = settings.stream
        self.settings = settings
        self.store = store
        self.instance = settings.instance
        self.kinds: dict[str, str] = {}
        #: Methods served on the request socket (op `call`), from `register_rpc_methods`.
        self.methods: dict[str, Callable[[Any], Any]] = {}
        #: Held while segments are stored and submitted (`ordered`); reentrant: a plugin may
        #: publish from a hook the node calls while it holds it (a route hook, while a group
        #: is written by the store's writer process).
        self.lock = threading.RLock()
        self._depth = 0  # `ordered` holds, nested, on the thread holding `lock`
        # Submitted under `ordered`, handed to the publisher when the outermost hold ends.
        self._held: list[tuple[int, Sequence[Segment]]] = []
        self.publisher: PublisherProcess | None = None
        self.server: RequestServer | None = None
        self._auth: ThreadAuthenticator | None = None
        self._context: zmq.Context[zmq.Socket[bytes]] | None = None
        #: Whether segments are built at all: for replay, or for live subscribers.
        self.logging = store is not None and (store.stream_blocks > 0 or cfg.publish is not None)
        if cfg.publish is None:
            return
        curve: ServerCurve | None = None
        curve_keys: tuple[Path, Path] | None = None
        if cfg.curve_secret_key is not None and cfg.curve_allowed_keys is not None:
            # Loaded here too: the request socket needs them, and a bad file fails early.
            curve = ServerCurve.load(cfg.curve_secret_key, cfg.curve_allowed_keys)
            curve_keys = (cfg.curve_secret_key, cfg.curve_allowed_keys)
        request = cfg.request or next_port(cfg.publish)
        for endpoint in (cfg.publish, request):
            check_bind(endpoint, curve=curve, insecure=cfg.insecure_bind)
        self._context = zmq.Context()
        try:
            if curve is not None:
                self._auth = start_authenticator(self._context, curve)
            last_seq, stream_id = -1, ""
            if store is not None:
                last_seq = store.stream_bounds()[1] - 1
                stream_id = store.stream_id
            self.publisher = PublisherProcess(
                cfg.publish,
                instance=self.instance,
                role=settings.role,
                stream_id=stream_id,
                last_seq=last_seq,
                curve_keys=curve_keys,
                heartbeat_interval=cfg.heartbeat_interval,
                send_hwm=cfg.send_hwm,
                limits=SubscriptionLimits(cfg.max_subscription_bytes, cfg.max_subscriptions),
                first_height=self._first_height,
            )
            if store is not None or stateless_requests:
                self.server = RequestServer(
                    self._context,
                    request,
                    store,
                    head=head,
                    upstream_head=upstream_head,
                    curve=curve,
                    methods=self.methods,
                    limits=RequestLimits(
                        max_request_bytes=cfg.max_request_bytes,
                        max_requests_per_client=cfg.max_requests_per_client,
                        max_active_replays=cfg.max_active_replays,
                        client_timeout=cfg.client_timeout,
                    ),
                )
        except zmq.ZMQError as exc:
            self.close()
            raise ConfigError(
                f"cannot bind the stream at {cfg.publish} / {request}: {exc}; "
                "pick another with --publish, or --publish none"
            ) from None
        except BaseException:
            self.close()
            raise
        log.info(
            "stream publishing",
            endpoint=cfg.publish,
            request=None if self.server is None else request,
            curve=curve is not None,
            publisher_pid=self.publisher.pid,
        )

    def subscriptions(self) -> int | None:
        return None if self.publisher is None else len(self.publisher.subscriptions)

    def _first_height(self) -> int | None:
        return None if self.store is None else self.store.stream_bounds()[2]

    # ------------------------------------------------------------------ topics

    def register(self, kind: str, description: str = "") -> Topic:
        """Declare a plugin's message kind (the `register_stream_topics` callback)."""
        if not kind or "/" in kind or kind in CORE_KINDS or kind == "gap":
            raise ConfigError(f"stream kind {kind!r} is reserved or malformed")
        if kind in self.kinds:
            raise ConfigError(f"stream kind {kind!r} is declared twice")
        self.kinds[kind] = description
        return Topic(kind, description, self)

    def add_method(self, name: str, function: Callable[[Any], Any]) -> None:
        """Serve `function(params)` as op `call` method `name` (a plugin's RPC method, with
        the node already bound)."""
        if name in self.methods:
            raise ConfigError(f"RPC method {name!r} is registered twice")
        self.methods[name] = function

    def publish_plugin(self, kind: str, height: int, body: Any, key: str) -> int:
        if kind not in self.kinds:
            raise ValueError(f"stream kind {kind!r} was not declared (register_stream_topics)")
        if "/" in key:
            raise ValueError(f"a stream key may not contain '/': {key!r}")
        segment = plugin_segment(kind, height, key, body)
        store = self.store
        if store is None:
            raise RuntimeError("this instance keeps no stream log")
        with self.ordered():
            first = store.append_segments([segment])
            self.submit(first, [segment])
        return first

    # ------------------------------------------------------------------ the node's side

    def block_segments(
        self,
        block: BlockRecord,
        parent: int | None,
        accounts: Sequence[tuple[bytes, bytes | None, bytes | None]],
        transactions: Sequence[TransactionInfo],
        details: Sequence[DetailWrite] = (),
        writes: Writes | None = None,
    ) -> list[Segment]:
        return [block_segment(block, parent, accounts, transactions, details, writes)]

    def wants_writes(self) -> bool:
        """`[stream] writes`: "published" when logging a published stream and "always" when
        logging at all (analyzers catch up by replay, so the log holds them), "subscribed"
        while a live subscriber is under `writes/`."""
        mode = self.settings.stream.writes
        if mode == "always":
            return self.logging
        if mode == "published":
            return self.logging and self.publisher is not None
        if mode == "subscribed" and self.publisher is not None:
            return bool(self.publisher.subscriptions.relevant("writes"))
        return False

    def revert_segments(self, block: BlockRecord, parent_checksum: bytes | None) -> list[Segment]:
        return [revert_segment(block, parent_checksum)]

    def slot_segments(self, height: int, slots: Sequence[SlotChange]) -> list[Segment]:
        return [slot_segment(height, slots)]

    @contextmanager
    def ordered(self) -> Iterator[None]:
        """Hold while writing segments and submitting them, so they go out in order: what is
        submitted under it goes to the publisher when the outermost hold ends, by sequence
        number. (The node holds it while the store's writer process commits a group, which
        takes its sequence numbers there; a plugin publishing meanwhile from a hook on the
        node's thread may take lower ones, or higher.)"""
        with self.lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if not self._depth and self._held:
                    held, self._held = self._held, []
                    held.sort(key=lambda item: item[0])
                    for first, segments in held:
                        self._send(first, segments)

    def submit(self, first: int, segments: Sequence[Segment]) -> None:
        with self.lock:
            if self._depth:
                self._held.append((first, segments))
            else:
                self._send(first, segments)

    def _send(self, first: int, segments: Sequence[Segment]) -> None:
        publisher = self.publisher
        if publisher is None:
            return
        seq = first
        for segment in segments:
            publisher.submit(seq, segment)
            seq += segment.count

    def set_head(self, block: BlockRecord | None) -> None:
        if self.publisher is None:
            return
        if block is None:
            self.publisher.set_head(None, None, None)
        else:
            self.publisher.set_head(
                block.number, "0x" + block.hash.hex(), b58.encode(block.checksum)
            )

    def alert(
        self,
        code: str,
        message: str,
        *,
        severity: Literal["warning", "critical"] = "critical",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Publish an alert (and log it), or only log it when not publishing."""
        if self.publisher is not None:
            self.publisher.alert(code, message, severity=severity, details=details)
        else:
            log.warning("alert", code=code, message=message, severity=severity, details=details)

    def close(self) -> None:
        """Send what is queued, then close the sockets. Idempotent."""
        for part in (self.server, self.publisher):
            if part is not None:
                part.close()
        self.server = self.publisher = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._context is not None:
            self._context.term()
            self._context = None
