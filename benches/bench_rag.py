"""rag benchmark: indexing rate, query latency, recall@10 against the exact search, memory.

Builds an index of `--docs` documents through the plugin's own write path
(`RagIndex.index_block`: summaries, embedding, LMDB, the HNSW index) from synthetic but
devnet-like payloads: the `TransactionInfo`s and `AccountUpdate`s the node hands the plugin for
the devnet's mixed workload (system transfers, transfers to fresh addresses, SPL Token mints,
token accounts, MintTo and token transfers, failed transfers of both kinds, multi-transfer
transactions), with the logs and account writes LiteSVM produces for them. Then:

- indexing: documents per second, overall and by stage (summaries, embedding, LMDB, HNSW,
  and a block's round trip through the child process that makes and stores documents and
  vectors); the payloads are made in chunks of `CHUNK` documents outside the timed stretches,
  as the node's replay file is written before the node is timed;
- queries: latency p50/p99 of `RagIndex.query` for texts, examples (`like`) and accounts, and
  of the HNSW search alone;
- recall@10 of the approximate search against the exact numpy search, over example queries
  (`like`), tie-aware: a returned document counts when its exact score reaches the exact 10th
  best (documents of the same shape often score the same);
- memory: the HNSW index's bytes, the process's peak RSS, the LMDB size on disk.

`--node` also runs the node itself on a devnet replay with the plugin off and on, and reports
both transaction rates (the on rate counts until the plugin has indexed every block), in the
same run, and three ratios: `indexing_vs_node`, documents indexed per second against the node's
transactions per second, each alone (indexing keeps up with the node catching up on history when
it is at least 1); `indexing_vs_l1_capacity`, the build's slowest (last) window against the most
transactions per second Ethereum could carry to the inbox in batches like the devnet's
(`l1_capacity`: their real calldata priced under EIP-7623, `--l1-gas-limit` per 12-s slot), the
most the node ingests at the chain's head; and `node_rag_on_vs_off`, what the plugin costs the
node when both share this machine. `--insertion-alone` also times HNSW insertion with nothing
else running, on every core (the build's vectors again into a fresh graph): the ceiling of the
indexing rate, reported against the node as `hnsw_alone_vs_node`.

`--analyzer` measures rag where issue 20 puts it, off the executor: the executor and an analyzer
as two processes on this machine (the executor in this process, following a devnet replay of
`--transactions` transactions, default 100,000; the analyzer a `monmouth run --role analyzer`
child with rag, following the executor's stream). It reports the executor's ingest rate alone
(rag off, nobody subscribed), with the analyzer attached, and with rag inside the executor
instead (until it has indexed every block, as `--node` counts it), each also as the executor's
CPU per transaction (its process and children: steadier than tx/s on a shared machine), and
the analyzer's own CPU
(its process and its children, from /proc) per document indexed: `analyzer_docs_per_cpu_s` is
the rate an analyzer reaches on a machine of its own with one core free for it (more only as far
as its work runs in parallel: HNSW insertion threads, the document child). Alone, it skips the
index build (`--docs` stages, queries and recall); with other options it runs after them.

Build time grows with the index: if 1,000,000 documents do not fit your time, build fewer and
read the extrapolation this prints (labelled as such).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from report import emit, machine

from monmouth.bench import child_pids, stat_cpu
from monmouth.core.l1 import L1Block
from monmouth.core.payloads import AccountUpdate, TransactionInfo
from monmouth.plugins.rag.ann import best
from monmouth.plugins.rag.embed import HashingEmbedder
from monmouth.plugins.rag.index import IndexSettings, RagIndex

SYSTEM = bytes(32)
SYSTEM_ID = "11111111111111111111111111111111"
TOKEN = bytes.fromhex("06ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9")
TOKEN_ID = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
SOL = 10**9
FEE = 5000


def _key(*parts: object) -> bytes:
    return hashlib.blake2b(repr(parts).encode(), digest_size=32).digest()


def _token_data(mint: bytes, owner: bytes, amount: int) -> bytes:
    return mint + owner + struct.pack("<Q", amount) + bytes(93)


def _mint_data(supply: int) -> bytes:
    return bytes(36) + struct.pack("<Q", supply) + b"\x06" + bytes(37)


class Workload:
    """Devnet-like payloads: who holds what, and each block's transactions and writes."""

    def __init__(self, seed: int, users: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.users = [_key(seed, "user", i) for i in range(users)]
        self.lamports = dict.fromkeys(self.users, 100 * SOL)
        self.mints: list[tuple[bytes, bytes, int]] = []  # (mint, authority, supply)
        self.accounts: list[tuple[bytes, int, bytes, int]] = []  # (account, mint, owner, amount)
        self.fresh = 0
        self.count = 0

    def deposits(self) -> list[AccountUpdate]:
        return [AccountUpdate(u, 100 * SOL, SYSTEM, False, 0, b"", None, 0) for u in self.users]

    def _user(self) -> bytes:
        return self.users[int(self.rng.integers(len(self.users)))]

    def block(self, size: int) -> tuple[list[TransactionInfo], list[AccountUpdate]]:
        txs: list[TransactionInfo] = []
        writes: list[AccountUpdate] = []
        for position in range(size):
            self.count += 1
            signature = hashlib.blake2b(f"{self.seed}/{self.count}".encode(), digest_size=64)
            sig = signature.digest()
            roll = float(self.rng.random())
            tx, out = self._make(sig, roll, position)
            txs.append(tx)
            writes += [
                AccountUpdate(k, lam, own, False, 0, data, sig, len(writes) + i)
                for i, (k, lam, own, data) in enumerate(out)
            ]
        return txs, writes

    def _make(
        self, sig: bytes, roll: float, position: int
    ) -> tuple[TransactionInfo, list[tuple[bytes, int, bytes, bytes]]]:
        payer = self._user()
        ok = [f"Program {SYSTEM_ID} invoke [1]", f"Program {SYSTEM_ID} success"]
        tok = [
            f"Program {TOKEN_ID} invoke [1]",
            f"Program {TOKEN_ID} consumed 119 of 200000 compute units",
            f"Program {TOKEN_ID} success",
        ]

        def info(
            status: str, accounts: list[bytes], logs: list[str], fee: int = FEE, error: Any = None
        ) -> TransactionInfo:
            units = 150 * sum(1 for line in logs if line.endswith("invoke [1]"))
            return TransactionInfo(
                sig,
                "ok" if status == "ok" else "failed",
                None,
                error,
                fee,
                units,
                tuple(logs),
                tuple(accounts),
                _key("l1", self.count // 64),
                self.count // 64 % 100,
                position,
            )

        def pay(fee: int = FEE, moved: int = 0) -> tuple[bytes, int, bytes, bytes]:
            self.lamports[payer] -= fee + moved
            return (payer, self.lamports[payer], SYSTEM, b"")

        if roll < 0.07:  # a failed system transfer: more than the payer holds
            need = self.lamports[payer] + int(self.rng.integers(1, 10)) * 1000 * SOL
            logs = [
                ok[0],
                f"Transfer: insufficient lamports {self.lamports[payer] - FEE}, need {need}",
                f"Program {SYSTEM_ID} failed: custom program error: 0x1",
            ]
            error = {"InstructionError": [0, {"Custom": 1}]}
            return info("failed", [payer, self._user(), SYSTEM], logs, error=error), [pay()]
        if roll < 0.10 and self.accounts:  # a failed token transfer
            src = self.accounts[int(self.rng.integers(len(self.accounts)))]
            dst = self.accounts[int(self.rng.integers(len(self.accounts)))]
            logs = [
                tok[0],
                "Program log: Error: insufficient funds",
                f"Program {TOKEN_ID} consumed 181 of 200000 compute units",
                f"Program {TOKEN_ID} failed: custom program error: 0x1",
            ]
            error = {"InstructionError": [0, {"Custom": 1}]}
            accounts = [payer, src[0], dst[0], TOKEN]
            return info("failed", accounts, logs, error=error), [pay()]
        if roll < 0.12 or (roll < 0.2 and len(self.mints) < 8):  # a new mint
            mint = _key(self.seed, "mint", len(self.mints))
            self.mints.append((mint, payer, 0))
            out = [pay(2 * FEE, 1_461_600), (mint, 1_461_600, TOKEN, _mint_data(0))]
            accounts = [payer, mint, SYSTEM, TOKEN]
            return info("ok", accounts, ok + tok, fee=2 * FEE), out
        if roll < 0.16 and self.mints:  # a new token account
            mint_index = int(self.rng.integers(len(self.mints)))
            mint = self.mints[mint_index][0]
            account = _key(self.seed, "token", len(self.accounts))
            self.accounts.append((account, mint_index, payer, 0))
            out = [
                pay(2 * FEE, 2_039_280),
                (account, 2_039_280, TOKEN, _token_data(mint, payer, 0)),
            ]
            accounts = [payer, account, SYSTEM, TOKEN, mint]
            return info("ok", accounts, ok + tok, fee=2 * FEE), out
        if roll < 0.22 and self.accounts:  # MintTo
            index = int(self.rng.integers(len(self.accounts)))
            account, mint_index, owner, amount = self.accounts[index]
            mint, authority, supply = self.mints[mint_index]
            units = int(self.rng.integers(1, 1000)) * 10**6
            self.mints[mint_index] = (mint, authority, supply + units)
            self.accounts[index] = (account, mint_index, owner, amount + units)
            out = [
                pay(),
                (mint, 1_461_600, TOKEN, _mint_data(supply + units)),
                (account, 2_039_280, TOKEN, _token_data(mint, owner, amount + units)),
            ]
            return info("ok", [payer, mint, account, TOKEN], tok, ), out  # fmt: skip
        if roll < 0.32 and len(self.accounts) > 2:  # a token transfer
            i = int(self.rng.integers(len(self.accounts)))
            src = self.accounts[i]
            same = [j for j in range(max(0, i - 8), min(len(self.accounts), i + 8))]
            j = same[int(self.rng.integers(len(same)))]
            dst = self.accounts[j]
            if src[3] > 0 and i != j and src[1] == dst[1]:
                units = max(1, src[3] // 3)
                mint = self.mints[src[1]][0]
                self.accounts[i] = (src[0], src[1], src[2], src[3] - units)
                self.accounts[j] = (dst[0], dst[1], dst[2], dst[3] + units)
                out = [
                    pay(),
                    (src[0], 2_039_280, TOKEN, _token_data(mint, src[2], src[3] - units)),
                    (dst[0], 2_039_280, TOKEN, _token_data(mint, dst[2], dst[3] + units)),
                ]
                return info("ok", [payer, src[0], dst[0], TOKEN], tok), out
        if roll < 0.34:  # several transfers in one transaction
            tos = [self._user() for _ in range(int(self.rng.integers(2, 17)))]
            each = int(self.rng.integers(1, 100)) * 10**6
            out = [pay(moved=each * len(tos))]
            for to in tos:
                if to == payer:
                    continue
                self.lamports[to] += each
                out.append((to, self.lamports[to], SYSTEM, b""))
            logs = ok * len(tos)
            return info("ok", [payer, *dict.fromkeys(tos), SYSTEM], logs), out
        # A system transfer, now and then to a fresh address.
        if roll > 0.97:
            self.fresh += 1
            to = _key(self.seed, "fresh", self.fresh)
            self.lamports[to] = 0
        else:
            to = self._user()
            while to == payer:
                to = self._user()
        amount = int(self.rng.integers(1, 2000)) * 10**6 + int(self.rng.integers(0, 1000))
        out = [pay(moved=amount)]
        self.lamports[to] += amount
        out.append((to, self.lamports[to], SYSTEM, b""))
        return info("ok", [payer, to, SYSTEM], ok), out


def _blocks(workload: Workload, docs: int, per_block: int) -> Iterator[tuple[int, Any, Any]]:
    number = 1
    made = 0
    while made < docs:
        size = min(per_block, docs - made)
        txs, writes = workload.block(size)
        made += size
        yield number, txs, writes
        number += 1


def _percentiles(samples: list[float]) -> dict[str, float]:
    array = np.asarray(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(array, 50)), 3),
        "p99_ms": round(float(np.percentile(array, 99)), 3),
    }


#: Documents generated (untimed) before each timed stretch of indexing: the node is measured
#: from a replay file written before it starts, and indexing likewise from payloads made before.
CHUNK = 50_000


def build(
    path: Path,
    docs: int,
    per_block: int,
    users: int,
    settings: IndexSettings,
    dims: int,
    budget: float,
) -> tuple[RagIndex, dict[str, Any], Workload]:
    """Index up to `docs` documents, stopping early after `budget` seconds of indexing. The
    payloads are made in chunks outside the timed stretches, and each stretch ends when the
    HNSW index holds every document of its chunk."""
    workload = Workload(7, users)
    index = RagIndex(path, embedder=HashingEmbedder(dims), settings=settings)
    index.index_block(0, _key("block", 0), [], workload.deposits())
    blocks = _blocks(workload, docs, per_block)
    elapsed = 0.0
    window = (0.0, 0)
    window_rate = 0.0
    while elapsed <= budget:
        chunk = list(islice(blocks, max(1, CHUNK // per_block)))
        if not chunk:
            break
        start = time.perf_counter()
        for number, txs, writes in chunk:
            index.index_block(number, _key("block", number), txs, writes)
        index.flush()
        elapsed += time.perf_counter() - start
        if elapsed - window[0] > 30:
            done = index.store.meta().count
            window_rate = (done - window[1]) / (elapsed - window[0])
            print(
                f"  {done:,} documents, {done / elapsed:,.0f}/s overall, "
                f"{window_rate:,.0f}/s in the last {elapsed - window[0]:.0f} s of indexing",
                file=sys.stderr,
                flush=True,
            )
            window = (elapsed, done)
    start = time.perf_counter()
    index.save()
    saved = time.perf_counter() - start
    count = index.store.meta().count
    return (
        index,
        {
            "docs": count,
            "build_s": round(elapsed, 1),
            "docs_per_s": round(count / elapsed),
            "docs_per_s_last_window": round(window_rate) or round(count / elapsed),
            "save_s": round(saved, 2),
        },
        workload,
    )


def stages(docs: int, users: int, dims: int, settings: IndexSettings) -> dict[str, Any]:
    """Per-stage rates over a fresh small index (each stage alone, same payloads, in this
    process), and the round trip of the same blocks through the child process (which makes
    and stores them)."""
    from monmouth.plugins.rag.ann import VectorIndex
    from monmouth.plugins.rag.documents import Document, Prior, changes_of, summarize_changes
    from monmouth.plugins.rag.store import RagStore
    from monmouth.plugins.rag.worker import Job, Summarizer

    workload = Workload(11, users)
    blocks = list(_blocks(workload, docs, 1000))
    embedder = HashingEmbedder(dims)
    jobs: list[tuple[int, list[TransactionInfo], list[list[AccountUpdate]]]] = []
    for number, txs, writes in blocks:
        by_sig: dict[bytes, list[AccountUpdate]] = {}
        for w in writes:
            assert w.signature is not None
            by_sig.setdefault(w.signature, []).append(w)
        jobs.append((number, txs, [by_sig[tx.signature] for tx in txs if tx.signature]))
    start = time.perf_counter()
    per_block: list[tuple[list[Document], list[list[str]]]] = []
    doc_id = 1
    for number, txs, writes_of in jobs:
        made = [
            summarize_changes(doc_id + i, tx, number, bytes(32), changes_of(writes_of[i], {}))
            for i, tx in enumerate(txs)
        ]
        doc_id += len(made)
        per_block.append(([d for d, _ in made], [w for _, w in made]))
    t_summary = time.perf_counter() - start
    start = time.perf_counter()
    vectors = [embedder.embed_words(words) for _, words in per_block]
    t_embed = time.perf_counter() - start
    # An empty index for the child to read the prior states from and write the blocks to.
    tmp_child = tempfile.TemporaryDirectory()
    RagStore(Path(tmp_child.name), embedder=embedder.name, dimensions=dims).close()
    with tempfile.TemporaryDirectory() as tmp:
        store = RagStore(Path(tmp), embedder=embedder.name, dimensions=dims)
        start = time.perf_counter()
        for (number, _, writes_of), (documents, _), rows in zip(
            jobs, per_block, vectors, strict=True
        ):
            balances = {w.pubkey: Prior.of(w) for ws in writes_of for w in ws}
            store.write_block(number, _key("block", number), documents, rows, balances, [])
        t_lmdb = time.perf_counter() - start
        store.close()
    summarizer = Summarizer(Path(tmp_child.name), dims)
    summarizer.run(Job(1, 0, bytes(32), settings.max_log_lines, True, [], []))  # started
    start = time.perf_counter()
    doc_id = 1
    for number, txs, writes in blocks:
        summarizer.run(Job(doc_id, number, bytes(32), settings.max_log_lines, False, txs, writes))
        doc_id += len(txs)
    t_worker = time.perf_counter() - start
    summarizer.close()
    tmp_child.cleanup()
    ann = VectorIndex(
        dims,
        connectivity=settings.connectivity,
        expansion_add=settings.expansion_add,
        threads=settings.threads,
        dtype=settings.quantization,
    )
    every = np.concatenate(vectors)
    start = time.perf_counter()
    for s in range(0, len(every), 1000):
        ids = np.arange(s + 1, min(s + 1001, len(every) + 1), dtype=np.uint64)
        ann.add(ids, every[s : s + len(ids)])
    t_ann = time.perf_counter() - start
    n = len(every)
    return {
        "stage_docs": n,
        "summaries_per_s": round(n / t_summary),
        "embeddings_per_s": round(n / t_embed),
        "lmdb_writes_per_s": round(n / t_lmdb),
        "child_round_trip_per_s": round(n / t_worker),
        "hnsw_adds_per_s": round(n / t_ann),
    }


def queries(index: RagIndex, workload: Workload, count: int) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    meta = index.store.meta()
    sample = [int(i) for i in rng.integers(1, meta.next_id, size=count * 2)]
    docs = [d for d in index.store.documents(sample) if d is not None][:count]
    texts = [
        "failed token transfer insufficient funds",
        "system transfer of 1.5 SOL",
        "create account initialize mint",
        "mint to token supply",
        "several transfers in one transaction",
        "insufficient lamports",
    ]
    result: dict[str, Any] = {}
    timings: dict[str, list[float]] = {"text": [], "like": [], "account": [], "ann_only": []}
    for i, doc in enumerate(docs):
        t = time.perf_counter()
        index.query(texts[i % len(texts)] + f" {doc.fee_payer}", k=10)
        timings["text"].append(time.perf_counter() - t)
        t = time.perf_counter()
        hits = index.query(like=doc.signature, k=10)
        timings["like"].append(time.perf_counter() - t)
        assert hits and hits[0].document.signature == doc.signature
        t = time.perf_counter()
        index.query(account=doc.accounts[min(1, len(doc.accounts) - 1)], k=10)
        timings["account"].append(time.perf_counter() - t)
    vectors = index.store.vectors([d.id for d in docs], index.dimensions)
    assert index.ann is not None
    for vector in vectors:
        t = time.perf_counter()
        index.ann.search(vector, 10)
        timings["ann_only"].append(time.perf_counter() - t)
    for name, samples in timings.items():
        for key, value in _percentiles(samples).items():
            result[f"query_{name}_{key}"] = value
    result["queries"] = len(docs)
    return result


def insertion_alone(index: RagIndex, settings: IndexSettings) -> dict[str, Any]:
    """HNSW insertion with nothing else running, on every core: the build's vectors again, in
    id order, into a fresh graph with the same settings, 1000 at a time. Indexing can go no
    faster than this, whatever the rest of its pipeline costs."""
    from monmouth.plugins.rag.ann import VectorIndex

    parts = list(index.store.iter_vectors(index.dimensions))
    ids = np.concatenate([i for i, _ in parts])
    rows = np.concatenate([r for _, r in parts]).astype(np.float32)
    order = np.argsort(ids, kind="stable")
    ids, rows = ids[order], rows[order]
    ann = VectorIndex(
        index.dimensions,
        connectivity=settings.connectivity,
        expansion_add=settings.expansion_add,
        threads=0,
        dtype=settings.quantization,
    )
    window = max(len(ids) // 10, 1000)  # the last tenth: where insertion is dearest
    start = last = time.perf_counter()
    mark, last_rate = 0, 0.0
    for s in range(0, len(ids), 1000):
        ann.add(ids[s : s + 1000], rows[s : s + 1000])
        done = min(s + 1000, len(ids))
        if done - mark >= window or done == len(ids):
            now = time.perf_counter()
            last_rate, mark, last = (done - mark) / (now - last), done, now
    total = time.perf_counter() - start
    return {
        "hnsw_alone_per_s": round(len(ids) / total),
        "hnsw_alone_per_s_last_window": round(last_rate),
    }


def recall(index: RagIndex, count: int) -> dict[str, Any]:
    """Tie-aware recall@10 of the HNSW search against the exact search (module docstring)."""
    rng = np.random.default_rng(5)
    meta = index.store.meta()
    ids_all: list[np.ndarray] = []
    rows_all: list[np.ndarray] = []
    for ids, rows in index.store.iter_vectors(index.dimensions):
        ids_all.append(ids)
        rows_all.append(rows)
    ids = np.concatenate(ids_all)
    matrix = np.concatenate(rows_all).astype(np.float32)
    picks = [int(i) for i in rng.integers(1, meta.next_id, size=count)]
    queries_ = index.store.vectors(picks, index.dimensions)
    strict = tolerant = 0.0
    assert index.ann is not None
    start = time.perf_counter()
    for query in queries_:
        scores = matrix @ query
        exact_ids, exact_scores = best(ids, scores, 10)
        got, _ = index.ann.search(query, 10)
        tenth = float(exact_scores[-1])
        by_id = dict(zip(ids.tolist(), scores.tolist(), strict=True))
        strict += len(set(got.tolist()) & set(exact_ids.tolist())) / 10
        tolerant += sum(1 for g in got.tolist() if by_id[g] >= tenth - 1e-3) / 10
    exact_ms = (time.perf_counter() - start) / len(queries_) * 1000
    return {
        "recall_at_10": round(tolerant / len(queries_), 4),
        "recall_at_10_strict_ids": round(strict / len(queries_), 4),
        "exact_search_ms": round(exact_ms, 1),
        "recall_queries": len(queries_),
    }


#: Ethereum mainnet's block gas limit since 2025-11-25, and its slot.
L1_GAS_LIMIT = 60_000_000
L1_SLOT_S = 12


def l1_capacity(blocks: list[L1Block], gas_limit: int) -> dict[str, Any]:
    """The most Solana transactions per second Ethereum can carry to the inbox, were every
    block full of inbox batches like these (their real calldata): each batch's gas under
    EIP-7623, over the transactions it carries. That is 21,000 and the larger of 4 gas a
    calldata token plus execution and the floor of 10 a token (a zero byte is one token, another
    byte four); the inbox runs no code, so the floor is always the larger. The node's ingest
    rate when it follows such a chain at its head is at most this; faster only while it
    catches up on history."""
    from monmouth.core import inbox

    gas = carried = 0
    for block in blocks:
        for tx in block.transactions:
            if tx.to != inbox.DEFAULT_INBOX_ADDRESS or tx.status != 1:
                continue
            message = inbox.decode(tx.input, tx.value)
            if not isinstance(message, inbox.Batch):
                continue
            zeros = tx.input.count(0)
            tokens = zeros + 4 * (len(tx.input) - zeros)
            gas += 21_000 + 10 * tokens
            carried += len(message.transactions)
    per_tx = gas / max(carried, 1)
    return {
        "l1_gas_limit": gas_limit,
        "l1_gas_per_svm_tx": round(per_tx),
        "l1_capacity_tps": round(gas_limit / L1_SLOT_S / per_tx),
    }


def node_rates(txs: int, per_block: int, gas_limit: int, threads: int) -> dict[str, Any]:
    """The node's tx/s on a devnet replay with the plugin off, then on (until it has indexed
    every block); and what Ethereum could carry of the same batches (`l1_capacity`)."""
    import anyio

    from monmouth.app import build_node
    from monmouth.bench import generate
    from monmouth.core.config import load_settings
    from monmouth.core.sources.replay import ReplaySource, write_replay

    blocks = generate("mixed", txs, per_block, 1000)
    out: dict[str, Any] = l1_capacity(blocks, gas_limit)
    with tempfile.TemporaryDirectory() as tmp:
        replay = Path(tmp) / "chain.jsonl"
        write_replay(replay, blocks)
        for label, enable in (("off", []), ("on", ["rag"])):
            settings = load_settings(
                None,
                data_dir=Path(tmp) / f"data-{label}",
                stream={"publish": None},
                plugins={"enable": enable, "rag": {"threads": threads}},
            )
            start = time.perf_counter()
            with build_node(settings) as node:
                anyio.run(node.run, ReplaySource(replay))
                executed = time.perf_counter() - start
            total = time.perf_counter() - start  # closing drains the plugin's queue
            n = node.stats.transactions
            out[f"node_rag_{label}_tps"] = round(n / total)
            if enable:
                out["node_rag_on_execute_tps"] = round(n / executed)
        out["node_txs"] = n
    return out


#: The analyzer's plugins and the executor's: rag where measured, no HTTP servers (they would
#: bind fixed ports), the same in every run.
NO_SERVERS = ["rpc", "monitoring"]


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants, living and reaped, from
    /proc (0 for a process that is gone)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += stat_cpu(Path(f"/proc/{current}/stat").read_text(), reaped=True)
        pending += child_pids(current)
    return total


def _executor_settings(data_dir: Path, publish: str, enable: list[str], threads: int) -> Any:
    from monmouth.core.config import load_settings

    return load_settings(
        None,
        data_dir=data_dir,
        stream={"publish": publish},
        plugins={"enable": enable, "disable": NO_SERVERS, "rag": {"threads": threads}},
    )


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


def analyzer_rates(txs: int, per_block: int, gas_limit: int, threads: int) -> dict[str, Any]:
    """The executor alone, with an analyzer running rag attached, and with rag inside; the
    analyzer's CPU per document (module docstring)."""
    import anyio
    from bench_stream import free_port_pair

    from monmouth.app import build_node
    from monmouth.bench import generate
    from monmouth.commands import ask_instance
    from monmouth.core.errors import UserError
    from monmouth.core.sources.replay import ReplaySource, write_replay

    blocks = generate("mixed", txs, per_block, 1000)
    out: dict[str, Any] = {"analyzer_txs_asked": txs, **l1_capacity(blocks, gas_limit)}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        replay = tmp / "chain.jsonl"
        write_replay(replay, blocks)

        def executor(label: str, enable: list[str]) -> tuple[Any, str]:
            publish = f"tcp://127.0.0.1:{free_port_pair()}"
            settings = _executor_settings(tmp / f"executor-{label}", publish, enable, threads)
            return build_node(settings), publish

        # The executor's CPU: this process and its children (the publisher, rag's document
        # child), less the analyzer's; less disturbed by other work on the machine than tx/s.
        def executor_cpu(analyzer_pid: int | None = None) -> float:
            cpu = _process_cpu(os.getpid())
            return cpu if analyzer_pid is None else cpu - _process_cpu(analyzer_pid)

        # 1. Alone: rag off, publishing with nobody subscribed.
        node, _ = executor("alone", [])
        cpu_start = executor_cpu()
        with node:
            start = time.perf_counter()
            anyio.run(node.run, ReplaySource(replay))
            alone = time.perf_counter() - start
        n = node.stats.transactions
        out["executor_txs"] = n
        out["executor_alone_tps"] = round(n / alone)
        out["executor_alone_cpu_us_per_tx"] = round((executor_cpu() - cpu_start) / n * 1e6, 1)

        # 2. An analyzer with rag attached, in a process of its own.
        node, publish = executor("attached", [])
        own = f"tcp://127.0.0.1:{free_port_pair()}"
        requests = f"tcp://127.0.0.1:{int(own.rsplit(':', 1)[1]) + 1}"
        env = {
            **os.environ,
            "MONMOUTH_PLUGINS__ENABLE": '["rag"]',
            "MONMOUTH_PLUGINS__DISABLE": json.dumps(NO_SERVERS),
            "MONMOUTH_PLUGINS__RAG__THREADS": str(threads),
        }
        log_path = tmp / "analyzer.log"
        with node, log_path.open("wb") as log_file:
            analyzer = subprocess.Popen(
                [
                    sys.executable, "-m", "monmouth", "run", "--role", "analyzer",
                    "--upstream", publish, "--publish", own, "--data-dir", str(tmp / "analyzer"),
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )  # fmt: skip
            try:

                def joined() -> bool:
                    if analyzer.poll() is not None:
                        raise RuntimeError("the analyzer stopped: " + log_path.read_text()[-2000:])
                    return '"analyzer joined the stream"' in log_path.read_text()

                _wait_for(joined, 120, "the analyzer to join the executor's stream")
                cpu_before = _process_cpu(analyzer.pid)
                cpu_start = executor_cpu(analyzer.pid)
                start = time.perf_counter()
                anyio.run(node.run, ReplaySource(replay))
                attached = time.perf_counter() - start
                head = node.head
                assert head is not None

                def indexed() -> bool:
                    try:
                        stats = ask_instance(requests, "rag.stats", None).result
                    except UserError:
                        return False
                    return bool(stats["head"] == head.number and stats["queued_blocks"] == 0)

                _wait_for(indexed, 3600, "the analyzer to index the executor's last block")
                analyzer_wall = time.perf_counter() - start
                cpu = _process_cpu(analyzer.pid) - cpu_before
                # The publisher child has sent everything the analyzer indexed by now.
                attached_cpu = executor_cpu(analyzer.pid) - cpu_start
                stats = ask_instance(requests, "rag.stats", None).result
            finally:
                analyzer.terminate()
                analyzer.wait(120)
        docs = stats["documents"]
        out["executor_with_analyzer_tps"] = round(n / attached)
        out["executor_with_analyzer_cpu_us_per_tx"] = round(attached_cpu / n * 1e6, 1)
        out["analyzer_docs"] = docs
        out["analyzer_wall_s"] = round(analyzer_wall, 1)
        out["analyzer_docs_per_s_here"] = round(docs / analyzer_wall)
        out["analyzer_cpu_s"] = round(cpu, 1)
        out["analyzer_docs_per_cpu_s"] = round(docs / cpu)

        # 3. rag inside the executor, until it has indexed every block (closing drains it).
        node, _ = executor("inside", ["rag"])
        cpu_start = executor_cpu()
        start = time.perf_counter()
        with node:
            anyio.run(node.run, ReplaySource(replay))
            executed = time.perf_counter() - start
        inside = time.perf_counter() - start
        out["executor_rag_inside_tps"] = round(n / inside)
        out["executor_rag_inside_execute_tps"] = round(n / executed)
        out["executor_rag_inside_cpu_us_per_tx"] = round((executor_cpu() - cpu_start) / n * 1e6, 1)

    alone_tps = out["executor_alone_tps"]
    out["with_analyzer_vs_alone"] = round(out["executor_with_analyzer_tps"] / alone_tps, 2)
    out["rag_inside_vs_alone"] = round(out["executor_rag_inside_tps"] / alone_tps, 2)
    # The same in CPU per transaction (above 1: dearer than alone).
    alone_cpu = out["executor_alone_cpu_us_per_tx"]
    out["with_analyzer_cpu_vs_alone"] = round(
        out["executor_with_analyzer_cpu_us_per_tx"] / alone_cpu, 2
    )
    out["rag_inside_cpu_vs_alone"] = round(out["executor_rag_inside_cpu_us_per_tx"] / alone_cpu, 2)
    # The analyzer with a core of its own, against what the executor ingests alone here and
    # against the most Ethereum carries at the chain's head.
    out["analyzer_own_core_vs_executor_alone"] = round(
        out["analyzer_docs_per_cpu_s"] / alone_tps, 2
    )
    out["analyzer_own_core_vs_l1_capacity"] = round(
        out["analyzer_docs_per_cpu_s"] / out["l1_capacity_tps"], 2
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200_000, help="documents to index")
    parser.add_argument("--per-block", type=int, default=1000, help="transactions per block")
    parser.add_argument("--users", type=int, default=20_000, help="funded users")
    parser.add_argument("--dimensions", type=int, default=128)
    parser.add_argument("--connectivity", type=int, default=16)
    parser.add_argument("--expansion-add", type=int, default=32)
    parser.add_argument("--expansion-search", type=int, default=256)
    parser.add_argument(
        "--threads",
        type=int,
        default=IndexSettings().threads,
        help="threads per HNSW insertion (default: the plugin's)",
    )
    parser.add_argument("--quantization", choices=("f16", "i8"), default="f16")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--recall-queries", type=int, default=200)
    parser.add_argument("--target", type=int, default=1_000_000, help="size to extrapolate to")
    parser.add_argument(
        "--budget", type=float, default=480.0, help="seconds of building before stopping early"
    )
    parser.add_argument("--node", action="store_true", help="also the node with rag off and on")
    parser.add_argument(
        "--insertion-alone",
        action="store_true",
        help="also HNSW insertion alone on every core (the ceiling of the indexing rate)",
    )
    parser.add_argument("--node-txs", type=int, default=100_000)
    parser.add_argument(
        "--analyzer",
        action="store_true",
        help="the executor with rag in an analyzer process vs rag inside (module docstring)",
    )
    parser.add_argument(
        "--transactions", type=int, default=100_000, help="transactions for --analyzer"
    )
    parser.add_argument(
        "--l1-gas-limit",
        type=int,
        default=L1_GAS_LIMIT,
        help="Ethereum's block gas limit, for what L1 can carry (default: mainnet's in 2025-11)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="keep the index here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    settings = IndexSettings(
        connectivity=args.connectivity,
        expansion_add=args.expansion_add,
        expansion_search=args.expansion_search,
        threads=args.threads,
        quantization=args.quantization,
        save_every=10**12,
    )
    if args.analyzer and not (args.node or args.insertion_alone):
        # Only the two-process measurement: the index build's figures are not asked for.
        report: dict[str, Any] = {"threads": args.threads, **machine()}
        report.update(
            analyzer_rates(args.transactions, args.per_block, args.l1_gas_limit, args.threads)
        )
        report["load_after"] = round(os.getloadavg()[0], 2)
        emit(report, args.json)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-rag-")) if args.dir is None else args.dir
    try:
        report = {
            "dimensions": args.dimensions,
            "connectivity": args.connectivity,
            "expansion_add": args.expansion_add,
            "expansion_search": args.expansion_search,
            "threads": args.threads,
            "quantization": args.quantization,
        }
        report.update(stages(min(args.docs, 20_000), args.users, args.dimensions, settings))
        index, built, workload = build(
            tmp / "rag",
            args.docs,
            args.per_block,
            args.users,
            settings,
            args.dimensions,
            args.budget,
        )
        report.update(built)
        report.update(queries(index, workload, args.queries))
        report.update(recall(index, args.recall_queries))
        if args.insertion_alone:
            report.update(insertion_alone(index, settings))
        assert index.ann is not None
        report["hnsw_memory_mb"] = round(index.ann.memory_usage / 2**20, 1)
        report["lmdb_disk_mb"] = round((tmp / "rag" / "data.mdb").stat().st_size / 2**20, 1)
        report["index_file_mb"] = round((tmp / "rag" / "index.usearch").stat().st_size / 2**20, 1)
        report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        start = time.perf_counter()
        index.close()
        reopened = RagIndex(tmp / "rag", readonly=True)
        report["reopen_readonly_s"] = round(time.perf_counter() - start, 2)
        reopened.close()
        if built["docs"] < args.target:
            # EXTRAPOLATED, not measured: sizes scale linearly; the build goes on at the rate of
            # its last window (the rate falls as the graph grows, so this is a lower bound).
            scale = args.target / built["docs"]
            rest = (args.target - built["docs"]) / built["docs_per_s_last_window"]
            report["extrapolated_to"] = args.target
            report["extrapolated_build_s_at_least"] = round(built["build_s"] + rest)
            report["extrapolated_index_file_mb"] = round(report["index_file_mb"] * scale)
            report["extrapolated_lmdb_disk_mb"] = round(report["lmdb_disk_mb"] * scale)
        if args.node:
            report.update(
                node_rates(args.node_txs, args.per_block, args.l1_gas_limit, args.threads)
            )
            # The "keeps up": documents indexed per second against transactions
            # ingested per second, each alone on this machine, in this run: against the node
            # catching up on history as fast as it executes, and against the most Ethereum
            # carries at the chain's head (at the build's end, where indexing is slowest).
            report["indexing_vs_node"] = round(built["docs_per_s"] / report["node_rag_off_tps"], 2)
            report["indexing_vs_l1_capacity"] = round(
                built["docs_per_s_last_window"] / report["l1_capacity_tps"], 2
            )
            if args.insertion_alone:
                report["hnsw_alone_vs_node"] = round(
                    report["hnsw_alone_per_s_last_window"] / report["node_rag_off_tps"], 2
                )
            report["node_rag_on_vs_off"] = round(
                report["node_rag_on_tps"] / report["node_rag_off_tps"], 2
            )
        if args.analyzer:
            report.update(machine())
            report.update(
                analyzer_rates(args.transactions, args.per_block, args.l1_gas_limit, args.threads)
            )
        emit(report, args.json)
    finally:
        if args.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
