"""The rag plugin in a node: reorgs take their transactions out of the index, restarts find the
index as LMDB has it, and a crash between LMDB and the HNSW file is detected and repaired."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest
from solders.pubkey import Pubkey

from monmouth.core.config import Settings
from monmouth.core.errors import ConfigError, DataDirError
from monmouth.core.payloads import BlockInfo, TransactionInfo
from monmouth.core.plugins import OPTIONAL_BUILTINS, find_plugins, load_plugins
from monmouth.core.state import Store
from monmouth.hooks import hookimpl
from monmouth.plugins.rag import Plugin
from monmouth.plugins.rag.config import Config
from monmouth.plugins.rag.documents import Prior
from monmouth.plugins.rag.index import INDEX_FILE, RagIndex
from monmouth.testing import MonmouthRunner

DEVNET: dict[str, Any] = {"seed": 5, "txs_per_block": 20, "failure_rate": 0.1}
QUERIES = ("failed transfer insufficient", "create account initialize mint", "mint to", "token")


class Recording(Plugin):
    """The rag plugin, remembering what the node told it."""

    def __init__(self, settings: Settings, config: Config | None = None) -> None:
        super().__init__(settings, config)
        self.reverted: list[BlockInfo] = []
        self.executed: dict[tuple[int, bytes], list[str]] = {}

    @hookimpl
    def notify_transactions(self, block: BlockInfo, transactions: list[TransactionInfo]) -> None:
        import base58

        self.executed[(block.number, block.hash)] = [
            base58.b58encode(t.signature).decode()
            for t in transactions
            if t.signature is not None and t.status != "rejected"
        ]
        super().notify_transactions(block, transactions)

    @hookimpl
    def revert_blocks(self, blocks: list[BlockInfo]) -> None:
        self.reverted += blocks
        super().revert_blocks(blocks)


def canonical(data_dir: Path) -> dict[int, str]:
    with Store(data_dir, readonly=True) as store:
        head = store.head()
        assert head is not None
        return {b.number: "0x" + b.hash.hex() for b in store.blocks(0, head.number)}


def answers(
    path: Path, *, readonly: bool = True, exact: bool = False
) -> list[list[tuple[str, float]]]:
    """What a fixed set of queries returns (signatures and rounded scores)."""
    index = RagIndex(path, readonly=True) if readonly else writer(path)
    with index:
        return [
            [(h.document.signature, round(h.score, 3)) for h in index.query(text, k=8, exact=exact)]
            for text in QUERIES
        ]


def same_scores(got: list[list[tuple[str, float]]], want: list[list[tuple[str, float]]]) -> bool:
    """The same top scores, query by query (to the rounding of float16 sums): another HNSW
    graph may order ties differently, and the HNSW index scores in float16."""
    return all(
        len(a) == len(b) and all(abs(x[1] - y[1]) <= 2e-3 for x, y in zip(a, b, strict=True))
        for a, b in zip(got, want, strict=True)
    )


def writer(path: Path) -> RagIndex:
    from monmouth.plugins.rag.embed import HashingEmbedder

    return RagIndex(path, embedder=HashingEmbedder(128))


def test_reorged_transactions_leave_the_index(monmouth_run: MonmouthRunner) -> None:
    run = monmouth_run(
        Recording, name="rag", blocks=60, reorg_probability=0.3, reorg_max_depth=4, **DEVNET
    )
    plugin = run.plugin
    assert isinstance(plugin, Recording)
    assert run.stats.reverted > 0 and plugin.reverted
    chain = canonical(run.data_dir)
    reverted = {(b.number, "0x" + b.hash.hex()) for b in plugin.reverted}
    assert not any(chain.get(n) == h for n, h in reverted)  # they really left the chain
    # The signatures that executed only in blocks that a reorg took away.
    kept = {
        s
        for (n, h), sigs in plugin.executed.items()
        if chain.get(n) == "0x" + h.hex()
        for s in sigs
    }
    orphaned = {
        s
        for (n, h), sigs in plugin.executed.items()
        if (n, "0x" + h.hex()) in reverted
        for s in sigs
    } - kept
    assert orphaned
    with RagIndex(run.data_dir / "rag", readonly=True) as index:
        docs = list(index.store.iter_documents())
        # Exactly the executed transactions of the canonical blocks, each from its block.
        assert sorted(d.signature for d in docs) == sorted(kept)
        assert all(chain[d.slot] == d.block_hash for d in docs)
        # No query returns a transaction of a reverted block.
        for text in (*QUERIES, "transfer", "ok transaction"):
            for hit in index.query(text, k=50):
                assert (hit.document.slot, hit.document.block_hash) not in reverted
                assert hit.document.signature not in orphaned
        for signature in sorted(orphaned)[:20]:
            with pytest.raises(ValueError, match="no indexed transaction"):
                index.query(like=signature)
        assert index.stats()["documents"] == len(kept)


def test_the_child_indexes_a_reorging_chain_as_the_node_process_does(
    monmouth_run: MonmouthRunner, tmp_path: Path
) -> None:
    """Blocks made in the child (pipelined, written to LMDB there) and reverts made by the
    plugin in between give the very documents, vectors and balances of the in-process path."""
    stored: list[tuple[list[bytes], list[bytes], dict[bytes, Prior]]] = []
    for worker_min in (64, 1):
        run = monmouth_run(
            Plugin,
            name="rag",
            blocks=40,
            data_dir=tmp_path / f"worker-min-{worker_min}",
            config={"worker_min": worker_min},
            reorg_probability=0.3,
            reorg_max_depth=4,
            **DEVNET,
        )
        assert run.stats.reverted > 0
        with RagIndex(run.data_dir / "rag", readonly=True) as index:
            store = index.store
            docs = list(store.iter_documents())
            rows = [r.tobytes() for _, r in store.iter_vectors(128)]
            keys = sorted({bytes(Pubkey.from_string(key)) for d in docs for key in d.accounts})
            balances = store.priors(keys)
            encoded = [msgspec.msgpack.encode(d) for d in docs]
        stored.append((encoded, rows, balances))
    assert len(stored[0][0]) > 300 and len(stored[0][2]) > 100
    assert stored[0] == stored[1]


def test_restart_finds_the_index_as_lmdb_has_it(monmouth_run: MonmouthRunner) -> None:
    first = monmouth_run(Plugin, name="rag", blocks=12, **DEVNET)
    rag = first.data_dir / "rag"
    before = answers(rag)
    assert answers(rag) == before  # reopened: the same
    assert answers(rag, readonly=False) == before  # a writer too
    saved = rag.parent / "index-after-first-run"
    shutil.copy(rag / INDEX_FILE, saved)

    second = monmouth_run(Plugin, name="rag", blocks=10, data_dir=first.data_dir, **DEVNET)
    assert not [e for e in second.log if "not indexed" in str(e.get("event"))]
    with RagIndex(rag, readonly=True) as index:
        assert index.repair.state == "ok"
        executed = first.stats.ok + first.stats.failed + second.stats.ok + second.stats.failed
        assert index.stats()["documents"] == executed
        chain = canonical(first.data_dir)
        assert all(chain[d.slot] == d.block_hash for d in index.store.iter_documents())
    after = answers(rag)
    assert answers(rag) == after
    exact = answers(rag, exact=True)
    assert same_scores(after, exact)

    # A crash after LMDB commits, before the HNSW file was saved: the file lags.
    shutil.copy(saved, rag / INDEX_FILE)
    with RagIndex(rag, readonly=True) as index:
        assert index.repair.state == "patched" and index.repair.added > 0
    assert same_scores(answers(rag), exact)  # a reader searches the difference exactly
    assert answers(rag, exact=True) == exact
    with writer(rag) as index:
        assert index.repair.state == "repaired"
        assert index.repair.added == second.stats.ok + second.stats.failed
    with RagIndex(rag, readonly=True) as index:
        assert index.repair.state == "ok"  # the writer saved the repaired index
    assert same_scores(answers(rag), exact)

    # The HNSW file lost altogether: rebuilt from the vectors in LMDB.
    (rag / INDEX_FILE).unlink()
    with writer(rag) as index:
        assert index.repair.state == "rebuilt"
    assert same_scores(answers(rag), exact)

    # A corrupt file: rebuilt too.
    (rag / INDEX_FILE).write_bytes(b"\x00" * 100)
    with writer(rag) as index:
        assert index.repair.state == "rebuilt"
    assert same_scores(answers(rag), exact)
    assert answers(rag, exact=True) == exact


def test_a_revert_that_reached_lmdb_only_is_repaired(monmouth_run: MonmouthRunner) -> None:
    run = monmouth_run(Plugin, name="rag", blocks=8, **DEVNET)
    rag = run.data_dir / "rag"
    assert run.head is not None
    head = run.head
    with writer(rag) as index:
        gone = index.store.revert_block(head.number, head.hash, head.parent_hash)
        assert gone
        # The process dies here: the HNSW index never heard of the revert.
        index.ann = None
    with RagIndex(rag, readonly=True) as index:
        assert index.repair.state == "patched" and index.repair.removed == len(gone)
        ids = {h.document.id for text in QUERIES for h in index.query(text, k=50)}
        assert not ids & set(gone)
    with writer(rag) as index:
        assert index.repair.state == "repaired" and index.repair.removed == len(gone)
        assert index.ann is not None and len(index.ann) == index.store.meta().count


def test_enabled_late_it_indexes_from_then_on_with_amounts(monmouth_run: MonmouthRunner) -> None:
    class Nothing:
        @hookimpl
        def notify_block(self, block: BlockInfo) -> None:
            pass

    first = monmouth_run(Nothing(), blocks=6, **DEVNET)
    later = monmouth_run(Plugin, name="rag", blocks=6, data_dir=first.data_dir, **DEVNET)
    warned = [
        e
        for e in later.log
        if e.get("event") == "rag: blocks committed while the plugin was off are not indexed"
    ]
    assert warned and warned[0]["first"] == 0 and warned[0]["last"] == 5
    with RagIndex(first.data_dir / "rag", readonly=True) as index:
        docs = list(index.store.iter_documents())
        assert index.store.meta().complete
    assert len(docs) == later.stats.ok + later.stats.failed
    assert min(d.slot for d in docs) == 6
    # The startup snapshot taught it the balances: transfers have their amounts.
    transfers = [d for d in docs if d.instructions == ("system.transfer",) and d.status == "ok"]
    assert transfers and all(len(d.movements) == 2 for d in transfers)


def test_it_is_off_by_default_and_costs_nothing(
    monmouth_run: MonmouthRunner, monmouth_settings: Settings
) -> None:
    assert "rag" in OPTIONAL_BUILTINS
    found = {f.name: f for f in find_plugins(monmouth_settings)}
    assert found["rag"].enabled is False and found["rag"].origin == "built-in"
    pm = load_plugins(monmouth_settings)
    assert not pm.has_plugin("rag")

    class Nothing:
        @hookimpl
        def notify_block(self, block: BlockInfo) -> None:
            pass

    run = monmouth_run(Nothing(), blocks=3)
    assert not (run.data_dir / "rag").exists()
    enabled = monmouth_settings.model_copy(
        update={"plugins": monmouth_settings.plugins.model_copy(update={"enable": ["rag"]})}
    )
    pm = load_plugins(enabled)
    assert isinstance(pm.get_plugin("rag"), Plugin)


def test_config_is_validated(monmouth_run: MonmouthRunner) -> None:
    with pytest.raises(ConfigError, match=r"\[plugins.rag\] dimensions"):
        monmouth_run(Plugin, name="rag", blocks=1, config={"dimensions": 2})
    with pytest.raises(ConfigError, match=r"\[plugins.rag\] embedder"):
        monmouth_run(Plugin, name="rag", blocks=1, config={"embedder": "word2vec"})
    with pytest.raises(ConfigError, match=r"\[plugins.rag\] colour"):
        monmouth_run(Plugin, name="rag", blocks=1, config={"colour": "blue"})


def test_another_embedder_on_an_existing_index_stops_the_start(
    monmouth_run: MonmouthRunner,
) -> None:
    first = monmouth_run(Plugin, name="rag", blocks=3, **DEVNET)
    with pytest.raises(DataDirError, match="built with the embedder hashing-v1-128"):
        monmouth_run(
            Plugin,
            name="rag",
            blocks=2,
            data_dir=first.data_dir,
            config={"dimensions": 64},
            **DEVNET,
        )


def test_blocks_the_node_does_not_have_are_dropped_at_start(monmouth_run: MonmouthRunner) -> None:
    longer = monmouth_run(Plugin, name="rag", blocks=10, **DEVNET)
    shorter = monmouth_run(Plugin, name="rag", blocks=6, **DEVNET)
    # The index of a longer run of the same chain, beside a node that stopped earlier.
    shutil.rmtree(shorter.data_dir / "rag")
    shutil.copytree(longer.data_dir / "rag", shorter.data_dir / "rag")
    again = monmouth_run(Plugin, name="rag", blocks=1, data_dir=shorter.data_dir, **DEVNET)
    events = [str(e.get("event")) for e in again.log]
    assert "rag: removed blocks the node does not have" in events
    assert not [e for e in events if "not indexed" in e]
    chain = canonical(shorter.data_dir)
    with RagIndex(shorter.data_dir / "rag", readonly=True) as index:
        docs = list(index.store.iter_documents())
        assert index.store.meta().head == (max(chain), bytes.fromhex(chain[max(chain)][2:]))
        assert index.repair.state == "ok"
    assert max(d.slot for d in docs) == max(chain) == 6
    assert all(chain[d.slot] == d.block_hash for d in docs)
    with RagIndex(longer.data_dir / "rag", readonly=True) as index:
        same_blocks = {d.signature for d in index.store.iter_documents() if d.slot <= 6}
    assert {d.signature for d in docs} == same_blocks


def test_lag_counts_the_blocks_above_the_index() -> None:
    from monmouth.plugins.rag.plugin import lag

    assert lag(3, 5) == {"node_head": 5, "behind": 2}
    assert lag(None, 5) == {"node_head": 5, "behind": 6}  # blocks 0 to 5
    assert lag(5, 5)["behind"] == 0
    assert lag(3, None) == {"node_head": None, "behind": None}
