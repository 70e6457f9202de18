"""A replica serves Solana's JSON-RPC like its executor: an executor on the devnet (reorgs,
finality, a short retention so that pruning follows finality) and a replica following it over
real loopback sockets, each serving the rpc plugin over real HTTP; the replica is stopped and
restarted midway. At the same head both answer the same requests identically, and their LMDB
stores (details and every index) are equal byte for byte."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import base58
import httpx
import msgspec
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solders.pubkey import Pubkey
from solders.signature import Signature
from streamkit import NodeThread, free_endpoint, wait_until

from monmouth.core.config import Settings, load_settings
from monmouth.core.errors import ConfigError
from monmouth.core.records import decode_tx, decode_undo, detail_key
from monmouth.core.state import Store
from monmouth.plugins.rpc.accounts import TOKEN_PROGRAM
from monmouth.plugins.rpc.plugin import NO_RELAY, Plugin
from monmouth.roles.replica import Replica
from monmouth.rust_svm.accounts import AccountRecord
from monmouth.stream.schema import decode_body
from monmouth.stream.segments import Expander
from monmouth.stream.topics import PrefixSet

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

BLOCKS = 50
DEVNET = {
    "reorg_probability": 0.3,
    "reorg_max_depth": 4,
    "confirmed_depth": 5,
    "finalized_depth": 8,
    "interval": 0.02,
    "txs_per_block": 12,
}
#: Undo records beyond 6 blocks below the head, and below the finalized block, are pruned.
RETENTION = 6
#: Databases both write the same way (the replica keeps no inbox message outcomes, and its
#: stream log is its own).
SAME = (
    "accounts",
    "blocks",
    "lthash",
    "txs",
    "details",
    "by_address",
    "by_owner",
    "token_by_owner",
    "token_by_mint",
    "token_by_delegate",
)
SAME_META = (
    b"head",
    b"safe",
    b"finalized",
    b"pruned_below",
    b"index_signatures",
    b"index_owners",
    b"index_tokens",
    b"schema",
    b"magic",
)


def _settings(data_dir: Path, publish: str | None, **more: Any) -> Settings:
    stream = {"publish": publish, "heartbeat_interval": 0.2, **more.pop("stream", {})}
    return load_settings(
        None,
        data_dir=data_dir,
        store={"sync": False, "retention_blocks": RETENTION},
        stream=stream,
        plugins={"rpc": {"address": "127.0.0.1:0"}},
        **more,
    )


class ReplicaThread:
    def __init__(self, settings: Settings) -> None:
        self.replica = Replica(settings)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.replica.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.replica.close()


def _url(plugin: object) -> str:
    assert isinstance(plugin, Plugin) and plugin.url is not None
    return plugin.url


@dataclass
class Pair:
    executor: NodeThread
    replica: ReplicaThread
    executor_url: str
    replica_url: str
    executor_dir: Path
    replica_dir: Path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("replica-rpc")
    endpoint = free_endpoint()
    start = threading.Event()
    executor = NodeThread(
        _settings(tmp / "exec", endpoint, devnet=DEVNET), max_blocks=BLOCKS, start=start
    )
    replica_settings = _settings(
        tmp / "replica", None, role="replica", stream={"upstream": [endpoint]}
    )
    replica: ReplicaThread | None = None
    try:
        # The replica starts on the executor's empty state, so it sees every block's details.
        first = ReplicaThread(replica_settings)
        wait_until(lambda: first.replica.store.meta(b"upstream_seq") is not None, what="snapshot")
        start.set()
        wait_until(lambda: first.replica.applied >= 15, what="the replica applying blocks")
        first.close()  # stopped mid-stream: it resumes from its cursor, slots included
        replica = ReplicaThread(replica_settings)
        executor.join()
        store = executor.node.store
        assert executor.node.stats.reverted > 0, "the devnet made no reorg; pick another seed"

        def caught_up() -> bool:
            assert replica is not None
            ours, theirs = replica.replica.store, store
            head, mine = theirs.head(), ours.head()
            return (
                head is not None
                and mine is not None
                and mine.hash == head.hash
                and ours.finality() == theirs.finality()
            )

        wait_until(caught_up, what="the replica catching up", timeout=120)
        assert replica.replica.halted is None
        yield Pair(
            executor,
            replica,
            _url(executor.node.pm.get_plugin("rpc")),
            _url(replica.replica.plugins.pm.get_plugin("rpc")),
            tmp / "exec",
            tmp / "replica",
        )
    finally:
        start.set()
        if replica is not None:
            replica.close()
        executor.close()


def _call(url: str, method: str, params: list[Any]) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = httpx.post(url, json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _statuses(store: Store) -> list[tuple[bytes, str, int]]:
    """(signature, status, block) of every transaction status stored."""
    out: list[tuple[bytes, str, int]] = []
    in_txs = False
    for key, value in store.snapshot():
        if key == b"":
            in_txs = value == b"txs"
        elif in_txs:
            record = decode_tx(value)
            out.append((key, record.status, record.slot))
    return out


def _requests(store: Store) -> list[tuple[str, list[Any]]]:
    """The same requests for both: reads of accounts, transactions, blocks and indexes at each
    commitment, picked from what the executor stored."""
    head = store.head()
    safe, finalized = store.finality()
    assert head is not None and safe is not None and finalized is not None
    assert finalized < safe < head.number
    accounts = {k: AccountRecord.decode(v) for k, v in store.iter_accounts()}
    wallets = [k for k, r in accounts.items() if r.owner == bytes(32)][:6]
    tokens = [k for k, r in accounts.items() if r.owner == TOKEN_PROGRAM and len(r.data) == 165]
    assert wallets and tokens, "the mixed workload makes wallets and token accounts"
    keys = [base58.b58encode(k).decode() for k in wallets + tokens[:4]]
    statuses = _statuses(store)
    executed = [s for s, status, _ in statuses if status in ("ok", "failed")]
    assert any(status == "failed" for _, status, _ in statuses)
    sigs = [base58.b58encode(s).decode() for s in executed[:: max(1, len(executed) // 12)]]
    token_owner = base58.b58encode(
        AccountRecord.decode(store.account(tokens[0]) or b"").data[32:64]
    )
    out: list[tuple[str, list[Any]]] = []
    for commitment in ("processed", "confirmed", "finalized"):
        c = {"commitment": commitment}
        out.append(("getSlot", [c]))
        out.append(("getBlockHeight", [c]))
        out.append(("getLatestBlockhash", [c]))
        out.append(("getTransactionCount", [c]))
        out.append(("getMultipleAccounts", [keys, {**c, "encoding": "base64"}]))
        for key in keys:
            out.append(("getBalance", [key, c]))
            out.append(("getAccountInfo", [key, {**c, "encoding": "base64"}]))
        out.append(
            ("getProgramAccounts", [str(Pubkey(TOKEN_PROGRAM)), {**c, "encoding": "base64"}])
        )
        out.append(
            (
                "getTokenAccountsByOwner",
                [
                    token_owner.decode(),
                    {"programId": str(Pubkey(TOKEN_PROGRAM))},
                    {**c, "encoding": "base64"},
                ],
            )
        )
        out.append(("getSignatureStatuses", [sigs, {"searchTransactionHistory": True}]))
        if commitment != "processed":
            for sig in sigs:
                options = {**c, "maxSupportedTransactionVersion": 0}
                out.append(("getTransaction", [sig, {**options, "encoding": "json"}]))
                out.append(("getTransaction", [sig, {**options, "encoding": "base64"}]))
            for key in keys:
                out.append(("getSignaturesForAddress", [key, {**c, "limit": 20}]))
    for slot in sorted({finalized, safe, 0, finalized // 2}):
        options = {"maxSupportedTransactionVersion": 0, "transactionDetails": "full"}
        out.append(("getBlock", [slot, {**options, "commitment": "confirmed"}]))
    out.append(("getBlocks", [0, None, {"commitment": "confirmed"}]))
    return out


def test_replica_answers_json_rpc_like_its_executor(pair: Pair) -> None:
    store = pair.executor.node.store
    requests = _requests(store)
    details = 0
    for method, params in requests:
        theirs = _call(pair.executor_url, method, params)
        ours = _call(pair.replica_url, method, params)
        assert ours == theirs, (method, params)
        assert "error" not in theirs, (method, params, theirs)
        if method == "getTransaction" and theirs["result"] is not None:
            details += bool(theirs["result"]["meta"]["preBalances"])
    assert details, "getTransaction answered with details"


def test_replica_reads_through_solana_py(pair: Pair) -> None:
    store = pair.executor.node.store
    _, finalized = store.finality()
    assert finalized is not None
    statuses = _statuses(store)
    signature = Signature.from_bytes(
        next(s for s, st, slot in statuses if st == "ok" and slot <= finalized)
    )
    wallet = next(k for k, v in store.iter_accounts() if AccountRecord.decode(v).owner == bytes(32))

    async def read(url: str) -> list[Any]:
        async with AsyncClient(url) as client:
            out: list[Any] = []
            for commitment in (Processed, Confirmed, Finalized):
                out.append((await client.get_slot(commitment)).value)
                out.append((await client.get_balance(Pubkey(wallet), commitment)).value)
            out.append(
                (await client.get_transaction(signature, max_supported_transaction_version=0)).value
            )
            out.append(
                (await client.get_block(finalized, max_supported_transaction_version=0)).value
            )
            out.append((await client.get_signatures_for_address(Pubkey(wallet), limit=10)).value)
            return out

    theirs = anyio.run(read, pair.executor_url)
    ours = anyio.run(read, pair.replica_url)
    assert theirs[-3] is not None and theirs[-1]
    assert ours == theirs


def test_replica_refuses_writes_and_names_the_executor(pair: Pair) -> None:
    answer = _call(pair.replica_url, "requestAirdrop", [str(Pubkey(bytes(range(32)))), 10])
    assert answer["error"]["message"] == NO_RELAY
    assert "executor" in NO_RELAY


#: Dumps every database of an LMDB environment as MessagePack on stdout. In a process of its
#: own: LMDB refuses a second handle on an environment this process has open.
_DUMP = """
import sys, lmdb, msgspec
env = lmdb.open(sys.argv[1], readonly=True, lock=False, max_dbs=32)
with env.begin() as txn:
    names = [bytes(k) for k, _ in txn.cursor()]
out = {}
for name in names:
    db = env.open_db(name, create=False)
    with env.begin(db=db) as txn:
        out[name.decode()] = {bytes(k): bytes(v) for k, v in txn.cursor()}
sys.stdout.buffer.write(msgspec.msgpack.encode(out))
"""


def _dump(path: Path) -> dict[str, dict[bytes, bytes]]:
    """Every database of a data directory, read as it is now."""
    done = subprocess.run(
        [sys.executable, "-c", _DUMP, str(path)], capture_output=True, check=True, timeout=120
    )
    return msgspec.msgpack.decode(done.stdout, type=dict[str, dict[bytes, bytes]])


def test_replica_stores_equal_the_executors_byte_for_byte(pair: Pair) -> None:
    theirs, ours = _dump(pair.executor_dir), _dump(pair.replica_dir)
    for name in SAME:
        assert ours[name] == theirs[name], name
    for name in ("details", "by_address", "by_owner", "token_by_owner", "token_by_mint"):
        assert theirs[name], f"the workload filled {name}"
    for key in SAME_META:
        assert ours["meta"].get(key) == theirs["meta"].get(key), key
    assert theirs["meta"].get(b"finalized") is not None
    assert theirs["meta"].get(b"pruned_below") is not None, "pruning followed finality"
    # Undo records: the same blocks, restoring the same accounts and statuses (the executor's
    # also name its inbox message outcomes, which a replica does not keep).
    assert ours["undo"].keys() == theirs["undo"].keys()
    for key, raw in theirs["undo"].items():
        mine, their = decode_undo(ours["undo"][key]), decode_undo(raw)
        assert (mine.accounts, mine.txs) == (their.accounts, their.txs), key


def test_each_detail_follows_its_transaction_and_only_for_who_asks(pair: Pair) -> None:
    """The executor's log: a `detail` message after each executed transaction, carrying the
    record its `details` database holds; a subscriber to transactions gets none."""
    store = pair.executor.node.store
    first, next_seq, _ = store.stream_bounds()
    details = _dump(pair.executor_dir)["details"]
    seen = 0
    for seq, segment in store.segments(first, next_seq - 1):
        if segment.kind != "block":
            continue
        everything, _ = Expander(None).expand(seq, segment)
        stored = store.block(segment.height)
        block = decode_body("block", everything[-1].body)
        # A block a reorg undid left its messages in the log, not its details in the store.
        canonical = stored is not None and "0x" + stored.hash.hex() == block.hash
        for before, msg in itertools.pairwise(everything):
            if msg.kind != "detail":
                continue
            body = decode_body("detail", msg.body)
            tx = decode_body(before.kind, before.body)
            assert before.kind == "transaction" and tx.signature == body.signature
            assert tx.status in ("ok", "failed")
            key = detail_key(segment.height, body.l1_tx_index, body.position)
            if canonical:
                assert details[key] == body.record
                seen += 1
        executed = [
            m
            for m in everything
            if m.kind == "transaction" and decode_body("transaction", m.body).status != "rejected"
        ]
        assert len([m for m in everything if m.kind == "detail"]) == len(executed)
        chosen, counts = Expander(PrefixSet(["transaction/"])).expand(seq, segment)
        assert {m.kind for m in chosen} <= {"transaction"} and "detail/" not in counts
    assert seen, "the log holds details"


def test_a_late_replica_takes_the_finality_of_the_snapshot(tmp_path: Path) -> None:
    """An executor that has stopped sends no more finality updates: what a replica started
    after it knows of the safe and finalized blocks comes from the snapshot."""
    endpoint = free_endpoint()
    devnet = {"confirmed_depth": 2, "finalized_depth": 4}
    executor = NodeThread(_settings(tmp_path / "exec", endpoint, devnet=devnet), max_blocks=12)
    try:
        executor.join()
        expected = executor.node.store.finality()
        assert None not in expected
        late = ReplicaThread(
            _settings(tmp_path / "late", None, role="replica", stream={"upstream": [endpoint]})
        )
        try:
            head = executor.node.store.head()
            wait_until(lambda: late.replica.store.head() == head, what="the snapshot")
            assert late.replica.store.finality() == expected
            url = _url(late.replica.plugins.pm.get_plugin("rpc"))
            for commitment, slot in zip(("confirmed", "finalized"), expected, strict=True):
                assert _call(url, "getSlot", [{"commitment": commitment}])["result"] == slot
        finally:
            late.close()
    finally:
        executor.close()


def test_a_replica_refuses_a_plugin_it_cannot_run(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        data_dir=tmp_path / "r",
        role="replica",
        stream={"publish": None, "upstream": ["tcp://127.0.0.1:1"]},
        plugins={"enable": ["mev"]},
    )
    with pytest.raises(ConfigError, match="'mev' cannot run in a replica"):
        Replica(settings)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
