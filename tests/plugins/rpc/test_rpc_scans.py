"""getProgramAccounts and the token methods (scans of the accounts at the commitment's block),
checked against the store, through raw JSON-RPC and solana-py."""

from __future__ import annotations

import base64

import anyio
import base58
import pytest
from rpcnode import (
    Served,
    parse,
    served_fixture,  # noqa: F401 (the `served` fixture)
)
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import MemcmpOpts, TokenAccountOpts
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetProgramAccountsResp,
    GetTokenAccountBalanceResp,
    GetTokenAccountsByOwnerJsonParsedResp,
    GetTokenSupplyResp,
)

from monmouth.plugins.rpc.accounts import TOKEN_PROGRAM, token_amount
from monmouth.rust_svm.accounts import AccountRecord

pytestmark = pytest.mark.timeout(120)


def token_state(served: Served) -> dict[bytes, AccountRecord]:
    return {
        k: r
        for k, v in served.node.store.iter_accounts()
        if (r := AccountRecord.decode(v)).owner == TOKEN_PROGRAM
    }


def test_program_accounts_and_filters(served: Served) -> None:
    tokens = token_state(served)
    holders = {k: r for k, r in tokens.items() if len(r.data) == 165}
    program = str(Pubkey(TOKEN_PROGRAM))
    answer = served.call("getProgramAccounts", [program, {"encoding": "base64"}])
    found = parse(GetProgramAccountsResp, answer).value
    assert {bytes(a.pubkey) for a in found} == set(tokens)
    sized = served.result(
        "getProgramAccounts", [program, {"encoding": "base64", "filters": [{"dataSize": 165}]}]
    )
    assert {base58.b58decode(a["pubkey"]) for a in sized} == set(holders)
    key, record = next(iter(holders.items()))
    owner = record.data[32:64]
    memcmp = {"memcmp": {"offset": 32, "bytes": base58.b58encode(owner).decode()}}
    by_owner = served.result(
        "getProgramAccounts",
        [program, {"encoding": "base64", "filters": [{"dataSize": 165}, memcmp]}],
    )
    expected = {k for k, r in holders.items() if r.data[32:64] == owner}
    assert {base58.b58decode(a["pubkey"]) for a in by_owner} == expected
    b64 = {
        "memcmp": {"offset": 32, "bytes": base64.b64encode(owner).decode(), "encoding": "base64"}
    }
    again = served.result("getProgramAccounts", [program, {"encoding": "base64", "filters": [b64]}])
    assert {a["pubkey"] for a in again} == {a["pubkey"] for a in by_owner}
    with_context = served.result(
        "getProgramAccounts", [program, {"withContext": True, "filters": [{"dataSize": 82}]}]
    )
    assert with_context["context"]["slot"] == served.result("getSlot")
    too_many = served.call("getProgramAccounts", [program, {"filters": [{"dataSize": 1}] * 5}])
    assert too_many["error"]["code"] == -32602
    assert key in {base58.b58decode(a["pubkey"]) for a in sized}


def test_token_methods(served: Served) -> None:
    tokens = token_state(served)
    holders = {k: r for k, r in tokens.items() if len(r.data) == 165}
    key, record = next(iter(holders.items()))
    mint, owner = record.data[:32], record.data[32:64]
    decimals = tokens[mint].data[44]
    balance = parse(
        GetTokenAccountBalanceResp, served.call("getTokenAccountBalance", [str(Pubkey(key))])
    )
    assert balance.value.amount == str(int.from_bytes(record.data[64:72], "little"))
    assert balance.value.decimals == decimals
    supply = served.result("getTokenSupply", [str(Pubkey(mint))])["value"]
    assert supply == token_amount(int.from_bytes(tokens[mint].data[36:44], "little"), decimals)
    parse(GetTokenSupplyResp, served.call("getTokenSupply", [str(Pubkey(mint))]))
    answer = served.call(
        "getTokenAccountsByOwner",
        [str(Pubkey(owner)), {"mint": str(Pubkey(mint))}, {"encoding": "jsonParsed"}],
    )
    listed = parse(GetTokenAccountsByOwnerJsonParsedResp, answer).value
    expected = {k for k, r in holders.items() if r.data[32:64] == owner and r.data[:32] == mint}
    assert {bytes(a.pubkey) for a in listed} == expected
    by_program = served.result(
        "getTokenAccountsByOwner",
        [str(Pubkey(owner)), {"programId": str(Pubkey(TOKEN_PROGRAM))}, {"encoding": "base64"}],
    )
    assert {base58.b58decode(a["pubkey"]) for a in by_program["value"]} == {
        k for k, r in holders.items() if r.data[32:64] == owner
    }
    delegated = {k for k, r in holders.items() if r.data[72] == 1}
    for delegate in {holders[k].data[76:108] for k in delegated}:
        answer = served.result(
            "getTokenAccountsByDelegate",
            [
                str(Pubkey(delegate)),
                {"programId": str(Pubkey(TOKEN_PROGRAM))},
                {"encoding": "base64"},
            ],
        )
        assert {base58.b58decode(a["pubkey"]) for a in answer["value"]} == {
            k for k in delegated if holders[k].data[76:108] == delegate
        }
    wrong = served.call("getTokenAccountBalance", [str(Pubkey(mint))])["error"]
    assert wrong == {"code": -32602, "message": "Invalid param: not a Token account"}
    bad = served.call(
        "getTokenAccountsByOwner", [str(Pubkey(owner)), {"programId": str(Pubkey(owner))}]
    )
    assert bad["error"]["message"] == "Invalid param: unrecognized Token program id"


def test_with_solana_py(served: Served) -> None:
    tokens = token_state(served)
    holders = {k: r for k, r in tokens.items() if len(r.data) == 165}
    key, record = next(iter(holders.items()))
    owner = Pubkey(record.data[32:64])

    async def main() -> None:
        async with AsyncClient(served.url) as client:
            found = await client.get_program_accounts(
                Pubkey(TOKEN_PROGRAM),
                encoding="base64",
                filters=[165, MemcmpOpts(offset=32, bytes=str(owner))],
            )
            assert Pubkey(key) in {a.pubkey for a in found.value}
            mine = await client.get_token_accounts_by_owner(
                owner, TokenAccountOpts(program_id=Pubkey(TOKEN_PROGRAM))
            )
            assert Pubkey(key) in {a.pubkey for a in mine.value}
            balance = await client.get_token_account_balance(Pubkey(key))
            assert balance.value.amount == str(int.from_bytes(record.data[64:72], "little"))
            supply = await client.get_token_supply(Pubkey(record.data[:32]))
            assert int(supply.value.amount) > 0

    anyio.run(main)
