"""The monitoring plugin's HTTP side, in-process, where threads meet: a scrape during the
plugin's start, a start that fails after binding, and two scrapes at once.

The server binds first (a taken address must fail the start before anything else is built);
a scrape that arrives before the plugin has started waits in the listen backlog. It used to be
answered at once, and `/metrics` answered 500 (`AssertionError`, `meters` still None) when it
arrived while the plugin was installing the meters: CI's rare failure of
tests/plugins/cache/test_cache_plugin.py::test_metrics_and_top_show_the_cache, which polls
`/metrics` from the moment the node starts.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.prometheus import _CustomCollector
from opentelemetry.sdk.metrics.export import MetricsData
from ports import free_port

from monmouth.core.config import load_settings
from monmouth.core.node import Node
from monmouth.core.plugins import load_plugins
from monmouth.plugins.monitoring.meters import Meters

#: Seconds a test holds one thread at the point where another must not overtake it (the
#: bugs); with the fixes the other never comes, so this only bounds the detection.
EARLY = 2.0


def test_a_scrape_during_the_start_is_answered_once_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    monkeypatch.setenv("MONMOUTH_PLUGINS__MONITORING__ADDRESS", f"127.0.0.1:{port}")
    answers: list[httpx.Response] = []
    scrape = threading.Thread(target=lambda: answers.append(httpx.get(url, timeout=120)))
    install = Meters.install

    def installing(sla_target: float) -> Meters:
        # The server is bound by now: the scrape connects, and is in before the meters are.
        scrape.start()
        scrape.join(EARLY)
        return install(sla_target)

    monkeypatch.setattr(Meters, "install", installing)
    settings = load_settings(None, data_dir=tmp_path / "data", store={"sync": False})
    with Node(settings, plugins=load_plugins(settings)):
        scrape.join(120)
        assert not scrape.is_alive()
        (answer,) = answers
        # An early answer was the 500 of CI's failure: {"error": "AssertionError: "}.
        assert answer.status_code == 200, answer.text
        assert "monmouth_blocks_committed_total" in answer.text


def test_a_start_that_fails_after_binding_lets_the_port_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node disables a plugin whose start raised, and runs on; the plugin's server, bound
    before the failure, must not stay behind it, answering for a plugin that never started."""
    port = free_port()
    monkeypatch.setenv("MONMOUTH_PLUGINS__MONITORING__ADDRESS", f"127.0.0.1:{port}")

    def failing(sla_target: float) -> Meters:
        raise RuntimeError("no meters")

    monkeypatch.setattr(Meters, "install", failing)
    settings = load_settings(None, data_dir=tmp_path / "data", store={"sync": False})
    with Node(settings, plugins=load_plugins(settings)) as node:
        assert node.plugins.states["monitoring"].disabled
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free again (raises EADDRINUSE when not)


def test_two_scrapes_at_once_each_get_every_metric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exporter queues each collection's data and drains the queue while encoding: a scrape
    that collected while another was encoding lost its data to it (an answer without the
    monmouth_ metrics, or a 500 when both drained the last entry). The first scrape is held
    right after its collection, while the second is sent."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    monkeypatch.setenv("MONMOUTH_PLUGINS__MONITORING__ADDRESS", f"127.0.0.1:{port}")
    first_in, second_in = threading.Event(), threading.Event()
    add = _CustomCollector.add_metrics_data

    def adding(self: _CustomCollector, data: MetricsData) -> None:
        add(self, data)
        if not first_in.is_set():
            first_in.set()
            second_in.wait(EARLY)  # without the fix the second collects meanwhile
        else:
            second_in.set()

    settings = load_settings(None, data_dir=tmp_path / "data", store={"sync": False})
    with Node(settings, plugins=load_plugins(settings)):
        monkeypatch.setattr(_CustomCollector, "add_metrics_data", adding)
        answers: dict[str, httpx.Response] = {}

        def scrape(name: str) -> None:
            answers[name] = httpx.get(url, timeout=120)

        first = threading.Thread(target=scrape, args=("first",))
        first.start()
        assert first_in.wait(120)
        second = threading.Thread(target=scrape, args=("second",))
        second.start()
        for thread in (first, second):
            thread.join(120)
            assert not thread.is_alive()
    for name in ("first", "second"):
        assert answers[name].status_code == 200, (name, answers[name].text)
        assert "monmouth_blocks_committed_total" in answers[name].text, name


def test_an_idle_server_sleeps_and_still_answers_and_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between requests the server's thread waits for a connection, where `serve_forever`
    woke every 0.1 s (taking the interpreter lock from the node's executing thread): its loop
    turns once per request, and `close` still ends it."""
    from monmouth.plugins.monitoring import server as http
    from monmouth.plugins.monitoring.server import HttpServer, Response

    turns = 0
    service_actions = http._Server.service_actions

    def counted(self: http._Server) -> None:
        nonlocal turns
        turns += 1
        service_actions(self)

    monkeypatch.setattr(http._Server, "service_actions", counted)
    server = HttpServer(
        "127.0.0.1:0", {"/health": lambda headers: Response.json(200, {"ok": True})}
    )
    server.start()
    try:
        threading.Event().wait(1.0)
        assert turns == 0  # serve_forever's loop had turned about 10 times
        for _ in range(3):
            assert httpx.get(f"{server.url}/health", timeout=30).json() == {"ok": True}
        assert turns == 3
    finally:
        server.close()
    assert not any(t.name == "monitoring-http" and t.is_alive() for t in threading.enumerate())
