"""What every command uses, the CLI's and plugins' alike: the shared options, the one way a
command fails (a line on stderr and an exit code), settings and a read-only store from the
common options, and the output of a result (a table for people, a JSON line for tools).

A plugin's `register_commands` builds on this module, never on `monmouth.cli` (plugins sit
below the CLI). It imports only `monmouth.core`, and that lazily: a command that only reads
starts without the node's heavy dependencies.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
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
    "Answer",
    "ConfigFile",
    "CurveKey",
    "DataDir",
    "Endpoint",
    "JsonFlag",
    "ServerKey",
    "ask_instance",
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
Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        metavar="tcp://HOST:PORT",
        help="Ask a running instance (executor or analyzer) through its request socket (its "
        "--publish port + 1 unless [stream] request says otherwise) instead of reading "
        "--data-dir.",
    ),
]
CurveKey = Annotated[
    Path | None,
    typer.Option("--curve-key", help="With --endpoint: your CURVE secret key file."),
]
ServerKey = Annotated[
    Path | None,
    typer.Option("--server-key", help="With --endpoint: the instance's CURVE public key file."),
]


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


# ---------------------------------------------------------------------- asking a running instance


@dataclass(frozen=True, slots=True)
class Answer:
    """A running instance's answer to op `call` on its request socket (docs/stream.md,
    "Requests").

    :ivar result: the method's result, as MessagePack decodes it.
    :ivar head: the instance's head (an analyzer: the last block it handed to its plugins).
    :ivar upstream_head: the head of the executor it follows, as last heard; None for an
        executor.
    """

    result: Any
    head: int | None
    upstream_head: int | None

    @property
    def executor_head(self) -> int | None:
        """The executor's head as the instance knows it: its own, or the one it follows."""
        return self.head if self.upstream_head is None else self.upstream_head

    def lag(self, indexed: int | None) -> dict[str, int | None]:
        """How far a plugin's index whose head is `indexed` is behind the executor: `head`
        (`indexed`), `node_head` (the executor's head) and `behind` (the blocks the executor
        committed above the index's head; None while the executor's head is unknown)."""
        node_head = self.executor_head
        behind = None if node_head is None else node_head - (-1 if indexed is None else indexed)
        return {"head": indexed, "node_head": node_head, "behind": behind}


def ask_instance(
    endpoint: str,
    method: str,
    params: Any,
    *,
    curve_key: Path | None = None,
    server_key: Path | None = None,
    timeout: float = 10.0,
) -> Answer:
    """Call `method` (a plugin's, `register_rpc_methods`) on a running instance's request
    socket; raises UserError, with one line that says what to do, when it cannot.

    It speaks the documented request protocol with its own DEALER socket rather than the
    stream package's client: plugins' commands sit below the stream (docs/architecture.md),
    like any client written in another language.
    """
    import msgspec
    import zmq
    import zmq.auth

    if (curve_key is None) != (server_key is None):
        raise UserError("--curve-key and --server-key go together")
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.identity = os.urandom(8)
    try:
        if curve_key is not None and server_key is not None:
            try:
                public, secret = zmq.auth.load_certificate(str(curve_key))
                server, _ = zmq.auth.load_certificate(str(server_key))
            except (ValueError, OSError) as exc:
                raise UserError(f"cannot read the CURVE keys: {exc}") from None
            if secret is None:
                raise UserError(f"{curve_key} holds no secret key; pass the `.key_secret` file")
            sock.curve_secretkey, sock.curve_publickey, sock.curve_serverkey = (
                secret,
                public,
                server,
            )
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            raise UserError(f"cannot connect to {endpoint}: {exc}") from None
        request = {"op": "call", "id": 1, "method": method, "params": params}
        sent = msgspec.msgpack.encode(request)
        sock.send(sent)
        nobody = UserError(
            f"no answer from {endpoint} within {timeout:g} s: is an instance's request "
            "socket there (its --publish port + 1), and are the CURVE keys right?"
        )
        if not sock.poll(int(timeout * 1000)):
            raise nobody
        frames = sock.recv_multipart()
        if frames == [sent]:
            # TCP connected the socket to itself (its own port was the one asked for, which
            # nothing listens on): what came back is the request.
            raise nobody
    finally:
        sock.close(linger=0)
        context.term()
    try:
        reply = msgspec.msgpack.decode(frames[0])
        if not isinstance(reply, dict):
            raise ValueError("the reply is not a map")
        if reply.get("error") is not None:
            raise UserError(f"{endpoint}: {reply['error']}")
        if len(frames) != 2:
            raise ValueError(f"expected one result frame, got {len(frames) - 1}")
        result = msgspec.msgpack.decode(frames[1])
    except (msgspec.DecodeError, ValueError) as exc:
        raise UserError(f"{endpoint} answered something else than a request reply: {exc}") from None
    return Answer(result, reply.get("head"), reply.get("upstream_head"))
