"""benches/bench_solana_rpc.py runs end to end on a tiny load and prints its keys."""

from __future__ import annotations

import json
from pathlib import Path

import clirun
import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_bench_solana_rpc_json() -> None:
    proc = clirun.python(
        *(
            str(ROOT / "benches" / "bench_solana_rpc.py"),
            "--blocks=4",
            "--seconds=0.3",
            "--connections",
            "2",
            "--clients=1",
            "--ingest-seconds=0.5",
            "--txs-per-block=20",
            "--load-rate=100",
            "--json",
        ),
        timeout=200,
        code=0,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for method in (
        "getAccountInfo",
        "getBalance",
        "getSignatureStatuses",
        "getProgramAccounts",
        "sendTransaction",
    ):
        for phase in ("", "ingesting_"):
            assert result[f"{phase}{method}_2_rps"] > 0
            assert result[f"{phase}{method}_2_p99_ms"] >= result[f"{phase}{method}_2_p50_ms"]
            assert f"{phase}{method}_2_errors" not in result  # every answer was a result
        assert result[f"ingesting_{method}_2_ingest_tps"] > 0  # the node executed meanwhile
    assert result["ingest_tps_unloaded"] > 0
    assert result["ingest_ratio"] > 0
