"""Types of the C extension `_writes.c`: a block's write log (`monmouth.core.writes`)."""

from collections.abc import Callable, Sequence

from solders.account import Account
from solders.pubkey import Pubkey

def account_fields(account: Account | None, /) -> bytes | None:
    """`monmouth.rust_svm.runtime.account_fields`, in C."""

def changes(
    read: Callable[[bytes], Account | None],
    get_account: Callable[[Pubkey], Account | None],
    pubkeys: dict[bytes, Pubkey],
    touched: dict[bytes, None],
    before: dict[bytes, Account | None],
    /,
) -> tuple[list[bytes], list[bytes | None]]:
    """`monmouth.core.writes.changes_py` in C, reading as `WriteLog.touch` does."""

class WriteLog:
    """`monmouth.core.writes.WriteLogPy` in C, its writes encoded as the segment stores them."""

    def __init__(
        self,
        read: Callable[[bytes], Account | None],
        closed: bytes,
        get_account: Callable[[Pubkey], Account | None] | None = None,
        pubkeys: dict[bytes, Pubkey] | None = None,
        /,
    ) -> None:
        """`read(key)`: the account now (`SvmRuntime.get_object`); `closed`: a closed account's
        write; `get_account`, `pubkeys`: the runtime's own reader and Pubkeys, used instead of
        `read` where the key's Pubkey is known (a 0-lamport account then counts as absent)."""
    def touch(self, keys: Sequence[bytes], /) -> None:
        """A transaction is about to run with these writable keys: an unread slot of one of
        them takes its value now."""

    def written(self, keys: Sequence[bytes], index: int, /) -> None:
        """An executed transaction may have written `keys`: a slot per key without an unread
        one."""

    def deposit(self, key: bytes, before: Account | None, after: Account, /) -> None:
        """A deposit wrote `after` over `before`."""

    def encode(
        self,
        before: dict[bytes, Account | None],
        changed_keys: list[bytes],
        changed: list[bytes | None],
        stored: list[bytes | None],
        /,
    ) -> tuple[bytes, bytes]:
        """(writes, written_before): the MessagePack of `WriteLogPy.finish`'s two lists."""
