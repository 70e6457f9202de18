"""The monitor: watches the heartbeats of many instances and raises alerts about them.

One SUB socket is connected to every upstream publisher (`[stream] upstream`) and subscribed to
`heartbeat/` and `alert/` only. Per instance (the `instance` field of its heartbeats) it keeps
the last heartbeat, and the (height, state hash) pairs of the last `HISTORY` heights it
reported, merged from each heartbeat's `recent`. At least every `heartbeat_interval` it
evaluates what it recorded (`HeartbeatTracker.evaluate`, a pure function of the recorded state
and a clock, unit-testable without sockets) and raises:

- `instance_silent` (critical): an instance it has seen sent nothing for `max_silence` seconds;
  `instance_recovered` (warning) when it speaks again.
- `instance_lagging` (warning): an instance's head is more than `max_lag_blocks` below the
  highest head of the live instances, once per episode; `instance_caught_up` when it is back.
- `analyzer_lagging` (warning): an analyzer's head (the last block it handed to its plugins)
  is more than `max_analyzer_lag_blocks` below the highest head of the live executors, once per
  episode; `analyzer_caught_up` when it is back. Analyzers have a rule and a threshold of their
  own: their plugins (rag indexing) may run slower than execution while catching up, which is
  expected and must not read as a failing instance. A replica is held to `max_lag_blocks`
  against the executors' head too.

Every instance's lag is in `status()` (`behind`, and `reference`: the head it is measured
against, the highest live executor's for replicas and analyzers) and in the progress lines.
- `state_hash_mismatch` (critical): two live instances that hold state (not analyzers: an
  analyzer's state hashes are its executor's, relayed, so a difference only means it has not
  applied a reorg yet, which its lag shows) report different state hashes at one height, once
  per (height, pair). When both reported the same L1 block hash at that height
  (they executed the same block) it is raised at once; otherwise they may be on two sides of a
  reorg that one of them has not applied yet, and it is raised only when the disagreement
  outlasts `mismatch_grace` seconds (default: three heartbeat intervals).

Alerts go out through the monitor's own `StreamService` (published on `alert/SEVERITY/` when
`[stream] publish` is set, logged always), so a monitor is itself subscribable for alerts.
Alerts received from upstream are logged again and kept (`upstream_alerts`); they are not
re-published.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import structlog
import zmq

from monmouth.core.config import Settings
from monmouth.core.errors import ConfigError
from monmouth.roles.progress import Every
from monmouth.roles.upstream import UpstreamSocket
from monmouth.stream.eventlog import StreamService, client_curve
from monmouth.stream.schema import AlertBody, HeartbeatBody, decode_body, decode_header

log = structlog.get_logger("monmouth.monitor")

Severity = Literal["warning", "critical"]
#: Heights of (height, state hash) history kept per instance.
HISTORY = 256
#: Alerts kept in memory (raised and received), newest last.
KEEP_ALERTS = 10_000
#: Topics the monitor subscribes to.
TOPICS = (b"heartbeat/", b"alert/")
#: The longest the run loop waits before looking at `stop` again.
_POLL = 0.2


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert the monitor raised (what it publishes as an `AlertBody`, plus when).

    :ivar instance: the instance it is about; for a mismatch, the first of the pair.
    :ivar time: the monitor's clock (`time.monotonic` in `run`) when it was raised.
    """

    code: str
    severity: Severity
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    instance: str = ""
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """What the monitor knows of one instance (a snapshot).

    :ivar last_seen: the monitor's clock when the instance last sent anything.
    :ivar sent_at: the instance's own wall clock in its last heartbeat.
    :ivar recent: the (height, state hash) history kept, lowest first.
    :ivar behind: blocks below `reference` at the last evaluation (None: no head, or nothing to
        compare with; never negative).
    :ivar reference: the head it is measured against: the highest head of the live executors
        for a replica or analyzer, else of all live instances.
    """

    name: str
    role: str
    stream_id: str
    head: int | None
    head_hash: str | None
    state_hash: str | None
    last_seq: int
    first_height: int | None
    last_seen: float
    sent_at: float
    heartbeats: int
    silent: bool
    lagging: bool
    recent: tuple[tuple[int, str], ...]
    behind: int | None = None
    reference: int | None = None


@dataclass(slots=True)
class _Instance:
    name: str
    role: str
    stream_id: str
    last_seen: float
    head: int | None = None
    head_hash: str | None = None
    state_hash: str | None = None
    last_seq: int = -1
    first_height: int | None = None
    sent_at: float = 0.0
    heartbeats: int = 0
    silent: bool = False
    lagging: bool = False
    behind: int | None = None
    reference: int | None = None
    #: height -> state hash, as last reported.
    history: dict[int, str] = field(default_factory=dict)
    #: height -> (L1 block hash, state hash), for the heights the instance reported as its
    #: head; valid while the history still holds that state hash there.
    block_hashes: dict[int, tuple[str, str]] = field(default_factory=dict)

    def block_hash(self, height: int) -> str | None:
        """The L1 block hash the instance executed at `height`, when known."""
        entry = self.block_hashes.get(height)
        if entry is None or self.history.get(height) != entry[1]:
            return None  # unknown, or reorged since it was the head
        return entry[0]

    def snapshot(self) -> InstanceStatus:
        return InstanceStatus(
            name=self.name,
            role=self.role,
            stream_id=self.stream_id,
            head=self.head,
            head_hash=self.head_hash,
            state_hash=self.state_hash,
            last_seq=self.last_seq,
            first_height=self.first_height,
            last_seen=self.last_seen,
            sent_at=self.sent_at,
            heartbeats=self.heartbeats,
            silent=self.silent,
            lagging=self.lagging,
            recent=tuple(sorted(self.history.items())),
            behind=self.behind,
            reference=self.reference,
        )


def _trim(mapping: dict[int, Any], above: int | None) -> None:
    """Drop the heights above `above` (all of them when None)."""
    for height in [h for h in mapping if above is None or h > above]:
        del mapping[height]


class HeartbeatTracker:
    """The monitor's state and rules, without sockets: feed it messages, then `evaluate`.

    Thread-safe: `observe_*`, `evaluate` and the read properties take one lock.

    :param max_lag_blocks: an instance more than this many blocks below the highest head lags.
    :param max_analyzer_lag_blocks: the same for an analyzer, against the executors' head.
    :param max_silence: seconds without a message after which a seen instance is silent.
    :param mismatch_grace: seconds a state-hash disagreement at one height must last before it
        is raised, unless both instances reported the same L1 block hash there.
    """

    def __init__(
        self,
        *,
        max_lag_blocks: int = 8,
        max_silence: float = 5.0,
        mismatch_grace: float = 3.0,
        max_analyzer_lag_blocks: int = 64,
    ) -> None:
        self.max_lag_blocks = max_lag_blocks
        self.max_analyzer_lag_blocks = max_analyzer_lag_blocks
        self.max_silence = max_silence
        self.mismatch_grace = mismatch_grace
        self._instances: dict[str, _Instance] = {}
        self._alerts: deque[Alert] = deque(maxlen=KEEP_ALERTS)
        self._upstream_alerts: deque[AlertBody] = deque(maxlen=KEEP_ALERTS)
        #: (height, a, b) -> when the disagreement was first seen (not raised yet).
        self._suspected: dict[tuple[int, str, str], float] = {}
        #: (height, a, b) already raised.
        self._reported: set[tuple[int, str, str]] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reads

    @property
    def instances(self) -> dict[str, InstanceStatus]:
        """A snapshot of every instance seen, by name."""
        with self._lock:
            return {name: inst.snapshot() for name, inst in sorted(self._instances.items())}

    @property
    def alerts(self) -> list[Alert]:
        """The alerts raised so far (the last `KEEP_ALERTS`), oldest first."""
        with self._lock:
            return list(self._alerts)

    @property
    def upstream_alerts(self) -> list[AlertBody]:
        """The alerts received from the instances watched (the last `KEEP_ALERTS`)."""
        with self._lock:
            return list(self._upstream_alerts)

    # ------------------------------------------------------------------ recording

    def observe_heartbeat(self, beat: HeartbeatBody, now: float) -> None:
        """Record one heartbeat received at `now` (the monitor's clock)."""
        with self._lock:
            inst = self._instances.get(beat.instance)
            if inst is None:
                inst = _Instance(beat.instance, beat.role, beat.stream_id, now)
                self._instances[beat.instance] = inst
                log.info("instance seen", instance=beat.instance, role=beat.role, head=beat.head)
            elif beat.stream_id != inst.stream_id:
                # A new history (a new data directory): what it reported before is void.
                log.warning(
                    "instance stream changed",
                    instance=beat.instance,
                    old=inst.stream_id,
                    new=beat.stream_id,
                )
                inst.history.clear()
                inst.block_hashes.clear()
            inst.role = beat.role
            inst.stream_id = beat.stream_id
            inst.last_seen = max(inst.last_seen, now)
            inst.head = beat.head
            inst.head_hash = beat.head_hash
            inst.state_hash = beat.state_hash
            inst.last_seq = beat.last_seq
            inst.first_height = beat.first_height
            inst.sent_at = beat.time
            inst.heartbeats += 1
            # Heights above the head were reverted: their hashes are no longer the instance's.
            _trim(inst.history, beat.head)
            _trim(inst.block_hashes, beat.head)
            for height, state_hash in beat.recent:
                inst.history[height] = state_hash
            if beat.head is not None and beat.state_hash is not None:
                inst.history[beat.head] = beat.state_hash
                if beat.head_hash is not None:
                    inst.block_hashes[beat.head] = (beat.head_hash, beat.state_hash)
            if len(inst.history) > HISTORY:
                for height in sorted(inst.history)[: len(inst.history) - HISTORY]:
                    del inst.history[height]
            for height in [h for h in inst.block_hashes if h not in inst.history]:
                del inst.block_hashes[height]

    def observe_alert(self, alert: AlertBody, now: float) -> None:
        """Record an alert an instance published; it counts as a sign of life."""
        log.warning(
            "upstream alert",
            instance=alert.instance,
            code=alert.code,
            severity=alert.severity,
            message=alert.message,
            details=alert.details,
        )
        with self._lock:
            self._upstream_alerts.append(alert)
            inst = self._instances.get(alert.instance)
            if inst is not None:
                inst.last_seen = max(inst.last_seen, now)

    # ------------------------------------------------------------------ rules

    def evaluate(self, now: float) -> list[Alert]:
        """Apply the rules to what was recorded, as of `now`; returns the new alerts (which are
        also appended to `alerts`). Sends nothing: the caller publishes them."""
        with self._lock:
            raised: list[Alert] = []
            live = self._silence(now, raised)
            self._lag(live, now, raised)
            # An analyzer relays its executor's state hashes: nothing of its own to compare.
            self._mismatches([i for i in live if i.role != "analyzer"], now, raised)
            self._alerts.extend(raised)
            return raised

    def _silence(self, now: float, raised: list[Alert]) -> list[_Instance]:
        live: list[_Instance] = []
        for name, inst in sorted(self._instances.items()):
            quiet = now - inst.last_seen
            if not inst.silent and quiet > self.max_silence:
                inst.silent = True
                raised.append(
                    Alert(
                        "instance_silent",
                        "critical",
                        f"instance {name} ({inst.role}) has sent nothing for {quiet:.1f} s",
                        {"instance": name, "role": inst.role, "seconds": round(quiet, 3)},
                        name,
                        now,
                    )
                )
            elif inst.silent and quiet <= self.max_silence:
                inst.silent = False
                raised.append(
                    Alert(
                        "instance_recovered",
                        "warning",
                        f"instance {name} ({inst.role}) is sending again",
                        {"instance": name, "role": inst.role, "head": inst.head},
                        name,
                        now,
                    )
                )
            if not inst.silent:
                live.append(inst)
        return live

    def _lag(self, live: list[_Instance], now: float, raised: list[Alert]) -> None:
        for inst in self._instances.values():
            if inst.silent or inst.head is None:
                inst.behind = inst.reference = None
        heads = [(inst.head, inst.name) for inst in live if inst.head is not None]
        if not heads:
            return
        top = max(heads, key=lambda item: (item[0], item[1]))
        executors = [
            (inst.head, inst.name)
            for inst in live
            if inst.role == "executor" and inst.head is not None
        ]
        # Followers are measured against the executors they follow, when one is live.
        followed = max(executors, key=lambda item: (item[0], item[1])) if executors else top
        for inst in live:
            if inst.head is None:
                continue
            analyzer = inst.role == "analyzer"
            highest, leader = followed if inst.role in ("replica", "analyzer") else top
            behind = max(highest - inst.head, 0)
            inst.behind, inst.reference = behind, highest
            limit = self.max_analyzer_lag_blocks if analyzer else self.max_lag_blocks
            details = {
                "instance": inst.name,
                "role": inst.role,
                "head": inst.head,
                "highest": highest,
                "leader": leader,
                "behind": behind,
            }
            what = f"analyzer {inst.name}" if analyzer else f"instance {inst.name}"
            if behind > limit and not inst.lagging:
                inst.lagging = True
                raised.append(
                    Alert(
                        "analyzer_lagging" if analyzer else "instance_lagging",
                        "warning",
                        f"{what} is {behind} blocks behind (head #{inst.head}, {leader} is at "
                        f"#{highest})" + (": its plugins see the chain late" if analyzer else ""),
                        details,
                        inst.name,
                        now,
                    )
                )
            elif behind <= limit and inst.lagging:
                inst.lagging = False
                raised.append(
                    Alert(
                        "analyzer_caught_up" if analyzer else "instance_caught_up",
                        "warning",
                        f"{what} caught up (head #{inst.head}, highest #{highest})",
                        details,
                        inst.name,
                        now,
                    )
                )

    def _mismatches(self, live: list[_Instance], now: float, raised: list[Alert]) -> None:
        disagreeing: set[tuple[int, str, str]] = set()
        for a, b in itertools.combinations(live, 2):  # live is sorted by name
            for height in sorted(a.history.keys() & b.history.keys()):
                hash_a, hash_b = a.history[height], b.history[height]
                if hash_a == hash_b:
                    continue
                key = (height, a.name, b.name)
                if key in self._reported:
                    continue
                disagreeing.add(key)
                first = self._suspected.setdefault(key, now)
                block_a, block_b = a.block_hash(height), b.block_hash(height)
                same_block = block_a is not None and block_a == block_b
                if not same_block and now - first < self.mismatch_grace:
                    continue
                self._reported.add(key)
                disagreeing.discard(key)
                raised.append(
                    Alert(
                        "state_hash_mismatch",
                        "critical",
                        f"instances {a.name} and {b.name} disagree on the state after "
                        f"block #{height}: {hash_a} vs {hash_b}",
                        {
                            "height": height,
                            "instances": [a.name, b.name],
                            "state_hashes": {a.name: hash_a, b.name: hash_b},
                            "block_hashes": {a.name: block_a, b.name: block_b},
                        },
                        a.name,
                        now,
                    )
                )
        # A disagreement that went away (a reorg applied by both) is forgotten.
        self._suspected = {k: v for k, v in self._suspected.items() if k in disagreeing}
        if len(self._reported) > 4 * HISTORY * max(1, len(self._instances)):
            lowest = min(
                (min(inst.history) for inst in self._instances.values() if inst.history),
                default=0,
            )
            self._reported = {k for k in self._reported if k[0] >= lowest}


class Monitor:
    """Watches the heartbeats of `settings.stream.upstream` (one or more publishers).

    :ivar tracker: the recorded state and the rules (`HeartbeatTracker`).
    :ivar stream: the monitor's own stream service: heartbeats and the alerts it raises.
    """

    def __init__(self, settings: Settings, *, mismatch_grace: float | None = None) -> None:
        cfg = settings.stream
        if not cfg.upstream:
            raise ConfigError(
                "a monitor watches instances' heartbeats: give --upstream tcp://HOST:PORT "
                "(once per instance), or [stream] upstream = [...] in the config file"
            )
        self.settings = settings
        self.upstream = list(dict.fromkeys(cfg.upstream))
        self.heartbeat_interval = cfg.heartbeat_interval
        grace = 3 * cfg.heartbeat_interval if mismatch_grace is None else mismatch_grace
        self.tracker = HeartbeatTracker(
            max_lag_blocks=cfg.max_lag_blocks,
            max_silence=cfg.max_silence,
            mismatch_grace=grace,
            max_analyzer_lag_blocks=cfg.max_analyzer_lag_blocks,
        )
        self._closed = False
        curve = client_curve(settings)
        self._upstream = UpstreamSocket(self.upstream, TOPICS, curve)
        try:
            self.stream = StreamService(settings, None)
        except BaseException:
            self._upstream.close()
            raise
        self.instance = self.stream.instance
        log.info("monitor watching", upstream=self.upstream, curve=curve is not None)

    # ------------------------------------------------------------------ reads

    @property
    def instances(self) -> dict[str, InstanceStatus]:
        """A snapshot of every instance seen, by name."""
        return self.tracker.instances

    @property
    def alerts(self) -> list[Alert]:
        """The alerts this monitor raised, oldest first."""
        return self.tracker.alerts

    @property
    def upstream_alerts(self) -> list[AlertBody]:
        """The alerts received from the instances watched, oldest first."""
        return self.tracker.upstream_alerts

    def evaluate(self, now: float) -> list[Alert]:
        """Apply the rules as of `now` (see `HeartbeatTracker.evaluate`); publishes nothing."""
        return self.tracker.evaluate(now)

    def status(self) -> dict[str, Any]:
        """Instances and the alerts raised, as JSON-ready values (for a `--json` status)."""
        return {
            "instance": self.instance,
            "upstream": list(self.upstream),
            "instances": {
                name: {
                    "role": st.role,
                    "stream_id": st.stream_id,
                    "head": st.head,
                    "head_hash": st.head_hash,
                    "state_hash": st.state_hash,
                    "last_seq": st.last_seq,
                    "first_height": st.first_height,
                    "sent_at": st.sent_at,
                    "heartbeats": st.heartbeats,
                    "silent": st.silent,
                    "lagging": st.lagging,
                    "behind": st.behind,
                    "reference": st.reference,
                }
                for name, st in self.instances.items()
            },
            "alerts": [
                {
                    "code": a.code,
                    "severity": a.severity,
                    "message": a.message,
                    "details": a.details,
                    "instance": a.instance,
                }
                for a in self.alerts
            ],
        }

    # ------------------------------------------------------------------ running

    def run(self, stop: threading.Event) -> None:
        """Watch until `stop` is set (returns within `_POLL` seconds of it)."""
        if self._closed:
            raise RuntimeError("the monitor is closed")
        interval = self.heartbeat_interval
        next_evaluation = time.monotonic() + interval
        progress = Every()
        while not stop.is_set():
            if progress.due():
                for name, st in sorted(self.instances.items()):
                    log.info(
                        "instance",
                        instance=name,
                        role=st.role,
                        head=st.head,
                        behind=st.behind,
                        reference=st.reference,
                        state_hash=st.state_hash,
                        silent=st.silent,
                    )
            wait = min(_POLL, max(0.0, next_evaluation - time.monotonic()))
            if self._upstream.socket.poll(int(wait * 1000)):
                self._read()
            now = time.monotonic()
            if now >= next_evaluation:
                self._publish(self.evaluate(now))
                next_evaluation = now + interval

    def _read(self) -> None:
        for _ in range(10_000):  # then evaluate, and come back
            try:
                frames = self._upstream.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._on_frames(frames, time.monotonic())

    def _on_frames(self, frames: list[bytes], now: float) -> None:
        if len(frames) != 3:
            log.warning("malformed stream message", frames=len(frames))
            return
        try:
            header = decode_header(frames[1])
            body = decode_body(header.kind, frames[2])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("undecodable stream message", topic=frames[0][:80], error=str(exc))
            return
        if isinstance(body, HeartbeatBody):
            self.tracker.observe_heartbeat(body, now)
        elif isinstance(body, AlertBody) and not self._own(body):
            self.tracker.observe_alert(body, now)

    def _own(self, alert: AlertBody) -> bool:
        """An alert this monitor published (its upstream includes itself): already logged."""
        return self.stream.publisher is not None and alert.instance == self.instance

    def _publish(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self.stream.alert(
                alert.code, alert.message, severity=alert.severity, details=alert.details
            )

    def close(self) -> None:
        """Close the sockets (alerts queued are sent first). Idempotent; call it after `run`
        returned (the sockets belong to the thread that runs it)."""
        if self._closed:
            return
        self._closed = True
        self._upstream.close()
        self.stream.close()
