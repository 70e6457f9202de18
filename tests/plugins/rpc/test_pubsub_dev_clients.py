"""PubSub of `monmouth dev` as its users run it (a process, JSON-RPC on a port, PubSub on the
next), with unmodified clients: solana-py's websocket client for every subscription kind,
@solana/web3.js confirming through signatureSubscribe and watching accounts and logs, a raw
socket that never reads (disconnected, while a fast client keeps receiving) and the limits."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import websockets
from ports import free_pair
from rpcnode import dev_process, run_node_script
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Processed
from solana.rpc.models import TxOpts
from solana.rpc.websocket_api import SolanaWsClient
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc.config import RpcBlockSubscribeFilter, RpcTransactionLogsFilterMentions
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SOL = 1_000_000_000
FEE = 5_000
SYSTEM = Pubkey.from_string("11111111111111111111111111111111")
#: The dev node's limits, small so that the tests reach them.
MAX_CONNECTIONS = 8
MAX_SUBSCRIPTIONS = 300
MAX_BACKLOG = 64
#: Seconds between the server's pings (and how long it waits for the pong).
PING_INTERVAL = 2.0


@dataclass
class Dev:
    url: str
    ws: str
    log: Path


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """`monmouth dev` with fast blocks and small PubSub limits; stopped with Ctrl-C after."""
    port = free_pair()
    url, ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port + 1}"
    env = {
        "MONMOUTH_PLUGINS__RPC__PUBSUB_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "MONMOUTH_PLUGINS__RPC__PUBSUB_MAX_SUBSCRIPTIONS": str(MAX_SUBSCRIPTIONS),
        "MONMOUTH_PLUGINS__RPC__PUBSUB_MAX_BACKLOG": str(MAX_BACKLOG),
        "MONMOUTH_PLUGINS__RPC__PUBSUB_PING_INTERVAL": str(PING_INTERVAL),
        "MONMOUTH_PLUGINS__MONITORING__ADDRESS": "none",
        "MONMOUTH_STREAM__PUBLISH": "none",
    }
    # PubSub on the default port, the RPC port + 1, as web3.js derives it.
    with dev_process(tmp_path_factory, url, env) as log:
        assert ws in log.read_text()  # the banner shows where PubSub is
        yield Dev(url, ws, log)


async def _next(ws: SolanaWsClient, kind: str, seconds: float = 60) -> Any:
    """The next notification of type `kind` (others are skipped)."""
    with anyio.fail_after(seconds):
        while True:
            message = await ws.recv()
            if type(message).__name__ == kind:
                return message


async def _funded(client: AsyncClient, lamports: int = 2 * SOL) -> Keypair:
    payer = Keypair()
    airdrop = (await client.request_airdrop(payer.pubkey(), lamports)).value
    await client.confirm_transaction(airdrop, Processed, sleep_seconds=0.05)
    return payer


async def _transfer(client: AsyncClient, payer: Keypair, payee: Pubkey, lamports: int) -> Any:
    latest = (await client.get_latest_blockhash(Processed)).value
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=payee, lamports=lamports))
    tx = VersionedTransaction(
        Message.new_with_blockhash([ix], payer.pubkey(), latest.blockhash), [payer]
    )
    return (await client.send_transaction(tx, opts=TxOpts(preflight_commitment=Processed))).value


# ---------------------------------------------------------------------- solana-py


async def _solana_py_accounts_signatures_logs(dev: Dev) -> None:
    async with AsyncClient(dev.url) as client, SolanaWsClient(dev.ws) as ws:
        payer, payee = await _funded(client), Keypair().pubkey()
        account = await ws.account_subscribe(pubkey=payee, commitment=Processed, encoding="base64")
        confirmed = await ws.account_subscribe(
            pubkey=payee, commitment=Confirmed, encoding="base64"
        )
        logs = await ws.logs_subscribe(commitment=Processed)
        mentions = await ws.logs_subscribe(
            filter_=RpcTransactionLogsFilterMentions(payee), commitment=Processed
        )
        program = await ws.program_subscribe(
            program_id=SYSTEM, commitment=Processed, encoding="base64", filters=[0]
        )
        assert len({account.subscription_id, confirmed.subscription_id, logs.subscription_id}) == 3
        signature = await _transfer(client, payer, payee, SOL)
        landed = await ws.signature_subscribe(signature=signature, commitment=Confirmed)

        seen: dict[int, list[Any]] = {}
        with anyio.fail_after(60):
            while not (
                seen.get(account.subscription_id)
                and seen.get(confirmed.subscription_id)
                and seen.get(mentions.subscription_id)
                and seen.get(landed.subscription_id)
                and any(
                    str(n.result.value.pubkey) == str(payee)
                    for n in seen.get(program.subscription_id, [])
                )
            ):
                message = await ws.recv()
                seen.setdefault(message.subscription, []).append(message)
        (processed,) = seen[account.subscription_id]
        assert processed.result.value.lamports == SOL
        assert str(processed.result.value.owner) == str(SYSTEM)
        (at_confirmed,) = seen[confirmed.subscription_id]
        assert at_confirmed.result.value.lamports == SOL
        assert at_confirmed.result.context.slot >= processed.result.context.slot
        (log,) = seen[mentions.subscription_id]
        assert log.result.value.signature == signature
        assert log.result.value.err is None
        assert any(f"{SYSTEM} success" in line for line in log.result.value.logs)
        assert any(n.result.value.signature == signature for n in seen[logs.subscription_id])
        (status,) = seen[landed.subscription_id]
        assert status.result.value.err is None
        assert status.result.context.slot == processed.result.context.slot

        # Unsubscribing answers true; the one-shot signature subscription is gone already.
        await ws.unsubscribe(account)
        await ws.unsubscribe(mentions)


def test_solana_py_accounts_signatures_logs_programs(dev: Dev) -> None:
    anyio.run(_solana_py_accounts_signatures_logs, dev)


async def _solana_py_slots_roots_blocks(dev: Dev) -> None:
    async with AsyncClient(dev.url) as client, SolanaWsClient(dev.ws) as ws:
        await ws.slot_subscribe()
        await ws.root_subscribe()
        await ws.slots_updates_subscribe()
        first = await _next(ws, "SlotNotification")
        second = await _next(ws, "SlotNotification")
        assert second.result.slot > first.result.slot
        assert second.result.parent == second.result.slot - 1
        assert 0 <= second.result.root < second.result.slot
        root = await _next(ws, "RootNotification")
        assert root.result <= (await client.get_slot(Processed)).value
        update = await _next(ws, "SlotUpdateNotification")
        assert update.result.slot > 0

        payer = await _funded(client)
        await ws.block_subscribe(
            filter_=RpcBlockSubscribeFilter.All,
            commitment=Confirmed,
            max_supported_transaction_version=0,
        )
        signature = await _transfer(client, payer, Keypair().pubkey(), SOL // 2)
        with anyio.fail_after(60):
            while True:
                block = await _next(ws, "BlockNotification")
                transactions = block.result.value.block.transactions or []
                if any(t.transaction.signatures[0] == signature for t in transactions):
                    break
        assert block.result.value.err is None
        assert block.result.value.slot == block.result.context.slot


def test_solana_py_slots_roots_updates_blocks(dev: Dev) -> None:
    anyio.run(_solana_py_slots_roots_blocks, dev)


# ---------------------------------------------------------------------- raw protocol


async def _raw_protocol(dev: Dev) -> None:
    async with websockets.connect(dev.ws) as ws:
        await ws.send("ping")  # @solana/kit's keep-alive
        assert await ws.recv() == "pong"
        pong = await ws.ping()
        with anyio.fail_after(10):
            await pong
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "slotSubscribe"}))
        answer = json.loads(await ws.recv())
        assert isinstance(answer["result"], int) and answer["id"] == 1
        unsubscribe = {"jsonrpc": "2.0", "id": 2, "method": "slotUnsubscribe"}
        await ws.send(json.dumps({**unsubscribe, "params": [answer["result"]]}))
        with anyio.fail_after(10):
            while (reply := json.loads(await ws.recv())).get("id") != 2:
                pass
        assert reply["result"] is True
        await ws.send(json.dumps({**unsubscribe, "params": [answer["result"]]}))
        with anyio.fail_after(10):
            while (reply := json.loads(await ws.recv())).get("id") != 2:
                pass
        assert reply["error"]["code"] == -32602
        await ws.send("{not json")
        assert json.loads(await ws.recv())["error"]["code"] == -32700
        await ws.send("[" * 20_000 + "]" * 20_000)  # nested too deep to decode
        assert json.loads(await ws.recv())["error"]["code"] == -32700
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "nosuchSubscribe"}))
        assert json.loads(await ws.recv())["error"]["code"] == -32601
        bad = {"jsonrpc": "2.0", "id": 4, "method": "logsSubscribe"}
        await ws.send(json.dumps({**bad, "params": [{"mentions": [str(SYSTEM)] * 2}]}))
        assert json.loads(await ws.recv())["error"]["code"] == -32602

        # The subscription limit per connection.
        for i in range(MAX_SUBSCRIPTIONS + 1):
            call = {"jsonrpc": "2.0", "id": 10 + i, "method": "rootSubscribe"}
            await ws.send(json.dumps(call))
        answers: dict[int, Any] = {}
        with anyio.fail_after(30):
            while len(answers) < MAX_SUBSCRIPTIONS + 1:
                reply = json.loads(await ws.recv())
                if "id" in reply:
                    answers[reply["id"]] = reply
        assert all("result" in answers[10 + i] for i in range(MAX_SUBSCRIPTIONS))
        assert "pubsub_max_subscriptions" in answers[10 + MAX_SUBSCRIPTIONS]["error"]["message"]


def test_raw_protocol_pings_errors_and_subscription_limit(dev: Dev) -> None:
    anyio.run(_raw_protocol, dev)


async def _received_then_confirmed(dev: Dev) -> None:
    """signatureSubscribe with enableReceivedNotification: "receivedSignature", then the
    status at the commitment (Agave's shapes; solders cannot parse the first, @solana/kit and
    web3.js can)."""
    async with AsyncClient(dev.url) as client, websockets.connect(dev.ws) as ws:
        payer = await _funded(client)
        signature = await _transfer(client, payer, Keypair().pubkey(), SOL // 8)
        config = {"commitment": "confirmed", "enableReceivedNotification": True}
        call = {"jsonrpc": "2.0", "id": 1, "method": "signatureSubscribe"}
        await ws.send(json.dumps({**call, "params": [str(signature), config]}))
        sub_id = json.loads(await ws.recv())["result"]
        values: list[Any] = []
        with anyio.fail_after(60):
            while len(values) < 2:
                message = json.loads(await ws.recv())
                assert message["method"] == "signatureNotification"
                assert message["params"]["subscription"] == sub_id
                values.append(message["params"]["result"]["value"])
        assert values == ["receivedSignature", {"err": None}]
        # One-shot: the subscription is gone.
        call = {"jsonrpc": "2.0", "id": 2, "method": "signatureUnsubscribe", "params": [sub_id]}
        await ws.send(json.dumps(call))
        assert json.loads(await ws.recv())["error"]["code"] == -32602


def test_signature_received_then_confirmed(dev: Dev) -> None:
    anyio.run(_received_then_confirmed, dev)


async def _connection_limit(dev: Dev) -> None:
    async with websockets.connect(dev.ws) as first:
        others = [await websockets.connect(dev.ws) for _ in range(MAX_CONNECTIONS - 1)]
        try:
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(dev.ws)
            assert refused.value.response.status_code == 503
        finally:
            for other in others:
                await other.close()
        await first.send("ping")
        assert await first.recv() == "pong"


def test_connection_limit(dev: Dev) -> None:
    anyio.run(_connection_limit, dev)


# ---------------------------------------------------------------------- a slow client


def _handshake(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    # A small receive buffer, so that the server's side fills soon.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _frame(text: str) -> bytes:
    """A masked client text frame (RFC 6455 5.2)."""
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        head = bytes([0x81, 0x80 | len(payload)])
    else:
        head = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    return head + mask + masked


async def _slow_and_fast(dev: Dev) -> None:
    port = int(dev.ws.rsplit(":", 1)[1])
    slow = _handshake(port)
    try:
        # Many subscriptions: each block sends this connection hundreds of messages.
        for i in range(MAX_SUBSCRIPTIONS):
            call = {"jsonrpc": "2.0", "id": i, "method": "slotsUpdatesSubscribe"}
            slow.sendall(_frame(json.dumps(call)))
        async with SolanaWsClient(dev.ws) as fast:
            await fast.slot_subscribe()
            with anyio.fail_after(120):
                while b"pubsub client too slow" not in dev.log.read_bytes():
                    await _next(fast, "SlotNotification")
            # The fast client keeps receiving after the slow one was cut off.
            before = (await _next(fast, "SlotNotification")).result.slot
            after = (await _next(fast, "SlotNotification")).result.slot
            assert after > before
        # The slow client's connection ends: a close frame 1008 (or a reset once the server
        # gave up waiting for the closing handshake).
        slow.settimeout(30)
        received = b""
        try:
            while chunk := slow.recv(1 << 20):
                received += chunk
        except ConnectionResetError:
            pass
        if b"\x88" in received:
            assert (1008).to_bytes(2, "big") in received
    finally:
        slow.close()


def test_a_slow_client_is_disconnected_while_a_fast_one_receives(dev: Dev) -> None:
    anyio.run(_slow_and_fast, dev)


def test_a_dead_peer_is_reaped(dev: Dev) -> None:
    """A client that completed the handshake and then never answers a ping (it reads, but
    as a dead peer would, never sends) is closed after a ping interval and a ping timeout."""
    port = int(dev.ws.rsplit(":", 1)[1])
    dead = _handshake(port)
    started = time.monotonic()
    try:
        dead.settimeout(10 * PING_INTERVAL)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := dead.recv(1 << 16):
                received += chunk
        waited = time.monotonic() - started
    finally:
        dead.close()
    assert b"\x89" in received  # it was pinged (an unmasked ping frame)...
    assert 2 * PING_INTERVAL * 0.9 <= waited < 8 * PING_INTERVAL  # ...and then let go


# ---------------------------------------------------------------------- web3.js


def test_web3js_send_and_confirm_and_watch(dev: Dev) -> None:
    out = run_node_script(Path(__file__).with_name("web3_pubsub.mjs"), dev.url, timeout=180)
    assert out["airdropConfirmed"]["err"] is None
    assert out["sendAndConfirm"] == out["transferSignature"]
    assert out["accountChange"]["lamports"] == SOL
    assert out["accountChange"]["slot"] > 0
    assert out["logs"]["signature"] == out["transferSignature"]
    assert out["logs"]["err"] is None
    assert out["secondConfirmed"]["err"] is None
    assert out["payeeBalance"] == SOL + SOL // 4
