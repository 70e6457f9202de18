"""The LMDB store: whole-block commits, exact undo, map growth, and refusing foreign folders."""

from __future__ import annotations

from pathlib import Path

import lmdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monmouth.core.errors import DataDirError
from monmouth.core.lthash import LtHash
from monmouth.core.records import (
    BlockRecord,
    TokenBalance,
    TxDetail,
    TxRecord,
    decode_detail,
    detail_key,
    encode,
)
from monmouth.core.state import BlockWrite, DetailWrite, Store
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


def _detail_write(number: int) -> DetailWrite:
    from solders.hash import Hash
    from solders.keypair import Keypair
    from solders.message import Message
    from solders.system_program import TransferParams, transfer
    from solders.transaction import Transaction

    payer = Keypair()
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=payer.pubkey(), lamports=1))
    wire = bytes(
        Transaction(
            [payer],
            Message.new_with_blockhash([ix], payer.pubkey(), Hash.default()),
            Hash.default(),
        )
    )
    detail = TxDetail(wire, [5, 1], [4, 1], None, [], [], [], None)
    keys = [bytes(k) for k in Transaction.from_bytes(wire).message.account_keys]
    return DetailWrite(detail_key(number, 0, 0), bytes(wire[1:65]), keys, encode(detail))


def test_details_and_index_are_reverted_with_their_block(tmp_path: Path) -> None:
    with Store(tmp_path / "s", sync=False) as store:
        store.commit_block(BlockWrite(block(0), LtHash(), [], [], []))
        item = _detail_write(1)
        record = TxRecord(item.signature, "ok", None, None, 1, 5000, 150, [], bytes(32), 0, 0)
        store.commit_block(BlockWrite(block(1), LtHash(), [], [record], [], [item]))
        with store.read() as view:
            assert view.detail(record) == decode_detail(item.raw)
            assert view.block_details(1) == [decode_detail(item.raw)]
            assert view.signatures_indexed()
            for address in item.addresses:
                assert list(view.signatures_for(address)) == [(item.key, item.signature)]
        store.revert_head()
        with store.read() as view:
            assert view.block_details(1) == []
            assert all(list(view.signatures_for(a)) == [] for a in item.addresses)
            assert view.tx(item.signature) is None


def test_a_directory_without_the_new_databases_opens(tmp_path: Path) -> None:
    """Schema 2 directories written before details existed: readers see no details; the
    first writer creates the databases."""
    path = tmp_path / "s"
    with Store(path, sync=False, index_signatures=False) as store:
        store.commit_block(BlockWrite(block(0), LtHash(), [], [], []))
    env = lmdb.open(str(path), max_dbs=16)
    with env.begin(write=True) as txn:
        for name in (b"details", b"by_address"):
            txn.drop(env.open_db(name, txn=txn), delete=True)
    env.close()
    with Store(path, readonly=True) as old, old.read() as view:
        assert view.block_details(0) == [] and not view.signatures_indexed()
        assert list(view.signatures_for(bytes(32))) == []
    with Store(path, sync=False) as store, store.read() as view:
        assert view.signatures_indexed()


def test_a_loaded_snapshot_is_indexed(tmp_path: Path) -> None:
    from monmouth.core.records import SnapshotHead

    owner = bytes([9]) * 32
    raw = AccountRecord(5, owner, False, 0, b"").encode()
    with Store(tmp_path / "s", sync=False) as store:
        store.load_snapshot(SnapshotHead(None, None, 0), [(bytes([1]) * 32, raw)])
        with store.read() as view:
            assert view.account_index("by_owner", owner) == [bytes([1]) * 32]


_keys = st.binary(min_size=32, max_size=32)
_balances = st.lists(
    st.builds(
        TokenBalance,
        st.integers(0, 255),
        _keys,
        _keys,
        _keys,
        st.integers(0, 2**64 - 1),
        st.integers(0, 255),
    ),
    max_size=3,
)


@given(
    st.binary(max_size=300),
    st.lists(st.integers(0, 2**64 - 1), max_size=6),
    st.lists(st.integers(0, 2**64 - 1), max_size=6),
    st.none() | st.tuples(st.lists(_keys, max_size=3), st.lists(_keys, max_size=3)),
    _balances,
    _balances,
    st.lists(
        st.lists(
            st.tuples(
                st.integers(0, 255),
                st.binary(max_size=8),
                st.binary(max_size=20),
                st.none() | st.integers(1, 5),
            ),
            max_size=3,
        ),
        max_size=3,
    ),
    st.none() | st.tuples(_keys, st.binary(max_size=40)),
)
def test_detail_fields_encode_as_the_record(
    wire: bytes,
    pre: list[int],
    post: list[int],
    loaded: tuple[list[bytes], list[bytes]] | None,
    pre_tokens: list[TokenBalance],
    post_tokens: list[TokenBalance],
    inner: list[list[tuple[int, bytes, bytes, int | None]]],
    return_data: tuple[bytes, bytes] | None,
) -> None:
    """The executor encodes a detail's fields as a tuple, without building the `TxDetail`
    (`BlockExecutor._detail`): the same bytes, since the record is `array_like`."""
    fields = (wire, pre, post, loaded, pre_tokens, post_tokens, inner, return_data)
    record = TxDetail(*fields)
    assert encode(fields) == encode(record)
    assert decode_detail(encode(fields)) == record
