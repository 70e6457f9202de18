"""The HTTP and JSON-RPC envelope: error codes, batches, null parameters, limits, CORS,
keep-alive, as raw HTTP on loopback against a real server child."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from rpcnode import (
    Served,
    served_fixture,  # noqa: F401 (the `served` fixture)
    servers,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def start_server() -> Iterator[Any]:
    yield from servers()


def post(url: str, content: bytes | str, **headers: str) -> httpx.Response:
    return httpx.post(
        url, content=content, headers={"content-type": "application/json", **headers}, timeout=10
    )


def test_parse_error_and_invalid_requests(served: Served) -> None:
    parse_error = {
        "jsonrpc": "2.0",
        "error": {"code": -32700, "message": "Parse error"},
        "id": None,
    }
    assert post(served.url, b"{not json").json() == parse_error
    # Nested too deep to decode (20,000 levels in 40 KB) is a parse error too.
    assert post(served.url, b"[" * 20_000 + b"]" * 20_000).json() == parse_error
    invalid = {"code": -32600, "message": "Invalid request"}
    assert post(served.url, b'{"id": 3, "method": "getSlot"}').json() == {
        "jsonrpc": "2.0",
        "error": invalid,
        "id": 3,
    }
    assert post(served.url, b"[]").json()["error"] == invalid
    assert post(served.url, b"[1]").json() == [{"jsonrpc": "2.0", "error": invalid, "id": None}]
    assert served.call("getNothing")["error"] == {"code": -32601, "message": "Method not found"}


def test_params(served: Served) -> None:
    assert "result" in served.call("getSlot", None)
    assert isinstance(
        post(served.url, b'{"jsonrpc":"2.0","id":1,"method":"getSlot","params":null}').json()[
            "result"
        ],
        int,
    )
    address = "11111111111111111111111111111111"
    assert "result" in served.call("getBalance", [address, None])
    bad = served.call("getBalance", ["not-a-key"])["error"]
    assert bad["code"] == -32602 and "params[0]" in bad["message"]
    missing = served.call("getBalance", [])["error"]
    assert missing["code"] == -32602 and "at least 1" in missing["message"]
    extra = served.call("getSlot", [{}, 1])["error"]
    assert extra["code"] == -32602 and "at most 1" in extra["message"]
    named = served.call("getSlot", {"commitment": "processed"})["error"]
    assert named["code"] == -32602
    commitment = served.call("getSlot", [{"commitment": "soon"}])["error"]
    assert commitment["code"] == -32602 and "soon" in commitment["message"]


def test_min_context_slot(served: Served) -> None:
    slot = served.result("getSlot")
    assert served.result("getSlot", [{"minContextSlot": slot}]) == slot
    error = served.call(
        "getBalance", ["11111111111111111111111111111111", {"minContextSlot": slot + 5}]
    )["error"]
    assert error == {
        "code": -32016,
        "message": "Minimum context slot has not been reached",
        "data": {"contextSlot": slot},
    }


def test_batches(served: Served) -> None:
    calls: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": "a", "method": "getSlot"},
        {"jsonrpc": "2.0", "method": "getSlot"},  # a notification: no answer
        {"jsonrpc": "2.0", "id": 7, "method": "nope"},
        {"jsonrpc": "2.0", "id": None, "method": "getHealth", "params": None},
    ]
    answers = httpx.post(served.url, json=calls, timeout=10).json()
    assert [a["id"] for a in answers] == ["a", 7, None]
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["result"] == "ok"
    only_notifications = httpx.post(served.url, json=[calls[1]], timeout=10)
    assert only_notifications.status_code == 204 and only_notifications.content == b""


def test_http_surface(served: Served) -> None:
    response = httpx.post(served.url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["content-type"].startswith("application/json")
    preflight = httpx.options(
        served.url,
        headers={
            "origin": "http://example.test",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, solana-client",
        },
    )
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "solana-client" in preflight.headers["access-control-allow-headers"]
    health = httpx.get(served.url + "/health")
    assert (health.status_code, health.text) == (200, "ok")
    assert httpx.get(served.url + "/").status_code == 405
    assert post(served.url, b"{}", **{"content-type": "text/plain"}).status_code == 415


def test_keep_alive_and_pipelining(served: Served) -> None:
    parts = urlsplit(served.url)
    body = b'{"jsonrpc":"2.0","id":1,"method":"getHealth"}'
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request * 3)  # three requests in one write
        received = b""
        while received.count(b'"result":"ok"') < 3:
            chunk = sock.recv(65536)
            assert chunk, "the server closed a keep-alive connection"
            received += chunk
        assert received.count(b"HTTP/1.1 200 OK") == 3
        sock.sendall(request)  # still open
        assert b'"result":"ok"' in sock.recv(65536)


def test_limits(served: Served, start_server: Any) -> None:
    child = start_server(
        served.node.store.path, max_batch=2, max_body_bytes=2048, request_timeout=0.5
    )
    calls = [{"jsonrpc": "2.0", "id": i, "method": "getSlot"} for i in range(3)]
    error = httpx.post(child.url, json=calls).json()["error"]
    assert error["code"] == -32600 and "limit of 2" in error["message"]
    assert len(httpx.post(child.url, json=calls[:2]).json()) == 2
    big = post(child.url, b" " * 4096)
    assert big.status_code == 413
    # A request that does not arrive whole in time is cut off.
    parts = urlsplit(child.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        started = time.monotonic()
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 5


def raw_exchange(served: Served, data: bytes, *, wait_for: bytes) -> bytes:
    parts = urlsplit(served.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while wait_for not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_expect_continue_and_http_1_0(served: Served) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"getHealth"}'
    parts = urlsplit(served.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        # curl asks first for bodies over 1 KiB: the server says to go on, then answers.
        sock.sendall(
            b"POST / HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        assert b'"result":"ok"' in sock.recv(65536)
    # HTTP/1.0 without keep-alive: one answer, then the server closes.
    answer = raw_exchange(
        served,
        b"POST / HTTP/1.0\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
        wait_for=b"\x00never",
    )
    assert b'"result":"ok"' in answer and b"Connection: close" in answer
    # Garbage is a 400 and the end of the connection.
    assert raw_exchange(served, b"NOT HTTP\r\n\r\n", wait_for=b"\x00never").startswith(
        b"HTTP/1.1 400"
    )
