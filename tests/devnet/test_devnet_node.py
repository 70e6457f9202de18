"""The devnet's relay and finality as a node sees them: real LiteSVM, real LMDB."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import anyio
from solders.keypair import Keypair
from solders.system_program import TransferParams, transfer

from monmouth.app import build_node, make_source
from monmouth.cli.dev import dev_devnet
from monmouth.core.config import Settings, load_settings
from monmouth.core.node import Node
from monmouth.core.plugins import load_plugins
from monmouth.core.state import Store
from monmouth.devnet import DevnetRelay, DevnetSource
from monmouth.devnet.instructions import FEE, SOL, sign_solders
from monmouth.hooks import BlockInfo, Host, hookimpl
from monmouth.rust_svm.accounts import AccountRecord


def node_settings(tmp_path: Path, name: str = "data", **devnet: Any) -> Settings:
    return load_settings(
        None,
        data_dir=tmp_path / name,
        store={"sync": False},
        stream={"publish": None},
        devnet=devnet,
    )


def run(node: Node, settings: Settings, blocks: int) -> None:
    source = make_source(settings, traces=node.plugins.wants_traces(), node=node)
    anyio.run(functools.partial(node.run, source, max_blocks=blocks))


# -- wiring ---------------------------------------------------------------------------------------


def test_the_devnet_node_gets_the_relay_its_source_takes(tmp_path: Path) -> None:
    settings = node_settings(tmp_path)
    with build_node(settings) as node:
        relay = node.relay
        assert isinstance(relay, DevnetRelay)
        source = make_source(settings, node=node)
        assert isinstance(source, DevnetSource)
        assert source.relay is relay and node.relay is relay


def test_a_node_following_an_l1_node_has_no_relay(tmp_path: Path) -> None:
    settings = node_settings(tmp_path).model_copy(
        update={
            "source": load_settings(
                None, source={"kind": "rpc", "rpc_url": "http://127.0.0.1:9"}
            ).source
        }
    )
    with build_node(settings) as node:
        assert node.relay is None
        make_source(settings, node=node)
        assert node.relay is None


# -- finality -------------------------------------------------------------------------------------


class Slots:
    """Records slot statuses and reverted blocks, as a plugin sees them."""

    def __init__(self) -> None:
        self.statuses: list[tuple[int, str]] = []
        self.finalized_hashes: dict[int, bytes] = {}
        self.committed: dict[int, bytes] = {}
        self.reverted_final: list[int] = []

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        self.committed[block.number] = block.hash

    @hookimpl
    def update_slot_status(self, slot: int, parent: int | None, status: str) -> None:
        self.statuses.append((slot, status))
        if status == "finalized":
            self.finalized_hashes[slot] = self.committed[slot]

    @hookimpl
    def revert_blocks(self, blocks: list[BlockInfo]) -> None:
        self.reverted_final.extend(b.number for b in blocks if b.number in self.finalized_hashes)


def test_the_node_follows_the_devnet_finality(tmp_path: Path) -> None:
    settings = node_settings(tmp_path, txs_per_block=4, confirmed_depth=2, finalized_depth=5)
    slots = Slots()
    with build_node(settings, plugins=load_plugins(settings, extra=[("slots", slots)])) as node:
        run(node, settings, 20)
        node.plugins.drain()
        # The node stops right after block 19: the finality it saw last came after block 18.
        assert node.store.finality() == (18 - 2, 18 - 5)
    confirmed = [s for s, status in slots.statuses if status == "confirmed"]
    finalized = [s for s, status in slots.statuses if status == "finalized"]
    assert confirmed == list(range(0, 17))
    assert finalized == list(range(0, 14))


def test_a_finalized_block_is_never_reorged(tmp_path: Path) -> None:
    settings = node_settings(
        tmp_path,
        txs_per_block=4,
        reorg_probability=0.4,
        reorg_max_depth=3,
        confirmed_depth=1,
        finalized_depth=4,
    )
    slots = Slots()
    with build_node(settings, plugins=load_plugins(settings, extra=[("slots", slots)])) as node:
        run(node, settings, 80)
        node.plugins.drain()
        assert node.stats.reverted > 10
        _, finalized = node.store.finality()
        assert finalized is not None
        for slot, block_hash in slots.finalized_hashes.items():
            record = node.store.block(slot)
            assert record is not None and record.hash == block_hash
    assert slots.reverted_final == []
    assert slots.finalized_hashes


# -- the relay, end to end ------------------------------------------------------------------------


class Sender:
    """Funds a keypair through the relay, then sends a transfer with a recent blockhash, from
    the plugin's worker thread (as the rpc plugin's handlers will)."""

    def __init__(self) -> None:
        self.payer = Keypair.from_seed(bytes(range(32)))
        self.recipient = Keypair.from_seed(bytes(range(1, 33))).pubkey()
        self.host: Host | None = None
        self.signature: bytes | None = None
        self.sent_after: int | None = None
        self.threads: set[str] = set()

    @hookimpl
    def startup(self, node: Host) -> None:
        self.host = node
        assert node.relay is not None
        node.relay.deposit(bytes(self.payer.pubkey()), 10 * SOL)

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        assert self.host is not None and self.host.relay is not None
        self.threads.add(threading.current_thread().name)
        if block.number == 3 and self.signature is None:
            ix = transfer(
                TransferParams(
                    from_pubkey=self.payer.pubkey(), to_pubkey=self.recipient, lamports=SOL
                )
            )
            raw = sign_solders([ix], [self.payer], block.hash, v0=False)
            self.signature = raw[1:65]
            self.sent_after = block.number
            self.host.relay.send_transactions([raw])


def test_a_relayed_transfer_lands_in_a_later_block(tmp_path: Path) -> None:
    settings = node_settings(tmp_path, **dev_devnet(block_time=0.01))
    sender = Sender()
    with build_node(settings, plugins=load_plugins(settings, extra=[("sender", sender)])) as node:
        run(node, settings, 12)
        stats = node.stats
        assert (stats.ok, stats.failed, stats.rejected, stats.deposits) == (1, 0, 0, 1)
    assert threading.main_thread().name not in sender.threads
    assert sender.signature is not None and sender.sent_after is not None
    store = Store(settings.data_dir, readonly=True)
    try:
        record = store.tx(sender.signature)
        assert record is not None and record.status == "ok"
        assert record.slot > sender.sent_after
        payer = store.account(bytes(sender.payer.pubkey()))
        recipient = store.account(bytes(sender.recipient))
        assert payer is not None and recipient is not None
        assert AccountRecord.decode(recipient).lamports == SOL
        assert AccountRecord.decode(payer).lamports == 10 * SOL - SOL - FEE
    finally:
        store.close()


def test_the_dev_devnet_restarts_after_its_head(tmp_path: Path) -> None:
    blocks = 3
    settings = node_settings(tmp_path, **dev_devnet(block_time=0.01))
    with build_node(settings) as node:
        run(node, settings, blocks)
        first = node.head
    with build_node(settings) as node:
        run(node, settings, blocks)
        assert first is not None and node.head is not None
        assert node.head.number == first.number + blocks
        record = node.store.block(first.number + 1)
        assert record is not None and record.parent_hash == first.hash
