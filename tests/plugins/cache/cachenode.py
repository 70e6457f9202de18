"""Helpers of the cache tests: hot sizes counted in accounts, and everything LMDB holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lmdb

from monmouth.core.node import Node
from monmouth.core.state import OPTIONAL_DATABASES, Store
from monmouth.devnet.instructions import TOKEN_ACCOUNT_SIZE
from monmouth.rust_svm.runtime import resident_size

#: What one resident token account costs: a hot tier of `n * ONE_ACCOUNT` holds n of them.
ONE_ACCOUNT = resident_size(bytes(49 + TOKEN_ACCOUNT_SIZE))
#: Hot sizes the issue names: zero accounts, one, a hundred, and unbounded (None).
HOT_SIZES: tuple[int | None, ...] = (0, ONE_ACCOUNT, 100 * ONE_ACCOUNT, None)


def cache_table(hot_bytes: int | None, policy: str = "lru") -> dict[str, Any]:
    """The `plugins` settings of a node with this hot size (None: unbounded)."""
    return {
        "cache": {"hot_bytes": "unbounded" if hot_bytes is None else hot_bytes, "policy": policy}
    }


#: Keys that differ between any two data directories: the stream's identity, drawn at creation.
_PER_DIRECTORY = {(b"meta", b"stream_id")}


def lmdb_contents(where: Path | Store) -> dict[bytes, dict[bytes, bytes]]:
    """Every named database of a data directory, key by key: what "identical LMDB state" means
    (the stream's random identity aside). An open store is read through its own environment
    and handles (LMDB allows one environment per process and directory)."""
    if isinstance(where, Store):
        return _contents(where._env, {name.encode(): db for name, db in where._db.items()})
    env = lmdb.open(str(where), readonly=True, lock=False, max_dbs=64)
    try:
        with env.begin() as txn:
            names = [bytes(k) for k, _ in txn.cursor()]
        return _contents(env, {name: env.open_db(name, create=False) for name in names})
    finally:
        env.close()


def _contents(env: Any, databases: dict[bytes, Any]) -> dict[bytes, dict[bytes, bytes]]:
    out: dict[bytes, dict[bytes, bytes]] = {}
    with env.begin() as txn:
        for name, db in sorted(databases.items()):
            rows = {bytes(k): bytes(v) for k, v in txn.cursor(db=db)}
            if rows or name not in OPTIONAL_DATABASES_B:
                out[name] = {k: v for k, v in rows.items() if (name, k) not in _PER_DIRECTORY}
    return out


#: Databases a store creates only when it opens for writing: empty ones compare as absent.
OPTIONAL_DATABASES_B = {name for name in OPTIONAL_DATABASES}


def resident_within_budget(node: Node, hot_bytes: int | None) -> bool:
    """Between blocks, the hot tier holds at most its budget, pinned programs aside."""
    cache = node.executor.cache
    if hot_bytes is None or cache.policy is None:
        return True
    pinned = sum(node.runtime.resident.get(k, 0) for k in cache._pinned)
    return cache.policy.resident_bytes() <= hot_bytes + pinned
