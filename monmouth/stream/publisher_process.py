"""The live publisher in a child process, so that its formatting never holds the node's GIL.

`Publisher` expands each committed segment into messages (base58 names, MessagePack) for the
topics subscribed right now: pure Python, and in the node's process it takes turns with the
node's executor for the interpreter lock (one subscriber that wants everything cut catch-up
ingest to about half). `PublisherProcess` runs the same `Publisher` in a child process
(`python -m monmouth.stream.publisher_process`) and stands in for it in the node's process, with the
same methods and attributes:

- node -> child, over the child's stdin: a `Start` frame, then commands (`Submit`, `SetHead`,
  `Alert`, `Close`) in the order they were made, from a writer thread, so that `submit`, called
  under the stream lock after each commit, only appends to a queue. While nobody is subscribed
  (as the child last reported), a segment goes as `Skip`: its sequence numbers only.
- child -> node, over its stdout: a `Ready` frame once the socket is bound (or why it is not),
  then `Status` frames: subscriptions made and dropped, progress, and the messages sent by kind,
  which the node's process adds to its own `monmouth_stream_messages` (its Prometheus endpoint
  is there). A reader thread mirrors them.

Frames are MessagePack, framed by `monmouth.core.pipes`. The request socket (replays) stays in
the node's process: it reads LMDB.

The live stream is best effort, so a child that dies is logged once and later submits are
dropped: subscribers find the gap by sequence numbers and replay it from the request socket.
The child ignores SIGINT and SIGTERM and ends when the node closes it (`Close`, then the end
of its input); when its input ends without `Close` the node died, and it exits at once.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import msgspec
import structlog
import zmq

from monmouth.core.errors import ConfigError, StartError
from monmouth.core.pipes import frame, receive_frame, send_frame
from monmouth.core.records import Segment
from monmouth.stream.publisher import (
    DEFAULT_LIMITS,
    Publisher,
    SubscriptionLimits,
    count_sent,
)
from monmouth.stream.schema import AlertBody
from monmouth.stream.security import ServerCurve, start_authenticator
from monmouth.stream.topics import PrefixSet

__all__ = ["NICE", "PublisherProcess", "serve"]

log = structlog.get_logger("monmouth.stream")

#: How often the child reports progress (subscriptions are reported as soon as they change).
#: Progress only feeds the node's `monmouth_stream_messages` (scraped every few seconds); each
#: report wakes a thread of the node that takes the interpreter lock from its execution, so
#: four a second rather than twenty.
_REPORT_INTERVAL = 0.25
#: Commands written to the pipe in one go: a backlog goes in bounded pieces, not one copy.
_BATCH = 256
#: The child's niceness: execution first. During catch-up the node uses every core, and a
#: publisher as eager as the node takes a core's share from it (and feeds subscribers that take
#: more); at the lowest priority it uses what the node leaves, falls behind, and catches up at
#: the head, where blocks leave the cores idle. Measured (`benches/bench_stream.py`, 2 cores):
#: the node's ingest with one subscriber 0.75 → 0.83 of its rate without, with ten 0.31 → 0.46;
#: heartbeats still at most 2.3 s apart.
NICE = 19


# ---------------------------------------------------------------------- frames


class Start(msgspec.Struct, frozen=True, array_like=True, tag="start"):
    """The child's configuration, its first input frame (`Publisher`'s arguments)."""

    endpoint: str
    instance: str
    role: str
    stream_id: str
    last_seq: int
    heartbeat_interval: float
    send_hwm: int
    first_height: int | None
    #: CURVE key files (`ServerCurve.load`), which the child loads itself.
    curve_secret_key: str | None = None
    curve_allowed_keys: str | None = None
    limits: SubscriptionLimits = SubscriptionLimits()


class Submit(msgspec.Struct, frozen=True, array_like=True, tag="submit"):
    """A committed segment and the sequence number of its first message."""

    seq: int
    segment: Segment


class Skip(msgspec.Struct, frozen=True, array_like=True, tag="skip"):
    """A committed segment's numbers without its data: what the node's process sends instead
    of `Submit` while nobody is subscribed (as the child last reported), so that neither
    process copies, encodes or decodes what nobody would receive."""

    seq: int
    count: int


class SetHead(msgspec.Struct, frozen=True, array_like=True, tag="head"):
    """The instance's new head, and the oldest height its log still holds, for heartbeats."""

    height: int | None
    hash: str | None
    state_hash: str | None
    first_height: int | None


class Alert(msgspec.Struct, frozen=True, array_like=True, tag="alert"):
    """An alert to publish (the node's process has logged it)."""

    body: AlertBody


class Close(msgspec.Struct, frozen=True, array_like=True, tag="close"):
    """Send what is queued and exit: the last command."""


Command = Submit | Skip | SetHead | Alert | Close


class Ready(msgspec.Struct, frozen=True, array_like=True, tag="ready"):
    """The child's first output frame: bound and publishing, or why not.

    :ivar errno: set when binding failed (a `zmq.ZMQError`).
    :ivar config: the keys could not be loaded (a `ConfigError`).
    """

    error: str | None = None
    errno: int | None = None
    config: bool = False


class Status(msgspec.Struct, frozen=True, array_like=True, tag="status"):
    """What changed in the child since its last report.

    :ivar changes: subscription prefixes made (True) and dropped (False), in order.
    :ivar sent: messages sent by kind since the child started (totals, not increments).
    """

    messages_sent: int
    last_seq: int
    sent: dict[str, int]
    changes: list[tuple[bool, str]]


Report = Ready | Status

_encode = msgspec.msgpack.Encoder().encode


# ---------------------------------------------------------------------- the node's side


class PublisherProcess:
    """A `Publisher` in a child process (module docstring), with `Publisher`'s interface.

    The constructor returns once the child's socket is bound; a bind failure raises the
    `zmq.ZMQError` the child got, a key file it cannot load `ConfigError`. `submit`, `set_head`
    and `alert` are thread-safe and never wait for the child.

    :param curve_keys: the CURVE secret key file and allowed client keys folder, if any.
    :param first_height: the oldest height the log holds, read at each `set_head` for the
        child's heartbeats.
    :param start_timeout: seconds the child may take to start.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        instance: str,
        role: str,
        stream_id: str,
        last_seq: int,
        curve_keys: tuple[Path, Path] | None = None,
        heartbeat_interval: float = 1.0,
        send_hwm: int = 200_000,
        first_height: Callable[[], int | None] = lambda: None,
        start_timeout: float = 60.0,
        limits: SubscriptionLimits = DEFAULT_LIMITS,
    ) -> None:
        self.endpoint = endpoint
        self.instance = instance
        #: The child's subscribed prefixes, as it last reported them.
        self.subscriptions = PrefixSet()
        #: The last logged message the child has sent (as it last reported).
        self.last_seq = last_seq
        self.messages_sent = 0
        self._first_height = first_height
        self._sent: dict[str, int] = {}
        self._pending: deque[Command] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._dead = False
        self._ready: Ready | None = None
        self._answered = threading.Event()
        start = Start(
            endpoint,
            instance,
            role,
            stream_id,
            last_seq,
            heartbeat_interval,
            send_hwm,
            self._read_first_height(),
            None if curve_keys is None else str(curve_keys[0]),
            None if curve_keys is None else str(curve_keys[1]),
            limits,
        )
        # The endpoint in the arguments is only for `ps`: the child reads `Start`.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "monmouth.stream.publisher_process", endpoint],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin: IO[bytes] = self._process.stdin
        self._stdout: IO[bytes] = self._process.stdout
        with contextlib.suppress(OSError):  # a child that ended at once: the reader says so
            send_frame(self._stdin, _encode(start))
        self._reader = threading.Thread(
            target=self._read_reports, name="monmouth-publisher-reader", daemon=True
        )
        self._reader.start()
        if not self._answered.wait(start_timeout):
            self._abandon()
            raise StartError(
                f"the stream publisher process did not start in {start_timeout} s "
                "(is the machine overloaded?); run again, or run with --publish none"
            )
        ready = self._ready
        if ready is None or ready.error is not None:
            self._abandon()
            if ready is None:
                raise StartError(
                    f"the stream publisher process ended at start (exit code "
                    f"{self._process.returncode}); its error is in the log above"
                )
            if ready.errno is not None:
                raise zmq.ZMQError(ready.errno, ready.error)
            if ready.config:
                raise ConfigError(ready.error)
            raise StartError(f"the stream publisher process failed at start: {ready.error}")
        self._writer: threading.Thread = threading.Thread(
            target=self._write_commands, name="monmouth-publisher-writer", daemon=True
        )
        self._writer.start()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._process.pid

    # ------------------------------------------------------------------ producer side

    def submit(self, seq: int, segment: Segment) -> None:
        """Queue a committed segment; callers submit in sequence order."""
        self._put(Submit(seq, segment))

    def set_head(self, height: int | None, hash_: str | None, state_hash: str | None) -> None:
        """The instance's new head, for heartbeats (after a commit or a revert)."""
        self._put(SetHead(height, hash_, state_hash, self._read_first_height()))

    def alert(
        self,
        code: str,
        message: str,
        *,
        severity: Literal["warning", "critical"] = "critical",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Publish an alert (kind `alert`, topic `alert/SEVERITY/`) and log it."""
        log.warning("alert", code=code, message=message, severity=severity, details=details)
        self._put(Alert(AlertBody(self.instance, severity, code, message, dict(details or {}))))

    def close(self) -> None:
        """Send what is queued, then end the child (it sends what it holds). Idempotent."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._writer.join(timeout=10)
        try:
            # The child's own `Publisher.close` takes up to 10 s, and its socket's linger 2 s.
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log.error("the stream publisher process did not end; killed", pid=self.pid)
            self._process.kill()
            self._process.wait()
        self._writer.join()
        self._reader.join(timeout=5)
        self._stdout.close()

    def _put(self, command: Command) -> None:
        with self._cond:
            if self._dead or self._closing:
                return  # best effort: subscribers replay what the live stream lost
            self._pending.append(command)
            self._cond.notify()

    def _read_first_height(self) -> int | None:
        try:
            return self._first_height()
        except Exception:  # a store closing under us: the heartbeat goes without it
            return None

    # ------------------------------------------------------------------ the threads

    def _write_commands(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._closing and not self._dead:
                        self._cond.wait()
                    if self._dead:
                        return
                    batch = [
                        self._pending.popleft() for _ in range(min(_BATCH, len(self._pending)))
                    ]
                    last = self._closing and not self._pending
                if last:
                    batch.append(Close())
                try:
                    self._stdin.write(b"".join(self._frames(batch)))
                    self._stdin.flush()
                except (OSError, ValueError) as exc:
                    self._died(f"writing to it failed: {exc}")
                    return
                if last:
                    return
        finally:
            with contextlib.suppress(OSError):
                self._stdin.close()

    def _frames(self, commands: list[Command]) -> Iterator[bytes]:
        for command in commands:
            # Decided as late as possible, against the subscriptions the child reported last.
            # One it has and has not reported yet misses these segments live: its subscriber
            # finds the gap by sequence numbers and replays it, as any message lost live.
            if isinstance(command, Submit) and not self.subscriptions:
                command = Skip(command.seq, command.segment.count)
            try:
                payload = _encode(command)
            except (TypeError, msgspec.EncodeError) as exc:  # an alert's details, say
                log.error("stream command not sent: it cannot be encoded", error=str(exc))
                continue
            yield frame(payload)

    def _read_reports(self) -> None:
        decode = msgspec.msgpack.Decoder(Report).decode
        reason = "its output ended"
        try:
            while True:
                try:
                    report = decode(receive_frame(self._stdout))
                except EOFError:
                    break
                except (OSError, ValueError, msgspec.DecodeError) as exc:
                    reason = f"its output could not be read: {exc}"
                    break
                if isinstance(report, Ready):
                    self._ready = report
                    self._answered.set()
                else:
                    self._mirror(report)
        finally:
            self._answered.set()  # a child that ended before it was ready
        if self._ready is not None and self._ready.error is None:
            self._died(reason)

    def _mirror(self, status: Status) -> None:
        for added, prefix in status.changes:
            if added:
                self.subscriptions.add(prefix)
            else:
                self.subscriptions.discard(prefix)
        for kind, total in status.sent.items():
            if total > self._sent.get(kind, 0):
                count_sent(kind, total - self._sent.get(kind, 0))
        self._sent = status.sent
        self.messages_sent = status.messages_sent
        self.last_seq = status.last_seq

    def _died(self, reason: str) -> None:
        """The child is gone (or not speaking the protocol): say so once, drop what comes."""
        with self._cond:
            if self._dead or self._closing:
                return
            self._dead = True
            self._pending.clear()
            self._cond.notify_all()
        self._process.kill()  # when it is alive but out of step; a no-op otherwise
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=1)
        log.error(
            "the stream publisher process ended: no live messages until a restart; "
            "subscribers replay from the request socket",
            reason=reason,
            pid=self.pid,
            exit_code=self._process.returncode,
            endpoint=self.endpoint,
        )

    def _abandon(self) -> None:
        """End a child that did not start."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=5)
        self._stdout.close()


# ---------------------------------------------------------------------- the child's side


class _Reporter:
    """The child's thread that sends `Status` frames: promptly on a subscription change, else
    each `_REPORT_INTERVAL` when something moved. The publisher's thread never waits on it."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._changes: deque[tuple[bool, str]] = deque()
        #: Written by the publisher's thread only; copied whole (one C call) by the reporter.
        self._sent: dict[str, int] = {}
        self._publisher: Publisher | None = None
        self._last: tuple[int, int, dict[str, int]] | None = None
        self._wake = threading.Event()
        self._stopped = False
        self._broken = False
        self._thread = threading.Thread(target=self._loop, name="monmouth-reporter", daemon=True)

    def subscription(self, prefix: str, added: bool) -> None:
        self._changes.append((added, prefix))
        self._wake.set()

    def count(self, kind: str, messages: int) -> None:
        self._sent[kind] = self._sent.get(kind, 0) + messages

    def start(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and send a last report (after the publisher closed)."""
        self._stopped = True
        self._wake.set()
        self._thread.join()
        self._report()

    def _loop(self) -> None:
        while not self._stopped:
            self._wake.wait(_REPORT_INTERVAL)
            self._wake.clear()
            self._report()

    def _report(self) -> None:
        publisher = self._publisher
        if publisher is None or self._broken:
            return
        changes: list[tuple[bool, str]] = []
        while self._changes:
            changes.append(self._changes.popleft())
        progress = (publisher.messages_sent, publisher.last_seq, dict(self._sent))
        if not changes and progress == self._last:
            return
        self._last = progress
        try:
            send_frame(self._out, _encode(Status(*progress, changes)))
        except OSError:
            self._broken = True  # the node is gone; its end of input ends this process


def serve() -> None:
    """The child's loop: `Start`, then commands until `Close` (module docstring)."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Nothing else may write to the channel: prints and warnings go to stderr.
    sys.stdout = sys.stderr
    # The parent decides when the child ends (by closing it): a Ctrl-C or a SIGTERM to the
    # process group must not end it while the node sends its last segments.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(NICE)
    try:
        start = msgspec.msgpack.Decoder(Start).decode(receive_frame(stdin))
    except EOFError:
        return
    first_height = start.first_height
    reporter = _Reporter(stdout)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    auth = None
    try:
        curve = None
        if start.curve_secret_key is not None and start.curve_allowed_keys is not None:
            curve = ServerCurve.load(Path(start.curve_secret_key), Path(start.curve_allowed_keys))
            auth = start_authenticator(context, curve)
        publisher = Publisher(
            context,
            start.endpoint,
            instance=start.instance,
            role=start.role,
            stream_id=start.stream_id,
            last_seq=start.last_seq,
            curve=curve,
            heartbeat_interval=start.heartbeat_interval,
            send_hwm=start.send_hwm,
            first_height=lambda: first_height,
            on_subscription=reporter.subscription,
            count=reporter.count,
            limits=start.limits,
        )
    except (zmq.ZMQError, ConfigError) as exc:
        errno = exc.errno if isinstance(exc, zmq.ZMQError) else None
        send_frame(stdout, _encode(Ready(str(exc), errno, isinstance(exc, ConfigError))))
        if auth is not None:
            auth.stop()
        context.destroy(linger=0)
        return
    send_frame(stdout, _encode(Ready()))
    # Each message makes short-lived containers (bodies, lists, tuples), freed by their
    # reference counts; at the default thresholds the cycle collector ran every 700 of them
    # and its full passes walked every module's objects (about a tenth of the child's CPU
    # with one subscriber taking everything). What is alive now lives as long as the process:
    # out of the collector's sight; and it runs less often (as the rag plugin's worker).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    reporter.start(publisher)
    decode = msgspec.msgpack.Decoder(Command).decode
    try:
        while True:
            try:
                command = decode(receive_frame(stdin))
            except EOFError:
                # The node died without closing us: nobody waits for what is queued, and a
                # restarted node needs the port now.
                os._exit(0)
            if isinstance(command, Submit):
                publisher.submit(command.seq, command.segment)
            elif isinstance(command, Skip):
                publisher.skip(command.seq, command.count)
            elif isinstance(command, SetHead):
                first_height = command.first_height
                publisher.set_head(command.height, command.hash, command.state_hash)
            elif isinstance(command, Alert):
                publisher.send_alert(command.body)
            else:
                break
    except Exception:
        # Out of step with the node: end now, which it notices and logs (an orderly exit
        # could wait on the sockets).
        log.exception("the stream publisher process failed")
        os._exit(1)
    publisher.close()
    reporter.stop()
    if auth is not None:
        auth.stop()
    context.term()


if __name__ == "__main__":
    serve()
