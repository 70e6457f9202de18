"""`make bench-cache` (benches/bench_cache.py) on a small state: the state it builds is one the
node follows on from, with the right lattice hash; every transaction of its workloads runs;
the offline hit rates are rates, and Belady's is the best where it is the optimum."""

from __future__ import annotations

import json
from pathlib import Path

import clirun
import pytest

from monmouth.core.lthash import LtHash, digest, sum_of
from monmouth.core.state import Store
from monmouth.plugins.cache.policy import POLICIES
from monmouth.rust_svm.accounts import account_hash_input

BENCH = Path(__file__).parents[1] / "benches" / "bench_cache.py"
HEAD = 1_000  # bench_cache.HEAD_NUMBER


def _bench(state: Path, *args: str) -> dict[str, object]:
    done = clirun.python(
        *(str(BENCH), "--accounts", "5000", "--state", str(state), "--json", *args),
        timeout=170,
        code=0,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _recomputed(store: Store) -> LtHash:
    return sum_of([digest(account_hash_input(k, raw)) for k, raw in store.iter_accounts()])


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_bench_cache_small(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = _bench(
        state,
        *("--txs", "600", "--per-block", "200", "--trace-txs", "3000"),
        *("--workloads", "transfers-zipf1.0", "spl-uniform"),
        *("--node-workloads", "spl-zipf1.0", "--repeat", "1"),
    )
    assert isinstance(result["build_s"], float)
    # The node ran a warm-up, then once each unbounded, 1 % and 5 %: 3 blocks of 200 each,
    # every transaction ok.
    node = result["node"]
    assert isinstance(node, dict)
    runs = node["spl-zipf1.0"]
    assert set(runs) == {"unbounded", "hot 1%", "hot 5%"}
    for run in runs.values():
        assert (run["ok"], run["failed"], run["rejected"]) == (600, 0, 0), run
        assert run["restart_to_first_block_s"] > 0 and run["peak_rss_mb"] > 0
        assert 0 < run["peak_anon_mb"] <= run["peak_rss_mb"]
    with Store(state / "data", readonly=True) as store:
        head = store.head()
        assert head is not None and head.number == HEAD + 12
        # The built state's lattice hash, carried through 2,400 transactions by the node,
        # is the hash of the accounts stored.
        assert store.accounts_count() == 5000
        assert store.lthash(head.number) == _recomputed(store)

    offline = result["offline"]
    assert isinstance(offline, dict) and set(offline) == {"transfers-zipf1.0", "spl-uniform"}
    for entry in offline.values():
        for label in ("1%", "5%"):
            rates = {
                name: v["hit_rate"] for name, v in entry[label].items() if name != "budget_bytes"
            }
            assert set(rates) == (set(POLICIES) - {"unbounded"}) | {"belady"}
            assert all(0.0 <= r <= 1.0 for r in rates.values())
    # Transfers name accounts of one size: furthest next use is then the optimum.
    transfers = offline["transfers-zipf1.0"]
    for label in ("1%", "5%"):
        rates = {n: v["hit_rate"] for n, v in transfers[label].items() if n != "budget_bytes"}
        assert rates["belady"] >= max(rates.values())
        assert rates["belady"] > 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_built_state_is_reused_and_hashed(tmp_path: Path) -> None:
    """A second run reuses the state (no build), and the head's lattice hash is the sum over
    every account built."""
    state = tmp_path / "state"
    first = _bench(state, "--build-only")
    assert isinstance(first["build_s"], float)
    again = _bench(state, "--build-only")
    assert again["build_s"] is None
    with Store(state / "data", readonly=True) as store:
        head = store.head()
        assert head is not None and head.number == HEAD
        lthash = store.lthash(HEAD)
        assert lthash is not None and lthash == _recomputed(store)
        assert lthash.checksum() == head.checksum
