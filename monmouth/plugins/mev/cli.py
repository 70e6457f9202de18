"""`monmouth mev`: the findings the plugin stored for a block, or the detector on a block file.

- `monmouth mev --block N [--json]`: what the `mev` plugin found in block N of the node's chain
  (read-only; works while the node runs). Exit 1 when it has no record of that block.
- `monmouth mev --block N --endpoint tcp://HOST:PORT [--json]`: the same, asked of a running
  instance (executor or analyzer) through its request socket (method `mev.block`; CURVE keys
  with `--curve-key` and `--server-key`). The answer also says the newest block the plugin
  wrote and how far that is behind the executor (`head`, `node_head`, `behind`).
- `monmouth mev inspect FILE.json [--json]`: the Ethereum detector on one block file in the
  format of mev-inspect-py's fixtures (`block_number`, `miner`, `traces`, `receipts`); `--json`
  prints `{"block_number", "swaps", "sandwiches", "arbitrages"}` (`to_json_dict`).

The command is offered whether or not the plugin is enabled (it is a built-in's tool).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monmouth.commands import (
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

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["mev", "register_commands"]


def register_commands(register: Callable[..., Any]) -> None:
    """Add `monmouth mev` (the CLI calls it whether or not the plugin is enabled)."""
    register(mev, name="mev")


def mev(
    action: Annotated[
        str | None,
        typer.Argument(help="`inspect` to run the detector on a block file (else use --block)."),
    ] = None,
    file: Annotated[
        Path | None, typer.Argument(help="With `inspect`: the block file (JSON).")
    ] = None,
    block: Annotated[
        int | None,
        typer.Option("--block", help="Show what the mev plugin found in this L1 block."),
    ] = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    endpoint: Endpoint = None,
    curve_key: CurveKey = None,
    server_key: ServerKey = None,
    as_json: JsonFlag = False,
) -> None:
    """MEV: `mev --block N` shows what the mev plugin found in block N (`--endpoint`: asks a
    running executor or analyzer); `mev inspect FILE.json` runs the Ethereum detector (swaps,
    sandwiches, arbitrages) on one block file."""
    try:
        if endpoint is None and (curve_key is not None or server_key is not None):
            raise UserError("--curve-key and --server-key go with --endpoint")
        if action is None:
            if file is not None:
                raise UserError(f"unexpected argument {file}; did you mean `mev inspect {file}`?")
            if block is None:
                raise UserError("give --block N, or `inspect FILE.json`")
            if endpoint is not None:
                if config is not None or data_dir is not None:
                    raise UserError(
                        "--endpoint asks a running instance: leave out --config and --data-dir"
                    )
                _show_remote(block, endpoint, curve_key, server_key, as_json)
                return
            data = _stored(block, config, data_dir)
            if data is None:
                raise fail(f"no MEV record for block {block}", 1)
            _show_stored(data, as_json)
        elif action == "inspect":
            if file is None:
                raise UserError("`mev inspect` needs a block file: `mev inspect FILE.json`")
            if block is not None:
                raise UserError("--block does not go with `inspect`")
            if endpoint is not None:
                raise UserError("--endpoint does not go with `inspect` (it reads a file)")
            _show_inspection(_inspect(file), as_json)
        else:
            raise UserError(f"unknown action {action!r}; use `inspect FILE.json` or --block N")
    except UserError as exc:
        raise fail(str(exc), 2) from None


# ---------------------------------------------------------------------------- --block N


def _stored(number: int, config: Path | None, data_dir: Path | None) -> dict[str, Any] | None:
    from monmouth.core.state import Store
    from monmouth.plugins.mev.queries import pick
    from monmouth.plugins.mev.store import MevStore, to_json

    settings = settings_for(config, data_dir)
    with MevStore(settings.data_dir / "mev", readonly=True) as store:
        records = store.at(number)
    chain_hash = None
    if len(records) > 1:
        # A revert the plugin missed left another record at this height: the node's block wins.
        try:
            with Store(settings.data_dir, readonly=True) as state:
                block = state.block(number)
        except DataDirError:
            block = None
        chain_hash = None if block is None else block.hash
    record = pick(records, chain_hash)
    return None if record is None else to_json(record)


def _show_remote(
    number: int, endpoint: str, curve_key: Path | None, server_key: Path | None, as_json: bool
) -> None:
    """`--block N --endpoint`: the record as a running instance's plugin answers it."""
    answer = ask_instance(
        endpoint, "mev.block", {"block": number}, curve_key=curve_key, server_key=server_key
    )
    where = answer.lag(answer.result["head"])
    data = answer.result["block"]
    if data is None:
        head = "none yet" if where["head"] is None else f"up to block #{where['head']}"
        raise fail(f"no MEV record for block {number} at {endpoint} (its findings: {head})", 1)
    if as_json:
        sys.stdout.write(json.dumps({**data, **where}) + "\n")
        return
    _show_stored(data, False)
    console.print(
        f"findings up to block #{where['head']}, {where['behind']} block(s) behind the "
        f"executor (#{where['node_head']})",
        highlight=False,
    )


def _show_stored(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    from rich.table import Table

    table = Table(show_header=False)
    table.add_row("block", f"#{data['block_number']} {data['block_hash']}")
    traced = "yes" if data["traced"] else "no (the Ethereum side did not run)"
    table.add_row("call traces", traced)
    if data["error"]:
        table.add_row("error", data["error"])
    _ethereum_rows(table, data)
    findings = data["svm_findings"]
    table.add_row("SVM findings", str(len(findings)))
    for finding in findings:
        table.add_row(f"  {finding['kind']} ({finding['score']:.2f})", finding["summary"])
    console.print(table)


# ---------------------------------------------------------------------------- inspect FILE


def _inspect(path: Path) -> dict[str, Any]:
    from monmouth.plugins.mev.inspect import inspect_block, to_json_dict

    if not path.is_file():
        raise UserError(f"no block file at {path}")
    try:
        return to_json_dict(inspect_block(path))
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def _show_inspection(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    from rich.table import Table

    table = Table(show_header=False)
    table.add_row("block", f"#{data['block_number']}")
    _ethereum_rows(table, data)
    console.print(table)


def _ethereum_rows(table: Table, data: dict[str, Any]) -> None:
    table.add_row("swaps", str(len(data["swaps"])))
    table.add_row("sandwiches", str(len(data["sandwiches"])))
    for s in data["sandwiches"]:
        front, back = s["frontrun_swap"], s["backrun_swap"]
        table.add_row(
            "  sandwich",
            f"{s['sandwicher_address']} on {front['contract_address']}: front tx "
            f"{front['transaction_position']}, {len(s['sandwiched_swaps'])} victim(s), back tx "
            f"{back['transaction_position']}; profit {s['profit_amount']} of "
            f"{s['profit_token_address']}",
        )
    table.add_row("arbitrages", str(len(data["arbitrages"])))
    for a in data["arbitrages"]:
        table.add_row(
            "  arbitrage",
            f"tx {a['transaction_hash']} by {a['account_address']}, {len(a['swaps'])} swaps; "
            f"profit {a['profit_amount']} of {a['profit_token_address']}",
        )
