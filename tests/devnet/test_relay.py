"""The devnet relay: what it takes goes into the next block, after the workload, in order; a reorg
hands dropped messages back; the chain without relayed messages is the chain it always was."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import anyio
import pytest

from monmouth.core import inbox
from monmouth.core.config import DevnetSettings, load_settings
from monmouth.core.errors import ConfigError
from monmouth.core.inbox import DEFAULT_INBOX_ADDRESS, Batch, Deposit
from monmouth.core.l1 import BlockId, L1Block
from monmouth.core.notifications import ChainCommitted, ChainFinality, ChainReorged, Notification
from monmouth.core.relay import InboxRelay, RelayError
from monmouth.devnet import RELAY_SENDER, DevnetChain, DevnetRelay, DevnetSource

INBOX = DEFAULT_INBOX_ADDRESS


def devnet(**overrides: Any) -> DevnetSettings:
    return load_settings(None, devnet=overrides).devnet


def tx(n: int, size: int = 200) -> bytes:
    """Stand-in wire bytes: the relay frames them, it does not parse them."""
    return n.to_bytes(4, "little") * (size // 4)


def relayed(block: L1Block) -> list[inbox.Message]:
    return [
        inbox.decode(t.input, t.value)
        for t in block.transactions
        if t.sender == RELAY_SENDER and t.to == INBOX and t.status == 1
    ]


def new_blocks(event: Notification) -> tuple[L1Block, ...]:
    assert isinstance(event, ChainCommitted | ChainReorged)
    return event.new


def test_the_relay_is_an_inbox_relay() -> None:
    relay: InboxRelay = DevnetRelay()
    relay.deposit(bytes(32), 1)


def test_next_block_carries_the_messages_after_the_workload_in_arrival_order() -> None:
    relay = DevnetRelay()
    chain = DevnetChain(devnet(txs_per_block=4), INBOX, relay=relay)
    relay.send_transactions([tx(1), tx(2)])
    relay.deposit(b"\x07" * 32, 5)
    relay.send_transactions([tx(3)])
    assert relay.pending() == 4
    (block,) = new_blocks(chain.next_event())
    assert relay.pending() == 0
    ours = [t for t in block.transactions if t.sender == RELAY_SENDER]
    assert [t.index for t in ours] == list(
        range(len(block.transactions) - 3, len(block.transactions))
    )
    assert relayed(block) == [
        Batch((tx(1), tx(2))),
        Deposit(b"\x07" * 32, 5),
        Batch((tx(3),)),
    ]
    assert ours[1].value == 5 * 10**9
    # Taken once: the block after carries nothing of the relay's.
    assert relayed(new_blocks(chain.next_event())[0]) == []


def test_batches_stay_within_the_calldata_limit() -> None:
    relay = DevnetRelay(max_calldata=4000)
    chain = DevnetChain(devnet(workload="none"), INBOX, relay=relay)
    sent = [tx(i, size=inbox.MAX_TX_SIZE) for i in range(7)]
    relay.send_transactions(sent)
    (block,) = new_blocks(chain.next_event())
    assert all(len(t.input) <= 4000 for t in block.transactions)
    batches = relayed(block)
    assert [len(b.transactions) for b in batches if isinstance(b, Batch)] == [3, 3, 1]
    assert [t for b in batches if isinstance(b, Batch) for t in b.transactions] == sent


def test_bad_input_and_a_full_queue_are_refused_whole() -> None:
    relay = DevnetRelay(max_pending=3)
    with pytest.raises(RelayError, match="1232"):
        relay.send_transactions([tx(1), b"\x00" * 1233])
    with pytest.raises(RelayError, match="1 to"):
        relay.send_transactions([b""])
    with pytest.raises(RelayError, match="32 bytes"):
        relay.deposit(b"\x01" * 31, 1)
    with pytest.raises(RelayError, match="lamports"):
        relay.deposit(b"\x01" * 32, 0)
    assert relay.pending() == 0
    relay.send_transactions([tx(1), tx(2)])
    with pytest.raises(RelayError, match="queue is full"):
        relay.send_transactions([tx(3), tx(4)])
    assert relay.pending() == 2
    relay.deposit(b"\x01" * 32, 1)
    assert relay.pending() == 3


def test_messages_from_many_threads_all_land_once() -> None:
    relay = DevnetRelay()
    chain = DevnetChain(devnet(workload="none"), INBOX, relay=relay)

    def sender(worker: int) -> None:
        for i in range(50):
            relay.send_transactions([tx(worker * 1000 + i, 8)])

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    landed: list[bytes] = []
    while any(t.is_alive() for t in threads) or relay.pending():
        for message in relayed(new_blocks(chain.next_event())[0]):
            assert isinstance(message, Batch)
            landed.extend(message.transactions)
    for thread in threads:
        thread.join()
    for message in relayed(new_blocks(chain.next_event())[0]):
        assert isinstance(message, Batch)
        landed.extend(message.transactions)
    assert sorted(landed) == sorted(tx(w * 1000 + i, 8) for w in range(8) for i in range(50))
    # Each thread's transactions keep their order.
    for w in range(8):
        mine = [t for t in landed if t in {tx(w * 1000 + i, 8) for i in range(50)}]
        assert mine == [tx(w * 1000 + i, 8) for i in range(50)]


def test_a_reorg_puts_dropped_messages_into_the_new_branch() -> None:
    relay = DevnetRelay()
    chain = DevnetChain(
        devnet(reorg_probability=0.6, reorg_max_depth=3, txs_per_block=2), INBOX, relay=relay
    )
    reorgs_that_dropped_ours = 0
    for n in range(120):
        if n % 3 == 0:
            relay.send_transactions([tx(n)])
        event = chain.next_event()
        if isinstance(event, ChainReorged) and any(relayed(b) for b in event.old):
            reorgs_that_dropped_ours += 1
        # Every message taken so far is on the canonical chain exactly once.
        carried = [m for b in chain.canonical() for m in relayed(b)]
        expected = [Batch((tx(k),)) for k in range(0, n + 1, 3)]
        assert sorted(carried, key=repr) == sorted(expected, key=repr)
    assert reorgs_that_dropped_ours > 5


def test_a_relay_that_nobody_uses_changes_nothing() -> None:
    settings = devnet(reorg_probability=0.2)
    plain = DevnetChain(settings, INBOX)
    with_relay = DevnetChain(settings, INBOX, relay=DevnetRelay())
    for _ in range(80):
        plain.next_event()
        with_relay.next_event()
    assert [b.hash for b in plain.canonical()] == [b.hash for b in with_relay.canonical()]


def test_the_none_workload_makes_empty_blocks() -> None:
    chain = DevnetChain(devnet(workload="none"), INBOX)
    for _ in range(5):
        chain.next_event()
    assert [len(b.transactions) for b in chain.canonical()] == [0] * 6


def test_the_wall_clock_gives_whole_seconds_that_never_go_back() -> None:
    import time

    before = int(time.time())
    chain = DevnetChain(devnet(workload="none", clock="wall"), INBOX)
    for _ in range(5):
        chain.next_event()
    stamps = [b.timestamp for b in chain.canonical()]
    assert stamps == sorted(stamps)
    assert before <= stamps[0] and stamps[-1] <= int(time.time())


# -- finality -------------------------------------------------------------------------------------


def test_finality_names_the_blocks_at_the_depths() -> None:
    chain = DevnetChain(devnet(workload="none", confirmed_depth=1, finalized_depth=3), INBOX)
    finality = chain.finality()
    assert finality is None  # genesis alone: nothing 1 or 3 deep yet
    chain.next_event()
    assert chain.finality() == ChainFinality(chain.canonical()[0].id, None)
    for _ in range(5):
        chain.next_event()
    blocks = chain.canonical()
    assert chain.finality() == ChainFinality(blocks[-2].id, blocks[-4].id)
    assert DevnetChain(devnet(), INBOX).finality() is None


def test_the_source_reports_finality_after_each_block_when_asked() -> None:
    async def events(settings: DevnetSettings, count: int) -> list[Notification]:
        out: list[Notification] = []
        async for event in DevnetSource(settings, INBOX).notifications(None):
            out.append(event)
            if len(out) == count:
                break
        return out

    plain = anyio.run(events, devnet(txs_per_block=2), 6)
    assert not any(isinstance(e, ChainFinality) for e in plain)
    kinds = anyio.run(events, devnet(txs_per_block=2, confirmed_depth=0, finalized_depth=2), 7)
    assert [type(e).__name__ for e in kinds] == [
        "ChainCommitted",
        "ChainFinality",
        "ChainCommitted",
        "ChainFinality",
        "ChainCommitted",
        "ChainFinality",
        "ChainCommitted",
    ]
    last = kinds[5]
    assert isinstance(last, ChainFinality) and last.safe is not None and last.finalized is not None
    assert (last.safe.number, last.finalized.number) == (2, 0)


def test_finality_must_outlast_the_deepest_reorg() -> None:
    with pytest.raises(ConfigError, match="finalized_depth \\(3\\) must be above reorg_max_depth"):
        devnet(reorg_probability=0.1, reorg_max_depth=3, finalized_depth=3)
    with pytest.raises(ConfigError, match="confirmed_depth"):
        devnet(confirmed_depth=5, finalized_depth=2)
    assert devnet(reorg_probability=0.1, reorg_max_depth=3, finalized_depth=4).finalized_depth == 4


def test_a_none_chain_continues_from_a_block_and_reorgs_above_it() -> None:
    start = BlockId(10, b"\x01" * 32)
    settings = devnet(workload="none", reorg_probability=0.9, reorg_max_depth=3)
    chain = DevnetChain(settings, INBOX, start=start)
    reorgs = 0
    for _ in range(40):
        event = chain.next_event()
        if isinstance(event, ChainReorged):
            reorgs += 1
            assert event.old[0].number > start.number
    blocks = chain.canonical()
    assert blocks[0].id == start and reorgs > 5
    for parent, block in itertools.pairwise(blocks):
        assert (block.number, block.parent_hash) == (parent.number + 1, parent.hash)
    with pytest.raises(ConfigError, match="none workload"):
        DevnetChain(devnet(), INBOX, start=start)
