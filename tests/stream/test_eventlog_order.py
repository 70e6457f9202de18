"""`StreamService.ordered`: segments submitted under it reach the publisher when the outermost
hold ends, by sequence number, whatever order they were submitted in. The node holds it while
the store's writer process commits a group (whose numbers that process takes); a plugin may
publish meanwhile from a hook on the node's thread and take lower numbers, or higher.

The publisher here records what it is given (a unit test of `StreamService` alone: the real
publisher process is tested in test_publisher_process.py)."""

from __future__ import annotations

import threading
from pathlib import Path

from monmouth.core.config import load_settings
from monmouth.core.records import Segment
from monmouth.core.state import Store
from monmouth.stream.eventlog import StreamService


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def submit(self, seq: int, segment: Segment) -> None:
        self.sent.append(seq)


def _service(tmp_path: Path) -> tuple[StreamService, _Recorder]:
    settings = load_settings(None, data_dir=tmp_path / "data", stream={"publish": None})
    service = StreamService(settings, None)
    recorder = _Recorder()
    service.publisher = recorder  # type: ignore[assignment]
    return service, recorder


def _segment(count: int) -> list[Segment]:
    return [Segment("plugin", 1, count, b"")]


def test_held_submits_go_out_in_sequence_order(tmp_path: Path) -> None:
    service, recorder = _service(tmp_path)
    service.submit(0, _segment(1))  # not held: at once
    assert recorder.sent == [0]
    with service.ordered():
        service.submit(5, _segment(2))  # the group, numbered by the writer process
        with service.ordered():  # a plugin publishing from a hook on the same thread
            service.submit(1, _segment(4))
        assert recorder.sent == [0]  # nothing until the outermost hold ends
    assert recorder.sent == [0, 1, 5]


def test_another_thread_waits_for_the_hold(tmp_path: Path) -> None:
    service, recorder = _service(tmp_path)
    entered = threading.Event()

    def publish() -> None:
        entered.set()
        with service.ordered():
            service.submit(3, _segment(1))

    with service.ordered():
        thread = threading.Thread(target=publish)
        thread.start()
        entered.wait(10)
        thread.join(0.2)
        assert thread.is_alive()  # waiting for the node's hold
        service.submit(1, _segment(2))
    thread.join(10)
    assert recorder.sent == [1, 3]


def test_a_plugin_publishing_while_a_group_is_written(tmp_path: Path) -> None:
    # With a store: the plugin's segment is stored and numbered inside the node's hold.
    service, recorder = _service(tmp_path)
    with Store(tmp_path / "store", sync=False) as store:
        service.store = store
        service.kinds["finding"] = ""
        with service.ordered():
            first = service.publish_plugin("finding", 1, {"x": 1}, "")
            assert recorder.sent == []
        assert recorder.sent == [first]
