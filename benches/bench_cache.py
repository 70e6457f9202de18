"""Cache benchmark (`make bench-cache`, issue 18 item 6): the account cache's eviction policies
on a big state, offline against Belady's optimum and in the node against all-resident.

One process run, JSON out (`--json`):

1. **The state**, built once and reused (`--state DIR`, by default
   `~/.cache/monmouth/bench-cache/<accounts>`): a node data directory of `--accounts` accounts
   (10,000,000 by default) loaded with `Store.load_snapshot`, with the lattice hash of every
   account and a head block, so the node follows on from it. Sizes as on Solana: mostly
   165-byte SPL Token accounts (mint, owner, amount, initialized, owned by the Token program),
   system accounts (no data), one in a thousand large (1 to 16 KiB). Every key is derived from
   an index, so a workload can name any account without a table; only the owners, which sign,
   are keypairs (a thousand of them, each holding many token accounts and paying fees).
2. **Workloads**: system transfers (a funded owner pays a system account) and SPL Token
   transfers (token account to token account, signed by the source's owner), the accounts
   drawn Zipf (alpha 0.8, 1.0, 1.2; rank r by index) or uniformly.
3. **Offline**: the access trace (the keys each block names, in order, programs left out since
   they are pinned) replayed through every policy of `POLICIES` and through Belady's furthest
   next use, with the hot tier at 1 % and 5 % of the state's bytes, evicting between blocks
   as the cache does. Hit rate: of the distinct accounts each block names, the share already
   resident when the block starts, over the trace's second half (the first warms the cache).
4. **The node** (`monmouth.bench.node_run`, in a child process per run for its own peak RSS):
   the same workload with `[plugins.cache] policy = "unbounded"` and with `hot_bytes` at 1 %
   and 5 % of the state; throughput against the unbounded run, peak RSS, and the time a restart
   on the state takes to commit its first block. Each run goes on from the head the last one
   left, so the state is never copied. Until the `cache` plugin is installed the node ignores
   `[plugins.cache]` (the result says `cache_plugin: false`) and every run holds every touched
   account: the hit rates are then the offline ones.

Figures depend on the machine and its load (`machine` in the result); compare within a run.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
from report import emit, machine
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from monmouth.bench import node_run
from monmouth.core import inbox
from monmouth.core.cachespec import EvictionPolicy
from monmouth.core.config import load_settings
from monmouth.core.l1 import L1Block, L1Transaction
from monmouth.core.lthash import LtHash, digest, sum_of
from monmouth.core.plugins import find_plugins
from monmouth.core.records import BlockRecord, SnapshotHead, encode
from monmouth.core.sources.replay import read_replay, write_replay
from monmouth.core.state import Store
from monmouth.devnet.instructions import (
    RENT_MINT,
    RENT_SYSTEM,
    RENT_TOKEN_ACCOUNT,
    TOKEN_PROGRAM_ID,
    sign_solders,
    token_transfer,
    transfer_tx,
)
from monmouth.plugins.cache.policy import DEFAULT_POLICY, POLICIES
from monmouth.rust_svm import runtime as _runtime
from monmouth.rust_svm.accounts import account_hash_input, encode_account_fields

#: Bump when the layout changes: a state built by another version is rebuilt, not reused.
LAYOUT_VERSION = 1
#: The head block the state stands at; the workload's L1 blocks follow it.
HEAD_NUMBER = 1_000
_SYSTEM_OWNER = bytes(32)
_TOKEN_OWNER = bytes(TOKEN_PROGRAM_ID)
#: The owner of the large accounts: a program that never runs here.
_LARGE_OWNER = hashlib.sha256(b"bench-cache/program").digest()
_OWNER_LAMPORTS = 10**15
_TOKEN_AMOUNT = 10**12
#: Rent-exempt minimum per byte-year, times two years (Solana's rent), for the large accounts.
_RENT_PER_BYTE = 3480 * 2
#: Encoded account header: lamports, rent epoch, executable, owner (rust_svm/accounts.py).
HEADER = 49
#: What the node counts against `hot_bytes` for a resident account besides its data (LiteSVM's
#: entry, the runtime's and the policy's): `rust_svm.runtime.ACCOUNT_OVERHEAD` where the cache
#: is installed, else the 400 bytes it was measured at (553 in RSS per 165-byte account).
RESIDENT_OVERHEAD: int = getattr(_runtime, "ACCOUNT_OVERHEAD", 400)
_U64 = struct.Struct("<Q")
#: Accounts per chunk when hashing and loading (2 KiB of digest each: 32 MiB a chunk).
_CHUNK = 16_384

Kind = Literal["transfers", "spl"]
#: Key kinds of the trace.
OWNER, MINT, TOKEN, SYSTEM, LARGE = range(5)


# ---------------------------------------------------------------------------- the state


@dataclass(frozen=True)
class Layout:
    """Which account index `i` of a state of `accounts` is: owners first, then the mint, the
    token accounts (85 %), the large accounts (0.1 %) and the system accounts (the rest)."""

    accounts: int

    @cached_property
    def owners(self) -> int:
        return min(1024, max(16, self.accounts // 100))

    @cached_property
    def large(self) -> int:
        return self.accounts // 1000

    @cached_property
    def tokens(self) -> int:
        return self.accounts * 85 // 100

    @cached_property
    def system(self) -> int:
        rest = self.accounts - self.owners - 1 - self.tokens - self.large
        if rest < 1:
            raise ValueError(f"{self.accounts} accounts are too few for this layout")
        return rest

    @cached_property
    def owner_keys(self) -> list[Keypair]:
        return [
            Keypair.from_seed(hashlib.sha256(b"bench-cache/owner" + i.to_bytes(8, "big")).digest())
            for i in range(self.owners)
        ]

    @cached_property
    def owner_pubkeys(self) -> list[bytes]:
        return [bytes(k.pubkey()) for k in self.owner_keys]

    @cached_property
    def mint(self) -> bytes:
        return hashlib.sha256(b"bench-cache/mint").digest()

    def split(self, i: int) -> tuple[int, int]:
        """Account index -> (kind, index within the kind)."""
        if i < self.owners:
            return OWNER, i
        i -= self.owners
        if i == 0:
            return MINT, 0
        i -= 1
        if i < self.tokens:
            return TOKEN, i
        i -= self.tokens
        if i < self.large:
            return LARGE, i
        return SYSTEM, i - self.large

    def pubkey(self, kind: int, index: int) -> bytes:
        if kind == OWNER:
            return self.owner_pubkeys[index]
        if kind == MINT:
            return self.mint
        return hashlib.sha256(bytes((kind,)) + index.to_bytes(8, "big")).digest()

    @staticmethod
    def large_size(index: int) -> int:
        return 1024 * (1 + hashlib.sha256(b"size" + index.to_bytes(8, "big")).digest()[0] % 16)

    def data_size(self, kind: int, index: int) -> int:
        if kind == TOKEN:
            return 165
        if kind == MINT:
            return 82
        if kind == LARGE:
            return self.large_size(index)
        return 0

    def size(self, kind: int, index: int) -> int:
        """What the node counts against `hot_bytes` for holding the account."""
        return RESIDENT_OVERHEAD + self.data_size(kind, index)

    def token_data(self, index: int) -> bytes:
        """An initialized SPL Token account: mint, owner, amount, no delegate, state 1
        (initialized), not native, nothing delegated, no close authority."""
        owner = self.owner_pubkeys[index % self.owners]
        return b"".join(
            (
                self.mint,
                owner,
                _U64.pack(_TOKEN_AMOUNT),
                bytes(36),  # delegate: COption None
                b"\x01",
                bytes(12),  # is_native: COption None
                bytes(8),  # delegated_amount
                bytes(36),  # close_authority: COption None
            )
        )

    def mint_data(self) -> bytes:
        """An initialized mint: authority the first owner, supply every token account's
        amount, 6 decimals, no freeze authority."""
        return b"".join(
            (
                b"\x01\x00\x00\x00",
                self.owner_pubkeys[0],
                _U64.pack(_TOKEN_AMOUNT * self.tokens),
                b"\x06\x01",
                bytes(36),
            )
        )

    def account(self, i: int) -> tuple[bytes, bytes]:
        """(pubkey, encoded account) of account index `i`."""
        kind, index = self.split(i)
        key = self.pubkey(kind, index)
        if kind == TOKEN:
            raw = encode_account_fields(
                RENT_TOKEN_ACCOUNT, _TOKEN_OWNER, False, 0, self.token_data(index)
            )
        elif kind == SYSTEM:
            raw = encode_account_fields(
                RENT_SYSTEM + index % 1000 * 1000, _SYSTEM_OWNER, False, 0, b""
            )
        elif kind == OWNER:
            raw = encode_account_fields(_OWNER_LAMPORTS, _SYSTEM_OWNER, False, 0, b"")
        elif kind == MINT:
            raw = encode_account_fields(RENT_MINT, _TOKEN_OWNER, False, 0, self.mint_data())
        else:
            size = self.large_size(index)
            lamports = (128 + size) * _RENT_PER_BYTE
            raw = encode_account_fields(lamports, _LARGE_OWNER, False, 0, bytes(size))
        return key, raw

    def data_bytes(self) -> int:
        """The data bytes of every account."""
        large = sum(self.large_size(i) for i in range(self.large))
        return 82 + self.tokens * 165 + large

    def state_bytes(self) -> int:
        """What holding every account would cost as the node counts it (the base of the hot
        tier's 1 % and 5 %)."""
        return self.accounts * RESIDENT_OVERHEAD + self.data_bytes()

    def encoded_bytes(self) -> int:
        """The stored (encoded) bytes of every account."""
        return self.accounts * HEADER + self.data_bytes()


class _Accounts(Sequence[tuple[bytes, bytes]]):
    """Every account of a layout, made when read (`load_snapshot` takes a sequence, and ten
    million accounts held at once would be gigabytes), in the order `order` gives (account
    indexes; all of them in index order when None)."""

    def __init__(
        self,
        layout: Layout,
        order: npt.NDArray[np.int64] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self._layout = layout
        self._order = order
        self._progress = progress

    def __len__(self) -> int:
        return self._layout.accounts

    def _index(self, i: int) -> int:
        return i if self._order is None else int(self._order[i])

    @overload
    def __getitem__(self, i: int) -> tuple[bytes, bytes]: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[tuple[bytes, bytes]]: ...
    def __getitem__(self, i: int | slice) -> tuple[bytes, bytes] | Sequence[tuple[bytes, bytes]]:
        if isinstance(i, slice):
            return [self._layout.account(self._index(j)) for j in range(*i.indices(len(self)))]
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._layout.account(self._index(i))

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        account, order = self._layout.account, self._order
        indexes = range(len(self)) if order is None else order.tolist()
        for n, i in enumerate(indexes):
            if self._progress is not None and n and n % 1_000_000 == 0:
                self._progress(f"loaded {n:,} accounts")
            yield account(i)


def key_order(layout: Layout) -> npt.NDArray[np.int64]:
    """The account indexes sorted by public key. LMDB fills its pages in order when keys come
    sorted (and the index keys, prefixed by owner, mint or program, nearly so); in random order
    a load of this size rewrites and spills the same pages over and over (hundreds of GB
    written for a 10M-account state)."""
    raw = bytearray()
    for i in range(layout.accounts):
        raw += layout.pubkey(*layout.split(i))
    # Sort as big-endian 4-word tuples: the byte order LMDB compares keys in.
    words = np.frombuffer(bytes(raw), dtype=">u8").reshape(-1, 4)
    return np.lexsort(words.T[::-1]).astype(np.int64)


def head_record(checksum: bytes) -> BlockRecord:
    return BlockRecord(
        number=HEAD_NUMBER,
        hash=hashlib.sha256(b"bench-cache/head").digest(),
        parent_hash=hashlib.sha256(b"bench-cache/parent").digest(),
        timestamp=1_700_000_000,
        checksum=checksum,
        messages=0,
        deposits=0,
        ok=0,
        failed=0,
        rejected=0,
    )


def state_lthash(layout: Layout, progress: Callable[[str], None]) -> LtHash:
    """The lattice hash of every account of `layout` (SIMD-0215), a chunk at a time."""
    total = LtHash.identity()
    accounts = _Accounts(layout)
    for start in range(0, len(accounts), _CHUNK):
        chunk = accounts[start : start + _CHUNK]
        total.mix_in(sum_of([digest(account_hash_input(k, raw)) for k, raw in chunk]))
        if start and start % (_CHUNK * 64) == 0:
            progress(f"hashed {start:,} accounts")
    return total


def build_state(path: Path, layout: Layout, progress: Callable[[str], None]) -> float:
    """Build the data directory `path/data` (in a sibling folder first, renamed when whole, so
    an interrupted build is never reused); returns the seconds it took."""
    start = time.perf_counter()
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    lthash = state_lthash(layout, progress)
    head = SnapshotHead(encode(head_record(lthash.checksum())), lthash.to_bytes(), 0)
    progress("sorting the keys")
    order = key_order(layout)
    progress(f"loading {layout.accounts:,} accounts into LMDB")
    # Map large enough up front (it reserves address space, not disk): a full map reruns the
    # whole load with twice the map.
    map_size = max(64 << 20, layout.encoded_bytes() * 10)
    with Store(partial / "data", map_size=map_size) as store:
        store.load_snapshot(head, _Accounts(layout, order, progress))
    (partial / "layout.json").write_text(
        json.dumps({"version": LAYOUT_VERSION, "accounts": layout.accounts})
    )
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)
    return time.perf_counter() - start


def ensure_state(path: Path, layout: Layout, progress: Callable[[str], None]) -> float | None:
    """Reuse the state at `path` when it was built for this layout; else build it. Returns the
    build's seconds, None when reused."""
    try:
        built = json.loads((path / "layout.json").read_text())
    except (OSError, ValueError):
        built = None
    if built == {"version": LAYOUT_VERSION, "accounts": layout.accounts}:
        return None
    progress(f"building a state of {layout.accounts:,} accounts in {path}")
    return build_state(path, layout, progress)


# ---------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Workload:
    kind: Kind
    alpha: float | None  # None: uniform

    @property
    def name(self) -> str:
        return f"{self.kind}-" + ("uniform" if self.alpha is None else f"zipf{self.alpha}")

    @classmethod
    def parse(cls, name: str) -> Workload:
        kind, _, dist = name.partition("-")
        if kind not in ("transfers", "spl") or not (dist == "uniform" or dist.startswith("zipf")):
            raise ValueError(f"unknown workload {name!r} (e.g. spl-zipf1.0, transfers-uniform)")
        return cls(kind, None if dist == "uniform" else float(dist[4:]))  # type: ignore[arg-type]


WORKLOADS = tuple(
    Workload(kind, alpha) for kind in ("transfers", "spl") for alpha in (0.8, 1.0, 1.2, None)
)

_CDF: dict[tuple[int, float], npt.NDArray[np.float64]] = {}


def _pick(
    rng: np.random.Generator, n: int, alpha: float | None, count: int
) -> npt.NDArray[np.int64]:
    """`count` indexes in [0, n): uniform, or Zipf with exponent `alpha` (index 0 the most
    popular), by inverting the exact cumulative distribution."""
    if alpha is None:
        return rng.integers(0, n, count)
    cdf = _CDF.get((n, alpha))
    if cdf is None:
        cdf = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** -alpha)
        cdf /= cdf[-1]
        _CDF.clear()  # one at a time: 80 MB each at 10M accounts
        _CDF[(n, alpha)] = cdf
    return np.minimum(np.searchsorted(cdf, rng.random(count)), n - 1).astype(np.int64)


@dataclass(frozen=True)
class Draws:
    """The accounts of `len(a)` transactions: transfers: owner a pays system account b;
    spl: token account a sends to token account b, signed by a's owner."""

    kind: Kind
    a: npt.NDArray[np.int64]
    b: npt.NDArray[np.int64]


def draw(layout: Layout, workload: Workload, count: int, seed: int) -> Draws:
    rng = np.random.default_rng([seed, 0 if workload.kind == "transfers" else 1])
    if workload.kind == "transfers":
        a = rng.integers(0, layout.owners, count)
        b = _pick(rng, layout.system, workload.alpha, count)
    else:
        a = _pick(rng, layout.tokens, workload.alpha, count)
        b = _pick(rng, layout.tokens, workload.alpha, count)
        b = np.where(a == b, (b + 1) % layout.tokens, b)  # never to itself
    return Draws(workload.kind, a, b)


def trace_keys(layout: Layout, draws: Draws, per_block: int) -> list[list[int]]:
    """The accounts each block names, in order, as integers (kind << 40 | index); programs
    are left out (always resident: pinned)."""
    a, b = draws.a.tolist(), draws.b.tolist()
    blocks: list[list[int]] = []
    for start in range(0, len(a), per_block):
        keys: list[int] = []
        for x, y in zip(a[start : start + per_block], b[start : start + per_block], strict=True):
            if draws.kind == "transfers":
                keys += (OWNER << 40 | x, SYSTEM << 40 | y)
            else:
                keys += (OWNER << 40 | x % layout.owners, TOKEN << 40 | x, TOKEN << 40 | y)
        blocks.append(keys)
    return blocks


def l1_blocks(
    layout: Layout, draws: Draws, per_block: int, parent: BlockRecord, batch: int = 64
) -> list[L1Block]:
    """Signed Solana transactions in inbox batches, in L1 blocks that follow `parent`."""
    owners, secrets = layout.owner_keys, [bytes(k) for k in layout.owner_keys]
    inbox_address = load_settings(None).inbox.address_bytes
    a, b = draws.a.tolist(), draws.b.tolist()
    out: list[L1Block] = []
    number, parent_hash, timestamp = parent.number, parent.hash, parent.timestamp
    for start in range(0, len(a), per_block):
        number += 1
        timestamp += 12
        raws: list[bytes] = []
        for i in range(start, min(start + per_block, len(a))):
            x, y = a[i], b[i]
            # The amount differs per transaction: identical ones would be replays.
            if draws.kind == "transfers":
                to = layout.pubkey(SYSTEM, y)
                raws.append(
                    transfer_tx(secrets[x], layout.owner_pubkeys[x], to, 1000 + i, parent_hash)
                )
            else:
                owner = owners[x % layout.owners]
                ix = token_transfer(
                    Pubkey(layout.pubkey(TOKEN, x)),
                    Pubkey(layout.pubkey(TOKEN, y)),
                    owner.pubkey(),
                    1 + i,
                )
                raws.append(sign_solders([ix], [owner], parent_hash, False))
        txs = tuple(
            L1Transaction(
                hash=hashlib.sha256(b"l1tx" + _U64.pack(number) + _U64.pack(j)).digest(),
                index=j,
                sender=b"\x11" * 20,
                to=inbox_address,
                value=0,
                input=inbox.encode_batch(raws[k : k + batch]),
                status=1,
            )
            for j, k in enumerate(range(0, len(raws), batch))
        )
        block_hash = hashlib.sha256(b"l1block" + parent_hash + _U64.pack(number)).digest()
        out.append(L1Block(number, block_hash, parent_hash, timestamp, txs))
        parent_hash = block_hash
    return out


# ---------------------------------------------------------------------------- offline


def _never(_: bytes) -> bool:
    return False


@dataclass
class HitRate:
    hits: int = 0
    lookups: int = 0
    evicted: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.hits / self.lookups if self.lookups else 0.0


def simulate(
    policy: EvictionPolicy, blocks: list[list[int]], size: Callable[[int], int], budget: int
) -> HitRate:
    """Replay `blocks` through `policy` with `budget` bytes, evicting between blocks; counts
    over the second half."""
    measured = HitRate()
    resident: set[int] = set()
    warm = len(blocks) // 2
    encoded: dict[int, bytes] = {}
    start = time.perf_counter()
    for number, keys in enumerate(blocks):
        distinct = dict.fromkeys(keys)
        if number >= warm:
            measured.lookups += len(distinct)
            measured.hits += sum(1 for k in distinct if k in resident)
        for k in keys:
            raw = encoded.get(k)
            if raw is None:
                raw = encoded[k] = k.to_bytes(6, "big")
            policy.access(raw, size(k))
        resident.update(distinct)
        excess = policy.resident_bytes() - budget
        if excess > 0:
            out = policy.victims(excess, _never)
            measured.evicted += len(out)
            resident.difference_update(int.from_bytes(v, "big") for v in out)
    measured.seconds = time.perf_counter() - start
    return measured


def belady(blocks: list[list[int]], size: Callable[[int], int], budget: int) -> HitRate:
    """Belady's furthest next use, evicting between blocks as the cache does: after each
    block, the resident keys named again furthest in the future (or never) go first. With
    accounts of different sizes this is the classic bound's heuristic, not an exact optimum."""
    never = len(blocks)
    following: list[list[tuple[int, int]]] = [[] for _ in blocks]
    last: dict[int, int] = {}
    for number in range(len(blocks) - 1, -1, -1):
        distinct = dict.fromkeys(blocks[number])
        following[number] = [(k, last.get(k, never)) for k in distinct]
        for k in distinct:
            last[k] = number
    measured = HitRate()
    warm = len(blocks) // 2
    resident: dict[int, int] = {}  # key -> its next use
    heap: list[tuple[int, int]] = []  # (-next use, key), stale entries skipped
    used = 0
    for number, pairs in enumerate(following):
        if number >= warm:
            measured.lookups += len(pairs)
            measured.hits += sum(1 for k, _ in pairs if k in resident)
        for k, nxt in pairs:
            if k not in resident:
                used += size(k)
            resident[k] = nxt
            heapq.heappush(heap, (-nxt, k))
        while used > budget and heap:
            nxt, k = heapq.heappop(heap)
            if resident.get(k) == -nxt:
                del resident[k]
                used -= size(k)
                measured.evicted += 1
    return measured


def offline(
    layout: Layout,
    workloads: Sequence[Workload],
    txs: int,
    per_block: int,
    fractions: Sequence[float],
    policies: Sequence[str],
    state_bytes: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    sizes = {kind: layout.size(kind, 0) for kind in (OWNER, TOKEN, SYSTEM)}

    def size(k: int) -> int:
        return sizes[k >> 40]

    out: dict[str, Any] = {}
    for workload in workloads:
        blocks = trace_keys(layout, draw(layout, workload, txs, seed=1), per_block)
        distinct = len({k for keys in blocks for k in keys})
        entry: dict[str, Any] = {"txs": txs, "blocks": len(blocks), "distinct_accounts": distinct}
        # What no eviction policy can beat: every account resident once first named (the
        # misses left are first uses, in the measured half).
        entry["all_resident_hit_rate"] = round(
            simulate(POLICIES["unbounded"](), blocks, size, 1 << 62).rate, 4
        )
        entry["distinct_bytes"] = sum(size(k) for k in {k for keys in blocks for k in keys})
        for fraction in fractions:
            budget = int(state_bytes * fraction)
            label = f"{fraction:.0%}"
            rates: dict[str, Any] = {}
            for name in policies:
                progress(f"{workload.name} at {label}: {name}")
                measured = simulate(POLICIES[name](), blocks, size, budget)
                rates[name] = {
                    "hit_rate": round(measured.rate, 4),
                    "ns_per_access": round(
                        measured.seconds * 1e9 / max(sum(len(b) for b in blocks), 1)
                    ),
                }
            rates["belady"] = {"hit_rate": round(belady(blocks, size, budget).rate, 4)}
            entry[label] = {"budget_bytes": budget, **rates}
        out[workload.name] = entry
    return out


def best_policy(results: dict[str, Any], fractions: Sequence[float]) -> dict[str, float]:
    """Each bounded policy's mean hit rate over every workload and size."""
    totals: dict[str, list[float]] = {}
    for entry in results.values():
        for fraction in fractions:
            for name, value in entry[f"{fraction:.0%}"].items():
                if isinstance(value, dict) and name not in ("belady", "unbounded"):
                    totals.setdefault(name, []).append(value["hit_rate"])
    return {name: round(sum(v) / len(v), 4) for name, v in totals.items()}


# ---------------------------------------------------------------------------- node runs


def cache_installed() -> bool:
    """Whether the node has a `cache` plugin to take `[plugins.cache]` (the node refuses the
    table of a plugin it does not have)."""
    return "cache" in {found.name for found in find_plugins(load_settings(None))}


def _cache_settings(hot_bytes: int | None, policy: str, installed: bool) -> dict[str, Any]:
    """The node's settings for one run: as `monmouth bench` runs it (no port bound), with
    the cache's table when the `cache` plugin is installed."""
    plugins: dict[str, Any] = {"monitoring": {"address": "none"}, "rpc": {"address": "none"}}
    if installed:
        cache: dict[str, Any] = {"policy": "unbounded" if hot_bytes is None else policy}
        if hot_bytes is not None:
            cache["hot_bytes"] = hot_bytes
        plugins["cache"] = cache
    return {"plugins": plugins}


def _memory_mb() -> tuple[int, int]:
    """This process's resident memory now, in MB, from /proc: anonymous (its own: Python,
    LiteSVM, LMDB's dirty pages) and file-backed (LMDB's map and libraries)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status["RssAnon"].split()[0]) >> 10, int(status["RssFile"].split()[0]) >> 10


class _PeakMemory:
    """The peaks of `_memory_mb`, sampled every 10 ms on a thread of its own (a spike shorter
    than that can be missed). `ru_maxrss` alone counts the file-backed pages of the LMDB map:
    clean page-cache pages the kernel maps in bulk (fault-around) on a state it has cached and
    drops when memory is short, so it overstates what the node holds."""

    def __init__(self) -> None:
        self.anon = self.file = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            anon, file = _memory_mb()
            self.anon, self.file = max(self.anon, anon), max(self.file, file)
            if self._stop.wait(0.01):
                return

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cache_counts(node: Any) -> dict[str, Any]:
    """The cache's own counts over the measured run, where the node has a cache
    (`executor.cache.snapshot()`, the `cache` branch); else nothing."""
    snapshot = getattr(getattr(node.executor, "cache", None), "snapshot", None)
    if not callable(snapshot):
        return {}
    snap = snapshot()
    counts = snap.counts
    # As docs/cache.md defines it: a negative entry found is a hit too (no LMDB read).
    found = counts.hits + counts.negative_hits
    lookups = found + counts.misses
    return {
        "hit_rate": round(found / lookups, 4) if lookups else None,
        "hits": counts.hits,
        "misses": counts.misses,
        "negative_hits": counts.negative_hits,
        "evictions": counts.evictions,
        "resident_accounts": snap.resident_accounts,
        "resident_bytes": snap.resident_bytes,
    }


def child_run(spec: dict[str, Any]) -> dict[str, Any]:
    """One node run in this (child) process: a restart that commits the first block, then
    the rest of the blocks; prints what it measured."""
    workdir = Path(spec["workdir"])
    blocks = list(read_replay(Path(spec["replay"])))
    settings = spec["settings"]
    with _PeakMemory() as peak:
        start = time.perf_counter()
        first = node_run(blocks[:1], workdir, **settings)
        restart = time.perf_counter() - start
        rest = node_run(blocks[1:], workdir, **settings)
    stats = rest.node.stats
    return {
        **_cache_counts(rest.node),
        "restart_to_first_block_s": round(restart, 3),
        "first_block_txs": first.node.stats.transactions,
        "txs": stats.transactions,
        "ok": stats.ok + first.node.stats.ok,
        "failed": stats.failed + first.node.stats.failed,
        "rejected": stats.rejected + first.node.stats.rejected,
        "seconds": round(rest.seconds, 3),
        "tps": round(stats.transactions / rest.seconds) if rest.seconds else 0,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_anon_mb": peak.anon,
        "peak_file_mb": peak.file,
        "cache_plugin": "cache" in rest.node.plugins.states,
    }


def _one_run(
    path: Path,
    layout: Layout,
    workload: Workload,
    txs: int,
    per_block: int,
    settings: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Blocks that follow the state's head, run by the node in a child process."""
    with Store(path / "data", readonly=True) as store:
        head = store.head()
    assert head is not None, "the state has a head block"
    replay = path / "next.jsonl"
    write_replay(replay, l1_blocks(layout, draw(layout, workload, txs, seed), per_block, head))
    spec = {"workdir": str(path), "replay": str(replay), "settings": settings}
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        check=True,
        capture_output=True,
        text=True,
    )
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def node_runs(
    path: Path,
    layout: Layout,
    workload: Workload,
    txs: int,
    per_block: int,
    fractions: Sequence[float],
    policy: str,
    state_bytes: int,
    seed: int,
    repeat: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """A warm-up run (the OS caches the workload's hot pages; discarded), then `repeat`
    rounds of every setting in turn, so that no setting always runs first; the median of
    each setting's rounds."""
    installed = cache_installed()
    labels: list[tuple[str, int | None]] = [("unbounded", None)]
    labels += [(f"hot {f:.0%}", int(state_bytes * f)) for f in fractions]
    progress(f"node: {workload.name}, warm-up")
    _one_run(path, layout, workload, txs, per_block, _cache_settings(None, policy, installed), seed)
    rounds: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in labels}
    for round_ in range(repeat):
        for n, (label, hot_bytes) in enumerate(labels):
            progress(f"node: {workload.name}, {label}, round {round_ + 1}/{repeat}")
            settings = _cache_settings(hot_bytes, policy, installed)
            run_seed = seed * 1000 + round_ * 10 + n + 1
            rounds[label].append(
                _one_run(path, layout, workload, txs, per_block, settings, run_seed)
            )
    runs: dict[str, Any] = {}
    for label, hot_bytes in labels:
        done = rounds[label]
        runs[label] = {
            "hot_bytes": hot_bytes,
            "rounds": len(done),
            "tps": statistics.median(r["tps"] for r in done),
            "tps_each": [r["tps"] for r in done],
            "restart_to_first_block_s": statistics.median(
                r["restart_to_first_block_s"] for r in done
            ),
            "restart_each_s": [r["restart_to_first_block_s"] for r in done],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in done),
            "peak_anon_mb": max(r["peak_anon_mb"] for r in done),
            "peak_file_mb": max(r["peak_file_mb"] for r in done),
            "ok": sum(r["ok"] for r in done),
            "failed": sum(r["failed"] for r in done),
            "rejected": sum(r["rejected"] for r in done),
            "cache_plugin": all(r["cache_plugin"] for r in done),
        }
        if all("hit_rate" in r for r in done):
            hits = sum(r["hits"] + r["negative_hits"] for r in done)
            lookups = hits + sum(r["misses"] for r in done)
            runs[label]["hit_rate"] = round(hits / lookups, 4) if lookups else None
            runs[label]["evictions"] = sum(r["evictions"] for r in done)
    base = runs["unbounded"]["tps"]
    for measured in runs.values():
        measured["throughput_ratio"] = round(measured["tps"] / base, 3) if base else None
    return runs


# ---------------------------------------------------------------------------- main


def default_state(accounts: int) -> Path:
    return Path.home() / ".cache" / "monmouth" / "bench-cache" / f"{accounts}-v{LAYOUT_VERSION}"


def run(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    layout = Layout(args.accounts)
    path = Path(args.state) if args.state else default_state(args.accounts)
    result: dict[str, Any] = {"machine": machine(), "accounts": args.accounts, "state": str(path)}
    if args.node:
        # The offline part needs only the layout; the node needs the state built.
        build = ensure_state(path, layout, progress)
        result["build_s"] = None if build is None else round(build, 1)
        result["data_mdb_bytes"] = (path / "data" / "data.mdb").stat().st_size
    state_bytes = layout.state_bytes()
    result["state_bytes"] = state_bytes  # as the node counts them: the base of 1 % and 5 %
    result["state_encoded_bytes"] = layout.encoded_bytes()
    result["resident_overhead"] = RESIDENT_OVERHEAD
    fractions = (0.01, 0.05)
    policies = [p for p in POLICIES if p != "unbounded"]
    trace_txs = args.trace_txs if args.trace_txs else max(10_000, args.accounts // 10)
    if args.offline:
        rates = offline(
            layout,
            [Workload.parse(w) for w in args.workloads],
            trace_txs,
            args.per_block,
            fractions,
            policies,
            state_bytes,
            progress,
        )
        result["offline"] = rates
        result["mean_hit_rate"] = best_policy(rates, fractions)
        result["default_policy"] = DEFAULT_POLICY
    if args.node:
        result["node"] = {
            w: node_runs(
                path,
                layout,
                Workload.parse(w),
                args.txs,
                args.per_block,
                fractions,
                args.policy,
                state_bytes,
                seed=n + 1,
                repeat=args.repeat,
                progress=progress,
            )
            for n, w in enumerate(args.node_workloads)
        }
    result["peak_rss_mb_bench"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["load_after"] = os.getloadavg()[0]
    return result


def markdown(result: dict[str, Any]) -> str:
    """The result's tables in Markdown (for docs/cache.md): offline hit rates per workload and
    hot size, then the node runs."""
    lines: list[str] = []
    offline_rates = result.get("offline") or {}
    if offline_rates:
        names = [n for n in POLICIES if n != "unbounded"] + ["belady"]
        lines.append("| workload | hot | " + " | ".join(names) + " | all resident |")
        lines.append("|---|---|" + "---|" * (len(names) + 1))
        for workload, entry in offline_rates.items():
            for label in ("1%", "5%"):
                cells = [f"{entry[label][n]['hit_rate']:.3f}" for n in names]
                lines.append(
                    f"| {workload} | {label} | "
                    + " | ".join(cells)
                    + f" | {entry['all_resident_hit_rate']:.3f} |"
                )
        lines.append("")
        lines.append("| policy | " + " | ".join(names[:-1]) + " |")
        lines.append("|---|" + "---|" * (len(names) - 1))
        for label in ("1%", "5%"):
            ns = [
                sum(e[label][n]["ns_per_access"] for e in offline_rates.values())
                // len(offline_rates)
                for n in names[:-1]
            ]
            lines.append(f"| ns per access, {label} | " + " | ".join(map(str, ns)) + " |")
        lines.append("")
    for workload, runs in (result.get("node") or {}).items():
        lines.append(f"Node, {workload}:")
        lines.append("")
        lines.append(
            "| run | tx/s (median; each round) | ratio | peak RSS MB (anon / file-backed) "
            "| restart to first block s (median) | ok / failed | cache hit rate |"
        )
        lines.append("|---|---|---|---|---|---|---|")
        for label, run in runs.items():
            each = ", ".join(map(str, run["tps_each"]))
            lines.append(
                f"| {label} | {run['tps']} ({each}) | {run['throughput_ratio']} "
                f"| {run['peak_rss_mb']} ({run['peak_anon_mb']} / {run['peak_file_mb']}) "
                f"| {run['restart_to_first_block_s']} | {run['ok']} / {run['failed']} "
                f"| {run.get('hit_rate', 'no cache')} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000_000)
    parser.add_argument("--state", help="the state's folder (built there when missing)")
    parser.add_argument("--txs", type=int, default=20_000, help="transactions per node run")
    parser.add_argument("--trace-txs", type=int, default=0, help="offline trace (accounts/10)")
    parser.add_argument("--per-block", type=int, default=1000)
    parser.add_argument(
        "--workloads",
        nargs="+",
        default=[w.name for w in WORKLOADS],
        help="offline workloads",
    )
    parser.add_argument("--node-workloads", nargs="*", default=["transfers-zipf1.0", "spl-zipf1.0"])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of node runs (median)")
    parser.add_argument("--policy", default=DEFAULT_POLICY, choices=sorted(POLICIES))
    parser.add_argument("--no-offline", dest="offline", action="store_false")
    parser.add_argument("--no-node", dest="node", action="store_false")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--markdown", help="also write the tables to this file")
    parser.add_argument("--from-json", help="only turn this earlier --json result into --markdown")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child_run(json.loads(args.child))))
        return
    if args.from_json:
        print(markdown(json.loads(Path(args.from_json).read_text())))
        return
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    if args.build_only:
        path = Path(args.state) if args.state else default_state(args.accounts)
        build = ensure_state(path, Layout(args.accounts), progress)
        emit({"state": str(path), "build_s": build}, args.json)
        return
    result = run(args, progress)
    if args.markdown:
        Path(args.markdown).write_text(markdown(result))
    emit(result, args.json)


if __name__ == "__main__":
    main()
