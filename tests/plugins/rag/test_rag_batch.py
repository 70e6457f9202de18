"""The batched write path gives what the per-document definitions give: the words a summary is
built with are the words the embedder would find in it, a batch embeds each text as alone, and
a block summarised in the child process is the same bytes as one summarised in the node's."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from monmouth.core.payloads import AccountUpdate, BlockInfo, TransactionInfo
from monmouth.hooks import hookimpl
from monmouth.plugins.rag import Plugin
from monmouth.plugins.rag import worker as worker_module
from monmouth.plugins.rag.documents import ABSENT, Document, Prior, summarize, summarize_changes
from monmouth.plugins.rag.embed import HashingEmbedder, words
from monmouth.plugins.rag.index import IndexSettings, RagIndex
from monmouth.plugins.rag.store import RagStore
from monmouth.plugins.rag.worker import Job, Summarizer, Written, block_documents
from monmouth.testing import MonmouthRunner

DEVNET: dict[str, Any] = {
    "seed": 23,
    "txs_per_block": 30,
    "mev_patterns": True,
    "failure_rate": 0.15,
}

Block = tuple[int, bytes, list[TransactionInfo], list[AccountUpdate]]


class Recorder(Plugin):
    """The rag plugin, keeping every committed block's payloads as the node handed them over."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.blocks: list[Block] = []
        self.pending: dict[tuple[int, bytes], list[AccountUpdate]] = {}

    @hookimpl
    def update_accounts(
        self, block: BlockInfo | None, updates: list[AccountUpdate], is_startup: bool
    ) -> None:
        if block is not None and not is_startup:
            self.pending[(block.number, block.hash)] = updates
        super().update_accounts(block, updates, is_startup)

    @hookimpl
    def notify_transactions(self, block: BlockInfo, transactions: list[TransactionInfo]) -> None:
        updates = self.pending.pop((block.number, block.hash), [])
        self.blocks.append((block.number, block.hash, transactions, updates))
        super().notify_transactions(block, transactions)


@pytest.fixture
def blocks(monmouth_run: MonmouthRunner) -> list[Block]:
    """Payloads of a devnet run with every kind of transaction (no reorgs)."""
    plugin = monmouth_run(Recorder, name="rag", blocks=25, **DEVNET).plugin
    assert isinstance(plugin, Recorder)
    return plugin.blocks


def index_all(path: Path, blocks: list[Block], worker_min: int) -> list[Document]:
    """The documents of `blocks`, indexed into a new index at `path`, in id order."""
    settings = IndexSettings(worker_min=worker_min)
    made = 0
    with RagIndex(path, embedder=HashingEmbedder(128), settings=settings) as index:
        for number, block_hash, transactions, updates in blocks:
            made += index.index_block(number, block_hash, transactions, updates)
        index.flush()
        documents = list(index.store.iter_documents())
    assert len(documents) == made
    return documents


def stored(path: Path) -> tuple[list[bytes], bytes]:
    with RagIndex(path, readonly=True) as index:
        docs = [msgspec.msgpack.encode(d) for d in index.store.iter_documents()]
        rows = b"".join(r.tobytes() for _, r in index.store.iter_vectors(128))
    return docs, rows


def test_summaries_are_built_with_their_own_words(
    blocks: list[Block], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[int] = []

    def checking(*args: Any, **kwargs: Any) -> tuple[Document, list[str]]:
        document, said = summarize_changes(*args, **kwargs)
        assert said == words(document.summary), document.summary
        checked.append(document.id)
        return document, said

    monkeypatch.setattr(worker_module, "summarize_changes", checking)
    documents = index_all(tmp_path / "rag", blocks, worker_min=0)
    assert len(checked) == len(documents) > 300
    assert {d.status for d in documents} == {"ok", "failed"}
    assert any(d.movements for d in documents) and any(d.error for d in documents)


def test_a_block_makes_the_documents_of_its_transactions_one_by_one(blocks: list[Block]) -> None:
    """`block_documents` (every transaction's changes in one pass over the block's writes)
    gives what `summarize` gives for each transaction alone, on the states before it."""
    known: dict[bytes, Prior] = {}
    first = 1
    embedder = HashingEmbedder(128)
    for number, block_hash, transactions, updates in blocks:
        block = block_documents(
            first,
            number,
            block_hash,
            transactions,
            updates,
            known,
            complete=True,
            max_log_lines=8,
            embedder=embedder,
        )
        state: dict[bytes, Prior] = dict(known)
        before: dict[bytes, dict[bytes, Prior]] = {}
        for update in updates:
            if update.signature is not None:
                before.setdefault(update.signature, {}).setdefault(
                    update.pubkey, state.get(update.pubkey, ABSENT)
                )
            state[update.pubkey] = Prior.of(update)
        expected: list[Document] = []
        for tx in transactions:
            if tx.status == "rejected" or tx.signature is None:
                continue
            writes = [u for u in updates if u.signature == tx.signature]
            priors = before.get(tx.signature, {})
            expected.append(
                summarize(first + len(expected), tx, number, block_hash, writes, priors)
            )
        assert block.documents == expected
        assert block.balances == {k: v for k, v in state.items() if k in block.balances}
        known.update(block.balances)
        first += len(expected)
    assert first > 300


def test_a_batch_embeds_each_text_as_alone(blocks: list[Block], tmp_path: Path) -> None:
    documents = index_all(tmp_path / "rag", blocks, worker_min=0)
    texts = [d.summary for d in documents] + ["", "the of", "Transfer transfer 1.5 1.5"]
    together = HashingEmbedder(128).embed(texts)
    alone = HashingEmbedder(128)
    for text, row in zip(texts, together, strict=True):
        assert alone.embed([text])[0].tobytes() == row.tobytes()
    assert not together[-3].any()


def test_the_child_process_gives_the_same_bytes(blocks: list[Block], tmp_path: Path) -> None:
    here = index_all(tmp_path / "here", blocks, worker_min=0)
    there = index_all(tmp_path / "there", blocks, worker_min=1)
    assert [msgspec.msgpack.encode(d) for d in here] == [msgspec.msgpack.encode(d) for d in there]
    assert stored(tmp_path / "here") == stored(tmp_path / "there")


def test_blocks_sent_ahead_are_made_on_the_balances_before_them(
    blocks: list[Block], tmp_path: Path
) -> None:
    """Every block is sent before any answer is read (as when the plugin pipelines): the
    child stores each block before it reads the next, so the amounts are those of blocks
    made one at a time."""
    here = index_all(tmp_path / "here", blocks, worker_min=0)
    assert sum(len(d.movements) for d in here) > 300
    index_all(tmp_path / "there", [], worker_min=1)  # an empty index for the child to write
    summarizer = Summarizer(tmp_path / "there", 128)
    answers: list[Written] = []
    receiver = threading.Thread(target=lambda: answers.extend(summarizer.receive() for _ in blocks))
    try:
        summarizer.start()
        receiver.start()
        first_id = 1
        for number, block_hash, transactions, updates in blocks:
            summarizer.submit(Job(first_id, number, block_hash, 8, True, transactions, updates))
            first_id += sum(t.status != "rejected" for t in transactions)
        receiver.join(60)
    finally:
        summarizer.close()
    assert [i for answer in answers for i in answer.ids] == [d.id for d in here]
    assert stored(tmp_path / "there") == stored(tmp_path / "here")


def test_a_failing_child_is_reported(tmp_path: Path) -> None:
    index_all(tmp_path / "rag", [], worker_min=1)  # an empty index for the child to read
    summarizer = Summarizer(tmp_path / "rag", 128)
    try:
        # A rejected transaction makes no document; the child's errors come back as
        # RuntimeError, and it goes on.
        rejected = TransactionInfo(None, "rejected", "bad", None, 0, 0, (), (), b"", 0, 0)
        done = summarizer.run(Job(1, 1, bytes(32), 8, True, [rejected], []))
        assert done.ids == [] and done.vectors == b"" and done.error is None
        with pytest.raises(RuntimeError, match="summarizer process failed: ValueError"):
            summarizer.run(Job(1, 1, bytes(32), 8, True, [ok_transaction(b"short")], []))
        done = summarizer.run(Job(1, 1, bytes(32), 8, True, [ok_transaction()], []))
        assert len(done.ids) == 1
        assert np.frombuffer(done.vectors, dtype=np.float32).shape == (128,)
    finally:
        summarizer.close()


def ok_transaction(signature: bytes = bytes(64)) -> TransactionInfo:
    logs = ("Program 11111111111111111111111111111111 invoke [1]",)
    return TransactionInfo(signature, "ok", None, None, 5000, 150, logs, (), b"", 0, 0)


def test_a_block_the_child_fails_on_stops_the_index_and_keeps_the_blocks_before(
    blocks: list[Block], tmp_path: Path
) -> None:
    settings = IndexSettings(worker_min=1)
    index = RagIndex(tmp_path / "rag", embedder=HashingEmbedder(128), settings=settings)
    made = 0
    for number, block_hash, transactions, updates in blocks[:3]:
        made += index.index_block(number, block_hash, transactions, updates)
    bad = blocks[3][0]
    index.index_block(bad, bytes(32), [ok_transaction(b"short")], [])
    with pytest.raises(RuntimeError, match=r"indexing a block failed: .*ValueError"):
        index.flush()
    with pytest.raises(RuntimeError, match="indexing a block failed"):
        index.index_block(bad + 1, bytes(32), [ok_transaction()], [])
    with pytest.raises(RuntimeError, match="indexing a block failed"):
        index.close()
    with RagIndex(tmp_path / "rag", readonly=True) as again:
        assert again.repair.state == "ok" and again.stats()["documents"] == made
        assert again.store.blocks_above(-1)[0] == blocks[2][0]


def test_the_plugin_adopts_the_map_its_child_grew(blocks: list[Block], tmp_path: Path) -> None:
    """The child and the plugin write one LMDB environment: when the child's writes outgrow
    the plugin's map, the plugin's next read and write adopt the bigger map."""
    path = tmp_path / "rag"
    embedder = HashingEmbedder(128)
    store = RagStore(path, embedder=embedder.name, dimensions=128, map_size=1 << 20)
    summarizer = Summarizer(path, 128)
    try:
        first_id = 1
        for number, block_hash, transactions, updates in blocks:
            summarizer.run(Job(first_id, number, block_hash, 8, True, transactions, updates))
            first_id += sum(t.status != "rejected" for t in transactions)
    finally:
        summarizer.close()
    try:
        assert Path(path / "data.mdb").stat().st_size > 1 << 20  # beyond the plugin's map
        store.seed([(bytes(32), Prior(1))])  # a write first
        assert store.prior(bytes(32)) == Prior(1)
        assert store.meta().count == first_id - 1
    finally:
        store.close()
