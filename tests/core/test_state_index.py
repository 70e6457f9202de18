"""The order a group commit writes entries in decides its speed, never what is stored: the
signatures-by-address index holds one entry per (address, transaction), keyed by
`address_key`, whatever order the details come in and however often a transaction names an
address (`Store._put_details` groups the entries by address instead of sorting them), and
block-keyed records appended by `_put_after` end as ordinary puts leave them."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import lmdb
from hypothesis import given, settings
from hypothesis import strategies as st

from monmouth.core.lthash import LtHash
from monmouth.core.records import (
    BlockRecord,
    TxDetail,
    address_key,
    detail_key,
    detail_of_address_key,
    encode,
)
from monmouth.core.state import BlockWrite, DetailWrite, Store, _put_after

#: The largest detail key: an index key holds it less the transaction's detail key.
_MAX_DETAIL = (1 << 128) - 1
#: Few addresses, so that transactions share them and one names the same address twice.
_ADDRESSES = [bytes([i]) * 32 for i in (0, 7, 200, 255)]


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=16, max_size=16))
def test_the_complement_is_the_subtraction(address: bytes, detail: bytes) -> None:
    key = address_key(address, detail)
    assert key == address + (_MAX_DETAIL - int.from_bytes(detail, "big")).to_bytes(16, "big")
    assert detail_of_address_key(key) == detail


def _block(number: int) -> BlockRecord:
    return BlockRecord(number, number.to_bytes(32, "big"), bytes(32), 0, bytes(32), 0, 0, 0, 0, 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 3))
def test_the_index_holds_every_address_of_every_transaction_in_any_order(
    seed: int, blocks: int
) -> None:
    rng = random.Random(seed)
    detail = TxDetail(b"", [], [], None, [], [], [], None)
    raw = encode(detail)
    writes = []
    expected: dict[bytes, bytes] = {}
    for number in range(blocks):
        items = []
        for index in range(rng.randrange(6)):
            key = detail_key(number, index, rng.randrange(3))
            signature = rng.randbytes(64)
            # With replacement: a transaction may name an address twice.
            addresses = [rng.choice(_ADDRESSES) for _ in range(rng.randrange(1, 5))]
            items.append(DetailWrite(key, signature, addresses, raw))
            expected.update((address_key(a, key), signature) for a in addresses)
        rng.shuffle(items)  # not execution order: slower for LMDB, the same entries
        writes.append(BlockWrite(_block(number), LtHash(), [], [], [], items))
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s", sync=False) as store:
        store.commit_blocks(writes, [[] for _ in writes])
        with store._env.begin() as txn:
            stored = {bytes(k): bytes(v) for k, v in txn.cursor(db=store._db["by_address"])}
        assert stored == expected
        # And read back per address newest first, as getSignaturesForAddress reads it.
        with store.read() as view:
            for address in _ADDRESSES:
                named = {
                    (item.key, item.signature)
                    for write in writes
                    for item in write.details
                    if address in item.addresses
                }
                assert list(view.signatures_for(address)) == sorted(named, reverse=True)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=2), max_size=6),
    st.lists(st.tuples(st.binary(min_size=1, max_size=2), st.binary(max_size=3)), max_size=8),
)
def test_appending_stores_what_putting_stores(
    before: list[bytes], entries: list[tuple[bytes, bytes]]
) -> None:
    """`_put_after` appends block-keyed records; keys out of order or equal to one stored
    (which LMDB's append refuses) end with the same entries as ordinary puts."""
    contents = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, put in (("put", lambda cur, e: cur.putmulti(e)), ("append", _put_after)):
            env = lmdb.open(str(Path(tmp) / name), max_dbs=1)
            db = env.open_db(b"t")
            with env.begin(write=True) as txn:
                for key in before:
                    txn.put(key, b"old", db=db)
            with env.begin(write=True) as txn, txn.cursor(db=db) as cur:
                put(cur, entries)
            with env.begin() as txn:
                contents.append([(bytes(k), bytes(v)) for k, v in txn.cursor(db=db)])
            env.close()
    assert contents[0] == contents[1]
