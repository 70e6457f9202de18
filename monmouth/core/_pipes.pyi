"""Frames written to a pipe without the interpreter lock (`_pipes.c`)."""

from typing import final

from _typeshed import FileDescriptorLike, ReadableBuffer

@final
class FrameWriter:
    def __init__(self, fd: FileDescriptorLike) -> None: ...
    def send(self, payload: ReadableBuffer, /) -> None: ...
    def wait(self) -> None: ...
