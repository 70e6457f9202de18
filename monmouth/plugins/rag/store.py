"""The rag plugin's LMDB environment (`<data_dir>/rag/`): the truth the vector index follows.

Named databases:

| database | key | value |
|---|---|---|
| `docs` | id (8 bytes, big-endian) | `Document` (MessagePack) |
| `vectors` | id | the document's vector, float16 |
| `sigs` | signature (64 bytes) | id |
| `terms` | a term: `a`+account key, `p`+program name, `s`+status | ids (sorted duplicates) |
| `blocks` | block number (8 bytes, big-endian) | `BlockEntry`: hash, ids, balance undo |
| `balances` | account key | `Prior`: what the plugin knows of the account now |
| `meta` | name | `magic`, `schema`, `embedder`, `dimensions`, `next_id`, `count`, `idsum`, ... |

Ids are a counter, so they grow with the block height: a height range is an id range. `idsum`
is the sum (mod 2**64) of `mix64(id)` over the live ids: with `count`, it is the checksum the
vector index is compared with when it is opened (`index.py`).

(`meta` also holds `head`, the newest indexed block, and `complete`, see `Meta`.)

One writer (the plugin's worker), any number of readers (the CLI, while the node runs). Each
block is one write transaction: documents, vectors, postings, balances and the block's undo
record. Commits are not fsync'd one by one; the writer syncs every `SYNC_EVERY` blocks and when
it closes (the index is derived data: an OS crash may lose the newest blocks, never consistency,
and `startup` reports the gap).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import lmdb
import msgspec
import numpy as np
from numpy.typing import NDArray
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.core.errors import DataDirError
from monmouth.core.state import open_environment, write_transaction
from monmouth.plugins.rag.documents import PROGRAM_NAMES, Document, Prior

__all__ = [
    "SCHEMA",
    "BlockEntry",
    "Meta",
    "RagStore",
    "doc_terms",
    "encode_record",
    "id_key",
    "idsum",
    "mix64",
]

_MAGIC: Final = b"monmouth-rag"
#: Bumped when a record changes incompatibly.
SCHEMA: Final = 1
_DATABASES: Final = (b"docs", b"vectors", b"sigs", b"terms", b"blocks", b"balances", b"meta")
_MASK: Final = (1 << 64) - 1
#: Blocks between two fsyncs of the environment.
SYNC_EVERY: Final = 64
_T = TypeVar("_T")


def mix64(value: int) -> int:
    """SplitMix64's finaliser: a 64-bit mix of an id (the checksum's term)."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def idsum(ids: NDArray[np.uint64]) -> int:
    """The sum (mod 2**64) of `mix64` over `ids`, vectorised (uint64 arithmetic wraps)."""
    z = ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return int(np.sum(z, dtype=np.uint64))


def id_key(doc_id: int) -> bytes:
    return doc_id.to_bytes(8, "big")


class BlockEntry(msgspec.Struct, frozen=True, array_like=True):
    """One indexed block: its hash, its documents' ids, and what reverting it restores of the
    balances (None once the block is deeper than the retention: it will not be reverted).

    :ivar undo: (account key, the account's `Prior` before the block, or None when the plugin
        did not know it).
    """

    hash: bytes
    ids: list[int]
    undo: list[tuple[bytes, Prior | None]] | None


class Meta(msgspec.Struct, frozen=True):
    """The index's bookkeeping (the `meta` database, read in one transaction)."""

    embedder: str
    dimensions: int
    next_id: int
    count: int
    idsum: int
    head: tuple[int, bytes] | None
    #: The plugin has seen every account write since the state was empty (or since a startup
    #: snapshot): an account it does not know did not exist.
    complete: bool


_doc_encoder = msgspec.msgpack.Encoder()
_decode_doc = msgspec.msgpack.Decoder(Document).decode
_decode_entry = msgspec.msgpack.Decoder(BlockEntry).decode
_decode_prior = msgspec.msgpack.Decoder(Prior).decode


def _int(raw: bytes | None, default: int = 0) -> int:
    return default if raw is None else int(raw)


class RagStore:
    """The rag plugin's LMDB environment (module docstring).

    :param path: its directory, `<data_dir>/rag`, created when writing.
    :param readonly: for readers (the CLI): raises DataDirError when there is no index.
    :param embedder, dimensions: what the vectors are; a writer records them on a new store and
        refuses a store made with others (DataDirError).
    :param retention: blocks below the newest whose balance undo is kept (the deepest revert).
    """

    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        embedder: str = "",
        dimensions: int = 0,
        retention: int = 256,
        map_size: int = 256 << 20,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self.retention = retention
        self._env = open_environment(
            path,
            what="rag index",
            missing='enable the plugin (`[plugins] enable = ["rag"]`) and run the node',
            readonly=readonly,
            max_dbs=len(_DATABASES),
            map_size=map_size,
            sync=False,
        )
        try:
            self._open(embedder, dimensions)
        except BaseException:
            self._env.close()
            raise
        self._unsynced = 0
        self.closed = False

    def _open(self, embedder: str, dimensions: int) -> None:
        env = self._env
        try:
            if self.readonly:
                db = {
                    name: env.open_db(name, create=False) for name in _DATABASES if name != b"terms"
                }
                db[b"terms"] = env.open_db(b"terms", create=False, dupsort=True, dupfixed=True)
            else:
                with env.begin(write=True) as txn:
                    db = {
                        name: env.open_db(
                            name, txn=txn, dupsort=name == b"terms", dupfixed=name == b"terms"
                        )
                        for name in _DATABASES
                    }
                    meta = db[b"meta"]
                    if txn.get(b"magic", db=meta) is None:
                        for key, value in (
                            (b"magic", _MAGIC),
                            (b"schema", str(SCHEMA).encode()),
                            (b"embedder", embedder.encode()),
                            (b"dimensions", str(dimensions).encode()),
                            (b"next_id", b"1"),
                            (b"count", b"0"),
                            (b"idsum", b"0"),
                            (b"complete", b"1"),
                        ):
                            txn.put(key, value, db=meta)
        except lmdb.Error as exc:
            raise DataDirError(f"{self.path} is not a rag index: {exc}") from None
        self._docs, self._vectors, self._sigs = db[b"docs"], db[b"vectors"], db[b"sigs"]
        self._terms, self._blocks, self._balances = db[b"terms"], db[b"blocks"], db[b"balances"]
        self._meta = db[b"meta"]
        with env.begin() as txn:
            magic = txn.get(b"magic", db=self._meta)
            schema = _int(txn.get(b"schema", db=self._meta), -1)
        if magic != _MAGIC or schema != SCHEMA:
            raise DataDirError(f"{self.path} is not a rag index of schema {SCHEMA}")
        meta_ = self.meta()
        if not self.readonly and (meta_.embedder, meta_.dimensions) != (embedder, dimensions):
            raise DataDirError(
                f"{self.path} was built with the embedder {meta_.embedder} "
                f"({meta_.dimensions} dimensions), not {embedder} ({dimensions}): "
                "delete the directory to rebuild the index with the new one"
            )

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        if self.closed:
            return
        if not self.readonly:
            self._env.sync(True)
        self._env.close()
        self.closed = True

    def __enter__(self) -> RagStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, body: Callable[[Any], _T]) -> _T:
        """Run `body(txn)` in a read transaction (adopting a map the writer grew)."""
        while True:
            try:
                with self._env.begin(buffers=False) as txn:
                    return body(txn)
            except lmdb.MapResizedError:
                self._env.set_mapsize(0)

    def _write(self, body: Callable[[Any], _T]) -> _T:
        # The other writer (the plugin's child process, or the plugin) may have grown the map.
        result = write_transaction(self._env, body, adopt_resized=True)
        self._unsynced += 1
        if self._unsynced >= SYNC_EVERY:
            self._env.sync(True)
            self._unsynced = 0
        return result

    # ------------------------------------------------------------------ reads

    def meta(self) -> Meta:
        def body(txn: Any) -> Meta:
            get = txn.get
            head = get(b"head", db=self._meta)
            return Meta(
                embedder=(get(b"embedder", db=self._meta) or b"").decode(),
                dimensions=_int(get(b"dimensions", db=self._meta)),
                next_id=_int(get(b"next_id", db=self._meta), 1),
                count=_int(get(b"count", db=self._meta)),
                idsum=_int(get(b"idsum", db=self._meta)),
                head=None if head is None else (int.from_bytes(head[:8], "big"), head[8:]),
                complete=get(b"complete", db=self._meta) == b"1",
            )

        return self.read(body)

    def documents(self, ids: Sequence[int], txn: Any = None) -> list[Document | None]:
        """The documents of `ids`, None for an id that is not (or no longer) indexed."""
        if txn is None:
            return self.read(lambda t: self.documents(ids, t))
        out: list[Document | None] = []
        for doc_id in ids:
            raw = txn.get(id_key(doc_id), db=self._docs)
            out.append(None if raw is None else _decode_doc(raw))
        return out

    def id_of(self, signature: bytes) -> int | None:
        raw = self.read(lambda txn: txn.get(signature, db=self._sigs))
        return None if raw is None else int.from_bytes(raw, "big")

    def vectors(self, ids: Sequence[int], dimensions: int, txn: Any = None) -> NDArray[np.float32]:
        """The vectors of `ids` (rows of zeros for ids that are gone), float32."""
        if txn is None:
            return self.read(lambda t: self.vectors(ids, dimensions, t))
        get, db, zero = txn.get, self._vectors, bytes(2 * dimensions)
        raw = b"".join([get(doc_id.to_bytes(8, "big"), zero, db=db) for doc_id in ids])
        rows = np.frombuffer(raw, dtype=np.float16).reshape(len(ids), dimensions)
        return rows.astype(np.float32)

    def iter_vectors(
        self, dimensions: int, *, after: int = 0, chunk: int = 65_536
    ) -> Iterator[tuple[NDArray[np.uint64], NDArray[np.float16]]]:
        """Every stored vector with an id above `after`, in id order, in chunks of (ids, rows)."""
        start = id_key(after + 1)
        while True:

            def body(txn: Any, start: bytes = start) -> tuple[list[int], list[bytes]]:
                ids: list[int] = []
                rows: list[bytes] = []
                cursor = txn.cursor(db=self._vectors)
                if not cursor.set_range(start):
                    return ids, rows
                for key, value in cursor:
                    ids.append(int.from_bytes(key, "big"))
                    rows.append(value)
                    if len(ids) >= chunk:
                        break
                return ids, rows

            ids, rows = self.read(body)
            if not ids:
                return
            matrix = np.frombuffer(b"".join(rows), dtype=np.float16).reshape(len(ids), dimensions)
            yield np.asarray(ids, dtype=np.uint64), matrix
            if len(ids) < chunk:
                return
            start = id_key(ids[-1] + 1)

    def iter_documents(self) -> Iterator[Document]:
        """Every indexed document, in id order (one read transaction)."""

        def body(txn: Any) -> list[Document]:
            return [_decode_doc(raw) for raw in txn.cursor(db=self._docs).iternext(keys=False)]

        yield from self.read(body)

    def live_ids(self) -> NDArray[np.uint64]:
        """Every indexed id, ascending."""

        def body(txn: Any) -> NDArray[np.uint64]:
            keys = b"".join(txn.cursor(db=self._vectors).iternext(keys=True, values=False))
            return np.frombuffer(keys, dtype=">u8").astype(np.uint64)

        return self.read(body)

    def postings(self, term: bytes, *, limit: int | None = None, txn: Any = None) -> list[int]:
        """The ids under `term`, newest first (at most `limit`)."""
        if txn is None:
            return self.read(lambda t: self.postings(term, limit=limit, txn=t))
        cursor = txn.cursor(db=self._terms)
        out: list[int] = []
        if not cursor.set_key(term):
            return out
        cursor.last_dup()
        while True:
            out.append(int.from_bytes(cursor.value(), "big"))
            if limit is not None and len(out) >= limit:
                break
            if not cursor.prev_dup():
                break
        return out

    def postings_between(self, term: bytes, low: int, high: int, txn: Any) -> Iterator[int]:
        """The ids under `term` from `low` to `high` (inclusive), ascending."""
        cursor = txn.cursor(db=self._terms)
        if not cursor.set_range_dup(term, id_key(max(low, 0))):
            return
        for value in cursor.iternext_dup(keys=False):
            doc_id = int.from_bytes(value, "big")
            if doc_id > high:
                return
            yield doc_id

    def ids_between(self, low: int, high: int, txn: Any) -> Iterator[int]:
        """The indexed ids from `low` to `high` (inclusive), ascending."""
        cursor = txn.cursor(db=self._vectors)
        if not cursor.set_range(id_key(max(low, 0))):
            return
        for key in cursor.iternext(keys=True, values=False):
            doc_id = int.from_bytes(key, "big")
            if doc_id > high:
                return
            yield doc_id

    def posting_count(self, term: bytes, txn: Any = None) -> int:
        if txn is None:
            return self.read(lambda t: self.posting_count(term, t))
        cursor = txn.cursor(db=self._terms)
        return int(cursor.count()) if cursor.set_key(term) else 0

    def has_term(self, term: bytes, doc_id: int, txn: Any) -> bool:
        return bool(txn.cursor(db=self._terms).set_key_dup(term, id_key(doc_id)))

    def id_range(self, low_slot: int | None, high_slot: int | None) -> tuple[int, int]:
        """The ids of the documents of blocks `low_slot` to `high_slot` lie in the returned
        range (inclusive; empty when low > high)."""

        def body(txn: Any) -> tuple[int, int]:
            cursor = txn.cursor(db=self._blocks)
            low = 0
            if low_slot is not None:
                low = 1 << 64
                if cursor.set_range(low_slot.to_bytes(8, "big")):
                    for _, raw in cursor:
                        ids = _decode_entry(raw).ids
                        if ids:
                            low = ids[0]
                            break
            high = (1 << 64) - 1
            if high_slot is not None:
                high = 0
                found = cursor.set_range((high_slot + 1).to_bytes(8, "big"))
                moved = cursor.prev() if found else cursor.last()
                while moved:
                    ids = _decode_entry(cursor.value()).ids
                    if ids:
                        high = ids[-1]
                        break
                    moved = cursor.prev()
            return low, high

        return self.read(body)

    def block(self, number: int) -> BlockEntry | None:
        raw = self.read(lambda txn: txn.get(number.to_bytes(8, "big"), db=self._blocks))
        return None if raw is None else _decode_entry(raw)

    def blocks_above(self, number: int) -> list[int]:
        """Numbers of the indexed blocks above `number`, highest first."""

        def body(txn: Any) -> list[int]:
            cursor = txn.cursor(db=self._blocks)
            out: list[int] = []
            if cursor.set_range((number + 1).to_bytes(8, "big")):
                out = [int.from_bytes(key, "big") for key in cursor.iternext(values=False)]
            return out[::-1]

        return self.read(body)

    def priors(self, keys: Sequence[bytes], txn: Any = None) -> dict[bytes, Prior]:
        """What the plugin knows of each of `keys` (those it knows), in one LMDB call."""
        if txn is None:
            return self.read(lambda t: self.priors(keys, t))
        found = txn.cursor(db=self._balances).getmulti(keys)
        return {key: _decode_prior(raw) for key, raw in found}

    def prior(self, key: bytes, txn: Any = None) -> Prior | None:
        if txn is None:
            return self.read(lambda t: self.prior(key, t))
        raw = txn.get(key, db=self._balances)
        return None if raw is None else _decode_prior(raw)

    # ------------------------------------------------------------------ writes

    def write_block(
        self,
        number: int,
        block_hash: bytes,
        documents: Sequence[Document],
        vectors: NDArray[np.float32],
        balances: dict[bytes, Prior],
        undo: list[tuple[bytes, Prior | None]],
        signatures: Sequence[bytes] | None = None,
    ) -> list[int]:
        """Store one block in one write transaction; returns the ids of documents it replaced
        (an indexed block at the same height that a revert the plugin missed left behind).

        :param signatures: the documents' signatures as bytes, when the caller has them (saves
            decoding each base58 one).
        """
        sigs = (
            signatures
            if signatures is not None
            else [_signature_bytes(doc.signature) for doc in documents]
        )
        encode = _doc_encoder.encode
        ids = [doc.id for doc in documents]
        terms = [(term, i) for i, doc in enumerate(documents) for term in doc_terms(doc)]
        keys = [id_key(doc_id) for doc_id in ids]
        # Built before the transaction, and written a database at a time (putmulti): one call
        # into LMDB per database instead of a dozen per document.
        doc_items = [(key, encode(doc)) for key, doc in zip(keys, documents, strict=True)]
        rows = vectors.astype(np.float16)
        vector_items = [(key, rows[i].tobytes()) for i, key in enumerate(keys)]
        sig_items = list(zip(sigs, keys, strict=True))
        term_items = [(term, keys[i]) for term, i in terms]
        balance_items = [(key, encode(prior)) for key, prior in balances.items()]
        added = idsum(np.asarray(ids, dtype=np.uint64))
        last_id = max(ids, default=0)

        def body(txn: Any) -> list[int]:
            removed = self._drop_block(txn, number, restore=True) or []
            count = _int(txn.get(b"count", db=self._meta)) + len(keys)
            total = (_int(txn.get(b"idsum", db=self._meta)) + added) & _MASK
            next_id = max(_int(txn.get(b"next_id", db=self._meta), 1), last_id + 1)
            if keys:
                txn.cursor(db=self._docs).putmulti(doc_items)
                txn.cursor(db=self._vectors).putmulti(vector_items)
                txn.cursor(db=self._sigs).putmulti(sig_items)
                txn.cursor(db=self._terms).putmulti(term_items, dupdata=True)
            if balance_items:
                txn.cursor(db=self._balances).putmulti(balance_items)
            entry = BlockEntry(block_hash, list(ids), undo)
            txn.put(number.to_bytes(8, "big"), encode(entry), db=self._blocks)
            old = number - self.retention
            raw = txn.get(old.to_bytes(8, "big"), db=self._blocks) if old >= 0 else None
            if raw is not None:
                past = _decode_entry(raw)
                if past.undo is not None:
                    txn.put(
                        old.to_bytes(8, "big"),
                        encode(BlockEntry(past.hash, past.ids, None)),
                        db=self._blocks,
                    )
            self._put_meta(txn, count, total, next_id, (number, block_hash))
            return removed

        return self._write(body)

    def revert_block(self, number: int, block_hash: bytes, parent_hash: bytes) -> list[int] | None:
        """Remove an indexed block (its documents, and its balance changes); returns the ids
        removed, or None when the plugin has no such block (number and hash)."""

        def body(txn: Any) -> list[int] | None:
            raw = txn.get(number.to_bytes(8, "big"), db=self._blocks)
            if raw is None or _decode_entry(raw).hash != block_hash:
                return None
            removed = self._drop_block(txn, number, restore=True)
            head = (number - 1, parent_hash) if number > 0 else None
            if head is None:
                txn.delete(b"head", db=self._meta)
            else:
                txn.put(b"head", head[0].to_bytes(8, "big") + head[1], db=self._meta)
            return removed

        return self._write(body)

    def drop_block(self, number: int) -> list[int]:
        """Remove an indexed block whatever its hash (start-up repair); returns the ids."""
        return self._write(lambda txn: self._drop_block(txn, number, restore=True) or [])

    def seed(self, updates: Sequence[tuple[bytes, Prior]], *, complete: bool | None = None) -> None:
        """Record accounts' states as they are now (the startup snapshot)."""

        def body(txn: Any) -> None:
            for key, prior in updates:
                txn.put(key, _doc_encoder.encode(prior), db=self._balances)
            if complete is not None:
                txn.put(b"complete", b"1" if complete else b"0", db=self._meta)

        self._write(body)

    def clear_balances(self, *, complete: bool) -> None:
        """Forget every account's balance (before a startup snapshot, or on an empty state)."""

        def body(txn: Any) -> None:
            txn.drop(self._balances, delete=False)
            txn.put(b"complete", b"1" if complete else b"0", db=self._meta)

        self._write(body)

    def set_head(self, head: tuple[int, bytes] | None, *, complete: bool | None = None) -> None:
        def body(txn: Any) -> None:
            if head is None:
                txn.delete(b"head", db=self._meta)
            else:
                txn.put(b"head", head[0].to_bytes(8, "big") + head[1], db=self._meta)
            if complete is not None:
                txn.put(b"complete", b"1" if complete else b"0", db=self._meta)

        self._write(body)

    def _put_meta(
        self, txn: Any, count: int, total: int, next_id: int, head: tuple[int, bytes]
    ) -> None:
        txn.put(b"count", str(count).encode(), db=self._meta)
        txn.put(b"idsum", str(total).encode(), db=self._meta)
        txn.put(b"next_id", str(next_id).encode(), db=self._meta)
        txn.put(b"head", head[0].to_bytes(8, "big") + head[1], db=self._meta)

    def _drop_block(self, txn: Any, number: int, *, restore: bool) -> list[int] | None:
        key = number.to_bytes(8, "big")
        raw = txn.get(key, db=self._blocks)
        if raw is None:
            return None
        entry = _decode_entry(raw)
        count = _int(txn.get(b"count", db=self._meta))
        total = _int(txn.get(b"idsum", db=self._meta))
        removed: list[int] = []
        for doc_id in entry.ids:
            idk = id_key(doc_id)
            raw_doc = txn.get(idk, db=self._docs)
            if raw_doc is None:
                continue
            doc = _decode_doc(raw_doc)
            txn.delete(idk, db=self._docs)
            txn.delete(idk, db=self._vectors)
            txn.delete(_signature_bytes(doc.signature), db=self._sigs)
            for term in doc_terms(doc):
                txn.delete(term, idk, db=self._terms)
            count -= 1
            total = (total - mix64(doc_id)) & _MASK
            removed.append(doc_id)
        if restore and entry.undo is not None:
            for account, prior in reversed(entry.undo):
                if prior is None:
                    txn.delete(account, db=self._balances)
                else:
                    txn.put(account, _doc_encoder.encode(prior), db=self._balances)
        elif restore:
            # Too deep to restore: what the plugin knows of balances is no longer exact.
            txn.put(b"complete", b"0", db=self._meta)
        txn.delete(key, db=self._blocks)
        txn.put(b"count", str(count).encode(), db=self._meta)
        txn.put(b"idsum", str(total).encode(), db=self._meta)
        return removed


def _signature_bytes(signature: str) -> bytes:
    return bytes(Signature.from_string(signature))


_term_cache: dict[str, bytes] = {}
_TERM_CACHE_SIZE: Final = 200_000


def encode_record(record: msgspec.Struct) -> bytes:
    """A document, prior or block record as stored (MessagePack)."""
    return _doc_encoder.encode(record)


def doc_terms(doc: Document) -> list[bytes]:
    """The posting terms of a document: its accounts, programs and status (each once). The
    known programs' own keys are left out of the accounts: their program term says the same."""
    cache = _term_cache
    terms: list[bytes] = []
    for key in dict.fromkeys(doc.accounts):
        term = cache.get(key)
        if term is None:
            if len(cache) >= _TERM_CACHE_SIZE:
                cache.clear()
            term = cache[key] = (
                b"" if key in PROGRAM_NAMES else b"a" + bytes(Pubkey.from_string(key))
            )
        if term:
            terms.append(term)
    for name in doc.programs:
        term = cache.get(name + "\0p")
        if term is None:
            term = cache[name + "\0p"] = b"p" + name.encode()
        terms.append(term)
    terms.append(b"sok" if doc.status == "ok" else b"s" + doc.status.encode())
    return terms
