"""The LMDB store: whole-block commits, exact undo, map growth, and refusing foreign folders."""

from __future__ import annotations

from pathlib import Path

import lmdb
import pytest

from monmouth.core.errors import DataDirError
from monmouth.core.lthash import LtHash
from monmouth.core.records import BlockRecord, TxRecord
from monmouth.core.state import BlockWrite, Store
from monmouth.rust_svm.accounts import AccountRecord


def block(number: int, checksum: bytes = bytes(32)) -> BlockRecord:
    return BlockRecord(
        number,
        number.to_bytes(32, "big"),
        (number - 1 if number else 0).to_bytes(32, "big"),
        1_700_000_000 + number,
        checksum,
        0,
        0,
        0,
        0,
        0,
    )


def account(lamports: int, size: int = 0) -> bytes:
    return AccountRecord(lamports, bytes(32), False, 0, bytes(size)).encode()


def tx(signature: bytes, status: str, slot: int) -> TxRecord:
    return TxRecord(signature, status, None, None, slot, 0, 0, [], bytes(32), 0, 0)  # type: ignore[arg-type]


def test_commit_and_revert_exactly(tmp_path: Path) -> None:
    with Store(tmp_path / "s", sync=False) as store:
        a, b = b"a" * 32, b"b" * 32
        h0, h1 = LtHash.of(b"0"), LtHash.of(b"1")
        store.commit_block(
            BlockWrite(block(0), h0, [(a, None, account(5))], [tx(b"s" * 64, "rejected", 0)], [])
        )
        snapshot = dict(store.iter_accounts()), store.tx(b"s" * 64)
        store.commit_block(
            BlockWrite(
                block(1),
                h1,
                [(a, account(5), None), (b, None, account(7))],
                [tx(b"s" * 64, "ok", 1), tx(b"t" * 64, "ok", 1)],
                [],
            )
        )
        assert store.accounts_count() == 1 and store.transactions_count() == 2
        reverted = store.revert_head()
        assert reverted.block.number == 1
        assert sorted(reverted.accounts) == sorted([(a, account(5)), (b, None)])
        assert (dict(store.iter_accounts()), store.tx(b"s" * 64)) == snapshot
        assert store.tx(b"t" * 64) is None
        assert store.head_id() is not None and store.head_id().number == 0  # type: ignore[union-attr]
        assert store.lthash(0) == h0
        store.revert_head()
        assert store.head() is None and store.accounts_count() == 0


def test_map_grows_instead_of_failing(tmp_path: Path) -> None:
    with Store(tmp_path / "s", map_size=256 << 10, sync=False) as store:
        start = store.info()["map_size"]
        for n in range(40):
            writes = [
                ((n * 100 + i).to_bytes(32, "big"), None, account(1, 4096)) for i in range(50)
            ]
            store.commit_block(BlockWrite(block(n), LtHash(), writes, [], []))
        assert store.accounts_count() == 2000
        assert store.info()["map_size"] > start


def test_retention_prunes_undo_but_keeps_the_deepest_revert(tmp_path: Path) -> None:
    with Store(tmp_path / "s", sync=False, retention=4) as store:
        for n in range(10):
            store.commit_block(BlockWrite(block(n), LtHash.of(bytes([n])), [], [], []))
        for _ in range(3):
            store.revert_head()  # 9, 8, 7: within retention
        assert store.lthash(6) == LtHash.of(b"\x06")
        store.revert_head()  # 6: the oldest undo record kept, its parent's hash still there
        assert store.lthash(5) == LtHash.of(b"\x05")
        with pytest.raises(DataDirError, match="retention"):
            store.revert_head()


def test_refuses_foreign_and_missing_folders(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DataDirError, match="not empty"):
        Store(foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    with pytest.raises(DataDirError, match="run `monmouth run"):
        Store(tmp_path / "missing", readonly=True)
    other = tmp_path / "other-lmdb"
    env = lmdb.open(str(other), max_dbs=2)
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
    env.close()
    with pytest.raises(DataDirError, match="not a monmouth data directory"):
        Store(other)


def test_refuses_other_schema_and_corrupt_files(tmp_path: Path) -> None:
    path = tmp_path / "s"
    Store(path).close()
    env = lmdb.open(str(path), max_dbs=8)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"schema", b"999", db=meta)
    env.close()
    with pytest.raises(DataDirError, match="schema version 999"):
        Store(path)
    corrupt = tmp_path / "c"
    corrupt.mkdir()
    (corrupt / "data.mdb").write_bytes(b"\x00" * 100)
    with pytest.raises(DataDirError):
        Store(corrupt)


def test_finality_keeps_undo_records_above_the_finalized_block(tmp_path: Path) -> None:
    with Store(tmp_path / "s", sync=False, retention=4) as store:
        store.set_finality(safe=None, finalized=2)
        for n in range(12):
            store.commit_block(BlockWrite(block(n), LtHash.of(bytes([n])), [], [], []))
        assert store.finality() == (None, 2)
        # Beyond retention but above the finalized block: still revertible.
        for _ in range(9):
            store.revert_head()
        assert store.head_id() is not None and store.head_id().number == 2  # type: ignore[union-attr]
        with pytest.raises(DataDirError, match="retention"):
            store.revert_head()  # block 2 is finalized: its undo record is gone
