"""End to end: the devnet's L1 chain through a real node (LiteSVM executes, LMDB on disk)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import anyio
import pytest
from conftest import recompute_lthash, snapshot

from monmouth.app import build_node
from monmouth.core.config import Settings, load_settings
from monmouth.core.errors import SourceError
from monmouth.core.notifications import ChainCommitted, ChainReorged
from monmouth.core.reasons import Reason
from monmouth.core.records import decode_message
from monmouth.core.sources.replay import ReplaySource, write_replay
from monmouth.core.state import Store
from monmouth.devnet import DevnetChain, DevnetSource


def devnet_settings(data_dir: Path, **devnet: object) -> Settings:
    return load_settings(None, data_dir=data_dir, store={"sync": False}, devnet=devnet)


def test_reorgs_end_in_the_state_of_a_fresh_replay(tmp_path: Path) -> None:
    settings = devnet_settings(tmp_path / "a", reorg_probability=0.3, reorg_max_depth=4)
    chain = DevnetChain(settings.devnet, settings.inbox.address_bytes)
    reorgs = 0
    with build_node(settings) as node:
        node.apply(ChainCommitted((chain.tip,)))
        for _ in range(80):
            event = chain.next_event()
            reorgs += isinstance(event, ChainReorged)
            node.apply(event)
        assert node.stats.reverted > 0
        assert node.state == recompute_lthash(node.store)
        expected = snapshot(node.store)
    assert reorgs >= 5

    replay = tmp_path / "chain.jsonl"
    write_replay(replay, chain.canonical())
    fresh = devnet_settings(tmp_path / "b")
    with build_node(fresh) as node:
        anyio.run(node.run, ReplaySource(replay))
        assert snapshot(node.store) == expected
        # The replay committed in groups (one transaction for many blocks), the live run per
        # block: later blocks of a group saw the earlier ones' writes before they were stored.
        assert node.stats.commits < node.stats.blocks // 4
        assert node.stats.ok > 100 and node.stats.failed > 0 and node.stats.rejected > 0


def run_devnet(settings: Settings, blocks: int) -> None:
    with build_node(settings) as node:
        anyio.run(
            lambda: node.run(
                DevnetSource(settings.devnet, settings.inbox.address_bytes), max_blocks=blocks
            )
        )


def test_stopping_and_restarting_half_way_changes_nothing(tmp_path: Path) -> None:
    split = devnet_settings(tmp_path / "split", reorg_probability=0.2)
    run_devnet(split, 25)
    with Store(split.data_dir, readonly=True) as store:
        halfway = store.head_id()
    run_devnet(split, 25)
    with Store(split.data_dir, readonly=True) as store:
        head = store.head_id()
        expected = snapshot(store)
    assert halfway is not None and head is not None and head.number > halfway.number

    # A straight run commits the same blocks in the same order: 50 commits end in the same state.
    straight = devnet_settings(tmp_path / "straight", reorg_probability=0.2)
    run_devnet(straight, 50)
    with Store(straight.data_dir, readonly=True) as store:
        assert snapshot(store) == expected


def test_every_bad_input_yields_its_reason(tmp_path: Path) -> None:
    settings = devnet_settings(tmp_path / "d")
    chain = DevnetChain(settings.devnet, settings.inbox.address_bytes)
    seen: set[str] = set()
    checked = 0
    with build_node(settings) as node:
        node.apply(ChainCommitted((chain.tip,)))
        for _ in range(50):
            event = chain.next_event()
            node.apply(event)
            assert isinstance(event, ChainCommitted)
            (block,) = event.new
            messages = {
                index: decode_message(raw) for index, raw in node.store.iter_messages(block.number)
            }
            for planted in chain.planted(block.hash):
                if planted.what in ("reverted", "decoy"):
                    assert planted.tx_index not in messages  # not inbox messages at all
                    continue
                msg = messages[planted.tx_index]
                if planted.position is None:
                    assert msg.reason == planted.what, planted
                else:
                    status, reason = msg.outcomes[planted.position]
                    if planted.what == "failed":
                        assert status == "failed", planted
                    else:
                        assert (status, reason) == ("rejected", planted.what), planted
                seen.add(planted.what)
                checked += 1
    assert {r.value for r in Reason} <= seen, f"never planted: {set(Reason) - seen}"
    assert checked > 20


@pytest.mark.parametrize("broken", ["{not json", '{"number": "0x1"}'])
def test_broken_replay_line_keeps_what_was_committed(tmp_path: Path, broken: str) -> None:
    settings = devnet_settings(tmp_path / "r")
    chain = DevnetChain(settings.devnet, settings.inbox.address_bytes)
    for _ in range(5):
        chain.next_event()
    replay = tmp_path / "chain.jsonl"
    write_replay(replay, chain.canonical())
    with replay.open("a") as out:
        out.write(broken + "\n")
    from monmouth.core.errors import ReplayFileError

    with build_node(settings) as node, pytest.raises(ReplayFileError, match="line 7"):
        anyio.run(node.run, ReplaySource(replay))
    with Store(settings.data_dir, readonly=True) as store:
        assert store.head_id() == chain.tip.id


def test_a_bad_block_mid_notification_keeps_the_blocks_before_it(tmp_path: Path) -> None:
    """Blocks after the failing one were already prepared (their signatures queued on the
    checking threads): the node commits what it executed, raises, and closes without hanging."""
    settings = devnet_settings(tmp_path / "a", reorg_probability=0.0, txs_per_block=120)
    chain = DevnetChain(settings.devnet, settings.inbox.address_bytes)
    for _ in range(20):
        chain.next_event()
    blocks = list(chain.canonical())
    broken = dataclasses.replace(blocks[6], parent_hash=bytes(32))  # does not extend block 5
    with build_node(settings) as node:
        with pytest.raises(SourceError, match="does not extend"):
            node.apply(ChainCommitted((*blocks[:6], broken, *blocks[7:])))
        assert node.head is not None and node.head.number == blocks[5].number
        assert node.state == recompute_lthash(node.store)
        # The chain goes on from there, from the good block.
        node.apply(ChainCommitted(tuple(blocks[6:])))
        assert node.head is not None and node.head.number == blocks[-1].number
