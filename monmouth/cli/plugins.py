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

    from monmouth.core.plugins import find_plugins, listed_hooks

    def body() -> list[dict[str, Any]]:
        out = []
        for found in find_plugins(settings_for(config, None)):
            hooks = listed_hooks(found.load())
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
