"""solana-py's own AsyncClient, unmodified, against a node on the devnet."""

from __future__ import annotations

import anyio
import pytest
from rpcnode import (
    Served,
    samples,
    served_fixture,  # noqa: F401 (the `served` fixture)
)
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.models import DataSliceOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

pytestmark = pytest.mark.timeout(120)


def test_reads(served: Served) -> None:
    store = served.node.store
    head, accounts, wallet, mint, ok, failed = samples(served)

    async def main() -> None:
        async with AsyncClient(served.url) as client:
            assert await client.is_connected()
            assert (await client.get_slot()).value == head.number
            for commitment in (Processed, Confirmed, Finalized):
                assert (await client.get_slot(commitment)).value == head.number
            assert (await client.get_block_height()).value == head.number
            version = await client.get_version()
            assert version.value.solana_core == "2.2.0"
            epoch = await client.get_epoch_info()
            assert epoch.value.absolute_slot == head.number
            assert (await client.get_genesis_hash()).value == Hash(store.block(0).hash)  # type: ignore[union-attr]
            assert (await client.get_identity()).value.identity is not None
            latest = await client.get_latest_blockhash()
            assert latest.value.blockhash == Hash(head.hash)
            assert latest.value.last_valid_block_height == head.number + 150
            rent = await client.get_minimum_balance_for_rent_exemption(165)
            assert rent.value == 2_039_280
            balance = await client.get_balance(Pubkey(wallet))
            assert balance.value == accounts[wallet].lamports
            info = await client.get_account_info(Pubkey(mint), encoding="base64")
            assert info.value is not None and info.value.data == accounts[mint].data
            sliced = await client.get_account_info(
                Pubkey(mint), encoding="base64", data_slice=DataSliceOpts(offset=36, length=8)
            )
            assert sliced.value is not None and sliced.value.data == accounts[mint].data[36:44]
            zstd = await client.get_account_info(Pubkey(mint), encoding="base64+zstd")
            assert zstd.value is not None and zstd.value.data == accounts[mint].data
            parsed = await client.get_account_info_json_parsed(Pubkey(mint))
            assert parsed.value is not None
            assert parsed.value.data.parsed["type"] == "mint"  # type: ignore[union-attr]
            many = await client.get_multiple_accounts([Pubkey(wallet), Keypair().pubkey()])
            assert many.value[0] is not None and many.value[0].lamports == accounts[wallet].lamports
            assert many.value[1] is None
            statuses = await client.get_signature_statuses(
                [Signature.from_bytes(ok.signature), Signature.from_bytes(failed.signature)],
                search_transaction_history=True,
            )
            first, second = statuses.value
            assert first is not None and first.slot == ok.slot and first.err is None
            assert second is not None and second.err is not None
            confirmed = await client.confirm_transaction(
                Signature.from_bytes(ok.signature), Finalized, sleep_seconds=0.05
            )
            assert confirmed.value[0] is not None
            assert (await client.get_block_time(head.number)).value == head.timestamp
            assert (await client.get_blocks(0, 2)).value == [0, 1, 2]
            assert (await client.get_first_available_block()).value == 0
            assert (await client.get_transaction_count()).value > 0

    anyio.run(main)
