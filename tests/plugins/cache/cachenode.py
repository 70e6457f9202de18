"""Helpers of the cache tests: hot sizes counted in accounts, and everything LMDB holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lmdb

from monmouth.core.node import Node
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


def lmdb_contents(data_dir: Path) -> dict[bytes, dict[bytes, bytes]]:
    """Every named database of a data directory, key by key: what "identical LMDB state" means
    (the stream's random identity aside)."""
    env = lmdb.open(str(data_dir), readonly=True, lock=False, max_dbs=64)
    try:
        with env.begin() as txn:
            names = [bytes(k) for k, _ in txn.cursor()]
        out: dict[bytes, dict[bytes, bytes]] = {}
        for name in names:
            db = env.open_db(name, create=False)
            with env.begin(db=db) as txn:
                out[name] = {
                    bytes(k): bytes(v)
                    for k, v in txn.cursor()
                    if (name, bytes(k)) not in _PER_DIRECTORY
                }
        return out
    finally:
        env.close()


def resident_within_budget(node: Node, hot_bytes: int | None) -> bool:
    """Between blocks, the hot tier holds at most its budget, pinned programs aside."""
    cache = node.executor.cache
    if hot_bytes is None or cache.policy is None:
        return True
    pinned = sum(node.runtime.resident.get(k, 0) for k in cache._pinned)
    return cache.policy.resident_bytes() <= hot_bytes + pinned
