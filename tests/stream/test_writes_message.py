"""`writes_message` (the publisher's encoder of `writes`) keeps the last value written of each
account across blocks, and reuses its encoding as the `before` of the account's next write:
whatever blocks come (a value before a block that is not the last one written, as after a
revert, or a value too large to keep), it gives the bytes of the reference, `writes_body`."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from monmouth.core.records import BlockRecord
from monmouth.rust_svm.accounts import encode_account_fields
from monmouth.stream import segments
from monmouth.stream.schema import AccountBody, encode
from monmouth.stream.segments import _BlockData, writes_body, writes_message

_KEYS = [bytes([i]) * 32 for i in range(1, 5)]
_OWNERS = [bytes(32), b"\x06" * 32]


def _value(lamports: int, big: bool) -> bytes:
    data = b"\x01" * (segments._WRITTEN_BYTES + 1) if big else b""
    return encode_account_fields(lamports, _OWNERS[lamports % 2], False, 0, data)


# A block: the values before it (of the keys it writes) and its writes, as (key, lamports, big).
_WRITE = st.tuples(st.sampled_from(_KEYS), st.integers(0, 3), st.booleans())
_BLOCK = st.tuples(
    st.dictionaries(
        st.sampled_from(_KEYS), st.none() | st.tuples(st.integers(0, 3), st.booleans())
    ),
    st.lists(_WRITE, max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_BLOCK, max_size=6), st.booleans())
def test_writes_message_is_writes_body_across_blocks(
    blocks: list[tuple[dict[bytes, tuple[int, bool] | None], list[tuple[bytes, int, bool]]]],
    fresh: bool,
) -> None:
    if fresh:
        segments._written.clear()
    for number, (prior, writes) in enumerate(blocks):
        before = {key: None if v is None else _value(*v) for key, v in prior.items()}
        for key, _, _ in writes:
            before.setdefault(key, None)
        record = BlockRecord(number, b"h" * 32, b"p" * 32, 0, b"c" * 32, 0, 0, 0, 0, 0)
        logged = [(key, _value(lamports, big), -1) for key, lamports, big in writes]
        data = _BlockData(record, None, [], [], [], logged, list(before.items()))
        assert writes_message(data, []) == msgspec.Raw(encode(writes_body(data)))


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=32, max_size=32),
    st.integers(0, 2**64 - 1),
    st.one_of(st.sampled_from([bytes(32), b"\xff" * 32]), st.binary(min_size=32, max_size=32)),
    st.booleans(),
    st.integers(0, 2**64 - 1),
    st.one_of(
        st.binary(max_size=300),
        st.sampled_from([255, 256, 65535, 65536]).map(lambda n: b"\x05" * n),
    ),
)
def test_write_fields_are_an_encoded_account_body(
    pubkey: bytes, lamports: int, owner: bytes, executable: bool, rent_epoch: int, data: bytes
) -> None:
    """The publisher's hand-made entries are `AccountBody`'s encoding without its map header,
    over every size class of MessagePack integers, strings (base58 names of 32 to 44 characters)
    and binaries."""
    raw = encode_account_fields(lamports, owner, executable, rent_epoch, data)
    body = AccountBody(
        segments._b58(pubkey), lamports, segments._b58(owner), executable, rent_epoch, data
    )
    assert segments._write_fields(segments._name(pubkey), raw) == encode(body)[1:]
