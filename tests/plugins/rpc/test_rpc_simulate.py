"""simulateTransaction against the served state: LiteSVM in the server child, nothing kept."""

from __future__ import annotations

import base64

import pytest
from rpcnode import (
    Served,
    parse,
    served_fixture,  # noqa: F401 (the `served` fixture)
    signed_transfer,
    user,
)
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc.responses import SimulateTransactionResp
from solders.transaction import Transaction

from monmouth.plugins.rpc.accounts import TOKEN_PROGRAM
from monmouth.rust_svm.accounts import AccountRecord

pytestmark = pytest.mark.timeout(120)

ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
SYSTEM = Pubkey.from_string("11111111111111111111111111111111")


def b64(tx: Transaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


def signed(served: Served, payer: Keypair, *instructions: Instruction) -> Transaction:
    head = served.node.store.head()
    assert head is not None
    message = Message.new_with_blockhash(list(instructions), payer.pubkey(), Hash(head.hash))
    return Transaction([payer], message, Hash(head.hash))


def a_mint(served: Served) -> Pubkey:
    for key, raw in served.node.store.iter_accounts():
        record = AccountRecord.decode(raw)
        if record.owner == TOKEN_PROGRAM and len(record.data) == 82:
            return Pubkey(key)
    raise AssertionError("the mixed workload makes SPL mints")


def test_a_transfer_and_its_accounts(served: Served) -> None:
    payer = user(2)
    tx = signed_transfer(served, payer)
    payee = tx.message.account_keys[1]
    before = served.result("getBalance", [str(payer.pubkey()), {"commitment": "processed"}])
    answer = served.call(
        "simulateTransaction",
        [
            b64(tx),
            {
                "encoding": "base64",
                "sigVerify": True,
                "commitment": "processed",
                "accounts": {"addresses": [str(payer.pubkey()), str(payee)], "encoding": "base64"},
            },
        ],
    )
    result = parse(SimulateTransactionResp, answer).value
    assert result.err is None
    assert result.units_consumed is not None and result.units_consumed > 0
    value = answer["result"]["value"]
    assert value["logs"][0] == "Program 11111111111111111111111111111111 invoke [1]"
    payer_after, payee_after = value["accounts"]
    assert payer_after["lamports"] == before["value"] - 1_000_000 - 5000
    assert payee_after["lamports"] == 1_000_000
    # Nothing was kept.
    after = served.result("getBalance", [str(payer.pubkey()), {"commitment": "processed"}])
    assert after["value"] == before["value"]
    assert served.result("getBalance", [str(payee)])["value"] == 0


def test_blockhash_and_signature_options(served: Served) -> None:
    stale = signed_transfer(served, user(3), bytes(32))
    value = served.result("simulateTransaction", [b64(stale), {"encoding": "base64"}])["value"]
    assert value["err"] == "BlockhashNotFound" and value["logs"] == []
    replaced = served.result(
        "simulateTransaction",
        [b64(stale), {"encoding": "base64", "replaceRecentBlockhash": True}],
    )
    assert replaced["value"]["err"] is None
    slot = replaced["context"]["slot"]
    block = served.node.store.block(slot)
    assert block is not None
    assert replaced["value"]["replacementBlockhash"] == {
        "blockhash": str(Hash(block.hash)),
        "lastValidBlockHeight": slot + 150,
    }
    both = served.call(
        "simulateTransaction",
        [b64(stale), {"encoding": "base64", "replaceRecentBlockhash": True, "sigVerify": True}],
    )["error"]
    assert both["code"] == -32602
    forged = bytearray(bytes(signed_transfer(served, user(3))))
    forged[5] ^= 1
    text = base64.b64encode(bytes(forged)).decode()
    error = served.call("simulateTransaction", [text, {"encoding": "base64", "sigVerify": True}])
    assert error["error"]["code"] == -32003
    # Without sigVerify, a bad signature does not matter to a simulation.
    unchecked = served.result("simulateTransaction", [text, {"encoding": "base64"}])
    assert unchecked["value"]["err"] is None
    stranger = signed_transfer(served, Keypair())
    value = served.result("simulateTransaction", [b64(stranger), {"encoding": "base64"}])["value"]
    assert value["err"] == "AccountNotFound"


def test_return_data_and_inner_instructions(served: Served) -> None:
    mint = a_mint(served)
    payer = user(4)
    # SPL Token's GetAccountDataSize sets return data: a token account's size, 165.
    size = Instruction(
        Pubkey(TOKEN_PROGRAM), bytes([21]), [AccountMeta(mint, is_signer=False, is_writable=False)]
    )
    value = served.result(
        "simulateTransaction", [b64(signed(served, payer, size)), {"encoding": "base64"}]
    )["value"]
    assert value["err"] is None
    assert value["returnData"] == {
        "programId": str(Pubkey(TOKEN_PROGRAM)),
        "data": [base64.b64encode((165).to_bytes(8, "little")).decode(), "base64"],
    }
    # Creating an associated token account invokes the system and token programs.
    wallet = Keypair().pubkey()
    ata, _ = Pubkey.find_program_address([bytes(wallet), TOKEN_PROGRAM, bytes(mint)], ATA_PROGRAM)
    create = Instruction(
        ATA_PROGRAM,
        b"",
        [
            AccountMeta(payer.pubkey(), is_signer=True, is_writable=True),
            AccountMeta(ata, is_signer=False, is_writable=True),
            AccountMeta(wallet, is_signer=False, is_writable=False),
            AccountMeta(mint, is_signer=False, is_writable=False),
            AccountMeta(SYSTEM, is_signer=False, is_writable=False),
            AccountMeta(Pubkey(TOKEN_PROGRAM), is_signer=False, is_writable=False),
        ],
    )
    answer = served.call(
        "simulateTransaction",
        [
            b64(signed(served, payer, create)),
            {
                "encoding": "base64",
                "innerInstructions": True,
                "accounts": {"addresses": [str(ata)], "encoding": "jsonParsed"},
            },
        ],
    )
    value = answer["result"]["value"]
    assert value["err"] is None, value["logs"]
    [inner] = value["innerInstructions"]
    assert inner["index"] == 0 and len(inner["instructions"]) >= 2
    assert {i["stackHeight"] for i in inner["instructions"]} == {2}
    [created] = value["accounts"]
    assert created["owner"] == str(Pubkey(TOKEN_PROGRAM)) and created["space"] == 165
    parse(SimulateTransactionResp, answer)
