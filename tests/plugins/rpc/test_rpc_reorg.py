"""Reads across reorgs: the server answers from whatever the node committed last, processed
answers follow the new branch, and running totals kept by the server are checked against it."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import anyio
import pytest
from rpcnode import Served, plugin_url
from solders.hash import Hash
from solders.pubkey import Pubkey

from monmouth.app import build_node, make_source
from monmouth.core.config import load_settings
from monmouth.core.notifications import FinishedHeight
from monmouth.rust_svm.accounts import AccountRecord

pytestmark = pytest.mark.timeout(180)


def expected_count(served: Served, slot: int) -> int:
    return sum(b.ok + b.failed for b in served.node.store.blocks(0, slot))


def check(served: Served) -> None:
    store = served.node.store
    head = store.head()
    assert head is not None
    latest = served.result("getLatestBlockhash", [{"commitment": "processed"}])
    assert latest["value"]["blockhash"] == str(Hash(head.hash))
    assert served.result("getTransactionCount", [{"commitment": "processed"}]) == (
        expected_count(served, head.number)
    )
    keys = [k for k, _ in store.iter_accounts()][:100]
    answer = served.result(
        "getMultipleAccounts",
        [[str(Pubkey(k)) for k in keys], {"encoding": "base64", "commitment": "processed"}],
    )
    for key, value in zip(keys, answer["value"], strict=True):
        raw = store.account(key)
        assert raw is not None and value["lamports"] == AccountRecord.decode(raw).lamports


def test_answers_follow_reorgs(tmp_path: Path) -> None:
    """Checked after every block the node finishes, reorgs included (the devnet makes them)."""
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        store={"sync": False},
        plugins={"rpc": {"address": "127.0.0.1:0"}},
        devnet={"reorg_probability": 0.4, "reorg_max_depth": 3},
    )
    served: list[Served] = []
    checked: list[int] = []

    def finished(height: FinishedHeight) -> None:
        if served:
            check(served[0])
            checked.append(height.block.number)

    with build_node(settings, on_finished=finished) as node:
        served.append(Served(node, plugin_url(node)))
        stats = anyio.run(functools.partial(node.run, make_source(settings), max_blocks=24))
    assert stats.reverted > 0, "the devnet reorged the chain"
    assert len(checked) > 10
    # A reorg takes the chain back below heights it had reached.
    assert any(b <= a for a, b in itertools.pairwise(checked))
