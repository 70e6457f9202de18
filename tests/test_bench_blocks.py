"""benches/bench_blocks.py's `--parse` and `--ab`: what they time is what they say (the fast path
takes their blocks, the "before" ways are the old reading and routing and give the same
answers), and every row they print was measured."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from monmouth.core import l1
from monmouth.core.l1 import L1Block, L1Transaction
from monmouth.core.plugins import PluginHost

BENCHES = Path(__file__).resolve().parents[1] / "benches"


def _bench_module() -> Any:
    sys.path.insert(0, str(BENCHES))
    try:
        return importlib.import_module("bench_blocks")
    finally:
        sys.path.remove(str(BENCHES))


def test_the_fast_path_takes_the_benchs_blocks() -> None:
    bench = _bench_module()
    line = bench.mainnet_like_line(3, txs=30)
    block = l1._from_json_fast(line)  # None would mean the bench timed the reference
    assert block is not None
    assert block == L1Block.from_rpc(json.loads(line)) and len(block.transactions) == 30
    assert sum(len(tx.logs) for tx in block.transactions) == 2 * 10
    for plain in bench.empty_chain(3):
        assert l1._from_json_fast(json.dumps(plain.to_rpc()).encode()) == plain


def test_routing_before_and_now_answer_alike() -> None:
    bench = _bench_module()
    host = bench.routing_host()
    (block,) = bench.empty_chain(1)
    inbox = host.pm.get_plugin("routing").inbox
    to_inbox = L1Transaction(b"\x07" * 32, 6, b"\x01" * 20, inbox, 0, b"\x00\x01payload", 1)
    for tx in (*block.transactions, to_inbox):
        assert bench.route_per_call(host, tx, block) == host.route(tx, block)
    assert host.route(to_inbox, block) == to_inbox.input


def test_reading_as_before_patches_and_restores() -> None:
    bench = _bench_module()
    from_json, route = L1Block.__dict__["from_json"], PluginHost.route
    with bench.reading_as_before():
        assert PluginHost.route is bench.route_per_call
        line = json.dumps(bench.empty_chain(1)[0].to_rpc()).encode()
        assert L1Block.from_json(line) == L1Block.from_rpc(json.loads(line))
    assert L1Block.__dict__["from_json"] is from_json and PluginHost.route is route


def test_every_row_of_parse_is_measured() -> None:
    bench = _bench_module()
    result = bench.measure_parse(rounds=1, lines_per_shape=2)
    rows = {k: v for k, v in result.items() if " / " in k}
    shapes = {k.split(" / ")[0] for k in rows}
    assert shapes == {"six plain txs", "no txs", "mainnet-like, 200 txs"}
    assert len(rows) == 3 * 5
    for value in rows.values():
        per_block = float(value.split(" us/block")[0])
        assert per_block > 0
    assert result["implementation"] == l1.IMPLEMENTATION
