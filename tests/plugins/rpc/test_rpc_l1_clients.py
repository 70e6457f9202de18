"""A node following a real anvil with a relay key, its rpc plugin serving solana-py: an airdrop
(allowed by `[plugins.rpc] airdrop`) and a transfer go through the L1 relay into anvil's inbox and
are confirmed, and a reorg on anvil that orphans the transfer's L1 block takes it back; the relay
does not send it again (it landed once)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from anvil import DEV_PRIVATE_KEY, Anvil
from rpcnode import following, plugin_url
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Processed
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.message import Message
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from monmouth.client.relay import L1Relay
from monmouth.core import inbox
from monmouth.core.config import Settings, load_settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SOL = 1_000_000_000
FEE = 5_000
INBOX = "0x" + inbox.DEFAULT_INBOX_ADDRESS.hex()
#: anvil reports `safe` 32 blocks below its head (and `finalized` 64 below).
ANVIL_SAFE_DEPTH = 32


def settings_for(tmp_path: Path, anvil: Anvil) -> Settings:
    key = tmp_path / "relay.key"
    key.write_text(DEV_PRIVATE_KEY)
    key.chmod(0o600)
    return load_settings(
        None,
        data_dir=tmp_path / "data",
        store={"sync": False},
        stream={"publish": "none"},
        source={"kind": "rpc", "rpc_url": anvil.url, "poll_interval": 0.05},
        relay={"key_file": key, "batch_window": 0.05},
        plugins={"rpc": {"address": "127.0.0.1:0", "airdrop": True}},
    )


async def until_status_is_none(client: AsyncClient, signature: Signature) -> None:
    with anyio.fail_after(30):
        while True:  # polled, as a client would
            if (await client.get_signature_statuses([signature])).value[0] is None:
                return
            await anyio.sleep(0.05)


def test_solana_py_through_the_l1_relay_and_a_reorg(anvil: Anvil, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, anvil)

    async def main() -> None:
        async with following(settings) as node, AsyncClient(plugin_url(node)) as client:
            relay = node.relay
            assert isinstance(relay, L1Relay)
            await clients(anvil, client, relay)

    anyio.run(main)


async def clients(anvil: Anvil, client: AsyncClient, relay: L1Relay) -> None:
    payer, payee = Keypair(), Keypair()
    airdrop = (await client.request_airdrop(payer.pubkey(), 2 * SOL)).value
    await client.confirm_transaction(airdrop, Processed, sleep_seconds=0.05)
    assert (await client.get_balance(payer.pubkey(), Processed)).value == 2 * SOL

    # `confirmed` is anvil's `safe` block: the airdrop is confirmed once it is that deep.
    anvil.mine(ANVIL_SAFE_DEPTH)
    await client.confirm_transaction(airdrop, Confirmed, sleep_seconds=0.05)
    assert (await client.get_balance(payer.pubkey(), Confirmed)).value == 2 * SOL

    latest = (await client.get_latest_blockhash(Processed)).value
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=payee.pubkey(), lamports=SOL)
    )
    tx = VersionedTransaction(
        Message.new_with_blockhash([ix], payer.pubkey(), latest.blockhash), [payer]
    )
    # Preflight at `processed`, where the blockhash is (as on Solana: the default, finalized,
    # does not know a processed blockhash yet).
    opts = TxOpts(preflight_commitment=Processed)
    signature = (await client.send_transaction(tx, opts=opts)).value
    assert signature == tx.signatures[0]
    await client.confirm_transaction(
        signature,
        Processed,
        sleep_seconds=0.05,
        last_valid_block_height=latest.last_valid_block_height,
    )
    status = (await client.get_signature_statuses([signature])).value[0]
    assert status is not None and status.err is None
    assert (await client.get_balance(payee.pubkey(), Processed)).value == SOL
    assert (await client.get_balance(payer.pubkey(), Processed)).value == SOL - FEE
    assert relay.landed == 2  # the airdrop's deposit and the transfer's batch

    # The transfer's L1 transaction is in anvil's latest block; a reorg of depth 1 replaces that
    # block with an empty one (and one more), orphaning it.
    carrier = anvil.block("latest", full=True)
    assert [t["to"].lower() for t in carrier["transactions"]] == [INBOX]
    anvil.rpc("anvil_reorg", 1, [])
    anvil.mine(1)
    await until_status_is_none(client, signature)
    assert (await client.get_balance(payee.pubkey(), Processed)).value == 0
    assert (await client.get_balance(payer.pubkey(), Processed)).value == 2 * SOL
    # The relay does not send it again: it landed once. New blocks do not bring it back.
    anvil.mine(3)
    await anyio.sleep(0.5)
    assert (await client.get_signature_statuses([signature])).value[0] is None
    assert relay.landed == 2 and relay.pending() == 0
