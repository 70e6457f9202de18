"""monmouth as users install it: its sdist and wheels, built once per test session, and fresh
virtual environments with a wheel installed (tests/test_install.py, tests/test_plugin_template.py).

The wheels are built from the sdist (as `python -m build` does), so nothing of the working tree's
own build (`build/`, the editable install's extensions) can slip into them. The environments get
their dependencies from the package index through pip's cache, so only the first build of a
machine downloads them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from monmouth.core.implementations import EXTENSIONS as HOT_PATHS

ROOT = Path(__file__).resolve().parent.parent
#: Installing dependencies from the index takes a while on a loaded machine.
INSTALL_TIMEOUT = 900
#: The environment of the commands run here: nothing of the test session's configuration
#: (MONMOUTH_*, PYTHONPATH) or virtual environment, but the conftest's safe defaults (no port
#: bound, no fsync), which other sessions' nodes on the same machine make necessary.
CLEAN_ENV = {
    **{
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MONMOUTH_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    },
    "MONMOUTH_STREAM__PUBLISH": "none",
    "MONMOUTH_PLUGINS__MONITORING__ADDRESS": "none",
    "MONMOUTH_PLUGINS__RPC__ADDRESS": "none",
    "MONMOUTH_STORE__SYNC": "false",
}
PIP = (sys.executable, "-m", "pip")
#: The hot paths' C extensions, as files in a wheel ("rust_svm/_wire", ...): every one the
#: package names (`monmouth.core.implementations`).
EXTENSIONS = tuple(
    module.removeprefix("monmouth.").replace(".", "/") for module in HOT_PATHS.values()
)


@dataclass(frozen=True, slots=True)
class Dists:
    """What `python -m build` made, and a wheel built from the sdist without a C compiler."""

    sdist: Path
    wheel: Path
    wheel_without_c: Path


def _run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        env=env or CLEAN_ENV,
        cwd=cwd,
    )
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def dists(factory: pytest.TempPathFactory) -> Dists:
    """The session's sdist and wheels, built on first use (into the session's temporary root,
    which every test module shares)."""
    out = factory.getbasetemp() / "monmouth-dist"
    if not (out / "done").is_file():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        # The environment has setuptools and build (the test extra): no download, no isolation.
        _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)])
        (sdist,) = out.glob("*.tar.gz")
        # The compiler hidden: setup.py must warn and build the wheel without the extensions.
        nocc = out / "without-c"
        build_wheel = [*PIP, "wheel", "--verbose", "--no-deps", "--no-build-isolation"]
        log = _run(
            [*build_wheel, "--wheel-dir", str(nocc), str(sdist)], env={**CLEAN_ENV, "CC": "false"}
        )
        (out / "without-c.log").write_text(log)
        (out / "done").touch()
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    (wheel_without_c,) = (out / "without-c").glob("*.whl")
    return Dists(sdist, wheel, wheel_without_c)


def wheel_files(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def venv(path: Path, *requirements: str) -> Path:
    """A fresh virtual environment at `path` with `requirements` installed (by this
    environment's pip: the new one needs none of its own); its `bin` folder."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(path)])
    python = path / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", *requirements]
    )
    return path / "bin"


def command(
    args: list[str],
    *,
    code: int = 0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command of an environment made by `venv` (clean environment, `env` added) and
    check its exit code."""
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        env={**CLEAN_ENV, **(env or {})},
        cwd=cwd,
    )
    assert proc.returncode == code, f"{' '.join(args)}: {proc.returncode}\n{proc.stderr[-4000:]}"
    return proc
