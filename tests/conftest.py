"""Shared fixtures: settings on a temporary data directory, and state checks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from monmouth.core.config import Settings, load_settings
from monmouth.core.lthash import LtHash, account_lthash
from monmouth.core.state import Store
from monmouth.rust_svm.accounts import AccountRecord

# No test binds the default stream or metrics port unless it asks for a port of its own: tests
# may run beside a developer's node, and the CLI tests' processes inherit this.
os.environ["MONMOUTH_STREAM__PUBLISH"] = "none"
os.environ["MONMOUTH_PLUGINS__MONITORING__ADDRESS"] = "none"
os.environ["MONMOUTH_PLUGINS__RPC__ADDRESS"] = "none"

# Test helpers (chainbuilder) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

# Tests import eth_account (anvil's helpers), whose py_ecc raises the recursion limit to
# 100,000; the node puts it back where it imports eth_account (monmouth.client), so the tests
# run under the interpreter's own limit too, as the node does.
_LIMIT = sys.getrecursionlimit()
import eth_account  # noqa: E402, F401

sys.setrecursionlimit(_LIMIT)

# The `anvil` fixture (a fresh anvil per test), for every test that names it.
from anvil import anvil_fixture  # noqa: E402, F401


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with the data directory in a fresh temporary folder and fsync off."""
    return load_settings(None, data_dir=tmp_path / "data", store={"sync": False})


def snapshot(store: Store) -> tuple[object, ...]:
    """Everything that must agree between two nodes on the same canonical chain."""
    head = store.head()
    assert head is not None
    return (
        head.number,
        head.hash,
        head.checksum,
        dict(store.iter_accounts()),
        store.transactions_count(),
    )


def store_contents(store: Store) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every entry of every database, but the meta entry `stream_id` (random per data
    directory): two stores written alike are equal here."""
    with store._env.begin() as txn:
        return {
            name: [(bytes(k), bytes(v)) for k, v in txn.cursor(db=db) if bytes(k) != b"stream_id"]
            for name, db in store._db.items()
        }


def recompute_lthash(store: Store) -> LtHash:
    """The lattice hash of every account in the store, from scratch."""
    total = LtHash.identity()
    for pubkey, raw in store.iter_accounts():
        rec = AccountRecord.decode(raw)
        total.mix_in(account_lthash(pubkey, rec.lamports, rec.data, rec.executable, rec.owner))
    return total
