"""Frames over a child process's pipes: each payload preceded by its length (8 bytes, little
endian). The node runs some work in child processes that it talks to over their stdin and
stdout (the rag plugin's summariser, the stream's publisher), so that their Python does not hold
the interpreter lock the node's executor needs; this is their one framing.
"""

from __future__ import annotations

from typing import IO

__all__ = ["frame", "receive_frame", "send_frame"]

_HEADER = 8


def frame(payload: bytes) -> bytes:
    """`payload` with its length before it."""
    return len(payload).to_bytes(_HEADER, "little") + payload


def send_frame(stream: IO[bytes], payload: bytes) -> None:
    """Write one frame and flush it. The header and the payload are written apart: joining
    them would copy the payload (a group for the store's writer process is tens of MB), with
    the interpreter lock held."""
    stream.write(len(payload).to_bytes(_HEADER, "little"))
    stream.write(payload)
    stream.flush()


def receive_frame(stream: IO[bytes]) -> bytes:
    """The next frame's payload. Raises EOFError when the stream ends (before or inside a
    frame)."""
    return _read(stream, int.from_bytes(_read(stream, _HEADER), "little"))


def _read(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the stream ended")
    return data
