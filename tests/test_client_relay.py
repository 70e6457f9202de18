"""`monmouth.client.relay.L1Relay` against a real anvil: its key file, its airdrop policy and
queue bound, batching what arrives within the window into one L1 transaction, dropping
transactions whose blockhash left the window, and `close()`; and how `monmouth.app` wires it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from anvil import DEV_PRIVATE_KEY, Anvil
from chainbuilder import keypair, sol_transfer
from streamkit import wait_until

from monmouth.app import build_node, l1_relay_for
from monmouth.client.relay import L1Relay, load_key
from monmouth.core import inbox
from monmouth.core.config import load_settings
from monmouth.core.errors import ConfigError
from monmouth.core.relay import RelayError
from monmouth.plugins.rpc.plugin import NO_RELAY

INBOX = "0x" + inbox.DEFAULT_INBOX_ADDRESS.hex()


def key_file(tmp_path: Path, key: str = DEV_PRIVATE_KEY, mode: int = 0o600) -> Path:
    path = tmp_path / "relay.key"
    path.write_text(key + "\n")
    path.chmod(mode)
    return path


@pytest.fixture
def relays() -> Iterator[Callable[..., L1Relay]]:
    """Makes relays; closes them after the test."""
    made: list[L1Relay] = []

    def make(url: str, **options: Any) -> L1Relay:
        relay = L1Relay(url, DEV_PRIVATE_KEY, **options)
        made.append(relay)
        return relay

    yield make
    for relay in made:
        relay.close()


def inbox_messages(anvil: Anvil) -> list[inbox.Message]:
    """Every inbox message anvil holds, in chain order."""
    out = []
    for number in range(anvil.block_number() + 1):
        for tx in anvil.block(number, full=True)["transactions"]:
            if (tx.get("to") or "").lower() == INBOX:
                out.append(inbox.decode(bytes.fromhex(tx["input"][2:]), int(tx["value"], 16)))
    return out


def latest_hash(anvil: Anvil) -> bytes:
    return bytes.fromhex(anvil.block()["hash"][2:])


# ---------------------------------------------------------------- the key file


def test_load_key_reads_a_private_file(tmp_path: Path) -> None:
    assert load_key(key_file(tmp_path)) == DEV_PRIVATE_KEY
    assert load_key(key_file(tmp_path, DEV_PRIVATE_KEY[2:])) == DEV_PRIVATE_KEY


def test_load_key_refuses_a_file_others_may_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        load_key(key_file(tmp_path, mode=0o644))
    assert DEV_PRIVATE_KEY[2:] not in str(caught.value)


@pytest.mark.parametrize("text", ["0x1234", "not hex at all", ""])
def test_load_key_refuses_what_is_not_a_key_without_echoing_it(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="does not hold a private key") as caught:
        load_key(key_file(tmp_path, text))
    assert text == "" or text not in str(caught.value)


def test_load_key_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key_file"):
        load_key(tmp_path / "absent")


# ---------------------------------------------------------------- policy and bounds


def test_deposit_is_refused_unless_airdrops_are_allowed(
    anvil: Anvil, relays: Callable[..., L1Relay]
) -> None:
    relay = relays(anvil.url)
    with pytest.raises(RelayError, match=r"airdrop = true.*\[plugins.rpc\]"):
        relay.deposit(bytes(32), 1)
    capped = relays(anvil.url, airdrop=True, airdrop_max_lamports=1000)
    with pytest.raises(RelayError, match="1 to 1000 lamports"):
        capped.deposit(bytes(32), 1001)


def test_a_full_queue_refuses_and_close_drops_what_is_queued(
    anvil: Anvil, relays: Callable[..., L1Relay]
) -> None:
    relay = relays(anvil.url, max_pending=2, batch_window=60)
    tx = sol_transfer(keypair(1), keypair(2).pubkey(), 1, latest_hash(anvil))
    relay.send_transactions([tx, tx])
    with pytest.raises(RelayError, match="queue is full"):
        relay.send_transactions([tx])
    with pytest.raises(RelayError, match="1 to 1232 bytes"):
        relay.send_transactions([bytes(1233)])
    relay.close()
    assert relay.pending() == 0
    with pytest.raises(RelayError, match="stopped"):
        relay.send_transactions([tx])
    assert inbox_messages(anvil) == []  # the window never passed: nothing was posted


# ---------------------------------------------------------------- posting


def test_what_arrives_within_the_window_is_one_l1_transaction(
    anvil: Anvil, relays: Callable[..., L1Relay]
) -> None:
    relay = relays(anvil.url, batch_window=0.5, airdrop=True, airdrop_max_lamports=10**9)
    blockhash = latest_hash(anvil)
    txs = [sol_transfer(keypair(1), keypair(2).pubkey(), n, blockhash) for n in (1, 2, 3)]
    relay.send_transactions(txs[:1])
    relay.send_transactions(txs[1:])
    relay.deposit(bytes(keypair(3).pubkey()), 5)
    wait_until(lambda: relay.landed == 2, 20)
    assert inbox_messages(anvil) == [
        inbox.Batch(tuple(txs)),
        inbox.Deposit(bytes(keypair(3).pubkey()), 5),
    ]
    # The next arrival is the next L1 transaction.
    relay.send_transactions([sol_transfer(keypair(1), keypair(2).pubkey(), 4, blockhash)])
    wait_until(lambda: relay.landed == 3, 20)
    assert len(inbox_messages(anvil)) == 3


def test_transactions_whose_blockhash_left_the_window_are_dropped(
    anvil: Anvil, relays: Callable[..., L1Relay]
) -> None:
    old = latest_hash(anvil)
    anvil.mine(150)
    relay = relays(anvil.url, batch_window=0)
    fresh = sol_transfer(keypair(1), keypair(2).pubkey(), 7, latest_hash(anvil))
    stale = sol_transfer(keypair(1), keypair(2).pubkey(), 8, old)
    unknown = sol_transfer(keypair(1), keypair(2).pubkey(), 9, bytes(range(32)))
    relay.send_transactions([stale, fresh, unknown])
    wait_until(lambda: relay.landed == 1, 20)
    assert relay.expired == 2
    assert inbox_messages(anvil) == [inbox.Batch((fresh,))]
    # A batch of expired transactions only is no L1 transaction at all.
    relay.send_transactions([stale])
    wait_until(lambda: relay.expired == 3, 20)
    assert relay.landed == 1 and len(inbox_messages(anvil)) == 1


def test_an_unreachable_node_is_retried_until_it_answers(
    anvil: Anvil, relays: Callable[..., L1Relay]
) -> None:
    relay = relays(anvil.url, batch_window=0)
    tx = sol_transfer(keypair(1), keypair(2).pubkey(), 1, latest_hash(anvil))
    anvil.stop()
    relay.send_transactions([tx])
    time.sleep(1.5)  # the relay's calls fail meanwhile; it backs off and tries again
    anvil.start()
    wait_until(lambda: relay.landed == 1, 40)
    assert inbox_messages(anvil) == [inbox.Batch((tx,))]


def test_a_sent_transaction_still_pending_is_waited_for_not_sent_again(
    anvil: Anvil, relays: Callable[..., L1Relay]
) -> None:
    anvil.rpc("evm_setAutomine", False)
    relay = relays(anvil.url, batch_window=0, receipt_timeout=0.3)
    tx = sol_transfer(keypair(1), keypair(2).pubkey(), 1, latest_hash(anvil))
    relay.send_transactions([tx])
    wait_until(lambda: len(anvil.rpc("txpool_content")["pending"]) == 1, 20)
    time.sleep(1.2)  # several receipt timeouts: each finds the transaction still in the pool
    anvil.mine(1)
    wait_until(lambda: relay.landed == 1, 20)
    assert inbox_messages(anvil) == [inbox.Batch((tx,))]
    anvil.mine(1)
    assert len(inbox_messages(anvil)) == 1


# ---------------------------------------------------------------- wiring


def test_app_gives_a_node_following_an_l1_node_a_relay_only_with_a_key(
    anvil: Anvil, tmp_path: Path
) -> None:
    def settings(**more: Any) -> Any:
        return load_settings(
            None,
            data_dir=tmp_path / "data",
            store={"sync": False},
            stream={"publish": "none"},
            plugins={"rpc": {"address": "none"}, **more.pop("plugins", {})},
            source={"kind": "rpc", "rpc_url": anvil.url},
            **more,
        )

    with build_node(settings()) as node:
        assert node.relay is None
    assert "[relay] key_file" in NO_RELAY and "MONMOUTH_RELAY__KEY_FILE" in NO_RELAY

    configured = settings(
        relay={"key_file": key_file(tmp_path), "batch_window": 0.05},
        plugins={"rpc": {"airdrop": "true", "airdrop_max_lamports": 5}},
    )
    closed: list[L1Relay] = []
    with build_node(configured) as node:
        relay = node.relay
        assert isinstance(relay, L1Relay)
        assert relay.batch_window == 0.05 and relay.airdrop and relay.airdrop_max_lamports == 5
        assert relay.sender == "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        closed.append(relay)
    with pytest.raises(RelayError, match="stopped"):
        closed[0].deposit(bytes(32), 1)  # the node closed it

    devnet = load_settings(None, relay={"key_file": key_file(tmp_path)})
    assert l1_relay_for(devnet) is None
    with pytest.raises(ConfigError, match="chmod 600"):
        l1_relay_for(settings(relay={"key_file": key_file(tmp_path, mode=0o640)}))
