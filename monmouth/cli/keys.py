"""`monmouth keys`: CURVE key pairs for the event stream."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monmouth.commands import JsonFlag, emit, guard

keys_app = typer.Typer(help="CURVE key pairs for the event stream.", no_args_is_help=True)


@keys_app.command("generate")
def keys_generate(
    name: Annotated[str, typer.Option("--name", help="File name: NAME.key and NAME.key_secret.")],
    folder: Annotated[Path, typer.Option("--dir", help="Folder to write them to.")] = Path("keys"),
    as_json: JsonFlag = False,
) -> None:
    """Make a CURVE key pair. A server allows a client by holding the client's NAME.key in its
    allowed-keys folder; a client needs the server's NAME.key."""
    from monmouth.stream.security import generate_keys

    public, secret = guard(lambda: generate_keys(folder, name))
    emit({"public": str(public), "secret": str(secret)}, as_json)
