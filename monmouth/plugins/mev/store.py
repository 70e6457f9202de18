"""The `mev` plugin's findings, per block, in an LMDB environment of its own (`<data_dir>/mev/`).

One record per committed L1 block, `MevBlock`, written in one write transaction when the block is
notified, under the key `number (8 bytes, big-endian) + hash (32 bytes)`. A revert deletes
exactly the reverted blocks' records (number and hash), so a record is never confused with the
one of another block at the same height. The records are frozen structs encoded as JSON
(msgspec), which keeps token amounts of any size exact (MessagePack stops at 64 bits); the
environment survives restarts and is read while the node runs (`monmouth mev --block N` opens it
read-only, as LMDB allows beside one writer).

Layout: named databases `blocks` (the records) and `meta` (`magic`, `schema`, and `head`: the
number and hash of the newest block written, or of the parent of the lowest reverted block).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import lmdb
import msgspec

from monmouth.core.errors import DataDirError
from monmouth.core.state import open_environment, write_transaction
from monmouth.plugins.mev.arbitrages import Arbitrage
from monmouth.plugins.mev.inspect import json_object
from monmouth.plugins.mev.sandwiches import Sandwich
from monmouth.plugins.mev.svm import SvmFinding
from monmouth.plugins.mev.swaps import Swap

__all__ = ["SCHEMA", "MevBlock", "MevStore", "block_key", "to_json"]

_MAGIC = b"monmouth-mev"
#: Bumped when `MevBlock` changes incompatibly.
SCHEMA = 1
_DATABASES = (b"blocks", b"meta")
_T = TypeVar("_T")


class MevBlock(msgspec.Struct, frozen=True, kw_only=True):
    """What the plugin found in one committed L1 block.

    :ivar block_hash: the L1 block hash, `0x` hex.
    :ivar traced: whether the block came with call traces (else the Ethereum side did not run:
        no plugin hook delivered the block, or the L1 node does not serve `trace_block`).
    :ivar swaps: the Ethereum swaps (mev-inspect-py's fields and order); sandwiches and
        arbitrages are made of them.
    :ivar svm_findings: the SVM detector's findings among the block's Solana transactions.
    :ivar error: why the block's traces could not be inspected, when they could not.
    """

    block_number: int
    block_hash: str
    traced: bool
    swaps: tuple[Swap, ...] = ()
    sandwiches: tuple[Sandwich, ...] = ()
    arbitrages: tuple[Arbitrage, ...] = ()
    svm_findings: tuple[SvmFinding, ...] = ()
    error: str | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(MevBlock)


def block_key(number: int, block_hash: bytes) -> bytes:
    """The record key: the number big-endian (records sort by height), then the hash."""
    return number.to_bytes(8, "big") + block_hash


def to_json(record: MevBlock) -> dict[str, Any]:
    """The record as plain JSON data (lists, not tuples), in field order."""
    return json_object(record)


class MevStore:
    """The findings database. Writers: one (the plugin's worker); readers: any.

    :param path: the environment's directory (`<data_dir>/mev`), created when writing.
    :param readonly: open for reading only (the CLI); raises DataDirError when there is none.
    :param sync: fsync each write (the node's `[store] sync`).
    :param keep_blocks: keep the records of this many blocks below the newest (0: all).
    """

    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        sync: bool = True,
        keep_blocks: int = 0,
        map_size: int = 16 << 20,
    ) -> None:
        self.path = path
        self.keep_blocks = keep_blocks
        self._env = open_environment(
            path,
            what="MEV findings",
            missing='enable the plugin (`[plugins] enable = ["mev"]`) and run the node',
            readonly=readonly,
            max_dbs=len(_DATABASES),
            map_size=map_size,
            sync=sync,
        )
        try:
            if readonly:
                self._blocks = self._env.open_db(b"blocks", create=False)
                self._meta = self._env.open_db(b"meta", create=False)
            else:
                with self._env.begin(write=True) as txn:
                    self._blocks = self._env.open_db(b"blocks", txn=txn)
                    self._meta = self._env.open_db(b"meta", txn=txn)
                    if txn.get(b"magic", db=self._meta) is None:
                        txn.put(b"magic", _MAGIC, db=self._meta)
                        txn.put(b"schema", str(SCHEMA).encode(), db=self._meta)
            with self._env.begin() as txn:
                magic = txn.get(b"magic", db=self._meta)
                schema = txn.get(b"schema", db=self._meta)
        except lmdb.Error as exc:
            self._env.close()
            raise DataDirError(f"{path} holds no MEV findings ({exc})") from None
        if magic != _MAGIC or schema != str(SCHEMA).encode():
            self._env.close()
            found = "another program's data" if magic != _MAGIC else f"schema {schema!r}"
            raise DataDirError(f"{path} has {found}; this monmouth reads MEV schema {SCHEMA}")

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> MevStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reads

    def head(self) -> tuple[int, bytes] | None:
        """The number and hash of the newest block written (after reverts: the fork point)."""
        with self._env.begin() as txn:
            raw = txn.get(b"head", db=self._meta)
        if raw is None or len(raw) == 0:
            return None
        return int.from_bytes(raw[:8], "big"), bytes(raw[8:])

    def get(self, number: int, block_hash: bytes) -> MevBlock | None:
        """The record of block `number` with this hash, or None."""
        with self._env.begin() as txn:
            raw = txn.get(block_key(number, block_hash), db=self._blocks)
        return None if raw is None else _decoder.decode(raw)

    def at(self, number: int) -> list[MevBlock]:
        """Every record at height `number` (one, unless a revert was missed)."""
        prefix = number.to_bytes(8, "big")
        out = []
        with self._env.begin() as txn:
            cursor = txn.cursor(db=self._blocks)
            if cursor.set_range(prefix):
                for key, value in cursor:
                    if not bytes(key).startswith(prefix):
                        break
                    out.append(_decoder.decode(value))
        return out

    def numbers(self) -> list[int]:
        """The heights that have a record, ascending."""
        with self._env.begin() as txn:
            return [
                int.from_bytes(bytes(key)[:8], "big")
                for key in txn.cursor(db=self._blocks).iternext(keys=True, values=False)
            ]

    # ------------------------------------------------------------------ writes

    def _write(self, body: Callable[[Any], _T]) -> _T:
        """Run `body` in one write transaction; grow the map and retry when it is full."""
        return write_transaction(self._env, body)

    def put(self, record: MevBlock) -> None:
        """Store one block's record in one write transaction: any other record at its height
        (a block reverted while nobody told the plugin) goes, and so do records older than
        `keep_blocks`."""
        number = record.block_number
        block_hash = bytes.fromhex(record.block_hash.removeprefix("0x"))
        key = block_key(number, block_hash)
        value = _encoder.encode(record)

        def body(txn: Any) -> None:
            prefix = number.to_bytes(8, "big")
            cursor = txn.cursor(db=self._blocks)
            stale = []
            if cursor.set_range(prefix):
                for other in cursor.iternext(keys=True, values=False):
                    if not bytes(other).startswith(prefix):
                        break
                    if bytes(other) != key:
                        stale.append(bytes(other))
            if self.keep_blocks and number >= self.keep_blocks:
                below = (number - self.keep_blocks + 1).to_bytes(8, "big")
                if cursor.first():
                    for old in cursor.iternext(keys=True, values=False):
                        if bytes(old) >= below:
                            break
                        stale.append(bytes(old))
            for old in stale:
                txn.delete(old, db=self._blocks)
            txn.put(key, value, db=self._blocks)
            txn.put(b"head", key, db=self._meta)

        self._write(body)

    def delete(
        self, blocks: Iterable[tuple[int, bytes]], head: tuple[int, bytes] | None
    ) -> list[MevBlock]:
        """Delete the records of these blocks (number, hash) and set the head; returns the
        records deleted. One write transaction."""

        def body(txn: Any) -> list[MevBlock]:
            deleted = []
            for number, block_hash in blocks:
                key = block_key(number, block_hash)
                raw = txn.get(key, db=self._blocks)
                if raw is not None:
                    deleted.append(_decoder.decode(raw))
                    txn.delete(key, db=self._blocks)
            if head is None:
                txn.delete(b"head", db=self._meta)
            else:
                txn.put(b"head", block_key(*head), db=self._meta)
            return deleted

        return self._write(body)

    def delete_above(self, number: int) -> int:
        """Delete every record above height `number` (blocks the node no longer has); returns
        how many."""

        def body(txn: Any) -> int:
            cursor = txn.cursor(db=self._blocks)
            stale = []
            if cursor.set_range((number + 1).to_bytes(8, "big")):
                stale = [bytes(k) for k in cursor.iternext(keys=True, values=False)]
            for key in stale:
                txn.delete(key, db=self._blocks)
            return len(stale)

        return self._write(body)
