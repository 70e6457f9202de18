"""The devnet's place among the layers: it imports `monmouth.core` and `monmouth.rust_svm` only,
and nothing in `monmouth.core` imports it (`monmouth.app` joins them)."""

from __future__ import annotations

import ast
from pathlib import Path

import monmouth

PACKAGE = Path(monmouth.__file__).parent


def imported(path: Path) -> set[str]:
    """Every `monmouth...` module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name == "monmouth" or name.startswith("monmouth.")}


def test_the_devnet_imports_only_core_and_rust_svm() -> None:
    allowed = ("monmouth.core", "monmouth.rust_svm", "monmouth.devnet")
    for path in sorted((PACKAGE / "devnet").rglob("*.py")):
        for name in imported(path):
            assert name.split(".")[:2] in [a.split(".") for a in allowed], (path, name)


def test_the_core_never_imports_the_devnet() -> None:
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        for name in imported(path):
            assert not name.startswith("monmouth.devnet"), (path, name)
