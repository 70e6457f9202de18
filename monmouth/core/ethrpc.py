"""A small Ethereum JSON-RPC client over HTTP (httpx) or WebSocket: single and batched calls,
with retries, and `newHeads` subscriptions on a WebSocket.

Faults of the L1 node (timeouts, refused connections, HTTP 5xx, a node that goes away and comes
back) are retried with exponential backoff and a log line; `attempts=None` retries forever, which
is what following a chain wants. A JSON-RPC error answer is raised at once as `RpcError`, unless
`retry_errors` is set (following a chain: a node that is syncing or overloaded answers errors for
a while); "method not found" is always raised, so a caller can fall back to another method.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import anyio
import httpx
import msgspec
import structlog
import websockets
from websockets.asyncio.client import ClientConnection

from monmouth.core.errors import SourceError
from monmouth.core.l1 import decode_as_deep_as_json

log = structlog.get_logger("monmouth.rpc")


#: JSON-RPC "method not found".
METHOD_NOT_FOUND = -32601


class RpcError(Exception):
    """The node answered a call with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: JSON-RPC error {code}: {message}")
        self.method = method
        self.code = code
        self.message = message


class RpcUnavailable(SourceError):
    """The node could not be reached within the allowed attempts."""


class _WebSocket:
    """One WebSocket connection: calls one at a time, subscription messages counted aside."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ws: ClientConnection | None = None
        self._lock = anyio.Lock()
        self._subscribed = False
        self._heads = 0

    async def _connection(self) -> ClientConnection:
        if self._ws is None:
            self._ws = await websockets.connect(self.url, max_size=None)
            if self._subscribed:
                self._subscribed = False
                await self._subscribe(self._ws)
        return self._ws

    async def _subscribe(self, ws: ClientConnection) -> None:
        await ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 0, "method": "eth_subscribe", "params": ["newHeads"]}
            )
        )
        while True:
            answer = json.loads(await ws.recv())
            if isinstance(answer, dict) and answer.get("id") == 0:
                if answer.get("error"):
                    raise RpcError("eth_subscribe", -32000, str(answer["error"]))
                self._subscribed = True
                return

    async def subscribe_new_heads(self) -> None:
        async with self._lock:
            await self._subscribe(await self._connection())

    async def wait_for_head(self, at_most: float) -> bool:
        """Return True when a new head was announced, False after `at_most` seconds."""
        async with self._lock:
            if self._heads:
                self._heads = 0
                return True
            ws = await self._connection()
            with anyio.move_on_after(at_most):
                while True:
                    if _is_notification(json.loads(await ws.recv())):
                        return True
            return False

    async def post(self, payload: list[dict[str, Any]]) -> Any:
        async with self._lock:
            ws = await self._connection()
            try:
                await ws.send(json.dumps(payload))
                while True:
                    answer = loads(await ws.recv())
                    if _is_notification(answer):
                        self._heads += 1
                        continue
                    return answer
            except BaseException:
                self._ws = None  # the next call reconnects
                await ws.close()
                raise

    async def aclose(self) -> None:
        if self._ws is not None:
            await self._ws.close()


def loads(text: bytes | str) -> Any:
    """`json.loads(text)`: the same value or the same error, in about half its time where
    msgspec's decoder takes the text (answers with blocks are most of what a node sends).

    msgspec refuses what it reads otherwise than `json` (NaN, numbers beyond a float, lone
    surrogates, other encodings than UTF-8); `json` then reads it, or raises its own error.
    """
    try:
        return decode_as_deep_as_json(msgspec.json.decode, text)
    except (msgspec.DecodeError, RecursionError):
        return json.loads(text)


def _is_notification(message: Any) -> bool:
    return isinstance(message, dict) and message.get("method") == "eth_subscription"


_TRANSIENT = (
    httpx.TransportError,
    httpx.HTTPStatusError,
    ValueError,
    OSError,
    websockets.ConnectionClosed,
    websockets.InvalidHandshake,
)


class EthRpc:
    """JSON-RPC to one Ethereum node, over HTTP or (for a ws:// URL) a WebSocket.

    :param url: the node's HTTP or WebSocket endpoint.
    :param attempts: how many times a call is tried when the connection fails; None for ever.
    :param timeout: seconds per HTTP request.
    """

    def __init__(
        self,
        url: str,
        *,
        attempts: int | None = 5,
        timeout: float = 10.0,
        max_backoff: float = 5.0,
        retry_errors: bool = False,
    ) -> None:
        if not url.startswith(("http://", "https://", "ws://", "wss://")):
            raise SourceError(f"{url!r} is not an http(s):// or ws(s):// JSON-RPC URL")
        self.url = url
        self._ws = _WebSocket(url) if url.startswith("ws") else None
        self.attempts = attempts
        self.max_backoff = max_backoff
        self.retry_errors = retry_errors
        self._client = httpx.AsyncClient(timeout=timeout)
        self._ids = itertools.count(1)

    @property
    def websocket(self) -> bool:
        """Whether new heads can be subscribed to (a ws:// URL)."""
        return self._ws is not None

    async def subscribe_new_heads(self) -> None:
        """Subscribe to `newHeads` (WebSocket only); `wait_for_head` then wakes on each."""
        if self._ws is None:
            raise SourceError("newHeads needs a ws:// URL")
        await self._retrying(self._ws.subscribe_new_heads, "eth_subscribe")

    async def wait_for_head(self, at_most: float) -> bool:
        """Wait for a new head (WebSocket) or just `at_most` seconds (HTTP: poll); True when a
        head was announced."""
        if self._ws is None:
            await anyio.sleep(at_most)
            return False
        ws = self._ws
        announced: bool = await self._retrying(lambda: ws.wait_for_head(at_most), "newHeads")
        return announced

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._ws is not None:
            await self._ws.aclose()

    async def __aenter__(self) -> EthRpc:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(self, method: str, *params: Any) -> Any:
        """One call; returns its `result` or raises RpcError."""
        (result,) = await self.batch([(method, list(params))])
        return result

    async def batch(
        self, calls: Sequence[tuple[str, list[Any]]], *, retry_errors: bool | None = None
    ) -> list[Any]:
        """Several calls in one request; results in the order of `calls`.

        Raises RpcError for the first call the node answered with an error (after retries, with
        `retry_errors`, which overrides the client's setting for this call).
        """
        if not calls:
            return []
        if not (self.retry_errors if retry_errors is None else retry_errors):
            return await self._batch_once(calls)
        results: list[Any] = await self._retrying(lambda: self._batch_once(calls), calls[0][0])
        return results

    async def _batch_once(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            for i, (method, params) in zip(ids, calls, strict=True)
        ]
        answers = await self._post(payload, calls[0][0])
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results = []
        for i, (method, _) in zip(ids, calls, strict=True):
            answer = by_id.get(i)
            if answer is None:
                raise RpcError(method, -32603, "the node sent no answer for this call")
            error = answer.get("error")
            if error is not None:
                raise RpcError(method, int(error.get("code", 0)), str(error.get("message", "")))
            results.append(answer.get("result"))
        return results

    async def _post(self, payload: list[dict[str, Any]], what: str) -> list[Any]:
        answers = await self._retrying(lambda: self._send(payload), what)
        if isinstance(answers, dict):
            # A node that rejects a batch whole answers with one error object.
            answers = [answers]
        if not isinstance(answers, list):
            raise RpcError(what, -32700, "the answer is not JSON-RPC")
        return answers

    async def _send(self, payload: list[dict[str, Any]]) -> Any:
        if self._ws is not None:
            return await self._ws.post(payload)
        response = await self._client.post(self.url, json=payload)
        if response.status_code >= 500:
            raise httpx.HTTPStatusError(
                f"HTTP {response.status_code}", request=response.request, response=response
            )
        response.raise_for_status()
        return loads(response.content)  # response.json(), faster

    async def _retrying(self, attempt_once: Any, what: str) -> Any:
        """Run `attempt_once()` until it succeeds; connection faults back off and retry."""
        delay = 0.1
        for attempt in itertools.count(1):
            try:
                return await attempt_once()
            except (*_TRANSIENT, RpcError) as exc:
                if isinstance(exc, RpcError) and (
                    not self.retry_errors or exc.code == METHOD_NOT_FOUND
                ):
                    raise
                if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code < 500:
                    raise RpcError(what, exc.response.status_code, str(exc)) from None
                if self.attempts is not None and attempt >= self.attempts:
                    raise RpcUnavailable(
                        f"the L1 node at {self.url} did not answer {what} after {attempt} "
                        f"attempt(s) ({type(exc).__name__}: {exc}); is it running?"
                    ) from None
                log.warning(
                    "rpc retry",
                    url=self.url,
                    method=what,
                    attempt=attempt,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=round(delay, 2),
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")
