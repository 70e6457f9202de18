"""Solana transactions and instructions the devnet workload builds: system transfers signed by
hand (the hot path), SPL Token instructions, and signing through solders.

Pure functions: the same arguments give the same bytes.
"""

from __future__ import annotations

import struct
from typing import Final

import nacl.bindings
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import VersionedTransaction

FEE: Final = 5000
"""Lamports per signature."""
RENT_SYSTEM: Final = 890_880
RENT_MINT: Final = 1_461_600
RENT_TOKEN_ACCOUNT: Final = 2_039_280
MINT_SIZE: Final = 82
TOKEN_ACCOUNT_SIZE: Final = 165
SOL: Final = 10**9
TOKEN_PROGRAM_ID: Final = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
SYSTEM_PROGRAM_ID: Final = Pubkey.default()

# A legacy system transfer, laid out by hand: header (1 signer, 0 read-only signed, 1 read-only
# unsigned), 3 account keys; after the blockhash, 1 instruction: program 2, accounts [0, 1],
# 12 bytes of data (u32 2 = Transfer, u64 lamports).
_XFER_HEAD = bytes((1, 0, 1, 3))
_XFER_IX = bytes((1, 2, 2, 0, 1, 12))
_XFER_DATA = struct.Struct("<IQ")
_SYSTEM_ID = bytes(32)
_V0_PREFIX = b"\x80"
_NO_LOOKUPS = b"\x00"
_U64 = struct.Struct("<Q")


def transfer_tx(
    secret: bytes, payer: bytes, to: bytes, lamports: int, blockhash: bytes, *, v0: bool = False
) -> bytes:
    """The wire bytes of a signed system transfer, built without solders (the hot path).

    `secret` is the 64-byte ed25519 secret key (seed and public key) of `payer`. The bytes are
    those solders makes for `system_program.transfer` in a legacy message (or `MessageV0`).
    """
    msg = b"".join(
        (_XFER_HEAD, payer, to, _SYSTEM_ID, blockhash, _XFER_IX, _XFER_DATA.pack(2, lamports))
    )
    if v0:
        msg = _V0_PREFIX + msg + _NO_LOOKUPS
    signature: bytes = nacl.bindings.crypto_sign(msg, secret)[:64]
    return b"\x01" + signature + msg


def sign_solders(
    instructions: list[Instruction], signers: list[Keypair], blockhash: bytes, v0: bool
) -> bytes:
    """The wire bytes of `instructions` in a legacy message (or `MessageV0`), paid by the first
    signer and signed by all `signers`."""
    payer = signers[0].pubkey()
    if v0:
        msg: Message | MessageV0 = MessageV0.try_compile(payer, instructions, [], Hash(blockhash))
    else:
        msg = Message.new_with_blockhash(instructions, payer, Hash(blockhash))
    return bytes(VersionedTransaction(msg, signers))


def create_token_owned(payer: Pubkey, new: Pubkey, lamports: int, space: int) -> Instruction:
    """System `create_account` of `space` bytes owned by SPL Token (a mint or token account)."""
    return create_account(
        CreateAccountParams(
            from_pubkey=payer,
            to_pubkey=new,
            lamports=lamports,
            space=space,
            owner=TOKEN_PROGRAM_ID,
        )
    )


def initialize_mint2(mint: Pubkey, decimals: int, authority: Pubkey) -> Instruction:
    """SPL Token InitializeMint2 with no freeze authority."""
    data = bytes((20, decimals)) + bytes(authority) + b"\x00"
    return Instruction(TOKEN_PROGRAM_ID, data, [AccountMeta(mint, False, True)])


def initialize_account3(account: Pubkey, mint: Pubkey, owner: Pubkey) -> Instruction:
    """SPL Token InitializeAccount3."""
    return Instruction(
        TOKEN_PROGRAM_ID,
        bytes((18,)) + bytes(owner),
        [AccountMeta(account, False, True), AccountMeta(mint, False, False)],
    )


def mint_to(mint: Pubkey, destination: Pubkey, authority: Pubkey, amount: int) -> Instruction:
    """SPL Token MintTo."""
    return Instruction(
        TOKEN_PROGRAM_ID,
        bytes((7,)) + _U64.pack(amount),
        [
            AccountMeta(mint, False, True),
            AccountMeta(destination, False, True),
            AccountMeta(authority, True, False),
        ],
    )


def token_transfer(source: Pubkey, destination: Pubkey, owner: Pubkey, amount: int) -> Instruction:
    """SPL Token Transfer."""
    return Instruction(
        TOKEN_PROGRAM_ID,
        bytes((3,)) + _U64.pack(amount),
        [
            AccountMeta(source, False, True),
            AccountMeta(destination, False, True),
            AccountMeta(owner, True, False),
        ],
    )
