"""getTransaction, getBlock and getSignaturesForAddress against a devnet node: shapes parsed
by solders' response types and solana-py's AsyncClient, balances checked against the stored
state, and the index checked against one rebuilt from the canonical chain, reorgs included."""

from __future__ import annotations

import base64
import functools
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
import pytest
from rpcnode import (
    Served,
    parse,
    plugin_url,
    served_fixture,  # noqa: F401 (the `served` fixture)
)
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetBlockResp,
    GetSignaturesForAddressResp,
    GetTransactionResp,
)
from solders.signature import Signature

from monmouth.app import build_node, make_source
from monmouth.core.config import load_settings
from monmouth.core.node import Node
from monmouth.core.records import TxRecord, address_key, decode_detail, detail_key
from monmouth.core.state import token_index_keys
from monmouth.rust_svm.wire import layout

pytestmark = pytest.mark.timeout(180)

ACCOUNT_INDEXES = ("by_owner", "token_by_owner", "token_by_mint", "token_by_delegate")


def executed(served: Served) -> list[TxRecord]:
    return sorted(
        (r for r in served.records() if r.executed),
        key=lambda r: (r.slot, r.l1_tx_index, r.position),
    )


def is_v0(wire: bytes) -> bool:
    return bool(wire[1 + 64 * wire[0]] & 0x80)


def rebuilt_index(node: Node) -> dict[bytes, list[bytes]]:
    """Signatures by address, newest first, rebuilt from the stored statuses and details."""
    out: dict[bytes, list[tuple[bytes, bytes]]] = defaultdict(list)
    with node.store.read() as view:
        for key, _raw in node.store.snapshot():
            if key == b"" or len(key) != 64:
                continue
            record = view.tx(key)
            assert record is not None
            if not record.executed:
                continue
            detail = view.detail(record)
            assert detail is not None, record
            addresses = list(layout(detail.wire).keys)
            if detail.loaded:
                addresses += detail.loaded[0] + detail.loaded[1]
            position = detail_key(record.slot, record.l1_tx_index, record.position)
            for address in addresses:
                out[address].append((position, record.signature))
    return {a: [s for _, s in sorted(v, reverse=True)] for a, v in out.items()}


def stored_index(node: Node) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = defaultdict(list)
    with node.store.read() as view:
        txn = view._txn
        with txn.cursor(db=view._db["by_address"]) as cur:
            for key, value in cur:
                out[bytes(key[:32])].append(bytes(value))
    return dict(out)


def test_get_transaction_every_encoding(served: Served) -> None:
    records = executed(served)
    assert any(r.status == "failed" for r in records)
    for record in records:
        signature = str(Signature(record.signature))
        answer = served.call("getTransaction", [signature, {"maxSupportedTransactionVersion": 0}])
        resp = parse(GetTransactionResp, answer)
        assert resp.value is not None
        value = answer["result"]
        assert value["slot"] == record.slot
        block = served.node.store.block(record.slot)
        assert block is not None and value["blockTime"] == block.timestamp
        meta = value["meta"]
        assert meta["fee"] == record.fee
        assert meta["logMessages"] == record.logs
        assert meta["computeUnitsConsumed"] == record.compute_units
        # Lamports only move between the transaction's keys, less the fee.
        assert sum(meta["preBalances"]) - sum(meta["postBalances"]) == record.fee
        assert len(meta["preBalances"]) == len(value["transaction"]["message"]["accountKeys"])
        if record.status == "failed":
            assert meta["err"] == record.error and meta["status"] == {"Err": record.error}
        else:
            assert meta["err"] is None and meta["status"] == {"Ok": None}
        assert value["transaction"]["signatures"][0] == signature
        wire = b""
        for encoding in ("base64", "base58", "jsonParsed", "binary"):
            other = served.call(
                "getTransaction",
                [signature, {"encoding": encoding, "maxSupportedTransactionVersion": 0}],
            )
            parse(GetTransactionResp, other)
            if encoding == "base64":
                wire = base64.b64decode(other["result"]["transaction"][0])
                assert wire[1:65] == record.signature
                assert other["result"]["version"] == (0 if is_v0(wire) else "legacy")
        if is_v0(wire):
            refused = served.call("getTransaction", [signature])
            assert refused["error"]["code"] == -32015
            assert "maxSupportedTransactionVersion" in refused["error"]["message"]
        else:
            plain = served.result("getTransaction", [signature])
            assert "version" not in plain


def test_token_balances(served: Served) -> None:
    found = 0
    for record in executed(served):
        value = served.result(
            "getTransaction",
            [str(Signature(record.signature)), {"maxSupportedTransactionVersion": 0}],
        )
        for balance in value["meta"]["postTokenBalances"]:
            found += 1
            assert balance["programId"] in (
                "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
                "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
            )
            assert int(balance["uiTokenAmount"]["amount"]) >= 0
    assert found, "the mixed workload moves tokens"


def test_get_transaction_unknown_and_commitment(served: Served) -> None:
    unknown = str(Signature(bytes([7]) * 64))
    assert served.result("getTransaction", [unknown]) is None
    for rejected in [r for r in served.records() if not r.executed][:3]:
        assert served.result("getTransaction", [str(Signature(rejected.signature))]) is None
    answer = served.call("getTransaction", [unknown, {"commitment": "processed"}])
    assert answer["error"]["code"] == -32602
    answer = served.call("getTransaction", [unknown, {"encoding": "xml"}])
    assert answer["error"]["code"] == -32602


def test_get_block(served: Served) -> None:
    store = served.node.store
    head = store.head()
    assert head is not None
    records = executed(served)
    for number in range(head.number + 1):
        block = store.block(number)
        assert block is not None
        answer = served.call("getBlock", [number, {"maxSupportedTransactionVersion": 0}])
        parse(GetBlockResp, answer)
        value = answer["result"]
        assert value["blockhash"] == str(Hash(block.hash))
        assert value["previousBlockhash"] == str(Hash(block.parent_hash))
        assert value["blockTime"] == block.timestamp
        assert value["blockHeight"] == number
        assert value["rewards"] == []
        expected = [str(Signature(r.signature)) for r in records if r.slot == number]
        assert [t["transaction"]["signatures"][0] for t in value["transactions"]] == expected
        signatures = served.result(
            "getBlock", [number, {"transactionDetails": "signatures", "rewards": False}]
        )
        assert signatures["signatures"] == expected and "rewards" not in signatures
        none = served.result("getBlock", [number, {"transactionDetails": "none"}])
        assert "transactions" not in none and "signatures" not in none
        accounts = served.call(
            "getBlock",
            [
                number,
                {"transactionDetails": "accounts", "maxSupportedTransactionVersion": 0},
            ],
        )
        parse(GetBlockResp, accounts)
        for encoding in ("base64", "jsonParsed"):
            parse(
                GetBlockResp,
                served.call(
                    "getBlock",
                    [number, {"encoding": encoding, "maxSupportedTransactionVersion": 0}],
                ),
            )
    assert served.call("getBlock", [head.number + 5])["error"]["code"] == -32004
    processed = served.call("getBlock", [0, {"commitment": "processed"}])
    assert processed["error"]["code"] == -32602


def test_signatures_for_address(served: Served) -> None:
    index = rebuilt_index(served.node)
    assert stored_index(served.node) == index
    busiest = sorted(index, key=lambda a: len(index[a]), reverse=True)[:3]
    for address in busiest:
        expected = [str(Signature(s)) for s in index[address]]
        answer = served.call("getSignaturesForAddress", [str(Pubkey(address))])
        parse(GetSignaturesForAddressResp, answer)
        assert [e["signature"] for e in answer["result"]] == expected[:1000]
        # Pages of 3 with `before`, until a stop with `until`.
        pages: list[str] = []
        before = None
        while True:
            cfg: dict[str, Any] = {"limit": 3}
            if before is not None:
                cfg["before"] = before
            page = served.result("getSignaturesForAddress", [str(Pubkey(address)), cfg])
            if not page:
                break
            pages += [e["signature"] for e in page]
            before = page[-1]["signature"]
        assert pages == expected
        if len(expected) > 4:
            until = served.result(
                "getSignaturesForAddress", [str(Pubkey(address)), {"until": expected[4]}]
            )
            assert [e["signature"] for e in until] == expected[:4]
        first = served.result("getSignaturesForAddress", [str(Pubkey(address)), {"limit": 1}])
        record = served.node.store.tx(index[address][0])
        assert record is not None
        assert first[0]["slot"] == record.slot and first[0]["memo"] is None
    bad = served.call("getSignaturesForAddress", [str(Pubkey(busiest[0])), {"limit": 1001}])
    assert bad["error"]["code"] == -32602


def test_solana_py(served: Served) -> None:
    records = executed(served)
    record = records[-1]
    address = Pubkey(layout(_wire(served, record)).keys[0])

    async def main() -> None:
        async with AsyncClient(served.url) as client:
            tx = await client.get_transaction(
                Signature(record.signature), max_supported_transaction_version=0
            )
            assert tx.value is not None and tx.value.slot == record.slot
            assert tx.value.transaction.meta is not None
            assert tx.value.transaction.meta.fee == record.fee
            block = await client.get_block(record.slot, max_supported_transaction_version=0)
            assert block.value.transactions is not None
            assert any(
                t.transaction.signatures[0] == Signature(record.signature)
                for t in block.value.transactions
            )
            sigs = await client.get_signatures_for_address(address, limit=5, commitment=Confirmed)
            assert Signature(record.signature) in [s.signature for s in sigs.value]

    anyio.run(main)


def _wire(served: Served, record: TxRecord) -> bytes:
    with served.node.store.read() as view:
        detail = view.detail(record)
    assert detail is not None
    return detail.wire


def test_index_off(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        store={"sync": False, "index_signatures": False},
        plugins={"rpc": {"address": "127.0.0.1:0"}},
    )
    node = build_node(settings)
    try:
        anyio.run(functools.partial(node.run, make_source(settings), max_blocks=3))
        assert stored_index(node) == {}
        served = Served(node, plugin_url(node))
        answer = served.call("getSignaturesForAddress", [str(Pubkey(bytes(32)))])
        assert answer["error"]["code"] == -32011
        assert "index_signatures = true" in answer["error"]["message"]
        signature = executed(served)[0].signature
        assert served.result("getTransaction", [str(Signature(signature))]) is not None
    finally:
        node.close()


def test_reorgs_leave_the_canonical_index(tmp_path: Path) -> None:
    """After reorgs, details and the index hold exactly the canonical chain's transactions."""
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        store={"sync": False},
        plugins={"disable": ["rpc"]},
        devnet={"reorg_probability": 0.4, "reorg_max_depth": 3},
    )
    node = build_node(settings)
    try:
        anyio.run(functools.partial(node.run, make_source(settings), max_blocks=24))
        assert node.stats.reverted > 0, "the devnet reorged"
        served = Served(node, "")
        records = executed(served)
        with node.store.read() as view:
            details_db = view._db["details"]
            with view._txn.cursor(db=details_db) as cur:
                stored = [(bytes(k), decode_detail(v).wire[1:65]) for k, v in cur]
        assert stored == [
            (detail_key(r.slot, r.l1_tx_index, r.position), r.signature) for r in records
        ]
        assert stored_index(node) == rebuilt_index(node)
        assert stored_account_indexes(node) == rebuilt_account_indexes(node)
        assert address_key(bytes(32), stored[0][0])[:32] == bytes(32)
    finally:
        node.close()


def rebuilt_account_indexes(node: Node) -> dict[str, set[bytes]]:
    out: dict[str, set[bytes]] = {n: set() for n in ACCOUNT_INDEXES}
    for pubkey, raw in node.store.iter_accounts():
        out["by_owner"].add(raw[17:49] + pubkey)
        token = token_index_keys(raw)
        if token is not None:
            for name, key in zip(ACCOUNT_INDEXES[1:], token, strict=True):
                if key is not None:
                    out[name].add(key + pubkey)
    return out


def stored_account_indexes(node: Node) -> dict[str, set[bytes]]:
    out: dict[str, set[bytes]] = {}
    with node.store.read() as view:
        for name in ACCOUNT_INDEXES:
            with view._txn.cursor(db=view._db[name]) as cur:
                out[name] = {bytes(k) for k, _ in cur}
    return out


def test_account_indexes_follow_reorgs_and_match_the_scan(tmp_path: Path) -> None:
    """The owner and token indexes equal ones rebuilt from the accounts after reorgs, and the
    methods that read them answer as the scan does, at every commitment."""
    answers: list[dict[str, Any]] = []
    for indexed in (True, False):
        settings = load_settings(
            None,
            data_dir=tmp_path / f"data-{indexed}",
            store={"sync": False, "index_owners": indexed, "index_tokens": indexed},
            plugins={"rpc": {"address": "127.0.0.1:0"}},
            devnet={
                "reorg_probability": 0.3,
                "reorg_max_depth": 3,
                "confirmed_depth": 2,
                "finalized_depth": 4,
            },
        )
        node = build_node(settings)
        try:
            anyio.run(functools.partial(node.run, make_source(settings), max_blocks=16))
            assert node.stats.reverted > 0
            if indexed:
                assert stored_account_indexes(node) == rebuilt_account_indexes(node)
            served = Served(node, plugin_url(node))
            owners = {raw[17:49] for _, raw in node.store.iter_accounts()}
            token_owners = sorted(
                {t[0] for _, raw in node.store.iter_accounts() if (t := token_index_keys(raw))}
            )[:5]
            answer: dict[str, Any] = {}
            for commitment in ("processed", "confirmed", "finalized"):
                for owner in sorted(owners):
                    found = served.result(
                        "getProgramAccounts",
                        [
                            str(Pubkey(owner)),
                            {"encoding": "base64", "commitment": commitment, "withContext": True},
                        ],
                    )
                    answer[f"{commitment} {owner.hex()}"] = sorted(
                        (a["pubkey"], a["account"]["lamports"]) for a in found["value"]
                    )
                for owner in token_owners:
                    for method in ("getTokenAccountsByOwner", "getTokenAccountsByDelegate"):
                        found = served.result(
                            method,
                            [
                                str(Pubkey(owner)),
                                {"programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"},
                                {"encoding": "base64", "commitment": commitment},
                            ],
                        )
                        answer[f"{method} {commitment} {owner.hex()}"] = sorted(
                            a["pubkey"] for a in found["value"]
                        )
            answers.append(answer)
        finally:
            node.close()
    # Both nodes ran the same seeded devnet: same chain, same answers.
    assert answers[0] == answers[1]
    assert any(v for k, v in answers[0].items() if k.startswith("getTokenAccountsByOwner"))


def test_an_index_turned_on_is_built_from_every_account(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        store={"sync": False, "index_owners": False, "index_tokens": False},
        plugins={"disable": ["rpc"]},
    )
    node = build_node(settings)
    anyio.run(functools.partial(node.run, make_source(settings), max_blocks=4))
    assert all(not v for v in stored_account_indexes(node).values())
    node.close()
    settings = load_settings(
        None, data_dir=tmp_path / "data", store={"sync": False}, plugins={"disable": ["rpc"]}
    )
    node = build_node(settings)
    try:
        built = stored_account_indexes(node)
        assert built == rebuilt_account_indexes(node) and built["by_owner"]
    finally:
        node.close()
