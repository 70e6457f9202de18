"""`monmouth record`: a replay file from an L1 node or the devnet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from monmouth.commands import ConfigFile, err_console, guard, settings_for
from monmouth.core.errors import UserError


def record(
    out: Annotated[Path, typer.Option("--out", help="Replay file to write (JSON lines).")],
    rpc_url: Annotated[
        str | None, typer.Option("--rpc-url", help="Record from this Ethereum JSON-RPC node.")
    ] = None,
    first: Annotated[int, typer.Option("--from", min=0, help="First block (rpc).")] = 0,
    last: Annotated[
        int | None, typer.Option("--to", min=0, help="Last block (rpc; default: the latest).")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="devnet, or rpc (implied by --rpc-url).")
    ] = None,
    blocks: Annotated[
        int | None, typer.Option("--blocks", min=1, help="Canonical blocks to record (devnet).")
    ] = None,
    config: ConfigFile = None,
) -> None:
    """Write a replay file: blocks --from..--to of an L1 node exactly as it returns them, or the
    devnet's first --blocks canonical blocks (its reorgs already resolved)."""

    def body() -> None:
        import anyio

        kind = source or ("rpc" if rpc_url else "devnet")
        if kind == "rpc":
            if rpc_url is None:
                raise UserError("record --source rpc needs --rpc-url URL")
            count = anyio.run(_record_rpc, rpc_url, first, last, out)
        elif kind == "devnet":
            from monmouth.app import devnet_chain
            from monmouth.core.sources.replay import write_replay

            if blocks is None:
                raise UserError("record --source devnet needs --blocks N")
            settings = settings_for(config, None)
            chain = devnet_chain(settings.devnet, settings.inbox.address_bytes)
            while chain.tip.number + 1 < blocks:
                chain.next_event()
            count = write_replay(out, chain.canonical()[:blocks])
        else:
            raise UserError(f"record --source {kind} is not supported; use devnet or rpc")
        err_console.print(f"wrote {count} blocks to {out}", markup=False, highlight=False)

    guard(body)


async def _record_rpc(url: str, first: int, last: int | None, out: Path) -> int:
    from rich.progress import Progress

    from monmouth.core.ethrpc import EthRpc
    from monmouth.core.hexutil import parse_quantity
    from monmouth.core.sources.rpc import fetch_raw_blocks

    async with EthRpc(url) as rpc:
        if last is None:
            last = parse_quantity(await rpc.call("eth_blockNumber"), "eth_blockNumber")
        if last < first:
            raise UserError(f"--to {last} is below --from {first}")
        written = 0
        step = 64
        with (
            out.open("w") as handle,
            Progress(console=err_console, disable=not err_console.is_terminal) as progress,
        ):
            task = progress.add_task("recording", total=last - first + 1)
            for lo in range(first, last + 1, step):
                raw = await fetch_raw_blocks(rpc, lo, min(lo + step - 1, last))
                for obj in raw:
                    handle.write(json.dumps(obj, separators=(",", ":")) + "\n")
                written += len(raw)
                progress.update(task, advance=len(raw))
                if len(raw) < min(step, last - lo + 1):
                    raise UserError(f"the node has no block #{lo + len(raw)}; wrote {written}")
        return written
