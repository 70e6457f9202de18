"""@solana/web3.js, unmodified (web3_l1.mjs), against a node following a real anvil with a relay
key: an airdrop (a deposit from the relay key, `[plugins.rpc] airdrop` on) and a transfer go
through the L1 relay into anvil's inbox, are confirmed by polling getSignatureStatuses, reach
`confirmed` once anvil's `safe` block passes them, and getSignaturesForAddress lists the
transfer (an airdrop is an inbox deposit, not a Solana transaction)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import anyio
import pytest
from anvil import Anvil
from rpcnode import plugin_url, run_node_script
from test_rpc_l1_clients import ANVIL_SAFE_DEPTH, settings_for

from monmouth.app import build_node, make_source
from monmouth.client.relay import L1Relay

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SOL = 1_000_000_000
FEE = 5_000
SCRIPT = Path(__file__).with_name("web3_l1.mjs")


def test_web3js_through_the_l1_relay(anvil: Anvil, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, anvil)

    async def head(node: Any) -> None:
        while node.store.head() is None:  # noqa: ASYNC110  (polled: the store has no event)
            await anyio.sleep(0.05)

    async def main() -> dict[str, Any]:
        with build_node(settings) as node:
            source = make_source(settings, traces=node.plugins.wants_traces(), node=node)
            relay = node.relay
            assert isinstance(relay, L1Relay)
            async with anyio.create_task_group() as tg:
                tg.start_soon(node.run, source)
                with anyio.fail_after(30):  # a write needs a head to check against
                    await head(node)
                script = functools.partial(
                    run_node_script, SCRIPT, plugin_url(node), anvil.url, str(ANVIL_SAFE_DEPTH)
                )
                out: dict[str, Any] = await anyio.to_thread.run_sync(script)
                out["landed"] = relay.landed
                tg.cancel_scope.cancel()
        return out

    out = anyio.run(main)
    assert out["airdropStatus"]["err"] is None
    assert out["airdropBalance"] == 2 * SOL
    assert out["transferStatus"]["err"] is None
    assert out["payerBalance"] == SOL - FEE
    assert out["payeeBalance"] == SOL
    assert out["landed"] == 2  # the airdrop's deposit and the transfer's batch
    transfer = out["transferConfirmed"]
    assert transfer["confirmationStatus"] == "confirmed"
    # Newest first, as Solana lists them; each at the slot its status gives.
    payer = out["payerHistory"]
    assert isinstance(payer, list) and payer[0]["signature"] == out["transfer"]
    assert payer[0]["slot"] == transfer["slot"]
    assert payer[0]["err"] is None and payer[0]["confirmationStatus"] == "confirmed"
    # The airdrop is an inbox deposit, not a Solana transaction (docs/rpc.md, requestAirdrop):
    # its id has a status, but no address history lists it.
    assert [s["signature"] for s in payer] == [out["transfer"]]
    assert out["airdropConfirmed"]["confirmationStatus"] == "confirmed"
    assert [s["signature"] for s in out["payeeHistory"]] == [out["transfer"]]
    assert [s["signature"] for s in out["limited"]] == [out["transfer"]]
