"""`monmouth dev`: a local SVM chain for client developers, what solana-test-validator and anvil
are to theirs. The embedded devnet without its seeded workload (empty blocks, on the wall clock,
one every `--block-time` seconds whether or not anything is sent), fixed finality depths, the
devnet relay behind sendTransaction and the faucet (requestAirdrop deposits), and the rpc
plugin's URL in a start-up banner. The state lives in a fresh temporary directory, deleted at
exit, unless `--data-dir` is given."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monmouth.commands import ConfigFile, err_console, guard, settings_for

if TYPE_CHECKING:
    from monmouth.core.config import Settings
    from monmouth.core.node import Node

#: What the rpc plugin listens on when `[plugins.rpc] address` does not say (Solana's port).
DEFAULT_RPC_ADDRESS = "127.0.0.1:8899"
BLOCK_TIME = 0.4
CONFIRMED_DEPTH = 1
FINALIZED_DEPTH = 32


def dev_devnet(
    block_time: float = BLOCK_TIME,
    confirmed_depth: int = CONFIRMED_DEPTH,
    finalized_depth: int = FINALIZED_DEPTH,
) -> dict[str, Any]:
    """The `[devnet]` settings `monmouth dev` runs with (they override the config file's)."""
    return {
        "workload": "none",
        "clock": "wall",
        "interval": block_time,
        "confirmed_depth": confirmed_depth,
        "finalized_depth": finalized_depth,
    }


def rpc_url(settings: Settings) -> str | None:
    """The rpc plugin's URL from its `[plugins.rpc]` table (read without importing the plugin);
    None when `[plugins] disable` turns it off or its address is "none"."""
    if "rpc" in settings.plugins.disable:
        return None
    address = str(settings.plugins.table("rpc").get("address", DEFAULT_RPC_ADDRESS))
    if address == "none":
        return None
    return address if "://" in address else f"http://{address}"


def pubsub_url(settings: Settings) -> str | None:
    """The rpc plugin's PubSub URL (`[plugins.rpc] pubsub_address`, else the JSON-RPC port + 1,
    as web3.js derives it); None when either is off."""
    url = rpc_url(settings)
    if url is None:
        return None
    address = str(settings.plugins.table("rpc").get("pubsub_address", "")).strip()
    if address.lower() in ("none", "off"):
        return None
    if not address:
        host, _, port = url.split("://", 1)[1].rpartition(":")
        address = f"{host}:{int(port) + 1 if int(port) else 0}"
    return f"ws://{address}"


def dev(
    config: ConfigFile = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="State directory to keep (default: a fresh temporary one, deleted at exit).",
        ),
    ] = None,
    block_time: Annotated[
        float,
        typer.Option(
            "--block-time", min=0.01, help="Wall-clock seconds between blocks (default 0.4)."
        ),
    ] = BLOCK_TIME,
    confirmed_depth: Annotated[
        int,
        typer.Option("--confirmed-depth", min=0, help="Blocks below the tip that are confirmed."),
    ] = CONFIRMED_DEPTH,
    finalized_depth: Annotated[
        int,
        typer.Option("--finalized-depth", min=0, help="Blocks below the tip that are finalized."),
    ] = FINALIZED_DEPTH,
    blocks: Annotated[
        int | None,
        typer.Option("--blocks", min=1, help="Stop after N blocks are committed."),
    ] = None,
) -> None:
    """Run a local chain for Solana clients: empty blocks every --block-time seconds, whatever
    is sent (sendTransaction, requestAirdrop through the rpc plugin) in the next one, until
    Ctrl-C (or --blocks N)."""
    import shutil
    import tempfile

    from monmouth.cli.run import run_executor
    from monmouth.core.logs import configure_logging

    def body() -> None:
        temporary = None if data_dir is not None else Path(tempfile.mkdtemp(prefix="monmouth-dev-"))
        try:
            settings = settings_for(
                config,
                data_dir if temporary is None else temporary,
                role="executor",
                source={"kind": "devnet"},
                devnet=dev_devnet(block_time, confirmed_depth, finalized_depth),
            )
            configure_logging(settings.log_level)

            def banner(node: Node) -> None:
                _banner(settings, node, temporary=temporary is not None)

            run_executor(settings, blocks, on_start=banner)
        finally:
            if temporary is not None:
                shutil.rmtree(temporary, ignore_errors=True)

    guard(body)


def _banner(settings: Settings, node: Node, *, temporary: bool) -> None:
    devnet = settings.devnet
    url = rpc_url(settings)
    ws = pubsub_url(settings)
    head = node.head
    rows = [
        (
            "data dir",
            f"{settings.data_dir}" + (" (temporary, deleted at exit)" if temporary else ""),
        ),
        ("RPC", url if url is not None else "off ([plugins.rpc] address, or [plugins] disable)"),
        ("PubSub", ws if ws is not None else "off ([plugins.rpc] pubsub_address)"),
        (
            "blocks",
            f"every {devnet.interval:g} s, from "
            + ("genesis" if head is None else f"#{head.number + 1}")
            + f"; confirmed {devnet.confirmed_depth} and finalized {devnet.finalized_depth} "
            "below the tip",
        ),
        ("relay", "the devnet relay: sent transactions go into the next block"),
        ("faucet", "the devnet relay's deposits: requestAirdrop credits in the next block"),
    ]
    err_console.print("[bold]monmouth dev[/]: a local SVM chain on the embedded devnet")
    for name, value in rows:
        err_console.print(f"  [cyan]{name:<9}[/] {value}", highlight=False, soft_wrap=True)
    err_console.print("  Ctrl-C stops it.")
