"""Frames over a child process's pipes: each payload preceded by its length (8 bytes, little
endian). The node runs some work in child processes that it talks to over their stdin and
stdout (the rag plugin's summariser, the stream's publisher), so that their Python does not hold
the interpreter lock the node's executor needs; this is their one framing.
"""

from __future__ import annotations

import os
import threading
from typing import IO, Protocol

__all__ = [
    "IMPLEMENTATION",
    "FrameWriter",
    "FrameWriterPy",
    "frame",
    "frame_writer",
    "receive_frame",
    "receive_frame_into",
    "send_frame",
]

_HEADER = 8


class FrameWriter(Protocol):
    """Frames written to a file descriptor in the background, one at a time
    (`_pipes.FrameWriter`, or `FrameWriterPy` without the C extension)."""

    def send(self, payload: bytes | bytearray, /) -> None:
        """Start writing one frame (after the one before is written); `payload` must not
        change until `wait`."""

    def wait(self) -> None:
        """Until the frame sent is written; OSError if its write failed."""


try:
    from monmouth.core import _pipes
except ImportError:  # built without a C compiler: `FrameWriterPy`
    _pipes = None  # type: ignore[assignment]
#: "c" where frames are written without the interpreter lock (`core/_pipes.c`).
IMPLEMENTATION = "python" if _pipes is None else "c"


def _write_fd(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class FrameWriterPy:
    """`_pipes.FrameWriter` in Python (the reference): each frame written on a thread of its
    own, which needs the interpreter lock between its writes."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def _write(self, payload: bytes | bytearray) -> None:
        try:
            _write_fd(self._fd, _header(payload))
            _write_fd(self._fd, payload)
        except OSError as exc:
            self._error = exc

    def send(self, payload: bytes | bytearray, /) -> None:
        self.wait()
        self._thread = threading.Thread(
            target=self._write, args=(payload,), name="monmouth-frames", daemon=True
        )
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error


def frame_writer(fd: int) -> FrameWriter:
    """A `FrameWriter` for `fd`: on a native thread that never takes the interpreter lock
    where the C extension is built (a Python thread sending a large frame waited for the lock
    while the main thread executed, up to a quarter of a second), else `FrameWriterPy`."""
    if _pipes is not None:
        return _pipes.FrameWriter(fd)
    return FrameWriterPy(fd)


def _header(payload: bytes | bytearray) -> bytes:
    """A frame's header: the payload's length."""
    return len(payload).to_bytes(_HEADER, "little")


def frame(payload: bytes) -> bytes:
    """`payload` with its length before it."""
    return _header(payload) + payload


def send_frame(stream: IO[bytes], payload: bytes | bytearray) -> None:
    """Write one frame and flush it. The header and the payload are written apart: joining
    them would copy the payload, with the interpreter lock held (large frames from a thread
    that must not wait for the lock: `frame_writer`)."""
    stream.write(_header(payload))
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
