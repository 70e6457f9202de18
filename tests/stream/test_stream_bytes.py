"""The bytes subscribers receive stay the same: every frame (topic, header, body) that the
expansion of stored segments gives, for several sets of subscribed prefixes, is compared with
the frames the publisher sent before its formatting was made faster (2026-12-07).

The fixture `data/wire.msgpack.zz` holds real segments, recorded from a devnet node (mixed
workload with failures and malformed input, reorgs, finality, `writes` always built, details
kept) plus plugin segments, and for each prefix set the SHA-256 of every frame the publisher
sent then, in order. Only a deliberate change of the wire format (a new `STREAM_VERSION`, or a
new kind) may re-record it: `python tests/stream/test_stream_bytes.py record` (it overwrites the
digests with what the code gives now).

Two paths are held to it: `Expander.expand` (replay, tests) and the live one, a raw ZeroMQ
SUB socket behind the real publisher process on loopback. And the publisher's fast `writes`
encoder is held equal to its plain reference.
"""

from __future__ import annotations

import hashlib
import sys
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
from solders.signature import Signature

from monmouth.core.records import Segment
from monmouth.stream import segments
from monmouth.stream.publisher_process import PublisherProcess
from monmouth.stream.schema import decode_header, encode
from monmouth.stream.segments import Expander, decode_block_data, writes_body, writes_message
from monmouth.stream.topics import PrefixSet

FIXTURE = Path(__file__).parent / "data" / "wire.msgpack.zz"


class Case(msgspec.Struct, frozen=True):
    """One set of subscribed prefixes (None: everything, as a replay without topics) and the
    digests of the frames it got, in order."""

    prefixes: list[str] | None
    frames: list[bytes]


class Fixture(msgspec.Struct, frozen=True):
    segments: list[tuple[int, Segment]]
    cases: list[Case]


def load() -> Fixture:
    return msgspec.msgpack.decode(zlib.decompress(FIXTURE.read_bytes()), type=Fixture)


def digest(topic: bytes, header: bytes, body: bytes) -> bytes:
    h = hashlib.sha256()
    for part in (topic, header, body):
        h.update(len(part).to_bytes(4, "little"))
        h.update(part)
    return h.digest()


def expanded(segments: Iterable[tuple[int, Segment]], prefixes: list[str] | None) -> list[bytes]:
    """The frames `Expander.expand` gives, each message once per topic, as digests."""
    wanted = None if prefixes is None else PrefixSet(prefixes)
    out = []
    for seq, segment in segments:
        messages, _ = Expander(wanted).expand(seq, segment)
        for m in messages:
            out += [digest(topic, m.header, m.body) for topic in m.topics]
    return out


def _differ(got: list[bytes], want: list[bytes], frames: list[tuple[bytes, ...]] | None) -> str:
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            where = ""
            if frames is not None:
                topic, header, _ = frames[i]
                where = f": {topic!r} {decode_header(header)}"
            return f"frame {i} differs{where}"
    return f"{len(got)} frames, expected {len(want)}"


# ---------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def fixture() -> Fixture:
    return load()


def test_the_fixture_covers_every_kind(fixture: Fixture) -> None:
    """The recorded segments hold every kind of message, so every formatter is held."""
    everything = fixture.cases[0]
    assert everything.prefixes is None
    kinds: set[str] = set()
    for seq, segment in fixture.segments:
        kinds.update(m.kind for m in Expander(None).expand(seq, segment)[0])
    core = {"account", "writes", "transaction", "detail", "slot", "block", "revert", "seal"}
    assert core | {"mevtest", "ragtest"} <= kinds
    assert len(everything.frames) > 1000


@pytest.mark.parametrize("implementation", ["c", "python"])
def test_expansion_gives_the_recorded_frames(
    fixture: Fixture, implementation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both `writes` encoders: the C one (`_segments.c`, where built) and the reference."""
    if implementation == "c" and segments.IMPLEMENTATION != "c":
        pytest.skip("the _segments extension is not built")
    monkeypatch.setattr(segments, "IMPLEMENTATION", implementation)
    for case in fixture.cases:
        got = expanded(fixture.segments, case.prefixes)
        assert got == case.frames, (case.prefixes, _differ(got, case.frames, None))


def test_writes_message_is_the_encoded_writes_body(fixture: Fixture) -> None:
    """The publisher's `writes` encoder gives the bytes of the reference, `writes_body` (one
    struct per write, decoded with `AccountRecord`)."""
    checked = 0
    for _, segment in fixture.segments:
        if segment.kind != "block":
            continue
        data = decode_block_data(segment.data)
        if not data.writes:
            continue
        names = [None if t.signature is None else str(Signature(t.signature)) for t in data.txs]
        assert writes_message(data, names) == msgspec.Raw(encode(writes_body(data)))
        checked += 1
    assert checked > 10


class _General(Expander):
    """An `Expander` that runs the general loops (each topic matched) where the real one runs
    `_planned_accounts` and `_planned_transactions`."""

    _planned_accounts = Expander._accounts
    _planned_transactions = Expander._transactions


@pytest.mark.parametrize(
    "prefixes",
    [
        None,
        [""],
        ["transaction/"],
        ["mention/"],
        ["detail/"],
        ["transaction/", "detail/", "block/"],
        ["", "mention/", "transaction/"],
        ["owner/", "account/"],
        ["owner/"],
        ["mention/", "seal/"],
        ["slot/", "writes/"],
    ],
)
def test_planned_transactions_are_the_general_loop(
    fixture: Fixture, prefixes: list[str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-block plan of `_planned_transactions` gives every message, topic, header, body
    and seal count that matching each topic gives, for prefix sets beyond the recording's;
    and it is the loop that runs for them."""
    planned = {"_planned_accounts": 0, "_planned_transactions": 0}

    def counting(name: str) -> Any:
        real = getattr(Expander, name)

        def run(self: Expander, *args: Any) -> int:
            planned[name] += 1
            return int(real(self, *args))

        return run

    for name in planned:
        monkeypatch.setattr(Expander, name, counting(name))
    # No key named yet: the planned loop's names come from `_b58` itself, not only its cache.
    monkeypatch.setattr(segments._b58, "names", {})
    wanted = None if prefixes is None else PrefixSet(prefixes)
    fast, general = Expander(wanted), _General(wanted)
    blocks = 0
    for seq, segment in fixture.segments:
        blocks += segment.kind == "block"
        assert fast.messages(seq, segment) == general.messages(seq, segment)
    assert planned["_planned_transactions"] == blocks > 0
    # Accounts are planned unless nobody takes them (then they are skipped, uncounted).
    takes_accounts = prefixes is None or any(p in ("", "account/", "owner/") for p in prefixes)
    assert planned["_planned_accounts"] == (blocks if takes_accounts else 0)


def _receive(sock: zmq.Socket[bytes], last_seq: int) -> Iterator[tuple[bytes, ...]]:
    """Every frame up to the first heartbeat sent after `last_seq` (heartbeats left out)."""
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline, "the last message never came"
        if not sock.poll(1000):
            continue
        parts = tuple(sock.recv_multipart())
        if parts[0].startswith(b"heartbeat/"):
            if decode_header(parts[1]).seq >= last_seq:
                return
            continue
        yield parts


@pytest.mark.parametrize("which", range(1, 8))
def test_a_subscriber_receives_the_recorded_bytes(fixture: Fixture, which: int) -> None:
    """Through the real child process and loopback TCP, to a raw SUB socket: the live path."""
    from streamkit import free_endpoint, wait_until

    case = fixture.cases[which]
    prefixes = case.prefixes
    assert prefixes
    endpoint = free_endpoint()
    proxy = PublisherProcess(
        endpoint, instance="t", role="executor", stream_id="s", last_seq=-1, heartbeat_interval=0.2
    )
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = context.socket(zmq.SUB)
    sock.rcvhwm = 0
    try:
        for prefix in [*prefixes, "heartbeat/"]:
            sock.subscribe(prefix.encode())
        sock.connect(endpoint)
        wait_until(lambda: set(prefixes) <= set(proxy.subscriptions), 60, "the subscriptions")
        for seq, segment in fixture.segments:
            proxy.submit(seq, segment)
        last_seq, last = fixture.segments[-1]
        frames = list(_receive(sock, last_seq + last.count - 1))
        got = [digest(*f) for f in frames]
        assert got == case.frames, (prefixes, _differ(got, case.frames, frames))
    finally:
        sock.close(linger=0)
        context.term()
        proxy.close()


# ---------------------------------------------------------------------- recording


def _record_segments(workdir: Path) -> list[tuple[int, Segment]]:
    import anyio
    from streamkit import stream_settings

    from monmouth.app import build_node, make_source
    from monmouth.stream.eventlog import StreamService

    settings = stream_settings(
        workdir / "d",
        None,
        devnet={
            "workload": "mixed",
            "txs_per_block": 12,
            "reorg_probability": 0.3,
            "reorg_max_depth": 3,
            "confirmed_depth": 2,
            "finalized_depth": 5,
        },
        stream={"writes": "always"},
    )
    node = build_node(settings)
    try:
        events = node.events
        assert isinstance(events, StreamService)
        mev = events.register("mevtest")
        rag = events.register("ragtest")
        anyio.run(lambda: node.run(make_source(settings), max_blocks=24))
        mev.publish(3, {"pattern": "sandwich", "victims": [1, 2], "raw": b"\x00\x01"}, key="k1")
        rag.publish(4, [1, "two", None, 3.5])
        first, next_seq, _ = node.store.stream_bounds()
        segments = list(node.store.segments(first, next_seq - 1))
    finally:
        node.close()
    return [*segments, (next_seq, _closing_segment())]


def _closing_segment() -> Segment:
    """A block that closes one account and creates another (the devnet closes none)."""
    from monmouth.core.eventlog import Writes
    from monmouth.core.records import BlockRecord
    from monmouth.rust_svm.accounts import AccountRecord, encode_account_fields
    from monmouth.stream.segments import block_segment

    closed, created, owner = (hashlib.sha256(n).digest() for n in (b"closed", b"new", b"owner"))
    old = AccountRecord(5, owner, False, 0, b"ab").encode()
    new = AccountRecord(7, owner, True, 3, b"xyz").encode()
    record = BlockRecord(100, bytes(range(32)), bytes(32), 1_700_000_000, bytes(32), 1, 2, 0, 0, 0)
    # Three deposits' writes: the closed account's last as the executor reports a closing.
    writes = Writes(
        [
            (closed, encode_account_fields(3, owner, False, 0, b"a"), -1),
            (created, new, -1),
            (closed, encode_account_fields(0, bytes(32), False, 0, b""), -1),
        ],
        [(closed, old), (created, None)],
    )
    return block_segment(record, 99, [(closed, old, None), (created, None, new)], [], (), writes)


def _prefix_sets(segments: list[tuple[int, Segment]]) -> list[list[str] | None]:
    """Everything; the kinds a Subscriber asks for; and prefixes naming keys of the data."""
    names: dict[str, list[str]] = {}
    for seq, segment in segments:
        for m in Expander(None).expand(seq, segment)[0]:
            names.setdefault(m.kind, []).append(m.topics[0].decode())
    account = names["account"][5].split("/")[1]
    transaction = names["transaction"][7]
    failed = next(t for t in names["transaction"] if t.startswith("transaction/failed/"))
    control = ["block/", "slot/", "revert/", "seal/", "heartbeat/"]
    return [
        None,
        [""],
        [*control, "transaction/", "account/", "writes/", "detail/", "mevtest/"],
        [*control, f"account/{account}/", "owner/11111111111111111111111111111111/"],
        [*control, f"mention/ok/{account}/", f"mention/failed/{account}/", transaction, failed],
        [*control, "mention/", "transaction/ok/", "acc", "detail/1", "ragtest/"],
        ["", "transaction/", "mention/", "owner/", "writes/"],
        ["slot/confirmed/", "mevtest/k1/", "nothing/"],
        [],
    ]


def record() -> None:  # pragma: no cover - run by hand, see the module docstring
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        segments = _record_segments(Path(tmp))
    cases = [Case(p, expanded(segments, p)) for p in _prefix_sets(segments)]
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_bytes(zlib.compress(msgspec.msgpack.encode(Fixture(segments, cases)), 9))
    print(FIXTURE, FIXTURE.stat().st_size, "bytes;", [len(c.frames) for c in cases])


if __name__ == "__main__":  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).parent.parent))
    if sys.argv[1:] != ["record"]:
        raise SystemExit("usage: python tests/stream/test_stream_bytes.py record")
    record()
