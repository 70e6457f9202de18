"""Nearest neighbours: usearch's HNSW (approximate, fast), and an exact numpy search (the
reference the approximate one is measured against).

Vectors are unit length, so the inner product is the cosine similarity; the score of a match is
`1 - distance` (1 for the same direction). The HNSW index stores float16 rows, as LMDB does, so
the two searches score the same numbers up to rounding of the sums.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monmouth.core.extras import require_extra

__all__ = ["VectorIndex", "best", "exact_top"]

Ids = NDArray[np.uint64]
Scores = NDArray[np.float32]


def best(ids: Ids, scores: NDArray[Any], count: int) -> tuple[Ids, Scores]:
    """The `count` highest `scores` and their ids, best first; ties go to the newer (higher)
    id, so the order is the same on every run."""
    if len(ids) == 0 or count <= 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
    part = np.argpartition(-scores, count - 1)[:count] if count < len(ids) else np.arange(len(ids))
    order = np.lexsort((-ids[part].astype(np.float64), -scores[part]))
    chosen = part[order]
    return ids[chosen].astype(np.uint64), scores[chosen].astype(np.float32)


def exact_top(
    query: NDArray[np.float32], ids: Ids, vectors: NDArray[Any], count: int
) -> tuple[Ids, Scores]:
    """The `count` best of `ids` by inner product with `query` (exactly), best first."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
    scores = vectors.astype(np.float32, copy=False) @ query.astype(np.float32, copy=False)
    return best(ids, scores, count)


class VectorIndex:
    """An HNSW index of (id, vector) pairs (usearch), saved to one file.

    :param connectivity: edges per node (HNSW's M).
    :param expansion_add: candidates considered when inserting (efConstruction).
    :param expansion_search: candidates considered when searching (ef): recall against speed.
    :param threads: threads an insertion of many vectors uses (0: every core).
    :param dtype: how the index stores vectors: `f16` (as LMDB does) or `i8` (quantised:
        faster distances, a little recall lost).
    """

    def __init__(
        self,
        dimensions: int,
        *,
        connectivity: int = 16,
        expansion_add: int = 32,
        expansion_search: int = 256,
        threads: int = 1,
        dtype: str = "f16",
        _index: Any = None,
    ) -> None:
        Index = _usearch_index()

        self.dimensions = dimensions
        self.threads = threads
        self.view = False
        self._index: Any = _index
        if self._index is None:
            self._index = Index(
                ndim=dimensions,
                metric="ip",
                dtype=dtype,
                connectivity=connectivity,
                expansion_add=expansion_add,
                expansion_search=expansion_search,
            )

    @classmethod
    def load(
        cls,
        path: Path,
        dimensions: int,
        *,
        view: bool = False,
        expansion_search: int = 256,
        threads: int = 1,
    ) -> VectorIndex | None:
        """The index saved at `path`: loaded into memory, or memory-mapped read-only with
        `view` (readers). None when there is no such file, it cannot be read, or it holds
        vectors of another length (the caller rebuilds)."""
        Index = _usearch_index()

        if not path.is_file():
            return None
        try:
            meta = Index.metadata(os.fspath(path))
            if not meta or meta.get("dimensions") != dimensions:
                return None
            index: Any = Index.restore(os.fspath(path), view=view)
        except (RuntimeError, ValueError, OSError):
            return None
        if index is None:
            return None
        index.expansion_search = expansion_search
        loaded = cls(dimensions, threads=threads, _index=index)
        loaded.view = view
        return loaded

    def __len__(self) -> int:
        return len(self._index)

    @property
    def memory_usage(self) -> int:
        """Bytes the index holds (vectors and graph)."""
        return int(self._index.memory_usage)

    @property
    def expansion_search(self) -> int:
        return int(self._index.expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        self._index.expansion_search = value

    def keys(self) -> Ids:
        """Every id in the index (any order)."""
        if len(self._index) == 0:
            return np.zeros(0, dtype=np.uint64)
        return np.asarray(self._index.keys[0 : len(self._index)], dtype=np.uint64)

    def add(self, ids: Ids, vectors: NDArray[Any]) -> None:
        if self.view:
            raise RuntimeError("a memory-mapped index is read-only")
        if len(ids):
            self._index.add(
                np.ascontiguousarray(ids, dtype=np.uint64),
                np.ascontiguousarray(vectors, dtype=np.float32),
                threads=self.threads,
            )

    def remove(self, ids: Ids) -> None:
        if self.view:
            raise RuntimeError("a memory-mapped index is read-only")
        if len(ids):
            self._index.remove(np.ascontiguousarray(ids, dtype=np.uint64))

    def search(self, query: NDArray[np.float32], count: int) -> tuple[Ids, Scores]:
        """Up to `count` nearest ids, best first, and their scores."""
        if count <= 0 or len(self._index) == 0:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
        matches = self._index.search(
            np.ascontiguousarray(query, dtype=np.float32), count, threads=1
        )
        ids = np.asarray(matches.keys, dtype=np.uint64)
        scores = (1.0 - np.asarray(matches.distances, dtype=np.float32)).astype(np.float32)
        return ids, scores

    def save(self, path: Path) -> None:
        """Write the index to `path` atomically: a crash leaves the old file or the new one."""
        tmp = path.with_name(path.name + ".tmp")
        self._index.save(os.fspath(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        """Free the index (a view unmaps its file)."""
        self._index.reset()


def _usearch_index() -> Any:
    """usearch's `Index`, imported on use (the CLI starts without it, and the default install
    has not got it): a missing extra `rag` is a one-line error naming the `pip install`."""
    require_extra("rag", ("usearch.index",), "the rag index")
    from usearch.index import Index

    return Index
