"""`monmouth mev`: the findings the plugin stored for a block, or the detector on a block file.

- `monmouth mev --block N [--json]`: what the `mev` plugin found in block N of the node's chain
  (read-only; works while the node runs). Exit 1 when it has no record of that block.
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

from monmouth.commands import ConfigFile, DataDir, JsonFlag, console, fail, settings_for
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
    as_json: JsonFlag = False,
) -> None:
    """MEV: `mev --block N` shows what the mev plugin found in block N; `mev inspect FILE.json`
    runs the Ethereum detector (swaps, sandwiches, arbitrages) on one block file."""
    try:
        if action is None:
            if file is not None:
                raise UserError(f"unexpected argument {file}; did you mean `mev inspect {file}`?")
            if block is None:
                raise UserError("give --block N, or `inspect FILE.json`")
            data = _stored(block, config, data_dir)
            if data is None:
                raise fail(f"no MEV record for block {block}", 1)
            _show_stored(data, as_json)
        elif action == "inspect":
            if file is None:
                raise UserError("`mev inspect` needs a block file: `mev inspect FILE.json`")
            if block is not None:
                raise UserError("--block does not go with `inspect`")
            _show_inspection(_inspect(file), as_json)
        else:
            raise UserError(f"unknown action {action!r}; use `inspect FILE.json` or --block N")
    except UserError as exc:
        raise fail(str(exc), 2) from None


# ---------------------------------------------------------------------------- --block N


def _stored(number: int, config: Path | None, data_dir: Path | None) -> dict[str, Any] | None:
    from monmouth.core.state import Store
    from monmouth.plugins.mev.store import MevStore, to_json

    settings = settings_for(config, data_dir)
    with MevStore(settings.data_dir / "mev", readonly=True) as store:
        records = store.at(number)
    if not records:
        return None
    if len(records) > 1:
        # A revert the plugin missed left another record at this height: the node's block wins.
        try:
            with Store(settings.data_dir, readonly=True) as state:
                block = state.block(number)
        except DataDirError:
            block = None
        if block is not None:
            wanted = "0x" + block.hash.hex()
            records = [r for r in records if r.block_hash == wanted]
            if not records:
                return None
    return to_json(records[0])


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
