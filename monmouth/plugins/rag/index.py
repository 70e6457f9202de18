"""`RagIndex`: the documents of the executed transactions, searchable by similarity.

The Python API of the rag plugin. The plugin writes through it (`index_block`, `revert_blocks`,
`seed_accounts`); the CLI and the request socket read through it (`query`, `context`, `stats`).

Files, in `<data_dir>/rag/`: the LMDB environment (`store.py`, the truth) and `index.usearch`,
the HNSW index (`ann.py`), which the writer saves every `save_every` changed documents and when
it closes. A block's documents and vectors are made by `worker.block_documents`, in a child
process for big blocks (`IndexSettings.worker_min`), which also writes them to LMDB. The
child's blocks are pipelined: up to `IN_FLIGHT` are sent before the oldest answer is back, and
a thread of their own (`rag-collect`) hands the answers' vectors to the HNSW index. Everything
that writes here (a block made in this process, a revert, a seed) first waits until nothing is
in flight, so blocks are stored in order. Each block is written to LMDB first (one
write transaction), then to the HNSW index in memory, so after a crash the saved index may lack
documents or hold reverted ones. Opening compares the index with LMDB, by count and by a
checksum of the ids (`store.idsum`), and repairs what differs: a writer removes the extra ids
and adds the missing documents from their stored vectors (or rebuilds the index from LMDB when
the file is missing or unreadable) and saves it; a reader (read-only, while the node runs)
memory-maps the file, skips the extra ids and searches the missing ones exactly.

Queries: by text (embedded like a summary), by an example transaction (`like`: its stored
vector), or by account (the documents that name it, ranked by similarity to the account's key,
or to the text or example when one is given too), with filters on program, status and height.
A query without filters asks the HNSW index for the `k` nearest; filters that leave few
candidates (at most `EXACT_LIMIT`, known from the postings) are searched exactly among them;
other filters ask the HNSW index for more and keep those that pass, and fall back to an exact
search among all candidates when even `OVERFETCH_LIMIT` neighbours are not enough.
`exact=True` scores every candidate exactly: the reference the approximate search is measured
against.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
import numpy as np
import structlog
from numpy.typing import NDArray
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.plugins.rag.ann import VectorIndex, best, exact_top
from monmouth.plugins.rag.documents import PROGRAM_NAMES, Document, Prior
from monmouth.plugins.rag.embed import Embedder, HashingEmbedder, embedder_named
from monmouth.plugins.rag.store import RagStore, idsum
from monmouth.plugins.rag.worker import Job, Summarizer, block_documents, update_keys

if TYPE_CHECKING:
    from monmouth.core.payloads import AccountUpdate, TransactionInfo

__all__ = [
    "CONTEXT_VERSION",
    "EXACT_LIMIT",
    "INDEX_FILE",
    "IN_FLIGHT",
    "OVERFETCH_LIMIT",
    "Hit",
    "IndexSettings",
    "RagIndex",
    "Repair",
]

log = structlog.get_logger("monmouth.rag")

INDEX_FILE: Final = "index.usearch"
#: Filters that leave at most this many candidates to scan are searched exactly among them.
EXACT_LIMIT: Final = 16_384
#: The most neighbours asked of the HNSW index for a filtered query before searching exactly.
OVERFETCH_LIMIT: Final = 4096
#: Vectors inserted per hold of the HNSW lock: a query waits for at most one such slice.
ADD_SLICE: Final = 32
#: Blocks whose HNSW changes may wait for the inserting thread (then `index_block` waits).
PENDING_BLOCKS: Final = 4
#: Blocks sent to the child process and not yet answered (then `index_block` waits).
IN_FLIGHT: Final = 2
#: The format of `context`'s answer.
CONTEXT_VERSION: Final = 1
_STATUSES: Final = ("ok", "failed")
_NO_VECTORS: Final = np.zeros((0, 0), dtype=np.float32)
_NAMES_BY_KEY: Final = PROGRAM_NAMES


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """How the HNSW index is built and searched, and how often it is saved."""

    connectivity: int = 16
    expansion_add: int = 32
    expansion_search: int = 256
    #: Save the HNSW index after this many documents were added or removed since the last save.
    save_every: int = 100_000
    #: Threads an insertion uses (0: every core). One keeps the graph the same from run to run;
    #: two indexed 7,285 against 6,839 documents/s on 2 cores, but threads inserting at once
    #: link less carefully: on a small index, searches then sometimes miss an exact neighbour.
    threads: int = 1
    #: How the HNSW index stores vectors: `f16` or `i8` (quantised).
    quantization: str = "f16"
    #: Log lines kept per document.
    max_log_lines: int = 8
    #: Blocks with at least this many executed transactions are summarised and embedded in a
    #: child process (`worker.py`), off the node's GIL; 0: never (the hashing embedder only).
    worker_min: int = 64


class Hit(msgspec.Struct, frozen=True):
    """One result: the document and its similarity to the query (cosine, at most 1)."""

    score: float
    document: Document

    def to_json(self) -> dict[str, Any]:
        return {"score": round(self.score, 6), **self.document.to_json()}


class Repair(msgspec.Struct, frozen=True):
    """What opening found of the HNSW index against LMDB, and what it did about it.

    :ivar state: `ok` (they agreed), `repaired` (ids added or removed), `rebuilt` (made anew
        from LMDB), or for a reader `patched` (searched with the difference made up in memory).
    """

    state: str
    documents: int
    added: int = 0
    removed: int = 0


@dataclass(frozen=True, slots=True)
class _Filter:
    terms: tuple[bytes, ...]
    low: int
    high: int

    @property
    def empty(self) -> bool:
        return not self.terms and self.low <= 0 and self.high >= (1 << 64) - 1


class RagIndex:
    """The rag index in `path` (`<data_dir>/rag`): see the module docstring.

    :param embedder: how texts become vectors; a writer's must be the one the index was built
        with (DataDirError otherwise). A reader takes the recorded one when None.
    :param readonly: a reader: nothing is written, the HNSW file is memory-mapped.
    :param retention: blocks whose balance changes can be reverted (the node's
        `[store] retention_blocks`).
    """

    def __init__(
        self,
        path: Path,
        *,
        embedder: Embedder | None = None,
        readonly: bool = False,
        settings: IndexSettings | None = None,
        retention: int = 256,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self.settings = settings if settings is not None else IndexSettings()
        if embedder is None:
            if not readonly:
                raise ValueError("a writer needs its embedder")
            probe = RagStore(path, readonly=True)
            try:
                embedder = embedder_named(probe.meta().embedder)
            finally:
                probe.close()
        self.embedder: Embedder = embedder
        self.dimensions = embedder.dimensions
        self.store = RagStore(
            path,
            readonly=readonly,
            embedder=embedder.name,
            dimensions=embedder.dimensions,
            retention=retention,
        )
        #: Held for every use of the HNSW index (usearch is not safe for concurrent changes).
        self._lock = threading.Lock()
        meta = self.store.meta()
        self._next_id = meta.next_id
        self._changes = 0
        #: A writer's HNSW changes, applied in order by its inserting thread.
        self._jobs: queue.Queue[tuple[str, NDArray[np.uint64], NDArray[np.float32]] | None] = (
            queue.Queue(PENDING_BLOCKS)
        )
        self._failure: BaseException | None = None
        self._inserter: threading.Thread | None = None
        self._summarizer: Summarizer | None = None
        #: How many of the child's blocks are in flight; guarded by `_flight`, which `_collect`
        #: notifies when one is back.
        self._in_flight = 0
        self._flight = threading.Condition()
        self._collector: threading.Thread | None = None
        self._collect_failure: BaseException | None = None
        #: A reader's corrections of a stale HNSW file: ids to skip, documents to add.
        self._extra: frozenset[int] = frozenset()
        self._delta_ids: NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
        self._delta: NDArray[np.float16] = np.zeros((0, self.dimensions), dtype=np.float16)
        self.ann: VectorIndex | None = None
        try:
            self.repair = self._open_ann()
        except BaseException:
            self.store.close()
            raise
        if not readonly:
            self._inserter = threading.Thread(target=self._insert, name="rag-hnsw", daemon=True)
            self._inserter.start()

    # ------------------------------------------------------------------ opening

    @property
    def index_path(self) -> Path:
        return self.path / INDEX_FILE

    def _new_ann(self) -> VectorIndex:
        s = self.settings
        return VectorIndex(
            self.dimensions,
            connectivity=s.connectivity,
            expansion_add=s.expansion_add,
            expansion_search=s.expansion_search,
            threads=s.threads,
            dtype=s.quantization,
        )

    def _open_ann(self) -> Repair:
        meta = self.store.meta()
        ann = VectorIndex.load(
            self.index_path,
            self.dimensions,
            view=self.readonly,
            expansion_search=self.settings.expansion_search,
            threads=self.settings.threads,
        )
        if ann is not None:
            keys = ann.keys()
            if len(keys) == meta.count and idsum(keys) == meta.idsum:
                self.ann = ann
                return Repair("ok", meta.count)
        else:
            keys = np.zeros(0, dtype=np.uint64)
            if meta.count == 0 and not self.index_path.exists():
                self.ann = None if self.readonly else self._new_ann()
                return Repair("new", 0)
        live = self.store.live_ids()
        missing = np.setdiff1d(live, keys, assume_unique=True)
        extra = np.setdiff1d(keys, live, assume_unique=True)
        if self.readonly:
            self.ann = ann
            self._extra = frozenset(int(i) for i in extra)
            self._delta_ids = missing
            self._delta = self.store.vectors([int(i) for i in missing], self.dimensions).astype(
                np.float16
            )
            if len(missing) or len(extra):
                log.info(
                    "rag: the saved index lags the documents; searching the difference exactly",
                    missing=len(missing),
                    extra=len(extra),
                )
            return Repair("patched", len(live), len(missing), len(extra))
        state = "repaired"
        if ann is None or len(missing) + len(extra) > max(len(live), 1) // 2:
            if ann is not None:
                ann.close()
            ann = self._new_ann()
            missing, extra, state = live, np.zeros(0, dtype=np.uint64), "rebuilt"
        if len(extra):
            ann.remove(extra)
        for ids, rows in self._stored_vectors(missing):
            ann.add(ids, rows)
        self.ann = ann
        ann.save(self.index_path)
        log.warning(
            "rag: the saved index did not match the documents; " + state,
            documents=len(live),
            added=len(missing),
            removed=len(extra),
        )
        return Repair(state, len(live), len(missing), len(extra))

    def _stored_vectors(
        self, ids: NDArray[np.uint64], chunk: int = 16_384
    ) -> Iterator[tuple[NDArray[np.uint64], NDArray[np.float16]]]:
        if len(ids) == 0:
            return
        if len(ids) == self.store.meta().count:
            yield from self.store.iter_vectors(self.dimensions)
            return
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            rows = self.store.vectors([int(i) for i in part], self.dimensions)
            yield part, rows.astype(np.float16)

    def close(self) -> None:
        """Apply what is pending, save the HNSW index (a writer) and close everything."""
        with self._flight:
            self._wait_in_flight()
            summarizer, self._summarizer = self._summarizer, None
            self._flight.notify_all()  # the collector returns
        if self._collector is not None:
            self._collector.join()
            self._collector = None
        if summarizer is not None:
            summarizer.close()
        if self._inserter is not None:
            self._jobs.put(None)
            self._inserter.join()
            self._inserter = None
        with self._lock:
            if self.ann is not None:
                if not self.readonly and self._changes and self._failure is None:
                    self.ann.save(self.index_path)
                    self._changes = 0
                self.ann.close()
                self.ann = None
        self.store.close()
        self._check()

    def __enter__(self) -> RagIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self) -> None:
        """Apply what is pending, then save the HNSW index now."""
        self.flush()
        with self._lock:
            if self.ann is not None and not self.readonly:
                self.ann.save(self.index_path)
                self._changes = 0

    def flush(self) -> None:
        """Wait until every block given is stored and in the HNSW index (searchable)."""
        self._settle()
        if self._inserter is not None:
            self._jobs.join()
        self._check()

    def _check(self) -> None:
        if self._collect_failure is not None:
            failure = self._collect_failure
            raise RuntimeError(f"indexing a block failed: {failure}") from failure
        if self._failure is not None:
            raise RuntimeError(f"the HNSW index failed: {self._failure}") from self._failure

    def _settle(self) -> None:
        """Wait until no block is in flight to the child (every one sent is stored)."""
        with self._flight:
            self._wait_in_flight()
        self._check()

    def _wait_in_flight(self) -> None:
        """(Holding `_flight`.) Until no block is in flight, or the child's blocks failed."""
        while self._in_flight and self._collect_failure is None:
            self._flight.wait()

    def _fail_flight(self, exc: BaseException) -> None:
        """The child's blocks failed: keep why (the next write, flush or close raises it) and
        release whoever waits for them."""
        with self._flight:
            self._collect_failure = exc
            self._in_flight = 0
            self._flight.notify_all()

    def _collect(self) -> None:
        """The collecting thread: the child's answers, in order, handed to the HNSW thread. A
        failure is kept and raised by the next write, flush or close."""
        summarizer = self._summarizer
        assert summarizer is not None
        while True:
            with self._flight:
                while not self._in_flight:
                    if self._summarizer is None:
                        return
                    self._flight.wait()
            try:
                done = summarizer.receive()
                if done.removed:
                    self._remove(done.removed)
                if done.ids:
                    vectors = np.frombuffer(done.vectors, dtype=np.float32)
                    self._submit(
                        "add",
                        np.asarray(done.ids, dtype=np.uint64),
                        vectors.reshape(-1, self.dimensions),
                    )
            except BaseException as exc:
                self._fail_flight(exc)
                return
            with self._flight:
                self._in_flight -= 1
                self._flight.notify_all()

    def _submit(self, kind: str, ids: NDArray[np.uint64], vectors: NDArray[np.float32]) -> None:
        self._check()
        self._jobs.put((kind, ids, vectors))

    def _insert(self) -> None:
        """The inserting thread: HNSW changes in block order, in slices (so that queries
        interleave), and a save every `save_every` changed documents. usearch releases the GIL
        while it inserts, so this overlaps the worker's summaries and embeddings."""
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._failure is not None:
                    continue
                kind, ids, vectors = job
                ann = self.ann
                assert ann is not None
                if kind == "remove":
                    with self._lock:
                        ann.remove(ids)
                else:
                    for start in range(0, len(ids), ADD_SLICE):
                        with self._lock:
                            ann.add(
                                ids[start : start + ADD_SLICE], vectors[start : start + ADD_SLICE]
                            )
                self._changes += len(ids)
                if self._changes >= self.settings.save_every:
                    with self._lock:
                        ann.save(self.index_path)
                        self._changes = 0
            except BaseException as exc:  # reported by the next write, flush or close
                self._failure = exc
            finally:
                self._jobs.task_done()

    # ------------------------------------------------------------------ writing

    def index_block(
        self,
        number: int,
        block_hash: bytes,
        transactions: Sequence[TransactionInfo],
        updates: Sequence[AccountUpdate],
    ) -> int:
        """Index one committed block: a document per executed transaction, the balances its
        account writes leave; returns how many documents it makes.

        Blocks with at least `IndexSettings.worker_min` transactions are made and stored in
        the child process (`worker.py`): they are in LMDB after `flush`. Others are made and
        stored here, before this returns."""
        if self.readonly:
            raise RuntimeError("a read-only index cannot be written")
        self._check()
        worker_min = self.settings.worker_min
        count = sum(tx.status != "rejected" and tx.signature is not None for tx in transactions)
        if (
            isinstance(self.embedder, HashingEmbedder)
            and worker_min > 0
            and len(transactions) >= worker_min
        ):
            self._send(number, block_hash, transactions, updates)
        else:
            self._settle()
            self._write_here(number, block_hash, transactions, updates)
        self._next_id += count
        return count

    def _send(
        self,
        number: int,
        block_hash: bytes,
        transactions: Sequence[TransactionInfo],
        updates: Sequence[AccountUpdate],
    ) -> None:
        if self._summarizer is None:
            self._summarizer = Summarizer(self.path, self.dimensions, self.store.retention)
            self._summarizer.start()
            self._collector = threading.Thread(
                target=self._collect, name="rag-collect", daemon=True
            )
            self._collector.start()
        with self._flight:
            while self._in_flight >= IN_FLIGHT and self._collect_failure is None:
                self._flight.wait()
            self._check()
            job = Job(
                self._next_id,
                number,
                block_hash,
                self.settings.max_log_lines,
                self.store.meta().complete,
                list(transactions),
                list(updates),
            )
            self._in_flight += 1
            self._flight.notify_all()
        # Outside the lock: the collector takes earlier answers meanwhile.
        try:
            self._summarizer.submit(job)
        except RuntimeError as exc:
            self._fail_flight(exc)
            raise

    def _write_here(
        self,
        number: int,
        block_hash: bytes,
        transactions: Sequence[TransactionInfo],
        updates: Sequence[AccountUpdate],
    ) -> None:
        store = self.store
        known = store.priors(update_keys(updates))
        block = block_documents(
            self._next_id,
            number,
            block_hash,
            transactions,
            updates,
            known,
            complete=store.meta().complete,
            max_log_lines=self.settings.max_log_lines,
            embedder=self.embedder,
        )
        removed = store.write_block(
            number,
            block_hash,
            block.documents,
            block.vectors,
            block.balances,
            block.undo,
            block.signatures,
        )
        if removed:
            self._remove(removed)
        if block.documents:
            ids = np.asarray([doc.id for doc in block.documents], dtype=np.uint64)
            self._submit("add", ids, block.vectors)

    def _remove(self, ids: list[int]) -> None:
        self._submit("remove", np.asarray(ids, dtype=np.uint64), _NO_VECTORS)

    def revert_block(self, number: int, block_hash: bytes, parent_hash: bytes) -> list[int]:
        """Remove a reverted block's documents (and undo its balance changes); returns their
        ids (none when the block was not indexed)."""
        self._settle()
        removed = self.store.revert_block(number, block_hash, parent_hash) or []
        if removed:
            self._remove(removed)
        return removed

    def drop_blocks_above(self, number: int) -> int:
        """Remove every indexed block above `number` (start-up repair); returns how many."""
        self._settle()
        above = self.store.blocks_above(number)
        for height in above:
            self._drop(height)
        return len(above)

    def _drop(self, number: int) -> None:
        removed = self.store.drop_block(number)
        if removed:
            self._remove(removed)

    def seed_accounts(self, updates: Sequence[AccountUpdate]) -> None:
        """Record the accounts of a startup snapshot as the balances known now."""
        self._settle()
        self.store.seed([(u.pubkey, Prior.of(u)) for u in updates])

    # ------------------------------------------------------------------ reading

    def document(self, signature: str) -> Document | None:
        """The indexed document of a transaction (base58 signature), or None."""
        doc_id = self.store.id_of(_signature(signature))
        return None if doc_id is None else self.store.documents([doc_id])[0]

    def query(
        self,
        text: str | None = None,
        *,
        like: str | None = None,
        account: str | None = None,
        k: int = 10,
        program: str | None = None,
        status: str | None = None,
        from_height: int | None = None,
        to_height: int | None = None,
        exact: bool = False,
    ) -> list[Hit]:
        """The `k` documents most similar to the query, best first (module docstring).

        :param text: words, keys, a summary: embedded as a document's summary is.
        :param like: a transaction's signature (base58): its document is the query (and
            comes first).
        :param account: a public key (base58): only documents that name it; without `text` or
            `like`, ranked by similarity to the key itself.
        :param program: only documents that invoked it (a name of `PROGRAM_NAMES` or a key).
        :param status: only `ok` or only `failed` documents.
        :param from_height, to_height: only documents of blocks in this range (inclusive).
        :param exact: score every candidate exactly (slow; the reference).
        Raises ValueError for a malformed or contradictory query, or an unknown `like`.
        """
        if k < 1:
            raise ValueError("k must be at least 1")
        if text is not None and like is not None:
            raise ValueError("give TEXT or --like, not both")
        if text is None and like is None and account is None:
            raise ValueError("give TEXT, --like SIGNATURE or --account PUBKEY")
        for height in (from_height, to_height):
            if height is not None and not 0 <= height < 1 << 63:
                raise ValueError("heights must be non-negative block numbers")
        if status is not None and status not in _STATUSES:
            raise ValueError(f"status must be one of {', '.join(_STATUSES)}")
        terms: list[bytes] = []
        if account is not None and account in PROGRAM_NAMES:
            # A known program's key is posted under its program term (`store.doc_terms`).
            terms.append(b"p" + PROGRAM_NAMES[account].encode())
        elif account is not None:
            terms.append(b"a" + _pubkey(account))
        if program is not None:
            terms.append(b"p" + _NAMES_BY_KEY.get(program, program).encode())
        if status is not None:
            terms.append(b"s" + status.encode())
        low, high = self.store.id_range(from_height, to_height)
        filt = _Filter(tuple(terms), low, high)
        example: int | None = None
        if like is not None:
            example = self.store.id_of(_signature(like))
            if example is None:
                raise ValueError(f"no indexed transaction {like}")
            vector = self.store.vectors([example], self.dimensions)[0]
        else:
            vector = self.embedder.embed([text if text is not None else str(account)])[0]
        if low > high:
            return []
        pairs = self._search(vector, k, filt, exact)
        if example is not None and (filt.empty or self._accepted([(example, 0.0)], filt)):
            # The example is its own nearest neighbour, whatever the approximation found.
            itself = (example, float(vector @ vector))
            pairs = [itself, *(pair for pair in pairs if pair[0] != example)][:k]
        docs = self.store.documents([doc_id for doc_id, _ in pairs])
        return [
            Hit(score, doc) for (_, score), doc in zip(pairs, docs, strict=True) if doc is not None
        ]

    def context(self, text: str | None = None, *, k: int = 5, **query: Any) -> dict[str, Any]:
        """A prompt-ready pack of the top `k` results (JSON data): the query, the index's
        head, each document's facts and summary, and `prompt`, the same as one text."""
        hits = self.query(text, k=k, **query)
        meta = self.store.meta()
        asked = {"text": text, "k": k, **query}
        documents = []
        blocks = []
        for rank, hit in enumerate(hits, 1):
            doc = hit.document
            documents.append(
                {
                    "rank": rank,
                    "score": round(hit.score, 6),
                    "signature": doc.signature,
                    "slot": doc.slot,
                    "status": doc.status,
                    "programs": list(doc.programs),
                    "instructions": list(doc.instructions),
                    "signers": list(doc.signers),
                    "movements": [
                        {"account": m.account, "asset": m.asset, "delta": m.delta}
                        for m in doc.movements
                    ],
                    "error": doc.error,
                    "summary": doc.summary,
                }
            )
            blocks.append(
                f"[{rank}] score {hit.score:.3f}, slot {doc.slot}, {doc.status}\n{doc.summary}"
            )
        head = (
            None if meta.head is None else {"slot": meta.head[0], "hash": "0x" + meta.head[1].hex()}
        )
        intro = (
            "Solana transactions executed by the Monmouth node (an SVM that runs on Ethereum "
            "blocks; slot = L1 block number), most relevant first; score is the cosine "
            "similarity to the query."
        )
        return {
            "version": CONTEXT_VERSION,
            "query": {key: value for key, value in asked.items() if value is not None},
            "head": head,
            "embedder": self.embedder.name,
            "documents": documents,
            "prompt": intro + "\n\n" + "\n\n".join(blocks),
        }

    def stats(self) -> dict[str, Any]:
        """Counts and sizes (JSON data)."""
        meta = self.store.meta()
        ann = self.ann
        return {
            "documents": meta.count,
            "head": None if meta.head is None else meta.head[0],
            "embedder": meta.embedder,
            "dimensions": meta.dimensions,
            "balances_complete": meta.complete,
            "index": {
                "file": str(self.index_path),
                "size": 0 if ann is None else len(ann),
                "memory_bytes": 0 if ann is None else ann.memory_usage,
                "opened": self.repair.state,
                "unsaved_changes": self._changes,
            },
        }

    # ------------------------------------------------------------------ searching

    def _search(
        self, vector: NDArray[np.float32], k: int, filt: _Filter, exact: bool
    ) -> list[tuple[int, float]]:
        if exact:
            every = None if filt.empty else self._candidates(filt)
            return self._exact(vector, k, filt, every)
        total = self.store.meta().count
        fetch = k
        if not filt.empty:
            share, scan = self._plan(filt, total)
            # Neighbours to ask for: as many as the filters' share says, twice over.
            fetch = min(max(4 * k, 64, int(2 * k / max(share, 1e-9))), OVERFETCH_LIMIT)
            if scan <= EXACT_LIMIT:
                # Scanning the candidates costs less than asking the HNSW index for that many.
                return self._exact(vector, k, filt, self._candidates(filt))
        while True:
            pairs = self._approximate(vector, fetch)
            if not filt.empty:
                pairs = self._accepted(pairs, filt)
            if len(pairs) >= k or fetch >= total:
                return pairs[:k]
            if fetch >= OVERFETCH_LIMIT:
                return self._exact(vector, k, filt, self._candidates(filt))
            fetch = min(fetch * 4, OVERFETCH_LIMIT)

    def _plan(self, filt: _Filter, total: int) -> tuple[float, float]:
        """The share of the documents expected to pass `filt` (filters taken as independent),
        and how many ids `_candidates` is expected to scan."""
        if total <= 0:
            return 1.0, 0.0

        def body(txn: Any) -> tuple[float, float]:
            in_range = min(1.0, (filt.high - filt.low + 1) / total)
            counts = [self.store.posting_count(term, txn) for term in filt.terms]
            share = in_range
            for count in counts:
                share *= count / total
            scan = min([count * in_range for count in counts] + [in_range * total])
            return share, scan

        return self.store.read(body)

    def _approximate(self, vector: NDArray[np.float32], count: int) -> list[tuple[int, float]]:
        with self._lock:
            if self.ann is not None:
                ids, scores = self.ann.search(vector, count + len(self._extra))
            else:
                ids, scores = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
        pairs = [
            (int(i), float(s))
            for i, s in zip(ids, scores, strict=True)
            if int(i) not in self._extra
        ]
        if len(self._delta_ids):
            d_ids, d_scores = exact_top(vector, self._delta_ids, self._delta, count)
            pairs += [(int(i), float(s)) for i, s in zip(d_ids, d_scores, strict=True)]
            pairs.sort(key=lambda pair: (-pair[1], -pair[0]))
        return pairs[:count]

    def _accepted(self, pairs: list[tuple[int, float]], filt: _Filter) -> list[tuple[int, float]]:
        def body(txn: Any) -> list[tuple[int, float]]:
            return [
                (doc_id, score)
                for doc_id, score in pairs
                if filt.low <= doc_id <= filt.high
                and all(self.store.has_term(term, doc_id, txn) for term in filt.terms)
            ]

        return self.store.read(body)

    def _candidates(self, filt: _Filter) -> list[int]:
        """The ids that pass the filter, found by scanning the narrowest of its postings (or
        the id range) within the id range."""

        def body(txn: Any) -> list[int]:
            store = self.store
            best: bytes | None = None
            best_count = 0
            for term in filt.terms:
                count = store.posting_count(term, txn)
                if best is None or count < best_count:
                    best, best_count = term, count
            if best is not None and best_count <= filt.high - filt.low + 1:
                others = [term for term in filt.terms if term != best]
                source = store.postings_between(best, filt.low, filt.high, txn)
            else:
                others = list(filt.terms)
                source = store.ids_between(filt.low, filt.high, txn)
            return [
                doc_id
                for doc_id in source
                if all(store.has_term(term, doc_id, txn) for term in others)
            ]

        return self.store.read(body)

    def _exact(
        self, vector: NDArray[np.float32], k: int, filt: _Filter, candidates: list[int] | None
    ) -> list[tuple[int, float]]:
        """Exact top `k` among `candidates` (every document when None)."""
        if candidates is None:
            top_ids = np.zeros(0, dtype=np.uint64)
            top_scores = np.zeros(0, dtype=np.float32)
            for ids, rows in self.store.iter_vectors(self.dimensions):
                scores = rows.astype(np.float32) @ vector
                top_ids, top_scores = best(
                    np.concatenate([top_ids, ids]), np.concatenate([top_scores, scores]), k
                )
            return [(int(i), float(s)) for i, s in zip(top_ids, top_scores, strict=True)]
        if not candidates:
            return []
        ids = np.asarray(candidates, dtype=np.uint64)
        found = self.store.vectors(candidates, self.dimensions)
        top_ids, top_scores = exact_top(vector, ids, found, k)
        return [(int(i), float(s)) for i, s in zip(top_ids, top_scores, strict=True)]


def _signature(text: str) -> bytes:
    try:
        return bytes(Signature.from_string(text))
    except ValueError:
        raise ValueError(f"not a transaction signature (base58, 64 bytes): {text!r}") from None


def _pubkey(text: str) -> bytes:
    try:
        return bytes(Pubkey.from_string(text))
    except ValueError:
        raise ValueError(f"not a public key (base58, 32 bytes): {text!r}") from None
