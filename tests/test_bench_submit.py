"""benches/bench_submit.py: it measures this build and, with --against, another one, both giving
the same verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import clirun

from monmouth.rust_svm import _verify

BENCHES = Path(__file__).resolve().parents[1] / "benches"


def test_every_row_is_measured() -> None:
    assert _verify.__file__ is not None
    args = ["--jobs", "200", "--rounds", "2", "--against", _verify.__file__, "--json"]
    proc = clirun.python(str(BENCHES / "bench_submit.py"), *args, timeout=120, code=0)
    result = json.loads(proc.stdout)
    assert set(result) == {
        f"{build}_{row}" for build in ("this", "against") for row in ("submit_us", "submit_wait_us")
    }
    for build in ("this", "against"):
        assert 0 < result[f"{build}_submit_us"] <= result[f"{build}_submit_wait_us"]
