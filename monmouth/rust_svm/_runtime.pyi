"""Types of the C extension `_runtime.c`: a transaction's lamports."""

from collections.abc import Callable, Sequence

from solders.pubkey import Pubkey

def balances(
    get_balance: Callable[[Pubkey], int | None],
    pubkeys: dict[bytes, Pubkey],
    make_pubkey: Callable[[bytes], Pubkey],
    keys: Sequence[bytes],
    /,
) -> list[int]:
    """The lamports of each key's account (0 where none): `SvmRuntime.balances_py` in C."""
