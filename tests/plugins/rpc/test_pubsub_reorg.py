"""A reorg on a real anvil seen by PubSub subscribers (solana-py's websocket client): a transfer
goes through the L1 relay, the account subscriber at `processed` sees the payee funded; anvil
reorganises the transfer's L1 block away and the subscriber sees the payee as it is again
(gone), once; the subscriber at `confirmed` saw neither (the block never became safe)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from anvil import Anvil
from rpcnode import following, plugin_url
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Processed
from solana.rpc.models import TxOpts
from solana.rpc.websocket_api import SolanaWsClient
from solders.keypair import Keypair
from solders.message import Message
from solders.rpc.responses import AccountNotification
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from test_rpc_l1_clients import settings_for

from monmouth.core import inbox
from monmouth.plugins.rpc.plugin import Plugin

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SOL = 1_000_000_000
INBOX = "0x" + inbox.DEFAULT_INBOX_ADDRESS.hex()


async def _account(ws: SolanaWsClient) -> AccountNotification:
    """The next notification, which must be an account's."""
    with anyio.fail_after(60):
        message = await ws.recv()
    assert isinstance(message, AccountNotification), message
    return message


async def _quiet(ws: SolanaWsClient, seconds: float) -> list[Any]:
    """The notifications that arrive within `seconds`."""
    out: list[Any] = []
    with anyio.move_on_after(seconds):
        while True:
            out.append(await ws.recv())
    return out


def test_account_subscriber_sees_a_reorg_on_anvil(anvil: Anvil, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, anvil)

    async def main() -> None:
        async with following(settings) as node:
            plugin = node.pm.get_plugin("rpc")
            assert isinstance(plugin, Plugin) and plugin.pubsub_url is not None
            async with (
                AsyncClient(plugin_url(node)) as client,
                SolanaWsClient(plugin.pubsub_url) as ws,
            ):
                await subscriber(anvil, client, ws)

    anyio.run(main)


async def subscriber(anvil: Anvil, client: AsyncClient, ws: SolanaWsClient) -> None:
    payer, payee = Keypair(), Keypair()
    airdrop = (await client.request_airdrop(payer.pubkey(), 2 * SOL)).value
    await client.confirm_transaction(airdrop, Processed, sleep_seconds=0.05)

    processed = await ws.account_subscribe(
        pubkey=payee.pubkey(), commitment=Processed, encoding="base64"
    )
    await ws.account_subscribe(pubkey=payee.pubkey(), commitment=Confirmed, encoding="base64")
    latest = (await client.get_latest_blockhash(Processed)).value
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=payee.pubkey(), lamports=SOL)
    )
    tx = VersionedTransaction(
        Message.new_with_blockhash([ix], payer.pubkey(), latest.blockhash), [payer]
    )
    signature = (
        await client.send_transaction(tx, opts=TxOpts(preflight_commitment=Processed))
    ).value
    funded = await _account(ws)
    assert funded.subscription == processed.subscription_id
    assert funded.result.value.lamports == SOL
    landed = (await client.get_signature_statuses([signature])).value[0]
    assert landed is not None and landed.slot == funded.result.context.slot

    # The transfer's L1 transaction is in anvil's latest block: a reorg of depth 1 replaces it
    # with an empty block (and one more), orphaning it.
    carrier = anvil.block("latest", full=True)
    assert [t["to"].lower() for t in carrier["transactions"]] == [INBOX]
    anvil.rpc("anvil_reorg", 1, [])
    anvil.mine(1)
    reverted = await _account(ws)
    assert reverted.subscription == processed.subscription_id
    assert reverted.result.value.lamports == 0  # the payee does not exist again
    # As of the head the node had then: the fork point or a block of the new branch.
    assert reverted.result.context.slot >= funded.result.context.slot - 1

    # New blocks that do not change the payee notify nothing more, at either level.
    anvil.mine(3)
    assert await _quiet(ws, 2.0) == []
    assert (await client.get_balance(payee.pubkey(), Processed)).value == 0
