"""The store's group commits in a child process, so that the node's main thread executes the
next group while LMDB writes this one.

A group commit (`Store.write_commits`: the puts of every record a group of blocks writes, the
page writes and the fsync) was a fifth to a third of the node's main thread, which sets its
ingest rate (docs/performance.md). A thread cannot take it off: py-lmdb takes the interpreter
lock back after every put. A process can: LMDB lets one process write while others read, and
its write lock is shared between processes.

- node -> child, over the child's stdin: a `WriterStart` frame (how the node opened the
  store), then one frame per group: its `BlockCommit`s, MessagePack. The node sends a group only
  once the child confirmed the one before (`Node` keeps one group in flight).
- child -> node, over its stdout: a `WriterReply` once the store is open (or why not), then one
  per group once its transaction is committed (and, with `sync`, on disk): the first stream
  sequence number of each block, or the error that aborted the transaction.

What the node reports finished (heights, stream, hooks) it reports after the reply, so a
crash of either process loses nothing that was reported. A child that dies leaves the store
as its last commit left it; the node then stops with `WriterError`. The child ends when its
input ends (the node closed it or died), after the group it may be writing; it holds the data
directory's writer lock (`state.WRITER_LOCK`) until then, and a node that opens the store for
writing waits for it, so that a node restarted at once never reads a head still moving.

Frames are framed by `monmouth.core.pipes`. The child imports only the store's modules.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, NoReturn

import msgspec

from monmouth.core.errors import DataDirError, StartError, WriterError
from monmouth.core.pipes import frame_writer, receive_frame, receive_frame_into, send_frame
from monmouth.core.state import BlockCommit, Store, writer_lock

__all__ = ["StoreWriter", "WriterReply", "WriterStart", "serve"]

#: The pipe to the child holds this much (Linux `F_SETPIPE_SZ`; the default, 64 KiB, would
#: take a 20 MB group in hundreds of turns). Best effort: a smaller limit keeps the default.
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031


class WriterStart(msgspec.Struct, frozen=True):
    """How the node opened its store: the child opens it the same way."""

    path: str
    map_size: int
    sync: bool
    retention: int
    stream_blocks: int
    index_signatures: bool
    index_owners: bool
    index_tokens: bool


class WriterReply(msgspec.Struct, frozen=True):
    """The child's answer: the store is open (`firsts` empty), a group is committed (`firsts`:
    each block's first stream sequence number), or neither (`error`; `data_dir`: a
    `DataDirError`, which the node raises as such)."""

    firsts: list[int] = []
    error: str | None = None
    data_dir: bool = False


_encoder = msgspec.msgpack.Encoder()
_encode = _encoder.encode
_decode_start = msgspec.msgpack.Decoder(WriterStart).decode
_decode_reply = msgspec.msgpack.Decoder(WriterReply).decode
_decode_group = msgspec.msgpack.Decoder(list[BlockCommit]).decode


class StoreWriter:
    """The node's side of the writer process: `submit` a group, then `result` for its
    sequence numbers. One group at a time.

    The child starts at once and opens the store while the node goes on; the first `submit`
    waits until it is ready. A native thread writes each group into the pipe
    (`pipes.frame_writer`: it never waits for the interpreter lock), so that `submit` costs the
    node's thread only the encoding.

    :param store: the node's open store; the child opens the same directory the same way.
    :param start_timeout: seconds the child may take to open the store.
    """

    def __init__(self, store: Store, *, start_timeout: float = 60.0) -> None:
        start = WriterStart(
            str(store.path),
            store.map_size,
            store.sync,
            store.retention,
            store.stream_blocks,
            store.index_signatures,
            store.index_owners,
            store.index_tokens,
        )
        self._start_timeout = start_timeout
        # The path in the arguments is only for `ps`: the child reads `WriterStart`.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "monmouth.core.storewriter", str(store.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin: IO[bytes] = self._process.stdin
        self._stdout: IO[bytes] = self._process.stdout
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._stdin.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
        self._ready = False
        self._in_flight = False
        self._closed = False
        self._buffer = bytearray()
        # Frames go out on a thread that needs no interpreter lock (`pipes.frame_writer`):
        # the main thread only encodes. `_buffer` is not resized until the frame is written.
        self._frames = frame_writer(self._stdin.fileno())
        self._frames.send(_encode(start))

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._process.pid

    def _wait_ready(self) -> None:
        ready, _, _ = select.select([self._stdout], [], [], self._start_timeout)
        if not ready:
            self._kill()
            raise StartError(
                f"the store's writer process did not start in {self._start_timeout} s (is the "
                "machine overloaded?); run again"
            )
        reply = self._reply()
        if reply.error is not None:
            self._kill()
            if reply.data_dir:
                raise DataDirError(reply.error)
            raise StartError(f"the store's writer process failed at start: {reply.error}")
        self._ready = True

    def submit(self, commits: Sequence[BlockCommit]) -> None:
        """Send a group to be committed in one write transaction (returns once it is queued
        for the pipe)."""
        if self._in_flight:
            raise RuntimeError("a group is in flight: take its result first")
        if self._closed:
            self._died()
        if not self._ready:
            self._wait_ready()
        # Encoded into one buffer, group after group: a new one would be new pages to touch
        # (a group is tens of MB). It was all written before the child answered, and the next
        # group is encoded only after the answer.
        try:
            self._frames.wait()
        except OSError:
            self._died()
        _encoder.encode_into(commits, self._buffer)
        self._frames.send(self._buffer)
        self._in_flight = True

    def result(self) -> list[int]:
        """Wait until the group sent is committed; its blocks' first sequence numbers.

        Raises DataDirError (the disk, as `Store.write_commits` says) or WriterError (the child
        failed otherwise, or died); either way nothing of the group is reported by the caller.
        """
        if not self._in_flight:
            raise RuntimeError("no group in flight")
        self._in_flight = False
        reply = self._reply()
        if reply.error is not None:
            if reply.data_dir:
                raise DataDirError(reply.error)
            raise WriterError(
                f"the store's writer process failed to commit blocks: {reply.error}; the store "
                "is as its last commit left it: run again to continue from there"
            )
        return reply.firsts

    def _reply(self) -> WriterReply:
        try:
            return _decode_reply(receive_frame(self._stdout))
        except (EOFError, OSError):
            self._died()

    def _died(self) -> NoReturn:
        code = self._process.poll()
        if code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._process.wait(timeout=5)
        self._kill()
        raise WriterError(
            f"the store's writer process ended (exit code {code}) before confirming a commit; "
            "what it did not confirm was not reported finished, and the store is as its last "
            "commit left it: run again to continue from there"
        )

    def close(self) -> None:
        """End the child once it has written what it was sent (idempotent)."""
        if self._closed:
            return
        self._closed = True
        # The last frame was written long before, unless the child stopped reading: then it
        # would hold the write for ever, so it is killed after a minute.
        watchdog = threading.Timer(60, self._process.kill)
        watchdog.start()
        try:
            with contextlib.suppress(OSError):
                self._frames.wait()
        finally:
            watchdog.cancel()
        with contextlib.suppress(OSError):
            self._stdin.close()  # the child's input ends: it ends
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._kill()
        with contextlib.suppress(OSError):
            self._stdout.close()

    def _kill(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)
        with contextlib.suppress(OSError):
            self._frames.wait()  # a frame being written failed when the child died
        for stream in (self._stdin, self._stdout):
            with contextlib.suppress(OSError):
                stream.close()


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """The child: open the store as `WriterStart` says, then commit each group it is sent and
    answer, until its input ends."""
    try:
        start = _decode_start(receive_frame(stdin))
    except EOFError:
        return 0
    try:
        store = Store(
            Path(start.path),
            map_size=start.map_size,
            sync=start.sync,
            retention=start.retention,
            stream_blocks=start.stream_blocks,
            index_signatures=start.index_signatures,
            index_owners=start.index_owners,
            index_tokens=start.index_tokens,
        )
    except DataDirError as exc:
        send_frame(stdout, _encode(WriterReply(error=str(exc), data_dir=True)))
        return 1
    except Exception as exc:
        send_frame(stdout, _encode(WriterReply(error=f"{type(exc).__name__}: {exc}")))
        return 1
    # Held for life: a node that starts on this directory waits until this process ended
    # (`state.wait_for_writer`), so that it never reads a head this process is still moving
    # (the group it was sent when its node was killed).
    writer_lock(Path(start.path))
    # Nothing here forms a cycle: a group's decoded records go by reference counting. At the
    # default thresholds the cyclic collector walked them again and again while a group was
    # decoded and written (a third of this process's samples, py-spy).
    gc.disable()
    with store:
        send_frame(stdout, _encode(WriterReply()))
        buffer = bytearray()  # each group is read into it (`receive_frame_into`)
        while True:
            try:
                payload = receive_frame_into(stdin, buffer)
            except EOFError:
                return 0
            try:
                with payload:  # released before the buffer is read into again
                    commits = _decode_group(payload)  # copies every bytes value out of it
                firsts = store.write_commits(commits)
            except DataDirError as exc:
                reply = WriterReply(error=str(exc), data_dir=True)
            except Exception as exc:
                reply = WriterReply(error=f"{type(exc).__name__}: {exc}")
            else:
                reply = WriterReply(firsts)
            send_frame(stdout, _encode(reply))
            if reply.error is not None:
                gc.collect()  # an exception's traceback and frames form a cycle


def main() -> None:
    # Ctrl-C reaches the whole process group: the node decides when the child ends (it closes
    # its input), so that a group being written is finished and answered.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Frames go to the node on the original stdout; anything else printed (a library's log
    # line) goes to stderr, where it cannot break a frame.
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.exit(serve(sys.stdin.buffer, frames))


if __name__ == "__main__":
    main()
