"""Documents and the default embedder: what a summary says, read from hand-made payloads, and
that the same transaction gives the same bytes everywhere."""

from __future__ import annotations

import hashlib
import struct
from typing import Literal

import msgspec
import numpy as np
import pytest
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.core.payloads import AccountUpdate, TransactionInfo
from monmouth.plugins.rag.documents import (
    ABSENT,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
    Document,
    Prior,
    summarize,
)
from monmouth.plugins.rag.embed import HashingEmbedder, make_embedder, tokens

SYSTEM = "11111111111111111111111111111111"
TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


def key(n: int) -> bytes:
    return hashlib.blake2b(bytes([n]), digest_size=32).digest()


def name(n: int) -> str:
    return str(Pubkey.from_bytes(key(n)))


def sig(n: int) -> bytes:
    return hashlib.blake2b(bytes([n]), digest_size=64).digest()


def tx(
    n: int,
    accounts: list[bytes],
    logs: list[str],
    *,
    status: Literal["ok", "failed"] = "ok",
    fee: int = 5000,
    error: object = None,
) -> TransactionInfo:
    return TransactionInfo(
        sig(n),
        status,
        None,
        error,
        fee,
        150,
        tuple(logs),
        tuple(accounts),
        b"\x01" * 32,
        3,
        n,
    )


def write(
    pubkey: bytes, lamports: int, signature: bytes, owner: bytes = SYSTEM_PROGRAM, data: bytes = b""
) -> AccountUpdate:
    return AccountUpdate(pubkey, lamports, owner, False, 0, data, signature, 0)


def token_account(mint: bytes, owner: bytes, amount: int) -> bytes:
    return mint + owner + struct.pack("<Q", amount) + bytes(165 - 72)


def mint_data(supply: int, decimals: int = 6) -> bytes:
    return bytes(36) + struct.pack("<Q", supply) + bytes([decimals]) + bytes(82 - 45)


SYSTEM_OK = [f"Program {SYSTEM} invoke [1]", f"Program {SYSTEM} success"]


def test_a_system_transfer() -> None:
    payer, to = key(1), key(2)
    t = tx(1, [payer, to, SYSTEM_PROGRAM], SYSTEM_OK)
    writes = [write(payer, 8_499_995_000, sig(1)), write(to, 2_500_000_000, sig(1))]
    priors = {payer: Prior(10 * 10**9), to: Prior(10**9)}
    doc = summarize(7, t, 42, b"\xab" * 32, writes, priors)
    assert doc.id == 7 and doc.slot == 42 and doc.block_hash == "0x" + "ab" * 32
    assert doc.signature == str(Signature.from_bytes(sig(1)))
    assert doc.status == "ok" and doc.error is None
    assert doc.signers == (name(1),) and doc.fee_payer == name(1)
    assert doc.programs == ("system",)
    assert doc.instructions == ("system.transfer",)
    assert doc.accounts == (name(1), name(2), SYSTEM)
    # The fee is not part of what the payer moved.
    assert [(m.account, m.asset, m.delta) for m in doc.movements] == [
        (name(1), "SOL", -1_500_000_000),
        (name(2), "SOL", 1_500_000_000),
    ]
    first = doc.summary.splitlines()[0]
    assert first == f"ok transaction {doc.signature} in slot 42: system transfer."
    assert f"Moved 1.5 SOL from {name(1)} to {name(2)}." in doc.summary
    assert f"Fee payer {name(1)} paid 5000 lamports; 150 compute units." in doc.summary
    assert "Logs:" not in doc.summary  # only invoke/success lines: nothing to say
    assert doc.logs == tuple(SYSTEM_OK)


def test_a_failed_transfer_says_why() -> None:
    payer, to = key(1), key(2)
    logs = [
        f"Program {SYSTEM} invoke [1]",
        "Transfer: insufficient lamports 99, need 5000000000062",
        f"Program {SYSTEM} failed: custom program error: 0x1",
    ]
    error = {"InstructionError": [0, {"Custom": 1}]}
    t = tx(2, [payer, to, SYSTEM_PROGRAM], logs, status="failed", error=error)
    doc = summarize(1, t, 5, bytes(32), [write(payer, 5000, sig(2))], {payer: Prior(10_000)})
    assert doc.status == "failed"
    assert (
        doc.error == "instruction 0 (system) failed: custom program error 1 (insufficient lamports)"
    )
    assert doc.instructions == ("system.transfer",)
    assert doc.movements == ()  # only the fee left the payer
    assert "Error: instruction 0 (system) failed" in doc.summary
    assert "Logs: Transfer: insufficient lamports 99, need 5000000000062 | " in doc.summary


def test_token_mint_creation_and_transfers() -> None:
    payer, mint, acct_a, acct_b = key(1), key(3), key(4), key(5)
    token_ok = [f"Program {TOKEN} invoke [1]", f"Program {TOKEN} success"]
    # create_account + InitializeMint2: two signers (payer and the new mint), fee 10000.
    create = tx(3, [payer, mint, SYSTEM_PROGRAM, TOKEN_PROGRAM], SYSTEM_OK + token_ok, fee=10000)
    writes = [
        write(payer, 10**9 - 1_461_600 - 10000, sig(3)),
        write(mint, 1_461_600, sig(3), TOKEN_PROGRAM, mint_data(0)),
    ]
    doc = summarize(1, create, 1, bytes(32), writes, {payer: Prior(10**9), mint: ABSENT})
    assert doc.signers == (name(1), name(3))
    assert doc.programs == ("system", "token")
    assert doc.instructions == ("system.create_account", "token.initialize_mint")
    assert doc.summary.splitlines()[0].endswith("system create account, token initialize mint.")

    # MintTo: the supply and the account's amount go up by the same.
    mint_to = tx(4, [payer, mint, acct_a, TOKEN_PROGRAM], token_ok)
    before = {
        payer: Prior(10**9),
        mint: Prior(1_461_600, 2, 0),
        acct_a: Prior(2_039_280, 1, 0, mint),
    }
    writes = [
        write(payer, 10**9 - 5000, sig(4)),
        write(mint, 1_461_600, sig(4), TOKEN_PROGRAM, mint_data(500)),
        write(acct_a, 2_039_280, sig(4), TOKEN_PROGRAM, token_account(mint, payer, 500)),
    ]
    doc = summarize(2, mint_to, 2, bytes(32), writes, before)
    assert doc.instructions == ("token.mint_to",)
    assert [(m.account, m.asset, m.delta) for m in doc.movements] == [
        (name(3), f"supply:{name(3)}", 500),
        (name(4), name(3), 500),
    ]

    # A token transfer: one account's amount to another's.
    move = tx(5, [payer, acct_a, acct_b, TOKEN_PROGRAM], token_ok)
    before = {
        payer: Prior(10**9),
        acct_a: Prior(2_039_280, 1, 500, mint),
        acct_b: Prior(2_039_280, 1, 0, mint),
    }
    writes = [
        write(payer, 10**9 - 5000, sig(5)),
        write(acct_a, 2_039_280, sig(5), TOKEN_PROGRAM, token_account(mint, payer, 200)),
        write(acct_b, 2_039_280, sig(5), TOKEN_PROGRAM, token_account(mint, key(9), 300)),
    ]
    doc = summarize(3, move, 3, bytes(32), writes, before)
    assert doc.instructions == ("token.transfer",)
    assert f"Moved 300 units of token {name(3)} from {name(4)} to {name(5)}." in doc.summary


def test_programs_that_log_their_instruction_names() -> None:
    logs = [
        f"Program {TOKEN} invoke [1]",
        "Program log: Instruction: TransferChecked",
        f"Program {TOKEN} consumed 100 of 200000 compute units",
        f"Program {TOKEN} success",
        "Program MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr invoke [1]",
        "Program MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr success",
    ]
    doc = summarize(1, tx(6, [key(1), TOKEN_PROGRAM], logs), 1, bytes(32), [], {})
    assert doc.programs == ("token", "memo")
    assert doc.instructions == ("token.transfer_checked", "memo.call")
    assert doc.movements == ()  # no account writes known: amounts unknown, not zero
    assert "Logs: Program log: Instruction: TransferChecked" in doc.summary


def test_unknown_balances_leave_amounts_out() -> None:
    payer, to = key(1), key(2)
    t = tx(7, [payer, to, SYSTEM_PROGRAM], SYSTEM_OK)
    writes = [write(payer, 5 * 10**9, sig(7)), write(to, 10**9, sig(7))]
    doc = summarize(1, t, 1, bytes(32), writes, {payer: Prior(6 * 10**9 + 5000)})
    assert [(m.account, m.delta) for m in doc.movements] == [(name(1), -(10**9))]


def test_rejected_transactions_are_not_documents() -> None:
    t = TransactionInfo(None, "rejected", "malformed_tx", None, 0, 0, (), (), bytes(32), 0, 0)
    with pytest.raises(ValueError):
        summarize(1, t, 1, bytes(32), [], {})


def test_documents_are_deterministic_and_round_trip() -> None:
    payer, to = key(1), key(2)
    t = tx(1, [payer, to, SYSTEM_PROGRAM], SYSTEM_OK)
    writes = [write(payer, 8_499_995_000, sig(1)), write(to, 2_500_000_000, sig(1))]
    priors = {payer: Prior(10 * 10**9), to: Prior(10**9)}
    one = summarize(7, t, 42, bytes(32), writes, priors)
    two = summarize(7, t, 42, bytes(32), writes, dict(reversed(priors.items())))
    assert msgspec.msgpack.encode(one) == msgspec.msgpack.encode(two)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(one), type=Document) == one
    data = one.to_json()
    assert data["movements"][0] == {"account": name(1), "asset": "SOL", "delta": -1_500_000_000}
    assert list(data)[:3] == ["id", "signature", "slot"]


def test_hashing_embedder_is_deterministic_everywhere() -> None:
    text = (
        "failed transaction 2asDwr1MqbAXUG2mTbrjit4XwA7y1uCecTVV7SEsKfMEPE9AHGSvtAc2Gn61swaWz82S1h"
        "sjMj4F3j2QW5uGJKDr in slot 20: token transfer. Error: instruction 0 (token) failed: "
        "custom program error 1 (insufficient funds). Fee payer "
        "4sEkaj33JmcZCkkVZjQAKNDHXLoEy68Z1VKnPk6VEBUG paid 5000 lamports; 181 compute units."
    )
    embedder = HashingEmbedder(256)
    vector = embedder.embed([text])[0]
    assert vector.dtype == np.float32 and vector.shape == (256,)
    assert abs(float(np.dot(vector, vector)) - 1.0) < 1e-6
    # The same bits on every machine: BLAKE2b slots, square-root weights, an exact norm.
    digest = hashlib.sha256(vector.tobytes()).hexdigest()
    assert digest == PINNED_DIGEST
    # A fresh embedder (empty cache), a batch, and the same text twice: the same row.
    again = HashingEmbedder(256).embed(["other words", text, text])
    assert (again[1] == vector).all() and (again[2] == vector).all()
    assert tokens("Failed TRANSFER of 1.5 SOL to 4sEkaj33JmcZCkkVZjQAKNDHXLoEy68Z1VKnPk6VEBUG") == [
        "w:failed",
        "w:transfer",
        "w:1.5",
        "w:sol",
        "k:4sEkaj33JmcZCkkVZjQAKNDHXLoEy68Z1VKnPk6VEBUG",
    ]
    assert not HashingEmbedder(64).embed([""]).any()  # nothing to say: the zero vector


def test_make_embedder() -> None:
    assert make_embedder("hashing", 128).dimensions == 128
    assert make_embedder("hashing").name == "hashing-v1-128"
    with pytest.raises(ValueError, match="unknown embedder"):
        make_embedder("word2vec")


PINNED_DIGEST = "983553a20e0cc4f694b3944ebd11104342b15d111989bf89672037578432af94"
