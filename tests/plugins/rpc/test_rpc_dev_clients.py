"""`monmouth dev` as its users run it (a process, the RPC on a port), with unmodified Solana
clients: solana-py and @solana/web3.js request an airdrop, send a transfer, wait for each to be
confirmed and read the balances. Nothing here knows the node's internals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from rpcnode import dev_chain, run_node_script
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SOL = 1_000_000_000
FEE = 5_000


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`monmouth dev` with fast blocks, its RPC on a free port; stopped with Ctrl-C after."""
    yield from dev_chain(tmp_path_factory)


async def _solana_py(url: str) -> None:
    async with AsyncClient(url) as client:
        payer, payee = Keypair(), Keypair()
        airdrop = (await client.request_airdrop(payer.pubkey(), 2 * SOL)).value
        await client.confirm_transaction(airdrop, Confirmed, sleep_seconds=0.1)
        assert (await client.get_balance(payer.pubkey(), Confirmed)).value == 2 * SOL

        latest = (await client.get_latest_blockhash(Confirmed)).value
        ix = transfer(
            TransferParams(from_pubkey=payer.pubkey(), to_pubkey=payee.pubkey(), lamports=SOL)
        )
        message = Message.new_with_blockhash([ix], payer.pubkey(), latest.blockhash)
        tx = VersionedTransaction(message, [payer])
        signature = (await client.send_transaction(tx)).value
        assert signature == tx.signatures[0]
        await client.confirm_transaction(
            signature,
            Finalized,
            sleep_seconds=0.2,
            last_valid_block_height=latest.last_valid_block_height,
        )
        status = (await client.get_signature_statuses([signature])).value[0]
        assert status is not None and status.err is None
        assert str(status.confirmation_status) == "TransactionConfirmationStatus.Finalized"
        assert (await client.get_balance(payee.pubkey(), Finalized)).value == SOL
        assert (await client.get_balance(payer.pubkey(), Finalized)).value == SOL - FEE


def test_solana_py_airdrops_transfers_and_confirms(dev: str) -> None:
    anyio.run(_solana_py, dev)


def test_web3js_airdrops_transfers_and_confirms(dev: str) -> None:
    out = run_node_script(Path(__file__).with_name("web3_dev.mjs"), dev, timeout=120)
    assert out["airdropStatus"]["err"] is None
    assert out["airdropBalance"] == 2 * SOL
    assert out["transferStatus"]["err"] is None
    assert out["payerBalance"] == SOL - FEE
    assert out["payeeBalance"] == SOL
