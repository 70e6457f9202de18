"""The package's extras (pyproject.toml's optional dependencies): what a part of the node needs
beyond the default install, checked where that part is turned on so that a missing one is a
one-line error naming the `pip install` to run, not an ImportError from deep inside a plugin."""

from __future__ import annotations

import importlib
from typing import Final

from monmouth.core.errors import ConfigError

__all__ = ["DISTRIBUTION", "PLUGIN_EXTRAS", "missing_extra", "require_extra"]

#: The package's name on the index.
DISTRIBUTION: Final = "monmouth-svm-exex"

#: Built-in plugins that need an extra: plugin → (extra, the modules it provides).
PLUGIN_EXTRAS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "rag": ("rag", ("usearch.index",)),
}


def missing_extra(extra: str, modules: tuple[str, ...], what: str) -> str | None:
    """The one-line message when one of `modules` (provided by `extra`) does not import, else
    None."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            return f"{what} needs the extra {extra}: pip install '{DISTRIBUTION}[{extra}]'"
    return None


def require_extra(extra: str, modules: tuple[str, ...], what: str) -> None:
    """Raise ConfigError (exit code 2 from the CLI) when `extra` is not installed."""
    message = missing_extra(extra, modules, what)
    if message is not None:
        raise ConfigError(message)
