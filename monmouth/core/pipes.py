"""Frames over a child process's pipes: each payload preceded by its length (8 bytes, little
endian). The node runs some work in child processes that it talks to over their stdin and
stdout (the rag plugin's summariser, the stream's publisher), so that their Python does not hold
the interpreter lock the node's executor needs; this is their one framing.
"""

from __future__ import annotations

from typing import IO

__all__ = ["frame", "receive_frame", "receive_frame_into", "send_frame"]

_HEADER = 8


def frame(payload: bytes) -> bytes:
    """`payload` with its length before it."""
    return len(payload).to_bytes(_HEADER, "little") + payload


def send_frame(stream: IO[bytes], payload: bytes | bytearray) -> None:
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


def receive_frame_into(stream: IO[bytes], buffer: bytearray) -> memoryview:
    """`receive_frame`, into `buffer` (grown as needed, never shrunk): a view of the payload,
    valid until the next call. A reader of large frames (the store's writer process) then
    touches the same pages each time instead of new ones. Raises EOFError as `receive_frame`."""
    size = int.from_bytes(_read(stream, _HEADER), "little")
    if len(buffer) < size:
        buffer.extend(bytes(size - len(buffer)))
    view = memoryview(buffer)[:size]
    done = 0
    while done < size:
        got = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not got:
            raise EOFError("the stream ended")
        done += got
    return view


def _read(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the stream ended")
    return data
