"""`core.pipes`: frames written by `send_frame` read back whole by `receive_frame` and, into one
reused buffer, by `receive_frame_into`; a stream that ends inside a frame is EOFError."""

from __future__ import annotations

import io

import pytest

from monmouth.core.pipes import receive_frame, receive_frame_into, send_frame


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
