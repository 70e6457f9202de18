"""benches/bench_ed25519.py: its strictness table holds each check to the runtime's verdicts on
the node's edge cases, and every row it prints was measured (dalek in worker processes too)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import clirun

BENCHES = Path(__file__).resolve().parents[1] / "benches"


def _bench_module() -> Any:
    sys.path.insert(0, str(BENCHES))
    try:
        return importlib.import_module("bench_ed25519")
    finally:
        sys.path.remove(str(BENCHES))


def test_the_strictness_table_against_the_runtime() -> None:
    bench = _bench_module()
    cases = bench.strictness_cases()
    names = [name for name, *_ in cases]
    reference = [bench._dalek(sig, key, msg) for _, sig, key, msg in cases]
    accepted = [name for name, ok in zip(names, reference, strict=True) if ok]
    # The edge cases are mostly ones the runtime refuses; a valid signature is among them.
    assert "valid" in accepted and len(accepted) < len(cases) / 2
    # The runtime against itself; a check accepting everything; one refusing everything (which
    # the node's recheck makes harmless, so it is strict enough, at the recheck's price).
    assert bench.strictness(reference, reference, names) == ("yes", [])
    verdict, stricter = bench.strictness([True] * len(cases), reference, names)
    lax = [name for name, ok in zip(names, reference, strict=True) if not ok]
    assert verdict == "NO: accepts " + ", ".join(lax) and stricter == []
    assert bench.strictness([False] * len(cases), reference, names) == ("yes", accepted)


def test_every_row_is_measured_and_libsodium_is_strict_enough() -> None:
    small = ["--count", "200", "--rounds", "1", "--json"]
    proc = clirun.python(str(BENCHES / "bench_ed25519.py"), *small, timeout=240, code=0)
    result = json.loads(proc.stdout)
    for row in ("pynacl_libsodium_native", "solders_dalek_python", "pynacl_python"):
        assert result[f"{row}_strict"] == "yes"
    for processes in (1, 2):
        for batch in (64, 1024):
            row = f"solders_dalek_processes_b{batch}_{processes}p"
            assert result[row] > 0 and result[f"{row}_cpu_us"] > 0
            assert result[f"{row}_main_cpu_us"] < result[f"{row}_cpu_us"]
    # Each optional row is either measured and tabulated, or says which package it needs.
    for key, value in result.items():
        if key.endswith("_skipped"):
            assert value.startswith("pip install ")
        elif key.endswith("_strict"):
            assert value == "yes" or value.startswith("NO: accepts ")
            assert result[key.removesuffix("_strict") + "_1t"] > 0
