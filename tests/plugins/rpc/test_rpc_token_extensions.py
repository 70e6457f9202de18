"""Token-2022 extensions in `jsonParsed`, from real Token-2022 account bytes: the Token-2022
program (LiteSVM's, the one the node runs) creates a mint with a transfer fee, a close
authority, a default account state, an interest rate, a permanent delegate, metadata and group
pointers and token metadata, a non-transferable mint, and a token account with an immutable
owner, required memos, a CPI guard and a withheld-fee amount; `encode_account` shows each as
Agave's `UiExtension`s, checked against what the instructions set."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID as TOKEN_2022

from monmouth.plugins.rpc.accounts import encode_account, mint_decimals_of
from monmouth.plugins.rpc.parsed_instructions import parse_instruction
from monmouth.plugins.rpc.token_extensions import parse_extensions
from monmouth.rust_svm.accounts import AccountRecord

DECIMALS = 2
FEE_BASIS_POINTS, MAX_FEE = 150, 5_000
RATE = 275  # basis points a year
NAME, SYMBOL, URI = "Monmouth Test", "MON", "https://example.invalid/mon.json"
RENAMED = "Monmouth Renamed"


def _some(key: Pubkey) -> bytes:
    """A `COption<Pubkey>` as Token-2022 instructions pack it: a tag byte, then the key."""
    return b"\x01" + bytes(key)


def _ix(data: bytes, *accounts: tuple[Pubkey, bool, bool]) -> Instruction:
    metas = [AccountMeta(k, is_signer=s, is_writable=w) for k, s, w in accounts]
    return Instruction(TOKEN_2022, data, metas)


def _borsh(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<I", len(raw)) + raw


@dataclass
class Built:
    svm: LiteSVM
    payer: Keypair
    authority: Keypair
    delegate: Pubkey
    mint: Pubkey
    plain_mint: Pubkey
    account: Pubkey
    owner: Keypair
    #: The three transactions' messages, in the order sent.
    sent: list[Message]

    def raw(self, key: Pubkey) -> bytes:
        account = self.svm.get_account(key)
        assert account is not None
        return AccountRecord(
            account.lamports, bytes(account.owner), account.executable, 0, bytes(account.data)
        ).encode()


def _send(svm: LiteSVM, payer: Keypair, ixs: list[Instruction], *signers: Keypair) -> Message:
    blockhash = svm.latest_blockhash()
    message = Message.new_with_blockhash(ixs, payer.pubkey(), blockhash)
    result = svm.send_transaction(Transaction([payer, *signers], message, blockhash))
    assert not hasattr(result, "err"), result
    return message


@pytest.fixture(scope="module")
def built() -> Built:
    svm = LiteSVM()
    payer, authority, owner = Keypair(), Keypair(), Keypair()
    svm.airdrop(payer.pubkey(), 10_000_000_000)
    mint, plain, account = Keypair(), Keypair(), Keypair()
    delegate = Keypair().pubkey()
    a = authority.pubkey()
    sent: list[Message] = []
    # The fixed-size extensions, each a 4-byte TLV header and its value, after 165 + 1 bytes.
    mint_space = 166 + (4 + 108) + (4 + 32) + (4 + 1) + (4 + 52) + (4 + 32) + (4 + 64) + (4 + 64)
    lamports = svm.minimum_balance_for_rent_exemption(mint_space + 400)  # metadata grows it
    m = mint.pubkey()
    sent.append(
        _send(
            svm,
            payer,
            [
                create_account(
                    CreateAccountParams(
                        from_pubkey=payer.pubkey(),
                        to_pubkey=m,
                        lamports=lamports,
                        space=mint_space,
                        owner=TOKEN_2022,
                    )
                ),
                # TransferFeeExtension / InitializeTransferFeeConfig: authorities, bps, maximum.
                _ix(
                    bytes([26, 0])
                    + _some(a)
                    + _some(a)
                    + struct.pack("<HQ", FEE_BASIS_POINTS, MAX_FEE),
                    (m, False, True),
                ),
                _ix(bytes([25]) + _some(a), (m, False, True)),  # InitializeMintCloseAuthority
                _ix(bytes([28, 0, 1]), (m, False, True)),  # DefaultAccountState: initialized
                _ix(
                    bytes([33, 0]) + bytes(a) + struct.pack("<h", RATE), (m, False, True)
                ),  # interest
                _ix(bytes([35]) + bytes(delegate), (m, False, True)),  # InitializePermanentDelegate
                _ix(
                    bytes([39, 0]) + bytes(a) + bytes(m), (m, False, True)
                ),  # MetadataPointer -> itself
                _ix(
                    bytes([40, 0]) + bytes(a) + bytes(m), (m, False, True)
                ),  # GroupPointer -> itself
                _ix(
                    bytes([20, DECIMALS]) + bytes(a) + _some(a), (m, False, True)
                ),  # InitializeMint2
                # spl-token-metadata-interface's Initialize, into the mint itself.
                Instruction(
                    TOKEN_2022,
                    _discriminator("initialize_account")
                    + _borsh(NAME)
                    + _borsh(SYMBOL)
                    + _borsh(URI),
                    [
                        AccountMeta(m, is_signer=False, is_writable=True),
                        AccountMeta(a, is_signer=False, is_writable=False),
                        AccountMeta(m, is_signer=False, is_writable=False),
                        AccountMeta(a, is_signer=True, is_writable=False),
                    ],
                ),
            ],
            mint,
            authority,
        )
    )
    p = plain.pubkey()
    plain_space = 166 + 4
    sent.append(
        _send(
            svm,
            payer,
            [
                create_account(
                    CreateAccountParams(
                        from_pubkey=payer.pubkey(),
                        to_pubkey=p,
                        lamports=svm.minimum_balance_for_rent_exemption(plain_space),
                        space=plain_space,
                        owner=TOKEN_2022,
                    )
                ),
                _ix(bytes([32]), (p, False, True)),  # InitializeNonTransferableMint
                _ix(bytes([20, 0]) + bytes(a) + b"\x00", (p, False, True)),
            ],
            plain,
        )
    )
    # A token account of the fee mint: immutable owner, then (after InitializeAccount3, which
    # adds the withheld-fee amount the mint requires) required memos and a CPI guard.
    t, o = account.pubkey(), owner.pubkey()
    account_space = 166 + (4 + 8) + 4 + (4 + 1) + (4 + 1)
    sent.append(
        _send(
            svm,
            payer,
            [
                create_account(
                    CreateAccountParams(
                        from_pubkey=payer.pubkey(),
                        to_pubkey=t,
                        lamports=svm.minimum_balance_for_rent_exemption(account_space),
                        space=account_space,
                        owner=TOKEN_2022,
                    )
                ),
                _ix(bytes([22]), (t, False, True)),  # InitializeImmutableOwner
                _ix(
                    bytes([18]) + bytes(o), (t, False, True), (m, False, False)
                ),  # InitializeAccount3
                _ix(bytes([30, 0]), (t, False, True), (o, True, False)),  # MemoTransfer: enable
                _ix(bytes([34, 0]), (t, False, True), (o, True, False)),  # CpiGuard: enable
            ],
            account,
            owner,
        )
    )

    # Then the token metadata interface's other instructions on the mint's metadata: a new
    # name, an additional field, an idempotent removal of a key it does not have, an emit (it
    # only returns data), and giving up the update authority (last: nothing can follow it).
    def metadata_ix(name: str, data: bytes, writable: bool = True) -> Instruction:
        metas = [AccountMeta(m, is_signer=False, is_writable=writable)]
        if name != "emitter":
            metas.append(AccountMeta(a, is_signer=True, is_writable=False))
        return Instruction(TOKEN_2022, _discriminator(name) + data, metas)

    sent.append(
        _send(
            svm,
            payer,
            [
                metadata_ix("updating_field", b"\x00" + _borsh(RENAMED)),
                metadata_ix("updating_field", b"\x03" + _borsh("color") + _borsh("teal")),
                metadata_ix("remove_key_ix", b"\x01" + _borsh("missing")),
                metadata_ix("emitter", b"\x00\x00", writable=False),
                metadata_ix("update_the_authority", bytes(32)),
            ],
            authority,
        )
    )
    return Built(svm, payer, authority, delegate, m, p, t, owner, sent)


def _discriminator(name: str) -> bytes:
    """spl-token-metadata-interface's instruction discriminator."""
    return hashlib.sha256(f"spl_token_metadata_interface:{name}".encode()).digest()[:8]


def _by_name(extensions: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["extension"]: e.get("state") for e in extensions}


def test_mint_extensions(built: Built) -> None:
    raw = built.raw(built.mint)
    ui = encode_account(raw, "jsonParsed")
    assert ui["data"]["program"] == "spl-token-2022"
    parsed = ui["data"]["parsed"]
    assert parsed["type"] == "mint"
    info = parsed["info"]
    a, m = str(built.authority.pubkey()), str(built.mint)
    assert info["decimals"] == DECIMALS and info["mintAuthority"] == a
    assert info["freezeAuthority"] == a and info["supply"] == "0"
    names = [e["extension"] for e in info["extensions"]]
    # In the order the program stored them (initialisation order, metadata last).
    assert names == [
        "transferFeeConfig",
        "mintCloseAuthority",
        "defaultAccountState",
        "interestBearingConfig",
        "permanentDelegate",
        "metadataPointer",
        "groupPointer",
        "tokenMetadata",
    ]
    state = _by_name(info["extensions"])
    fee = {"epoch": 0, "maximumFee": MAX_FEE, "transferFeeBasisPoints": FEE_BASIS_POINTS}
    assert state["transferFeeConfig"] == {
        "transferFeeConfigAuthority": a,
        "withdrawWithheldAuthority": a,
        "withheldAmount": 0,
        "olderTransferFee": fee,
        "newerTransferFee": fee,
    }
    assert state["mintCloseAuthority"] == {"closeAuthority": a}
    assert state["defaultAccountState"] == {"accountState": "initialized"}
    interest = state["interestBearingConfig"]
    assert interest["rateAuthority"] == a
    assert interest["currentRate"] == interest["preUpdateAverageRate"] == RATE
    clock = built.svm.get_clock().unix_timestamp
    assert interest["initializationTimestamp"] == interest["lastUpdateTimestamp"] == clock
    assert state["permanentDelegate"] == {"delegate": str(built.delegate)}
    assert state["metadataPointer"] == {"authority": a, "metadataAddress": m}
    assert state["groupPointer"] == {"authority": a, "groupAddress": m}
    assert state["tokenMetadata"] == {
        "updateAuthority": None,  # given up by the last instruction
        "mint": m,
        "name": RENAMED,
        "symbol": SYMBOL,
        "uri": URI,
        "additionalMetadata": [["color", "teal"]],
    }
    assert mint_decimals_of(raw) == DECIMALS  # token accounts of it get their amounts


def test_extensions_without_state(built: Built) -> None:
    info = encode_account(built.raw(built.plain_mint), "jsonParsed")["data"]["parsed"]["info"]
    assert info["extensions"] == [{"extension": "nonTransferable"}]


def test_token_account_extensions(built: Built) -> None:
    mint_raw = built.raw(built.mint)
    ui = encode_account(
        built.raw(built.account), "jsonParsed", mint_decimals=lambda _: mint_decimals_of(mint_raw)
    )
    parsed = ui["data"]["parsed"]
    assert parsed["type"] == "account"
    info = parsed["info"]
    assert info["mint"] == str(built.mint) and info["owner"] == str(built.owner.pubkey())
    assert info["state"] == "initialized"
    assert info["tokenAmount"]["decimals"] == DECIMALS
    # Stored in the order the program initialised them (immutable owner before the account).
    assert info["extensions"] == [
        {"extension": "immutableOwner"},
        {"extension": "transferFeeAmount", "state": {"withheldAmount": 0}},
        {"extension": "memoTransfer", "state": {"requireIncomingTransferMemos": True}},
        {"extension": "cpiGuard", "state": {"lockCpi": True}},
    ]


def test_no_extensions_no_key(built: Built) -> None:
    """Agave leaves `extensions` out when there are none (skip_serializing_if empty): a mint
    with room for extensions but none initialised (zeros after the account-type byte)."""
    record = AccountRecord.decode(built.raw(built.plain_mint))
    empty = AccountRecord(
        record.lamports, record.owner, False, 0, record.data[:166] + bytes(8)
    ).encode()
    info = encode_account(empty, "jsonParsed")["data"]["parsed"]["info"]
    assert info["decimals"] == 0 and "extensions" not in info


def test_a_short_entry_is_unparseable(built: Built) -> None:
    record = AccountRecord.decode(built.raw(built.mint))
    # The first entry (transferFeeConfig, 108 bytes) with its length claiming 50: too short to
    # be one, as Agave's `UnparseableExtension`.
    broken = bytearray(record.data[: 166 + 4 + 108])
    assert struct.unpack_from("<HH", broken, 166) == (1, 108)
    struct.pack_into("<H", broken, 168, 50)
    assert parse_extensions(bytes(broken[: 166 + 4 + 50])) == [
        {"extension": "unparseableExtension"}
    ]


def _parsed(message: Message) -> list[Any]:
    keys = [bytes(k) for k in message.account_keys]
    return [
        parse_instruction(keys[ix.program_id_index], keys, bytes(ix.accounts), bytes(ix.data))
        for ix in message.instructions
    ]


def test_the_instructions_that_built_them_parse_as_agave(built: Built) -> None:
    """The Token-2022 instructions sent above, as `jsonParsed` transactions show them."""
    a, m, t = str(built.authority.pubkey()), str(built.mint), str(built.account)
    o = str(built.owner.pubkey())
    mint_tx, plain_tx, account_tx, metadata_tx = (_parsed(message) for message in built.sent)
    assert mint_tx[0] is not None and mint_tx[0]["parsed"]["type"] == "createAccount"
    assert all(p is not None and p["program"] == "spl-token" for p in mint_tx[1:9])
    assert [p["parsed"] for p in mint_tx[1:9]] == [
        {
            "type": "initializeTransferFeeConfig",
            "info": {
                "mint": m,
                "transferFeeBasisPoints": FEE_BASIS_POINTS,
                "maximumFee": MAX_FEE,
                "transferFeeConfigAuthority": a,
                "withdrawWithheldAuthority": a,
            },
        },
        {"type": "initializeMintCloseAuthority", "info": {"mint": m, "newAuthority": a}},
        {
            "type": "initializeDefaultAccountState",
            "info": {"mint": m, "accountState": "initialized"},
        },
        {
            "type": "initializeInterestBearingConfig",
            "info": {"mint": m, "rateAuthority": a, "rate": RATE},
        },
        {
            "type": "initializePermanentDelegate",
            "info": {"mint": m, "delegate": str(built.delegate)},
        },
        {
            "type": "initializeMetadataPointer",
            "info": {"mint": m, "authority": a, "metadataAddress": m},
        },
        {"type": "initializeGroupPointer", "info": {"mint": m, "authority": a, "groupAddress": m}},
        {
            "type": "initializeMint2",
            "info": {"mint": m, "decimals": DECIMALS, "mintAuthority": a, "freezeAuthority": a},
        },
    ]
    assert mint_tx[9] is not None and mint_tx[9]["parsed"] == {
        "type": "initializeTokenMetadata",
        "info": {
            "metadata": m,
            "updateAuthority": a,
            "mint": m,
            "mintAuthority": a,
            "name": NAME,
            "symbol": SYMBOL,
            "uri": URI,
        },
    }
    assert plain_tx[1] is not None
    assert plain_tx[1]["parsed"] == {
        "type": "initializeNonTransferableMint",
        "info": {"mint": str(built.plain_mint)},
    }
    assert [p["parsed"] for p in account_tx[1:]] == [
        {"type": "initializeImmutableOwner", "info": {"account": t}},
        {"type": "initializeAccount3", "info": {"account": t, "mint": m, "owner": o}},
        {"type": "enableRequiredMemoTransfers", "info": {"account": t, "owner": o}},
        {"type": "enableCpiGuard", "info": {"account": t, "owner": o}},
    ]
    by = {"metadata": m, "updateAuthority": a}
    assert [p["parsed"] for p in metadata_tx] == [
        {"type": "updateTokenMetadataField", "info": {**by, "field": "name", "value": RENAMED}},
        {"type": "updateTokenMetadataField", "info": {**by, "field": "color", "value": "teal"}},
        {"type": "removeTokenMetadataKey", "info": {**by, "key": "missing", "idempotent": True}},
        {"type": "emitTokenMetadata", "info": {"metadata": m}},
        {"type": "updateTokenMetadataAuthority", "info": {**by, "newAuthority": None}},
    ]
