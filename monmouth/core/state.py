"""The node's state in LMDB: accounts, blocks, undo records, statuses, message outcomes, meta,
and what Solana's JSON-RPC shows of executed transactions (details, signatures by address).

One write transaction per block makes a crash leave whole blocks only. Undo records restore
accounts, statuses and the lattice hash of the parent exactly. The map grows by itself: a full
map is retried with a bigger one and never reaches the user.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import lmdb
import msgspec

from monmouth.core.errors import DataDirError
from monmouth.core.l1 import BlockId
from monmouth.core.records import (
    DETAIL_COMPLEMENT,
    SCHEMA_VERSION,
    BlockRecord,
    MessageRecord,
    Segment,
    SnapshotHead,
    TxDetail,
    TxRecord,
    UndoRecord,
    address_key,
    block_key,
    decode_block,
    decode_segment,
    decode_tx,
    decode_undo,
    encode,
)
from monmouth.core.spl import TOKEN_PROGRAMS, is_token_account
from monmouth.core.view import StateView

if TYPE_CHECKING:
    # Imported where a hash is read: it brings numpy, which commands that only read the
    # head (`monmouth status`, `account`, `tx`) do without.
    from monmouth.core.lthash import LtHash

_MAGIC = b"monmouth-svm-exex"
_DATABASES = (
    b"accounts",
    b"blocks",
    b"lthash",
    b"undo",
    b"txs",
    b"messages",
    b"meta",
    b"stream",
    b"stream_index",
    # Added after schema 2 shipped: created when a writer opens an older directory, optional
    # for readers (`OPTIONAL_DATABASES`).
    b"details",
    b"by_address",
    b"by_owner",
    b"token_by_owner",
    b"token_by_mint",
    b"token_by_delegate",
)
#: Databases an older data directory of the same schema may lack until a writer opens it.
OPTIONAL_DATABASES = (
    b"details",
    b"by_address",
    b"by_owner",
    b"token_by_owner",
    b"token_by_mint",
    b"token_by_delegate",
)


def token_index_keys(raw: bytes | None) -> tuple[bytes, bytes, bytes | None] | None:
    """(owner, mint, delegate or None) of an SPL Token / Token-2022 account in the store's
    encoding (owner program at 17:49, data from 49), None for anything else."""
    if raw is None:
        return None
    data = raw[49:]
    if not is_token_account(raw[17:49], data):
        return None
    delegate = data[76:108] if data[72:76] == b"\x01\x00\x00\x00" else None
    return data[32:64], data[0:32], delegate


_T = TypeVar("_T")


def _schema_error(path: Path, schema: bytes | None) -> DataDirError:
    """The refusal of a data directory of another schema: one line saying what to do."""
    found = schema.decode(errors="replace") if schema else "unknown"
    newer = found.isdigit() and int(found) > SCHEMA_VERSION
    what = (
        "upgrade monmouth to the one that wrote it" if newer else "run the monmouth that wrote it"
    )
    return DataDirError(
        f"{path} has schema version {found}; this monmouth reads {SCHEMA_VERSION}: {what}, "
        "or move the folder aside and run again to rebuild the state from L1"
    )


class BlockWrite(msgspec.Struct, frozen=True, gc=False):
    """Everything one executed block writes, prepared before the write transaction opens.
    (A struct: built once per block on the main thread, where a frozen dataclass's
    `__init__` costs five times as much.)

    :ivar block: the block record (header, counts, checksum).
    :ivar lthash: the full lattice hash after the block.
    :ivar accounts: (pubkey, value before the block, value after) for every changed account;
        None means the account does not exist (0 lamports).
    :ivar txs: the status records written, by signature.
    :ivar messages: the inbox message outcomes, by message key.
    :ivar details: per executed transaction, what getTransaction shows (empty when the
        executor does not keep them).
    """

    block: BlockRecord
    lthash: LtHash
    accounts: Sequence[tuple[bytes, bytes | None, bytes | None]]
    txs: Sequence[TxRecord]
    messages: Sequence[tuple[bytes, MessageRecord]]
    details: Sequence[DetailWrite] = ()


class DetailWrite(msgspec.Struct, frozen=True, gc=False):
    """One executed transaction's details, encoded, and the addresses it names (every account
    key, loaded ones included), for the signatures-by-address index. (A struct: one per
    executed transaction, built on the main thread; a frozen dataclass's `__init__` cost 2 µs.)

    :ivar key: its `detail_key`.
    :ivar raw: its `TxDetail` encoded (`records.encode`): the store and the stream log both
        write these bytes, encoded once by whoever made the detail. The decoded detail is not
        kept: nothing reads it, and one object fewer per transaction is one fewer to build and
        to free when its group is reported.
    """

    key: bytes
    signature: bytes
    addresses: Sequence[bytes]
    raw: bytes

    @classmethod
    def from_record(cls, key: bytes, raw: bytes) -> DetailWrite:
        """The write of a detail record another instance stored under `key` (a replica
        applying its executor's): the signature and addresses are read from the record, as
        a revert reads them, so both index the same entries."""
        from monmouth.core.records import decode_detail

        signature, addresses = detail_names(decode_detail(raw))
        return cls(key, signature, addresses, raw)


class BlockCommit(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One block as the store's write transaction takes it (`BlockWrite` and the block's
    stream segments, less what only the stream and plugins read): `Store.write_commits` writes
    these, in this process or in the store's writer process (`core.storewriter`), which
    receives them encoded. Made by `commit_of`, mostly from references.

    :ivar lthash: the full lattice hash after the block, `LtHash.to_bytes()`.
    :ivar txs: (signature, `TxRecord` encoded) of each status written: encoded once, where the
        block was executed (the writer process would otherwise decode and encode each again).
    :ivar details: per executed transaction (key, signature, detail encoded, addresses), from
        its `DetailWrite`.
    """

    block: BlockRecord
    lthash: bytes
    accounts: Sequence[tuple[bytes, bytes | None, bytes | None]]
    txs: Sequence[tuple[bytes, bytes]]
    messages: Sequence[tuple[bytes, MessageRecord]]
    details: Sequence[tuple[bytes, bytes, bytes, Sequence[bytes]]]
    segments: Sequence[Segment]


def commit_of(write: BlockWrite, segments: Sequence[Segment]) -> BlockCommit:
    """What the store writes for `write` and its stream `segments`."""
    return BlockCommit(
        write.block,
        write.lthash.to_bytes(),
        write.accounts,
        [(rec.signature, encode(rec)) for rec in write.txs],
        write.messages,
        [(d.key, d.signature, d.raw, d.addresses) for d in write.details],
        segments,
    )


def detail_names(detail: TxDetail) -> tuple[bytes, list[bytes]]:
    """(first signature, every address) of a stored detail: the static keys of its wire
    transaction, then the addresses it loaded (writable, readonly) - what the executor
    indexed it under."""
    from monmouth.rust_svm.wire import layout

    wire = layout(detail.wire)
    addresses = list(wire.keys)
    if detail.loaded is not None:
        addresses += detail.loaded[0] + detail.loaded[1]
    return wire.signatures[0], addresses


@dataclass(frozen=True, slots=True)
class Reverted:
    """What reverting the head block did: the block, each account's restored value, and the
    sequence number given to the stream segments written with it."""

    block: BlockRecord
    accounts: list[tuple[bytes, bytes | None]]
    first_seq: int
    segments: list[Segment] = field(default_factory=list)


class Store:
    """An LMDB environment holding one node's state. Not thread-safe for writers."""

    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        map_size: int = 64 << 20,
        sync: bool = True,
        retention: int = 256,
        stream_blocks: int = 256,
        index_signatures: bool = True,
        index_owners: bool = True,
        index_tokens: bool = True,
    ) -> None:
        self.path = path
        self.retention = retention
        #: Whether commits maintain the signatures-by-address index (`[store]
        #: index_signatures`); readers learn it from the meta entry `index_signatures`.
        self.index_signatures = index_signatures
        #: Whether commits maintain the accounts-by-owner-program and token-account indexes
        #: (`[store] index_owners`, `index_tokens`); turned on, they are built from every
        #: account at open; turned off, emptied.
        self.index_owners = index_owners
        self.index_tokens = index_tokens
        #: Blocks whose event-stream segments are kept for replay (0 keeps none; sequence
        #: numbers still advance durably).
        self.stream_blocks = stream_blocks
        self._readonly = readonly
        #: Whether commits are flushed to disk (`[store] sync`).
        self.sync = sync
        #: Held by whoever remaps the map in this process (growing it in a write, adopting
        #: the size another process set in `_begin`) and by readers of this process that must
        #: not have it remapped under them (the executor's reads, on its thread and the
        #: background one). Other readers (plugins' views, the stream's replays) do not take
        #: it: a remap while one of them reads stays possible, as before the writer process,
        #: once per doubling of the map.
        self.lock = threading.RLock()
        _check_data_dir(path, create=not readonly)
        try:
            self._env = lmdb.open(
                str(path),
                map_size=map_size,
                max_dbs=len(_DATABASES),
                readonly=readonly,
                sync=sync,
                metasync=sync,
                readahead=False,
                lock=True,
            )
        except lmdb.Error as exc:
            raise DataDirError(f"{path} is not a usable data directory: {exc}") from None
        try:
            with self._env.begin() as txn:
                names = [bytes(k) for k, _ in txn.cursor()]
        except lmdb.Error:
            names = [b"?"]
        if any(name not in _DATABASES for name in names):
            self._env.close()
            raise DataDirError(
                f"{path} is an LMDB environment of another program, not a monmouth data directory"
            )
        if readonly and not names:
            self._env.close()
            raise DataDirError(f"no data in {path} yet; run `monmouth run --data-dir {path}`")
        if not readonly and b"meta" in names:
            # Another schema is refused before a writer creates a database: never modified.
            try:
                with self._env.begin() as txn:
                    meta = self._env.open_db(b"meta", txn=txn, create=False)
                    magic, schema = txn.get(b"magic", db=meta), txn.get(b"schema", db=meta)
            except lmdb.Error:
                magic = schema = None
            if magic == _MAGIC and schema != str(SCHEMA_VERSION).encode():
                self._env.close()
                raise _schema_error(path, schema)
        try:
            if readonly:
                self._db = {
                    name.decode(): self._env.open_db(name, create=False)
                    for name in _DATABASES
                    if name in names or name not in OPTIONAL_DATABASES
                }
            else:
                # All databases appear in one transaction, so a reader never sees half of them.
                with self._env.begin(write=True) as txn:
                    self._db = {
                        name.decode(): self._env.open_db(name, txn=txn) for name in _DATABASES
                    }
        except lmdb.Error as exc:
            self._env.close()
            raise DataDirError(
                f"{path} is not a monmouth data directory ({exc}); "
                "point --data-dir at another folder"
            ) from None
        try:
            self._check_meta()
            if not readonly:
                self._write(lambda txn: self._put_flags(txn))
                # A writer process of a node that died may still be writing its last group:
                # nothing reads the head for writing before it is done.
                wait_for_writer(path)
        except BaseException:
            self._env.close()
            raise

    # ------------------------------------------------------------------ lifecycle

    def _check_meta(self) -> None:
        with self._env.begin() as txn:
            magic = txn.get(b"magic", db=self._db["meta"])
            schema = txn.get(b"schema", db=self._db["meta"])
        if magic is None and not self._readonly:
            if self.accounts_count() or self._entries("blocks"):
                raise DataDirError(f"{self.path} holds data but no monmouth marker; refusing it")
            self._write(
                lambda txn: (
                    txn.put(b"magic", _MAGIC, db=self._db["meta"]),
                    txn.put(b"schema", str(SCHEMA_VERSION).encode(), db=self._db["meta"]),
                    # Names this log: a subscriber that sees another id knows it restarted
                    # against a different history, not a gap.
                    txn.put(b"stream_id", os.urandom(8).hex().encode(), db=self._db["meta"]),
                )
            )
            return
        if magic != _MAGIC:
            raise DataDirError(f"{self.path} is not a monmouth data directory")
        if schema != str(SCHEMA_VERSION).encode():
            raise _schema_error(self.path, schema)

    def _put_flags(self, txn: Any) -> None:
        # Readers (the rpc child) learn from meta which indexes are kept.
        meta = self._db["meta"]
        if self.index_signatures:
            txn.put(b"index_signatures", b"1", db=meta)
        else:
            txn.delete(b"index_signatures", db=meta)
        for flag, on, names in (
            (b"index_owners", self.index_owners, ("by_owner",)),
            (
                b"index_tokens",
                self.index_tokens,
                ("token_by_owner", "token_by_mint", "token_by_delegate"),
            ),
        ):
            was = txn.get(flag, db=meta) is not None
            if on == was:
                continue
            for name in names:
                txn.drop(self._db[name], delete=False)
            if on:
                # An account index must be complete: build it from every account once.
                with txn.cursor(db=self._db["accounts"]) as cur:
                    for key, value in cur:
                        self._reindex_one(txn, bytes(key), None, bytes(value), flag)
                txn.put(flag, b"1", db=meta)
            else:
                txn.delete(flag, db=meta)

    def _reindex(self, txn: Any, pubkey: bytes, old: bytes | None, new: bytes | None) -> None:
        """Move `pubkey` in the account indexes from where `old` put it to where `new` does."""
        if (
            old is not None
            and new is not None
            and old[17:49] == new[17:49]
            and not (self.index_tokens and old[17:49] in TOKEN_PROGRAMS)
        ):
            # Most writes keep an account's owner, which no token program is: nothing moves.
            return
        if self.index_owners:
            self._reindex_one(txn, pubkey, old, new, b"index_owners")
        if self.index_tokens:
            self._reindex_one(txn, pubkey, old, new, b"index_tokens")

    def _reindex_one(
        self, txn: Any, pubkey: bytes, old: bytes | None, new: bytes | None, flag: bytes
    ) -> None:
        db = self._db
        if flag == b"index_owners":
            old_owner = None if old is None else old[17:49]
            new_owner = None if new is None else new[17:49]
            if old_owner != new_owner:
                if old_owner is not None:
                    txn.delete(old_owner + pubkey, db=db["by_owner"])
                if new_owner is not None:
                    txn.put(new_owner + pubkey, b"", db=db["by_owner"])
            return
        before, after = token_index_keys(old), token_index_keys(new)
        if before == after:
            return
        names = ("token_by_owner", "token_by_mint", "token_by_delegate")
        if before is not None:
            for name, key in zip(names, before, strict=True):
                if key is not None:
                    txn.delete(key + pubkey, db=db[name])
        if after is not None:
            for name, key in zip(names, after, strict=True):
                if key is not None:
                    txn.put(key + pubkey, b"", db=db[name])

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reads

    @property
    def map_size(self) -> int:
        """The LMDB map's size now, in bytes (it grows as the state does)."""
        return int(self._env.info()["map_size"])

    def _begin(self) -> Any:
        """A read transaction. Another process may write this environment (the store's writer
        process, `core.storewriter`) and grow its map; the first reader to notice adopts the
        size it set."""
        try:
            return self._env.begin()
        except lmdb.MapResizedError:
            with self.lock:
                with contextlib.suppress(lmdb.MapResizedError):
                    return self._env.begin()  # another thread adopted it
                self._env.set_mapsize(0)  # 0 adopts the size the writer set
                return self._env.begin()

    @contextmanager
    def read(self) -> Iterator[StateView]:
        """One read transaction as a `StateView`: every read through it sees one committed
        state. A reader in another process adopts the map size when the writer has grown it."""
        txn = self._begin()
        try:
            yield StateView(txn, self._db)
        finally:
            txn.abort()

    def _entries(self, name: str) -> int:
        with self._begin() as txn:
            return int(txn.stat(self._db[name])["entries"])

    def accounts_count(self) -> int:
        """Existing accounts (0-lamport accounts are deleted)."""
        return self._entries("accounts")

    def transactions_count(self) -> int:
        """Transactions with a status, counted once per signature."""
        return self._entries("txs")

    def head(self) -> BlockRecord | None:
        """The last committed block, or None for an empty state."""
        with self._begin() as txn:
            raw = txn.get(b"head", db=self._db["meta"])
            if raw is None:
                return None
            number = int.from_bytes(raw[:8], "big")
            block = txn.get(block_key(number), db=self._db["blocks"])
        if block is None:
            raise DataDirError(f"{self.path} is corrupt: the head block #{number} is missing")
        return decode_block(block)

    def head_id(self) -> BlockId | None:
        head = self.head()
        return None if head is None else BlockId(head.number, head.hash)

    def block(self, number: int) -> BlockRecord | None:
        with self._begin() as txn:
            raw = txn.get(block_key(number), db=self._db["blocks"])
        return None if raw is None else decode_block(raw)

    def blocks(self, first: int, last: int) -> list[BlockRecord]:
        """Block records with numbers in [first, last] that exist, lowest first."""
        out = []
        with self._begin() as txn, txn.cursor(db=self._db["blocks"]) as cur:
            if cur.set_range(block_key(max(first, 0))):
                for key, raw in cur:
                    if int.from_bytes(key, "big") > last:
                        break
                    out.append(decode_block(raw))
        return out

    def first_block(self) -> int | None:
        """The lowest block number stored, or None for an empty state."""
        with self._begin() as txn, txn.cursor(db=self._db["blocks"]) as cur:
            return int.from_bytes(cur.key(), "big") if cur.first() else None

    def lthash(self, number: int) -> LtHash | None:
        """The full lattice hash after block `number`, while it is within retention."""
        with self._begin() as txn:
            raw = txn.get(block_key(number), db=self._db["lthash"])
        if raw is None:
            return None
        from monmouth.core.lthash import LtHash

        return LtHash.from_bytes(raw)

    def account(self, pubkey: bytes) -> bytes | None:
        with self._begin() as txn:
            raw: bytes | None = txn.get(pubkey, db=self._db["accounts"])
        return raw

    def accounts(self, pubkeys: list[bytes]) -> list[bytes | None]:
        """Several accounts in one read transaction."""
        db = self._db["accounts"]
        with self._begin() as txn:
            get = txn.get  # positional arguments: a fifth less per call than `db=`
            return [get(k, None, db) for k in pubkeys]

    def iter_accounts(self) -> Iterator[tuple[bytes, bytes]]:
        """Every stored account, by pubkey order (for checks and snapshots)."""
        with self._begin() as txn, txn.cursor(db=self._db["accounts"]) as cur:
            for key, value in cur:
                yield bytes(key), bytes(value)

    def tx(self, signature: bytes) -> TxRecord | None:
        with self._begin() as txn:
            raw = txn.get(signature, db=self._db["txs"])
        return None if raw is None else decode_tx(raw)

    def txs(self, signatures: list[bytes]) -> list[TxRecord | None]:
        db = self._db["txs"]
        with self._begin() as txn:
            get = txn.get  # positional arguments: a fifth less per call than `db=`
            return [
                None if (raw := get(s, None, db)) is None else decode_tx(raw) for s in signatures
            ]

    def iter_messages(self, block_number: int) -> Iterator[tuple[int, bytes]]:
        """(L1 transaction index, encoded MessageRecord) of one block's inbox messages."""
        prefix = block_key(block_number)
        with self._begin() as txn, txn.cursor(db=self._db["messages"]) as cur:
            if cur.set_range(prefix):
                for key, value in cur:
                    if not bytes(key).startswith(prefix):
                        break
                    yield int.from_bytes(key[8:], "big"), bytes(value)

    def meta(self, key: bytes) -> bytes | None:
        """A raw value of the meta database (for roles that keep their own cursors)."""
        with self._begin() as txn:
            raw: bytes | None = txn.get(key, db=self._db["meta"])
        return raw

    @property
    def stream_id(self) -> str:
        raw = self.meta(b"stream_id")
        return "" if raw is None else raw.decode()

    def stream_bounds(self) -> tuple[int, int, int | None]:
        """(first sequence number still stored, next sequence number, first height stored).

        With nothing stored, the first equals the next and the height is None.
        """
        with self._begin() as txn:
            raw = txn.get(b"stream_next", db=self._db["meta"])
            next_seq = 0 if raw is None else int.from_bytes(raw, "big")
            with txn.cursor(db=self._db["stream"]) as cur:
                first = int.from_bytes(cur.key(), "big") if cur.first() else next_seq
            with txn.cursor(db=self._db["stream_index"]) as cur:
                height = int.from_bytes(cur.key(), "big") if cur.first() else None
        return first, next_seq, height

    def stream_seq_at(self, height: int) -> int | None:
        """The first sequence number of the canonical block segment at `height` or the lowest
        stored above it; None when no stored block is that high."""
        with self._begin() as txn, txn.cursor(db=self._db["stream_index"]) as cur:
            if not cur.set_range(block_key(max(height, 0))):
                return None
            return int.from_bytes(cur.value(), "big")

    def segments(self, first_seq: int, last_seq: int) -> Iterator[tuple[int, Segment]]:
        """Stored segments that hold any message in [first_seq, last_seq], in order, each with
        the sequence number of its first message."""
        with self._begin() as txn, txn.cursor(db=self._db["stream"]) as cur:
            if not cur.set_range(first_seq.to_bytes(8, "big")):
                if not cur.last():
                    return
            elif int.from_bytes(cur.key(), "big") > first_seq and not cur.prev():
                cur.first()  # the segment before, when there is one, may cover first_seq
            for key, raw in cur:
                seq = int.from_bytes(key, "big")
                if seq > last_seq:
                    break
                segment = decode_segment(raw)
                if seq + segment.count > first_seq:
                    yield seq, segment

    def snapshot(self) -> Iterator[tuple[bytes, bytes]]:
        """A consistent copy of the state, read in one transaction: first a header pair
        (b"", encoded `SnapshotHead`), then every account as (pubkey, encoded account), then
        the pair (b"", b"txs") and every transaction status as (signature, encoded record)."""
        db = self._db
        with self._begin() as txn:
            head_raw: Any = txn.get(b"head", db=db["meta"])
            block: bytes | None = None
            lthash: bytes | None = None
            if head_raw is not None:
                number = bytes(head_raw[:8])
                block = bytes(txn.get(number, db=db["blocks"]) or b"")
                lthash = bytes(txn.get(number, db=db["lthash"]) or b"")
            seq = txn.get(b"stream_next", db=db["meta"])
            safe, finalized = (
                None if (v := txn.get(k, db=db["meta"])) is None else int.from_bytes(v, "big")
                for k in (b"safe", b"finalized")
            )
            head = SnapshotHead(
                block,
                lthash,
                0 if seq is None else int.from_bytes(seq, "big"),
                safe,
                finalized,
            )
            yield b"", encode(head)
            with txn.cursor(db=db["accounts"]) as cur:
                for key, value in cur:
                    yield bytes(key), bytes(value)
            yield b"", b"txs"
            with txn.cursor(db=db["txs"]) as cur:
                for key, value in cur:
                    yield bytes(key), bytes(value)

    def load_snapshot(
        self,
        head: SnapshotHead,
        accounts: Sequence[tuple[bytes, bytes]],
        txs: Sequence[tuple[bytes, bytes]] = (),
        meta: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """Fill an empty state from another instance's snapshot, in one transaction."""
        if self.head() is not None or self.accounts_count():
            raise DataDirError(f"{self.path} is not empty; a snapshot loads into an empty state")
        db = self._db

        reindex = self.index_owners or self.index_tokens

        def body(txn: Any) -> None:
            for pubkey, value in accounts:
                txn.put(pubkey, value, db=db["accounts"])
                if reindex:
                    self._reindex(txn, pubkey, None, value)
            for signature, value in txs:
                txn.put(signature, value, db=db["txs"])
            if head.block is not None and head.lthash is not None:
                block = decode_block(head.block)
                key = block_key(block.number)
                txn.put(key, head.block, db=db["blocks"])
                txn.put(key, head.lthash, db=db["lthash"])
                txn.put(b"head", key + block.hash, db=db["meta"])
                # Nothing below the snapshot can be undone here.
                txn.put(b"pruned_below", (block.number + 1).to_bytes(8, "big"), db=db["meta"])
            for meta_key, number in ((b"safe", head.safe), (b"finalized", head.finalized)):
                if number is not None:
                    txn.put(meta_key, number.to_bytes(8, "big"), db=db["meta"])
            for meta_key, value in meta:
                txn.put(meta_key, value, db=db["meta"])

        self._write(body)

    def info(self) -> dict[str, Any]:
        """LMDB facts: map size in use and configured, for status displays."""
        info = self._env.info()
        stat = self._env.stat()
        return {
            "map_size": info["map_size"],
            "used": (info["last_pgno"] + 1) * stat["psize"],
        }

    # ------------------------------------------------------------------ writes

    def _write(self, body: Callable[[Any], _T]) -> _T:
        """Run `body` in one write transaction; grow the map and retry when it is full."""
        # A full map aborts the whole block's transaction, so the retry writes the whole block.
        # Adopting a map another process grew: the writer process (`core.storewriter`) grows
        # it while this one reverts or appends segments. Under the store's lock: growing or
        # adopting the map remaps it, which must not happen under a read of this process's
        # executor (`Store.lock`).
        with self.lock:
            return write_transaction(self._env, body, adopt_resized=True)

    def _append(self, txn: Any, segments: Sequence[Segment]) -> int:
        """Give `segments` their sequence numbers and store them (when replay keeps any);
        returns the first one's number."""
        meta = self._db["meta"]
        raw = txn.get(b"stream_next", db=meta)
        first = 0 if raw is None else int.from_bytes(raw, "big")
        seq = self._append_at(txn, segments, first)
        if seq != first:
            txn.put(b"stream_next", seq.to_bytes(8, "big"), db=meta)
        return first

    def _append_at(self, txn: Any, segments: Sequence[Segment], seq: int) -> int:
        """Store `segments` from sequence number `seq` on (when replay keeps any); returns the
        next one's number (the caller writes `stream_next`: once per group)."""
        log, index = self._db["stream"], self._db["stream_index"]
        for segment in segments:
            if self.stream_blocks:
                txn.put(seq.to_bytes(8, "big"), encode(segment), db=log)
                if segment.kind == "block":
                    txn.put(block_key(segment.height), seq.to_bytes(8, "big"), db=index)
            seq += segment.count
        return seq

    def _prune_stream(self, txn: Any, head: int) -> None:
        """Drop stream segments older than the first of the last `stream_blocks` blocks."""
        log, index = self._db["stream"], self._db["stream_index"]
        limit = head - self.stream_blocks + 1
        with txn.cursor(db=index) as cur:
            if not cur.first() or int.from_bytes(cur.key(), "big") >= limit:
                return
            stale: list[bytes] = []
            keep = None
            for key, value in cur:
                if int.from_bytes(key, "big") >= limit:
                    keep = bytes(value)
                    break
                stale.append(bytes(key))
        for key in stale:
            txn.delete(key, db=index)
        if keep is None:
            return
        with txn.cursor(db=log) as cur:
            old = []
            if cur.first():
                # Keys only: a segment holds a whole block's messages, copied for nothing.
                for key in cur.iternext(keys=True, values=False):
                    if bytes(key) >= keep:
                        break
                    old.append(bytes(key))
        for key in old:
            txn.delete(key, db=log)

    def append_segments(self, segments: Sequence[Segment]) -> int:
        """Append segments on their own (plugin findings); returns the first sequence number."""
        return self._write(lambda txn: self._append(txn, segments))

    def commit_block(
        self,
        write: BlockWrite,
        *,
        segments: Sequence[Segment] = (),
        meta: Sequence[tuple[bytes, bytes]] = (),
    ) -> int:
        """Apply one executed block durably, with its undo record; the head moves to it.

        :param segments: event-stream segments written in the same transaction.
        :param meta: extra meta entries written with it (a replica's stream cursor).
        :returns: the sequence number of the first segment's first message.
        """
        return self.commit_blocks([write], [segments], meta=meta)[0]

    def commit_blocks(
        self,
        writes: Sequence[BlockWrite],
        segments: Sequence[Sequence[Segment]],
        *,
        meta: Sequence[tuple[bytes, bytes]] = (),
    ) -> list[int]:
        """Apply consecutive executed blocks in one write transaction (one fsync): a group
        commit during catch-up. A crash keeps all of them or none.

        :param segments: each block's event-stream segments.
        :returns: per block, the sequence number of its first segment's first message.
        """
        if len(segments) != len(writes):
            raise ValueError("one list of segments per block")
        commits = [commit_of(w, s) for w, s in zip(writes, segments, strict=True)]
        return self.write_commits(commits, meta=meta)

    def write_commits(
        self, commits: Sequence[BlockCommit], *, meta: Sequence[tuple[bytes, bytes]] = ()
    ) -> list[int]:
        """`commit_blocks` of blocks already in the form the store writes (`commit_of`)."""
        if not commits:
            return []

        def body(txn: Any) -> list[int]:
            firsts = self._put_blocks(txn, commits)
            for meta_key, value in meta:
                txn.put(meta_key, value, db=self._db["meta"])
            return firsts

        return self._write(body)

    def _put_blocks(self, txn: Any, writes: Sequence[BlockCommit]) -> list[int]:
        """Write a group of blocks: per block its statuses, index moves and stream segments;
        the group's undo records, block records, lattice hashes, details, accounts and
        messages once each, in key order, pruning once, and the head once (meta is read and
        written once: per block it was a sixth of a small block's store work).

        The same bytes as committing the blocks one by one (`tests/core/test_state_group.py`):
        an account several blocks of the group wrote keeps the last one's value, and nothing
        in the per-block part reads the accounts, messages or head. One `putmulti` in key order
        instead of a `put` per write: LMDB tries the cursor's page before searching the tree.
        """
        db = self._db
        meta = db["meta"]
        reindex = self.index_owners or self.index_tokens
        # Owners whose accounts may move in the indexes when their owner stays (`_reindex`).
        # A tuple: `in` compares with two keys, where a set hashed the owner slice, new each
        # time (measured: 135 instructions a transaction fewer at 50 transfers a block).
        moving = tuple(TOKEN_PROGRAMS) if self.index_tokens else ()
        txs_db = db["txs"]
        accounts: dict[bytes, bytes | None] = {}
        messages: list[tuple[bytes, bytes]] = []
        details: list[tuple[bytes, bytes, bytes, Sequence[bytes]]] = []
        # Per block, keyed by its number (ascending): written with one `putmulti` each.
        undos: list[tuple[bytes, bytes]] = []
        lthashes: list[tuple[bytes, bytes]] = []
        blocks: list[tuple[bytes, bytes]] = []
        firsts: list[int] = []
        raw = txn.get(b"stream_next", db=meta)
        seq = first_seq = 0 if raw is None else int.from_bytes(raw, "big")
        # One cursor for every status of the group: `txn.replace` makes and drops one a call.
        txs_cursor = txn.cursor(db=txs_db)
        put_new, replace = txs_cursor.put, txs_cursor.replace
        for write in writes:
            number = write.block.number
            key = block_key(number)
            written = write.accounts
            for pubkey, old, new in written:
                accounts[pubkey] = new
                # Most writes keep an account's owner, which no token program is: nothing
                # moves, and no call is made.
                if reindex and (
                    old is None
                    or new is None
                    or (owner := old[17:49]) != new[17:49]
                    or owner in moving
                ):
                    self._reindex(txn, pubkey, old, new)
            undo_txs: list[tuple[bytes, bytes | None]] = []
            for signature, status in write.txs:
                # A signature seen for the first time (nearly every one) has no old status to
                # undo: inserted without a read (overwrite False); else read and replaced.
                if put_new(signature, status, True, False):
                    undo_txs.append((signature, None))
                else:
                    undo_txs.append((signature, bytes(replace(signature, status))))
            for msg_key, msg in write.messages:
                messages.append((msg_key, encode(msg)))
            details += write.details
            undo = UndoRecord(
                [(pubkey, old) for pubkey, old, _ in written],
                undo_txs,
                [k for k, _ in write.messages],
            )
            undos.append((key, encode(undo)))
            lthashes.append((key, write.lthash))
            blocks.append((key, encode(write.block)))
            firsts.append(seq)
            seq = self._append_at(txn, write.segments, seq)
            if self.stream_blocks:
                self._prune_stream(txn, number)
        txs_cursor.close()
        if seq != first_seq:
            txn.put(b"stream_next", seq.to_bytes(8, "big"), db=meta)
        # Nothing above reads these databases: writing them last, once, is writing them per
        # block (the head included: a crash keeps the whole group or none of it). Pruning
        # follows the records it may delete (a block of the group past the retention depth).
        for name, entries in (("undo", undos), ("lthash", lthashes), ("blocks", blocks)):
            with txn.cursor(db=db[name]) as cur:
                _put_after(cur, entries)
        self._prune(txn, [write.block.number for write in writes])
        if details:
            self._put_details(txn, details)
        last = writes[-1].block
        txn.put(b"head", block_key(last.number) + last.hash, db=meta)
        gone = [k for k, v in accounts.items() if v is None]
        accounts_db = db["accounts"]
        for pubkey in gone:
            txn.delete(pubkey, db=accounts_db)
        with txn.cursor(db=accounts_db) as cur:
            cur.putmulti(sorted((k, v) for k, v in accounts.items() if v is not None))
        if messages:
            with txn.cursor(db=db["messages"]) as cur:
                _put_after(cur, messages)
        return firsts

    def _put_details(
        self, txn: Any, details: Sequence[tuple[bytes, bytes, bytes, Sequence[bytes]]]
    ) -> None:
        # Keyed by block and position, so a revert deletes a block's range and its undo record
        # needs nothing more (an executed signature is never executed again).
        # `putmulti` loops in C; the index's entries go in key order, which LMDB's B-tree
        # takes faster than the random order of addresses.
        with txn.cursor(db=self._db["details"]) as cur:
            _put_after(cur, [(key, raw) for key, _, raw, _ in details])
        if self.index_signatures:
            # Key order without sorting the entries (which cost more than writing them): by
            # address, sorted, then per address newest first, which is its key order when
            # `details` come in execution order. The order only decides the speed: an index
            # key names one transaction (its detail key), so entries with equal keys carry
            # the same signature and any order stores the same entries.
            by_address: defaultdict[bytes, list[tuple[bytes, bytes]]] = defaultdict(list)
            for key, signature, _, addresses in reversed(details):
                suffix = key.translate(DETAIL_COMPLEMENT)  # address_key's, in one call
                for address in addresses:
                    by_address[address].append((address + suffix, signature))
            with txn.cursor(db=self._db["by_address"]) as cur:
                cur.putmulti(chain.from_iterable([by_address[a] for a in sorted(by_address)]))

    def _revert_details(self, txn: Any, number: int) -> None:
        """Delete the details of block `number` and their signatures-by-address entries."""
        from monmouth.core.records import decode_detail

        details_db, index_db = self._db["details"], self._db["by_address"]
        prefix = block_key(number)
        found: list[tuple[bytes, bytes]] = []
        with txn.cursor(db=details_db) as cur:
            if cur.set_range(prefix):
                for key, value in cur:
                    if not bytes(key).startswith(prefix):
                        break
                    found.append((bytes(key), bytes(value)))
        for key, value in found:
            _, addresses = detail_names(decode_detail(value))
            for address in addresses:
                txn.delete(address_key(address, key), db=index_db)
            txn.delete(key, db=details_db)

    def _prune(self, txn: Any, heads: Sequence[int]) -> None:
        """Drop undo records no reorg can need: beyond the retention depth and, when the L1
        node's finalized block is known, not above it. Full lattice hashes go one block later
        (reverting the oldest undoable block restores its parent's hash). As after each of
        `heads` in turn (a group's blocks, ascending), reading and writing meta once."""
        db = self._db
        meta, undo_db, lthash_db = db["meta"], db["undo"], db["lthash"]
        raw = txn.get(b"finalized", db=meta)
        finalized = None if raw is None else int.from_bytes(raw, "big")
        raw = txn.get(b"pruned_below", db=meta)
        pruned = None if raw is None else int.from_bytes(raw, "big")
        moved = False
        for head in heads:
            limit = head - self.retention + 1  # undo records of blocks below this go
            if finalized is not None:
                limit = min(limit, finalized + 1)
            # A state that starts mid-chain has nothing below its first block to prune.
            start = max(limit - 1, 0) if pruned is None else pruned
            if limit <= start:
                continue
            for n in range(start, limit):
                txn.delete(block_key(n), db=undo_db)
                if n >= 1:
                    txn.delete(block_key(n - 1), db=lthash_db)
            pruned, moved = limit, True
        if moved and pruned is not None:
            txn.put(b"pruned_below", pruned.to_bytes(8, "big"), db=meta)

    def set_finality(
        self,
        safe: int | None,
        finalized: int | None,
        *,
        segments: Sequence[Segment] = (),
        meta: Sequence[tuple[bytes, bytes]] = (),
    ) -> int:
        """Record the L1 node's safe and finalized block numbers (pruning follows finality).

        :param meta: extra meta entries written with it (a replica's stream cursor).
        :returns: the sequence number of the first segment's first message.
        """
        meta_db = self._db["meta"]

        def body(txn: Any) -> int:
            for key, value in ((b"safe", safe), (b"finalized", finalized)):
                if value is None:
                    txn.delete(key, db=meta_db)
                else:
                    txn.put(key, value.to_bytes(8, "big"), db=meta_db)
            for meta_key, raw in meta:
                txn.put(meta_key, raw, db=meta_db)
            return self._append(txn, segments)

        return self._write(body)

    def finality(self) -> tuple[int | None, int | None]:
        """The safe and finalized block numbers last recorded (None when unknown)."""
        with self._begin() as txn:
            values = [txn.get(k, db=self._db["meta"]) for k in (b"safe", b"finalized")]
        safe, finalized = (None if v is None else int.from_bytes(v, "big") for v in values)
        return safe, finalized

    def revert_head(
        self, *, segments: Sequence[Segment] = (), meta: Sequence[tuple[bytes, bytes]] = ()
    ) -> Reverted:
        """Undo the head block in one write transaction; the head moves to its parent.

        :param segments: event-stream segments written in the same transaction.
        :param meta: extra meta entries written with it.

        Raises DataDirError when the head's undo record was pruned (a reorg deeper than the
        retention depth).
        """
        [reverted] = self.revert_blocks(1, segments=lambda _block, _parent: segments, meta=meta)
        return reverted

    def revert_blocks(
        self,
        count: int,
        *,
        segments: Callable[[BlockRecord, bytes | None], Sequence[Segment]] | None = None,
        meta: Sequence[tuple[bytes, bytes]] = (),
    ) -> list[Reverted]:
        """Undo `count` blocks tip first in one write transaction (one fsync).

        :param segments: makes the stream segments of each reverted block, given the block and
            its parent's state-hash checksum (None when the parent is not stored).
        :returns: what each revert did, tip first.

        Raises DataDirError, changing nothing, when the state has fewer blocks or an undo record
        was pruned (a reorg deeper than the retention depth).
        """
        db = self._db

        def body(txn: Any) -> list[Reverted]:
            out = []
            for _ in range(count):
                raw_head = txn.get(b"head", db=db["meta"])
                if raw_head is None:
                    raise DataDirError("nothing to revert: the state is empty")
                number = int.from_bytes(raw_head[:8], "big")
                key = block_key(number)
                head = decode_block(txn.get(key, db=db["blocks"]))
                out.append(self._revert_in(txn, head, segments))
            for meta_key, value in meta:
                txn.put(meta_key, value, db=db["meta"])
            return out

        return self._write(body)

    def _revert_in(
        self,
        txn: Any,
        head: BlockRecord,
        segments: Callable[[BlockRecord, bytes | None], Sequence[Segment]] | None,
    ) -> Reverted:
        db = self._db
        key = block_key(head.number)
        raw = txn.get(key, db=db["undo"])
        if raw is None:
            raise DataDirError(
                f"cannot revert block #{head.number}: its undo record is beyond the retention "
                f"depth ({self.retention} blocks); raise store.retention_blocks and resync"
            )
        undo = decode_undo(raw)
        reindex = self.index_owners or self.index_tokens
        for pubkey, prev in undo.accounts:
            if reindex:
                now = txn.get(pubkey, db=db["accounts"])
                self._reindex(txn, pubkey, None if now is None else bytes(now), prev)
            if prev is None:
                txn.delete(pubkey, db=db["accounts"])
            else:
                txn.put(pubkey, prev, db=db["accounts"])
        for signature, prev_tx in reversed(undo.txs):
            if prev_tx is None:
                txn.delete(signature, db=db["txs"])
            else:
                txn.put(signature, prev_tx, db=db["txs"])
        for msg_key in undo.messages:
            txn.delete(msg_key, db=db["messages"])
        self._revert_details(txn, head.number)
        # The height's stream index entry points at this block's segment, no longer canonical
        # (the segment stays in the log, followed by the revert's).
        for name in ("undo", "lthash", "blocks", "stream_index"):
            txn.delete(key, db=db[name])
        parent_raw = (
            None if head.number == 0 else txn.get(block_key(head.number - 1), db=db["blocks"])
        )
        if parent_raw is None:
            txn.delete(b"head", db=db["meta"])
        else:
            txn.put(b"head", block_key(head.number - 1) + head.parent_hash, db=db["meta"])
        made = (
            []
            if segments is None
            else segments(head, None if parent_raw is None else decode_block(parent_raw).checksum)
        )
        first = self._append(txn, made)
        return Reverted(head, undo.accounts, first, list(made))


def _put_after(cursor: Any, entries: list[tuple[bytes, bytes]]) -> None:
    """Write `entries` through `cursor`, expected in ascending key order after every key its
    database holds (records keyed by block: a group's blocks follow the head).

    LMDB appends such entries to the last page without searching the tree and fills each page
    before it starts the next (the transfer benchmark's details take 7% fewer pages). Append
    refuses an entry not after the last key, without writing it; then all are written the
    ordinary way, so the database ends with the same entries in either case.
    """
    consumed, added = cursor.putmulti(entries, append=True)
    if added != consumed:
        cursor.putmulti(entries)


#: The file in a data directory that the store's writer process (`core.storewriter`) holds an
#: exclusive `flock` on for as long as it lives.
WRITER_LOCK = "writer.lock"
#: How long a store opened for writing waits for another process's writer to end.
WRITER_WAIT_SECONDS = 60.0


def writer_lock(path: Path) -> int:
    """Take the data directory's writer lock, waiting for it (the writer process, at start:
    the store it opened waited already); held until the returned descriptor is closed, or the
    process ends."""
    fd = os.open(path / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def wait_for_writer(path: Path, timeout: float = WRITER_WAIT_SECONDS) -> None:
    """Wait until no writer process holds `path`'s writer lock: one whose node was killed
    finishes the group it was sent, then ends. Raises DataDirError if one still holds it after
    `timeout` seconds (another node writes this directory)."""
    lock = path / WRITER_LOCK
    if not lock.exists():
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DataDirError(
                        f"another process writes {path} (it holds {lock}): another monmouth "
                        "node runs on this data directory; stop it, or use another --data-dir"
                    ) from None
                time.sleep(0.05)
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
    finally:
        os.close(fd)


def write_transaction(
    env: lmdb.Environment, body: Callable[[Any], _T], *, adopt_resized: bool = False
) -> _T:
    """Run `body(txn)` in one write transaction of `env`, commit, and return what `body` returned.

    A full map never reaches the caller: on `lmdb.MapFullError` the transaction is aborted, the
    map size is doubled and `body` runs again in a new transaction, as often as it takes. `body`
    may therefore run more than once and must write only through `txn`. Any other exception from
    `body` aborts the transaction and propagates.

    :param adopt_resized: another process writes the same environment and may grow its map; on
        `lmdb.MapResizedError` adopt the size it set and run `body` again.
    """
    while True:
        try:
            with env.begin(write=True) as txn:
                return body(txn)
        except lmdb.MapFullError:
            # The aborted transaction left nothing behind; retry it whole with a bigger map.
            env.set_mapsize(env.info()["map_size"] * 2)
        except lmdb.MapResizedError:
            if not adopt_resized:
                raise
            # The other writer grew the map; 0 adopts the size now in the file.
            env.set_mapsize(0)
        except lmdb.Error as exc:
            # The disk, not the data: a full disk or a failing device. The transaction was
            # aborted, so what is stored stays as the last commit left it.
            raise DataDirError(
                f"cannot write to {env.path()}: {exc} (is the disk full or failing? the data "
                "stored before this stays intact; free space and run again)"
            ) from None


def open_environment(
    path: Path,
    *,
    what: str,
    missing: str,
    readonly: bool,
    max_dbs: int,
    map_size: int,
    sync: bool,
) -> lmdb.Environment:
    """Open (or create) a plugin's own LMDB environment in a folder of the data directory.

    :param what: what the folder holds, for messages ("MEV findings").
    :param missing: what to do when a reader finds nothing there yet.

    Raises DataDirError, never lmdb.Error, with a message that says what to do.
    """
    if readonly and not (path / "data.mdb").is_file():
        raise DataDirError(f"no {what} in {path}: {missing}")
    if path.exists() and not path.is_dir():
        raise DataDirError(f"{path} is a file, not a folder for {what}")
    try:
        if not readonly:
            path.mkdir(parents=True, exist_ok=True)
        return lmdb.open(
            str(path),
            map_size=map_size,
            max_dbs=max_dbs,
            readonly=readonly,
            sync=sync,
            metasync=sync,
            readahead=False,
        )
    except OSError as exc:
        raise DataDirError(f"cannot create {path} for {what}: {exc.strerror}") from None
    except lmdb.Error as exc:
        raise DataDirError(f"{path} is not usable for {what}: {exc}") from None


def _check_data_dir(path: Path, *, create: bool) -> None:
    if path.exists() and not path.is_dir():
        raise DataDirError(f"{path} is a file, not a data directory")
    if not path.exists():
        if not create:
            raise DataDirError(
                f"no data directory at {path}; run `monmouth run --data-dir {path}` first"
            )
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise DataDirError(f"cannot create data directory {path}: {exc.strerror}") from None
        return
    try:
        entries = set(os.listdir(path))
    except OSError as exc:
        raise DataDirError(f"cannot read data directory {path}: {exc.strerror}") from None
    if entries and "data.mdb" not in entries:
        raise DataDirError(
            f"{path} is not empty and holds no monmouth data (no data.mdb); "
            "point --data-dir at an empty or existing monmouth folder"
        )
    if not entries and not create:
        raise DataDirError(f"no data in {path}; run `monmouth run --data-dir {path}` first")
