"""The C write log (`_writes.c`) against its Python reference (`writes.WriteLogPy`): the same
`writes` message bytes in the segment for any sequence of transactions and deposits over a
runtime's accounts (keys named twice, rejected transactions, closed accounts, 0-lamport values,
accounts absent before the block), and the same errors.

`tests/core/test_executor_writes.py` holds both, through two real nodes, to the eager capture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.account import Account
from solders.pubkey import Pubkey

from monmouth.core import writes
from monmouth.core.eventlog import Writes
from monmouth.core.records import BlockRecord
from monmouth.core.writes import CLOSED, Reader, WriteLog, WriteLogPy
from monmouth.rust_svm.runtime import SvmRuntime, account_fields, encode_account
from monmouth.stream.schema import encode
from monmouth.stream.segments import block_segment, decode_block_data

_writes = pytest.importorskip("monmouth.core._writes", reason="the _writes extension is not built")

_KEYS = [bytes([i]) * 32 for i in range(6)]
_OWNERS = [Pubkey(bytes(32)), Pubkey(b"\x07" * 32), Pubkey(bytes(range(32)))]
_ACCOUNT = st.builds(
    Account,
    lamports=st.sampled_from([0, 1, 5, 2**64 - 1]) | st.integers(0, 2**64 - 1),
    data=st.sampled_from([b"", b"\x01", bytes(300), bytes(70_000)]) | st.binary(max_size=40),
    owner=st.sampled_from(_OWNERS),
    executable=st.booleans(),
    rent_epoch=st.sampled_from([0, 2**64 - 1]) | st.integers(0, 2**64 - 1),
)
_VALUE = st.none() | _ACCOUNT
#: Transaction indices across MessagePack's integer widths.
_INDEX = st.sampled_from([0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**40])
_OP = st.one_of(
    # A transaction: its writable keys (maybe one twice), whether it ran, what it wrote.
    st.tuples(
        st.just("tx"),
        st.lists(st.sampled_from(_KEYS), min_size=1, max_size=4),
        _INDEX,
        st.booleans(),
        st.lists(st.tuples(st.sampled_from(_KEYS), _VALUE | st.just("same")), max_size=4),
    ),
    st.tuples(st.just("deposit"), st.sampled_from(_KEYS), _ACCOUNT),
)


def _read_as_runtime(accounts: dict[bytes, Account | None]) -> Reader:
    """`SvmRuntime.get_object` over `accounts`: None for absent and 0-lamport accounts."""

    def read(key: bytes) -> Account | None:
        account = accounts.get(key)
        return None if account is None or account.lamports == 0 else account

    return read


@dataclass
class Block:
    """One block's calls, made on both logs, and the end-of-block arguments as `_run` makes
    them."""

    logs: list[WriteLog]
    accounts: dict[bytes, Account | None]
    start: dict[bytes, Account | None] = field(default_factory=dict)
    touched: dict[bytes, None] = field(default_factory=dict)

    def touch(self, keys: list[bytes]) -> None:
        for key in keys:
            if key not in self.touched:
                self.touched[key] = None
                self.start[key] = self.accounts.get(key)
        for log in self.logs:
            log.touch(keys)

    def run(self, ops: list[tuple[object, ...]]) -> None:
        for op in ops:
            if op[0] == "deposit":
                _, key, after = op
                assert isinstance(key, bytes) and isinstance(after, Account)
                before = self.accounts.get(key)
                if key not in self.touched:
                    self.touched[key] = None
                    self.start[key] = before
                self.accounts[key] = after
                for log in self.logs:
                    log.deposit(key, before, after)
                continue
            _, keys, index, executed, effects = op
            assert isinstance(keys, list) and isinstance(effects, list)
            assert isinstance(index, int)
            self.touch(keys)
            for key, value in effects:
                if value != "same" and key in keys:
                    self.accounts[key] = value
            if executed:
                for log in self.logs:
                    log.written(keys, index)

    def finish_args(
        self, in_state: set[bytes]
    ) -> tuple[dict[bytes, Account | None], list[bytes], list[bytes | None], list[bytes | None]]:
        """As `_run`'s last pass: `before` holds the touched keys the state does not hold."""
        before = {k: self.start[k] for k in self.touched if k not in in_state}
        read = _read_as_runtime(self.accounts)
        changed_keys, changed = writes.changes_py(read, self.touched, before)
        stored = [encode_account(self.start[k]) for k in changed_keys]
        return before, changed_keys, changed, stored


def _bytes_of(writes: Writes) -> tuple[bytes, bytes]:
    def one(part: object) -> bytes:
        return bytes(part) if isinstance(part, msgspec.Raw) else encode(part)

    return one(writes.writes), one(writes.before)


@settings(max_examples=400, deadline=None)
@given(
    initial=st.dictionaries(st.sampled_from(_KEYS), _VALUE),
    ops=st.lists(_OP, max_size=20),
    in_state=st.sets(st.sampled_from(_KEYS)),
    known=st.none() | st.sets(st.sampled_from(_KEYS)),
)
def test_c_log_is_the_reference(
    initial: dict[bytes, Account | None],
    ops: list[tuple[object, ...]],
    in_state: set[bytes],
    known: set[bytes] | None,
) -> None:
    """`known`: the keys whose Pubkey the runtime keeps (read without `read`), or None when
    the log is given only `read`."""
    accounts = dict(initial)
    read = _read_as_runtime(accounts)
    reference = WriteLogPy(read)
    c_log = _writes_log(read) if known is None else _writes_log(read, accounts, known)
    block = Block([reference, c_log], accounts)
    block.run(ops)
    args = block.finish_args(in_state)
    want = reference.finish(*args)
    got = c_log.finish(*args)
    assert isinstance(got.writes, msgspec.Raw) and isinstance(want.writes, list)
    assert _bytes_of(got) == _bytes_of(want)
    # The lists it stands for, as the segment's reader decodes them.
    assert msgspec.msgpack.decode(bytes(got.writes), type=list[tuple[bytes, bytes, int]]) == (
        want.writes
    )
    # Again: `encode` leaves the log as it was.
    assert _bytes_of(c_log.finish(*args)) == _bytes_of(want)


def _writes_log(
    read: Reader,
    accounts: dict[bytes, Account | None] | None = None,
    known: frozenset[bytes] | set[bytes] = frozenset(),
) -> WriteLog:
    """The C log; with `accounts`, also a runtime's own reader (`get_account`, `pubkeys`) that
    keeps the Pubkeys of the `known` keys and gives their accounts as they are (0-lamport
    ones too: the log takes them as absent, as `get_object` does)."""
    if accounts is None:
        return writes.WriteLogC(read, CLOSED)
    pubkeys = {key: Pubkey(key) for key in known}
    return writes.WriteLogC(read, CLOSED, lambda pubkey: accounts.get(bytes(pubkey)), pubkeys)


def test_the_segment_is_the_same() -> None:
    """A block segment with the C log's raw writes is the one with the reference's lists."""
    accounts: dict[bytes, Account | None] = {}
    read = _read_as_runtime(accounts)
    logs: list[WriteLog] = [WriteLogPy(read), _writes_log(read)]
    block = Block(logs, accounts)
    owner = _OWNERS[1]
    ops: list[tuple[object, ...]] = [("deposit", k, Account(10, b"", owner)) for k in _KEYS]
    for i in range(40):  # more than 16 writes and keys: MessagePack's longer array headers
        key = _KEYS[i % 6]
        ops.append(("tx", [key, _KEYS[(i + 1) % 6]], i, True, [(key, Account(i + 1, b"d", owner))]))
    ops.append(("tx", [_KEYS[0]], 40, True, [(_KEYS[0], None)]))  # closed
    block.run(ops)
    args = block.finish_args(set())
    record = BlockRecord(7, bytes(32), bytes(32), 1, bytes(32), 1, 0, 0, 0, 0)
    segments = [block_segment(record, 6, [], [], (), log.finish(*args)) for log in logs]
    assert segments[0] == segments[1]
    data = decode_block_data(segments[1].data)
    assert data.writes is not None and len(data.writes) == 47
    assert data.writes[-1] == (_KEYS[0], CLOSED, 40)
    assert len(data.written_before) == 6


def test_many_writes() -> None:
    """Past 65,535 writes and keys (MessagePack's 32-bit array header), the values read at the
    end, and a value of 70,000 bytes (32-bit bin)."""
    keys = [i.to_bytes(32, "big") for i in range(70_000)]
    big = Account(3, bytes(70_000), _OWNERS[2])
    accounts: dict[bytes, Account | None] = {keys[0]: big}
    read = _read_as_runtime(accounts)
    logs: list[WriteLog] = [WriteLogPy(read), _writes_log(read)]
    for log in logs:
        log.written(keys, 3)
    changed = [encode_account(Account(5 + i, b"", _OWNERS[0])) for i in range(len(keys))]
    stored: list[bytes | None] = [None] * len(keys)
    stored[0] = encode_account(big)
    want, got = (log.finish({}, keys, changed, stored) for log in logs)
    assert _bytes_of(got) == _bytes_of(want)
    assert isinstance(got.writes, msgspec.Raw) and isinstance(got.before, msgspec.Raw)
    assert bytes(got.writes)[:1] == b"\xdd" and bytes(got.before)[:1] == b"\xdd"


def test_account_fields_is_the_runtimes() -> None:
    for lamports, data, owner, executable, rent_epoch in [
        (1, b"", _OWNERS[0], False, 0),
        (2**64 - 1, bytes(300), _OWNERS[1], True, 2**64 - 1),
        (0, b"x", _OWNERS[2], False, 5),
    ]:
        account = Account(lamports, data, owner, executable, rent_epoch)
        for _ in range(2):  # the owner's bytes computed, then cached
            assert _writes.account_fields(account) == account_fields(account)
    assert _writes.account_fields(None) is None
    with pytest.raises(AttributeError):
        _writes.account_fields(b"not an account")


@pytest.mark.parametrize("implementation", ["c", "python"])
def test_errors_are_the_references(implementation: str) -> None:
    """A key with slots but no value before the block is a KeyError, as in the reference; keys
    must be bytes; the end-of-block lists must match."""
    key = _KEYS[0]
    read = _read_as_runtime({})
    log: WriteLog = WriteLogPy(read) if implementation == "python" else _writes_log(read)
    log.written([key], 0)
    with pytest.raises(KeyError):
        log.finish({}, [], [], [])
    with pytest.raises(ValueError):
        log.finish({}, [key], [None], [])
    if implementation == "c":
        with pytest.raises(TypeError, match="go together"):
            writes.WriteLogC(read, CLOSED, lambda pubkey: None)
        with pytest.raises(TypeError):
            log.written(["not bytes"], 1)  # type: ignore[list-item]
        with pytest.raises(TypeError):
            log.finish({}, [key], ["no"], [None])  # type: ignore[list-item]
    empty = log.finish({key: None}, [key], [None], [None])  # written, and still absent
    assert _bytes_of(empty) == (encode([]), encode([]))


@settings(max_examples=400, deadline=None)
@given(
    now=st.dictionaries(st.sampled_from(_KEYS), _VALUE),
    earlier=st.dictionaries(st.sampled_from(_KEYS), _VALUE),
    same=st.sets(st.sampled_from(_KEYS)),
    touched=st.lists(st.sampled_from(_KEYS), unique=True),
    known=st.sets(st.sampled_from(_KEYS)),
)
def test_changes_is_the_reference(
    now: dict[bytes, Account | None],
    earlier: dict[bytes, Account | None],
    same: set[bytes],
    touched: list[bytes],
    known: set[bytes],
) -> None:
    """The block's last pass in C (`_writes.changes`) lists the same keys with the same bytes as
    `changes_py`: accounts absent, 0-lamport (absent to `get_object`, not to LiteSVM's own
    reader, which the C pass uses for the keys whose Pubkey it knows), unchanged (`same`: an
    equal account before the block) or not, keys with no value before."""
    read = _read_as_runtime(now)
    raw = {Pubkey(k): v for k, v in now.items()}  # LiteSVM's reader: 0 lamports as they are
    before = {k: read(k) if k in same else _read_as_runtime(earlier)(k) for k in {*earlier, *same}}
    pubkeys = {k: Pubkey(k) for k in known}
    order = dict.fromkeys(touched)
    expected = writes.changes_py(read, order, before)
    assert _writes.changes(read, raw.get, pubkeys, order, before) == expected
    assert expected[0] == [k for k in touched if k not in before or read(k) != before[k]]


@pytest.mark.parametrize("implementation", ["c", "python"])
def test_changes_over_a_runtime(implementation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`writes.changes` over a real runtime: keys whose Pubkey the runtime keeps and keys it
    does not (read through `get_object`), a 0-lamport account, one unchanged, one absent."""
    monkeypatch.setattr(writes, "IMPLEMENTATION", implementation)
    runtime = SvmRuntime()
    system = Pubkey(bytes(32))
    accounts = {
        _KEYS[0]: Account(5, b"", system, False, 0),
        _KEYS[1]: Account(7, b"\x01\x02", _OWNERS[1], False, 3),
        _KEYS[2]: Account(0, b"", system, False, 0),
        _KEYS[3]: Account(9, bytes(300), _OWNERS[2], False, 0),
    }
    for key, account in accounts.items():
        runtime.put_object(key, account)
    del runtime._pubkeys[_KEYS[1]]  # read through `get_object`
    before = {_KEYS[3]: runtime.get_object(_KEYS[3]), _KEYS[0]: None}
    touched = dict.fromkeys([_KEYS[0], _KEYS[1], _KEYS[2], _KEYS[3], _KEYS[4]])
    keys, values = writes.changes(runtime, touched, before)
    assert keys == [_KEYS[0], _KEYS[1], _KEYS[2], _KEYS[4]]
    assert values == [
        account_fields(accounts[_KEYS[0]]),
        account_fields(accounts[_KEYS[1]]),
        None,  # 0 lamports: absent
        None,
    ]


def test_changes_errors() -> None:
    """A reader that raises stops the pass with its error; the mappings must be dicts."""

    def broken(key: bytes) -> Account | None:
        raise LookupError(key)

    def no_account(pubkey: Pubkey) -> Account | None:
        raise OSError("runtime gone")

    order = dict.fromkeys(_KEYS[:2])
    with pytest.raises(LookupError):
        _writes.changes(broken, no_account, {}, order, {})
    with pytest.raises(OSError, match="runtime gone"):
        _writes.changes(broken, no_account, {_KEYS[0]: Pubkey(_KEYS[0])}, order, {})
    with pytest.raises(TypeError):
        _writes.changes(broken, no_account, {}, list(order), {})
    with pytest.raises(TypeError):
        _writes.changes(broken, no_account, {})
