"""The lattice hash reproduces the upstream vectors: agave `lattice-hash/src/lt_hash.rs`, tests
`test_hello_world` and `test_checksum_display` (the same arrays are in firedancer
`src/ballet/lthash/test_lthash.c`)."""

from __future__ import annotations

from collections.abc import Iterator

import base58
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monmouth.core.lthash import SIZE, LtHash, account_lthash

HELLO_CHECKSUM = bytes(
    [
        79,
        156,
        26,
        184,
        156,
        205,
        94,
        208,
        182,
        235,
        33,
        147,
        111,
        153,
        229,
        152,
        207,
        133,
        75,
        109,
        182,
        198,
        119,
        61,
        11,
        81,
        41,
        70,
        24,
        87,
        100,
        85,
    ]
)
WORLD_CHECKSUM = bytes(
    [
        171,
        53,
        185,
        10,
        179,
        49,
        48,
        151,
        87,
        43,
        141,
        13,
        43,
        152,
        121,
        1,
        144,
        7,
        120,
        188,
        115,
        248,
        214,
        220,
        229,
        210,
        175,
        134,
        215,
        231,
        18,
        245,
    ]
)


def test_hello_world_checksums() -> None:
    assert LtHash.of(b"hello").checksum() == HELLO_CHECKSUM
    assert LtHash.of(b"world!").checksum() == WORLD_CHECKSUM
    assert LtHash.of(b"hello").checksum_b58() == "6MmGXJNfa8JKF5XhtHuKEhnLmr38vcyqBCwEXCCFnRVN"
    assert LtHash.of(b"world!").checksum_b58() == "CXLEHXcpmgXvtrwc4y5VG2iy1hKKCxETFroN4aatZGB6"


def test_first_lanes_of_hello() -> None:
    lanes = [int(x) for x in LtHash.of(b"hello").lanes[:8]]
    assert lanes == [0x8FEA, 0x3D16, 0x86B3, 0x9282, 0x445E, 0xC591, 0x8DE5, 0xB34B]


def test_identity_and_mix() -> None:
    assert LtHash.identity().checksum_b58() == "DoL6fvKuTpTQCyUh83NxQw2ewKzWYtq9gsTKp1eQiGC2"
    mixed = LtHash.of(b"hello")
    mixed.mix_in(LtHash.of(b"world!"))
    assert mixed.checksum_b58() == "3PPf194LUc9neHCRt1JPjJo4WK8qUzuDADDiVzgNAD5S"
    mixed.mix_out(LtHash.of(b"hello"))
    mixed.mix_out(LtHash.of(b"world!"))
    assert mixed == LtHash.identity()


def test_mixing_is_order_independent_and_wraps() -> None:
    a, b, c = LtHash.of(b"a"), LtHash.of(b"b"), LtHash.of(b"c")
    x = LtHash.identity()
    for h in (a, b, c, c, c):
        x.mix_in(h)
    y = LtHash.identity()
    for h in (c, c, b, c, a):
        y.mix_in(h)
    assert x == y


def test_round_trip_bytes() -> None:
    h = LtHash.of(b"x")
    assert LtHash.from_bytes(h.to_bytes()) == h
    assert len(h.to_bytes()) == SIZE
    with pytest.raises(ValueError, match="2048"):
        LtHash.from_bytes(b"short")


def test_account_hash_layout() -> None:
    pubkey, owner = bytes(range(32)), bytes(range(32, 64))
    expected = LtHash.of((7).to_bytes(8, "little") + b"data" + b"\x01" + owner + pubkey)
    assert account_lthash(pubkey, 7, b"data", True, owner) == expected
    # rent_epoch is not hashed and a 0-lamport account does not exist.
    assert account_lthash(pubkey, 0, b"data", True, owner) == LtHash.identity()
    assert account_lthash(pubkey, 7, b"data", False, owner) != expected
    assert base58.b58encode(expected.checksum()).decode() == expected.checksum_b58()


def test_fast_paths_agree_with_the_definition() -> None:
    from monmouth.core.lthash import digest, sum_of
    from monmouth.rust_svm.accounts import AccountRecord, account_hash_input

    pubkey, owner = bytes(range(32)), bytes(range(1, 33))
    records = [AccountRecord(n + 1, owner, n % 2 == 0, 2**64 - 1, bytes([n]) * n) for n in range(5)]
    total = LtHash.identity()
    for rec in records:
        total.mix_in(account_lthash(pubkey, rec.lamports, rec.data, rec.executable, rec.owner))
    digests = [digest(account_hash_input(pubkey, rec.encode())) for rec in records]
    assert sum_of(digests) == total
    assert sum_of([]) == LtHash.identity()


# ------------------------------------------------------------------ the C extension (`_lthash.c`)

_lthash = pytest.importorskip("monmouth.core._lthash")

#: Lengths around every boundary of BLAKE3's input: blocks of 64 bytes, chunks of 1,024, and the
#: tree's merges at 2, 3, 4 and 8 chunks.
BOUNDARIES = sorted(
    {n + d for n in (0, 64, 128, 1024, 2048, 3072, 4096, 8192) for d in (-1, 0, 1) if n + d >= 0}
    | {n * 64 + d for n in range(1, 17) for d in (-1, 0, 1)}
    | {16 * 1024 + 1, 31 * 1024, 33 * 1024 + 7, 100_000}
)


@pytest.mark.parametrize("length", BOUNDARIES)
def test_c_digest_is_blake3s_extendable_output(length: int) -> None:
    from monmouth.core.lthash import digest_py

    data = bytes((i * 251 + length) % 256 for i in range(length))
    assert _lthash.digest(data) == digest_py(data)
    assert _lthash.digest(bytearray(data)) == digest_py(data)  # any buffer


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=5000))
def test_c_digest_of_any_bytes(data: bytes) -> None:
    from monmouth.core.lthash import digest_py

    assert _lthash.digest(data) == digest_py(data)


@settings(max_examples=200, deadline=None)
@given(
    pubkey=st.binary(min_size=32, max_size=32),
    lamports=st.integers(1, 2**64 - 1),
    rent_epoch=st.integers(0, 2**64 - 1),
    executable=st.booleans(),
    owner=st.binary(min_size=32, max_size=32),
    data=st.binary(max_size=3000),
)
def test_c_account_digest_is_the_accounts_lthash(
    pubkey: bytes, lamports: int, rent_epoch: int, executable: bool, owner: bytes, data: bytes
) -> None:
    from monmouth.core.lthash import account_digest_py
    from monmouth.rust_svm.accounts import AccountRecord

    raw = AccountRecord(lamports, owner, executable, rent_epoch, data).encode()
    got = _lthash.account_digest(pubkey, raw)
    assert got == account_digest_py(pubkey, raw)
    assert LtHash.from_bytes(got) == account_lthash(pubkey, lamports, data, executable, owner)


def test_c_account_digest_refuses_a_short_record() -> None:
    with pytest.raises(ValueError, match="49 bytes"):
        _lthash.account_digest(bytes(32), bytes(48))


# Up to 11 hashes of 2 KB an example: past hypothesis's entropy budget now and then (a failed
# health check, not a failed mix).
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
@given(
    start=st.binary(min_size=SIZE, max_size=SIZE),
    ins=st.lists(st.binary(min_size=SIZE, max_size=SIZE), max_size=5),
    outs=st.lists(st.binary(min_size=SIZE, max_size=SIZE), max_size=5),
)
def test_c_mix_is_the_numpy_mix(start: bytes, ins: list[bytes], outs: list[bytes]) -> None:
    fast, reference = LtHash.from_bytes(start), LtHash.from_bytes(start)
    fast.mix(ins, outs)
    reference.mix_py(ins, outs)
    assert fast == reference


def test_c_mix_refuses_what_is_not_a_lattice_hash() -> None:
    lanes = LtHash.identity()
    with pytest.raises(ValueError, match="2048 bytes"):
        _lthash.mix(lanes.lanes, [bytes(10)], [])
    # A bad hash anywhere changes nothing, even after good ones.
    with pytest.raises(ValueError, match="2048 bytes"):
        _lthash.mix(lanes.lanes, [b"\x01" * SIZE, bytes(10)], [b"\x02" * SIZE])
    with pytest.raises(TypeError):
        _lthash.mix(lanes.lanes, [b"\x01" * SIZE], [None])
    assert lanes == LtHash.identity()
    with pytest.raises(ValueError, match="2048 bytes"):
        _lthash.mix(bytearray(10), [], [])


def test_the_node_uses_the_c_extension() -> None:
    from monmouth.core import lthash
    from monmouth.core.implementations import implementations

    assert lthash.IMPLEMENTATION == "c" and implementations()["lthash"] == "c"
    assert lthash.account_digest is _lthash.account_digest


# ------------------------------------------------------------------ a block's pass (`mix_writes`)

#: Few keys and values, so that a block's olds hit, miss and contradict the digest cache.
_KEYS = [bytes([i]) * 32 for i in range(4)]


def _raw(seed: int) -> bytes:
    from monmouth.rust_svm.accounts import AccountRecord

    return AccountRecord(
        seed + 1, bytes([seed]) * 32, seed % 5 == 0, seed, bytes(seed % 7)
    ).encode()


_VALUE = st.one_of(st.none(), st.integers(0, 5).map(_raw))


@settings(max_examples=300, deadline=None)
@given(
    start=st.binary(min_size=SIZE, max_size=SIZE),
    blocks=st.lists(
        st.lists(st.tuples(st.sampled_from(_KEYS), _VALUE, _VALUE), max_size=6), max_size=5
    ),
    stale=st.dictionaries(st.sampled_from(_KEYS), st.tuples(_VALUE, st.just(b"\x07" * SIZE))),
)
def test_c_mix_writes_is_the_python_pass(
    start: bytes,
    blocks: list[list[tuple[bytes, bytes | None, bytes | None]]],
    stale: dict[bytes, tuple[bytes | None, bytes]],
) -> None:
    """Block after block, the C pass leaves the lanes, the writes and the digest cache as the
    Python one, with cache entries for other values (and wrong digests: never used, since
    their values are not the olds') and olds equal to news (no write)."""
    from monmouth.core.lthash import mix_writes_py

    fast, reference = LtHash.from_bytes(start), LtHash.from_bytes(start)
    # Entries whose value is an old of a block must hold its real digest: keep only the
    # others (a wrong digest for a value that never comes up is what "stale" tests).
    olds = {old for block in blocks for _, old, _ in block}
    seeded = {k: v for k, v in stale.items() if v[0] is not None and v[0] not in olds}
    fast_cache: dict[bytes, tuple[bytes, bytes]] = dict(seeded)  # type: ignore[arg-type]
    ref_cache: dict[bytes, tuple[bytes, bytes]] = dict(seeded)  # type: ignore[arg-type]
    for block in blocks:
        keys = [k for k, _, _ in block]
        old_values = [o for _, o, _ in block]
        new_values = [n for _, _, n in block]
        got = _lthash.mix_writes(fast.lanes, fast_cache, keys, old_values, new_values)
        want = mix_writes_py(reference, ref_cache, keys, old_values, new_values)
        assert got == want
        assert fast == reference
        assert fast_cache == ref_cache


def test_c_mix_writes_uses_the_cached_digest_and_hashes_a_miss() -> None:
    """An old value the cache holds is mixed out with the cached digest (here a made-up one,
    to see it used); any other old value is hashed."""
    from monmouth.core.lthash import account_digest_py

    key, old, new = _KEYS[0], _raw(1), _raw(2)
    made_up = b"\x05" * SIZE
    lanes = LtHash.identity()
    cache = {key: (old, made_up)}
    writes = _lthash.mix_writes(lanes.lanes, cache, [key], [old], [new])
    assert writes == [(key, old, new)]
    expected = LtHash.identity()
    expected.mix([account_digest_py(key, new)], [made_up])
    assert lanes == expected
    assert cache == {key: (new, account_digest_py(key, new))}
    # The cache now holds `new`: `old` is a miss and is hashed.
    lanes = LtHash.identity()
    _lthash.mix_writes(lanes.lanes, cache, [key], [old], [None])
    expected = LtHash.identity()
    expected.mix([], [account_digest_py(key, old)])
    assert lanes == expected


def test_c_mix_writes_refuses_bad_arguments() -> None:
    lanes = LtHash.identity()
    key = _KEYS[0]
    with pytest.raises(ValueError, match="49 bytes"):
        _lthash.mix_writes(lanes.lanes, {}, [key], [None], [bytes(48)])
    with pytest.raises(ValueError, match="49 bytes"):
        _lthash.mix_writes(lanes.lanes, {}, [key], [bytes(48)], [None])
    with pytest.raises(TypeError):
        _lthash.mix_writes(lanes.lanes, {}, [key], [bytearray(_raw(1))], [None])
    with pytest.raises(TypeError):
        _lthash.mix_writes(lanes.lanes, {}, [key], [None], [5])
    with pytest.raises(ValueError, match="length"):
        _lthash.mix_writes(lanes.lanes, {}, [key], [None], [])
    with pytest.raises(ValueError, match="2048 bytes"):
        _lthash.mix_writes(bytearray(10), {}, [key], [None], [_raw(1)])
    # Type errors are found before anything is mixed.
    with pytest.raises(TypeError):
        _lthash.mix_writes(lanes.lanes, {}, [key, key], [None, 5], [_raw(1), None])
    assert lanes == LtHash.identity()


# ------------------------------------------------------------------ the SIMD paths

#: Every input length up to past two chunks: each block and chunk boundary, the first parent
#: node (a root over two chunks), and every root block length 1..64.
ALL_LENGTHS = range(2101)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            line = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        return set()
    return set(line.split(":", 1)[-1].split())


@pytest.fixture(params=_lthash._paths())
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each SIMD path this CPU runs, in use for the test (then the one chosen again)."""
    previous = _lthash._use(request.param)
    try:
        yield request.param
    finally:
        _lthash._use(previous)


def test_the_fastest_path_this_cpu_runs_is_chosen() -> None:
    import platform

    paths = _lthash._paths()
    assert paths[-1] == "portable"
    flags = _cpu_flags()
    if platform.machine() in ("x86_64", "AMD64") and flags:
        expected = ["avx512"] if {"avx512f", "avx512bw"} <= flags else []
        expected += ["avx2"] if "avx2" in flags else []
        assert list(paths[:-1]) == expected
    assert _lthash._path() == paths[0]


def test_every_path_is_blake3s_extendable_output_at_every_length(path: str) -> None:
    """Each path the CPU runs (not only the chosen one) gives the reference's bytes, for every
    input length 0..2100 (the root's block length, flags and chaining value all vary)."""
    from monmouth.core.lthash import digest_py

    assert _lthash._path() == path
    data = bytes((i * 131 + 7) % 256 for i in range(ALL_LENGTHS.stop))
    for length in ALL_LENGTHS:
        assert _lthash.digest(data[:length]) == digest_py(data[:length]), length


def test_every_path_mixes_as_numpy(path: str) -> None:
    """Adding and subtracting on each path wrap as numpy's u16 lanes do, over every lane."""
    assert _lthash._path() == path
    start = bytes((i * 7 + 3) % 256 for i in range(SIZE))
    ins = [bytes((i * 13 + k) % 256 for i in range(SIZE)) for k in range(3)]
    outs = [b"\xff" * SIZE, bytes(range(256)) * 8]
    fast, reference = LtHash.from_bytes(start), LtHash.from_bytes(start)
    fast.mix(ins, outs)
    reference.mix_py(ins, outs)
    assert fast == reference
    _lthash.mix(fast.lanes, [], ins + outs)
    reference.mix_py([], ins + outs)
    assert fast == reference


def test_use_refuses_an_unknown_path() -> None:
    with pytest.raises(ValueError, match="path"):
        _lthash._use("sse9")
    with pytest.raises(TypeError):
        _lthash._use(b"portable")
    assert _lthash._path() == _lthash._paths()[0]


def test_account_digest_at_every_data_length() -> None:
    """`account_digest` over records whose hash input (73 bytes + data) crosses every block and
    chunk boundary up to past two chunks."""
    from monmouth.core.lthash import account_digest_py
    from monmouth.rust_svm.accounts import AccountRecord

    pubkey, owner = bytes(range(3, 35)), bytes(range(40, 72))
    data = bytes((i * 29 + 1) % 256 for i in range(ALL_LENGTHS.stop))
    for length in ALL_LENGTHS:
        raw = AccountRecord(length + 1, owner, length % 2 == 1, 9, data[:length]).encode()
        assert _lthash.account_digest(pubkey, raw) == account_digest_py(pubkey, raw), length
