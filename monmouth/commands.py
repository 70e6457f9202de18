"""What every command uses, the CLI's and plugins' alike: the shared options, the one way a
command fails (a line on stderr and an exit code), settings and a read-only store from the
common options, and the output of a result (a table for people, a JSON line for tools).

A plugin's `register_commands` builds on this module, never on `monmouth.cli` (plugins sit
below the CLI). It imports only `monmouth.core`, and that lazily: a command that only reads
starts without the node's heavy dependencies.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from monmouth.core.errors import PluginHalted, UserError

if TYPE_CHECKING:
    from monmouth.core.config import Settings
    from monmouth.core.state import Store

__all__ = [
    "CONFIG_HELP",
    "DATA_DIR_HELP",
    "JSON_HELP",
    "ConfigFile",
    "DataDir",
    "JsonFlag",
    "console",
    "emit",
    "err_console",
    "fail",
    "fail_for",
    "guard",
    "open_store",
    "settings_for",
]

_T = TypeVar("_T")

#: Standard output, for what a command prints for people.
console = Console()
#: Standard error, for errors and progress.
err_console = Console(stderr=True)

CONFIG_HELP = "TOML config file (see examples/monmouth.toml)."
DATA_DIR_HELP = "State directory (default ./monmouth-data, or from config)."
JSON_HELP = "Print one JSON object for tools."

DataDir = Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)]
ConfigFile = Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)]
JsonFlag = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


def fail(message: str, code: int) -> typer.Exit:
    """Print `error: MESSAGE` on stderr; return the exit to raise (`raise fail(...)`)."""
    err_console.print(
        "error: " + message, style="bold red", markup=False, highlight=False, soft_wrap=True
    )
    return typer.Exit(code)


def fail_for(exc: BaseException) -> typer.Exit:
    """`fail` for an error: exit code 3 for a plugin that halted the node, else 2."""
    return fail(str(exc), 3 if isinstance(exc, PluginHalted) else 2)


def guard(body: Callable[[], _T]) -> _T:
    """Run a command body; a UserError becomes one line on stderr and exit code 2, a plugin that
    halted the node exit code 3."""
    try:
        return body()
    except (UserError, PluginHalted) as exc:
        raise fail_for(exc) from None
    except BaseExceptionGroup as group:
        # Errors raised inside the node's task group arrive wrapped; the first one we know wins.
        matched, _ = group.split((UserError, PluginHalted))
        if matched is None:
            raise
        first: BaseException = matched
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise fail_for(first) from None


def settings_for(config: Path | None, data_dir: Path | None, **more: Any) -> Settings:
    """The settings from `--config`, `--data-dir` and other options (None: not given)."""
    from monmouth.core.config import load_settings

    overrides: dict[str, Any] = {k: v for k, v in more.items() if v is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(config, **overrides)


def open_store(config: Path | None, data_dir: Path | None) -> Store:
    """The node's state, read-only (it may be running meanwhile)."""
    from monmouth.core.state import Store

    return Store(settings_for(config, data_dir).data_dir, readonly=True)


def emit(result: dict[str, Any], as_json: bool) -> None:
    """One JSON object on a line for tools, or a two-column table for people."""
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    from rich.table import Table

    table = Table(show_header=False)
    for key, value in result.items():
        table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
    console.print(table)
