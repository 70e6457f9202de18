"""The `monmouth` command line (typer + rich): the app, its options, and the commands plugins
add. Each command group lives in its own module; what commands share (failing, JSON output,
the common options) is `monmouth.commands`, which plugins' commands use too.

Start-up is kept short for the commands that only read (`status`, `account`, `tx`,
`plugins list`, `--help`): every module here imports the node's heavy dependencies inside the
command that needs them, never at the top.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monmouth import __version__
from monmouth.cli.bench import bench
from monmouth.cli.dev import dev
from monmouth.cli.inbox import deposit, send
from monmouth.cli.keys import keys_app
from monmouth.cli.plugins import plugins_app
from monmouth.cli.record import record
from monmouth.cli.run import run
from monmouth.cli.state import account, status, tx
from monmouth.cli.subscribe import subscribe
from monmouth.commands import console
from monmouth.core.errors import UserError

if TYPE_CHECKING:
    from monmouth.core.config import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    help="Execute Solana-VM transactions carried by Ethereum blocks, like a Reth ExEx.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for _command in (run, dev, record, status, account, tx, deposit, send, subscribe, bench):
    app.command()(_command)
app.add_typer(keys_app, name="keys")


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    config: Annotated[Path | None, typer.Option("--config", hidden=True)] = None,
) -> None:
    if version:
        # One line per fact, never folded at the terminal's width: tools read these lines.
        console.print(version_text(), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(0)
    if config is not None:
        # `monmouth --config FILE --help` lists the commands of the plugins FILE enables; before
        # a command, the option is that command's `--config` default (its own one wins).
        ctx.default_map = _defaults(ctx.command, {"config": config})


def version_text() -> str:
    """`monmouth --version`: the package's version, what it runs on (the SVM runtime, the
    libsodium that checks signatures, Python), and per hot path its C extension or its Python
    reference (an install without a C compiler, see setup.py)."""
    import platform
    from importlib.metadata import version

    from monmouth.core.implementations import implementations
    from monmouth.rust_svm.sigverify import sign_open

    sodium = sign_open()[1]
    if sodium == "PyNaCl's libsodium":
        sodium += f" (PyNaCl {version('pynacl')})"
    used = ", ".join(f"{path} {which}" for path, which in implementations().items())
    return "\n".join(
        [
            f"monmouth {__version__}",
            f"solders {version('solders')} (LiteSVM)",
            sodium,
            f"Python {platform.python_version()} ({platform.python_implementation()})",
            f"implementations: {used}",
        ]
    )


def _defaults(command: Any, values: dict[str, Any]) -> dict[str, Any]:
    """click's `default_map` giving `values` to every command below `command`."""
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return values
    return {name: _defaults(sub, values) for name, sub in subcommands.items()}


app.add_typer(plugins_app, name="plugins")

#: The commands of the CLI itself: running one of them needs no plugin's commands.
OWN_COMMANDS = frozenset(
    [info.name or info.callback.__name__ for info in app.registered_commands if info.callback]
    + [info.name for info in app.registered_groups if info.name]
)


def _config_file(argv: Sequence[str]) -> Path | None:
    """`--config FILE` (or `--config=FILE`) read ahead of typer, which parses after the
    commands are added."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--config="):
            return Path(arg.removeprefix("--config="))
    return None


def _command_name(argv: Sequence[str]) -> str | None:
    """The command's name: the first argument that is neither an option nor `--config`'s value."""
    after_config = False
    for arg in argv:
        if not arg.startswith("-") and not after_config:
            return arg
        after_config = arg == "--config"
    return None


def add_plugin_commands(argv: Sequence[str]) -> None:
    """Add the commands of plugins (`register_commands`), found as the node finds plugins but
    without building any: every built-in's, on or off (their commands are tools), and those of
    the third-party plugins enabled by the configuration (`--config` in `argv`, and the
    environment). A broken configuration leaves out the third-party ones, for the command
    itself to report; a command of the CLI's own is run without looking."""
    if _command_name(argv) in OWN_COMMANDS:
        return
    from monmouth.core.plugins import find_commands

    def settings() -> Settings:
        from monmouth.core.config import load_settings

        return load_settings(_config_file(argv))

    def register(function: Callable[..., Any], name: str | None = None) -> None:
        app.command(name=name)(function)

    try:
        hooks = find_commands(settings)
    except UserError:
        # Built-ins' commands do not depend on the configuration.
        hooks = find_commands(None)
    for _name, hook in hooks:
        hook(register)


def main() -> None:
    """Entry point of the `monmouth` script."""
    add_plugin_commands(sys.argv[1:])
    app()
