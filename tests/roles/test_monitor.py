"""The monitor: its rules on recorded heartbeats, then against real executors on loopback."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from streamkit import free_endpoint, stream_settings, wait_until

from monmouth.app import build_node, make_source
from monmouth.core.config import Settings, load_settings
from monmouth.core.errors import ConfigError
from monmouth.core.node import Node
from monmouth.roles.monitor import Alert, HeartbeatTracker, Monitor
from monmouth.stream.schema import AlertBody, HeartbeatBody
from monmouth.stream.subscriber import Subscriber


def beat(
    instance: str,
    head: int | None,
    recent: list[tuple[int, str]] | None = None,
    *,
    head_hash: str | None = None,
    stream_id: str = "log",
    role: str = "executor",
) -> HeartbeatBody:
    """A heartbeat; the head's state hash is the last of `recent` at the head, if any."""
    history = list(recent or [])
    state = dict(history).get(head) if head is not None else None
    return HeartbeatBody(
        instance=instance,
        role=role,
        stream_id=stream_id,
        head=head,
        head_hash=head_hash,
        state_hash=state,
        last_seq=0,
        first_height=None,
        recent=history,
        time=0.0,
    )


def codes(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.code, a.instance) for a in alerts]


# ---------------------------------------------------------------------- rules


def test_silence_and_recovery() -> None:
    tracker = HeartbeatTracker(max_silence=1.0)
    assert tracker.evaluate(100.0) == []  # nobody seen: nobody silent
    tracker.observe_heartbeat(beat("a", 5), 0.0)
    tracker.observe_heartbeat(beat("b", 5), 0.0)
    assert tracker.evaluate(0.9) == []
    tracker.observe_heartbeat(beat("b", 6), 1.0)
    silent = tracker.evaluate(1.5)
    assert codes(silent) == [("instance_silent", "a")]
    assert silent[0].severity == "critical"
    assert silent[0].details["instance"] == "a"
    assert tracker.instances["a"].silent and not tracker.instances["b"].silent
    assert tracker.evaluate(1.9) == []  # once per episode
    # An alert from the instance is a sign of life too.
    tracker.observe_alert(AlertBody("a", "warning", "x", "something"), 2.0)
    recovered = tracker.evaluate(2.1)
    assert codes(recovered) == [("instance_recovered", "a"), ("instance_silent", "b")]
    assert recovered[0].severity == "warning"
    assert [u.code for u in tracker.upstream_alerts] == ["x"]
    tracker.observe_heartbeat(beat("b", 7), 2.2)
    assert codes(tracker.evaluate(2.3)) == [("instance_recovered", "b")]
    assert [a.code for a in tracker.alerts] == [
        "instance_silent",
        "instance_recovered",
        "instance_silent",
        "instance_recovered",
    ]


def test_lag_once_per_episode() -> None:
    tracker = HeartbeatTracker(max_lag_blocks=8, max_silence=10.0)
    tracker.observe_heartbeat(beat("a", 100), 0.0)
    tracker.observe_heartbeat(beat("b", 92), 0.0)  # 8 behind: not more than 8
    tracker.observe_heartbeat(beat("m", None, role="monitor"), 0.0)  # no head: not compared
    assert tracker.evaluate(0.1) == []
    tracker.observe_heartbeat(beat("a", 101), 0.2)
    lagging = tracker.evaluate(0.3)
    assert codes(lagging) == [("instance_lagging", "b")]
    assert lagging[0].details == {
        "instance": "b",
        "role": "executor",
        "head": 92,
        "highest": 101,
        "leader": "a",
        "behind": 9,
    }
    assert tracker.instances["b"].lagging
    tracker.observe_heartbeat(beat("a", 110), 0.4)
    assert tracker.evaluate(0.5) == []  # still the same episode
    tracker.observe_heartbeat(beat("b", 105), 0.6)
    assert codes(tracker.evaluate(0.7)) == [("instance_caught_up", "b")]
    tracker.observe_heartbeat(beat("a", 130), 0.8)
    assert codes(tracker.evaluate(0.9)) == [("instance_lagging", "b")]  # a new episode


def test_analyzer_lag_against_the_executor() -> None:
    tracker = HeartbeatTracker(max_lag_blocks=2, max_analyzer_lag_blocks=10, max_silence=10.0)
    tracker.observe_heartbeat(beat("ex", 100), 0.0)
    tracker.observe_heartbeat(beat("an", 95, role="analyzer"), 0.0)  # 5 behind: within 10
    tracker.observe_heartbeat(beat("rep", 99, role="replica"), 0.0)
    assert tracker.evaluate(0.1) == []
    status = tracker.instances
    assert (status["an"].behind, status["an"].reference) == (5, 100)
    assert (status["rep"].behind, status["ex"].behind) == (1, 0)
    tracker.observe_heartbeat(beat("ex", 106), 0.2)
    tracker.observe_heartbeat(beat("rep", 106, role="replica"), 0.2)
    lagging = tracker.evaluate(0.3)
    assert codes(lagging) == [("analyzer_lagging", "an")]
    assert lagging[0].details == {
        "instance": "an",
        "role": "analyzer",
        "head": 95,
        "highest": 106,
        "leader": "ex",
        "behind": 11,
    }
    assert "analyzer an is 11 blocks behind" in lagging[0].message
    assert tracker.instances["an"].lagging
    # An analyzer ahead of the executor's last heartbeat (it heard a block first) is 0 behind,
    # and measured against the executor, not against itself.
    tracker.observe_heartbeat(beat("an", 107, role="analyzer"), 0.4)
    assert codes(tracker.evaluate(0.5)) == [("analyzer_caught_up", "an")]
    status = tracker.instances
    assert (status["an"].behind, status["an"].reference) == (0, 106)
    # A replica lags by the instances' rule, against the executor too.
    tracker.observe_heartbeat(beat("ex", 110), 0.6)
    tracker.observe_heartbeat(beat("an", 110, role="analyzer"), 0.6)
    assert codes(tracker.evaluate(0.7)) == [("instance_lagging", "rep")]
    # Without a live executor, followers are measured against the highest head there is.
    quiet = HeartbeatTracker(max_analyzer_lag_blocks=3, max_silence=10.0)
    quiet.observe_heartbeat(beat("an", 10, role="analyzer"), 0.0)
    quiet.observe_heartbeat(beat("rep", 20, role="replica"), 0.0)
    assert codes(quiet.evaluate(0.1)) == [("analyzer_lagging", "an")]
    assert quiet.instances["an"].reference == 20


def test_an_analyzer_behind_a_reorg_is_no_mismatch() -> None:
    """An analyzer relays its executor's state hashes: while it catches up it still reports
    a fork the executor left, and that is lag, not a disagreement."""
    tracker = HeartbeatTracker(max_silence=100.0, mismatch_grace=1.0)
    tracker.observe_heartbeat(beat("ex", 12, [(10, "new10"), (11, "new11"), (12, "x")]), 0.0)
    tracker.observe_heartbeat(beat("an", 11, [(10, "old10"), (11, "old11")], role="analyzer"), 0)
    tracker.observe_heartbeat(beat("rep", 11, [(10, "old10"), (11, "old11")], role="replica"), 0)
    assert tracker.evaluate(0.1) == []
    raised = tracker.evaluate(5.0)  # long past the grace
    assert {a.code for a in raised} == {"state_hash_mismatch"}
    assert {tuple(a.details["instances"]) for a in raised} == {("ex", "rep")}


def test_silent_instances_do_not_set_the_pace() -> None:
    tracker = HeartbeatTracker(max_lag_blocks=2, max_silence=1.0)
    tracker.observe_heartbeat(beat("a", 50), 0.0)
    tracker.observe_heartbeat(beat("b", 10), 5.0)
    # a is silent at 5.5: b is alone, and not lagging.
    assert codes(tracker.evaluate(5.5)) == [("instance_silent", "a")]


def test_mismatch_once_per_height_and_pair() -> None:
    tracker = HeartbeatTracker(max_silence=10.0, mismatch_grace=5.0)
    tracker.observe_heartbeat(beat("a", 11, [(10, "x"), (11, "y")], head_hash="0xb11"), 0.0)
    tracker.observe_heartbeat(beat("b", 11, [(10, "x"), (11, "z")], head_hash="0xb11"), 0.0)
    # Same L1 block, different state: raised at once.
    raised = tracker.evaluate(0.1)
    assert codes(raised) == [("state_hash_mismatch", "a")]
    assert raised[0].severity == "critical"
    assert raised[0].details == {
        "height": 11,
        "instances": ["a", "b"],
        "state_hashes": {"a": "y", "b": "z"},
        "block_hashes": {"a": "0xb11", "b": "0xb11"},
    }
    assert tracker.evaluate(0.2) == []  # once per (height, pair)
    tracker.observe_heartbeat(
        beat("b", 12, [(10, "x"), (11, "z"), (12, "w")], head_hash="0xb12"), 0.3
    )
    tracker.observe_heartbeat(
        beat("a", 12, [(10, "x"), (11, "y"), (12, "v")], head_hash="0xb12"), 0.3
    )
    raised = tracker.evaluate(0.4)
    assert [(a.code, a.details["height"]) for a in raised] == [("state_hash_mismatch", 12)]
    # A third instance that agrees with a disagrees with b, at both heights.
    tracker.observe_heartbeat(
        beat("c", 12, [(10, "x"), (11, "y"), (12, "v")], head_hash="0xb12"), 0.5
    )
    raised = tracker.evaluate(0.6)
    pairs = sorted((a.details["height"], *a.details["instances"]) for a in raised)
    assert pairs == [(12, "b", "c")]  # 11: no block hash known for c there: in grace
    raised = tracker.evaluate(5.6)
    pairs = sorted((a.details["height"], *a.details["instances"]) for a in raised)
    assert pairs == [(11, "b", "c")]
    assert tracker.evaluate(9.0) == []


def test_no_false_alarm_at_different_heights() -> None:
    tracker = HeartbeatTracker(max_silence=10.0, mismatch_grace=0.0)
    tracker.observe_heartbeat(beat("a", 12, [(10, "x"), (11, "y"), (12, "z")]), 0.0)
    tracker.observe_heartbeat(beat("b", 9, [(7, "p"), (8, "q"), (9, "r")]), 0.0)
    tracker.observe_heartbeat(beat("c", 11, [(9, "r"), (10, "x"), (11, "y")]), 0.0)
    assert tracker.evaluate(1.0) == []
    # Histories merge across heartbeats: what b said about 9 still counts once it moves on.
    tracker.observe_heartbeat(beat("b", 10, [(10, "x")]), 1.0)
    assert tracker.evaluate(2.0) == []
    assert tracker.instances["b"].recent == ((7, "p"), (8, "q"), (9, "r"), (10, "x"))


def test_reorg_within_grace_is_no_mismatch() -> None:
    tracker = HeartbeatTracker(max_silence=10.0, mismatch_grace=1.0)
    tracker.observe_heartbeat(beat("a", 11, [(10, "x"), (11, "y")], head_hash="0xold"), 0.0)
    tracker.observe_heartbeat(beat("b", 11, [(10, "x"), (11, "y")], head_hash="0xold"), 0.0)
    assert tracker.evaluate(0.1) == []
    # a applies a reorg of 11 and 12; b has not yet.
    tracker.observe_heartbeat(
        beat("a", 12, [(10, "x"), (11, "y2"), (12, "z2")], head_hash="0xnew12"), 0.2
    )
    assert tracker.evaluate(0.5) == []
    # b reverts to 10 (its history above 10 is void) and then follows a.
    tracker.observe_heartbeat(beat("b", 10, [(10, "x")], head_hash="0xb10"), 0.6)
    assert tracker.instances["b"].recent == ((10, "x"),)
    assert tracker.evaluate(0.7) == []
    tracker.observe_heartbeat(
        beat("b", 12, [(10, "x"), (11, "y2"), (12, "z2")], head_hash="0xnew12"), 0.8
    )
    assert tracker.evaluate(5.0) == []


def test_lasting_disagreement_on_different_blocks_is_raised() -> None:
    tracker = HeartbeatTracker(max_silence=100.0, mismatch_grace=1.0)
    tracker.observe_heartbeat(beat("a", 3, [(2, "x"), (3, "y")], head_hash="0xa3"), 0.0)
    tracker.observe_heartbeat(beat("b", 3, [(2, "p"), (3, "q")], head_hash="0xb3"), 0.0)
    assert tracker.evaluate(0.5) == []
    raised = tracker.evaluate(1.5)
    assert sorted(a.details["height"] for a in raised) == [2, 3]


def test_new_stream_forgets_history() -> None:
    tracker = HeartbeatTracker(max_silence=10.0, mismatch_grace=0.0)
    tracker.observe_heartbeat(beat("a", 2, [(1, "x"), (2, "y")], stream_id="one"), 0.0)
    tracker.observe_heartbeat(beat("a", 0, [(0, "g")], stream_id="two"), 1.0)
    assert tracker.instances["a"].recent == ((0, "g"),)
    assert tracker.instances["a"].stream_id == "two"


def test_monitor_needs_upstream(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="upstream"):
        Monitor(settings)


# ---------------------------------------------------------------------- end to end


def executor(tmp_path: Path, name: str, seed: int, endpoint: str, blocks: int) -> Node:
    """An executor that ran `blocks` blocks of the devnet and keeps heartbeating until closed."""
    settings = stream_settings(
        tmp_path / name,
        endpoint,
        stream={"instance": name},
        devnet={"seed": seed, "txs_per_block": 4},
    )
    node = build_node(settings)
    try:
        anyio.run(functools.partial(node.run, make_source(settings), max_blocks=blocks))
    except BaseException:
        node.close()
        raise
    return node


@pytest.fixture
def running() -> Iterator[Callable[[Monitor], None]]:
    """Run monitors in threads; stops and closes them at the end of the test."""
    started: list[tuple[Monitor, threading.Thread, threading.Event]] = []

    def start(monitor: Monitor) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=monitor.run, args=(stop,), daemon=True)
        thread.start()
        started.append((monitor, thread, stop))

    yield start
    for monitor, thread, stop in started:
        stop.set()
        began = time.monotonic()
        thread.join(5)
        assert not thread.is_alive()
        assert time.monotonic() - began < 3.0  # run returns promptly (stop is polled)
        monitor.close()
        monitor.close()  # idempotent


def test_monitor_end_to_end(tmp_path: Path, running: Callable[[Monitor], None]) -> None:
    endpoints = {name: free_endpoint() for name in "abcd"}
    nodes = {
        "a": executor(tmp_path, "a", 7, endpoints["a"], 20),
        "b": executor(tmp_path, "b", 7, endpoints["b"], 20),  # the same chain as a
        "c": executor(tmp_path, "c", 8, endpoints["c"], 20),  # another seed: another state
        "d": executor(tmp_path, "d", 7, endpoints["d"], 5),  # a's chain, far behind
    }
    own = free_endpoint()
    try:
        assert nodes["a"].store.head() == nodes["b"].store.head()
        settings = load_settings(
            None,
            data_dir=tmp_path / "monitor",
            role="monitor",
            stream={
                "publish": own,
                "instance": "watch",
                "upstream": list(endpoints.values()),
                "heartbeat_interval": 0.2,
                "max_silence": 1.0,
                "max_lag_blocks": 8,
            },
        )
        monitor = Monitor(settings)
        alerts_out = Subscriber(own, kinds=["alert"])
        try:
            running(monitor)

            def raised(code: str) -> list[Alert]:
                return [a for a in monitor.alerts if a.code == code]

            wait_until(lambda: len(monitor.instances) == 4)
            wait_until(
                lambda: len(raised("state_hash_mismatch")) >= 3 and bool(raised("instance_lagging"))
            )
            time.sleep(1.0)  # time for false alarms, if any
            mismatches = raised("state_hash_mismatch")
            heights: dict[tuple[str, ...], list[int]] = {}
            for alert in mismatches:
                pair = tuple(alert.details["instances"])
                heights.setdefault(pair, []).append(alert.details["height"])
            # c disagrees with a and b at every height they both reported (once each), and with
            # d at the one height they share; a, b and d agree.
            a_heights = [h for h, _ in monitor.instances["a"].recent]
            assert sorted(heights[("a", "c")]) == sorted(heights[("b", "c")]) == a_heights
            assert heights[("c", "d")] == [4]
            assert set(heights) == {("a", "c"), ("b", "c"), ("c", "d")}
            first = mismatches[0].details
            hashes = first["state_hashes"]
            assert hashes["c"] != hashes[first["instances"][0]]
            assert [a.instance for a in raised("instance_lagging")] == ["d"]
            status = monitor.instances
            assert status["a"].head == status["b"].head == status["c"].head == 19
            assert status["a"].state_hash == status["b"].state_hash != status["c"].state_hash
            assert status["d"].head == 4 and status["d"].lagging
            assert not raised("instance_silent")

            # A closed instance falls silent.
            nodes.pop("c").close()
            wait_until(lambda: bool(raised("instance_silent")))
            assert [a.instance for a in raised("instance_silent")] == ["c"]
            assert monitor.instances["c"].silent

            # The monitor publishes what it raises.
            got: list[AlertBody] = []
            deadline = time.monotonic() + 5
            while not any(a.code == "instance_silent" for a in got):
                assert time.monotonic() < deadline
                msg = alerts_out.receive(0.2)
                if msg is not None and msg.kind == "alert":
                    got.append(msg.body)
            assert all(a.instance == "watch" for a in got)
            assert monitor.status()["instances"]["c"]["silent"] is True
        finally:
            alerts_out.close()
    finally:
        for node in nodes.values():
            node.close()
