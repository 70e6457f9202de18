"""JSON-RPC 2.0 over the request body: single calls and batches, Agave's error objects.

Read methods run at once, all calls of one body on one snapshot of the state (one LMDB read
transaction). A body with a write (sendTransaction, requestAirdrop) is answered later: its
checks read a snapshot, then the write waits for the node's relay.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from monmouth.core import b58
from monmouth.core.state import Store
from monmouth.plugins.rpc.cluster import CLUSTER_METHODS
from monmouth.plugins.rpc.counts import TransactionCounter
from monmouth.plugins.rpc.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
)
from monmouth.plugins.rpc.methods import (
    READ_METHODS,
    airdrop_id,
    prepare_airdrop,
    prepare_send,
    simulate_transaction,
)
from monmouth.plugins.rpc.simulate import Simulator
from monmouth.plugins.rpc.snapshot import Snapshot

__all__ = ["Dispatcher", "Relay"]

#: Sends a RelayRequest's fields to the node and waits for its answer; raises RpcError.
Relay = Callable[..., Awaitable[None]]
_WRITE_METHODS = frozenset({"sendTransaction", "requestAirdrop"})
_NO_ID = object()
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _error(error: RpcError, request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}


def _result(result: Any, request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


class Dispatcher:
    """Answers request bodies from `store` (read-only), relaying writes through `relay`."""

    def __init__(
        self,
        store: Store,
        relay: Relay | None,
        *,
        max_batch: int,
        request_timeout: float,
        airdrop_max_lamports: int,
    ) -> None:
        self.store = store
        self.relay = relay
        self.max_batch = max_batch
        self.request_timeout = request_timeout
        self.airdrop_max_lamports = airdrop_max_lamports
        self.simulator = Simulator()
        self.counter = TransactionCounter()
        self.methods: dict[str, Callable[[Snapshot, Any], Any]] = {
            **READ_METHODS,
            **CLUSTER_METHODS,
            "simulateTransaction": functools.partial(
                simulate_transaction, simulator=self.simulator
            ),
        }
        #: Airdrops answered so far per (recipient, lamports, after): `airdrop_id`'s nonce.
        self.airdrops: dict[tuple[bytes, int, int], int] = {}

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        with self.store.read() as view:
            yield Snapshot(view, self.counter)

    def health(self) -> str:
        """GET /health: "ok" once a block is executed (Agave: ok, behind or unknown)."""
        with self.snapshot() as snap:
            return "ok" if snap.head is not None else "unknown"

    def handle(self, body: bytes) -> bytes | Awaitable[bytes]:
        """The response body for a request body (b"" when it holds only notifications)."""
        try:
            request = _decode(body)
        except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deep
            return _encode(_error(RpcError(PARSE_ERROR, "Parse error"), None))
        if isinstance(request, list):
            if not request:
                return _encode(_error(RpcError(INVALID_REQUEST, "Invalid request"), None))
            if len(request) > self.max_batch:
                error = RpcError(
                    INVALID_REQUEST,
                    f"Invalid request: a batch of {len(request)} calls is over this node's "
                    f"limit of {self.max_batch} ([plugins.rpc] max_batch)",
                )
                return _encode(_error(error, None))
            calls = request
        else:
            calls = [request]
        if any(isinstance(c, dict) and c.get("method") in _WRITE_METHODS for c in calls):
            return self._handle_writes(calls, isinstance(request, list))
        deadline = time.monotonic() + self.request_timeout
        with self.snapshot() as snap:
            answers = [self._call(snap, call, deadline) for call in calls]
        return self._encode(answers, isinstance(request, list))

    def _encode(self, answers: list[dict[str, Any] | None], batch: bool) -> bytes:
        kept = [a for a in answers if a is not None]
        if not kept:
            return b""
        return _encode(kept if batch else kept[0])

    def _check(self, call: Any) -> tuple[Any, str, Any]:
        """(id, method, params) of a well-formed call; raises (id, RpcError) through
        `_Invalid` when it is not."""
        if not isinstance(call, dict):
            raise _Invalid(None)
        request_id = call.get("id", _NO_ID)
        if request_id is not _NO_ID and not isinstance(request_id, (str, int, float, type(None))):
            raise _Invalid(None)
        method = call.get("method")
        if call.get("jsonrpc") != "2.0" or not isinstance(method, str):
            raise _Invalid(None if request_id is _NO_ID else request_id)
        return request_id, method, call.get("params")

    def _call(self, snap: Snapshot, call: Any, deadline: float) -> dict[str, Any] | None:
        try:
            request_id, method, params = self._check(call)
        except _Invalid as exc:
            return _error(RpcError(INVALID_REQUEST, "Invalid request"), exc.request_id)
        answer_id = None if request_id is _NO_ID else request_id
        if time.monotonic() > deadline:
            error = RpcError(INTERNAL_ERROR, f"Request timed out after {self.request_timeout} s")
            return _error(error, answer_id)
        function = self.methods.get(method)
        try:
            if function is None:
                raise RpcError(METHOD_NOT_FOUND, "Method not found")
            answer = _result(function(snap, params), answer_id)
        except RpcError as exc:
            answer = _error(exc, answer_id)
        except Exception as exc:  # a bug must not take the server down; the client sees it
            answer = _error(RpcError(INTERNAL_ERROR, f"Internal error: {exc}"), answer_id)
        return None if request_id is _NO_ID else answer

    async def _handle_writes(self, calls: list[Any], batch: bool) -> bytes:
        deadline = time.monotonic() + self.request_timeout
        answers: list[dict[str, Any] | None] = []
        for call in calls:
            if isinstance(call, dict) and call.get("method") in _WRITE_METHODS:
                answers.append(await self._write_call(call, deadline))
            else:
                with self.snapshot() as snap:
                    answers.append(self._call(snap, call, deadline))
        return self._encode(answers, batch)

    async def _write_call(self, call: dict[str, Any], deadline: float) -> dict[str, Any] | None:
        try:
            request_id, method, params = self._check(call)
        except _Invalid as exc:
            return _error(RpcError(INVALID_REQUEST, "Invalid request"), exc.request_id)
        answer_id = None if request_id is _NO_ID else request_id
        try:
            result = await self._write(method, params, deadline)
            answer = _result(result, answer_id)
        except RpcError as exc:
            answer = _error(exc, answer_id)
        except Exception as exc:
            answer = _error(RpcError(INTERNAL_ERROR, f"Internal error: {exc}"), answer_id)
        return None if request_id is _NO_ID else answer

    async def _write(self, method: str, params: Any, deadline: float) -> str:
        with self.snapshot() as snap:
            if method == "sendTransaction":
                send = prepare_send(snap, params, self.simulator)
            else:
                airdrop = prepare_airdrop(snap, params, self.airdrop_max_lamports)
        timeout = max(deadline - time.monotonic(), 0.0)
        if self.relay is None:
            raise RpcError(INTERNAL_ERROR, "this rpc server has no connection to its node")
        if method == "sendTransaction":
            await self.relay("send", timeout, transactions=[send.wire])
            return send.signature
        await self.relay("deposit", timeout, recipient=airdrop.recipient, lamports=airdrop.lamports)
        key = (airdrop.recipient, airdrop.lamports, airdrop.after)
        nonce = self.airdrops.get(key, 0)
        self.airdrops[key] = nonce + 1
        return b58.encode(airdrop_id(*key, nonce))


class _Invalid(Exception):
    def __init__(self, request_id: Any) -> None:
        super().__init__("invalid request")
        self.request_id = request_id
