"""A read-only view of the state inside one LMDB read transaction: one consistent snapshot.

`Store.read()` opens it. Everything read through one view comes from the same committed state,
however many blocks the writer commits meanwhile (LMDB's MVCC): a reader in another process
(the `rpc` plugin's server) answers each request from one view. The view also recovers an
account's value as of an older block from the undo records, which keep, for each block, every
changed account's value before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from monmouth.core.errors import DataDirError
from monmouth.core.records import (
    BlockRecord,
    MessageRecord,
    TxDetail,
    TxRecord,
    block_key,
    decode_block,
    decode_detail,
    decode_message,
    decode_tx,
    decode_undo,
    detail_key,
    detail_of_address_key,
)

__all__ = ["StateView"]


class StateView:
    """Reads of one snapshot; valid only inside the `Store.read()` block that made it."""

    __slots__ = ("_db", "_txn")

    def __init__(self, txn: Any, databases: dict[str, Any]) -> None:
        self._txn = txn
        self._db = databases

    def head(self) -> BlockRecord | None:
        """The last committed block of the snapshot, or None for an empty state."""
        raw = self._txn.get(b"head", db=self._db["meta"])
        return None if raw is None else self.block(int.from_bytes(raw[:8], "big"))

    def block(self, number: int) -> BlockRecord | None:
        raw = self._txn.get(block_key(number), db=self._db["blocks"]) if number >= 0 else None
        return None if raw is None else decode_block(raw)

    def first_block(self) -> int | None:
        """The lowest block number stored, or None for an empty state."""
        with self._txn.cursor(db=self._db["blocks"]) as cur:
            return int.from_bytes(cur.key(), "big") if cur.first() else None

    def block_numbers(self, first: int, last: int, limit: int) -> list[int]:
        """Numbers of the stored blocks in [first, last], lowest first, at most `limit`."""
        out: list[int] = []
        if limit <= 0 or last < first:
            return out
        with self._txn.cursor(db=self._db["blocks"]) as cur:
            if not cur.set_range(block_key(max(first, 0))):
                return out
            for key in cur.iternext(keys=True, values=False):
                number = int.from_bytes(key, "big")
                if number > last:
                    break
                out.append(number)
                if len(out) >= limit:
                    break
        return out

    def finality(self) -> tuple[int | None, int | None]:
        """The safe and finalized block numbers last recorded (None when unknown)."""
        meta = self._db["meta"]
        values = [self._txn.get(k, db=meta) for k in (b"safe", b"finalized")]
        safe, finalized = (None if v is None else int.from_bytes(v, "big") for v in values)
        return safe, finalized

    def account(self, pubkey: bytes) -> bytes | None:
        """The encoded account at the head, None when it does not exist."""
        raw = self._txn.get(pubkey, db=self._db["accounts"])
        return None if raw is None else bytes(raw)

    def account_at(self, pubkey: bytes, number: int, head: int) -> bytes | None:
        """The encoded account as block `number` left it (`head` is the snapshot's head).

        The value after `number` is the value before the earliest later block that changed the
        account, which that block's undo record holds; no later block changed it: the head's.
        Raises DataDirError when an undo record between them was pruned (a block older than
        the retention depth and at or below the finalized block).
        """
        undo_db = self._db["undo"]
        for later in range(number + 1, head + 1):
            raw = self._txn.get(block_key(later), db=undo_db)
            if raw is None:
                raise DataDirError(f"the state as of block #{number} is no longer kept")
            for key, previous in decode_undo(raw).accounts:
                if key == pubkey:
                    return previous
        return self.account(pubkey)

    def accounts_at(self, number: int, head: int) -> Iterator[tuple[bytes, bytes]]:
        """Every account as block `number` left it (`head` is the snapshot's head): the head's
        accounts in pubkey order except those later blocks changed, then those as they were
        (`changes_after`), in pubkey order.

        Raises DataDirError as `account_at` does.
        """
        changed = self.changes_after(number, head) if number < head else {}
        with self._txn.cursor(db=self._db["accounts"]) as cur:
            for key, value in cur:
                key = bytes(key)
                if key in changed:
                    continue
                yield key, bytes(value)
        for key in sorted(changed):
            previous = changed[key]
            if previous is not None:
                yield key, previous

    def changes_after(self, number: int, head: int) -> dict[bytes, bytes | None]:
        """The accounts blocks `number`+1 … `head` changed, each with its value after block
        `number` (None: it did not exist). Raises DataDirError as `account_at` does."""
        out: dict[bytes, bytes | None] = {}
        undo_db = self._db["undo"]
        for later in range(number + 1, head + 1):
            raw = self._txn.get(block_key(later), db=undo_db)
            if raw is None:
                raise DataDirError(f"the state as of block #{number} is no longer kept")
            for key, previous in decode_undo(raw).accounts:
                out.setdefault(key, previous)
        return out

    def tx(self, signature: bytes) -> TxRecord | None:
        raw = self._txn.get(signature, db=self._db["txs"])
        return None if raw is None else decode_tx(raw)

    def transactions_count(self) -> int:
        """Transactions with a status, counted once per signature."""
        return int(self._txn.stat(self._db["txs"])["entries"])

    def messages(self, first: int, last: int) -> Iterator[tuple[int, int, MessageRecord]]:
        """(block number, L1 transaction index, record) of the inbox messages of blocks in
        [first, last], in L1 order."""
        with self._txn.cursor(db=self._db["messages"]) as cur:
            if not cur.set_range(block_key(max(first, 0))):
                return
            for key, value in cur:
                number = int.from_bytes(key[:8], "big")
                if number > last:
                    break
                yield number, int.from_bytes(key[8:], "big"), decode_message(value)

    # ------------------------------------------------------------------ transaction details

    def detail(self, record: TxRecord) -> TxDetail | None:
        """The details of an executed transaction; None when they were not kept (turned off,
        or committed by an older version)."""
        db = self._db.get("details")
        if db is None or not record.executed:
            return None
        raw = self._txn.get(detail_key(record.slot, record.l1_tx_index, record.position), db=db)
        return None if raw is None else decode_detail(raw)

    def block_details(self, number: int) -> list[TxDetail]:
        """The details of block `number`'s executed transactions, in execution order."""
        db = self._db.get("details")
        out: list[TxDetail] = []
        if db is None:
            return out
        prefix = block_key(number)
        with self._txn.cursor(db=db) as cur:
            if cur.set_range(prefix):
                for key, value in cur:
                    if bytes(key[:8]) != prefix:
                        break
                    out.append(decode_detail(value))
        return out

    def signatures_indexed(self) -> bool:
        """Whether the writer keeps the signatures-by-address index (`[store]
        index_signatures`)."""
        if "by_address" not in self._db:
            return False
        return self._txn.get(b"index_signatures", db=self._db["meta"]) is not None

    def signatures_for(self, address: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(detail key, signature) of the executed transactions naming `address`, newest
        first: (block, L1 transaction index, position) descending."""
        db = self._db.get("by_address")
        if db is None:
            return
        with self._txn.cursor(db=db) as cur:
            if not cur.set_range(address):
                return
            for key, value in cur:
                if bytes(key[:32]) != address:
                    break
                yield detail_of_address_key(bytes(key)), bytes(value)

    # ------------------------------------------------------------------ account indexes

    def account_index(self, name: str, key: bytes) -> list[bytes] | None:
        """The pubkeys an account index lists under `key` at the head, in pubkey order; None
        when the writer does not keep that index. `name`: `by_owner` (owner program),
        `token_by_owner`, `token_by_mint`, `token_by_delegate`."""
        flag = b"index_owners" if name == "by_owner" else b"index_tokens"
        db = self._db.get(name)
        if db is None or self._txn.get(flag, db=self._db["meta"]) is None:
            return None
        out: list[bytes] = []
        with self._txn.cursor(db=db) as cur:
            if cur.set_range(key):
                for item in cur.iternext(keys=True, values=False):
                    if bytes(item[:32]) != key:
                        break
                    out.append(bytes(item[32:]))
        return out
