"""The publisher's `writes` message in C (`_segments.c`) is byte for byte the reference's
(`writes_message`, itself held to `writes_body`), from the segment's bytes as the executor
stores them: on generated blocks (accounts written several times in a block and across blocks,
closed and 0-lamport accounts, values before the block present or absent, every MessagePack
integer width, data past 65,535 bytes, deposits and transactions without a signature), on a
block of more than 65,535 writes, on the segment's arrays as the C write log (`_writes.c`)
writes them, and through `Expander` (the publisher's path). Malformed arrays raise, at every
truncation, rather than read past the buffer."""

from __future__ import annotations

import random

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from solders.signature import Signature

from monmouth.core.payloads import TransactionInfo
from monmouth.core.records import BlockRecord
from monmouth.rust_svm.accounts import encode_account_fields
from monmouth.stream import segments
from monmouth.stream.schema import encode
from monmouth.stream.segments import (
    Expander,
    _BlockData,
    _RawBlockData,
    block_segment,
    writes_body,
    writes_message,
    writes_message_c,
)

_segments = pytest.importorskip(
    "monmouth.stream._segments", reason="the _segments extension is not built"
)

# Keys with leading zero bytes (base58 '1's) and without; a few, so that keys recur.
_KEYS = [bytes(32), bytes(31) + b"\x01", b"\xff" * 32, *(bytes([i]) * 32 for i in range(1, 5))]
_WIDTHS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1]
_U64 = st.sampled_from(_WIDTHS) | st.integers(0, 2**64 - 1)
_DATA = st.binary(max_size=64) | st.sampled_from([255, 256, 65535, 65536, 70_000]).map(
    lambda n: b"\x07" * n
)
_VALUE = st.builds(
    encode_account_fields,
    _U64,  # lamports (0: a closed account reads so)
    st.sampled_from(_KEYS) | st.binary(min_size=32, max_size=32),  # owner
    st.booleans(),
    _U64,  # rent epoch
    _DATA,
)
_KEY = st.sampled_from(_KEYS) | st.binary(min_size=32, max_size=32)


def _tx(signature: bytes | None, index: int) -> TransactionInfo:
    return TransactionInfo(signature, "ok", None, None, 5000, 0, (), (), b"t" * 32, index, 0)


def _raw(data: _BlockData) -> tuple[_BlockData, _RawBlockData]:
    """`data` as the segment stores it, decoded both ways."""
    stored = encode(data)
    return (
        msgspec.msgpack.decode(stored, type=_BlockData),
        msgspec.msgpack.decode(stored, type=_RawBlockData),
    )


def _names(data: _BlockData) -> list[str | None]:
    return [None if t.signature is None else str(Signature(t.signature)) for t in data.txs]


def _check(data: _BlockData) -> None:
    plain, raw = _raw(data)
    names = _names(plain)
    expected = writes_message(plain, names)
    assert writes_message_c(raw, names) == expected
    assert expected == msgspec.Raw(encode(writes_body(plain)))


# A block: its number, the values before it (of some keys it writes, and others), its writes
# as (key, value, transaction or -1), and its transactions' signatures (None: malformed).
_BLOCK = st.tuples(
    st.sampled_from(_WIDTHS[:-1]),
    st.lists(st.tuples(_KEY, st.none() | _VALUE), max_size=6),
    st.lists(st.tuples(_KEY, _VALUE, st.integers(-1, 2)), max_size=12),
    st.lists(st.none() | st.binary(min_size=64, max_size=64), min_size=3, max_size=3),
)


# Found by this test: an owner whose name takes the C name cache's entry of its account's.
_COLLIDING_OWNER = bytes.fromhex("79c2d2dd0c7b4a") + bytes(17) + bytes.fromhex("7cdac36455e788b9")


@settings(max_examples=400, deadline=None)
@given(st.lists(_BLOCK, min_size=1, max_size=4))
@example(
    [
        (
            0,
            [],
            [(b"\xff" * 32, encode_account_fields(0, _COLLIDING_OWNER, False, 0, b""), 0)],
            [None, None, None],
        )
    ]
)
def test_c_is_the_reference_on_generated_blocks(
    blocks: list[
        tuple[
            int,
            list[tuple[bytes, bytes | None]],
            list[tuple[bytes, bytes, int]],
            list[bytes | None],
        ]
    ],
) -> None:
    """Blocks in a row: the reference keeps values across blocks (`_written`), the C one
    does not, and the bytes are the same whatever came before."""
    for number, before, writes, signatures in blocks:
        record = BlockRecord(number, b"h" * 32, b"p" * 32, 0, b"c" * 32, 0, 0, 0, 0, 0)
        txs = [_tx(s, i) for i, s in enumerate(signatures)]
        _check(_BlockData(record, None, [], txs, [], writes, before))


def test_more_than_65535_writes_and_big_values() -> None:
    """Array headers of 32 bits, a data of 70 kB as a value and as a `before`, repeated keys."""
    rng = random.Random(21)
    keys = [rng.randbytes(32) for _ in range(300)]
    owners = [bytes(32), rng.randbytes(32)]
    big = encode_account_fields(1, owners[1], True, 2, rng.randbytes(70_000))
    writes = [(keys[0], big, -1), (keys[0], big, 0)]
    for i in range(70_000):
        # One owner in four never seen before: some share the C name cache's entry with their
        # account (4,096 entries), whose name must survive the owner's lookup.
        owner = rng.randbytes(32) if i % 4 == 0 else rng.choice(owners)
        value = encode_account_fields(
            rng.choice(_WIDTHS), owner, False, i, rng.randbytes(rng.randrange(40))
        )
        writes.append((rng.choice(keys), value, rng.randrange(-1, 2)))
    before = [(k, None if i % 3 == 0 else big) for i, k in enumerate(keys[:200])]
    record = BlockRecord(2**40, b"h" * 32, b"p" * 32, 0, b"c" * 32, 0, 0, 0, 0, 0)
    _check(_BlockData(record, 7, [], [_tx(None, 0), _tx(b"s" * 64, 1)], [], writes, before))


def test_the_arrays_as_the_c_write_log_stores_them() -> None:
    """`_writes.c` writes the segment's arrays itself (`msgspec.Raw`): read as they are."""
    from monmouth.core.eventlog import Writes

    rng = random.Random(5)
    keys = [rng.randbytes(32) for _ in range(20)]
    entries = [
        (
            rng.choice(keys),
            encode_account_fields(rng.randrange(2**40), bytes(32), False, 0, b""),
            -1,
        )
        for _ in range(50)
    ]
    before = [(k, None) for k in dict.fromkeys(k for k, _, _ in entries)]
    record = BlockRecord(9, b"h" * 32, b"p" * 32, 0, b"c" * 32, 0, 0, 0, 0, 0)
    logged = Writes(msgspec.Raw(encode(entries)), msgspec.Raw(encode(before)))
    segment = block_segment(record, 8, [], [], (), logged)
    raw = msgspec.msgpack.decode(segment.data, type=_RawBlockData)
    plain = segments.decode_block_data(segment.data)
    assert writes_message_c(raw, []) == writes_message(plain, [])


@pytest.mark.parametrize("count", [0, 3])
def test_the_expander_sends_the_same_messages(count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The publisher's path (`Expander.messages`), with the writes and without."""
    rng = random.Random(count)
    keys = [rng.randbytes(32) for _ in range(4)]
    txs = [_tx(rng.randbytes(64), i) for i in range(count)]
    entries = [
        (rng.choice(keys), encode_account_fields(i, bytes(32), False, 0, b"x" * i), i % 4 - 1)
        for i in range(count * 2)
    ]
    record = BlockRecord(3, b"h" * 32, b"p" * 32, 0, b"c" * 32, count, 0, count, 0, 0)
    from monmouth.core.eventlog import Writes

    logged = Writes(entries, [(k, None) for k in dict.fromkeys(k for k, _, _ in entries)])
    got = {}
    for implementation in ("python", "c"):
        monkeypatch.setattr(segments, "IMPLEMENTATION", implementation)
        for writes in (logged, None):
            segment = block_segment(record, 2, [], txs, (), writes)
            got[implementation, writes is None] = Expander(None).messages(10, segment)
    assert got["c", False] == got["python", False]
    assert got["c", True] == got["python", True]
    kinds = [m[1] for m in got["c", False][0]]
    assert kinds.count("writes") == 1
    assert "writes" not in [m[1] for m in got["c", True][0]]


def test_malformed_arrays_raise() -> None:
    """Every truncation of a segment's arrays, a key of the wrong size, a value shorter than
    the account header, an index past the transactions: an exception, never a crash."""
    value = encode_account_fields(300, b"\x02" * 32, True, 70_000, b"abc")
    writes = encode([(b"\x01" * 32, value, 0), (b"\x01" * 32, value, -1)])
    before = encode([(b"\x01" * 32, value), (b"\x03" * 32, None)])
    assert _segments.writes_message(1, writes, before, ["s"])
    for cut in range(len(writes)):
        with pytest.raises(ValueError, match="malformed"):
            _segments.writes_message(1, writes[:cut], before, ["s"])
    for cut in range(len(before)):
        with pytest.raises(ValueError, match="malformed"):
            _segments.writes_message(1, writes, before[:cut], ["s"])
    for bad in (
        encode([(b"\x01" * 31, value, 0)]),
        encode([(b"\x01" * 32, value[:48], 0)]),
        encode([(b"\x01" * 32, value)]),
        encode([["\x01" * 32, value, 0]]),
        encode([(b"\x01" * 32, value, 0.5)]),
        writes + b"\x00",
    ):
        with pytest.raises(ValueError, match="malformed"):
            _segments.writes_message(1, bad, before, ["s"])
    with pytest.raises(OverflowError):
        _segments.writes_message(-1, writes, before, ["s"])
    with pytest.raises(IndexError):
        _segments.writes_message(1, writes, before, [])
    with pytest.raises(TypeError):
        _segments.writes_message(1, writes, before, [b"s"])


def test_base58_names_are_solders() -> None:
    from solders.pubkey import Pubkey

    rng = random.Random(58)
    keys = [*_KEYS, *(bytes(i) + rng.randbytes(32 - i) for i in range(33))]
    keys += [rng.randbytes(32) for _ in range(2000)]
    for key in keys:
        assert _segments.b58_key(key) == str(Pubkey.from_bytes(key))


def _int_forms(x: int) -> list[bytes]:
    """Every MessagePack encoding of `x` (not only msgspec's shortest)."""
    forms = [encode(x)]
    for code, size, signed in (
        (0xCC, 1, False),
        (0xCD, 2, False),
        (0xCE, 4, False),
        (0xCF, 8, False),
        (0xD0, 1, True),
        (0xD1, 2, True),
        (0xD2, 4, True),
        (0xD3, 8, True),
    ):
        try:
            forms.append(bytes([code]) + x.to_bytes(size, "big", signed=signed))
        except OverflowError:
            continue
    return forms


@pytest.mark.parametrize("tx", [-1, 0, 127, 128, 300, 70_000])
def test_transaction_indexes_in_every_integer_form(tx: int) -> None:
    """A write's transaction index as any encoder may write it: the same message as
    msgspec's shortest form gives the reference."""
    key = b"\x09" * 32
    value = encode_account_fields(5, bytes(32), False, 0, b"d")
    names: list[str | None] = [None] * 70_001
    names[tx] = "5" * 88
    record = BlockRecord(1, b"h" * 32, b"p" * 32, 0, b"c" * 32, 0, 0, 0, 0, 0)
    plain = _BlockData(record, None, [], [], [], [(key, value, tx)], [(key, None)])
    expected = writes_message(plain, names)
    before = encode([(key, None)])
    for form in _int_forms(tx):
        raw = b"\x91\x93" + encode(key) + encode(value) + form
        assert msgspec.msgpack.decode(raw)[0][2] == tx
        assert msgspec.Raw(_segments.writes_message(1, raw, before, names)) == expected
