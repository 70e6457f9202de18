"""`monmouth run`: the node following L1 (with its progress view), or another role (replica,
analyzer, monitor) following other instances."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monmouth.commands import ConfigFile, DataDir, console, guard, settings_for
from monmouth.core.hexutil import to_data

if TYPE_CHECKING:
    from rich.table import Table

    from monmouth.core.config import Settings
    from monmouth.core.node import Node


def _progress_table(node: Any, source: Any) -> Table:
    from rich.table import Table

    stats = node.stats
    head = stats.head
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan")
    table.add_column()
    table.add_row("head", "-" if head is None else f"#{head.number} {to_data(head.hash)[:18]}…")
    table.add_row("state hash", "-" if head is None else head.state_hash)
    table.add_row("SVM tx/s", f"{stats.tps():,.0f}")
    table.add_row(
        "transactions",
        f"[green]{stats.ok:,} ok[/]  [yellow]{stats.failed:,} failed[/]  "
        f"[red]{stats.rejected:,} rejected[/]  {stats.deposits:,} deposits",
    )
    table.add_row("blocks", f"{stats.blocks:,} committed, {stats.reverted:,} reverted")
    l1_head = getattr(source, "l1_head", None)
    if l1_head is not None and head is not None:
        elapsed = time.monotonic() - stats.started
        rate = stats.blocks / elapsed if elapsed > 0 else 0.0
        behind = max(l1_head - head.number, 0)
        eta = f"{behind / rate:,.0f} s" if rate > 0 and behind else "-"
        table.add_row(
            "L1 head", f"#{l1_head:,}  {behind:,} behind  {rate:,.1f} blocks/s  ETA {eta}"
        )
    return table


def run(
    config: ConfigFile = None,
    data_dir: DataDir = None,
    source: Annotated[
        str | None, typer.Option("--source", help="devnet (default), replay or rpc.")
    ] = None,
    replay_file: Annotated[
        Path | None, typer.Option("--replay-file", help="Recorded chain for --source replay.")
    ] = None,
    rpc_url: Annotated[
        str | None,
        typer.Option("--rpc-url", help="Ethereum JSON-RPC node for --source rpc (implies it)."),
    ] = None,
    blocks: Annotated[
        int | None, typer.Option("--blocks", min=1, help="Stop after N blocks are committed.")
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            help="executor (default: follows L1), replica (applies an executor's stream), "
            "analyzer (runs plugins on a stream) or monitor (watches heartbeats).",
        ),
    ] = None,
    publish: Annotated[
        str | None,
        typer.Option(
            "--publish",
            help="Event stream endpoint (default tcp://127.0.0.1:7700; the request socket "
            "takes the next port); 'none' turns it off.",
        ),
    ] = None,
    upstream: Annotated[
        list[str] | None,
        typer.Option(
            "--upstream",
            help="Publisher a replica or analyzer follows; repeat for a monitor's instances.",
        ),
    ] = None,
    insecure_bind: Annotated[
        bool,
        typer.Option(
            "--insecure-bind", help="Allow publishing on a non-loopback address without CURVE."
        ),
    ] = False,
) -> None:
    """Follow the L1 chain and execute its SVM transactions until stopped (Ctrl-C, SIGTERM),
    --blocks N are committed, or the replay file ends. With --role, run a replica, analyzer or
    monitor of other instances instead (until stopped)."""
    from monmouth.core.logs import configure_logging

    def body() -> None:
        stream: dict[str, Any] = {}
        if publish is not None:
            stream["publish"] = publish
        if upstream:
            stream["upstream"] = upstream
        if insecure_bind:
            stream["insecure_bind"] = True
        src: dict[str, Any] = {}
        if source is not None:
            src["kind"] = source
        if replay_file is not None:
            src["replay_file"] = replay_file
            src.setdefault("kind", "replay")
        if rpc_url is not None:
            src["rpc_url"] = rpc_url
            src.setdefault("kind", "rpc")
        settings = settings_for(
            config, data_dir, source=src or None, stream=stream or None, role=role
        )
        configure_logging(settings.log_level)
        if settings.role != "executor":
            _run_role(settings)
            return
        run_executor(settings, blocks)

    guard(body)


def run_executor(
    settings: Settings, blocks: int | None, *, on_start: Callable[[Node], None] | None = None
) -> None:
    """Build the executor and its source from `settings` and run it until stopped (SIGINT,
    SIGTERM: after the current block), `blocks` are committed, or the source ends; with the
    progress view on a terminal. `on_start` is called with the node once its source is built,
    before the first block. Logging must be configured."""
    import anyio
    import structlog

    from monmouth.app import build_node, make_source
    from monmouth.core.implementations import implementations

    log = structlog.get_logger("monmouth")
    with build_node(settings) as node:
        source = make_source(settings, traces=node.plugins.wants_traces(), node=node)
        log.info(
            "starting",
            data_dir=str(settings.data_dir),
            source=settings.source.kind,
            head=None if node.head is None else node.head.number,
            # C extensions or their Python references (an install without a compiler).
            implementations=implementations(),
        )
        if on_start is not None:
            on_start(node)
        anyio.run(_run_node, node, source, blocks)
        stats = node.stats
        head = stats.head
        log.info(
            "stopped",
            blocks=stats.blocks,
            ok=stats.ok,
            failed=stats.failed,
            rejected=stats.rejected,
            head=None if head is None else head.number,
            state_hash=None if head is None else head.state_hash,
        )


def _run_role(settings: Settings) -> None:
    """Run a replica, analyzer or monitor until SIGINT or SIGTERM."""
    import threading

    import structlog

    from monmouth.roles.analyzer import Analyzer
    from monmouth.roles.monitor import Monitor
    from monmouth.roles.replica import Replica

    log = structlog.get_logger("monmouth")
    roles: dict[str, Any] = {"replica": Replica, "analyzer": Analyzer, "monitor": Monitor}
    stop = threading.Event()

    instance: Any = None

    def on_signal(signum: int, frame: object) -> None:
        log.info("stopping", role=settings.role, signal=signal.Signals(signum).name)
        stop.set()
        if instance is not None:
            instance.plugins.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    instance = roles[settings.role](settings)
    try:
        log.info("starting", role=settings.role, upstream=settings.stream.upstream)
        instance.run(stop)
    finally:
        instance.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("stopped", role=settings.role)


async def _run_node(node: Any, source: Any, max_blocks: int | None) -> None:
    import asyncio

    import anyio
    import structlog
    from rich.live import Live

    log = structlog.get_logger("monmouth")
    async with anyio.create_task_group() as tg:
        loop = asyncio.get_running_loop()

        # A plain handler, not the event loop's: it runs even while the node's thread waits
        # on a plugin's full queue, where the loop would not get to run until the plugin moved.
        def on_signal(signum: int, frame: object) -> None:
            log.info("stopping after the current block", signal=signal.Signals(signum).name)
            node.request_stop()
            loop.call_soon_threadsafe(tg.cancel_scope.cancel)

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

        async def show_progress() -> None:
            if sys.stdout.isatty():
                table = _progress_table(node, source)
                with Live(table, console=console, refresh_per_second=4) as live:
                    while True:
                        await anyio.sleep(0.25)
                        live.update(_progress_table(node, source))
            else:
                while True:
                    await anyio.sleep(5)
                    head = node.stats.head
                    log.info(
                        "progress",
                        head=None if head is None else head.number,
                        l1_head=getattr(source, "l1_head", None),
                        tps=round(node.stats.tps()),
                        ok=node.stats.ok,
                        failed=node.stats.failed,
                        rejected=node.stats.rejected,
                    )

        tg.start_soon(show_progress)
        try:
            await node.run(source, max_blocks=max_blocks)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        tg.cancel_scope.cancel()
