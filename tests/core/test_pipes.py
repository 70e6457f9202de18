"""`core.pipes`: frames written by `send_frame` read back whole by `receive_frame` and, into one
reused buffer, by `receive_frame_into`; a stream that ends inside a frame is EOFError. Frames
written in the background (`FrameWriter`, in C and in Python) arrive whole and in order, a
reader gone is an error, and the C writer needs no interpreter lock."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
import threading
import time

import pytest

from monmouth.core import pipes
from monmouth.core.pipes import FrameWriter, receive_frame, receive_frame_into, send_frame


def test_frames_read_back_whole_and_into_one_buffer() -> None:
    payloads: list[bytes | bytearray] = [
        b"",
        b"x" * 5,
        bytes(range(256)) * 400,
        b"y" * 3,
        bytearray(b"z" * 70_000),
    ]
    out = io.BytesIO()
    for payload in payloads:
        send_frame(out, payload)
    raw = out.getvalue()
    stream = io.BufferedReader(io.BytesIO(raw))
    assert [receive_frame(stream) for _ in payloads] == [bytes(p) for p in payloads]
    stream = io.BufferedReader(io.BytesIO(raw))
    buffer = bytearray()
    for payload in payloads:
        with receive_frame_into(stream, buffer) as view:
            assert view.tobytes() == bytes(payload)
    assert len(buffer) == 102_400  # the largest frame's size, kept for the next ones
    with pytest.raises(EOFError):
        receive_frame_into(stream, buffer)


def test_a_frame_cut_short_is_eof() -> None:
    out = io.BytesIO()
    send_frame(out, b"a" * 100)
    cut = out.getvalue()[:-1]
    with pytest.raises(EOFError):
        receive_frame_into(io.BufferedReader(io.BytesIO(cut)), bytearray())
    with pytest.raises(EOFError):
        receive_frame(io.BufferedReader(io.BytesIO(cut)))


@pytest.fixture(params=["c", "python"])
def writer_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "c" and pipes.IMPLEMENTATION != "c":
        pytest.skip("built without the C extension")
    kind: str = request.param
    return kind


def make_writer(kind: str, fd: int) -> FrameWriter:
    return pipes.frame_writer(fd) if kind == "c" else pipes.FrameWriterPy(fd)


def test_frames_written_in_the_background_arrive_whole_and_in_order(writer_kind: str) -> None:
    payloads: list[bytes | bytearray] = [b"", b"x" * 10, os.urandom(5 << 20), bytearray(b"abc")]
    read_end, write_end = os.pipe()
    got: list[bytes] = []

    def read() -> None:
        with open(read_end, "rb") as stream:
            got.extend(receive_frame(stream) for _ in payloads)

    reader = threading.Thread(target=read)
    reader.start()
    writer = make_writer(writer_kind, write_end)
    for payload in payloads:
        writer.send(payload)  # waits for the frame before
    writer.wait()
    reader.join(timeout=30)
    os.close(write_end)
    assert got == [bytes(p) for p in payloads]


def test_a_reader_gone_is_an_error_once(writer_kind: str) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    writer = make_writer(writer_kind, write_end)
    writer.send(b"x" * 100)
    with pytest.raises(BrokenPipeError):
        writer.wait()
    writer.wait()  # told once
    os.close(write_end)


#: Reads one frame from stdin, then says so.
_READER = """
import sys
from monmouth.core.pipes import receive_frame
sys.stdout.write("ready")
sys.stdout.flush()
receive_frame(sys.stdin.buffer)
sys.stdout.write("done")
sys.stdout.flush()
"""


def test_the_c_writer_needs_no_interpreter_lock() -> None:
    """While this thread runs Python without letting the lock go (a switch interval of 10 s),
    the C writer writes a 16 MB frame through a pipe all the same (its thread taking the lock
    to write fails this). In the node, a Python thread that needed the lock between its writes
    got it late among the node's threads, and the store's writer process its group with it."""
    if pipes.IMPLEMENTATION != "c":
        pytest.skip("built without the C extension")
    child = subprocess.Popen(
        [sys.executable, "-c", _READER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.read(5) == b"ready"
    before = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    try:
        writer = pipes.frame_writer(child.stdin.fileno())
        writer.send(bytes(16 << 20))
        spin = time.monotonic() + 2.0
        while time.monotonic() < spin:  # Python, never letting the lock go
            pass
        # Without a timeout: waiting would let the lock go.
        done = bool(select.select([child.stdout], [], [], 0)[0])
        writer.wait()
    finally:
        sys.setswitchinterval(before)
        child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()
    assert done, "the frame was not written while this thread held the lock"
