"""Each read method against a real node: LMDB on disk, the server child on loopback, answers
parsed by solders' response types (what solana-py parses)."""

from __future__ import annotations

import base64
import hashlib
import json

import base58
import pytest
import zstandard
from rpcnode import (
    Served,
    parse,
    served_fixture,  # noqa: F401 (the `served` fixture)
)
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetAccountInfoJsonParsedResp,
    GetAccountInfoResp,
    GetBalanceResp,
    GetBlockTimeResp,
    GetEpochInfoResp,
    GetEpochScheduleResp,
    GetFeeForMessageResp,
    GetLatestBlockhashResp,
    GetMultipleAccountsResp,
    GetSignatureStatusesResp,
    GetSlotResp,
    GetVersionResp,
    IsBlockhashValidResp,
)
from solders.system_program import TransferParams, transfer

from monmouth.plugins.rpc.accounts import TOKEN_2022_PROGRAM, TOKEN_PROGRAM, token_amount
from monmouth.rust_svm.accounts import AccountRecord

pytestmark = pytest.mark.timeout(120)


def _json(answer: object) -> str:
    return json.dumps(answer)


def test_cluster_facts(served: Served) -> None:
    head = served.node.store.head()
    assert head is not None
    slot = parse(GetSlotResp, served.call("getSlot"))
    assert slot.value == head.number
    assert served.result("getBlockHeight") == head.number
    version = parse(GetVersionResp, served.call("getVersion"))
    assert version.value.solana_core.startswith("2.")
    assert served.result("getHealth") == "ok"
    genesis = served.node.store.block(0)
    assert genesis is not None
    assert served.result("getGenesisHash") == base58.b58encode(genesis.hash).decode()
    identity = served.result("getIdentity")["identity"]
    assert len(base58.b58decode(identity)) == 32
    assert served.result("getIdentity")["identity"] == identity  # stable
    info = parse(GetEpochInfoResp, served.call("getEpochInfo"))
    assert (info.value.absolute_slot, info.value.epoch) == (head.number, 0)
    assert info.value.transaction_count == served.result("getTransactionCount") > 0
    schedule = parse(GetEpochScheduleResp, served.call("getEpochSchedule"))
    assert schedule.value.slots_per_epoch == 432_000
    # Solana's own figure for an account without data.
    assert served.result("getMinimumBalanceForRentExemption", [0]) == 890_880
    assert served.result("getMinimumBalanceForRentExemption", [165]) == 2_039_280


def test_latest_blockhash_and_validity(served: Served) -> None:
    head = served.node.store.head()
    assert head is not None
    answer = parse(GetLatestBlockhashResp, served.call("getLatestBlockhash"))
    assert answer.context.slot == head.number
    assert answer.value.blockhash == Hash(head.hash)
    assert answer.value.last_valid_block_height == head.number + 150
    valid = parse(IsBlockhashValidResp, served.call("isBlockhashValid", [str(Hash(head.hash))]))
    assert valid.value is True
    unknown = served.result("isBlockhashValid", [str(Hash(bytes(32)))])
    assert unknown["value"] is False


def test_fee_for_message(served: Served) -> None:
    head = served.node.store.head()
    assert head is not None
    payer, other = Keypair(), Keypair()
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=other.pubkey(), lamports=1))
    fresh = Message.new_with_blockhash([ix], payer.pubkey(), Hash(head.hash))
    text = base64.b64encode(to_bytes_versioned(fresh)).decode()
    fee = parse(GetFeeForMessageResp, served.call("getFeeForMessage", [text]))
    assert fee.value == 5000
    stale = Message.new_with_blockhash([ix], payer.pubkey(), Hash(bytes(32)))
    text = base64.b64encode(to_bytes_versioned(stale)).decode()
    assert served.result("getFeeForMessage", [text])["value"] is None


def test_balances_and_accounts_match_the_store(served: Served) -> None:
    accounts = dict(served.node.store.iter_accounts())
    for key, raw in list(accounts.items())[:40]:
        record = AccountRecord.decode(raw)
        address = str(Pubkey(key))
        balance = parse(GetBalanceResp, served.call("getBalance", [address]))
        assert balance.value == record.lamports
        info = parse(
            GetAccountInfoResp, (served.call("getAccountInfo", [address, {"encoding": "base64"}]))
        )
        assert info.value is not None
        assert info.value.lamports == record.lamports
        assert info.value.data == record.data
        assert info.value.owner == Pubkey(record.owner)
        assert info.value.executable == record.executable
    missing = str(Keypair().pubkey())
    assert served.result("getBalance", [missing])["value"] == 0
    assert served.result("getAccountInfo", [missing, {"encoding": "base64"}])["value"] is None


def test_encodings_and_data_slice(served: Served) -> None:
    accounts = dict(served.node.store.iter_accounts())
    small = next(k for k, v in accounts.items() if 0 < len(AccountRecord.decode(v).data) <= 128)
    large = next(k for k, v in accounts.items() if len(AccountRecord.decode(v).data) > 128)
    for key in (small, large):
        data = AccountRecord.decode(accounts[key]).data
        address = str(Pubkey(key))
        value = served.result("getAccountInfo", [address, {"encoding": "base64+zstd"}])["value"]
        packed, name = value["data"]
        assert name == "base64+zstd"
        assert zstandard.ZstdDecompressor().decompress(base64.b64decode(packed)) == data
        sliced = served.result(
            "getAccountInfo",
            [address, {"encoding": "base64", "dataSlice": {"offset": 2, "length": 5}}],
        )["value"]
        assert base64.b64decode(sliced["data"][0]) == data[2:7]
        assert sliced["space"] == len(data)
    data = AccountRecord.decode(accounts[small]).data
    value = served.result("getAccountInfo", [str(Pubkey(small)), {"encoding": "base58"}])["value"]
    assert value["data"] == [base58.b58encode(data).decode(), "base58"]
    # Agave's legacy default, `binary`: a bare base58 string.
    assert (
        served.result("getAccountInfo", [str(Pubkey(small))])["value"]["data"] == value["data"][0]
    )
    error = served.call("getAccountInfo", [str(Pubkey(large)), {"encoding": "base58"}])["error"]
    assert error["code"] == -32602
    assert "less than 128 bytes" in error["message"]


def test_json_parsed_tokens_and_fallback(served: Served) -> None:
    accounts = dict(served.node.store.iter_accounts())
    token = {k: AccountRecord.decode(v) for k, v in accounts.items()}
    mints = [
        k
        for k, r in token.items()
        if r.owner in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM) and len(r.data) == 82
    ]
    holders = [k for k, r in token.items() if r.owner == TOKEN_PROGRAM and len(r.data) == 165]
    assert mints and holders, "the mixed workload makes SPL mints and token accounts"
    mint = served.call("getAccountInfo", [str(Pubkey(mints[0])), {"encoding": "jsonParsed"}])
    parsed = parse(GetAccountInfoJsonParsedResp, mint)
    assert parsed.value is not None
    data = mint["result"]["value"]["data"]
    assert data["program"] == "spl-token" and data["parsed"]["type"] == "mint"
    assert data["parsed"]["info"]["decimals"] == token[mints[0]].data[44]
    holder = served.result("getAccountInfo", [str(Pubkey(holders[0])), {"encoding": "jsonParsed"}])[
        "value"
    ]["data"]
    info = holder["parsed"]["info"]
    raw = token[holders[0]].data
    assert info["mint"] == str(Pubkey(raw[:32])) and info["owner"] == str(Pubkey(raw[32:64]))
    decimals = token[raw[:32]].data[44]
    assert info["tokenAmount"] == token_amount(int.from_bytes(raw[64:72], "little"), decimals)
    # A plain wallet (system-owned, no data): Agave cannot parse it and answers base64.
    wallet = next(k for k, r in token.items() if r.owner == bytes(32) and not r.data)
    plain = served.result("getAccountInfo", [str(Pubkey(wallet)), {"encoding": "jsonParsed"}])
    assert plain["value"]["data"] == ["", "base64"]


def test_token_amount_strings() -> None:
    assert token_amount(1_500_000, 6)["uiAmountString"] == "1.5"
    assert token_amount(1_000_000, 6)["uiAmountString"] == "1"
    assert token_amount(5, 2)["uiAmountString"] == "0.05"
    assert token_amount(0, 9)["uiAmountString"] == "0"
    assert token_amount(7, 0)["uiAmountString"] == "7"


def test_multiple_accounts(served: Served) -> None:
    keys = [k for k, _ in served.node.store.iter_accounts()][:3]
    addresses = [str(Pubkey(k)) for k in keys] + [str(Keypair().pubkey())]
    answer = served.call("getMultipleAccounts", [addresses, {"encoding": "base64"}])
    parsed = parse(GetMultipleAccountsResp, answer)
    assert [a is None for a in parsed.value] == [False, False, False, True]
    too_many = served.call("getMultipleAccounts", [[addresses[0]] * 101])["error"]
    assert too_many["code"] == -32602


def test_signature_statuses(served: Served) -> None:
    records = served.records()
    ok = next(r for r in records if r.status == "ok")
    failed = next(r for r in records if r.status == "failed")
    # Rejected transactions (never in a block) keep no status under their signature here;
    # where one does, it reads as unknown too (`_status`).
    rejected = hashlib.sha512(b"rejected").digest()
    unknown = hashlib.sha512(b"never sent").digest()
    sigs = [
        base58.b58encode(s).decode() for s in (ok.signature, failed.signature, rejected, unknown)
    ]
    answer = served.call("getSignatureStatuses", [sigs, {"searchTransactionHistory": True}])
    parsed = parse(GetSignatureStatusesResp, answer)
    first, second, third, fourth = parsed.value
    assert first is not None and first.slot == ok.slot and first.err is None
    assert second is not None and second.slot == failed.slot and second.err is not None
    assert third is None and fourth is None
    raw = answer["result"]["value"]
    assert raw[0]["status"] == {"Ok": None}
    assert raw[1]["status"] == {"Err": failed.error} and raw[1]["err"] == failed.error
    # Without finality information the head counts as finalized (docs/rpc.md).
    assert raw[0]["confirmationStatus"] == "finalized" and raw[0]["confirmations"] is None


def test_blocks(served: Served) -> None:
    head = served.node.store.head()
    assert head is not None
    first = served.node.store.first_block()
    assert served.result("getFirstAvailableBlock") == first == served.result("minimumLedgerSlot")
    assert served.result("getBlocks", [0]) == list(range(first or 0, head.number + 1))
    assert served.result("getBlocks", [1, 3]) == [1, 2, 3]
    assert served.result("getBlocksWithLimit", [2, 3]) == [2, 3, 4]
    block = served.node.store.block(2)
    assert block is not None
    assert parse(GetBlockTimeResp, (served.call("getBlockTime", [2]))).value == (block.timestamp)
    missing = served.call("getBlockTime", [head.number + 10])["error"]
    assert missing == {
        "code": -32004,
        "message": f"Block not available for slot {head.number + 10}",
    }
    below = served.call("getBlocks", [0, None, {"commitment": "processed"}])["error"]
    assert below["code"] == -32602
