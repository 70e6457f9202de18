"""Types of the C extension `_segments.c`: the stream's `writes` message
(`monmouth.stream.segments`)."""

from collections.abc import Sequence

import msgspec

def writes_message(
    number: int,
    writes: msgspec.Raw | bytes,
    written_before: msgspec.Raw | bytes,
    signatures: Sequence[str | None],
    /,
) -> bytes:
    """The MessagePack of `WritesBody(number, ...)` from a block segment's two arrays
    (`segments.writes_message`, the reference)."""

def b58_key(key: bytes, /) -> str:
    """A 32-byte key in base58, as the extension names keys."""
