"""The SPL Token programs as the node's stores and indexes see them: their ids and what makes
an account a token account (the layout both programs share in its first 165 bytes)."""

from __future__ import annotations

from typing import Final

import base58

TOKEN_PROGRAM: Final = bytes(base58.b58decode("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"))
TOKEN_2022_PROGRAM: Final = bytes(base58.b58decode("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"))
TOKEN_PROGRAMS: Final = frozenset({TOKEN_PROGRAM, TOKEN_2022_PROGRAM})
#: A token account's size without extensions (mint 0:32, owner 32:64, amount 64:72, delegate
#: option 72:108, ...).
ACCOUNT_SIZE: Final = 165
#: Token-2022's account-type byte after the base layout: 2 = an account (1 = a mint).
_ACCOUNT_TYPE: Final = 2
#: A Token-2022 multisig's size: 355 bytes, never an account.
_MULTISIG_SIZE: Final = 355


def is_token_account(program: bytes, data: bytes) -> bool:
    """Whether `data`, owned by `program`, is an SPL Token or Token-2022 token account."""
    if program not in TOKEN_PROGRAMS:
        return False
    size = len(data)
    if size == ACCOUNT_SIZE:
        return True
    return (
        program == TOKEN_2022_PROGRAM
        and size > ACCOUNT_SIZE
        and size != _MULTISIG_SIZE
        and data[ACCOUNT_SIZE] == _ACCOUNT_TYPE
    )
