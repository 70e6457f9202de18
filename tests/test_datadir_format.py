"""Upgrades never lose data: a data directory of schema 2 (tests/data/datadir-v2.tar.xz, made by
tests/data/make_datadir.py: devnet blocks with reorgs and finality) opens with every later
monmouth. Its recorded state reads back through `monmouth status`, the store and the rpc
plugin's read methods; `monmouth run` continues it to the state a fresh run of the same chain
reaches; a directory of another schema is refused with one line that says what to do, and left
as it was; the older layout without the databases added after schema 2 shipped opens too."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import base58
import clirun
import lmdb
import pytest
from conftest import recompute_lthash

from monmouth.core.records import SCHEMA_VERSION
from monmouth.core.state import OPTIONAL_DATABASES, Store
from monmouth.plugins.rpc.jsonrpc import Dispatcher

DATA = Path(__file__).parent / "data"
FACTS: dict[str, Any] = json.loads((DATA / "datadir-v2.json").read_text())
CONFIG = DATA / FACTS["config"]

pytestmark = pytest.mark.timeout(300)


monmouth = functools.partial(clirun.monmouth, timeout=240)


def status(data: Path) -> dict[str, Any]:
    done = monmouth("status", "--json", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def replay(data: Path, chain: Path) -> None:
    done = monmouth(
        "run", "--config", str(CONFIG), "--data-dir", str(data), "--source", "replay",
        "--replay-file", str(chain),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def digest(data: Path) -> str:
    return hashlib.sha256((data / "data.mdb").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive, unpacked once; each test works on a copy (`datadir`)."""
    folder = tmp_path_factory.mktemp("datadir-v2")
    with tarfile.open(DATA / "datadir-v2.tar.xz") as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            tar.extractall(folder, filter="data")
        else:
            tar.extractall(folder)  # our own archive, two regular files
    return folder


@pytest.fixture
def datadir(unpacked: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(unpacked / "data", copy)
    return copy


def test_the_archive_is_todays_schema() -> None:
    # A new schema keeps this archive (its refusal or migration is then what is tested) and
    # adds another beside it; this fails as a reminder when SCHEMA_VERSION moves.
    assert FACTS["schema"] == SCHEMA_VERSION


def test_status_reads_the_recorded_state_and_writes_nothing(datadir: Path) -> None:
    before = digest(datadir)
    assert status(datadir) == FACTS["status"]
    assert digest(datadir) == before


def test_store_and_rpc_read_paths_read_it(datadir: Path) -> None:
    with Store(datadir, readonly=True) as store:
        head = store.head()
        assert head is not None
        assert head.number == FACTS["status"]["head_number"]
        assert list(store.stream_bounds()) == list(FACTS["stream"].values())
        assert store.finality() == (FACTS["finality"]["safe"], FACTS["finality"]["finalized"])
        # Every block is there and linked, and the stored lattice hash is the accounts' own.
        blocks = store.blocks(store.first_block() or 0, head.number)
        assert [b.number for b in blocks] == list(range(FACTS["first_block"], head.number + 1))
        for parent, child in itertools.pairwise(blocks):
            assert child.parent_hash == parent.hash
        stored = store.lthash(head.number)
        assert stored is not None
        assert stored.checksum() == head.checksum == recompute_lthash(store).checksum()
        assert sum(1 for _ in store.iter_accounts()) == FACTS["status"]["accounts"]
        dispatcher = Dispatcher(
            store, None, max_batch=10, request_timeout=10, airdrop_max_lamports=10**9
        )

        def call(method: str, *params: Any) -> Any:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
            answer = dispatcher.handle(body.encode())
            assert isinstance(answer, bytes)
            reply = json.loads(answer)
            assert "error" not in reply, (method, reply)
            return reply["result"]

        assert call("getSlot", {"commitment": "processed"}) == head.number
        block = call(
            "getBlock",
            head.number,
            {"maxSupportedTransactionVersion": 0, "commitment": "confirmed"},
        )
        assert block["blockhash"] == base58.b58encode(head.hash).decode()
        signature = block["transactions"][0]["transaction"]["signatures"][0]
        tx = call(
            "getTransaction",
            signature,
            {"maxSupportedTransactionVersion": 0, "commitment": "confirmed"},
        )
        assert tx["slot"] == head.number
        fee_payer = tx["transaction"]["message"]["accountKeys"][0]
        assert call("getBalance", fee_payer, {"commitment": "processed"})["value"] >= 0
        found = call("getSignaturesForAddress", fee_payer, {"commitment": "confirmed"})
        assert signature in [s["signature"] for s in found]
        token = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
        owned = call("getProgramAccounts", token, {"commitment": "processed", "encoding": "base64"})
        assert owned  # the mixed workload's token accounts, through the owner index
        owner = call("getAccountInfo", owned[0]["pubkey"], {"encoding": "jsonParsed"})
        holder = owner["value"]["data"]["parsed"]["info"]["owner"]
        held = call("getTokenAccountsByOwner", holder, {"programId": token}, {"encoding": "base64"})
        assert owned[0]["pubkey"] in [a["pubkey"] for a in held["value"]]


def test_run_continues_it_to_the_state_of_a_fresh_run(datadir: Path, unpacked: Path) -> None:
    chain = unpacked / "chain.jsonl"
    with Store(datadir, readonly=True) as store:
        stream_id = store.stream_id
    replay(datadir, chain)
    fresh = datadir.parent / "fresh"
    replay(fresh, chain)
    continued = status(datadir)
    assert continued == status(fresh)
    assert continued["head_number"] == FACTS["recorded_blocks"] - 1
    with Store(datadir, readonly=True) as store:
        # The event log went on from where it was: same stream, later sequence numbers.
        assert store.stream_id == stream_id
        assert store.stream_bounds()[1] > FACTS["stream"]["next_seq"]


@pytest.mark.parametrize("schema", [b"1", b"3", b"x"])
def test_another_schema_is_refused_with_one_line_and_left_unmodified(
    datadir: Path, unpacked: Path, schema: bytes
) -> None:
    env = lmdb.open(str(datadir), max_dbs=32)
    with env.begin(write=True) as txn:
        txn.put(b"schema", schema, db=env.open_db(b"meta", txn=txn))
    env.close()
    before = digest(datadir)
    for args in (
        ("status", "--data-dir", str(datadir)),
        ("run", "--config", str(CONFIG), "--data-dir", str(datadir), "--source", "replay",
         "--replay-file", str(unpacked / "chain.jsonl")),
    ):  # fmt: skip
        done = monmouth(*args)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("error: ")
        assert f"schema version {schema.decode()}; this monmouth reads {SCHEMA_VERSION}" in lines[0]
        assert (
            "upgrade monmouth" if schema == b"3" else "run the monmouth that wrote it"
        ) in lines[0]
        assert "move the folder aside" in lines[0]
        assert digest(datadir) == before


def test_the_older_layout_without_the_later_databases_opens(datadir: Path, unpacked: Path) -> None:
    env = lmdb.open(str(datadir), max_dbs=32)
    with env.begin(write=True) as txn:
        for name in OPTIONAL_DATABASES:
            txn.drop(env.open_db(name, txn=txn), delete=True)
        txn.delete(b"index_signatures", db=env.open_db(b"meta", txn=txn))
    with env.begin() as txn:
        names = {bytes(k) for k, _ in txn.cursor()}
    env.close()
    assert not names & set(OPTIONAL_DATABASES)
    assert status(datadir) == FACTS["status"]  # a reader needs none of them
    with Store(datadir, readonly=True) as store, store.read() as view:
        assert not view.signatures_indexed()
    chain = unpacked / "chain.jsonl"
    replay(datadir, chain)  # a writer creates them and goes on
    fresh = datadir.parent / "fresh"
    replay(fresh, chain)
    assert status(datadir) == status(fresh)


def test_an_older_layout_of_another_schema_gets_no_new_database(datadir: Path) -> None:
    # A writer creates the databases added after schema 2 shipped; it must refuse first.
    env = lmdb.open(str(datadir), max_dbs=32)
    with env.begin(write=True) as txn:
        for name in OPTIONAL_DATABASES:
            txn.drop(env.open_db(name, txn=txn), delete=True)
        txn.put(b"schema", b"1", db=env.open_db(b"meta", txn=txn))
    env.close()
    before = digest(datadir)
    done = monmouth("run", "--config", str(CONFIG), "--data-dir", str(datadir), "--blocks", "1")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "schema version 1" in done.stderr
    assert digest(datadir) == before
