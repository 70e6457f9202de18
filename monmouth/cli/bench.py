"""`monmouth bench`: the node's ingest rate against LiteSVM's own loop."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from monmouth.commands import JsonFlag, emit, err_console, fail, guard


def bench(
    workload: Annotated[
        str, typer.Option("--workload", help="transfers (default), spl or mixed.")
    ] = "transfers",
    txs: Annotated[
        int,
        typer.Option(
            "--txs", min=1, help="Solana transactions to run (the targets are set at 100,000)."
        ),
    ] = 100_000,
    per_block: Annotated[
        int, typer.Option("--per-block", min=1, help="Solana transactions per L1 block.")
    ] = 1000,
    stream: Annotated[
        int | None,
        typer.Option(
            "--stream",
            min=0,
            help="Publish the stream on loopback with this many subscriber processes taking "
            "every message (0: published, nobody subscribed). Default: not published.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Measure the node's ingest rate against LiteSVM's own send_transaction loop (signature
    checks on, and off) over the same generated transactions, in one run; print the rates and
    their ratios. Compare ratios, not figures across runs: the machine's load moves them."""
    from monmouth import bench as benchmark

    if workload not in benchmark.WORKLOADS:
        raise fail(f"--workload must be one of {', '.join(benchmark.WORKLOADS)}", 2)

    def body() -> dict[str, Any]:
        from monmouth.core.logs import configure_logging

        configure_logging("warning")
        with err_console.status("starting") as status:
            return benchmark.run(
                workload,
                txs,
                per_block=per_block,
                stream=stream,
                progress=lambda text: status.update(text),
            )

    emit(guard(body), as_json)
