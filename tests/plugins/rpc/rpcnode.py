"""A devnet node whose rpc plugin serves on a free loopback port, and helpers that speak raw
JSON-RPC to it. Each test module makes its fixtures from `serving` and `servers`."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import anyio
import clirun
import httpx
import msgspec
import pytest
from ports import free_ports
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from monmouth.app import build_node, make_source
from monmouth.core.config import Settings, load_settings
from monmouth.core.node import Node
from monmouth.core.pipes import receive_frame
from monmouth.core.records import BlockRecord, TxRecord, decode_tx
from monmouth.devnet.plan import derive
from monmouth.plugins.rpc.accounts import TOKEN_PROGRAM
from monmouth.plugins.rpc.config import Config
from monmouth.plugins.rpc.messages import Ready
from monmouth.plugins.rpc.plugin import Plugin
from monmouth.rust_svm.accounts import AccountRecord

T = TypeVar("T")

#: The repository (node scripts run from it, to import from its node_modules).
ROOT = Path(__file__).resolve().parents[3]

#: Blocks the served node runs (enough for failed, rejected and token transactions, deposits).
BLOCKS = 8


@dataclass
class Served:
    node: Node
    url: str

    def call(self, method: str, params: Any = None, **extra: Any) -> Any:
        """The whole JSON-RPC response of one call."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, **extra}
        if params is not None:
            body["params"] = params
        response = httpx.post(self.url, json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def result(self, method: str, params: Any = None) -> Any:
        answer = self.call(method, params)
        assert "error" not in answer, answer
        return answer["result"]

    def records(self) -> list[TxRecord]:
        """Every transaction status the node stored."""
        out: list[TxRecord] = []
        in_txs = False
        for key, value in self.node.store.snapshot():
            if key == b"":
                in_txs = value == b"txs"
            elif in_txs:
                out.append(decode_tx(value))
        return out


class Samples(NamedTuple):
    """What a client test asks the served node about, read from its store: the head, every
    account, a funded wallet, an SPL Token mint, and an ok and a failed transaction (a tuple,
    so that a test unpacks the names it uses)."""

    head: BlockRecord
    accounts: dict[bytes, AccountRecord]
    wallet: bytes
    mint: bytes
    ok: TxRecord
    failed: TxRecord


def samples(served: Served) -> Samples:
    """The `Samples` of the node `served` serves, as its store holds them now."""
    store = served.node.store
    head = store.head()
    assert head is not None
    accounts = {k: AccountRecord.decode(v) for k, v in store.iter_accounts()}
    wallet = next(k for k, r in accounts.items() if r.owner == bytes(32) and r.lamports)
    mint = next(k for k, r in accounts.items() if r.owner == TOKEN_PROGRAM and len(r.data) == 82)
    records = served.records()
    ok = next(r for r in records if r.status == "ok")
    failed = next(r for r in records if r.status == "failed")
    return Samples(head, accounts, wallet, mint, ok, failed)


def parse(cls: type[T], answer: object) -> T:
    """A whole JSON-RPC response parsed by solders' response type `cls` (what solana-py
    does with it); fails on an error response."""
    value = cls.from_json(json.dumps(answer))  # type: ignore[attr-defined]
    assert isinstance(value, cls), value
    return value


def served_node(data_dir: Path, blocks: int = BLOCKS, **devnet: Any) -> Node:
    settings = load_settings(
        None,
        data_dir=data_dir,
        store={"sync": False},
        plugins={"rpc": {"address": "127.0.0.1:0"}},
        devnet=devnet,
    )
    node = build_node(settings)
    anyio.run(functools.partial(node.run, make_source(settings), max_blocks=blocks))
    return node


def plugin_url(node: Node) -> str:
    plugin = node.pm.get_plugin("rpc")
    assert isinstance(plugin, Plugin) and plugin.url is not None
    return plugin.url


def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A node that ran BLOCKS devnet blocks (mixed workload) and serves them, until closed."""
    node = served_node(tmp_path_factory.mktemp("rpc") / "data")
    try:
        yield Served(node, plugin_url(node))
    finally:
        node.close()


@pytest.fixture(scope="module", name="served")
def served_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`serving`, once per test module: a module that imports this has the fixture `served`."""
    yield from serving(tmp_path_factory)


@dataclass
class Child:
    """A server child started on its own (not by the plugin), for limits the plugin's
    configuration would pin for the whole module."""

    process: subprocess.Popen[bytes]
    url: str


def servers() -> Iterator[Any]:
    """Yields `start(data_dir, **config)`, which starts a server child; ends them after."""
    children: list[subprocess.Popen[bytes]] = []

    def start(data_dir: Path, **config: Any) -> Child:
        cfg = Config(address="127.0.0.1:0", **config)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monmouth.plugins.rpc.server",
                str(data_dir),
                cfg.model_dump_json(),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        children.append(process)
        assert process.stdout is not None
        ready = msgspec.msgpack.decode(receive_frame(process.stdout), type=Ready)
        assert ready.url is not None, ready.error
        return Child(process, ready.url)

    yield start
    for process in children:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()
        process.wait(timeout=10)
        process.stdout.close()


def user(index: int) -> Keypair:
    """A funded user of the devnet's workload (seed 7)."""
    return Keypair.from_seed(derive("user", 7, index))


def signed_transfer(
    served: Served, payer: Keypair, blockhash: bytes | None = None, lamports: int = 1_000_000
) -> Transaction:
    """A transfer to a fresh address (1,000,000 lamports keep it above the rent minimum)."""
    head = served.node.store.head()
    assert head is not None
    recent = Hash(blockhash or head.hash)
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=lamports)
    )
    return Transaction([payer], Message.new_with_blockhash([ix], payer.pubkey(), recent), recent)


def dev_chain(tmp_path_factory: pytest.TempPathFactory, block_time: float = 0.1) -> Iterator[str]:
    """`monmouth dev`, its RPC on a free port (see `dev_process`); yields the URL. PubSub gets
    a free port of its own (by default it takes the RPC port + 1, which another process on a
    shared machine may hold)."""
    rpc_port, pubsub_port = free_ports(2)
    url = f"http://127.0.0.1:{rpc_port}"
    env = {"MONMOUTH_PLUGINS__RPC__PUBSUB_ADDRESS": f"127.0.0.1:{pubsub_port}"}
    with dev_process(tmp_path_factory, url, env, block_time):
        yield url


@contextlib.contextmanager
def dev_process(
    tmp_path_factory: pytest.TempPathFactory,
    url: str,
    env: dict[str, str],
    block_time: float = 0.1,
) -> Iterator[Path]:
    """`monmouth dev` as its users run it (a process) serving JSON-RPC at `url`, with `env`
    added to its environment; yields its log file once /health answers, and stops it with
    Ctrl-C (SIGINT) after, as a user would."""
    env = {
        **os.environ,
        "MONMOUTH_PLUGINS__RPC__ADDRESS": url.removeprefix("http://"),
        "MONMOUTH_STORE__SYNC": "false",
        **env,
    }
    log = tmp_path_factory.mktemp("dev") / "dev.log"
    with log.open("wb") as out:
        process = clirun.spawn(
            "dev", "--block-time", str(block_time), env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield log
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log.read_text()


def run_node_script(
    script: Path, *args: str, timeout: float = 150, env: Mapping[str, str] | None = None
) -> Any:
    """Runs a node script (importing @solana/web3.js from the repository's node_modules) and
    returns the JSON object it printed last; fails with its stderr when it fails. `env` is
    its whole environment (default: ours)."""
    node = shutil.which("node")
    assert node is not None, "node is not installed"
    assert (ROOT / "node_modules" / "@solana" / "web3.js").is_dir(), (
        "@solana/web3.js is not installed in ./node_modules; run `make test` (npm ci) first"
    )
    run = subprocess.run(
        [node, str(script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@contextlib.asynccontextmanager
async def following(settings: Settings) -> AsyncIterator[Node]:
    """A node built from `settings` following its source in a task while the body runs, from
    once it has a head (a write needs one to check against); stopped after."""
    with build_node(settings) as node:
        source = make_source(settings, traces=node.plugins.wants_traces(), node=node)
        async with anyio.create_task_group() as tg:
            tg.start_soon(node.run, source)
            with anyio.fail_after(30):
                # Polled: the node has no event to wait on for its first commit.
                while True:
                    if node.store.head() is not None:
                        break
                    await anyio.sleep(0.05)
            yield node
            tg.cancel_scope.cancel()
