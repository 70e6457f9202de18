"""The rag index over a real devnet run: a query like a known transaction finds it first,
filters hold, the approximate search agrees with the exact one, and the same chain gives the same
documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from monmouth.core.state import Store
from monmouth.plugins.rag import Plugin
from monmouth.plugins.rag.documents import Document
from monmouth.plugins.rag.index import RagIndex
from monmouth.testing import MonmouthRun, MonmouthRunner

#: A devnet with every kind of transaction: transfers, token mints and transfers, failures, MEV
#: patterns (a 16-transfer transaction, spam bursts).
DEVNET: dict[str, Any] = {
    "seed": 11,
    "txs_per_block": 30,
    "mev_patterns": True,
    "failure_rate": 0.1,
}


@pytest.fixture
def indexed(monmouth_run: MonmouthRunner) -> MonmouthRun:
    return monmouth_run(Plugin, name="rag", blocks=25, **DEVNET)


def documents(data_dir: Path) -> list[Document]:
    with RagIndex(data_dir / "rag", readonly=True) as index:
        return list(index.store.iter_documents())


def test_every_executed_transaction_is_a_document(indexed: MonmouthRun) -> None:
    docs = documents(indexed.data_dir)
    assert len(docs) == indexed.stats.ok + indexed.stats.failed > 500
    assert {d.status for d in docs} == {"ok", "failed"}
    assert len({d.signature for d in docs}) == len(docs)
    with Store(indexed.data_dir, readonly=True) as store:
        for doc in docs[::25]:
            record = store.block(doc.slot)
            assert record is not None and doc.block_hash == "0x" + record.hash.hex()
    kinds = {i for d in docs for i in d.instructions}
    assert {
        "system.transfer",
        "system.create_account",
        "token.initialize_mint",
        "token.initialize_account",
        "token.mint_to",
        "token.transfer",
    } <= kinds
    # Amounts are known: the plugin saw every account from the empty state on.
    transfer = next(d for d in docs if d.instructions == ("system.transfer",) and d.status == "ok")
    assert len(transfer.movements) == 2 and sum(m.delta for m in transfer.movements) == 0
    assert "SOL from" in transfer.summary
    failed = next(d for d in docs if d.status == "failed")
    assert failed.error is not None and "failed" in failed.error
    assert failed.summary.startswith(f"failed transaction {failed.signature} in slot {failed.slot}")


def test_a_query_like_a_known_transaction_returns_it_first(indexed: MonmouthRun) -> None:
    docs = documents(indexed.data_dir)
    with RagIndex(indexed.data_dir / "rag", readonly=True) as index:
        for doc in docs[:: max(1, len(docs) // 40)]:
            by_text = index.query(doc.summary, k=5)
            assert by_text[0].document == doc and by_text[0].score == pytest.approx(1.0, abs=2e-3)
            by_example = index.query(like=doc.signature, k=5)
            assert by_example[0].document == doc
            assert [h.score for h in by_example] == sorted(
                (h.score for h in by_example), reverse=True
            )
            filtered = index.query(
                like=doc.signature,
                k=3,
                status=doc.status,
                program=doc.programs[0],
                from_height=doc.slot,
                to_height=doc.slot,
            )
            assert filtered[0].document == doc
            assert all(h.document.slot == doc.slot for h in filtered)
        with pytest.raises(ValueError, match="no indexed transaction"):
            index.query(like="1" * 64, k=1)
        with pytest.raises(ValueError, match="not a transaction signature"):
            index.query(like="nope", k=1)


def test_filters(indexed: MonmouthRun) -> None:
    docs = documents(indexed.data_dir)
    with RagIndex(indexed.data_dir / "rag", readonly=True) as index:
        failed = index.query("transfer", k=20, status="failed")
        assert failed and all(h.document.status == "failed" for h in failed)
        token = index.query("transfer", k=20, program="token")
        assert token and all("token" in h.document.programs for h in token)
        key = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
        assert [h.document for h in index.query("transfer", k=20, program=key)] == [
            h.document for h in token
        ]
        by_key = index.query(account=key, k=20)  # a program's key: its documents
        assert len(by_key) == 20 and all("token" in h.document.programs for h in by_key)
        window = index.query("transfer", k=50, from_height=5, to_height=9)
        assert window and all(5 <= h.document.slot <= 9 for h in window)
        assert index.query("transfer", k=5, from_height=10, to_height=9) == []
        payer = docs[len(docs) // 2].fee_payer
        mine = index.query(account=payer, k=30)
        assert len(mine) == min(30, sum(1 for d in docs if payer in d.accounts))
        assert all(payer in h.document.accounts for h in mine)
        both = index.query("failed", account=payer, k=5, status="failed")
        assert all(payer in h.document.accounts and h.document.status == "failed" for h in both)
        with pytest.raises(ValueError, match="heights must be"):
            index.query("x", from_height=-1)
        with pytest.raises(ValueError, match="status"):
            index.query("x", status="rejected")
        with pytest.raises(ValueError, match="not both"):
            index.query("x", like=docs[0].signature)
        with pytest.raises(ValueError, match="give TEXT"):
            index.query()
        with pytest.raises(ValueError, match="public key"):
            index.query(account="not-a-key")


def test_approximate_search_agrees_with_exact(indexed: MonmouthRun) -> None:
    docs = documents(indexed.data_dir)
    texts = [
        "failed token transfer insufficient funds",
        "create account initialize mint",
        "system transfer 16 transfers",
        "mint to",
        docs[3].fee_payer,
    ]
    with RagIndex(indexed.data_dir / "rag", readonly=True) as index:
        for text in texts:
            approx = index.query(text, k=10)
            exact = index.query(text, k=10, exact=True)
            tenth = exact[-1].score
            # Tie-aware: each approximate hit is at least as good as the exact tenth best.
            hits = sum(1 for h in approx if h.score >= tenth - 1e-3)
            assert hits >= 9, (text, [h.score for h in approx], [h.score for h in exact])
            assert exact[0].score == pytest.approx(approx[0].score, abs=1e-3)


def test_context_pack(indexed: MonmouthRun) -> None:
    with RagIndex(indexed.data_dir / "rag", readonly=True) as index:
        pack = index.context("failed token transfer", k=3, status="failed")
        stats = index.stats()
    assert pack["version"] == 1
    assert pack["query"] == {"text": "failed token transfer", "k": 3, "status": "failed"}
    assert pack["head"]["slot"] == indexed.head.number if indexed.head else False
    assert [d["rank"] for d in pack["documents"]] == [1, 2, 3]
    assert all(d["status"] == "failed" for d in pack["documents"])
    assert pack["prompt"].count("\n[") == 3 and "[1] score " in pack["prompt"]
    assert pack["documents"][0]["summary"] in pack["prompt"]
    msgspec.json.encode(pack)  # JSON all the way down
    assert stats["documents"] == indexed.stats.ok + indexed.stats.failed
    assert stats["embedder"] == "hashing-v1-128" and stats["balances_complete"] is True


def test_the_same_chain_gives_the_same_documents(monmouth_run: MonmouthRunner) -> None:
    one = monmouth_run(Plugin, name="rag", blocks=8, **DEVNET)
    two = monmouth_run(Plugin, name="rag", blocks=8, **DEVNET)
    first, second = documents(one.data_dir), documents(two.data_dir)
    assert first and msgspec.msgpack.encode(first) == msgspec.msgpack.encode(second)
    with (
        RagIndex(one.data_dir / "rag", readonly=True) as a,
        RagIndex(two.data_dir / "rag", readonly=True) as b,
    ):
        ids = [d.id for d in first]
        assert (a.store.vectors(ids, 128) == b.store.vectors(ids, 128)).all()
