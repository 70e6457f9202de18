"""Fuzzing the inbox codec (docs/protocol.md section 1): `decode` never raises, whatever the
calldata and value; what it accepts re-encodes to the very same bytes (one encoding per message,
so every instance reads it alike); what it rejects carries a message-level reason the protocol
documents; and `decode(encode(x)) == x` for every batch and deposit the encoders accept."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monmouth.core import inbox
from monmouth.core.reasons import Reason

PROTOCOL = Path(__file__).parents[2] / "docs" / "protocol.md"
#: The reasons a whole message may get (section 1's table); the others are per transaction.
MESSAGE_REASONS = {
    Reason.UNKNOWN_VERSION,
    Reason.UNKNOWN_KIND,
    Reason.MALFORMED_BATCH,
    Reason.MALFORMED_DEPOSIT,
    Reason.EMPTY_DEPOSIT,
}

wei = st.one_of(
    st.integers(0, 2**256 - 1),
    st.integers(0, 3 * inbox.WEI_PER_LAMPORT),
    # Around the u64 lamport limit, where a deposit turns malformed.
    st.integers(-2, 2).map(lambda d: (inbox.MAX_LAMPORTS + 1) * inbox.WEI_PER_LAMPORT + d),
)


@st.composite
def framed(draw: st.DrawFn) -> bytes:
    """Calldata shaped like a batch or deposit, with each part possibly wrong: the generator
    reaches the decoder's branches far more often than random bytes do."""
    version = draw(st.sampled_from([inbox.VERSION, inbox.VERSION, 0x00, 0x02, 0xFF]))
    kind = draw(st.sampled_from([inbox.KIND_BATCH, inbox.KIND_DEPOSIT, 0x02, 0xFF]))
    body = b""
    if kind == inbox.KIND_DEPOSIT:
        body = draw(st.binary(min_size=30, max_size=34))
    else:
        for _ in range(draw(st.integers(0, 4))):
            payload = draw(st.binary(min_size=0, max_size=40))
            length = draw(
                st.one_of(
                    st.just(len(payload)),
                    st.sampled_from([0, inbox.MAX_TX_SIZE, inbox.MAX_TX_SIZE + 1, 0xFFFF]),
                    st.integers(0, 0xFFFF),
                )
            )
            body += length.to_bytes(2, "little") + payload
        body += draw(st.binary(max_size=2))  # a dangling byte or a cut length
    return bytes((version, kind)) + body


calldata = st.one_of(st.binary(max_size=4000), framed())


@given(calldata, wei)
@example(b"", 0)
@example(b"\x01\x00", 0)
@example(b"\x01\x01" + bytes(32), (inbox.MAX_LAMPORTS + 1) * inbox.WEI_PER_LAMPORT)
def test_decode_never_raises_and_is_canonical(data: bytes, value: int) -> None:
    msg = inbox.decode(data, value)
    if isinstance(msg, inbox.Batch):
        assert msg.transactions
        assert inbox.encode_batch(msg.transactions) == data
    elif isinstance(msg, inbox.Deposit):
        assert inbox.encode_deposit(msg.recipient) == data
        assert msg.lamports == value // inbox.WEI_PER_LAMPORT
        assert 1 <= msg.lamports <= inbox.MAX_LAMPORTS
    else:
        assert isinstance(msg, inbox.Rejected)
        assert msg.reason in MESSAGE_REASONS


def test_every_message_reason_is_documented() -> None:
    text = PROTOCOL.read_text()
    for reason in MESSAGE_REASONS:
        assert f"| `{reason.value}` |" in text, reason


tx = st.binary(min_size=1, max_size=inbox.MAX_TX_SIZE)


@given(st.lists(tx, min_size=1, max_size=6))
def test_batch_round_trip(txs: list[bytes]) -> None:
    assert inbox.decode(inbox.encode_batch(txs), 0) == inbox.Batch(tuple(txs))


@given(st.lists(st.binary(max_size=1300), max_size=4))
@example([])  # found by this test: an empty batch encoded to calldata the decoder rejects
def test_encode_batch_refuses_what_decode_would_reject(txs: list[bytes]) -> None:
    if txs and all(0 < len(t) <= inbox.MAX_TX_SIZE for t in txs):
        assert inbox.decode(inbox.encode_batch(txs), 0) == inbox.Batch(tuple(txs))
    else:
        with pytest.raises(ValueError):
            inbox.encode_batch(txs)


@given(
    st.binary(min_size=32, max_size=32),
    st.integers(1, inbox.MAX_LAMPORTS),
    st.integers(0, inbox.WEI_PER_LAMPORT - 1),
)
def test_deposit_round_trip(recipient: bytes, lamports: int, odd_wei: int) -> None:
    value = lamports * inbox.WEI_PER_LAMPORT + odd_wei
    got = inbox.decode(inbox.encode_deposit(recipient), value)
    assert got == inbox.Deposit(recipient, lamports)
