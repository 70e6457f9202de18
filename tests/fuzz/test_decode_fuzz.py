"""Fuzzing the executor's transaction decoding: `_decode_tx` reads a legacy message as solders'
`Transaction` (LiteSVM takes it without first failing to read one) and a versioned one as
`VersionedTransaction`. It must find exactly the inputs malformed that decoding everything as
`VersionedTransaction` does, and keep the same bytes of the others: which transactions run is
consensus."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from solders.transaction import Transaction, VersionedTransaction

from fuzz.test_wire_fuzz import REAL, mutated
from monmouth.core.executor import _decode_tx


def _reference(raw: bytes) -> bytes | None:
    """The decoding before legacy messages had their own type: every message versioned."""
    try:
        tx = VersionedTransaction.from_bytes(raw)
        if bytes(tx) != raw:
            return None
        tx.sanitize()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        return None
    return bytes(tx)


def _with_extra_signature(raw: bytes) -> bytes:
    """A legacy transaction with one signature more than its header requires (the legacy
    type's `sanitize` allows that, the versioned one does not)."""
    count = raw[0]
    return bytes([count + 1]) + raw[1 : 1 + 64 * count] + bytes(64) + raw[1 + 64 * count :]


LEGACY = [raw for raw in REAL if not raw[1 + 64 * raw[0]] & 0x80]


@given(st.one_of(st.binary(max_size=600), mutated()))
@example(b"")
@example(b"\x00")
@example(_with_extra_signature(LEGACY[0]))
@example(_with_extra_signature(LEGACY[-1]))
def test_decoded_as_every_message_versioned(raw: bytes) -> None:
    parsed = _decode_tx(raw)
    expected = _reference(raw)
    assert (parsed is None) == (expected is None)
    if parsed is not None:
        assert bytes(parsed[0]) == expected == raw


def test_legacy_messages_take_the_legacy_type() -> None:
    assert LEGACY and len(LEGACY) < len(REAL)
    for raw in REAL:
        parsed = _decode_tx(raw)
        assert parsed is not None
        legacy = raw in LEGACY
        assert isinstance(parsed[0], Transaction if legacy else VersionedTransaction)
    # The rule the legacy type does not have: where its `sanitize` accepts the extra
    # signature (keys enough for it), `_decode_tx` still finds the transaction malformed.
    allowed = 0
    for raw in LEGACY:
        extra = _with_extra_signature(raw)
        try:
            Transaction.from_bytes(extra).sanitize()
            allowed += 1
        except Exception:
            pass
        assert _decode_tx(extra) is None
    assert allowed
