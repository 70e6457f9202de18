"""The `monmouth` command line (typer + rich)."""

from __future__ import annotations

import base64
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import base58
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from monmouth import __version__
from monmouth.core.config import Settings, load_settings
from monmouth.core.errors import UserError
from monmouth.core.hexutil import to_data
from monmouth.core.logs import configure_logging
from monmouth.core.lthash import LtHash
from monmouth.core.plugins import PluginHalted
from monmouth.core.records import AccountRecord
from monmouth.core.state import Store

app = typer.Typer(
    help="Execute Solana-VM transactions carried by Ethereum blocks, like a Reth ExEx.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_T = TypeVar("_T")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="State directory (default ./monmouth-data, or from config)."),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="TOML config file (see examples/monmouth.toml).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object for tools.")]


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(
        "error: " + message, style="bold red", markup=False, highlight=False, soft_wrap=True
    )
    return typer.Exit(code)


def _guard(body: Callable[[], _T]) -> _T:
    """Run a command body; a UserError becomes one line on stderr and exit code 2, a plugin that
    halted the node exit code 3."""
    try:
        return body()
    except (UserError, PluginHalted) as exc:
        raise _fail_for(exc) from None
    except BaseExceptionGroup as group:
        # Errors raised inside the node's task group arrive wrapped; the first one we know wins.
        matched, _ = group.split((UserError, PluginHalted))
        if matched is None:
            raise
        first: BaseException = matched
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise _fail_for(first) from None


def _fail_for(exc: BaseException) -> typer.Exit:
    return _fail(str(exc), 3 if isinstance(exc, PluginHalted) else 2)


def _settings(config: Path | None, data_dir: Path | None, **more: Any) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in more.items() if v is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(config, **overrides)


def _open_store(config: Path | None, data_dir: Path | None) -> Store:
    settings = _settings(config, data_dir)
    return Store(settings.data_dir, readonly=True)


def _emit(result: dict[str, Any], as_json: bool) -> None:
    """One JSON object on a line for tools, or a two-column table for people."""
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    table = Table(show_header=False)
    for key, value in result.items():
        table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
    console.print(table)


# ---------------------------------------------------------------------------- run


def _progress_table(node: Any, source: Any) -> Table:
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


@app.command()
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
    from monmouth.core.node import Node
    from monmouth.core.sources.factory import make_source

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
        settings = _settings(config, data_dir, source=src or None, stream=stream or None, role=role)
        configure_logging(settings.log_level)
        import structlog

        log = structlog.get_logger("monmouth")
        if settings.role != "executor":
            _run_role(settings)
            return
        with Node(settings) as node:
            source_obj = make_source(settings, traces=node.plugins.wants_traces())
            log.info(
                "starting",
                data_dir=str(settings.data_dir),
                source=settings.source.kind,
                head=None if node.head is None else node.head.number,
            )
            anyio.run(_run_node, node, source_obj, blocks)
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

    _guard(body)


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

    def on_signal(signum: int, frame: object) -> None:
        log.info("stopping", role=settings.role, signal=signal.Signals(signum).name)
        stop.set()

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
    import structlog

    log = structlog.get_logger("monmouth")
    async with anyio.create_task_group() as tg:

        async def on_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("stopping after the current block", signal=signal.Signals(signum).name)
                    node.request_stop()
                    tg.cancel_scope.cancel()

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

        tg.start_soon(on_signals)
        tg.start_soon(show_progress)
        await node.run(source, max_blocks=max_blocks)
        tg.cancel_scope.cancel()


# ---------------------------------------------------------------------------- record


@app.command()
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
        kind = source or ("rpc" if rpc_url else "devnet")
        if kind == "rpc":
            if rpc_url is None:
                raise UserError("record --source rpc needs --rpc-url URL")
            count = anyio.run(_record_rpc, rpc_url, first, last, out)
        elif kind == "devnet":
            from monmouth.core.sources.devnet import DevnetChain
            from monmouth.core.sources.replay import write_replay

            if blocks is None:
                raise UserError("record --source devnet needs --blocks N")
            settings = _settings(config, None)
            chain = DevnetChain(settings.devnet, settings.inbox.address_bytes)
            while chain.tip.number + 1 < blocks:
                chain.next_event()
            count = write_replay(out, chain.canonical()[:blocks])
        else:
            raise UserError(f"record --source {kind} is not supported; use devnet or rpc")
        err_console.print(f"wrote {count} blocks to {out}", markup=False, highlight=False)

    _guard(body)


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


# ---------------------------------------------------------------------------- queries


@app.command()
def status(config: ConfigFile = None, data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """The head, the state hash, and how many accounts and transactions the state holds."""

    def body() -> dict[str, Any]:
        with _open_store(config, data_dir) as store:
            head = store.head()
            return {
                "head_number": None if head is None else head.number,
                "head_hash": None if head is None else to_data(head.hash),
                "state_hash": (
                    LtHash.identity().checksum_b58()
                    if head is None
                    else base58.b58encode(head.checksum).decode()
                ),
                "accounts": store.accounts_count(),
                "transactions": store.transactions_count(),
            }

    _emit(_guard(body), as_json)


def _decode_b58(text: str, size: int, what: str) -> bytes:
    try:
        raw = base58.b58decode(text)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise UserError(f"{text!r} is not a base58 {what} ({size} bytes)")
    return bytes(raw)


@app.command()
def account(
    pubkey: Annotated[str, typer.Argument(help="Account address (base58).")],
    config: ConfigFile = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """One account of the state; exit 1 when it does not exist."""

    def body() -> bytes | None:
        key = _decode_b58(pubkey, 32, "public key")
        with _open_store(config, data_dir) as store:
            return store.account(key)

    raw = _guard(body)
    if raw is None:
        raise _fail(f"account {pubkey} does not exist", 1)
    rec = AccountRecord.decode(raw)
    result = {
        "pubkey": pubkey,
        "lamports": rec.lamports,
        "owner": base58.b58encode(rec.owner).decode(),
        "executable": rec.executable,
        "rent_epoch": rec.rent_epoch,
        "data": base64.b64encode(rec.data).decode(),
    }
    _emit(result, as_json)


@app.command()
def tx(
    signature: Annotated[str, typer.Argument(help="Transaction signature (base58).")],
    config: ConfigFile = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """One transaction's status, fee, compute units and logs; exit 1 when unknown."""

    def body() -> Any:
        sig = _decode_b58(signature, 64, "signature")
        with _open_store(config, data_dir) as store:
            return store.tx(sig)

    rec = _guard(body)
    if rec is None:
        raise _fail(f"transaction {signature} is unknown", 1)
    result = {
        "signature": signature,
        "status": rec.status,
        "reason": rec.reason,
        "error": rec.error,
        "slot": rec.slot,
        "fee": rec.fee,
        "compute_units": rec.compute_units,
        "logs": rec.logs,
    }
    _emit(result, as_json)


# ---------------------------------------------------------------------------- posting

RpcUrlOption = Annotated[
    str,
    typer.Option("--rpc-url", help="Ethereum JSON-RPC node to send through (http:// or https://)."),
]
PrivateKeyOption = Annotated[
    str | None,
    typer.Option(
        "--private-key",
        envvar="MONMOUTH_PRIVATE_KEY",
        show_envvar=True,
        help="0x-hex key to sign with; without one, the node's first unlocked account sends.",
    ),
]
InboxOption = Annotated[
    str | None, typer.Option("--inbox", help="Inbox address (default 0x…0053564d).")
]
ReceiptTimeout = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each receipt.")
]


def _inbox_address(text: str | None) -> bytes:
    from monmouth.core.hexutil import parse_data
    from monmouth.core.inbox import DEFAULT_INBOX_ADDRESS

    if text is None:
        return DEFAULT_INBOX_ADDRESS
    try:
        return parse_data(text.strip(), "--inbox", 20)
    except ValueError:
        raise UserError(f"--inbox {text!r} is not a 0x-prefixed 20-byte address") from None


def _is_wire_transaction(raw: bytes) -> bool:
    from solders.transaction import VersionedTransaction

    try:
        VersionedTransaction.from_bytes(raw)
    except Exception:
        return False
    return True


def _wire_bytes(content: bytes) -> bytes:
    """A file's transaction: base64 text when it decodes to a transaction, else the raw bytes."""
    try:
        decoded = base64.b64decode(b"".join(content.split()), validate=True)
    except ValueError:
        return content
    return decoded if decoded and _is_wire_transaction(decoded) else content


def _read_wire_transactions(files: list[str]) -> list[bytes]:
    from monmouth.core.inbox import MAX_TX_SIZE

    found: list[tuple[str, bytes]] = []
    for name in files:
        if name == "-":
            for n, line in enumerate(sys.stdin.read().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    found.append((f"stdin line {n}", base64.b64decode(line.strip(), validate=True)))
                except ValueError:
                    raise UserError(f"stdin line {n} is not base64") from None
            continue
        try:
            content = Path(name).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {name}: {exc.strerror or exc}") from None
        found.append((name, _wire_bytes(content)))
    if not found:
        raise UserError("no transactions to send")
    for where, raw in found:
        if len(raw) > MAX_TX_SIZE:
            raise UserError(
                f"{where}: the transaction is {len(raw)} bytes; a batch carries at most "
                f"{MAX_TX_SIZE} per transaction"
            )
        if not _is_wire_transaction(raw):
            raise UserError(f"{where} is not a Solana wire transaction (raw bytes or base64)")
    return [raw for _, raw in found]


async def _post(
    url: str,
    private_key: str | None,
    inbox: bytes,
    receipt_timeout: float,
    *,
    deposit: tuple[bytes, int] | None = None,
    transactions: list[bytes] | None = None,
) -> list[tuple[str, int, int]]:
    """Send, then wait for each receipt: (L1 tx hash, block number, status) per L1 tx."""
    from monmouth.client import InboxClient
    from monmouth.core.ethrpc import EthRpc
    from monmouth.core.hexutil import parse_quantity

    # One attempt per request: an unlocked send retried after a lost answer could post twice.
    async with EthRpc(url, attempts=1) as rpc:
        client = InboxClient(rpc, private_key=private_key, inbox=inbox)
        if deposit is not None:
            hashes = [await client.deposit(*deposit)]
        else:
            hashes = await client.send(transactions or [])
        landed = []
        for tx_hash in hashes:
            receipt = await client.wait(tx_hash, receipt_timeout)
            landed.append(
                (
                    to_data(tx_hash),
                    parse_quantity(receipt.get("blockNumber"), "receipt blockNumber"),
                    parse_quantity(receipt.get("status"), "receipt status"),
                )
            )
        return landed


def _check_landed(landed: list[tuple[str, int, int]]) -> None:
    for tx_hash, number, status in landed:
        if status != 1:
            raise _fail(
                f"L1 transaction {tx_hash} failed in block {number} (status {status}); "
                "the inbox ignores it",
                1,
            )


@app.command()
def deposit(
    rpc_url: RpcUrlOption,
    to: Annotated[str, typer.Option("--to", help="SVM account to credit (base58 public key).")],
    lamports: Annotated[
        int, typer.Option("--lamports", min=1, max=2**64 - 1, help="Lamports (1 per gwei sent).")
    ],
    private_key: PrivateKeyOption = None,
    inbox: InboxOption = None,
    timeout: ReceiptTimeout = 120.0,
    as_json: JsonFlag = False,
) -> None:
    """Deposit lamports to an SVM account: an L1 transaction to the inbox carrying
    lamports x 10^9 wei. Waits for the receipt and prints the L1 transaction hash."""

    def body() -> list[tuple[str, int, int]]:
        recipient = _decode_b58(to, 32, "public key")
        address = _inbox_address(inbox)
        configure_logging("warning")
        return anyio.run(
            lambda: _post(rpc_url, private_key, address, timeout, deposit=(recipient, lamports))
        )

    landed = _guard(body)
    tx_hash, number, status = landed[0]
    if as_json:
        _emit({"l1_tx_hash": tx_hash, "block_number": number, "status": status}, True)
    else:
        sys.stdout.write(tx_hash + "\n")
        err_console.print(
            f"deposited {lamports} lamports to {to} in L1 block {number}",
            markup=False,
            highlight=False,
        )
    _check_landed(landed)


@app.command()
def send(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Files of one Solana wire transaction each, raw or base64; - reads base64 "
            "transactions from stdin, one a line.",
            metavar="FILE",
        ),
    ],
    rpc_url: RpcUrlOption,
    private_key: PrivateKeyOption = None,
    inbox: InboxOption = None,
    timeout: ReceiptTimeout = 120.0,
    as_json: JsonFlag = False,
) -> None:
    """Send Solana transactions to the inbox, in order, packed into as few L1 transactions as
    the calldata budget allows. Waits for the receipts and prints the L1 transaction hashes."""

    def body() -> tuple[int, list[tuple[str, int, int]]]:
        transactions = _read_wire_transactions(files)
        address = _inbox_address(inbox)
        configure_logging("warning")
        landed = anyio.run(
            lambda: _post(rpc_url, private_key, address, timeout, transactions=transactions)
        )
        return len(transactions), landed

    count, landed = _guard(body)
    hashes = [tx_hash for tx_hash, _, _ in landed]
    if as_json:
        _emit({"l1_tx_hashes": hashes, "transactions": count}, True)
    else:
        sys.stdout.write("".join(h + "\n" for h in hashes))
        blocks = sorted({number for _, number, _ in landed})
        where = f"block {blocks[0]}" if len(blocks) == 1 else f"blocks {blocks[0]}..{blocks[-1]}"
        err_console.print(
            f"sent {count} transactions in {len(hashes)} L1 transactions, L1 {where}",
            markup=False,
            highlight=False,
        )
    _check_landed(landed)


# ---------------------------------------------------------------------------- stream


def _json_value(value: Any) -> Any:
    """Bytes in a body become base64 text, as Solana JSON-RPC shows account data."""
    import msgspec

    return msgspec.to_builtins(value, enc_hook=None)


@app.command()
def subscribe(
    endpoint: Annotated[
        str, typer.Option("--endpoint", help="The publisher (a node's --publish).")
    ] = "tcp://127.0.0.1:7700",
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="A kind: block, slot, transaction, account, revert, "
            "heartbeat, alert, or a plugin's (repeatable).",
        ),
    ] = None,
    account_filter: Annotated[
        list[str] | None, typer.Option("--account", help="Updates of this account (repeatable).")
    ] = None,
    owner: Annotated[
        list[str] | None,
        typer.Option("--owner", help="Updates of accounts owned by this program (repeatable)."),
    ] = None,
    signature: Annotated[
        list[str] | None, typer.Option("--signature", help="This transaction (repeatable).")
    ] = None,
    mention: Annotated[
        list[str] | None,
        typer.Option("--mention", help="Transactions that name this account (repeatable)."),
    ] = None,
    no_failed: Annotated[
        bool,
        typer.Option(
            "--no-failed",
            help="Leave out failed and rejected transactions (--signature, --mention).",
        ),
    ] = False,
    from_height: Annotated[
        int | None,
        typer.Option("--from-height", min=0, help="Replay from this L1 height, then go live."),
    ] = None,
    from_seq: Annotated[
        int | None,
        typer.Option("--from-seq", min=0, help="Resume at this sequence number (last seen + 1)."),
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Stop after N messages.")
    ] = None,
    curve_key: Annotated[
        Path | None, typer.Option("--curve-key", help="Your CURVE secret key file.")
    ] = None,
    server_key: Annotated[
        Path | None, typer.Option("--server-key", help="The publisher's CURVE public key file.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print the event stream: one line per message (one JSON object with --json: seq, kind,
    height, topic, replayed, payload). Gaps are replayed by themselves; what the publisher no
    longer has arrives as a message of kind gap."""
    from monmouth.stream.security import ClientCurve
    from monmouth.stream.subscriber import Subscriber

    def body() -> None:
        if (curve_key is None) != (server_key is None):
            raise UserError("--curve-key and --server-key go together")
        if from_height is not None and from_seq is not None:
            raise UserError("give --from-height or --from-seq, not both")
        curve = None
        if curve_key is not None and server_key is not None:
            curve = ClientCurve.load(curve_key, server_key)
        configure_logging("warning")
        subscriber = Subscriber(
            endpoint,
            kinds=kind or (),
            accounts=account_filter or (),
            owners=owner or (),
            signatures=signature or (),
            mentions=mention or (),
            include_failed=not no_failed,
            from_height=from_height,
            from_seq=from_seq,
            curve=curve,
        )
        seen = 0
        try:
            for msg in subscriber:
                payload = _json_value(msg.body)
                if as_json:
                    line = {
                        "seq": msg.seq,
                        "kind": msg.kind,
                        "height": msg.height,
                        "topic": msg.topic,
                        "replayed": msg.replayed,
                        "payload": payload,
                    }
                    sys.stdout.write(json.dumps(line) + "\n")
                else:
                    sys.stdout.write(f"{msg.seq:>10} {msg.kind:<12} #{msg.height:<8} {payload}\n")
                sys.stdout.flush()
                seen += 1
                if count is not None and seen >= count:
                    return
        finally:
            subscriber.close()

    try:
        _guard(body)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command()
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
    as_json: JsonFlag = False,
) -> None:
    """Measure the node's ingest rate against LiteSVM's own send_transaction loop (signature
    checks on, and off) over the same generated transactions, in one run; print the rates and
    their ratios. Compare ratios, not figures across runs: the machine's load moves them."""
    from monmouth import bench as benchmark

    if workload not in benchmark.WORKLOADS:
        raise _fail(f"--workload must be one of {', '.join(benchmark.WORKLOADS)}", 2)

    def body() -> dict[str, Any]:
        configure_logging("warning")
        with err_console.status("starting") as status:
            return benchmark.run(
                workload,
                txs,
                per_block=per_block,
                progress=lambda text: status.update(text),
            )

    _emit(_guard(body), as_json)


keys_app = typer.Typer(help="CURVE key pairs for the event stream.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("generate")
def keys_generate(
    name: Annotated[str, typer.Option("--name", help="File name: NAME.key and NAME.key_secret.")],
    folder: Annotated[Path, typer.Option("--dir", help="Folder to write them to.")] = Path("keys"),
    as_json: JsonFlag = False,
) -> None:
    """Make a CURVE key pair. A server allows a client by holding the client's NAME.key in its
    allowed-keys folder; a client needs the server's NAME.key."""
    from monmouth.stream.security import generate_keys

    public, secret = _guard(lambda: generate_keys(folder, name))
    _emit({"public": str(public), "secret": str(secret)}, as_json)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"monmouth {__version__}")
        raise typer.Exit(0)


plugins_app = typer.Typer(help="The plugins the node can see.", no_args_is_help=True)
app.add_typer(plugins_app, name="plugins")


@plugins_app.command("list")
def plugins_list(config: ConfigFile = None, as_json: JsonFlag = False) -> None:
    """Every plugin found (built-in or from a distribution), whether it is enabled, and the hooks
    it implements."""
    from monmouth.core.plugins import find_plugins, implemented_hooks

    def body() -> list[dict[str, Any]]:
        out = []
        for found in find_plugins(_settings(config, None)):
            obj = found.load()
            factory = getattr(obj, "Plugin", None)
            out.append(
                {
                    "name": found.name,
                    "origin": found.origin,
                    "enabled": found.enabled,
                    "hooks": implemented_hooks(factory if isinstance(factory, type) else obj),
                }
            )
        return out

    rows = _guard(body)
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table("name", "origin", "enabled", "hooks")
    for row in rows:
        table.add_row(
            row["name"], row["origin"], "yes" if row["enabled"] else "no", ", ".join(row["hooks"])
        )
    console.print(table)


def _plugin_commands() -> None:
    """Let enabled plugins add commands (`register_commands`), and built-in plugins even when
    they are off (their commands are tools: `monmouth mev inspect FILE`). A broken
    configuration is left for the command itself to report."""
    import importlib

    from monmouth import hooks
    from monmouth.core.plugins import BUILTIN_PLUGINS, OPTIONAL_BUILTINS, load_plugins

    try:
        pm = load_plugins(load_settings(None))
    except UserError:
        return

    def register(function: Callable[..., Any], name: str | None = None) -> None:
        app.command(name=name)(function)

    pm.hook.register_commands(register=register)
    marker = f"{hooks.PROJECT}_impl"
    for name in (*BUILTIN_PLUGINS, *OPTIONAL_BUILTINS):
        if pm.has_plugin(name):
            continue
        # A built-in that is off offers the commands its module defines at top level.
        hook = getattr(
            importlib.import_module(f"monmouth.plugins.{name}"), "register_commands", None
        )
        if callable(hook) and getattr(hook, marker, None) is not None:
            hook(register=register)


def main() -> None:
    """Entry point of the `monmouth` script."""
    _plugin_commands()
    app()
