"""`monmouth rag`: similarity search over the transactions the rag plugin indexed.

- `monmouth rag query TEXT | --like SIGNATURE | --account PUBKEY [--k N] [--program P]
  [--status ok|failed] [--from-height N] [--to-height M] [--exact] [--json]`: the top k
  documents with their scores and summaries (`--json`: one object, `{"query", "results"}`).
- `monmouth rag context ...` (same options, k defaults to 5): the prompt-ready JSON pack.
- `monmouth rag stats [--json]`: counts and sizes.

It reads `<data_dir>/rag/` read-only, so it works while the node runs (it sees what was
indexed when it opened). With `--endpoint tcp://HOST:PORT` it asks a running instance instead,
an executor or an analyzer, through its request socket (methods `rag.query`, `rag.context`,
`rag.stats`; CURVE keys with `--curve-key` and `--server-key`), and the answer says the index's
head and how far behind the executor it is (`head`, `node_head`: the executor's head as the
instance last heard it, `behind`; the `context` pack keeps its own `head`, slot and hash). The
command is offered whether or not the plugin is enabled.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from monmouth.commands import (
    Answer,
    ConfigFile,
    CurveKey,
    DataDir,
    Endpoint,
    JsonFlag,
    ServerKey,
    ask_instance,
    console,
    fail,
    settings_for,
)
from monmouth.core.errors import DataDirError, UserError
from monmouth.plugins.rag.plugin import lag

__all__ = ["rag", "register_commands"]

_ACTIONS = ("query", "context", "stats")


def register_commands(register: Callable[..., Any]) -> None:
    """Add `monmouth rag` (the CLI calls it whether or not the plugin is enabled)."""
    register(rag, name="rag")


def rag(
    action: Annotated[str, typer.Argument(help="query, context or stats.")],
    text: Annotated[
        str | None, typer.Argument(help="What to look for: words, public keys, a summary.")
    ] = None,
    like: Annotated[
        str | None,
        typer.Option("--like", metavar="SIGNATURE", help="Transactions like this one."),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option("--account", metavar="PUBKEY", help="Transactions that name this account."),
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", min=1, help="How many results (query 10, context 5).")
    ] = None,
    program: Annotated[
        str | None,
        typer.Option(
            "--program", help="Only transactions that invoked this program (name or key)."
        ),
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only `ok` or only `failed` transactions.")
    ] = None,
    from_height: Annotated[
        int | None, typer.Option("--from-height", help="Only blocks from this height on.")
    ] = None,
    to_height: Annotated[
        int | None, typer.Option("--to-height", help="Only blocks up to this height.")
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Score every candidate exactly (slow).")
    ] = False,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    endpoint: Endpoint = None,
    curve_key: CurveKey = None,
    server_key: ServerKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Similarity search over executed transactions (the rag plugin's index): `rag query TEXT`,
    `rag query --like SIGNATURE`, `rag query --account PUBKEY`; `rag context ...` for a
    prompt-ready JSON pack; `rag stats`. `--endpoint` asks a running executor or analyzer."""
    try:
        if action not in _ACTIONS:
            raise UserError(f"unknown action {action!r}; use {', '.join(_ACTIONS)}")
        # The query's filters, those given.
        given = {
            "like": like,
            "account": account,
            "program": program,
            "status": status,
            "from_height": from_height,
            "to_height": to_height,
        }
        query: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
        if endpoint is not None:
            if config is not None or data_dir is not None:
                raise UserError(
                    "--endpoint asks a running instance: leave out --config and --data-dir"
                )
            remote = _Remote(endpoint, curve_key, server_key)
            remote.run(
                action, {"text": text, **query} if text is not None else query, k, exact, as_json
            )
            return
        if curve_key is not None or server_key is not None:
            raise UserError("--curve-key and --server-key go with --endpoint")
        index = _open(config, data_dir)
        try:
            if action == "stats":
                if text is not None or like is not None or account is not None:
                    raise UserError("`rag stats` takes no query")
                stats = index.stats()
                stats.update(lag(stats["head"], _node_head(index.path.parent)))
                _emit_stats(stats, as_json)
                return
            if exact:
                query["exact"] = True
            try:
                if action == "context":
                    pack = index.context(text, k=k or 5, **query)
                    sys.stdout.write(json.dumps(pack) + "\n")
                    return
                hits = index.query(text, k=k or 10, **query)
            except ValueError as exc:
                raise UserError(str(exc)) from None
        finally:
            index.close()
        asked = {"text": text, "k": k or 10, **query}
        results = [hit.to_json() for hit in hits]
        if as_json:
            sys.stdout.write(json.dumps({"query": asked, "results": results}) + "\n")
        else:
            _show(results)
    except UserError as exc:
        raise fail(str(exc), 2) from None


class _Remote:
    """`monmouth rag ... --endpoint`: the same actions, asked of a running instance."""

    def __init__(self, endpoint: str, curve_key: Path | None, server_key: Path | None) -> None:
        self.endpoint = endpoint
        self.curve_key = curve_key
        self.server_key = server_key

    def ask(self, method: str, params: Any) -> Answer:
        return ask_instance(
            self.endpoint, method, params, curve_key=self.curve_key, server_key=self.server_key
        )

    def lag(self) -> dict[str, Any]:
        """The index's head and how far it is behind the executor (after the query, so that
        the head is at least the one the query saw)."""
        answer = self.ask("rag.stats", None)
        return answer.lag(answer.result["head"])

    def run(
        self, action: str, query: dict[str, Any], k: int | None, exact: bool, as_json: bool
    ) -> None:
        if action == "stats":
            if query:
                raise UserError("`rag stats` takes no query")
            answer = self.ask("rag.stats", None)
            stats = dict(answer.result)
            stats.update(answer.lag(stats["head"]))
            _emit_stats(stats, as_json)
            return
        params = {**query, "k": k or (5 if action == "context" else 10)}
        if exact:
            params["exact"] = True
        if action == "context":
            pack = dict(self.ask("rag.context", params).result)
            # The pack names the index's head itself (`head`: slot and hash); add the lag.
            where = self.lag()
            pack.update(node_head=where["node_head"], behind=where["behind"])
            sys.stdout.write(json.dumps(pack) + "\n")
            return
        results = self.ask("rag.query", params).result["results"]
        where = self.lag()
        if as_json:
            asked = {"text": params.pop("text", None), **params}
            sys.stdout.write(json.dumps({"query": asked, "results": results, **where}) + "\n")
            return
        _show(results)
        console.print(_lag_line(where), highlight=False)


def _lag_line(where: dict[str, Any]) -> str:
    head = "nothing" if where["head"] is None else f"block #{where['head']}"
    if where["node_head"] is None:
        return f"index at {head}; the executor's head is not known yet"
    return (
        f"index at {head}, {where['behind']} block(s) behind the executor (#{where['node_head']})"
    )


def _open(config: Path | None, data_dir: Path | None) -> Any:
    from monmouth.core.logs import configure_logging
    from monmouth.plugins.rag.index import RagIndex

    # Warnings only, and on stderr: stdout carries the answer (one JSON line with --json),
    # and opening an index the node is writing logs how it searches what is not saved yet.
    configure_logging("warning")

    settings = settings_for(config, data_dir)
    try:
        return RagIndex(settings.data_dir / "rag", readonly=True)
    except (ValueError, RuntimeError) as exc:
        raise UserError(str(exc)) from None


def _node_head(data_dir: Path) -> int | None:
    """The head of the node whose data directory holds the index, when it can be read."""
    from monmouth.core.state import Store

    try:
        with Store(data_dir, readonly=True) as store:
            head = store.head()
    except DataDirError:
        return None
    return None if head is None else head.number


def _show(results: list[dict[str, Any]]) -> None:
    from rich.table import Table

    if not results:
        console.print("no results")
        return
    table = Table(show_lines=True)
    for column in ("#", "score", "slot", "status", "signature", "summary"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(results, 1):
        table.add_row(
            str(rank),
            f"{hit['score']:.3f}",
            str(hit["slot"]),
            hit["status"],
            hit["signature"],
            hit["summary"].splitlines()[0],
        )
    console.print(table)


def _emit_stats(stats: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(stats) + "\n")
        return
    from rich.table import Table

    table = Table(show_header=False)
    for key, value in stats.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)
