"""Call traces from a real anvil: the rpc source fetches `trace_block` only when asked, attaches
it to each block, copes with a node that does not serve it, and the `mev` plugin takes the blocks
it fetched."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anvil import DEV_ADDRESS, DEV_ADDRESS_2, Anvil
from structlog.testing import capture_logs

from monmouth.app import build_node
from monmouth.core.config import load_settings
from monmouth.core.errors import SourceError
from monmouth.core.ethrpc import METHOD_NOT_FOUND, EthRpc
from monmouth.core.l1 import L1Block
from monmouth.core.notifications import ChainCommitted, Notification
from monmouth.core.payloads import BlockInfo
from monmouth.core.sources.replay import read_replay, write_replay
from monmouth.core.sources.rpc import RpcSource, TracesUnsupported, fetch_raw_blocks
from monmouth.plugins.mev import MevStore, Plugin
from monmouth.plugins.mev.config import Config

# A contract whose runtime code returns 42: `PUSH1 0x2a PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN`.
RETURNS_42 = "0x600a600c600039600a6000f3602a60005260206000f3"


def transact(anvil: Anvil, call: dict[str, str]) -> dict[str, Any]:
    """Send and wait until the block that holds it is anvil's latest (anvil mines at once, but
    may serve the receipt and the new head a moment later); returns the receipt."""
    tx_hash = anvil.rpc("eth_sendTransaction", {"from": DEV_ADDRESS, **call})
    deadline = time.monotonic() + 10
    while True:
        receipt: dict[str, Any] | None = anvil.rpc("eth_getTransactionReceipt", tx_hash)
        if receipt is not None and int(receipt["blockNumber"], 16) <= anvil.block_number():
            return receipt
        assert time.monotonic() < deadline, "anvil did not mine the transaction"
        time.sleep(0.002)


def make_chain(anvil: Anvil) -> int:
    """Blocks 1..5: a transfer, a deployment, a contract call, an empty block, a transfer.
    Returns the last block number."""
    transact(anvil, {"to": DEV_ADDRESS_2, "value": hex(10**18)})
    contract = transact(anvil, {"data": RETURNS_42})["contractAddress"]
    transact(anvil, {"to": contract, "data": "0x12345678"})
    before = anvil.block_number()
    anvil.mine(1)
    while anvil.block_number() == before:
        time.sleep(0.002)
    transact(anvil, {"to": DEV_ADDRESS_2, "value": hex(5)})
    return anvil.block_number()


class Recording(EthRpc):
    """An EthRpc that remembers every method it was asked for."""

    methods: list[str]

    def __init__(self, url: str, **kw: Any) -> None:
        super().__init__(url, **kw)
        self.methods = []

    async def batch(self, calls: Any, *, retry_errors: bool | None = None) -> list[Any]:
        self.methods.extend(method for method, _ in calls)
        return await super().batch(calls, retry_errors=retry_errors)


def asked_methods(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The JSON-RPC methods every EthRpc is asked for from now on, in order (for sources that
    make their own clients)."""
    asked: list[str] = []
    original = EthRpc.batch

    async def recording(self: EthRpc, calls: Any, **kw: Any) -> list[Any]:
        asked.extend(method for method, _ in calls)
        return await original(self, calls, **kw)

    monkeypatch.setattr(EthRpc, "batch", recording)
    return asked


async def committed(source: RpcSource, count: int) -> list[L1Block]:
    """The first `count` blocks the source hands over from an empty state."""
    blocks: list[L1Block] = []
    it: AsyncGenerator[Notification, None] = source.notifications(None)
    with anyio.fail_after(30):
        try:
            while len(blocks) < count:
                notification = await it.__anext__()
                if isinstance(notification, ChainCommitted):
                    blocks.extend(notification.new)
        finally:
            await it.aclose()
    return blocks[:count]


def test_fetch_raw_blocks_asks_for_traces_only_when_told(anvil: Anvil) -> None:
    last = make_chain(anvil)

    async def fetch(traces: bool) -> tuple[list[dict[str, Any]], list[str]]:
        rpc = Recording(anvil.url)
        async with rpc:
            raw = await fetch_raw_blocks(rpc, 0, last, traces=traces)
            return raw, rpc.methods

    plain, methods = anyio.run(fetch, False)
    assert "trace_block" not in methods
    assert len(plain) == last + 1 and all("traces" not in obj for obj in plain)

    traced, methods = anyio.run(fetch, True)
    assert methods.count("trace_block") == last + 1  # in the same batches as the blocks
    assert len(traced) == last + 1
    for obj in traced:
        number = int(obj["number"], 16)
        assert obj["traces"] == anvil.rpc("trace_block", hex(number))
        assert bool(obj["traces"]) == bool(obj["transactions"]), number
        assert {t["blockHash"] for t in obj["traces"]} <= {obj["hash"]}


def test_rpc_source_attaches_traces_when_asked(
    anvil: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = make_chain(anvil)
    asked = asked_methods(monkeypatch)

    blocks = anyio.run(committed, RpcSource(anvil.url, poll_interval=0.05), last + 1)
    assert [b.number for b in blocks] == list(range(last + 1))
    assert all(b.traces is None for b in blocks)
    assert "trace_block" not in asked

    source = RpcSource(anvil.url, poll_interval=0.05, traces=True)
    traced = anyio.run(committed, source, last + 1)
    assert "trace_block" in asked and source.traces
    assert traced == blocks  # traces take no part in equality
    for block in traced:
        assert block.traces is not None
        assert len(block.traces) == len(block.transactions)  # no internal calls here
        for trace, tx in zip(block.traces, block.transactions, strict=True):
            assert trace["transactionHash"] == "0x" + tx.hash.hex()
    kinds = [t["type"] for b in traced for t in b.traces or ()]
    assert kinds == ["call", "create", "call", "call"]


def test_traces_ride_along_in_replay_files(anvil: Anvil, tmp_path: Path) -> None:
    last = make_chain(anvil)
    blocks = anyio.run(committed, RpcSource(anvil.url, poll_interval=0.05, traces=True), last + 1)
    path = tmp_path / "chain.jsonl"
    write_replay(path, blocks)
    again = list(read_replay(path))
    assert again == blocks
    assert [b.traces for b in again] == [b.traces for b in blocks]
    assert json.loads(path.read_text().splitlines()[1])["traces"] == list(blocks[1].traces or ())


# ---------------------------------------------------------------------------- no trace_block


@contextlib.contextmanager
def proxy(anvil: Anvil, rewrite: Callable[[dict[str, Any]], dict[str, Any]]) -> Iterator[str]:
    """An HTTP proxy in front of anvil that passes each call's answer through `rewrite(call)`
    (which returns the answer to send; `call["answer"]` is anvil's); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["content-length"])))
            calls = payload if isinstance(payload, list) else [payload]
            answers = {a["id"]: a for a in httpx.post(anvil.url, json=calls).json()}
            out = [rewrite({**c, "answer": answers[c["id"]]}) for c in calls]
            body = json.dumps(out if isinstance(payload, list) else out[0]).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def without_traces(anvil: Anvil) -> Iterator[str]:
    """anvil behind a proxy that answers `trace_block` with "method not found", as geth does."""

    def rewrite(call: dict[str, Any]) -> dict[str, Any]:
        if call["method"] != "trace_block":
            answer: dict[str, Any] = call["answer"]
            return answer
        error = {"code": METHOD_NOT_FOUND, "message": "the method does not exist"}
        return {"jsonrpc": "2.0", "id": call["id"], "error": error}

    with proxy(anvil, rewrite) as url:
        yield url


def test_traces_of_another_block_are_fetched_again(anvil: Anvil) -> None:
    """Traces whose blockHash is not the block's (the chain moved mid-fetch) are no traces of
    it: `fetch_raw_blocks` says so with a SourceError, and the source fetches again."""
    last = make_chain(anvil)
    lies = [1]  # forged answers still to send

    def rewrite(call: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = call["answer"]
        if call["method"] == "trace_block" and answer.get("result") and lies[0]:
            lies[0] -= 1
            forged = [{**t, "blockHash": "0x" + "ab" * 32} for t in answer["result"]]
            return {**answer, "result": forged}
        return answer

    with proxy(anvil, rewrite) as url:

        async def fetch() -> None:
            async with EthRpc(url) as rpc:
                await fetch_raw_blocks(rpc, 0, last, traces=True)

        with pytest.raises(SourceError, match="changed while it was traced"):
            anyio.run(fetch)
        lies[0] = 1
        with capture_logs() as logs:
            blocks = anyio.run(committed, RpcSource(url, poll_interval=0.05, traces=True), last + 1)
    assert any(e["event"] == "refetching" for e in logs)
    for block in blocks:
        assert block.traces is not None
        assert {t["blockHash"] for t in block.traces} <= {"0x" + block.hash.hex()}


def test_a_node_without_trace_block_gives_one_warning(anvil: Anvil, without_traces: str) -> None:
    last = make_chain(anvil)

    async def fetch() -> None:
        async with EthRpc(without_traces) as rpc:
            await fetch_raw_blocks(rpc, 0, last, traces=True)

    with pytest.raises(TracesUnsupported):
        anyio.run(fetch)

    source = RpcSource(without_traces, poll_interval=0.05, traces=True)
    with capture_logs() as logs:
        blocks = anyio.run(committed, source, last + 1)
    assert [b.number for b in blocks] == list(range(last + 1))
    assert all(b.traces is None for b in blocks)
    assert source.traces is False
    warnings = [e for e in logs if "trace_block" in str(e.get("event"))]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"


# ---------------------------------------------------------------------------- into the plugin


def info(block: L1Block) -> BlockInfo:
    return BlockInfo(block.number, block.hash, block.parent_hash, 0, "", 0, 0, 0, 0, 0)


def test_the_plugin_takes_anvil_blocks_with_their_traces(anvil: Anvil, tmp_path: Path) -> None:
    last = make_chain(anvil)
    blocks = anyio.run(committed, RpcSource(anvil.url, poll_interval=0.05, traces=True), last + 1)
    settings = load_settings(None, data_dir=tmp_path / "data", store={"sync": False})
    plugin = Plugin(settings, Config())
    assert plugin.wants_traces is True
    for block in blocks:
        plugin.on_l1_block(block)
        plugin.notify_block(info(block))
    plugin.close()
    with MevStore(tmp_path / "data" / "mev", readonly=True) as store:
        for block in blocks:
            record = store.get(block.number, block.hash)
            assert record is not None
            assert record.traced and record.error is None
            assert (record.swaps, record.sandwiches, record.arbitrages) == ((), (), ())
        assert store.head() == (blocks[-1].number, blocks[-1].hash)


# ---------------------------------------------------------------------------- through a node


@pytest.mark.parametrize("ethereum", [True, False])
def test_a_node_following_anvil_with_the_plugin(
    anvil: Anvil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ethereum: bool
) -> None:
    """`monmouth run --rpc-url` with `mev` enabled: the source fetches traces because the plugin
    asks (and not when its Ethereum side is off), and every block's record says so."""
    last = make_chain(anvil)
    asked = asked_methods(monkeypatch)
    data_dir = tmp_path / "data"
    settings = load_settings(
        None,
        data_dir=data_dir,
        store={"sync": False},
        source={"kind": "rpc", "rpc_url": anvil.url, "poll_interval": 0.05},
        plugins={"enable": ["mev"], "mev": {"ethereum": ethereum}},
    )
    with build_node(settings) as node:
        # What `make_source(settings, traces=node.plugins.wants_traces())` passes on.
        wants = any(getattr(p, "wants_traces", False) for _, p in node.pm.list_name_plugin())
        assert wants is ethereum
        source = RpcSource(anvil.url, poll_interval=0.05, traces=wants)
        anyio.run(functools.partial(node.run, source, max_blocks=last + 1))
    assert ("trace_block" in asked) is ethereum
    with MevStore(data_dir / "mev", readonly=True) as store:
        assert store.numbers() == list(range(last + 1))
        for n in range(last + 1):
            (record,) = store.at(n)
            assert record.traced is ethereum and record.error is None
