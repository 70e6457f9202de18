"""examples/plugin-template as its users get it: installed with pip, found through its entry point,
enabled by configuration, run by `monmouth run`, its own tests passing, and `mypy --strict` clean
against monmouth installed from a wheel (which needs `monmouth/py.typed`); and all of it in a
fresh virtual environment holding only monmouth's wheel, the template and their dependencies."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import clirun
import pytest
from installing import CLEAN_ENV, ROOT, command, dists, venv

TEMPLATE = ROOT / "examples" / "plugin-template"
#: Nothing of this session's configuration, but no port bound (nodes of others may hold them).
ENV = CLEAN_ENV

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the template installed into it (not into the environment)."""
    target = tmp_path_factory.mktemp("site")
    # Without hatchling here, pip builds in an isolated environment with hatchling from the index.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *isolation]
    proc = subprocess.run(
        [*pip, "--target", str(target), str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "monmouth_plugin_template" / "__init__.py").is_file()
    return target


@pytest.fixture(scope="module")
def monmouth_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with monmouth itself installed into it from a wheel, as a plugin author has it
    (the editable install of the environment is an import hook, which mypy does not follow)."""
    target = tmp_path_factory.mktemp("monmouth-site")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    proc = subprocess.run(
        [*pip, "--target", str(target), str(dists(tmp_path_factory).wheel)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "monmouth" / "py.typed").is_file()
    return target


def monmouth(site: Path, *args: str, code: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m monmouth ARGS` with the template importable (and nothing else configured)."""
    return clirun.monmouth(
        *args, env={**ENV, "PYTHONPATH": str(site), **env}, timeout=240, code=code
    )


def printed(proc: subprocess.CompletedProcess[str]) -> list[int]:
    """The block numbers of the template's lines."""
    return [
        int(line.split()[2].rstrip(":"))
        for line in proc.stdout.splitlines()
        if line.startswith("template: block ")
    ]


def test_found_through_its_entry_point(site: Path) -> None:
    rows = json.loads(monmouth(site, "plugins", "list", "--json").stdout)
    (template,) = [row for row in rows if row["name"] == "template"]
    assert template["origin"] == "monmouth-plugin-template 0.1.0"
    assert template["enabled"] is False
    assert template["hooks"] == ["notify_block", "notify_transactions"]


def test_runs_only_when_enabled(site: Path, tmp_path: Path) -> None:
    run = ("run", "--blocks", "5", "--data-dir")
    off = monmouth(site, *run, str(tmp_path / "off"))
    assert printed(off) == []
    on = monmouth(site, *run, str(tmp_path / "on"), MONMOUTH_PLUGINS__ENABLE='["template"]')
    assert printed(on) == [0, 1, 2, 3, 4]


def test_takes_its_table_from_the_config_file(site: Path, tmp_path: Path) -> None:
    config = tmp_path / "monmouth.toml"
    config.write_text('[plugins]\nenable = ["template"]\n\n[plugins.template]\nevery = 2\n')
    proc = monmouth(
        site, "run", "--blocks", "5", "--config", str(config), "--data-dir", str(tmp_path / "d")
    )
    assert printed(proc) == [0, 2, 4]
    config.write_text('[plugins]\nenable = ["template"]\n\n[plugins.template]\nevery = 0\n')
    bad = monmouth(site, "run", "--config", str(config), "--data-dir", str(tmp_path / "x"), code=2)
    assert "[plugins.template] every" in bad.stderr


def test_its_own_tests_pass(site: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TEMPLATE / "tests")],
        capture_output=True,
        text=True,
        timeout=240,
        # Run elsewhere, so that the installed copy is imported, not the source folder.
        cwd=tmp_path,
        env={**ENV, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


def test_mypy_strict_against_installed_monmouth(monmouth_site: Path, tmp_path: Path) -> None:
    mypy = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.run(
        [*mypy, "monmouth_plugin_template", "tests"],
        capture_output=True,
        text=True,
        timeout=240,
        # The template's own folder and configuration; monmouth only from the installed copy.
        cwd=TEMPLATE,
        env={**ENV, "PYTHONPATH": str(monmouth_site)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Every file of the template was checked: its package's modules and its tests.
    files = len(list((TEMPLATE / "monmouth_plugin_template").glob("*.py")))
    files += len(list((TEMPLATE / "tests").glob("*.py")))
    assert f"Success: no issues found in {files} source files" in proc.stdout


@pytest.mark.timeout(1800)
def test_in_a_fresh_venv_against_the_wheel(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """monmouth's wheel, the template with its test extra, and mypy: what a plugin author
    installs, nothing of this environment. Its tests pass and `mypy --strict` is clean."""
    work = tmp_path_factory.mktemp("template-venv")
    wheel = dists(tmp_path_factory).wheel
    bin_ = venv(work / "venv", str(wheel), f"{TEMPLATE}[test]", "mypy>=1.11")
    python = str(bin_ / "python")
    # The template's copy is the installed one (its source folder is not on the path).
    where = command([python, "-c", "import monmouth_plugin_template as t; print(t.__file__)"])
    assert where.stdout.startswith(str(work / "venv"))
    # Its own tests, from elsewhere (so that the installed copy is imported).
    tests = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TEMPLATE / "tests")]
    proc = command(tests, cwd=tmp_path, env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert "3 passed" in proc.stdout
    # mypy --strict with the template's configuration, monmouth from the wheel (py.typed).
    mypy = [python, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache")]
    checked = command([*mypy, "monmouth_plugin_template", "tests"], cwd=TEMPLATE)
    files = len(list((TEMPLATE / "monmouth_plugin_template").glob("*.py")))
    files += len(list((TEMPLATE / "tests").glob("*.py")))
    assert f"Success: no issues found in {files} source files" in checked.stdout
    # And the node of that environment finds and runs it.
    cli = str(bin_ / "monmouth")
    run = [cli, "run", "--blocks", "3", "--data-dir", str(tmp_path / "data")]
    ran = command(run, cwd=tmp_path, env={"MONMOUTH_PLUGINS__ENABLE": '["template"]'})
    assert printed(ran) == [0, 1, 2]
