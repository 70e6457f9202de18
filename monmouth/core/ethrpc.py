"""A small Ethereum JSON-RPC client over HTTP (httpx): single and batched calls, with retries.

Faults of the L1 node (timeouts, refused connections, HTTP 5xx, a node that goes away and comes
back) are retried with exponential backoff and a log line; `attempts=None` retries forever, which
is what following a chain wants. A JSON-RPC error answer is not a fault of the connection: it is
raised at once as `RpcError`, except the ones listed as transient.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import anyio
import httpx
import structlog

from monmouth.core.errors import SourceError

log = structlog.get_logger("monmouth.rpc")


class RpcError(Exception):
    """The node answered a call with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: JSON-RPC error {code}: {message}")
        self.method = method
        self.code = code
        self.message = message


class RpcUnavailable(SourceError):
    """The node could not be reached within the allowed attempts."""


class EthRpc:
    """JSON-RPC over HTTP to one Ethereum node.

    :param url: the node's HTTP endpoint.
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
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"{url!r} is not an http(s):// JSON-RPC URL")
        self.url = url
        self.attempts = attempts
        self.max_backoff = max_backoff
        self._client = httpx.AsyncClient(timeout=timeout)
        self._ids = itertools.count(1)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> EthRpc:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(self, method: str, *params: Any) -> Any:
        """One call; returns its `result` or raises RpcError."""
        (result,) = await self.batch([(method, list(params))])
        return result

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one HTTP request; results in the order of `calls`.

        Raises RpcError for the first call the node answered with an error.
        """
        if not calls:
            return []
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
        delay = 0.1
        for attempt in itertools.count(1):
            try:
                response = await self._client.post(self.url, json=payload)
                if response.status_code >= 500:
                    raise httpx.HTTPStatusError(
                        f"HTTP {response.status_code}", request=response.request, response=response
                    )
                response.raise_for_status()
                answers = response.json()
                if isinstance(answers, dict):
                    # A node that rejects a batch whole answers with one error object.
                    answers = [answers]
                if not isinstance(answers, list):
                    raise RpcError(what, -32700, "the answer is not JSON-RPC")
                return answers
            except (httpx.TransportError, httpx.HTTPStatusError, ValueError) as exc:
                if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code < 500:
                    raise RpcError(what, exc.response.status_code, str(exc)) from None
                if self.attempts is not None and attempt >= self.attempts:
                    raise RpcUnavailable(
                        f"the L1 node at {self.url} did not answer {what} after {attempt} "
                        f"attempts ({type(exc).__name__}: {exc}); is it running?"
                    ) from None
                log.warning(
                    "rpc retry", url=self.url, method=what, attempt=attempt,
                    error=f"{type(exc).__name__}: {exc}", retry_in=round(delay, 2),
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")
