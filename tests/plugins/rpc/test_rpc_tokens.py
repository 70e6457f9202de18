"""SPL Token with unmodified Solana clients against `monmouth dev` (a process, the RPC on a
port): solana-py (`spl.token` instructions, `AsyncClient`) and @solana/web3.js (web3_tokens.mjs,
instructions built by hand) each create a mint and two token accounts, mint and move tokens,
then read them back through getTokenAccountsByOwner, getTokenAccountBalance, getTokenSupply and
getProgramAccounts (memcmp + dataSize filters, base64 and jsonParsed), checked against what
they did; and each sends a transfer of more tokens than it has and gets the preflight failure
(-32002) with the simulation's logs, as the client surfaces it. solana-py also creates a
Token-2022 mint and token account and reads their extensions back (jsonParsed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from rpcnode import dev_chain, run_node_script
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.models import MemcmpOpts, TokenAccountOpts, TxOpts
from solders.account_decoder import ParsedAccount
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.signature import Signature
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import VersionedTransaction
from solders.transaction_status import ParsedInstruction
from spl.token import instructions as spl
from spl.token import models
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SOL = 1_000_000_000
MINT_SIZE, ACCOUNT_SIZE = 82, 165
DECIMALS = 6
MINTED, MOVED = 1_000_000_000, 250_000_000


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from dev_chain(tmp_path_factory)


async def _send(
    client: AsyncClient, payer: Keypair, ixs: list[Instruction], *signers: Keypair
) -> Signature:
    latest = (await client.get_latest_blockhash(Confirmed)).value
    message = Message.new_with_blockhash(ixs, payer.pubkey(), latest.blockhash)
    tx = VersionedTransaction(message, [payer, *signers])
    signature = (
        await client.send_transaction(tx, opts=TxOpts(preflight_commitment=Confirmed))
    ).value
    await client.confirm_transaction(
        signature,
        Confirmed,
        sleep_seconds=0.1,
        last_valid_block_height=latest.last_valid_block_height,
    )
    status = (await client.get_signature_statuses([signature])).value[0]
    assert status is not None and status.err is None, status
    return signature


async def _solana_py(url: str) -> dict[str, Any]:
    """Creates a mint, the payer's and a holder's associated token accounts, mints MINTED to
    the payer and moves MOVED to the holder; returns what the node answers about them."""
    async with AsyncClient(url) as client:
        payer, holder, mint = Keypair(), Keypair(), Keypair()
        airdrop = (await client.request_airdrop(payer.pubkey(), 2 * SOL)).value
        await client.confirm_transaction(airdrop, Confirmed, sleep_seconds=0.1)

        rent = (await client.get_minimum_balance_for_rent_exemption(MINT_SIZE)).value
        mine = spl.get_associated_token_address(payer.pubkey(), mint.pubkey())
        theirs = spl.get_associated_token_address(holder.pubkey(), mint.pubkey())
        await _send(
            client,
            payer,
            [
                create_account(
                    CreateAccountParams(
                        from_pubkey=payer.pubkey(),
                        to_pubkey=mint.pubkey(),
                        lamports=rent,
                        space=MINT_SIZE,
                        owner=TOKEN_PROGRAM_ID,
                    )
                ),
                spl.initialize_mint2(
                    models.InitializeMint2Params(
                        decimals=DECIMALS,
                        mint=mint.pubkey(),
                        mint_authority=payer.pubkey(),
                        program_id=TOKEN_PROGRAM_ID,
                        freeze_authority=None,
                    )
                ),
                spl.create_associated_token_account(payer.pubkey(), payer.pubkey(), mint.pubkey()),
                spl.create_associated_token_account(payer.pubkey(), holder.pubkey(), mint.pubkey()),
            ],
            mint,
        )
        moved = await _send(
            client,
            payer,
            [
                spl.mint_to(
                    models.MintToParams(
                        program_id=TOKEN_PROGRAM_ID,
                        mint=mint.pubkey(),
                        dest=mine,
                        mint_authority=payer.pubkey(),
                        amount=MINTED,
                    )
                ),
                _transfer_checked(mine, mint.pubkey(), theirs, payer.pubkey(), MOVED),
            ],
        )

        out: dict[str, Any] = {"mint": mint.pubkey(), "mine": mine, "theirs": theirs}
        # jsonParsed, read by solders' own response types (they fail on a wrong shape).
        parsed_tx = await client.get_transaction(
            moved, "jsonParsed", Confirmed, max_supported_transaction_version=0
        )
        assert parsed_tx.value is not None
        out["parsed_move"] = parsed_tx.value.transaction.transaction.message.instructions  # type: ignore[union-attr]
        by_owner = await client.get_token_accounts_by_owner(
            payer.pubkey(), TokenAccountOpts(mint=mint.pubkey()), Confirmed
        )
        out["by_owner"] = [a.pubkey for a in by_owner.value]
        parsed = await client.get_token_accounts_by_owner_json_parsed(
            holder.pubkey(), TokenAccountOpts(program_id=TOKEN_PROGRAM_ID), Confirmed
        )
        out["parsed_by_owner"] = [(a.pubkey, a.account.data.parsed) for a in parsed.value]
        out["balance"] = (await client.get_token_account_balance(theirs, Confirmed)).value
        out["supply"] = (await client.get_token_supply(mint.pubkey(), Confirmed)).value
        holders = await client.get_program_accounts(
            TOKEN_PROGRAM_ID,
            Confirmed,
            encoding="base64",
            filters=[ACCOUNT_SIZE, MemcmpOpts(offset=0, bytes=str(mint.pubkey()))],
        )
        out["holders"] = {a.pubkey: bytes(a.account.data) for a in holders.value}
        holders_parsed = await client.get_program_accounts_json_parsed(
            TOKEN_PROGRAM_ID,
            Confirmed,
            filters=[ACCOUNT_SIZE, MemcmpOpts(offset=32, bytes=str(holder.pubkey()))],
        )
        out["holders_parsed"] = [(a.pubkey, _parsed(a.account.data)) for a in holders_parsed.value]

        # More than the holder has: the token program fails in preflight, and the client raises.
        latest = (await client.get_latest_blockhash(Confirmed)).value
        overdraw = _transfer_checked(theirs, mint.pubkey(), mine, holder.pubkey(), MOVED + 1)
        tx = VersionedTransaction(
            Message.new_with_blockhash([overdraw], payer.pubkey(), latest.blockhash),
            [payer, holder],
        )
        with pytest.raises(RPCException) as raised:
            await client.send_transaction(tx, opts=TxOpts(preflight_commitment=Confirmed))
        out["preflight"] = raised.value.args[0]
        return out


def _parsed(data: ParsedAccount | bytes) -> Any:
    assert isinstance(data, ParsedAccount), data  # a token account is always parsed
    return data.parsed


def _transfer_checked(
    source: Pubkey, mint: Pubkey, dest: Pubkey, owner: Pubkey, amount: int
) -> Instruction:
    return spl.transfer_checked(
        models.TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=source,
            mint=mint,
            dest=dest,
            owner=owner,
            amount=amount,
            decimals=DECIMALS,
        )
    )


def test_solana_py_tokens_and_a_preflight_failure(dev: str) -> None:
    out = anyio.run(_solana_py, dev)
    mint, mine, theirs = out["mint"], out["mine"], out["theirs"]
    assert out["by_owner"] == [mine]
    [(key, parsed)] = out["parsed_by_owner"]
    assert key == theirs and parsed["type"] == "account"
    info = parsed["info"]
    assert info["mint"] == str(mint) and info["state"] == "initialized"
    assert info["tokenAmount"]["amount"] == str(MOVED)
    assert info["tokenAmount"]["uiAmountString"] == "250"
    assert out["balance"].amount == str(MOVED) and out["balance"].decimals == DECIMALS
    assert out["supply"].amount == str(MINTED) and out["supply"].ui_amount_string == "1000"
    # Both token accounts of the mint, and nothing else; their amounts as the data says.
    assert set(out["holders"]) == {mine, theirs}
    amounts = {k: int.from_bytes(d[64:72], "little") for k, d in out["holders"].items()}
    assert amounts == {mine: MINTED - MOVED, theirs: MOVED}
    assert [k for k, _ in out["holders_parsed"]] == [theirs]
    assert out["holders_parsed"][0][1]["info"]["owner"] == info["owner"]

    mint_to, moved = out["parsed_move"]
    assert isinstance(mint_to, ParsedInstruction) and isinstance(moved, ParsedInstruction)
    assert mint_to.program == moved.program == "spl-token"
    assert mint_to.program_id == moved.program_id == TOKEN_PROGRAM_ID
    minted: Any = mint_to.parsed
    assert minted["type"] == "mintTo"
    assert minted["info"]["amount"] == str(MINTED) and minted["info"]["account"] == str(mine)
    transferred: Any = moved.parsed
    assert transferred["type"] == "transferChecked"
    assert transferred["info"]["destination"] == str(theirs)
    assert transferred["info"]["tokenAmount"]["amount"] == str(MOVED)

    failure = out["preflight"]
    assert isinstance(failure, SendTransactionPreflightFailureMessage)
    logs = failure.data.logs
    assert logs is not None
    assert any(f"Program {TOKEN_PROGRAM_ID} invoke [1]" == line for line in logs), logs
    assert any("insufficient funds" in line for line in logs), logs
    assert failure.data.err is not None and "InstructionError" in str(failure.data.err)


async def _token_2022(url: str) -> dict[str, Any]:
    """A Token-2022 mint with a close authority, and an associated token account of it (the
    associated token program gives Token-2022 accounts an immutable owner), read back parsed."""
    async with AsyncClient(url) as client:
        payer, mint = Keypair(), Keypair()
        airdrop = (await client.request_airdrop(payer.pubkey(), SOL)).value
        await client.confirm_transaction(airdrop, Confirmed, sleep_seconds=0.1)
        space = 166 + 4 + 32  # the base, the account type, the close authority's TLV entry
        rent = (await client.get_minimum_balance_for_rent_exemption(space)).value
        m, p = mint.pubkey(), payer.pubkey()
        close_authority = Instruction(
            TOKEN_2022_PROGRAM_ID,
            bytes([25, 1]) + bytes(p),  # InitializeMintCloseAuthority(Some(payer))
            [AccountMeta(m, is_signer=False, is_writable=True)],
        )
        holder = spl.get_associated_token_address(p, m, TOKEN_2022_PROGRAM_ID)
        await _send(
            client,
            payer,
            [
                create_account(
                    CreateAccountParams(
                        from_pubkey=p,
                        to_pubkey=m,
                        lamports=rent,
                        space=space,
                        owner=TOKEN_2022_PROGRAM_ID,
                    )
                ),
                close_authority,
                spl.initialize_mint2(
                    models.InitializeMint2Params(
                        decimals=DECIMALS,
                        mint=m,
                        mint_authority=p,
                        program_id=TOKEN_2022_PROGRAM_ID,
                        freeze_authority=None,
                    )
                ),
                spl.create_associated_token_account(p, p, m, TOKEN_2022_PROGRAM_ID),
            ],
            mint,
        )
        parsed_mint = (await client.get_account_info_json_parsed(m, Confirmed)).value
        owned = await client.get_token_accounts_by_owner_json_parsed(
            p, TokenAccountOpts(program_id=TOKEN_2022_PROGRAM_ID), Confirmed
        )
        assert parsed_mint is not None
        return {
            "payer": p,
            "holder": holder,
            "mint": _parsed(parsed_mint.data),
            "owned": [(a.pubkey, a.account.data.parsed) for a in owned.value],
        }


def test_solana_py_token_2022_extensions(dev: str) -> None:
    out = anyio.run(_token_2022, dev)
    payer = str(out["payer"])
    info = out["mint"]["info"]
    assert out["mint"]["type"] == "mint" and info["mintAuthority"] == payer
    assert info["extensions"] == [
        {"extension": "mintCloseAuthority", "state": {"closeAuthority": payer}}
    ]
    [(key, account)] = out["owned"]
    assert key == out["holder"] and account["type"] == "account"
    assert account["info"]["owner"] == payer
    assert {"extension": "immutableOwner"} in account["info"]["extensions"]


def test_web3js_tokens_and_a_preflight_failure(dev: str) -> None:
    out = run_node_script(Path(__file__).with_name("web3_tokens.mjs"), dev)
    mint, mine, theirs = out["mint"], out["mine"], out["theirs"]
    assert out["byOwner"] == [mine]
    [(key, parsed)] = out["parsedByOwner"]
    assert key == theirs and parsed["type"] == "account"
    assert parsed["info"]["mint"] == mint
    assert parsed["info"]["tokenAmount"]["amount"] == str(MOVED)
    assert out["balance"]["amount"] == str(MOVED) and out["balance"]["decimals"] == DECIMALS
    assert out["supply"]["amount"] == str(MINTED) and out["supply"]["uiAmountString"] == "1000"
    assert sorted(out["holders"]) == sorted([mine, theirs])
    assert out["holders"] == {mine: str(MINTED - MOVED), theirs: str(MOVED)}
    assert [k for k, _ in out["holdersParsed"]] == [theirs]

    _check_parsed_transactions(out)

    assert out["sendError"]["name"] == "SendTransactionError"
    assert "Simulation failed" in out["sendError"]["message"]
    logs = out["sendError"]["logs"]
    assert logs == out["sendError"]["getLogs"]
    assert f"Program {TOKEN_PROGRAM_ID} invoke [1]" in logs
    assert any("insufficient funds" in line for line in logs), logs


SYSTEM = "11111111111111111111111111111111"
ATA = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
COMPUTE_BUDGET = "ComputeBudget111111111111111111111111111111"


def _check_parsed_transactions(out: dict[str, Any]) -> None:
    """getParsedTransaction of the web3.js script's two transactions, against what it sent."""
    payer, holder, mint = out["payer"], out["holder"], out["mint"]
    mine, theirs, token = out["mine"], out["theirs"], str(TOKEN_PROGRAM_ID)
    create = out["parsedCreate"]["instructions"]
    assert [(ix["program"], ix["parsed"]["type"]) for ix in create] == [
        ("system", "createAccount"),
        ("spl-token", "initializeMint2"),
        ("spl-associated-token-account", "create"),
        ("spl-associated-token-account", "create"),
    ]
    account = create[0]["parsed"]["info"]
    assert account["source"] == payer and account["newAccount"] == mint
    assert account["space"] == MINT_SIZE and account["owner"] == token
    assert account["lamports"] > 0
    assert create[1]["parsed"]["info"] == {
        "mint": mint,
        "decimals": DECIMALS,
        "mintAuthority": payer,  # no freezeAuthority key: none was set
    }
    for ix, wallet, ata in ((create[2], payer, mine), (create[3], holder, theirs)):
        assert ix["programId"] == ATA
        assert ix["parsed"]["info"] == {
            "source": payer,
            "account": ata,
            "wallet": wallet,
            "mint": mint,
            "systemProgram": SYSTEM,
            "tokenProgram": token,
        }
    # The associated token program's CPIs, parsed too (inner instructions).
    inner = {group["index"]: group["instructions"] for group in out["parsedCreate"]["inner"]}
    assert sorted(inner) == [2, 3]
    for index, wallet, ata in ((2, payer, mine), (3, holder, theirs)):
        assert all("parsed" in ix for ix in inner[index]), inner[index]
        [init] = [ix for ix in inner[index] if ix["parsed"]["type"] == "initializeAccount3"]
        assert init["parsed"]["info"] == {"account": ata, "mint": mint, "owner": wallet}

    budget, mint_to, moved = out["parsedMove"]["instructions"]
    assert budget["programId"] == COMPUTE_BUDGET and "parsed" not in budget  # as Agave
    assert budget["accounts"] == [] and budget["data"]
    assert mint_to["parsed"] == {
        "type": "mintTo",
        "info": {"mint": mint, "account": mine, "mintAuthority": payer, "amount": str(MINTED)},
    }
    assert moved["parsed"] == {
        "type": "transferChecked",
        "info": {
            "source": mine,
            "mint": mint,
            "destination": theirs,
            "authority": payer,
            "tokenAmount": {
                "amount": str(MOVED),
                "decimals": DECIMALS,
                "uiAmount": 250,
                "uiAmountString": "250",
            },
        },
    }
    assert out["parsedMove"]["inner"] == []
