"""Fuzzing the wire-transaction reader: the C reading (`_wire.c`, `wire.layout`) and its Python
reference (`wire.layout_py`) agree on every input, malformed ones included. Both return the same
layout, or both raise ValueError (never IndexError, struct.error or a crash). The node only reads
transactions the runtime accepted; agreeing on garbage too is what makes the reference one."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageAddressTableLookup, MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from monmouth.rust_svm import wire

pytestmark = pytest.mark.skipif(wire.IMPLEMENTATION != "c", reason="built without _wire.c")


def _real(version: int, n_ix: int, data_len: int, lookups: bool) -> bytes:
    payer, other = Keypair.from_seed(bytes(32)), Keypair.from_seed(bytes([1] * 32))
    program = Pubkey(bytes([7] * 32))
    ixs = [
        Instruction(
            program,
            bytes(range(data_len % 256)) * (1 + data_len // 256),
            [
                AccountMeta(other.pubkey(), True, True),
                AccountMeta(Pubkey(bytes([i + 9] * 32)), False, i % 2 == 0),
            ],
        )
        for i in range(n_ix)
    ]
    blockhash = Hash(bytes([3] * 32))
    if version == 0:
        table = [MessageAddressTableLookup(Pubkey(bytes([5] * 32)), bytes([0]), bytes([1]))]
        message: Message | MessageV0 = MessageV0.try_compile(payer.pubkey(), ixs, [], blockhash)
        if lookups:
            message = MessageV0(
                message.header,
                message.account_keys,
                message.recent_blockhash,
                message.instructions,
                table,
            )
    else:
        message = Message.new_with_blockhash(ixs, payer.pubkey(), blockhash)
    return bytes(VersionedTransaction(message, [payer, other] if n_ix else [payer]))


REAL = [
    _real(v, n, d, lk)
    for v in (0, 1)
    for n, d in ((0, 0), (1, 3), (2, 200))
    for lk in ((False, True) if v == 0 else (False,))
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real transaction, cut, with bytes overwritten, inserted or removed: inputs that get
    deep into the layout before something is wrong."""
    raw = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["set", "insert", "delete", "cut"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "set" and raw:
            raw[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF]) | st.integers(0, 255))
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del raw[at : at + draw(st.integers(1, 40))]
        else:
            del raw[at:]
    return bytes(raw)


def _read(reader: object, raw: bytes) -> wire.Layout | str:
    try:
        return reader(raw)  # type: ignore[operator,no-any-return]
    except ValueError:
        return "ValueError"


@given(st.one_of(st.binary(max_size=600), mutated()))
@example(b"")
@example(b"\x00")  # no signatures, then nothing
@example(b"\x00\x00\x00\x00\x00" + bytes(32))  # no keys, no instructions count
# Header counts beyond the keys; found by this test: the reference sliced keys from the end.
@example(b"\x00\x03\x02\x00\x01" + bytes(64) + b"\x00")  # more signers than keys
@example(b"\x00\x01\x02\x00\x03" + bytes(128) + b"\x00")  # more read-only signers than signers
@example(b"\x00\x00\x00\x05\x03" + bytes(128) + b"\x00")  # more read-only keys than keys
@example(b"\x00\x00\x00\x00\x00" + bytes(31))  # a blockhash cut short
@example(b"\x00\x00\x00\x00\x00" + bytes(32) + b"\x01\x00\x05")  # an instruction past the end
@example(b"\x00\x80\x00\x00\x00\x00" + bytes(32) + b"\x00")  # v0 without its lookups count
@example(b"\x80\x80\x80\x01")  # a compact-u16 of four bytes
def test_c_and_python_agree(raw: bytes) -> None:
    c = _read(wire.layout, raw)
    py = _read(wire.layout_py, raw)
    assert c == py


def test_real_transactions_read_alike() -> None:
    for raw in REAL:
        layout = wire.layout(raw)
        assert layout == wire.layout_py(raw)
        tx = VersionedTransaction.from_bytes(raw)
        assert layout.signatures == tuple(bytes(s) for s in tx.signatures)
        assert list(layout.keys) == [bytes(k) for k in tx.message.account_keys]
