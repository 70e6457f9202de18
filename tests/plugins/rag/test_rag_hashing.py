"""The hashing embedder's C part (`_hashing.c`) against its definitions: numpy's version
(`HashingEmbedder._embed_words_numpy`) bit for bit, a plain Python one with `math.fsum` for the
norms, unit rows, batch independence, and clear errors (never a crash) on bad input."""

from __future__ import annotations

import hashlib
import itertools
import math
import operator
import random
import string
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.core.payloads import AccountUpdate, TransactionInfo
from monmouth.plugins.rag import _hashing
from monmouth.plugins.rag import embed as embed_module
from monmouth.plugins.rag.documents import SYSTEM_PROGRAM, Prior, summarize
from monmouth.plugins.rag.embed import HashingEmbedder, words

SYSTEM = "11111111111111111111111111111111"
STOP = ["the", "The", "SLOT", "lamports", "of", "Transaction", "a"]
PLAIN = ["transfer", "Transfer", "TRANSFER", "failed", "ok", "token", "swap", "insufficient"]
NUMBERS = ["1.5", "5000", "0.000001", "42", "181", "007", "1"]

#: `_hashing` without its stub's types, for calls with wrong ones.
loose: Any = _hashing


def vocabulary(rng: random.Random) -> list[str]:
    """Words of every kind the embedder meets: stop words, words in mixed case, numbers, keys
    and signatures (32 characters or more: `k:` features, case kept), words of 31 and 32."""
    alnum = string.ascii_letters + string.digits
    found = STOP + PLAIN + NUMBERS
    found += ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 9))) for _ in range(30)]
    found += [str(Pubkey.new_unique()) for _ in range(15)]
    found += [str(Signature.new_unique()) for _ in range(5)]
    for length in (31, 32, 33):
        word = "".join(rng.choices(alnum, k=length))
        found += [word, word.lower(), word.upper()]
    return found


def random_batch(rng: random.Random, vocab: Sequence[str], count: int) -> list[list[str]]:
    """`count` texts of 0 to 80 words drawn from a small pool (so words repeat), some empty."""
    batch = []
    for _ in range(count):
        pool = rng.sample(list(vocab), k=rng.randint(1, 25))
        size = 0 if rng.random() < 0.1 else rng.randint(1, 80)
        batch.append([rng.choice(pool) for _ in range(size)])
    return batch


def summaries(rng: random.Random, count: int) -> list[list[str]]:
    """The words of real summaries: system transfers between base58 keys (a few accounts
    shared between transactions), some failed."""
    shared = [bytes(Pubkey.new_unique()) for _ in range(8)]
    texts = []
    for n in range(count):
        payer = rng.choice(shared) if rng.random() < 0.5 else bytes(Pubkey.new_unique())
        to = bytes(Pubkey.new_unique())
        signature = bytes(Signature.new_unique())
        failed = rng.random() < 0.2
        logs = [f"Program {SYSTEM} invoke [1]"]
        if failed:
            logs += [
                f"Transfer: insufficient lamports {rng.randrange(10**6)}, need 5000000000062",
                f"Program {SYSTEM} failed: custom program error: 0x1",
            ]
        else:
            logs.append(f"Program {SYSTEM} success")
        fee, before = 5000, rng.randrange(10**9, 10**12)
        moved = 0 if failed else rng.randrange(1, 10**9)
        tx = TransactionInfo(
            signature,
            "failed" if failed else "ok",
            None,
            {"InstructionError": [0, {"Custom": 1}]} if failed else None,
            fee,
            rng.randrange(150, 200_000),
            tuple(logs),
            (payer, to, SYSTEM_PROGRAM),
            b"\x01" * 32,
            3,
            n,
        )
        writes = [
            AccountUpdate(payer, before - moved - fee, SYSTEM_PROGRAM, False, 0, b"", signature, 0)
        ]
        if moved:
            writes.append(AccountUpdate(to, moved, SYSTEM_PROGRAM, False, 0, b"", signature, 0))
        doc = summarize(n, tx, 1000 + n, bytes(32), writes, {payer: Prior(before)})
        texts.append(words(doc.summary))
    return texts


def naive(values: Sequence[float]) -> float:
    """A left-to-right sum, each addition rounded."""
    total = 0.0
    for value in values:
        total += value
    return total


def fsum_uncorrected(values: Sequence[float]) -> float:
    """`math.fsum` without its final half-way correction (the partials summed from the top,
    stopping where the sum becomes inexact)."""
    partials: list[float] = []
    for x in values:
        kept = []
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                kept.append(lo)
            x = hi
        partials = [*kept, x] if x else kept
    hi = 0.0
    if partials:
        hi = partials.pop()
        while partials:
            x, y = hi, partials.pop()
            hi = x + y
            if y - (hi - x):
                break
    return hi


def defined(
    batch: Sequence[list[str]],
    word_ids: dict[str, int],
    cols: Sequence[int],
    signs: Sequence[float],
    dims: int,
    *,
    total: Callable[[Sequence[float]], float] = math.fsum,
    divide: Callable[[float, float], float] = operator.truediv,
) -> bytes:
    """The vectors by their definition, in plain Python: per text each feature once, in order
    of first appearance, `sign * sqrt(count)` added to its column; the norm of the non-zero
    entries summed by `total` (math.fsum); each entry divided (`divide`) by it in double,
    rounded to float32."""
    rows = []
    for text in batch:
        counts: dict[int, int] = {}
        for word in text:
            fid = word_ids[word]
            if fid >= 0:
                counts[fid] = counts.get(fid, 0) + 1
        row = [0.0] * dims
        for fid, count in counts.items():
            row[int(cols[fid])] += float(signs[fid]) * math.sqrt(count)
        norm = math.sqrt(total([x * x for x in row if x != 0.0])) or 1.0
        rows.append(np.array([divide(x, norm) for x in row]).astype(np.float32))
    return b"".join(row.tobytes() for row in rows)


def c_embed(
    batch: Sequence[list[str]],
    word_ids: dict[str, int],
    cols: Sequence[int],
    signs: Sequence[float],
    dims: int,
) -> bytes:
    raw = _hashing.embed(
        batch,
        word_ids,
        np.asarray(cols, dtype=np.int64),
        np.asarray(signs, dtype=np.float64),
        dims,
    )
    return bytes(raw)


@pytest.mark.parametrize("dims", [8, 13, 128, 384])
def test_c_equals_the_numpy_reference_on_random_batches(dims: int) -> None:
    rng = random.Random(dims)
    vocab = vocabulary(rng)
    fast, reference = HashingEmbedder(dims), HashingEmbedder(dims)
    for count in [0, 1, 2, 7, 60, 1, 0, 200]:
        batch = random_batch(rng, vocab, count)
        got = fast.embed_words(batch)
        want = reference._embed_words_numpy(batch)
        assert got.dtype == np.float32 and got.shape == (count, dims) == want.shape
        assert got.flags.c_contiguous
        assert got.tobytes() == want.tobytes()
        # The same embedder, its caches warm: still the same bits.
        assert fast._embed_words_numpy(batch).tobytes() == want.tobytes()
    # The same words learnt, in the same order.
    assert list(fast._word_ids.items()) == list(reference._word_ids.items())


@pytest.mark.parametrize("dims", [128, 384])
def test_c_equals_the_numpy_reference_on_real_summaries(dims: int) -> None:
    rng = random.Random(7)
    fast, reference = HashingEmbedder(dims), HashingEmbedder(dims)
    for count in [1, 40, 150]:
        batch = summaries(rng, count)
        assert sum(map(len, batch)) > 20 * count
        got = fast.embed_words(batch)
        assert got.tobytes() == reference._embed_words_numpy(batch).tobytes()
        texts = [" ".join(text) for text in batch]
        assert HashingEmbedder(dims).embed(texts).tobytes() == got.tobytes()


def test_c_equals_the_plain_definition_with_large_counts() -> None:
    """Rows of many features counted hundreds of times, against the Python definition (norms
    by `math.fsum` directly), on the embedder's own columns and signs."""
    rng = random.Random(3)
    vocab = vocabulary(rng)
    embedder = HashingEmbedder(64)
    batch = [
        [word for word in rng.sample(vocab, 40) for _ in range(rng.randint(1, 600))]
        for _ in range(12)
    ]
    for text in batch:
        rng.shuffle(text)
    got = embedder.embed_words(batch).tobytes()
    size = embedder._size
    cols, signs = embedder._cols[:size].tolist(), embedder._signs[:size].tolist()
    assert got == defined(batch, embedder._word_ids, cols, signs, 64)
    assert got == embedder._embed_words_numpy(batch).tobytes()


def probe_case(
    entries: list[float], dims: int, **wrong: Any
) -> tuple[list[list[str]], dict[str, int], list[int], list[float]]:
    """A one-text case whose float32 output differs when it is computed `wrong` (arguments of
    `defined`: another sum for the norm, another division): `entries` (one feature each, count
    1, so the row holds the signs as they are) and a probe entry chosen so that its quotient
    lands between float32 neighbours, on the side the definition puts it."""
    exact = math.sqrt(math.fsum(x * x for x in entries))
    text = [f"w{i}" for i in range(len(entries) + 1)]
    word_ids = {word: i for i, word in enumerate(text)}
    cols = list(range(len(entries) + 1))
    low = np.float32(1e-20)  # the probe's square is far below the last place of the others'
    for _ in range(256):
        high = np.nextafter(low, np.float32(1))
        middle = (float(low) + float(high)) / 2  # a float32 half-way point, exact in double
        low = high
        start = middle * exact
        for step in range(-8, 9):
            signs = [*entries, start + step * math.ulp(start)]
            right = defined([text], word_ids, cols, signs, dims)
            if right != defined([text], word_ids, cols, signs, dims, **wrong):
                return [text], word_ids, cols, signs
    raise AssertionError("no probe tells the two apart")


def test_the_norm_is_exactly_rounded_not_a_running_sum() -> None:
    """A large entry first, then many whose squares are each under half its square's last
    place: a running sum drops every one, the exact sum keeps their total (about 50 units in
    the last place), and the output says which one the norm used."""
    entries = [1e20] + [7e11] * 126
    squares = [x * x for x in entries]
    assert naive(squares) != math.fsum(squares)
    batch, word_ids, cols, signs = probe_case(entries, 128, total=naive)
    assert c_embed(batch, word_ids, cols, signs, 128) == defined(batch, word_ids, cols, signs, 128)


def test_the_norm_keeps_fsums_half_way_correction() -> None:
    """Squares 1e16, 1 and 2**-54 (math.fsum's own example, 1e16 + 1 is a tie that the tiny
    one breaks upwards): without the final correction the sum is 1e16, with it 1e16 + 2."""
    entries = [1e8, 1.0, 2.0**-27]
    squares = [x * x for x in entries]
    assert math.fsum(squares) == 1e16 + 2 and fsum_uncorrected(squares) == 1e16
    batch, word_ids, cols, signs = probe_case(entries, 8, total=fsum_uncorrected)
    assert c_embed(batch, word_ids, cols, signs, 8) == defined(batch, word_ids, cols, signs, 8)


def test_each_entry_is_divided_by_the_norm() -> None:
    """Division, not multiplication by the reciprocal (one rounding, not two)."""
    batch, word_ids, cols, signs = probe_case([6.0, 8.0], 8, divide=lambda x, n: x * (1 / n))
    assert c_embed(batch, word_ids, cols, signs, 8) == defined(batch, word_ids, cols, signs, 8)


def test_features_add_in_order_of_first_appearance() -> None:
    """Three features in one column, 1e20, 1 and -1e20: added in the order they first appear
    in the text (as bincount adds), the 1 is lost or kept; in order of feature id, or in
    reverse, the other way at least once."""
    word_ids = {"x": 0, "y": 1, "z": 2, "w": 3}
    cols, signs = [0, 0, 0, 1], [1e20, 1.0, -1e20, 1.0]
    texts = {"kept": ["x", "z", "y", "w", "z", "w"], "lost": ["y", "z", "x", "w", "w"]}
    rows = {}
    for name, text in texts.items():
        raw = c_embed([text], word_ids, cols, signs, 8)
        assert raw == defined([text], word_ids, cols, signs, 8)
        rows[name] = np.frombuffer(raw, dtype=np.float32)
    # z twice: x + z = (1 - sqrt 2) 1e20, whose last place is far above 1.
    assert rows["lost"][0] == 0.0 and rows["kept"][0] != 0.0
    assert abs(rows["kept"][0] / rows["kept"][1] - (1 - math.sqrt(2)) * 1e20 / math.sqrt(2)) < 1e14


def test_batches_and_resets_do_not_change_the_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    vocab = vocabulary(rng)
    batches = [random_batch(rng, vocab, rng.randint(0, 30)) for _ in range(12)]
    batches += [summaries(rng, 20)]
    together = HashingEmbedder(128).embed_words([text for batch in batches for text in batch])
    one = HashingEmbedder(128)
    rows = np.concatenate([one.embed_words(batch) for batch in batches])
    assert rows.tobytes() == together.tobytes()
    # A small feature cache: the embedder forgets (resets) between batches, same bits.
    monkeypatch.setattr(embed_module, "_FEATURE_CACHE", 40)
    small = HashingEmbedder(128)
    again = np.concatenate([small.embed_words(batch) for batch in batches])
    assert again.tobytes() == together.tobytes()
    assert len(small._feature_ids) < len(one._feature_ids)  # it did forget
    reference = HashingEmbedder(128)
    numpy_rows = np.concatenate([reference._embed_words_numpy(batch) for batch in batches])
    assert numpy_rows.tobytes() == together.tobytes()


def test_rows_have_unit_length_and_empty_texts_are_zero() -> None:
    rng = random.Random(5)
    batch = [*random_batch(rng, vocabulary(rng), 100), [], ["the", "Of", "SLOT"]]
    vectors = HashingEmbedder(96).embed_words(batch)
    for text, row in zip(batch, vectors, strict=True):
        if any(embed_module._feature(word) is not None for word in text):
            assert abs(float(np.dot(row.astype(np.float64), row)) - 1.0) < 1e-6
        else:
            assert not row.any() and row.tobytes() == bytes(4 * 96)  # +0.0, not -0.0
    assert vectors.flags.writeable  # like the astype copy it replaces


def test_missing_names_new_words_in_first_appearance_order() -> None:
    known = {"a": 0, "the": -1}
    batch = [["x", "a", "y"], [], ["the", "y", "z", "x", "b"]]
    assert _hashing.missing(batch, known) == ["x", "y", "z", "b"]
    assert _hashing.missing((["a"], ["the"]), known) == []
    assert _hashing.missing([], known) == []


def test_bad_input_raises_clear_errors() -> None:
    ids = {"a": 0, "b": 1, "stop": -1}
    cols = np.array([0, 3], dtype=np.int64)
    signs = np.array([1.0, -1.0])

    class Word(str):
        pass

    for call in (loose.missing, lambda w, i: loose.embed(w, i, cols, signs, 8)):
        with pytest.raises(TypeError, match="list of str"):
            call([("a",)], ids)
        with pytest.raises(TypeError, match="list of str"):
            call(["a"], ids)
        with pytest.raises(TypeError, match="must be str"):
            call([["a", 5]], ids)
        with pytest.raises(TypeError, match="must be str"):
            call([[Word("a")]], ids)
        with pytest.raises(TypeError):
            call([["a"]], [("a", 0)])
        with pytest.raises(TypeError):
            call(5, ids)
    with pytest.raises(KeyError, match="'c'"):
        _hashing.embed([["a"], ["c"]], ids, cols, signs, 8)
    for bad_cols in (
        cols.astype(np.int32),
        cols.astype(np.float64),
        np.array([0, 9, 3, 9], dtype=np.int64)[::2],
        cols.reshape(1, 2),
        [0, 3],
        b"\x00" * 16,
    ):
        with pytest.raises(TypeError, match="cols must be a C-contiguous int64 array"):
            loose.embed([["a"]], ids, bad_cols, signs, 8)
    for bad_signs in (signs.astype(np.float32), signs.astype(np.int64), [1.0, -1.0]):
        with pytest.raises(TypeError, match="signs must be a C-contiguous float64 array"):
            loose.embed([["a"]], ids, cols, bad_signs, 8)
    with pytest.raises(ValueError, match="column 3 out of range"):
        _hashing.embed([["a", "b"]], ids, cols, signs, 3)
    with pytest.raises(ValueError, match="column -1 out of range"):
        _hashing.embed([["b"]], ids, np.array([0, -1], dtype=np.int64), signs, 8)
    for fid in (2, -2, 2**70):
        with pytest.raises(ValueError, match="feature id out of range"):
            _hashing.embed([["a", "x"]], {**ids, "x": fid}, cols, signs, 8)
    with pytest.raises(ValueError, match="feature id out of range"):
        _hashing.embed([["b"]], ids, cols, signs[:1], 8)  # ids index both arrays
    for value in (1.0, True, "1"):
        with pytest.raises(TypeError, match="feature ids must be int"):
            loose.embed([["x"]], {"x": value}, cols, signs, 8)
    for dims in (0, -1):
        with pytest.raises(ValueError, match="dimensions must be at least 1"):
            _hashing.embed([["a"]], ids, cols, signs, dims)
    # Stop words only, nothing known: nothing to read, the zero vector.
    assert bytes(_hashing.embed([["stop"]], ids, cols[:0], signs[:0], 4)) == bytes(16)


def test_a_batch_changed_during_lookups_does_not_crash() -> None:
    """A dict key whose __eq__ (Python code, run inside a lookup) empties the text being read:
    the C code must not read past the list's new end."""
    text = ["word"] * 50

    class Collider:
        armed = False

        def __hash__(self) -> int:
            return hash("word")

        def __eq__(self, other: object) -> bool:
            if Collider.armed:
                text.clear()
                Collider.armed = False
            return False

    ids: dict[Any, int] = {Collider(): 0}
    ids["word"] = 0
    cols, signs = np.zeros(1, dtype=np.int64), np.ones(1)
    Collider.armed = True
    rows = np.frombuffer(loose.embed([text], ids, cols, signs, 8), dtype=np.float32)
    assert rows.shape == (8,) and not text
    text.extend(["word"] * 50)
    Collider.armed = True
    assert loose.missing([text], ids) == []


#: Words that are not ASCII: lower() changes them by Unicode's rules, some into more code points
#: ("İ"), some by context (a final sigma), one into ASCII (the Kelvin sign, "K" as in "key").
UNICODE = ["ÉCOLE", "école", "École", "İ", "İSTANBUL", "i̇stanbul", "ẞ", "ß", "STRASSE"]
UNICODE += [
    "ΟΔΟΣ",
    "οδος",
    "\u212aEY",
    "\u212aey",
    "Key",
    "KEY",
    "key",
    "ǅ",
    "\uff26\uff25\uff25",  # fullwidth FEE
    "日本",
    "🙂",
]
#: Characters for random words: ASCII, and ones whose lower case is another length or ASCII.
ODD = string.ascii_letters + string.digits + "ÉéİıßẞΣσςΟΔКкÅåǅǄ\u212a\u0307日🙂"


def learn_vocabulary(rng: random.Random) -> list[str]:
    """`vocabulary`, and words that are not ASCII: the list above, random ones of 1 to 40
    characters, and ones of 31, 32 and 33 characters (32 and more: a `k:` feature, case kept,
    whatever lower() would do), in three cases each."""
    found = vocabulary(rng) + UNICODE
    found += ["".join(rng.choices(ODD, k=rng.randint(1, 40))) for _ in range(60)]
    for length in (31, 32, 33):
        for _ in range(3):
            word = "".join(rng.choices(ODD, k=length))
            found += [word, word.lower(), word.upper()]
    return found


def learnt(embedder: HashingEmbedder) -> tuple[object, ...]:
    """An embedder's caches as they matter: the dicts with their order, the slots in use."""
    size = embedder._size
    return (
        list(embedder._word_ids.items()),
        list(embedder._feature_ids.items()),
        size,
        embedder._cols[:size].tobytes(),
        embedder._signs[:size].tobytes(),
    )


def python_learning(dims: int) -> HashingEmbedder:
    """An embedder whose `embed_words` learns in Python (`_learn_py`), as it did before C."""
    embedder = HashingEmbedder(dims)
    embedder._learn = embedder._learn_py  # type: ignore[method-assign]
    return embedder


@pytest.mark.parametrize("dims", [8, 13, 128])
def test_learn_equals_learn_py(dims: int) -> None:
    """Batches of words with duplicates, stop words in any case, features reached by several
    words ("Transfer", "transfer"; "KEY" and the Kelvin sign's "Key"), words that are not ASCII,
    given to `_learn` (C) and `_learn_py`: the same caches after each."""
    rng = random.Random(dims)
    vocab = learn_vocabulary(rng)
    fast, reference = HashingEmbedder(dims), HashingEmbedder(dims)
    for count in [0, 1, 5, 40, 300, 1, 0, 2000, 3]:
        batch = [rng.choice(vocab) for _ in range(count)]
        fast._learn(batch)
        reference._learn_py(batch)
        assert learnt(fast) == learnt(reference)
    assert len(fast._cols) > 1024  # grown on the way
    ids = fast._word_ids
    assert -1 in ids.values() and ids["Transfer"] == ids["transfer"] >= 0
    assert ids["\u212aEY"] == ids["\u212aey"] == ids["KEY"] == ids["key"] >= 0
    assert ids["ÉCOLE"] == ids["école"] >= 0 and ids["ΟΔΟΣ"] == ids["οδος"] >= 0
    assert "w:i̇stanbul" in fast._feature_ids and ids["İSTANBUL"] == ids["i̇stanbul"] >= 0
    features = fast._feature_ids
    assert all(features[embed_module._feature(w) or ""] == i for w, i in ids.items() if i >= 0)


@pytest.mark.parametrize("dims", [8, 128])
def test_embed_words_learning_in_c_equals_python(
    dims: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`embed_words` with C learning and with Python learning, on random batches and real
    summaries, with a feature cache small enough to be reset along the way: the same rows,
    bit for bit, and the same caches."""
    rng = random.Random(100 + dims)
    vocab = learn_vocabulary(rng)
    batches = [random_batch(rng, vocab, rng.randint(0, 40)) for _ in range(16)]
    batches += [summaries(rng, 30)]
    for cache in (embed_module._FEATURE_CACHE, 150):
        monkeypatch.setattr(embed_module, "_FEATURE_CACHE", cache)
        fast, reference = HashingEmbedder(dims), python_learning(dims)
        sizes = []
        for batch in batches:
            got = fast.embed_words(batch)
            assert got.tobytes() == reference.embed_words(batch).tobytes()
            assert got.tobytes() == HashingEmbedder(dims)._embed_words_numpy(batch).tobytes()
            assert learnt(fast) == learnt(reference)
            sizes.append(fast._size)
        if cache == 150:
            assert any(b < a for a, b in itertools.pairwise(sizes))  # it did reset


def test_blake2b64_equals_hashlib() -> None:
    """The C BLAKE2b (8-byte digest) on messages around the 128-byte block size and beyond,
    and on the UTF-8 of random Unicode text."""
    rng = random.Random(64)
    messages = [rng.randbytes(n) for n in (0, 1, 2, 63, 64, 111, 112, 127, 128, 129, 200)]
    messages += [rng.randbytes(n) for n in (255, 256, 257, 383, 384, 385, 1000, 4096, 10000)]
    messages += [bytes(128), b"\xff" * 256, b"w:transfer"]
    for _ in range(200):
        points = [rng.randrange(32, 0xD800) for _ in range(rng.randint(0, 80))]
        points += [rng.randrange(0xE000, 0x110000) for _ in range(rng.randint(0, 20))]
        rng.shuffle(points)
        messages.append("".join(map(chr, points)).encode())
    for data in messages:
        want = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
        assert _hashing.blake2b64(data) == want, len(data)
    # Not BLAKE2b-512 cut short: the digest length is in the parameter block.
    assert _hashing.blake2b64(b"") != int.from_bytes(hashlib.blake2b(b"").digest()[:8], "little")
    assert _hashing.blake2b64(bytearray(b"abc")) == _hashing.blake2b64(memoryview(b"abc"))
    with pytest.raises(TypeError):
        loose.blake2b64("abc")


def learn_args(**changed: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "words": ["a", "Transfer", "The"],
        "word_ids": {},
        "feature_ids": {},
        "stopwords": frozenset({"the"}),
        "cols": np.zeros(4, dtype=np.int64),
        "signs": np.zeros(4, dtype=np.float64),
        "size": 0,
        "dimensions": 8,
    }
    args.update(changed)
    return args


def call_learn(args: dict[str, Any]) -> Any:
    return loose.learn(*args.values())


def test_learn_bad_input_raises_and_changes_nothing() -> None:
    args = learn_args()
    assert call_learn(args) == 2
    assert args["word_ids"] == {"a": 0, "Transfer": 1, "The": -1}
    assert list(args["feature_ids"]) == ["w:a", "w:transfer"]
    cases: list[tuple[dict[str, Any], type[Exception], str | None]] = [
        (learn_args(size=2), ValueError, "hold 4 ids, short of size"),
        (learn_args(size=5, words=[]), ValueError, "short of size"),
        (learn_args(cols=np.zeros(2, dtype=np.int64)), ValueError, "hold 2 ids"),
        (learn_args(signs=np.zeros(2)), ValueError, "hold 2 ids"),
        (learn_args(size=-1), ValueError, "size must not be negative"),
        (learn_args(dimensions=0), ValueError, "dimensions must be at least 1"),
        (learn_args(cols=np.zeros(4, dtype=np.int32)), TypeError, "cols must be a C-contig"),
        (learn_args(cols=np.zeros(4)), TypeError, "cols must be a C-contiguous int64"),
        (learn_args(cols=np.zeros(8, dtype=np.int64)[::2]), TypeError, "cols must be"),
        (learn_args(cols=[0, 0, 0, 0]), TypeError, "cols must be"),
        (learn_args(cols=bytearray(32)), TypeError, "cols must be"),
        (learn_args(signs=np.zeros(4, dtype=np.float32)), TypeError, "signs must be a C-c"),
        (learn_args(signs=np.zeros((2, 2))), TypeError, "signs must be"),
        (learn_args(words=["a", 5]), TypeError, "words must be str, not int"),
        (learn_args(words=["a", type("Word", (str,), {})("b")]), TypeError, "must be str"),
        (learn_args(words=5), TypeError, None),
        (learn_args(word_ids=[]), TypeError, "must be dict"),
        (learn_args(feature_ids=None), TypeError, "must be dict"),
        (learn_args(stopwords=["the"]), TypeError, "stopwords must be a set"),
    ]
    read_only = np.zeros(4, dtype=np.int64)
    read_only.flags.writeable = False
    cases.append((learn_args(cols=read_only), ValueError, "cols must be writable"))
    signs_ro = np.zeros(4)
    signs_ro.flags.writeable = False
    cases.append((learn_args(signs=signs_ro), ValueError, "signs must be writable"))
    cases.append((learn_args(cols=bytes(32)), TypeError, "cols must be"))
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            call_learn(args)
        # Checked before anything changes.
        assert not args["word_ids"] and not args["feature_ids"]
        for name in ("cols", "signs"):
            if isinstance(args[name], np.ndarray):
                assert not args[name].any()
    # Stop words as a set will do, and the capacity need not be more than size + len(words).
    assert call_learn(learn_args(stopwords={"the"}, size=1)) == 3


def test_learn_errors_leave_a_working_embedder() -> None:
    """A word whose feature has no UTF-8 (a lone surrogate) fails as `str.encode` does, in
    both versions; the C one's embedder forgets its half-updated caches, and goes on."""
    fast = HashingEmbedder(16)
    fast._learn(["ok", "fine"])
    with pytest.raises(UnicodeEncodeError):
        HashingEmbedder(16)._learn_py(["x", "\ud800"])
    with pytest.raises(UnicodeEncodeError):
        fast._learn(["x", "\ud800"])
    assert fast._word_ids == fast._feature_ids == {} and fast._size == 0
    batch = [["ok", "Transfer", "x"], ["fine"]]
    assert fast.embed_words(batch).tobytes() == HashingEmbedder(16).embed_words(batch).tobytes()


def test_learn_survives_python_code_in_lookups() -> None:
    """A feature_ids key whose __eq__ (run inside a lookup) empties the word list and the dict:
    odd ids maybe, within the arrays, never a crash."""
    words = ["alpha", "beta", "gamma", "delta"] * 5
    feature_ids: dict[Any, Any] = {}

    class Collider:
        def __hash__(self) -> int:
            return hash("w:beta")

        def __eq__(self, other: object) -> bool:
            words.clear()
            feature_ids.clear()
            return False

    feature_ids[Collider()] = 0
    cols, signs = np.zeros(len(words), dtype=np.int64), np.zeros(len(words))
    size = loose.learn(words, {}, feature_ids, frozenset(), cols, signs, 0, 8)
    assert 0 < size <= 20 and not words
