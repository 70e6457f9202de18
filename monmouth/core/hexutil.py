"""Ethereum JSON-RPC quantities and data, as a node returns them (`0x`-prefixed hex)."""

from __future__ import annotations


def to_quantity(value: int) -> str:
    """Encode a non-negative integer as a JSON-RPC quantity (`0x0`, `0x1a`)."""
    return hex(value)


def parse_quantity(text: object, field: str, limit: int | None = None, where: str = "") -> int:
    """Decode a JSON-RPC quantity; raises ValueError naming the field (`where + field`: the
    name is built only when the check fails, since parsing an L1 block checks some ten fields
    per transaction) when it is not one, or when it is `limit` or more."""
    # 66 characters hold any 256-bit quantity; longer text is refused before int() parses it.
    if not isinstance(text, str) or not text.startswith("0x") or not 3 <= len(text) <= 66:
        raise ValueError(f"{where}{field} is not a hex quantity: {_short(text)}")
    try:
        value = int(text, 16)
    except ValueError:
        raise ValueError(f"{where}{field} is not a hex quantity: {_short(text)}") from None
    if limit is not None and value >= limit:
        raise ValueError(f"{where}{field} is out of range: {text} (must be below {hex(limit)})")
    return value


def _short(value: object) -> str:
    """`value` for an error message, cut so that a huge input makes a one-line message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def to_data(value: bytes) -> str:
    """Encode bytes as JSON-RPC data (`0x`-prefixed, lower-case)."""
    return "0x" + value.hex()


def parse_data(text: object, field: str, size: int | None = None, where: str = "") -> bytes:
    """Decode JSON-RPC data, checking the size in bytes when `size` is given; errors name the
    field as `where + field` (built only when the check fails)."""
    if not isinstance(text, str) or not text.startswith("0x") or len(text) % 2:
        raise ValueError(f"{where}{field} is not 0x-prefixed hex data: {_short(text)}")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise ValueError(f"{where}{field} is not 0x-prefixed hex data: {_short(text)}") from None
    if size is not None and len(raw) != size:
        raise ValueError(f"{where}{field} must be {size} bytes, got {len(raw)}")
    return raw
