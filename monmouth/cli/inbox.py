"""`monmouth deposit` and `send`: L1 transactions to the inbox, through an Ethereum node."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated

import typer

from monmouth.cli.state import decode_b58
from monmouth.commands import JsonFlag, emit, err_console, fail, guard
from monmouth.core.errors import UserError
from monmouth.core.hexutil import to_data

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
            raise fail(
                f"L1 transaction {tx_hash} failed in block {number} (status {status}); "
                "the inbox ignores it",
                1,
            )


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
        import anyio

        from monmouth.core.logs import configure_logging

        recipient = decode_b58(to, 32, "public key")
        address = _inbox_address(inbox)
        configure_logging("warning")
        return anyio.run(
            lambda: _post(rpc_url, private_key, address, timeout, deposit=(recipient, lamports))
        )

    landed = guard(body)
    tx_hash, number, status = landed[0]
    if as_json:
        emit({"l1_tx_hash": tx_hash, "block_number": number, "status": status}, True)
    else:
        sys.stdout.write(tx_hash + "\n")
        err_console.print(
            f"deposited {lamports} lamports to {to} in L1 block {number}",
            markup=False,
            highlight=False,
        )
    _check_landed(landed)


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
        import anyio

        from monmouth.core.logs import configure_logging

        transactions = _read_wire_transactions(files)
        address = _inbox_address(inbox)
        configure_logging("warning")
        landed = anyio.run(
            lambda: _post(rpc_url, private_key, address, timeout, transactions=transactions)
        )
        return len(transactions), landed

    count, landed = guard(body)
    hashes = [tx_hash for tx_hash, _, _ in landed]
    if as_json:
        emit({"l1_tx_hashes": hashes, "transactions": count}, True)
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
