"""@solana/web3.js (npm, installed by `make test` into ./node_modules), unmodified, against a
node on the devnet: a node script run by pytest. web3.js checks the shape of every response
itself, so a call that answers at all was answered in Agave's shape."""

from __future__ import annotations

import json
from pathlib import Path

import base58
import pytest
from rpcnode import (
    ROOT,
    Served,
    run_node_script,
    samples,
    served_fixture,  # noqa: F401 (the `served` fixture)
    user,
)
from solders.hash import Hash

pytestmark = pytest.mark.timeout(120)

SCRIPT = Path(__file__).with_name("web3_client.mjs")


def test_web3js(served: Served) -> None:
    store = served.node.store
    head, accounts, wallet, mint, ok, failed = samples(served)
    payer = user(5)
    facts = {
        "wallet": base58.b58encode(wallet).decode(),
        "mint": base58.b58encode(mint).decode(),
        "signatures": [base58.b58encode(r.signature).decode() for r in (ok, failed)],
        "slot": 2,
        "payerSecret": list(bytes(payer)),
    }
    out = run_node_script(
        SCRIPT,
        served.url,
        json.dumps(facts),
        timeout=90,
        env={"PATH": "/usr/bin:/bin", "NODE_PATH": str(ROOT / "node_modules")},
    )
    assert out["slot"] == out["blockHeight"] == head.number
    assert out["version"]["solana-core"] == "2.2.0"
    assert out["epochInfo"]["absoluteSlot"] == head.number
    assert out["slotsPerEpoch"] == 432_000
    genesis = store.block(0)
    assert genesis is not None and out["genesisHash"] == str(Hash(genesis.hash))
    assert out["latest"] == {
        "blockhash": str(Hash(head.hash)),
        "lastValidBlockHeight": head.number + 150,
    }
    assert out["blockhashValid"] is True
    assert out["rent"] == 2_039_280
    assert out["balance"] == accounts[wallet].lamports
    assert out["parsedType"] == "mint"
    assert out["many"] == [accounts[wallet].lamports, None]
    first, second = out["statuses"]
    assert first["slot"] == ok.slot and first["err"] is None
    assert second["err"] == failed.error
    block = store.block(2)
    assert block is not None and out["blockTime"] == block.timestamp
    assert out["blocks"] == [0, 1, 2]
    assert out["firstAvailable"] == 0
    assert out["transactionCount"] > 0
    assert out["fee"] == 5000
    assert out["simulation"]["err"] is None and out["simulation"]["unitsConsumed"] > 0
    assert "insufficient funds for rent" in out["sendError"]
    assert any("invoke [1]" in line for line in out["sendLogs"])
    assert out["airdropError"] is None  # a devnet node's relay takes it
