"""Hypothesis profiles for the fuzz tests (docs/operations.md, "Fuzzing").

`ci`, the default, is what `make test` runs: a bounded, derandomized run, so a CI failure is the
same failure on every machine. `long` is for anyone hunting bugs:
`HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/fuzz` (random seeds, many more examples, a
database of failures in the temporary folder so a found bug replays on the next run).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    # A loaded machine (five sessions on two cores) makes generation slow, not wrong.
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=20_000,
    deadline=None,
    database=DirectoryBasedExampleDatabase(Path(tempfile.gettempdir()) / "monmouth-hypothesis"),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A long run takes as long as it takes: no per-test timeout (pyproject's is 300 s)."""
    if PROFILE == "long":
        for item in items:
            if item.path.parent == Path(__file__).parent:
                item.add_marker(pytest.mark.timeout(0))
