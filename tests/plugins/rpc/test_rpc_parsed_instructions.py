"""`parse_instruction` on instructions built by the clients' own builders (solders' system
program, solana-py's `spl.token`), compiled into a message as a client sends them: each parses
to what Agave's `parse_instruction` shows, and what Agave does not parse (ComputeBudget, data
the program would refuse, missing accounts) is None (the caller shows it partially decoded)."""

from __future__ import annotations

import struct
from typing import Any

from solders.address_lookup_table_account import ID as LOOKUP_TABLES
from solders.address_lookup_table_account import derive_lookup_table_address
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import (
    CreateAccountWithSeedParams,
    TransferParams,
    create_account_with_seed,
    transfer,
)
from solders.transaction import Transaction
from spl.token import instructions as spl
from spl.token import models
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from monmouth.plugins.rpc.parsed_instructions import parse_instruction

MEMO = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")


def _parse(ix: Instruction, payer: Pubkey | None = None) -> Any:
    """The instruction compiled into a message (as a client would), then parsed."""
    message = Message([ix], payer)
    keys = [bytes(k) for k in message.account_keys]
    [compiled] = message.instructions
    return parse_instruction(
        keys[compiled.program_id_index], keys, bytes(compiled.accounts), bytes(compiled.data)
    )


def test_system_transfer_and_create_with_seed() -> None:
    a, b, base = Keypair().pubkey(), Keypair().pubkey(), Keypair().pubkey()
    out = _parse(transfer(TransferParams(from_pubkey=a, to_pubkey=b, lamports=42)))
    assert out == {
        "program": "system",
        "programId": "11111111111111111111111111111111",
        "parsed": {
            "type": "transfer",
            "info": {"source": str(a), "destination": str(b), "lamports": 42},
        },
    }
    owner = TOKEN_PROGRAM_ID
    seeded = Pubkey.create_with_seed(base, "vault", owner)
    ix = create_account_with_seed(
        CreateAccountWithSeedParams(
            from_pubkey=a,
            to_pubkey=seeded,
            base=base,
            seed="vault",
            lamports=7,
            space=165,
            owner=owner,
        )
    )
    assert _parse(ix)["parsed"] == {
        "type": "createAccountWithSeed",
        "info": {
            "source": str(a),
            "newAccount": str(seeded),
            "base": str(base),
            "seed": "vault",
            "lamports": 7,
            "space": 165,
            "owner": str(owner),
        },
    }


def test_token_instructions_on_both_programs() -> None:
    source, dest, mint, owner = (Keypair().pubkey() for _ in range(4))
    for program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
        plain = spl.transfer(
            models.TransferParams(
                program_id=program, source=source, dest=dest, owner=owner, amount=5
            )
        )
        out = _parse(plain, owner)
        assert out["program"] == "spl-token" and out["programId"] == str(program)
        assert out["parsed"] == {
            "type": "transfer",
            "info": {
                "source": str(source),
                "destination": str(dest),
                "amount": "5",
                "authority": str(owner),
            },
        }
    # A multisig authority: the multisig account, then its signers.
    signers = [Keypair().pubkey(), Keypair().pubkey()]
    burn = spl.burn_checked(
        models.BurnCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            account=source,
            mint=mint,
            owner=owner,
            amount=1_500,
            decimals=3,
            signers=signers,
        )
    )
    assert _parse(burn, signers[0])["parsed"] == {
        "type": "burnChecked",
        "info": {
            "account": str(source),
            "mint": str(mint),
            "tokenAmount": {
                "amount": "1500",
                "decimals": 3,
                "uiAmount": 1.5,
                "uiAmountString": "1.5",
            },
            "multisigAuthority": str(owner),
            "signers": [str(s) for s in signers],
        },
    }
    revoke = spl.set_authority(
        models.SetAuthorityParams(
            program_id=TOKEN_PROGRAM_ID,
            account=mint,
            authority=models.AuthorityType.FREEZE_ACCOUNT,
            current_authority=owner,
            new_authority=None,
        )
    )
    assert _parse(revoke, owner)["parsed"] == {
        "type": "setAuthority",
        "info": {
            "mint": str(mint),
            "authorityType": "freezeAccount",
            "newAuthority": None,
            "authority": str(owner),
        },
    }


def test_associated_token_and_memo() -> None:
    payer, wallet, mint = (Keypair().pubkey() for _ in range(3))
    out = _parse(spl.create_idempotent_associated_token_account(payer, wallet, mint), payer)
    assert out["program"] == "spl-associated-token-account"
    assert out["parsed"] == {
        "type": "createIdempotent",
        "info": {
            "source": str(payer),
            "account": str(spl.get_associated_token_address(wallet, mint)),
            "wallet": str(wallet),
            "mint": str(mint),
            "systemProgram": "11111111111111111111111111111111",
            "tokenProgram": str(TOKEN_PROGRAM_ID),
        },
    }
    memo = Instruction(MEMO, "gm ☀".encode(), [AccountMeta(payer, True, False)])
    assert _parse(memo, payer) == {
        "program": "spl-memo",
        "programId": str(MEMO),
        "parsed": "gm ☀",
    }


def test_what_agave_leaves_partially_decoded() -> None:
    payer, other = Keypair().pubkey(), Keypair().pubkey()
    assert _parse(set_compute_unit_limit(200_000), payer) is None  # Agave has no parser
    assert _parse(Instruction(MEMO, b"\xff\xfe", []), payer) is None  # not UTF-8
    # A system transfer with its data cut short, and one missing its destination.
    full = transfer(TransferParams(from_pubkey=payer, to_pubkey=other, lamports=1))
    assert _parse(Instruction(full.program_id, bytes(full.data)[:6], full.accounts)) is None
    short = Instruction(full.program_id, bytes(full.data), [AccountMeta(payer, True, True)])
    assert _parse(short) is None
    # A token instruction tag no token program has.
    unknown = Instruction(TOKEN_PROGRAM_ID, bytes([250]), [AccountMeta(payer, True, True)])
    assert _parse(unknown) is None


def test_transfer_fee_withdrawals_list_their_sources() -> None:
    mint, dest, authority = (Keypair().pubkey() for _ in range(3))
    sources = [Keypair().pubkey() for _ in range(3)]
    withdraw = spl.withdraw_withheld_tokens_from_accounts(
        models.WithdrawWithheldTokensFromAccountsParams(
            program_id=TOKEN_2022_PROGRAM_ID,
            mint=mint,
            dest=dest,
            authority=authority,
            sources=sources,
        )
    )
    assert _parse(withdraw, authority)["parsed"] == {
        "type": "withdrawWithheldTokensFromAccounts",
        "info": {
            "mint": str(mint),
            "feeRecipient": str(dest),
            "sourceAccounts": [str(s) for s in sources],
            "withdrawWithheldAuthority": str(authority),
        },
    }
    harvest = spl.harvest_withheld_tokens_to_mint(
        models.HarvestWithheldTokensToMintParams(
            program_id=TOKEN_2022_PROGRAM_ID, mint=mint, sources=sources
        )
    )
    assert _parse(harvest, authority)["parsed"] == {
        "type": "harvestWithheldTokensToMint",
        "info": {"mint": str(mint), "sourceAccounts": [str(s) for s in sources]},
    }


def test_address_lookup_table_instructions_run_by_the_program() -> None:
    """Lookup-table instructions built from the program's (bincode) layout, run by LiteSVM's
    address lookup table program (so the layout is the program's), then parsed."""
    svm = LiteSVM()
    payer, other = Keypair(), Keypair()
    svm.airdrop(payer.pubkey(), 10_000_000_000)
    p, o = payer.pubkey(), other.pubkey()

    def create(authority: Pubkey) -> tuple[Pubkey, Instruction]:
        table, bump = derive_lookup_table_address(authority, 0)
        data = struct.pack("<IQB", 0, 0, bump)
        return table, Instruction(LOOKUP_TABLES, data, _metas(table, authority, p))

    table, create_ix = create(p)
    addresses = [Keypair().pubkey(), Keypair().pubkey()]
    extend = Instruction(
        LOOKUP_TABLES,
        struct.pack("<IQ", 2, 2) + b"".join(bytes(x) for x in addresses),
        _metas(table, p, p),
    )
    freeze = Instruction(LOOKUP_TABLES, struct.pack("<I", 1), _metas(table, p))
    second, create_second = create(o)
    deactivate = Instruction(LOOKUP_TABLES, struct.pack("<I", 3), _metas(second, o))
    sent = [
        _run(svm, payer, [create_ix, create_second], other),
        _run(svm, payer, [extend]),
        _run(svm, payer, [freeze, deactivate], other),
    ]
    parsed = [_parse_compiled(m, i) for m in sent for i in range(len(m.instructions))]
    assert all(p_ is not None and p_["program"] == "address-lookup-table" for p_ in parsed)
    system = "11111111111111111111111111111111"
    bump = derive_lookup_table_address(p, 0)[1]
    assert [p_["parsed"] for p_ in parsed] == [
        {
            "type": "createLookupTable",
            "info": {
                "lookupTableAccount": str(table),
                "lookupTableAuthority": str(p),
                "payerAccount": str(p),
                "systemProgram": system,
                "recentSlot": 0,
                "bumpSeed": bump,
            },
        },
        {
            "type": "createLookupTable",
            "info": {
                "lookupTableAccount": str(second),
                "lookupTableAuthority": str(o),
                "payerAccount": str(p),
                "systemProgram": system,
                "recentSlot": 0,
                "bumpSeed": derive_lookup_table_address(o, 0)[1],
            },
        },
        {
            "type": "extendLookupTable",
            "info": {
                "lookupTableAccount": str(table),
                "lookupTableAuthority": str(p),
                "newAddresses": [str(x) for x in addresses],
                "payerAccount": str(p),
                "systemProgram": system,
            },
        },
        {
            "type": "freezeLookupTable",
            "info": {"lookupTableAccount": str(table), "lookupTableAuthority": str(p)},
        },
        {
            "type": "deactivateLookupTable",
            "info": {"lookupTableAccount": str(second), "lookupTableAuthority": str(o)},
        },
    ]
    # The table holds what the extend instruction said (the program read our layout).
    account = svm.get_account(table)
    assert account is not None
    assert bytes(account.data)[56:] == b"".join(bytes(x) for x in addresses)
    # Close (a deactivated table must cool down first): the same layout, parsed alone.
    recipient = AccountMeta(p, False, True)
    close = Instruction(LOOKUP_TABLES, struct.pack("<I", 4), [*_metas(second, o), recipient])
    assert _parse(close, p)["parsed"] == {
        "type": "closeLookupTable",
        "info": {
            "lookupTableAccount": str(second),
            "lookupTableAuthority": str(o),
            "recipient": str(p),
        },
    }


def _metas(table: Pubkey, authority: Pubkey, payer: Pubkey | None = None) -> list[AccountMeta]:
    """The table (writable), its authority (signer) and, for create and extend, the payer and
    the system program."""
    metas = [AccountMeta(table, False, True), AccountMeta(authority, True, False)]
    if payer is not None:
        metas += [AccountMeta(payer, True, True), AccountMeta(Pubkey.default(), False, False)]
    return metas


def _run(svm: LiteSVM, payer: Keypair, ixs: list[Instruction], *signers: Keypair) -> Message:
    blockhash = svm.latest_blockhash()
    message = Message.new_with_blockhash(ixs, payer.pubkey(), blockhash)
    result = svm.send_transaction(Transaction([payer, *signers], message, blockhash))
    assert not hasattr(result, "err"), result
    return message


def _parse_compiled(message: Message, index: int) -> Any:
    keys = [bytes(k) for k in message.account_keys]
    ix = message.instructions[index]
    return parse_instruction(keys[ix.program_id_index], keys, bytes(ix.accounts), bytes(ix.data))
