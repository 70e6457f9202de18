"""The request socket's thread while nobody asks anything: it waits for a request (or its
close) instead of waking on a timer, which took the interpreter lock from the node's executing
thread 50 times a second; it still answers at once, and closes at once."""

from __future__ import annotations

import threading
import time

import zmq
from ports import free_endpoint

from monmouth.stream.requests import RequestServer
from monmouth.stream.schema import Request
from monmouth.stream.subscriber import ask


class CountingServer(RequestServer):
    """Counts the turns of its thread's loop (each begins with `_progress`)."""

    turns = 0

    def _progress(self) -> bool:
        self.turns += 1
        return super()._progress()


def test_an_idle_request_socket_does_not_wake_and_still_answers() -> None:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    endpoint = free_endpoint()
    server = CountingServer(context, endpoint, None, head=lambda: 7)
    try:
        time.sleep(1.0)
        # One turn to start waiting; the old loop had about 50 by now.
        assert server.turns <= 2
        replies = list(ask(context, endpoint, Request("status"), timeout=30))
        assert replies[0][0].head == 7 and server.requests == 1
        time.sleep(0.5)
        # The request, its reply, then waiting again: a handful of turns, not 25 more.
        assert server.turns <= 8
    finally:
        server.close()
    # Closing woke it: the thread is gone (close waits up to 10 s for it).
    assert not any(t.name == "monmouth-requests" and t.is_alive() for t in threading.enumerate())
    context.term()
