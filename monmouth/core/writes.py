"""A block's write log: the stream's `writes` (`eventlog.Writes`) captured while the block runs,
without the `AccountUpdate`s plugins would get.

Every write is a slot (key, index of the writing transaction in the block's `TransactionInfo`s
or -1 for a deposit, encoded value), in execution order. A transaction's slot is not read when
it runs: its value is read only when a later transaction or deposit of the block touches the key
again (just before it writes), or at the block's end, where the executor's last pass reads every
changed account anyway. At the end, a transaction's slot whose value is the one before it (the
key's previous slot's, else the value before the block) is dropped, as the eager capture from
`AccountUpdate`s drops it (a failed transaction's untouched accounts, an account written back).

`WriteLogPy` is the reference; `WriteLog` is the C one (`_writes.c`: the slots in C arrays, the
accounts encoded in C, and the writes encoded straight to the segment's MessagePack) where it is
built. `tests/core/test_write_log.py` holds the two equal on generated sequences, and
`tests/core/test_executor_writes.py` both to the eager capture through two real nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from solders.account import Account

from monmouth.core.eventlog import Writes
from monmouth.rust_svm.accounts import encode_account_fields
from monmouth.rust_svm.runtime import account_fields

if TYPE_CHECKING:
    from monmouth.rust_svm.runtime import SvmRuntime

try:
    from monmouth.core import _writes
except ImportError:  # installed without a C compiler
    _writes = None  # type: ignore[assignment]

__all__ = [
    "CLOSED",
    "IMPLEMENTATION",
    "Reader",
    "WriteLog",
    "WriteLogPy",
    "changes",
    "changes_py",
    "make_write_log",
]

#: Which implementation keeps a block's write log: "c" (`_writes.c`) or "python".
IMPLEMENTATION = "python" if _writes is None else "c"

#: A closed account as a write reports it (`executor._update`): 0 lamports, owned by the
#: system program.
CLOSED = encode_account_fields(0, bytes(32), False, 0, b"")
_MISSING = object()

#: Reads an account as the runtime has it now (`SvmRuntime.get_object`: None when absent).
Reader = Callable[[bytes], Account | None]


class WriteLog(Protocol):
    """What the executor calls, once per transaction or deposit and once at the block's end."""

    def touch(self, keys: Sequence[bytes], /) -> None:
        """A transaction is about to run with these writable keys: a slot of one of them whose
        value is unread takes the value now (the one its transaction wrote)."""

    def written(self, keys: Sequence[bytes], index: int, /) -> None:
        """An executed transaction (the block's `TransactionInfo` `index`) may have written
        `keys`: one slot per key without an unread slot (a key named twice is one write)."""

    def deposit(self, key: bytes, before: Account | None, after: Account, /) -> None:
        """A deposit wrote `after` over `before` (always a write, as `update_accounts` gets it)."""

    def finish(
        self,
        before: dict[bytes, Account | None],
        changed_keys: list[bytes],
        changed: list[bytes | None],
        stored: list[bytes | None],
        /,
    ) -> Writes:
        """The block's `writes`: unread slots take their key's value at the end.

        :param before: the runtime's values before the block of the touched keys the state does
            not hold (and of deposit recipients); the others' are `stored`.
        :param changed_keys: the touched keys whose value at the end is not `before`'s, with
            that value encoded (`changed`) and the value before the block (`stored`).
        """
        ...


class WriteLogPy:
    """The reference write log (`WriteLog`): slots as lists, the writes as lists of tuples."""

    __slots__ = ("_read", "_slots", "_unread")

    def __init__(self, read: Reader) -> None:
        self._read = read
        # [key, transaction index or -1, encoded value (None: closed) once read]
        self._slots: list[list[Any]] = []
        # Each key whose last slot's value is unread, with that slot.
        self._unread: dict[bytes, list[Any]] = {}

    def touch(self, keys: Sequence[bytes], /) -> None:
        unread = self._unread
        for key in keys:
            if key in unread:  # the value an earlier transaction wrote
                unread.pop(key)[2] = account_fields(self._read(key))

    def written(self, keys: Sequence[bytes], index: int, /) -> None:
        unread, slots = self._unread, self._slots
        for key in keys:
            if key not in unread:  # (a key named twice is one write)
                slot = unread[key] = [key, index, None]
                slots.append(slot)

    def deposit(self, key: bytes, before: Account | None, after: Account, /) -> None:
        slot = self._unread.pop(key, None)
        if slot is not None:
            slot[2] = account_fields(before)
        self._slots.append([key, -1, account_fields(after)])

    def finish(
        self,
        before: dict[bytes, Account | None],
        changed_keys: list[bytes],
        changed: list[bytes | None],
        stored: list[bytes | None],
        /,
    ) -> Writes:
        if self._unread:
            end = dict(zip(changed_keys, changed, strict=True))
            for key, slot in self._unread.items():
                slot[2] = end[key] if key in end else account_fields(before[key])
        # The value before the block of every touched key.
        start: dict[bytes, bytes | None] = dict(zip(changed_keys, stored, strict=True))
        for key, account in before.items():
            start[key] = account_fields(account)
        last: dict[bytes, bytes | None] = {}  # the value of each key's last slot so far
        out: list[tuple[bytes, bytes, int]] = []
        for key, tx, value in self._slots:
            previous = last.get(key, _MISSING)
            last[key] = value
            if previous is _MISSING:
                previous = start[key]
            if value == previous and tx >= 0:
                continue
            out.append((key, CLOSED if value is None else value, tx))
        return Writes(out, [(key, start[key]) for key in dict.fromkeys([w[0] for w in out])])


if _writes is not None:

    class WriteLogC(_writes.WriteLog):
        """`WriteLogPy` in C; `finish` gives the writes already encoded (`msgspec.Raw`).

        Made as `WriteLogC(read, CLOSED)`, or with the runtime's own LiteSVM reader and its
        Pubkeys by key after them (`make_write_log`)."""

        __slots__ = ()

        def finish(
            self,
            before: dict[bytes, Account | None],
            changed_keys: list[bytes],
            changed: list[bytes | None],
            stored: list[bytes | None],
            /,
        ) -> Writes:
            writes, written_before = self.encode(before, changed_keys, changed, stored)
            return Writes(msgspec.Raw(writes), msgspec.Raw(written_before))


def make_write_log(runtime: SvmRuntime) -> WriteLog:
    """A block's write log over `runtime`'s accounts, in C where `_writes` is built
    (`IMPLEMENTATION`; the tests set it to run the reference)."""
    if IMPLEMENTATION == "c":
        if _writes is None:
            raise RuntimeError("the _writes extension is not built")
        # `get_object`'s own parts, so that a re-read costs no Python frame (a fifth of it):
        # the LiteSVM method it calls and the Pubkeys it keeps by key.
        return WriteLogC(runtime.get_object, CLOSED, *runtime.native_reader())
    return WriteLogPy(runtime.get_object)


def changes_py(
    read: Reader, touched: Iterable[bytes], before: Mapping[bytes, Account | None]
) -> tuple[list[bytes], list[bytes | None]]:
    """The accounts a block changed, encoded (`account_fields`): of each touched key in order,
    the account now (`read`), unless `before` has the key with an equal account (the
    executor's last pass over a block; the reference of `_writes.changes`).

    :param before: the values before the block of the touched keys that need one to tell
        (a key not in it is listed as changed: the store's value decides, later).
    """
    keys: list[bytes] = []
    values: list[bytes | None] = []
    for key in touched:
        now = read(key)
        if key in before and now == before[key]:
            continue
        keys.append(key)
        values.append(account_fields(now))  # `read` gives no 0-lamport account
    return keys, values


def changes(
    runtime: SvmRuntime, touched: dict[bytes, None], before: dict[bytes, Account | None]
) -> tuple[list[bytes], list[bytes | None]]:
    """`changes_py` over `runtime`'s accounts, in C where `_writes` is built (`IMPLEMENTATION`):
    once per block, over every account it may have written."""
    if IMPLEMENTATION == "c":
        if _writes is None:
            raise RuntimeError("the _writes extension is not built")
        return _writes.changes(runtime.get_object, *runtime.native_reader(), touched, before)
    return changes_py(runtime.get_object, touched, before)
