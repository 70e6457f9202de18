"""`monmouth plugins`: the plugins the node can see."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from monmouth.commands import ConfigFile, JsonFlag, console, guard, settings_for

plugins_app = typer.Typer(help="The plugins the node can see.", no_args_is_help=True)


@plugins_app.command("list")
def plugins_list(config: ConfigFile = None, as_json: JsonFlag = False) -> None:
    """Every plugin found (built-in or from a distribution), whether it is enabled, and the hooks
    it implements."""
    from rich.table import Table

    from monmouth.core.plugins import commands_of, find_plugins, implemented_hooks

    def body() -> list[dict[str, Any]]:
        out = []
        for found in find_plugins(settings_for(config, None)):
            obj = found.load()
            factory = getattr(obj, "Plugin", None)
            hooks = implemented_hooks(factory if isinstance(factory, type) else obj)
            if commands_of(obj) is not None and "register_commands" not in hooks:
                # Commands are the package's (or a static method's), not a built plugin's.
                hooks = sorted([*hooks, "register_commands"])
            out.append(
                {
                    "name": found.name,
                    "origin": found.origin,
                    "enabled": found.enabled,
                    "hooks": hooks,
                }
            )
        return out

    rows = guard(body)
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table("name", "origin", "enabled", "hooks")
    for row in rows:
        table.add_row(
            row["name"], row["origin"], "yes" if row["enabled"] else "no", ", ".join(row["hooks"])
        )
    console.print(table)
