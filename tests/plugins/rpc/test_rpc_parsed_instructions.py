"""`parse_instruction` on instructions built by the clients' own builders (solders' system
program, solana-py's `spl.token`), compiled into a message as a client sends them: each parses
to what Agave's `parse_instruction` shows, and what Agave does not parse (ComputeBudget, data
the program would refuse, missing accounts) is None (the caller shows it partially decoded)."""

from __future__ import annotations

from typing import Any

from solders.compute_budget import set_compute_unit_limit
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import (
    CreateAccountWithSeedParams,
    TransferParams,
    create_account_with_seed,
    transfer,
)
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
