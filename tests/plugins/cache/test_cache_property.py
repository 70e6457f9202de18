"""Correct at any size (issue 18, item 4): on the mixed devnet workload with reorgs, a node whose
hot tier holds zero accounts, one, a hundred or any random number of bytes, under any policy,
ends with the same state hash and the same LMDB contents, database by database, as a node that
keeps every account resident. Real LiteSVM, real LMDB, the devnet's seeded reorgs."""

from __future__ import annotations

import functools
import tempfile
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio
from cachenode import HOT_SIZES, ONE_ACCOUNT, cache_table, lmdb_contents, resident_within_budget
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monmouth.app import build_node, make_source
from monmouth.core.config import load_settings
from monmouth.core.node import LOOKAHEAD
from monmouth.core.notifications import ChainCommitted, Notification
from monmouth.plugins.cache.policy import POLICIES

BLOCKS = 40


def run(data_dir: Path, seed: int, reorgs: float, plugins: dict[str, Any]) -> tuple[Any, ...]:
    """Run the devnet for BLOCKS blocks; (state hash, reverted blocks, LMDB contents)."""
    s = load_settings(
        None,
        data_dir=data_dir,
        store={"sync": False},
        stream={"publish": None},
        devnet={
            "seed": seed,
            "txs_per_block": 16,
            "users": 24,
            "reorg_probability": reorgs,
            "reorg_max_depth": 4,
        },
        plugins=plugins,
    )
    with build_node(s) as node:
        source = make_source(s, node=node)
        anyio.run(functools.partial(node.run, source, max_blocks=BLOCKS))
        table = plugins.get("cache", {})
        hot = table.get("hot_bytes")
        if table.get("policy") == "unbounded":
            hot = None  # the comparison policy keeps everything, whatever the budget
        assert resident_within_budget(node, None if hot == "unbounded" else hot)
        counts = node.executor.cache.counts
        if hot == 0:
            # Nothing stays between blocks: every block read its accounts from the store.
            assert counts.evictions > 0 and counts.misses > counts.hits
        return node.state.checksum(), node.stats.reverted, lmdb_contents(node.store)


@functools.cache
def reference(seed: int, reorgs: float) -> tuple[Any, ...]:
    """The node without the cache plugin: every account resident, as before the cache."""
    with tempfile.TemporaryDirectory() as folder:
        return run(Path(folder) / "ref", seed, reorgs, {"disable": ["cache"]})


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.sampled_from([7, 11, 23]),
    reorgs=st.sampled_from([0.2, 0.45]),
    hot=st.one_of(st.sampled_from(HOT_SIZES), st.integers(0, 300 * ONE_ACCOUNT)),
    policy=st.sampled_from(sorted(POLICIES)),
)
def test_the_state_does_not_depend_on_the_hot_size(
    seed: int, reorgs: float, hot: int | None, policy: str
) -> None:
    expected = reference(seed, reorgs)
    assert expected[1] > 0, "the workload reorged nothing: the test would test less"
    with tempfile.TemporaryDirectory() as folder:
        got = run(Path(folder) / "cached", seed, reorgs, cache_table(hot, policy))
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert got[2].keys() == expected[2].keys()
    for name in expected[2]:
        assert got[2][name] == expected[2][name], f"database {name!r} differs"


def test_every_issue_size_against_unbounded(tmp_path: Path) -> None:
    """The four sizes the issue names, on one seed, without hypothesis choosing."""
    expected = reference(5, 0.4)
    for hot in HOT_SIZES:
        got = run(tmp_path / f"hot-{hot}", 5, 0.4, cache_table(hot))
        assert got == expected, f"hot_bytes={hot} differs from the node without the cache"


def devnet_notifications(data_dir: Path, seed: int, blocks: int) -> list[Notification]:
    """The devnet's notifications for `blocks` committed blocks (with its seeded reorgs), with
    each run of ChainCommitted merged into one: a node then prepares blocks ahead and commits
    them in groups, as while catching up."""
    s = load_settings(
        None,
        data_dir=data_dir,
        store={"sync": False},
        stream={"publish": None},
        devnet={"seed": seed, "txs_per_block": 16, "users": 24, "reorg_probability": 0.1},
        plugins={"disable": ["cache"]},
    )
    seen: list[Notification] = []

    async def collect() -> None:
        with build_node(s) as node:
            source = make_source(s, node=node)
            async with aclosing(source.notifications(node.head, node._stored_hash)) as it:
                async for notification in it:
                    seen.append(notification)
                    node.apply(notification)
                    if node.stats.blocks >= blocks:
                        break

    anyio.run(collect)
    merged: list[Notification] = []
    for notification in seen:
        last = merged[-1] if merged else None
        if isinstance(notification, ChainCommitted) and isinstance(last, ChainCommitted):
            merged[-1] = ChainCommitted(last.new + notification.new)
        else:
            merged.append(notification)
    return merged


def test_reads_ahead_never_see_a_value_a_pending_block_changed(tmp_path: Path) -> None:
    """Blocks prepared ahead read their accounts in the background while the blocks before them
    execute and wait in a group commit: a value one of those blocks writes must come from the
    pending writes, never from the background read. Same state hash and LMDB at every size as
    with the cache off."""
    notifications = devnet_notifications(tmp_path / "recorded", 3, 80)
    assert any(isinstance(n, ChainCommitted) and len(n.new) > LOOKAHEAD for n in notifications)
    results = {}
    for name, plugins in [("off", {"disable": ["cache"]})] + [
        (str(hot), cache_table(hot)) for hot in HOT_SIZES
    ]:
        s = load_settings(
            None,
            data_dir=tmp_path / name,
            store={"sync": False},
            stream={"publish": None},
            plugins=plugins,
        )
        with build_node(s) as node:
            for notification in notifications:
                node.apply(notification)
            assert node.stats.reverted > 0
            assert node.executor.background_values > 0
            results[name] = (node.state.checksum(), lmdb_contents(node.store))
    for name, got in results.items():
        assert got == results["off"], f"{name} differs from the node without the cache"
