"""monmouth installed as users install it (issue 22): the sdist and wheel of `python -m build`,
a wheel installed into a fresh virtual environment (the default install: no extras), a wheel
built with the C compiler hidden (`CC=false`: the Python references run), and the one-line
errors for a plugin whose extra is not installed."""

from __future__ import annotations

import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from clirun import MONMOUTH
from installing import EXTENSIONS, command, dists, venv, wheel_files

import monmouth
from monmouth.core.implementations import EXTENSIONS as HOT_PATHS
from monmouth.core.implementations import implementations

RAG_ERROR = "error: the rag plugin needs the extra rag: pip install 'monmouth-svm-exex[rag]'"
OTLP_ERROR = "trace export needs the extra otlp: pip install 'monmouth-svm-exex[otlp]'"
OTLP_ENDPOINT = "http://127.0.0.1:4318"
#: The code of configuration errors (docs/operations.md).
CONFIG_ERROR = 2


def _event(proc: subprocess.CompletedProcess[str], name: str) -> dict[str, object]:
    """The node's one log line of event `name` (JSON, on stderr when not on a terminal)."""
    events: list[dict[str, object]] = [
        json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")
    ]
    (event,) = [event for event in events if event["event"] == name]
    return event


def _stopped(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return _event(proc, "stopped")


def _starting(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return _event(proc, "starting")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """20 devnet blocks run by this environment (the C extensions, as `make` builds them)."""
    data = tmp_path_factory.mktemp("reference")
    proc = command([*MONMOUTH, "run", "--blocks", "20", "--data-dir", str(data)])
    return _stopped(proc)


# ------------------------------------------------------------------------------- fast checks


def test_implementations_are_what_the_modules_use() -> None:
    from monmouth.core import l1, lthash, pipes, writes
    from monmouth.plugins.rag import documents, embed
    from monmouth.rust_svm import runtime, sigverify, wire
    from monmouth.stream import segments

    used = {
        "wire": wire.IMPLEMENTATION,
        "balances": runtime.IMPLEMENTATION,
        "verify": sigverify.IMPLEMENTATION,
        "lthash": lthash.IMPLEMENTATION,
        "l1": l1.IMPLEMENTATION,
        "writes": writes.IMPLEMENTATION,
        "pipes": pipes.IMPLEMENTATION,
        "segments": segments.IMPLEMENTATION,
        "hashing": embed.IMPLEMENTATION,
        "summary": documents.IMPLEMENTATION,
    }
    assert implementations() == used
    assert set(HOT_PATHS) == set(used)
    # Building them is optional (setup.py), so a C file that stopped compiling would only warn:
    # here it fails. The suite tests each extension against its reference, so it needs them.
    missing = sorted(path for path, which in used.items() if which != "c")
    assert not missing, f"C extensions not built (is there a C compiler?): {missing}"


def test_version_names_the_runtime_libsodium_python_and_implementations() -> None:
    import platform
    from importlib.metadata import version

    # A narrow terminal folds nothing: tools read these lines whole.
    proc = command([*MONMOUTH, "--version"], env={"COLUMNS": "30"})
    lines = proc.stdout.splitlines()
    assert len(lines) == 5
    assert lines[0] == f"monmouth {monmouth.__version__}"
    assert lines[1] == f"solders {version('solders')} (LiteSVM)"
    assert "libsodium" in lines[2]
    assert lines[3].startswith(f"Python {platform.python_version()} ")
    assert (
        lines[4]
        == "implementations: wire c, balances c, verify c, lthash c, l1 c, writes c, pipes c, "
        "segments c, hashing c, summary c"
    )


def test_version_is_the_distributions() -> None:
    from importlib.metadata import version

    assert version("monmouth-svm-exex") == monmouth.__version__


def _without(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment in which `modules` cannot be imported (a sitecustomize that blocks them),
    as if their extra were not installed."""
    site = tmp_path / "site"
    site.mkdir()
    blocked = "".join(f"sys.modules[{name!r}] = None\n" for name in modules)
    (site / "sitecustomize.py").write_text(f"import sys\n\n{blocked}")
    return {"PYTHONPATH": str(site)}


def test_rag_without_its_extra_is_one_line_naming_the_install(tmp_path: Path) -> None:
    blocked = _without(tmp_path, "usearch")
    run = [*MONMOUTH, "run", "--blocks", "2"]
    proc = command(
        [*run, "--data-dir", str(tmp_path / "d")],
        code=CONFIG_ERROR,
        env={**blocked, "MONMOUTH_PLUGINS__ENABLE": '["rag"]'},
    )
    assert proc.stderr.strip() == RAG_ERROR
    # The default install (rag off) runs without it.
    command([*run, "--data-dir", str(tmp_path / "ok")], env=blocked)
    # `monmouth rag` (offered whether or not the plugin runs) says the same when it opens an
    # index (one made where usearch is installed).
    made = tmp_path / "made"
    command([*run, "--data-dir", str(made)], env={"MONMOUTH_PLUGINS__ENABLE": '["rag"]'})
    rag = [*MONMOUTH, "rag", "query", "transfer", "--data-dir", str(made)]
    query = command(rag, code=CONFIG_ERROR, env=blocked)
    assert query.stderr.strip() == RAG_ERROR.replace("rag plugin", "rag index")


def test_otlp_without_its_extra_is_one_line_naming_the_install(tmp_path: Path) -> None:
    blocked = _without(tmp_path, "opentelemetry.exporter.otlp")
    run = [*MONMOUTH, "run", "--blocks", "2"]
    proc = command(
        [*run, "--data-dir", str(tmp_path / "d")],
        code=CONFIG_ERROR,
        env={**blocked, "MONMOUTH_PLUGINS__MONITORING__OTLP_ENDPOINT": OTLP_ENDPOINT},
    )
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: [plugins.monitoring] otlp_endpoint")
    assert line.endswith(OTLP_ERROR)


# ------------------------------------------------------------------- the sdist and the wheels


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_build_makes_an_sdist_and_wheels(tmp_path_factory: pytest.TempPathFactory) -> None:
    made = dists(tmp_path_factory)
    version = monmouth.__version__
    assert made.sdist.name == f"monmouth_svm_exex-{version}.tar.gz"
    assert made.wheel.name.startswith(f"monmouth_svm_exex-{version}-")
    with tarfile.open(made.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    # The sdist builds the extensions: their sources, setup.py, the stubs.
    for ext in EXTENSIONS:
        assert f"monmouth/{ext}.c" in names
        assert f"monmouth/{ext}.pyi" in names
    # and the sources an extension shares with another file (the table checks of `_verify`).
    assert {"monmouth/rust_svm/_ed25519.c", "monmouth/rust_svm/_ed25519.h"} <= names
    assert {"setup.py", "pyproject.toml", "README.md", "LICENSE"} <= names
    # The wheel: every extension compiled, no C source, the stubs and py.typed for mypy.
    files = wheel_files(made.wheel)
    for ext in EXTENSIONS:
        assert [f for f in files if f.startswith(f"monmouth/{ext}.") and f.endswith(".so")]
    assert not [f for f in files if f.endswith((".c", ".h"))]
    assert "monmouth/py.typed" in files
    # Without a compiler: the same package without any extension, and setup.py said why.
    plain = wheel_files(made.wheel_without_c)
    assert not [f for f in plain if f.endswith(".so")]
    assert sorted(f for f in plain if ".dist-info/" not in f) == sorted(
        f for f in files if ".dist-info/" not in f and not f.endswith(".so")
    )
    log = (made.wheel_without_c.parent.parent / "without-c.log").read_text()
    for ext in EXTENSIONS:
        name = "monmouth." + ext.replace("/", ".")
        assert f"warning: not building {name}" in log
    with zipfile.ZipFile(made.wheel) as archive:
        (meta,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(meta).decode()
    assert f"\nVersion: {version}\n" in metadata
    for extra in ("rag", "otlp", "rag-model", "test"):
        assert f"\nProvides-Extra: {extra}\n" in metadata
    assert '\nRequires-Dist: usearch>=2.26; extra == "rag"\n' in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "\nKeywords: " in metadata


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_wheel_in_a_fresh_venv(
    tmp_path_factory: pytest.TempPathFactory, reference: dict[str, object]
) -> None:
    made = dists(tmp_path_factory)
    work = tmp_path_factory.mktemp("wheel-venv")
    bin_ = venv(work / "venv", str(made.wheel))
    cli = str(bin_ / "monmouth")
    # Nothing of the default install needs an extra.
    for module in ("usearch", "opentelemetry.exporter.otlp"):
        absent = f"import importlib.util as u; exit(u.find_spec({module!r}) is not None)"
        command([str(bin_ / "python"), "-c", absent])
    version = command([cli, "--version"]).stdout.splitlines()
    assert version[0] == f"monmouth {monmouth.__version__}"
    assert (
        version[-1]
        == "implementations: wire c, balances c, verify c, lthash c, l1 c, writes c, pipes c, "
        "segments c, hashing c, summary c"
    )
    # Run from elsewhere, so that nothing of the source tree is imported.
    proc = command([cli, "run", "--blocks", "20", "--data-dir", str(work / "data")], cwd=work)
    assert _starting(proc)["implementations"] == dict.fromkeys(HOT_PATHS, "c")
    assert _stopped(proc)["state_hash"] == reference["state_hash"]
    bench = command([cli, "bench", "--txs", "2000", "--json"], cwd=work)
    measured = json.loads(bench.stdout)
    assert measured["txs"] >= 2000
    assert measured["implementations"] == dict.fromkeys(HOT_PATHS, "c")
    # The extras' plugins, not installed here: one line naming the install.
    rag = command(
        [cli, "run", "--blocks", "2", "--data-dir", str(work / "rag")],
        code=CONFIG_ERROR,
        cwd=work,
        env={"MONMOUTH_PLUGINS__ENABLE": '["rag"]'},
    )
    assert rag.stderr.strip() == RAG_ERROR
    otlp = command(
        [cli, "run", "--blocks", "2", "--data-dir", str(work / "otlp")],
        code=CONFIG_ERROR,
        cwd=work,
        env={"MONMOUTH_PLUGINS__MONITORING__OTLP_ENDPOINT": OTLP_ENDPOINT},
    )
    assert otlp.stderr.strip().endswith(OTLP_ERROR)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_installed_without_a_compiler_the_python_references_run(
    tmp_path_factory: pytest.TempPathFactory, reference: dict[str, object]
) -> None:
    made = dists(tmp_path_factory)
    work = tmp_path_factory.mktemp("without-c-venv")
    # With the extra rag, so that its two hot paths run in Python too.
    bin_ = venv(work / "venv", f"{made.wheel_without_c}[rag]")
    cli = str(bin_ / "monmouth")
    version = command([cli, "--version"]).stdout.splitlines()
    python = (
        "implementations: wire python, balances python, verify python, lthash python, l1 python, "
        "writes python, pipes python, segments python, hashing python, summary python"
    )
    assert version[-1] == python
    run = [cli, "run", "--blocks", "20", "--data-dir", str(work / "data")]
    proc = command(run, cwd=work, env={"MONMOUTH_PLUGINS__ENABLE": '["rag"]'})
    assert _starting(proc)["implementations"] == dict.fromkeys(HOT_PATHS, "python")
    # The same state as the C extensions made: the references are the definitions.
    assert _stopped(proc)["state_hash"] == reference["state_hash"]
    # The rag documents and vectors too: the same answers as this environment's (C) index.
    query = ["rag", "query", "transfer failed insufficient", "--exact", "--k", "8", "--json"]
    python_rag = command([cli, *query, "--data-dir", str(work / "data")], cwd=work)
    c_data = work / "c-data"
    here = MONMOUTH
    run_here = [*here, "run", "--blocks", "20", "--data-dir", str(c_data)]
    command(run_here, env={"MONMOUTH_PLUGINS__ENABLE": '["rag"]'})
    c_rag = command([*here, *query, "--data-dir", str(c_data)])
    answers = json.loads(python_rag.stdout)["results"]
    assert len(answers) == 8
    assert answers == json.loads(c_rag.stdout)["results"]
    bench = command([cli, "bench", "--txs", "2000", "--json"], cwd=work)
    measured = json.loads(bench.stdout)
    assert measured["txs"] >= 2000
    assert measured["implementations"] == dict.fromkeys(HOT_PATHS, "python")
