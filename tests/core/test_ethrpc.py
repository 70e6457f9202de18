"""The JSON-RPC client's fault handling, against a real HTTP server on loopback that misbehaves
on purpose (HTTP 5xx, JSON-RPC errors, garbage, a closed port), then answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest

from monmouth.core.ethrpc import EthRpc, RpcError, RpcUnavailable


class Script:
    """What the server does for each request, in order; then it answers normally."""

    def __init__(self) -> None:
        self.faults: list[str] = []
        self.requests = 0


def make_handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests += 1
            fault = script.faults.pop(0) if script.faults else "ok"
            if fault == "503":
                self.send_response(503)
                self.end_headers()
                return
            if fault == "garbage":
                payload: bytes = b"<html>not json"
            elif fault == "rpc-error":
                payload = json.dumps(
                    [
                        {
                            "jsonrpc": "2.0",
                            "id": c["id"],
                            "error": {"code": -32000, "message": "busy"},
                        }
                        for c in body
                    ]
                ).encode()
            elif fault == "no-method":
                payload = json.dumps(
                    [
                        {
                            "jsonrpc": "2.0",
                            "id": c["id"],
                            "error": {"code": -32601, "message": "nope"},
                        }
                        for c in body
                    ]
                ).encode()
            else:
                payload = json.dumps(
                    [{"jsonrpc": "2.0", "id": c["id"], "result": c["method"]} for c in body]
                ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(script))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def run(main: Callable[[], Awaitable[object]]) -> object:
    return anyio.run(main)


def test_transient_faults_are_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.faults = ["503", "garbage", "503"]

    async def main() -> object:
        async with EthRpc(url, attempts=None, max_backoff=0.05) as rpc:
            return await rpc.batch([("eth_blockNumber", []), ("eth_chainId", [])])

    assert run(main) == ["eth_blockNumber", "eth_chainId"]
    assert script.requests == 4


def test_rpc_errors_retried_only_when_following(server: tuple[str, Script]) -> None:
    url, script = server
    script.faults = ["rpc-error", "rpc-error"]

    async def following() -> object:
        async with EthRpc(url, attempts=None, max_backoff=0.05, retry_errors=True) as rpc:
            return await rpc.call("eth_blockNumber")

    assert run(following) == "eth_blockNumber"
    script.faults = ["rpc-error"]

    async def once() -> object:
        async with EthRpc(url) as rpc:
            return await rpc.call("eth_blockNumber")

    with pytest.raises(RpcError, match="busy"):
        run(once)


def test_method_not_found_is_never_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.faults = ["no-method"]

    async def main() -> object:
        async with EthRpc(url, attempts=None, retry_errors=True) as rpc:
            return await rpc.call("eth_getBlockReceipts", "0x1")

    with pytest.raises(RpcError) as info:
        run(main)
    assert info.value.code == -32601 and script.requests == 1


def test_bounded_attempts_give_a_clear_error() -> None:
    async def main() -> object:
        async with EthRpc("http://127.0.0.1:9", attempts=2, max_backoff=0.01) as rpc:
            return await rpc.call("eth_blockNumber")

    with pytest.raises(RpcUnavailable, match="after 2 attempt"):
        run(main)
