"""The wire layout read from bytes equals what the runtime's objects say, on every
transaction of the devnet's mixed workload (legacy and v0, system and SPL Token)."""

from __future__ import annotations

import contextlib
import random

import pytest
from solders.message import MessageV0, to_bytes_versioned
from solders.transaction import VersionedTransaction

from monmouth.core import inbox
from monmouth.core.config import load_settings
from monmouth.devnet import DevnetChain
from monmouth.rust_svm.runtime import SvmRuntime, writable_keys
from monmouth.rust_svm.wire import layout, layout_py


def test_layout_matches_the_runtime_objects() -> None:
    settings = load_settings(None, devnet={"workload": "mixed"})
    chain = DevnetChain(settings.devnet, settings.inbox.address_bytes)
    runtime = SvmRuntime()
    seen = v0 = 0
    while seen < 600:
        chain.next_event()
        for l1tx in chain.tip.transactions:
            if l1tx.to != inbox.DEFAULT_INBOX_ADDRESS or l1tx.status != 1:
                continue
            msg = inbox.decode(l1tx.input, l1tx.value)
            if not isinstance(msg, inbox.Batch):
                continue
            for raw in msg.transactions:
                try:
                    tx = VersionedTransaction.from_bytes(raw)
                    tx.sanitize()
                except BaseException:  # garbage the workload plants
                    continue
                if bytes(tx) != raw:
                    continue
                wire = layout(raw)
                assert wire == layout_py(raw)  # the C reading and the Python reference
                message = tx.message
                keys = [bytes(k) for k in message.account_keys]
                n = message.header.num_required_signatures
                assert list(wire.keys) == keys
                assert wire.blockhash == bytes(message.recent_blockhash)
                assert wire.signers == tuple(keys[:n])
                assert wire.signatures == tuple(bytes(s) for s in tx.signatures)
                assert wire.message == to_bytes_versioned(message)
                lookups = isinstance(message, MessageV0) and bool(message.address_table_lookups)
                assert wire.lookups == lookups
                if not lookups:
                    assert wire.writable == writable_keys(tx, keys, runtime)
                v0 += isinstance(message, MessageV0)
                seen += 1
    assert v0 > 0


def test_cut_short_or_garbage_bytes_raise_not_crash() -> None:
    settings = load_settings(None, devnet={"workload": "spl"})
    chain = DevnetChain(settings.devnet, settings.inbox.address_bytes)
    chain.next_event()
    batches = [
        inbox.decode(t.input, t.value)
        for t in chain.tip.transactions
        if t.to == inbox.DEFAULT_INBOX_ADDRESS and t.status == 1
    ]
    raw = next(m.transactions[0] for m in batches if isinstance(m, inbox.Batch))
    layout(raw)
    for end in range(len(raw) - 1):
        try:
            layout(raw[:end])
        except ValueError as exc:
            assert "end inside" in str(exc)
    rng = random.Random(5)
    for _ in range(2000):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
        with contextlib.suppress(ValueError):
            layout(junk)
    with pytest.raises(ValueError, match="end inside"):
        layout(b"")
    with pytest.raises(TypeError):
        layout(bytearray(raw))  # type: ignore[arg-type]
