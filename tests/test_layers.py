"""The layers contract (pyproject.toml, `lint-imports` in `make test`) is not a formality: an
upward import into a copy of the package breaks it, naming the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT), "--no-cache", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=package_parent,
        timeout=120,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The package's sources, copied where PYTHONPATH finds them before the installed one."""
    shutil.copytree(
        ROOT / "monmouth", tmp_path / "monmouth", ignore=shutil.ignore_patterns("*.so", "*.c")
    )
    return tmp_path


def test_the_package_as_it_is_keeps_the_contracts(copy: Path) -> None:
    proc = _lint(copy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("core/node.py", "monmouth.stream.eventlog"),  # the core building the stream
        ("rust_svm/runtime.py", "monmouth.core.records"),  # the runtime reaching into core
        ("plugins/mev/plugin.py", "monmouth.stream.eventlog"),  # a plugin on a sibling
        ("core/plugins.py", "monmouth.hooks"),  # the core on the public API above it
        ("roles/analyzer.py", "monmouth.plugins.rag"),  # a role naming a plugin
        ("devnet/workload.py", "monmouth.plugins.mev"),  # the devnet naming a plugin
        ("core/node.py", "monmouth.app"),  # the core on its own wiring
    ],
)
def test_an_upward_import_breaks_them(copy: Path, module: str, upward: str) -> None:
    path = copy / "monmouth" / module
    path.write_text(path.read_text() + f"\nimport {upward}  # noqa\n")
    proc = _lint(copy)
    assert proc.returncode != 0, proc.stdout
    assert "BROKEN" in proc.stdout
    assert upward in proc.stdout
