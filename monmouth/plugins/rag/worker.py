"""A block's documents and vectors, made in the node's process or in a child process.

`block_documents` is the whole computation: the accounts' states before each transaction
(from what the index knew before the block and the block's own writes), a document per executed
transaction (`documents.summarize_changes`), their vectors, and the balances and undo record the
block leaves. It is pure Python for the most part, and in the node's process it holds the GIL
that the node's own executor needs, so the two would take turns on one core while the other
idles. `Summarizer` runs it in a child process (`python -m monmouth.plugins.rag.worker`), one
block at a time, in the order the plugin sends them: the plugin's thread sends the block's
payloads (msgpack over the child's stdin); the child reads the prior states from LMDB, makes
the block, writes it to LMDB itself (a second writer of the environment; LMDB serialises
writers), and answers with the documents' ids and vectors only, which the plugin hands to the
HNSW index. Nothing of the block's records passes through the node's process, so none of it
holds the node's GIL.

The plugin sends the next blocks before the last one's answer is back (`RagIndex` keeps a few
in flight); the child takes them in order and each block is stored before the next is read, so
every block is made on the balances the blocks before it left. The plugin writes LMDB itself
(a block made in its own process, a revert, a seed) only when no block is in flight.

The child runs the same functions as the node's process would, so the documents and vectors are
the same bytes either way (a test compares them).
"""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import msgspec
import numpy as np

from monmouth.core.payloads import AccountUpdate, TransactionInfo
from monmouth.core.pipes import receive_frame, send_frame
from monmouth.plugins.rag.documents import ABSENT, Changes, Document, Prior, summarize_changes
from monmouth.plugins.rag.embed import Embedder, HashingEmbedder
from monmouth.plugins.rag.store import RagStore

if TYPE_CHECKING:
    from monmouth.plugins.rag.embed import Vectors

__all__ = [
    "Block",
    "Job",
    "Summarizer",
    "Written",
    "block_documents",
    "update_keys",
]

_NO_CHANGES: Changes = {}


class Block(NamedTuple):
    """What indexing a block makes (`block_documents`)."""

    documents: list[Document]
    #: The executed transactions' signatures, as the documents'.
    signatures: list[bytes]
    vectors: Vectors
    #: Each written account's state after the block.
    balances: dict[bytes, Prior]
    #: Each written account's state before it (None: unknown), for a revert.
    undo: list[tuple[bytes, Prior | None]]


def update_keys(updates: Iterable[AccountUpdate]) -> list[bytes]:
    """The accounts a block wrote, each once, in write order."""
    return list(dict.fromkeys(update.pubkey for update in updates))


def block_documents(
    first_id: int,
    slot: int,
    block_hash: bytes,
    transactions: Sequence[TransactionInfo],
    updates: Sequence[AccountUpdate],
    known: Mapping[bytes, Prior],
    *,
    complete: bool,
    max_log_lines: int,
    embedder: Embedder,
) -> Block:
    """Index one block in memory (module docstring).

    :param known: what the index knew of the written accounts before the block (those it knew).
    :param complete: the index has seen every write: an account it does not know did not exist.
    """
    stored: dict[bytes, Prior | None] = {key: known.get(key) for key in update_keys(updates)}
    unknown = ABSENT if complete else None
    current: dict[bytes, Prior | None] = {
        key: unknown if prior is None else prior for key, prior in stored.items()
    }
    # Each transaction's changes (`documents.changes_of`), all in one pass over the writes.
    per_tx: dict[bytes, dict[bytes, tuple[Prior | None, Prior]]] = {}
    for update in updates:
        key = update.pubkey
        after = Prior.of(update)
        signature = update.signature
        if signature is not None:
            changes = per_tx.get(signature)
            if changes is None:
                changes = per_tx[signature] = {}
            earlier = changes.get(key)
            changes[key] = (current[key] if earlier is None else earlier[0], after)
        current[key] = after
    documents: list[Document] = []
    signatures: list[bytes] = []
    words: list[list[str]] = []
    for tx in transactions:
        if tx.status == "rejected" or tx.signature is None:
            continue
        document, said = summarize_changes(
            first_id + len(documents),
            tx,
            slot,
            block_hash,
            per_tx.get(tx.signature, _NO_CHANGES),
            max_log_lines=max_log_lines,
        )
        documents.append(document)
        signatures.append(tx.signature)
        words.append(said)
    if isinstance(embedder, HashingEmbedder):
        vectors = embedder.embed_words(words)
    else:
        vectors = embedder.embed([doc.summary for doc in documents])
    balances = {key: value for key, value in current.items() if value is not None}
    return Block(documents, signatures, vectors, balances, list(stored.items()))


class Job(msgspec.Struct, array_like=True):
    """One block's payloads, for the child."""

    first_id: int
    slot: int
    block_hash: bytes
    max_log_lines: int
    complete: bool
    transactions: list[TransactionInfo]
    updates: list[AccountUpdate]


class Written(msgspec.Struct, array_like=True):
    """The child's answer: the block is in LMDB; its documents' ids and vectors (float32, row
    after row) for the HNSW index, and the ids of documents the write replaced (an indexed
    block at the same height that a revert the plugin missed left behind)."""

    ids: list[int]
    vectors: bytes
    removed: list[int]
    error: str | None = None


class Summarizer:
    """The child process (module docstring), started on first use; `close` ends it.

    :param path: the index's directory (`<data_dir>/rag`), which the child writes too.
    :param dimensions: the hashing embedder's, as the index's.
    :param retention: the index's (`RagStore`).
    """

    def __init__(self, path: Path, dimensions: int, retention: int = 256) -> None:
        self.path = path
        self.dimensions = dimensions
        self.retention = retention
        self._process: subprocess.Popen[bytes] | None = None
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Written).decode

    def start(self) -> None:
        """Start the child now (else the first `submit` does)."""
        self._started()

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "monmouth.plugins.rag.worker",
                    str(self.path),
                    str(self.dimensions),
                    str(self.retention),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        return self._process

    def run(self, job: Job) -> Written:
        """`block_documents` of `job` in the child, stored. Raises RuntimeError when the
        child fails or dies."""
        self.submit(job)
        return self.receive()

    def submit(self, job: Job) -> None:
        """Send `job`; its answer comes from `receive`, in the order the jobs were sent (one
        thread may submit while another receives). The child stores the blocks in that
        order."""
        process = self._started()
        assert process.stdin is not None
        try:
            send_frame(process.stdin, self._encode(job))
        except OSError as exc:
            raise RuntimeError(f"the rag summarizer process failed: {exc}") from exc

    def receive(self) -> Written:
        """The answer to the oldest job not yet received. Raises RuntimeError when the child
        failed on it or died."""
        process = self._process
        if process is None or process.stdout is None:
            raise RuntimeError("the rag summarizer process is not running")
        try:
            done = self._decode(receive_frame(process.stdout))
        except (OSError, EOFError, ValueError, msgspec.DecodeError) as exc:
            raise RuntimeError(f"the rag summarizer process failed: {exc}") from exc
        if done.error is not None:
            raise RuntimeError(f"the rag summarizer process failed: {done.error}")
        return done

    def close(self) -> None:
        """End the child (it exits when its input ends)."""
        process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(path: Path, dimensions: int, retention: int) -> None:
    """The child's loop: a job in, the block stored and its ids and vectors out, until the
    input ends."""
    embedder = HashingEmbedder(dimensions)
    decode = msgspec.msgpack.Decoder(Job).decode
    encode = msgspec.msgpack.Encoder().encode
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Nothing else may write to the channel: prints and warnings go to stderr.
    sys.stdout = sys.stderr
    # The parent decides when the child ends (by closing its input): a Ctrl-C or a SIGTERM to
    # the process group must not end it while the node drains the plugin's queue.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # A block makes tens of thousands of short-lived containers (documents, words, tuples),
    # freed by their reference counts; at the default thresholds the cycle collector ran every
    # 700 of them and its full passes walked the long-lived caches. Collecting less often took
    # the child from 10.5k to 12.1k documents/s (bench_rag's stages); cycles are still freed.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    store: RagStore | None = None
    try:
        while True:
            try:
                raw = receive_frame(stdin)
            except EOFError:
                return
            try:
                job = decode(raw)
                if store is None:
                    # Opened on the first job: the plugin has created the environment by then.
                    store = RagStore(
                        path, embedder=embedder.name, dimensions=dimensions, retention=retention
                    )
                block = block_documents(
                    job.first_id,
                    job.slot,
                    job.block_hash,
                    job.transactions,
                    job.updates,
                    store.priors(update_keys(job.updates)),
                    complete=job.complete,
                    max_log_lines=job.max_log_lines,
                    embedder=embedder,
                )
                removed = store.write_block(
                    job.slot,
                    job.block_hash,
                    block.documents,
                    block.vectors,
                    block.balances,
                    block.undo,
                    block.signatures,
                )
                vectors = np.ascontiguousarray(block.vectors, dtype=np.float32)
                done = Written([doc.id for doc in block.documents], vectors.tobytes(), removed)
            except Exception as exc:  # reported to the parent, which raises it
                done = Written([], b"", [], f"{type(exc).__name__}: {exc}")
            send_frame(stdout, encode(done))
    finally:
        if store is not None:
            store.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
