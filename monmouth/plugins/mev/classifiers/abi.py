"""Solidity ABI call data, decoded by hand: a selector, then 32-byte words.

mev-inspect-py decodes call data with eth-abi 2 and treats any decoding failure as "this ABI does
not describe the call", moving on to the next ABI. Which calls count as swaps and transfers
therefore depends on exactly what fails to decode, so this decoder is as strict as eth-abi 2 is,
and no stricter:

- a word that is read past the end of the data fails (eth-abi: `InsufficientDataBytes`), and so
  does a dynamic offset or length too large to seek to (eth-abi: `OverflowError`);
- padding must be empty: the high bytes of `uint<M>` and `address`, the sign extension of
  `int<M>`, the low bytes of `bytes<M>`, the tail of `bytes` and `string` after their length,
  and `bool` must be exactly 0 or 1 (eth-abi: `NonEmptyPaddingBytes`);
- bytes after the last argument are ignored, offsets need not be word-aligned nor point past the
  head: eth-abi 2 does not check either.

Callers may rely on: addresses come back as lower-case `0x` hex strings, integers as `int`, `bool`
as `bool`, `bytes`/`bytes<M>` as `bytes`, `string` as `str`, arrays and tuples as tuples; every
failure raises `AbiDecodeError` and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TypeAlias

import msgspec

AbiValue: TypeAlias = "int | bool | str | bytes | tuple[AbiValue, ...]"
"""One decoded argument."""

WORD = 32


class AbiDecodeError(ValueError):
    """The data is not a valid encoding of the given types."""


class AbiParam(msgspec.Struct, frozen=True):
    """One named input of a function, with its canonical type (`uint256`, `address[]`, ...)."""

    name: str
    type: str


class AbiFunction(msgspec.Struct, frozen=True):
    """A contract function: its name, inputs and 4-byte selector.

    The selector is given rather than computed (that would need keccak-256); the tests check each
    one against its signature.
    """

    name: str
    inputs: tuple[AbiParam, ...]
    selector: bytes

    @property
    def signature(self) -> str:
        """The canonical signature, e.g. `transfer(address,uint256)`: what classifiers key on."""
        return f"{self.name}({','.join(param.type for param in self.inputs)})"

    def decode_inputs(self, params: bytes) -> dict[str, AbiValue]:
        """Decode the arguments (the call data after the selector) into a dict by input name.

        Raises AbiDecodeError when `params` is not a valid encoding of the inputs.
        """
        values = decode_arguments(tuple(param.type for param in self.inputs), params)
        return {param.name: value for param, value in zip(self.inputs, values, strict=True)}


def function(name: str, selector: str, *inputs: tuple[str, str]) -> AbiFunction:
    """Build an AbiFunction from a hex selector and `(name, type)` pairs."""
    for _, type_str in inputs:
        _parse_type(type_str)  # fail at import time on a malformed type, not on first use
    return AbiFunction(
        name=name,
        inputs=tuple(AbiParam(param_name, type_str) for param_name, type_str in inputs),
        selector=bytes.fromhex(selector.removeprefix("0x")),
    )


def decode_arguments(types: Sequence[str], data: bytes) -> tuple[AbiValue, ...]:
    """Decode `data` as the ABI encoding of a tuple of `types` (what follows a selector)."""
    decoder = _tuple_type(tuple(types))
    value, _ = decoder.read(data, 0)
    assert isinstance(value, tuple)
    return value


# --- the decoders, one per kind of type -------------------------------------------------------


def _word(data: bytes, pos: int) -> bytes:
    if pos < 0 or pos + WORD > len(data):
        raise AbiDecodeError(f"needs 32 bytes at offset {pos}, the data has {len(data)}")
    return data[pos : pos + WORD]


def _uint256(data: bytes, pos: int) -> int:
    return int.from_bytes(_word(data, pos), "big")


class _Type:
    """A parsed ABI type. `read` decodes its encoding starting at `pos`.

    For a dynamic type `pos` is where its tail starts, which is also the frame that offsets inside
    it are relative to; for a static type it is where its inline encoding starts. `read` returns
    the value and the position just after the inline encoding (meaningless for dynamic types).
    """

    dynamic: bool = False

    def read(self, data: bytes, pos: int) -> tuple[AbiValue, int]:
        raise NotImplementedError


class _Uint(_Type):
    def __init__(self, bits: int) -> None:
        self.bits = bits

    def read(self, data: bytes, pos: int) -> tuple[AbiValue, int]:
        value = _uint256(data, pos)
        if value >> self.bits:
            raise AbiDecodeError(f"uint{self.bits} at offset {pos} has non-empty padding")
        return value, pos + WORD


class _Int(_Type):
    def __init__(self, bits: int) -> None:
        self.bits = bits

    def read(self, data: bytes, pos: int) -> tuple[AbiValue, int]:
        value = int.from_bytes(_word(data, pos), "big", signed=True)
        # Padding must be the sign extension: the 256-bit value must fit in `bits` signed bits.
        limit = 1 << (self.bits - 1)
        if not -limit <= value < limit:
            raise AbiDecodeError(f"int{self.bits} at offset {pos} has non-empty padding")
        return value, pos + WORD


class _Address(_Type):
    def read(self, data: bytes, pos: int) -> tuple[AbiValue, int]:
        word = _word(data, pos)
        if any(word[:12]):
            raise AbiDecodeError(f"address at offset {pos} has non-empty padding")
        return "0x" + word[12:].hex(), pos + WORD


class _Bool(_Type):
    def read(self, data: bytes, pos: int) -> tuple[AbiValue, int]:
        value = _uint256(data, pos)
        if value > 1:
            raise AbiDecodeError(f"bool at offset {pos} is neither 0 nor 1")
        return value == 1, pos + WORD


class _FixedBytes(_Type):
    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, data: bytes, pos: int) -> tuple[AbiValue, int]:
        word = _word(data, pos)
        if any(word[self.size :]):
            raise AbiDecodeError(f"bytes{self.size} at offset {pos} has non-empty padding")
        return word[: self.size], pos + WORD


class _Bytes(_Type):
    dynamic = True

    def __init__(self, text: bool) -> None:
        self.text = text

    def read(self, data: bytes, pos: int) -> tuple[AbiValue, int]:
        length = _uint256(data, pos)
        start = pos + WORD
        padded = -(-length // WORD) * WORD
        if start + padded > len(data):
            raise AbiDecodeError(f"{length} bytes at offset {start} run past the data")
        if any(data[start + length : start + padded]):
            raise AbiDecodeError(f"bytes at offset {start} have non-empty padding")
        raw = data[start : start + length]
        if not self.text:
            return raw, start + padded
        try:
            return raw.decode("utf-8"), start + padded
        except UnicodeDecodeError as exc:
            raise AbiDecodeError(f"string at offset {start} is not UTF-8") from exc


class _Sequence(_Type):
    """Tuples and fixed-size arrays: components one after another, offsets relative to `pos`."""

    def __init__(self, components: tuple[_Type, ...]) -> None:
        self.components = components
        self.dynamic = any(component.dynamic for component in components)

    def read(self, data: bytes, pos: int) -> tuple[AbiValue, int]:
        return _read_sequence(self.components, data, pos)


class _DynamicArray(_Type):
    dynamic = True

    def __init__(self, item: _Type) -> None:
        self.item = item

    def read(self, data: bytes, pos: int) -> tuple[AbiValue, int]:
        length = _uint256(data, pos)
        start = pos + WORD
        # Every item takes at least one word of head; eth-abi would run out of data item by item.
        if length * WORD > len(data) - start:
            raise AbiDecodeError(f"{length} array items at offset {start} run past the data")
        return _read_sequence((self.item,) * length, data, start)


def _read_sequence(components: tuple[_Type, ...], data: bytes, frame: int) -> tuple[AbiValue, int]:
    values: list[AbiValue] = []
    pos = frame
    for component in components:
        if component.dynamic:
            offset = _uint256(data, pos)
            value, _ = component.read(data, frame + offset)
            pos += WORD
        else:
            value, pos = component.read(data, pos)
        values.append(value)
    return tuple(values), pos


# --- parsing type strings ---------------------------------------------------------------------


@cache
def _tuple_type(types: tuple[str, ...]) -> _Sequence:
    return _Sequence(tuple(_parse_type(type_str) for type_str in types))


@cache
def _parse_type(type_str: str) -> _Type:
    if type_str.endswith("]"):
        open_at = type_str.rfind("[")
        dimension = type_str[open_at + 1 : -1]
        item = _parse_type(type_str[:open_at])
        if dimension == "":
            return _DynamicArray(item)
        if not dimension.isdigit():
            raise ValueError(f"bad array dimension in ABI type {type_str!r}")
        return _Sequence((item,) * int(dimension))
    if type_str.startswith("(") and type_str.endswith(")"):
        return _tuple_type(tuple(_split_components(type_str[1:-1])))
    if type_str == "address":
        return _Address()
    if type_str == "bool":
        return _Bool()
    if type_str in ("bytes", "string"):
        return _Bytes(text=type_str == "string")
    for prefix, limit in (("uint", 256), ("int", 256), ("bytes", 32)):
        if type_str.startswith(prefix) and type_str[len(prefix) :].isdigit():
            size = int(type_str[len(prefix) :])
            if prefix == "bytes" and 1 <= size <= limit:
                return _FixedBytes(size)
            if prefix != "bytes" and size % 8 == 0 and 8 <= size <= limit:
                return _Uint(size) if prefix == "uint" else _Int(size)
    raise ValueError(f"unsupported ABI type {type_str!r}")


def _split_components(inner: str) -> list[str]:
    if inner == "":
        return []
    parts: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(inner):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(inner[start:index])
            start = index + 1
    parts.append(inner[start:])
    return parts
