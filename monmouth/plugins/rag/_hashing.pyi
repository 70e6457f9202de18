"""Types of the C extension `_hashing.c`: the hashing embedder's learning and numeric part."""

from collections.abc import Sequence
from collections.abc import Set as AbstractSet

import numpy as np
from numpy.typing import NDArray
from typing_extensions import Buffer

def missing(words: Sequence[list[str]], word_ids: dict[str, int]) -> list[str]:
    """The distinct words of the batch `words` (one list of words per text) that are not keys
    of `word_ids`, in order of first appearance over the batch; raises TypeError for a text
    that is not a list or a word that is not a str."""

def embed(
    words: Sequence[list[str]],
    word_ids: dict[str, int],
    cols: NDArray[np.int64],
    signs: NDArray[np.float64],
    dimensions: int,
) -> bytearray:
    """The batch's unit vectors: `len(words)` float32 rows of `dimensions`, one after the
    other. `word_ids` maps each word to its feature id (-1: a stop word, skipped); `cols` and
    `signs` (C-contiguous int64 and float64) give each feature id its column and sign. Raises
    KeyError for a word not in `word_ids`, TypeError for a text that is not a list, a word that
    is not a str, a feature id that is not an int, or arrays of another type, and ValueError
    for a feature id or a column out of range or `dimensions` below 1."""

def learn(
    words: Sequence[str],
    word_ids: dict[str, int],
    feature_ids: dict[str, int],
    stopwords: AbstractSet[str],
    cols: NDArray[np.int64],
    signs: NDArray[np.float64],
    size: int,
    dimensions: int,
) -> int:
    """`HashingEmbedder._learn_py` in C, the same in effect: each word, in order, gets its
    feature's id in `word_ids` (-1 for a stop word: its lower case in `stopwords`, a set or
    frozenset); a feature not in `feature_ids` gets the next id, from `size` on, and that id
    its column (BLAKE2b-64 of the feature's UTF-8, modulo `dimensions`) and sign (-1.0 if the
    hash's top bit is set) in `cols` and `signs` (writable C-contiguous int64 and float64, with
    room for `size + len(words)` ids; the ids in `feature_ids` must be below `size`). Returns
    the new size. Raises, before anything changes, TypeError for a word that is not exactly a
    str or arguments of the wrong types, ValueError for read-only arrays, too little room, a
    negative `size` or `dimensions` below 1; later errors (a feature without UTF-8, a lone
    surrogate: UnicodeEncodeError; memory) leave the dicts partly updated, to be forgotten."""

def blake2b64(data: Buffer) -> int:
    """The C BLAKE2b with an 8-byte digest (RFC 7693), as an int:
    `int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")`. Exposed for the
    tests."""
