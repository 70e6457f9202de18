"""`monmouth.core.b58.encode` against the reference package, at every length it takes."""

from __future__ import annotations

import sys

import base58
from hypothesis import given
from hypothesis import strategies as st

from monmouth.core import b58


@given(st.binary(max_size=80))
def test_encode_matches_the_base58_package(raw: bytes) -> None:
    assert b58.encode(raw) == base58.b58encode(raw).decode()


@given(st.binary(min_size=32, max_size=32))
def test_32_byte_values_take_the_fast_path_with_the_same_text(raw: bytes) -> None:
    assert b58.encode(raw) == base58.b58encode(raw).decode()


def test_leading_zero_bytes_are_ones() -> None:
    assert b58.encode(bytes(32)) == "1" * 32
    assert b58.encode(b"\x00\x00\x01" + bytes(29)).startswith("11")


def test_the_node_takes_the_fast_path() -> None:
    """Where solders is loaded (every node), 32-byte values are encoded by its `Hash`."""
    import solders.hash

    assert "solders.hash" in sys.modules
    assert b58.encode(bytes(range(32))) == str(solders.hash.Hash(bytes(range(32))))


def test_key_names_are_base58_and_bounded() -> None:
    from monmouth.core.b58 import KeyNames

    names = KeyNames(3)
    keys = [bytes([i]) * 32 for i in range(5)]
    assert [names(k) for k in keys] == [b58.encode(k) for k in keys]
    # Cleared when full: never more than `size` entries held.
    assert 0 < len(names.names) <= 3
    assert names(keys[4]) == base58.b58encode(keys[4]).decode()
