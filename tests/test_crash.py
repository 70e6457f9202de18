"""Crash safety, the small version of `make bench-crash` (benches/bench_crash.py): a replay
SIGKILLed at 5 seeded random moments, restarted each time, ends in the state, counts and stream
sequence number of an uninterrupted run, and after every kill the head is a whole block of the
reference chain."""

from __future__ import annotations

import json
from pathlib import Path

import clirun
import pytest

BENCH = Path(__file__).parents[1] / "benches" / "bench_crash.py"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kills_lose_nothing() -> None:
    done = clirun.python(
        *(str(BENCH), "--kills", "5", "--blocks", "300", "--seed", "3", "--json"), timeout=280
    )
    assert done.returncode in (0, 1), done.stderr
    result = json.loads(done.stdout)
    assert result["broken"] == [], result
    assert result["differs"] == [], result
    assert result["identical"] is True
    # The run may finish before the fifth kill when the moments drawn are late ones.
    assert 1 <= result["kills"] <= 5
    assert result["restarts"] == result["kills"] + 1
    assert result["reference"]["head_number"] == 299
    assert result["reference"]["stream_last_seq"] > 0
