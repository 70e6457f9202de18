"""The inbox codec: every message-level rule of docs/protocol.md section 1."""

from __future__ import annotations

import pytest

from monmouth.core import inbox
from monmouth.core.reasons import Reason

RECIPIENT = bytes(range(32))


def test_deposit() -> None:
    data = inbox.encode_deposit(RECIPIENT)
    assert data == b"\x01\x01" + RECIPIENT
    assert inbox.decode(data, 3 * 10**9 + 999) == inbox.Deposit(RECIPIENT, 3)


@pytest.mark.parametrize(
    ("data", "value", "reason"),
    [
        (b"", 0, Reason.UNKNOWN_VERSION),
        (b"\x01", 0, Reason.UNKNOWN_VERSION),
        (b"\x02\x00\x01\x00\xff", 0, Reason.UNKNOWN_VERSION),
        (b"\x01\x02" + RECIPIENT, 10**9, Reason.UNKNOWN_KIND),
        (b"\x01\x01" + RECIPIENT[:31], 10**9, Reason.MALFORMED_DEPOSIT),
        (b"\x01\x01" + RECIPIENT + b"\x00", 10**9, Reason.MALFORMED_DEPOSIT),
        (b"\x01\x01" + RECIPIENT, 10**9 - 1, Reason.EMPTY_DEPOSIT),
        (b"\x01\x01" + RECIPIENT, 0, Reason.EMPTY_DEPOSIT),
        (b"\x01\x00", 0, Reason.MALFORMED_BATCH),  # no transactions
        (b"\x01\x00\x05\x00abc", 0, Reason.MALFORMED_BATCH),  # runs past the end
        (b"\x01\x00\x00\x00", 0, Reason.MALFORMED_BATCH),  # zero length
        (b"\x01\x00\x01\x00a\x01", 0, Reason.MALFORMED_BATCH),  # a dangling byte
        (b"\x01\x00" + (1233).to_bytes(2, "little") + bytes(1233), 0, Reason.MALFORMED_BATCH),
    ],
)
def test_rejections(data: bytes, value: int, reason: Reason) -> None:
    assert inbox.decode(data, value) == inbox.Rejected(reason)


def test_batch_round_trip_and_size_limit() -> None:
    txs = [b"a", bytes(1232), b"xyz"]
    assert inbox.decode(inbox.encode_batch(txs), 0) == inbox.Batch(tuple(txs))
    with pytest.raises(ValueError, match="1233 bytes"):
        inbox.encode_batch([bytes(1233)])
    with pytest.raises(ValueError, match="32 bytes"):
        inbox.encode_deposit(b"short")
