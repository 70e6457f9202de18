"""A group commit writes the same bytes as its blocks committed one by one, and reverts as they
do: `Store.commit_blocks` writes accounts and messages once per group, in key order, and the
head once; undo records, statuses, details and pruning stay per block."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from conftest import store_contents
from hypothesis import given, settings
from hypothesis import strategies as st

from monmouth.core.lthash import LtHash
from monmouth.core.records import (
    BlockRecord,
    MessageRecord,
    Segment,
    TxDetail,
    TxRecord,
    detail_key,
    encode,
    message_key,
)
from monmouth.core.spl import TOKEN_PROGRAM
from monmouth.core.state import BlockWrite, DetailWrite, Store
from monmouth.rust_svm.accounts import AccountRecord

#: Few keys, so that blocks of a group write the same accounts and statuses again.
_KEYS = [bytes([i]) * 32 for i in range(1, 9)]
_SIGNATURES = [bytes([i]) * 64 for i in range(1, 7)]
_MINTS = [b"m" * 32, b"n" * 32]


#: The databases that hold the state itself (not undo records or pruning marks).
_STATE = (
    "accounts",
    "txs",
    "messages",
    "by_owner",
    "token_by_owner",
    "token_by_mint",
    "token_by_delegate",
)


def _account(rng: random.Random) -> bytes | None:
    kind = rng.randrange(4)
    if kind == 0:
        return None  # closed, or never there
    if kind == 1:  # an SPL token account: it moves in the token indexes
        data = bytearray(165)
        data[0:32] = rng.choice(_MINTS)
        data[32:64] = rng.choice(_KEYS)
        if rng.random() < 0.5:
            data[72:76] = b"\x01\x00\x00\x00"
            data[76:108] = rng.choice(_KEYS)
        data[108] = 1
        return AccountRecord(rng.randrange(1, 10**9), TOKEN_PROGRAM, False, 0, bytes(data)).encode()
    owner = bytes(32) if kind == 2 else b"o" * 32
    return AccountRecord(rng.randrange(1, 10**9), owner, False, 0, rng.randbytes(3)).encode()


def _details(rng: random.Random, number: int) -> list[DetailWrite]:
    """A few executed transactions' details (real wire transactions: a revert reads their
    keys back for the signatures-by-address index)."""
    from solders.hash import Hash
    from solders.keypair import Keypair
    from solders.message import Message
    from solders.system_program import TransferParams, transfer
    from solders.transaction import Transaction

    out = []
    for position in range(rng.randrange(3)):
        payer = Keypair.from_seed(rng.randbytes(32))
        to = rng.choice([payer.pubkey(), Keypair.from_seed(rng.randbytes(32)).pubkey()])
        ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=1))
        message = Message.new_with_blockhash([ix], payer.pubkey(), Hash.default())
        wire = bytes(Transaction([payer], message, Hash.default()))
        detail = TxDetail(wire, [5, 1], [4, 1], None, [], [], [], None)
        keys = [bytes(k) for k in Transaction.from_bytes(wire).message.account_keys]
        key = detail_key(number, 0, position)
        out.append(DetailWrite(key, wire[1:65], keys, encode(detail)))
    return out


def _segments(rng: random.Random, number: int) -> list[Segment]:
    """The block's stream segments: usually its own, sometimes a plugin's too, or none."""
    kinds = rng.choice([[], ["block"], ["block", "plugin"], ["plugin"]])
    return [Segment(kind, number, rng.randrange(1, 4), rng.randbytes(5)) for kind in kinds]  # type: ignore[arg-type]


def _chain(seed: int, blocks: int) -> list[BlockWrite]:
    """Consecutive blocks from genesis; each account write's old value is the one before it."""
    rng = random.Random(seed)
    state: dict[bytes, bytes | None] = {}
    out = []
    for number in range(blocks):
        writes = []
        for key in rng.sample(_KEYS, rng.randrange(len(_KEYS))):
            new = _account(rng)
            old = state.get(key)
            if new != old:
                writes.append((key, old, new))
                state[key] = new
        txs = [
            TxRecord(
                s,
                rng.choice(["ok", "failed", "rejected"]),
                None,
                None,
                number,
                5000,
                1,
                [],
                b"h" * 32,
                i,
                0,
            )
            for i, s in enumerate(rng.sample(_SIGNATURES, rng.randrange(3)))
        ]
        messages = [
            (message_key(number, i), MessageRecord(b"l" * 32, "batch", None, [("ok", None)]))
            for i in range(rng.randrange(3))
        ]
        record = BlockRecord(
            number,
            number.to_bytes(32, "big"),
            (number - 1 if number else 0).to_bytes(32, "big"),
            1_700_000_000 + number,
            bytes(32),
            len(messages),
            0,
            0,
            0,
            0,
        )
        write = BlockWrite(
            record, LtHash.of(bytes([number])), writes, txs, messages, _details(rng, number)
        )
        out.append(write)
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 8), st.sampled_from([None, 2, 6]))
def test_a_group_writes_what_its_blocks_write_one_by_one(
    seed: int, group: int, finalized: int | None
) -> None:
    chain = _chain(seed, 12)
    rng = random.Random(seed)
    segments = [_segments(rng, write.block.number) for write in chain]
    with tempfile.TemporaryDirectory() as tmp:
        contents = []
        # Retention 3: pruning drops undo records of blocks of the same group (and, with a
        # finalized block, stops at it); the stream log keeps the last 4 blocks' segments.
        for name, size in (("one", 1), ("group", group)):
            with Store(Path(tmp) / name, sync=False, retention=3, stream_blocks=4) as store:
                if finalized is not None:
                    store.set_finality(None, finalized)
                for start in range(0, len(chain), size):
                    part = chain[start : start + size]
                    store.commit_blocks(part, segments[start : start + size])
                contents.append(store_contents(store))
                # And the revert of the last (undoable) blocks restores what was before them.
                store.revert_blocks(2)
                contents.append(store_contents(store))
        one_by_one, reverted_one, grouped, reverted_group = contents
        assert grouped == one_by_one
        assert reverted_group == reverted_one
        # The state the revert left is the state of the first ten blocks.
        with Store(Path(tmp) / "ten", sync=False, retention=3) as store:
            store.commit_blocks(chain[:10], [[] for _ in chain[:10]])
            ten = store_contents(store)
        for name in _STATE:
            assert ten[name] == reverted_group[name]
