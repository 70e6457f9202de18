"""Checks from per-key tables (`_ed25519.c`, run by `_verify.c`'s threads) give libsodium's
verdicts: on valid signatures, on every kind of invalid one, on the edge cases a table check
must catch by itself (non-canonical S, an R of small order that the equation accepts), and on
keys with a torsion component; and the table path really decided them."""

from __future__ import annotations

import hashlib

import pytest
from nacl.bindings import crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError
from test_sigverify import IDENTITY, SPECCHECK, L

from monmouth.rust_svm import _verify, verify_py
from monmouth.rust_svm.sigverify import choose, make_pool
from monmouth.rust_svm.verify_py import TABLE_STATS

P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates X, Y, Z, T
ZERO: Point = (0, 1, 1, 0)  # the identity


def add(p: Point, q: Point) -> Point:
    """The complete addition law of the curve (a = -1), as RFC 8032's reference code."""
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(s: int, p: Point) -> Point:
    q = ZERO
    while s:
        if s & 1:
            q = add(q, p)
        p, s = add(p, p), s >> 1
    return q


def encode(p: Point) -> bytes:
    zi = pow(p[2], P - 2, P)
    x, y = p[0] * zi % P, p[1] * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def decode(s: bytes) -> Point | None:
    y = int.from_bytes(s, "little") & ((1 << 255) - 1)
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x & 1 != s[31] >> 7:
        x = P - x
    return (x, y, 1, x * y % P)


def _base() -> Point:
    b = decode(bytes([0x58]) + bytes([0x66]) * 31)
    assert b is not None
    return b


B = _base()


def secret_scalar(seed: bytes) -> int:
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] = (h[31] & 127) | 64
    return int.from_bytes(h, "little")


def challenge(r: bytes, key: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + key + message).digest(), "little") % L


def sign(a: int, key: bytes, message: bytes, nonce: int) -> bytes:
    """A signature by secret scalar `a` for the public key `key` (whatever point it is)."""
    r = nonce % L
    big_r = encode(mul(r, B))
    s = (r + challenge(big_r, key, message) * a) % L
    return big_r + s.to_bytes(32, "little")


def libsodium(sig: bytes, key: bytes, message: bytes) -> bool:
    try:
        crypto_sign_open(sig + message, key)
    except BadSignatureError:
        return False
    return True


def pool(keys: int = 64, threads: int = 1) -> _verify.Pool:
    return make_pool(choose(), threads, keys=keys)


def _tables_built_in() -> bool:
    """Whether this build has the table checks (not on a target without 128-bit integers)."""
    checker = pool(keys=8)
    try:
        return checker.stats()["keys"] > 0
    finally:
        checker.close()


pytestmark = pytest.mark.skipif(
    not _tables_built_in(), reason="built without 128-bit integers: libsodium checks only"
)


def run(
    checker: _verify.Pool, cases: list[tuple[bytes, bytes, bytes]]
) -> tuple[list[bool], dict[str, int]]:
    """Verdicts of (signature, key, message) cases, one job each so that the order of first
    sight is the list's, and the pool's stats after them."""
    verdicts = [bool(checker.submit([s], [k], [m]).wait()[0]) for s, k, m in cases]
    return verdicts, checker.stats()


SEEDS = [bytes([i]) * 32 for i in range(1, 6)]


def test_valid_signatures_are_accepted_from_tables() -> None:
    keys = [crypto_sign_seed_keypair(seed)[0] for seed in SEEDS]
    cases = []
    for i in range(60):
        seed, key = SEEDS[i % 5], keys[i % 5]
        message = f"transfer {i}".encode() * 7
        cases.append((sign(secret_scalar(seed), key, message, 1000 + i), key, message))
    checker = pool()
    try:
        verdicts, stats = run(checker, cases)
    finally:
        checker.close()
    assert verdicts == [True] * 60
    # The first two signatures by a key are libsodium's; the second builds its table.
    assert stats["tables_built"] == 5
    assert stats["table_accepted"] == 60 - 2 * 5
    assert stats["table_rejected"] == stats["tables_wrong"] == 0


def flip(b: bytes, i: int) -> bytes:
    return b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]


def _invalid(
    sig: bytes, key: bytes, other: bytes, message: bytes
) -> list[tuple[bytes, bytes, bytes]]:
    s = int.from_bytes(sig[32:], "little")
    return [
        (flip(sig, 0), key, message),
        (flip(sig, 31), key, message),
        (flip(sig, 32), key, message),
        (flip(sig, 63), key, message),
        (sig, key, message + b"!"),
        (sig, other, message),  # by a key that has a table too
        (sig[:32] + (s + L).to_bytes(32, "little"), key, message),  # non-canonical S
        (sig[:32] + (L - 1).to_bytes(32, "little"), key, message),
        (sig[:32] + bytes(32), key, message),
        (bytes(64), key, message),
    ]


def test_every_invalid_signature_is_refused_like_libsodium() -> None:
    keys = [crypto_sign_seed_keypair(seed)[0] for seed in SEEDS[:2]]
    a = secret_scalar(SEEDS[0])
    warm = []
    for i in range(3):
        for seed, key in zip(SEEDS[:2], keys, strict=True):
            warm.append(
                (sign(secret_scalar(seed), key, b"warm %d" % i, 100 + i), key, b"warm %d" % i)
            )
    message = b"a solana message" * 13
    sig = sign(a, keys[0], message, 77)
    bad = _invalid(sig, keys[0], keys[1], message)
    # An R of small order that the equation accepts: R = the identity and S = k a, so that
    # [S]B - [k]A is the identity. Only the small-order check refuses it.
    k = challenge(IDENTITY, keys[0], message)
    bad.append((IDENTITY + (k * a % L).to_bytes(32, "little"), keys[0], message))
    checker = pool()
    try:
        warmed, before = run(checker, warm)
        verdicts, stats = run(checker, bad)
    finally:
        checker.close()
    assert warmed == [True] * len(warm)
    assert before["tables_built"] == 2
    assert verdicts == [libsodium(*case) for case in bad] == [False] * len(bad)
    # The tables saw every one of them (and said no; libsodium then agreed).
    assert stats["table_rejected"] == len(bad)
    assert stats["tables_wrong"] == 0


def _torsion_point() -> Point:
    """A point of order 8: [L]P for a point P with a component of order 8."""
    for y in range(2, 200):
        p = decode(y.to_bytes(32, "little"))
        if p is None:
            continue
        t = mul(L, p)
        if encode(mul(4, t)) != IDENTITY:
            return t
    raise AssertionError("no point of order 8 found")


def test_keys_with_a_torsion_component_get_libsodiums_verdicts() -> None:
    """A mixed-order key A + T (T of order 8) passes libsodium's key checks; a signature by it
    satisfies the cofactorless equation only when 8 divides k. The tables must agree."""
    a = secret_scalar(SEEDS[2])
    key = encode(add(mul(a, B), _torsion_point()))
    cases = []
    for i in range(96):
        message = b"mixed %d" % i
        cases.append((sign(a, key, message, 5000 + i), key, message))
    want = [libsodium(*case) for case in cases]
    assert 4 <= sum(want) < len(want)  # some valid (k divisible by 8), most not
    checker = pool()
    try:
        verdicts, stats = run(checker, cases)
    finally:
        checker.close()
    assert verdicts == want
    assert stats["tables_built"] == 1
    assert stats["table_accepted"] == sum(want) - 2
    assert stats["tables_wrong"] == 0


def test_speccheck_vectors_repeated_through_the_tables() -> None:
    """The speccheck cases, each repeated so that any key libsodium accepts gets a table: the
    same verdicts as libsodium's, every time."""
    cases = [tuple(bytes.fromhex(h) for h in case) for case in SPECCHECK]
    items = [(sig, key, msg) for msg, key, sig in cases] * 4
    checker = pool()
    try:
        verdicts, stats = run(checker, items)
    finally:
        checker.close()
    assert verdicts == [libsodium(*item) for item in items]
    assert stats["tables_built"] >= 1
    assert stats["tables_wrong"] == 0


def test_more_keys_than_slots_evict_the_older() -> None:
    """With room for 8 keys a thread (one set) and 12 keys signing in turn, keys are replaced
    before they sign again, and the verdicts stay right; a key signing over and over then gets
    and keeps its table."""
    seeds = [bytes([i]) * 32 for i in range(20, 32)]
    keys = [crypto_sign_seed_keypair(seed)[0] for seed in seeds]
    cases = []
    for i in range(1, 73):
        j = i % 12
        message = b"round robin %d" % i
        cases.append((sign(secret_scalar(seeds[j]), keys[j], message, i), keys[j], message))
    checker = pool(keys=8)
    try:
        verdicts, stats = run(checker, cases)
        assert stats["keys"] == 8
        hot = [
            (sign(secret_scalar(seeds[0]), keys[0], b"hot %d" % i, 300 + i), keys[0], b"hot %d" % i)
            for i in range(10)
        ]
        hot_verdicts, after = run(checker, hot)
    finally:
        checker.close()
    assert verdicts == [True] * 72
    assert hot_verdicts == [True] * 10
    assert after["table_accepted"] - stats["table_accepted"] >= 8


def test_a_pool_without_tables_never_uses_them() -> None:
    choice = choose()
    checker = _verify.Pool(choice.address, 1)
    key = crypto_sign_seed_keypair(SEEDS[0])[0]
    cases = [
        (sign(secret_scalar(SEEDS[0]), key, b"m%d" % i, 9 + i), key, b"m%d" % i) for i in range(5)
    ]
    try:
        verdicts, stats = run(checker, cases)
    finally:
        checker.close()
    assert verdicts == [True] * 5
    assert stats == dict.fromkeys(TABLE_STATS, 0)


@pytest.mark.parametrize("Pool", [_verify.Pool, verify_py.Pool], ids=["c", "python"])
def test_tables_need_the_hash_functions(Pool: type[_verify.Pool] | type[verify_py.Pool]) -> None:
    choice = choose()
    if Pool is _verify.Pool:
        with pytest.raises(ValueError, match="crypto_hash_sha512"):
            Pool(choice.address, 1, keys=16)
    # The Python version takes the same arguments and checks with libsodium alone.
    checker = Pool(choice.address, 1, sha512=choice.sha512, reduce=choice.reduce, keys=16)
    try:
        assert checker.stats()["keys"] == (16 if Pool is _verify.Pool else 0)
    finally:
        checker.close()


def test_a_units_table_checks_are_finished_together() -> None:
    """In one job, signatures checked from tables (valid and not) between others that
    libsodium checks: the table checks of a unit share one inversion, and each verdict lands
    in its own place."""
    keys = [crypto_sign_seed_keypair(seed)[0] for seed in SEEDS]
    secrets = [secret_scalar(seed) for seed in SEEDS]
    warm = [
        (sign(secrets[j], keys[j], b"warm %d" % i, 50 + i), keys[j], b"warm %d" % i)
        for i in range(2)
        for j in range(3)
    ]
    batch: list[tuple[bytes, bytes, bytes]] = []
    for i in range(70):
        j = i % 5
        message = b"batch %d" % i
        if j < 3:
            secret, key = secrets[j], keys[j]
        else:  # a key signing once, without a table: libsodium's, in between
            seed = bytes([100 + i]) * 32
            secret, key = secret_scalar(seed), crypto_sign_seed_keypair(seed)[0]
        sig = sign(secret, key, message, 900 + i)
        if i % 7 == 3:
            sig = flip(sig, 5)
        elif i % 11 == 4:
            s = int.from_bytes(sig[32:], "little") + L
            sig = sig[:32] + s.to_bytes(32, "little")
        batch.append((sig, key, message))
    checker = pool()
    try:
        warmed, before = run(checker, warm)
        job = checker.submit(*(list(column) for column in zip(*batch, strict=True)))
        verdicts = [bool(v) for v in job.wait()]
        after = checker.stats()
    finally:
        checker.close()
    assert warmed == [True] * len(warm) and before["tables_built"] == 3
    want = [libsodium(*case) for case in batch]
    assert verdicts == want
    by_tables = [w for (_, key, _), w in zip(batch, want, strict=True) if key in keys[:3]]
    assert after["table_accepted"] - before["table_accepted"] == sum(by_tables)
    assert after["table_rejected"] - before["table_rejected"] == len(by_tables) - sum(by_tables)
    assert after["tables_wrong"] == 0


def test_two_threads_share_the_tables_under_replacement() -> None:
    """Two threads, room for 16 keys and 40 keys signing: tables are taken, replaced while
    the other thread may read them, and built once per admission; every verdict right. The
    keys signing once in a while do not push out the tables of the ten that sign often."""
    from nacl.bindings import crypto_sign

    pairs = [crypto_sign_seed_keypair(bytes([i]) * 32) for i in range(60, 100)]
    sigs, keys, msgs, want = [], [], [], []
    for i in range(6000):
        # Hot keys (0 to 9) sign often, the rest now and then: both kept and replaced.
        public, secret = pairs[i % 10] if i % 3 else pairs[10 + i % 30]
        message = b"shared %d" % i
        sig = crypto_sign(message, secret)[:64]
        valid = i % 13 != 0
        sigs.append(sig if valid else flip(sig, 40))
        keys.append(public)
        msgs.append(message)
        want.append(valid)
    checker = pool(keys=16, threads=2)
    try:
        verdicts = [bool(v) for v in checker.submit(sigs, keys, msgs).wait()]
        stats = checker.stats()
    finally:
        checker.close()
    assert verdicts == want
    assert stats["keys"] == 16 and stats["tables_wrong"] == 0
    assert stats["table_accepted"] > 3000  # the hot keys' checks come from tables
    assert stats["table_rejected"] >= 1


def test_random_signatures_by_keys_with_tables_are_refused() -> None:
    """Garbage by keys that have tables, R and S random (S canonical half the time, R a
    point's encoding or not): the tables say no to every one, as libsodium does."""
    import random

    rng = random.Random(2112)
    keys = [crypto_sign_seed_keypair(seed)[0] for seed in SEEDS[:2]]
    warm = [
        (sign(secret_scalar(seed), key, b"w%d" % i, 700 + i), key, b"w%d" % i)
        for i in range(2)
        for seed, key in zip(SEEDS[:2], keys, strict=True)
    ]
    garbage = []
    for i in range(1500):
        s = rng.randrange(L) if i % 2 else rng.randrange(2**256)
        r = encode(mul(rng.randrange(1, L), B)) if i % 3 == 0 else rng.randbytes(32)
        message = rng.randbytes(rng.randrange(1, 300))
        garbage.append((r + s.to_bytes(32, "little"), keys[i % 2], message))
    checker = pool()
    try:
        run(checker, warm)
        job = checker.submit(*(list(column) for column in zip(*garbage, strict=True)))
        verdicts = [bool(v) for v in job.wait()]
        stats = checker.stats()
    finally:
        checker.close()
    assert not any(verdicts)
    assert not any(libsodium(*case) for case in garbage[:300])
    assert stats["table_rejected"] == len(garbage) and stats["tables_wrong"] == 0
