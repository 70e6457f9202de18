"""The hand-written ABI decoder: values, and exactly eth-abi 2's strictness (what fails decides
which calls mev-inspect-py classifies)."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from monmouth.plugins.mev.classifiers.abi import AbiDecodeError, decode_arguments, function
from monmouth.plugins.mev.classifiers.registry import ALL_CLASSIFIER_SPECS

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def test_every_selector_is_the_keccak_of_its_signature() -> None:
    checked = 0
    for spec in ALL_CLASSIFIER_SPECS:
        for fn in spec.functions:
            assert fn.selector == keccak(text=fn.signature)[:4], (spec.abi_name, fn.signature)
            checked += 1
    assert checked >= 10


def test_every_classified_signature_is_a_function_of_its_spec() -> None:
    for spec in ALL_CLASSIFIER_SPECS:
        signatures = {fn.signature for fn in spec.functions}
        assert set(spec.classifiers) <= signatures, spec.abi_name


def test_uniswap_v2_swap_arguments() -> None:
    data = encode(["uint256", "uint256", "address", "bytes"], [0, 12345, ALICE, b"\x01\x02\x03"])
    assert decode_arguments(["uint256", "uint256", "address", "bytes"], data) == (
        0,
        12345,
        ALICE,
        b"\x01\x02\x03",
    )


def test_uniswap_v3_swap_arguments_with_a_negative_amount() -> None:
    types = ["address", "bool", "int256", "uint160", "bytes"]
    values = [BOB, True, -(10**18), 2**159, b""]
    assert decode_arguments(types, encode(types, values)) == tuple(values)


def test_tuples_arrays_and_small_types() -> None:
    types = ["(address,uint128,bytes32)", "address[]", "int128", "bytes4", "string", "uint8[2]"]
    values = [
        (ALICE, 7, b"\x11" * 32),
        [ALICE, BOB],
        -3,
        b"\xde\xad\xbe\xef",
        "héllo",
        [1, 2],
    ]
    decoded = decode_arguments(types, encode(types, values))
    assert decoded == (
        (ALICE, 7, b"\x11" * 32),
        (ALICE, BOB),
        -3,
        b"\xde\xad\xbe\xef",
        "héllo",
        (1, 2),
    )


def test_function_decodes_inputs_by_name() -> None:
    transfer = function("transfer", "0xa9059cbb", ("recipient", "address"), ("amount", "uint256"))
    assert transfer.signature == "transfer(address,uint256)"
    assert transfer.decode_inputs(encode(["address", "uint256"], [BOB, 5])) == {
        "recipient": BOB,
        "amount": 5,
    }


def test_trailing_bytes_are_ignored() -> None:
    data = encode(["address", "uint256"], [BOB, 5]) + b"\xff" * 7
    assert decode_arguments(["address", "uint256"], data) == (BOB, 5)


def test_offsets_need_not_be_aligned_or_past_the_head() -> None:
    # eth-abi 2 follows any offset inside the data; so does the port.
    assert decode_arguments(["bytes"], word(0)) == (b"",)
    unaligned = word(33) + b"\x00" + word(1) + b"z" + b"\x00" * 31
    assert decode_arguments(["bytes"], unaligned) == (b"z",)


@pytest.mark.parametrize(
    ("types", "data", "why"),
    [
        (["uint256"], b"\x00" * 31, "short word"),
        (["address"], b"\x01" + b"\x00" * 11 + bytes(20), "address padding"),
        (["uint160"], word(2**160), "uint160 overflow"),
        (["uint8"], word(256), "uint8 overflow"),
        (["bool"], word(2), "bool neither 0 nor 1"),
        (["int128"], word(2**127), "int128 positive overflow"),
        (["int128"], b"\xff" * 16 + b"\x00" * 16, "int128 bad sign extension"),
        (["bytes4"], b"\xde\xad\xbe\xef" + b"\x01" + b"\x00" * 27, "bytes4 padding"),
        (["bytes"], word(32) + word(3) + b"abc" + b"\x01" + b"\x00" * 28, "bytes padding"),
        (["bytes"], word(32) + word(40) + b"\x00" * 32, "bytes past the data"),
        (["bytes"], word(2**255), "offset too large to seek"),
        (["bytes"], word(96), "offset past the data"),
        (["bytes"], word(32) + word(2**256 - 1), "length too large"),
        (["address[]"], word(32) + word(2**200), "array length too large"),
        (["string"], word(32) + word(1) + b"\xff" + b"\x00" * 31, "string not UTF-8"),
    ],
)
def test_invalid_encodings_fail(types: list[str], data: bytes, why: str) -> None:
    with pytest.raises(AbiDecodeError):
        decode_arguments(types, data)


def test_sign_extended_negative_int128_decodes() -> None:
    assert decode_arguments(["int128"], (-5).to_bytes(32, "big", signed=True)) == (-5,)


def test_unsupported_types_fail_when_the_function_is_built() -> None:
    for bad in ("uint7", "uint264", "bytes33", "fixed128x18", "address[x]"):
        with pytest.raises(ValueError, match="ABI type"):
            function("f", "0x00000000", ("a", bad))
