"""Posting to the inbox against a real anvil: `monmouth.client.InboxClient` and the `deposit` and
`send` commands, signed with a key and from an unlocked development account."""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import clirun
import pytest
from anvil import (
    DEV_ADDRESS,
    DEV_ADDRESS_2,
    DEV_PRIVATE_KEY,
    DEV_PRIVATE_KEY_2,
    Anvil,
)
from chainbuilder import keypair, sol_transfer
from ports import refused_port
from solders.hash import Hash
from solders.instruction import Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from monmouth.client import (
    CALLDATA_BUDGET,
    InboxClient,
    PostingError,
    TransactionRejected,
    _account,
    plan_batches,
)
from monmouth.core import inbox
from monmouth.core.errors import UserError
from monmouth.core.ethrpc import EthRpc, RpcUnavailable

INBOX = "0x" + inbox.DEFAULT_INBOX_ADDRESS.hex()
MEMO = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
ENV = {**os.environ, "MONMOUTH_PLUGINS__ENABLE": "[]"}
ENV.pop("MONMOUTH_PRIVATE_KEY", None)
_T = TypeVar("_T")


def run_client(url: str, body: Callable[[InboxClient], Awaitable[_T]], **options: Any) -> _T:
    async def main() -> _T:
        async with EthRpc(url, attempts=1) as rpc:
            return await body(InboxClient(rpc, **options))

    return anyio.run(main)


def blockhash(node: Anvil) -> bytes:
    """A real L1 block hash, the recent blockhash the SVM accepts."""
    return bytes.fromhex(node.block()["hash"][2:])


def transfers(node: Anvil, count: int, first: int = 0) -> list[bytes]:
    recent = blockhash(node)
    to = keypair(999).pubkey()
    return [sol_transfer(keypair(1), to, 1_000 + first + i, recent) for i in range(count)]


def padded(node: Anvil, count: int, size: int = 1_100) -> list[bytes]:
    """Signed transactions of about `size` bytes each (a memo carries the padding)."""
    recent = Hash(blockhash(node))
    payer = keypair(2)
    out = []
    for i in range(count):
        memo = f"{i:06d}".encode() * ((size - 200) // 6)
        msg = Message.new_with_blockhash([Instruction(MEMO, memo, [])], payer.pubkey(), recent)
        out.append(bytes(VersionedTransaction(msg, [payer])))
    return out


def l1_tx(node: Anvil, tx_hash: bytes | str) -> dict[str, Any]:
    ref = tx_hash if isinstance(tx_hash, str) else "0x" + tx_hash.hex()
    tx: dict[str, Any] = node.rpc("eth_getTransactionByHash", ref)
    assert tx is not None
    return tx


def calldata(tx: dict[str, Any]) -> bytes:
    return bytes.fromhex(tx["input"][2:])


def batched(node: Anvil, hashes: list[bytes] | list[str]) -> list[bytes]:
    """The Solana transactions the L1 transactions carry, in order."""
    out: list[bytes] = []
    for h in hashes:
        message = inbox.decode(calldata(l1_tx(node, h)), 0)
        assert isinstance(message, inbox.Batch), message
        out += message.transactions
    return out


def test_dev_key_is_the_first_dev_account() -> None:
    # Through the client's loader: importing eth_account directly would leave the whole test
    # session at py_ecc's recursion limit of 100,000 (see `monmouth.client._account`).
    assert _account(DEV_PRIVATE_KEY).address == DEV_ADDRESS
    assert _account(DEV_PRIVATE_KEY_2).address == DEV_ADDRESS_2


# ---------------------------------------------------------------- InboxClient


@pytest.mark.parametrize("key", [None, DEV_PRIVATE_KEY_2], ids=["unlocked", "signed"])
def test_deposit(anvil: Anvil, key: str | None) -> None:
    recipient = bytes(keypair(7).pubkey())
    lamports = 1_234_567

    async def body(client: InboxClient) -> tuple[bytes, dict[str, Any]]:
        tx_hash = await client.deposit(recipient, lamports)
        return tx_hash, await client.wait(tx_hash)

    tx_hash, receipt = run_client(anvil.url, body, private_key=key)
    assert receipt["status"] == "0x1"
    assert receipt["transactionHash"] == "0x" + tx_hash.hex()
    tx = l1_tx(anvil, tx_hash)
    assert tx["to"] == INBOX
    assert calldata(tx) == inbox.encode_deposit(recipient)
    assert int(tx["value"], 16) == lamports * 10**9
    assert tx["from"] == (DEV_ADDRESS if key is None else DEV_ADDRESS_2).lower()
    if key is not None:
        assert tx["type"] == "0x2"  # anvil reports a base fee: EIP-1559
        assert int(tx["chainId"], 16) == 31337
    assert inbox.decode(calldata(tx), int(tx["value"], 16)) == inbox.Deposit(recipient, lamports)


@pytest.mark.parametrize("key", [None, DEV_PRIVATE_KEY], ids=["unlocked", "signed"])
def test_send_one_batch(anvil: Anvil, key: str | None) -> None:
    txs = transfers(anvil, 5)

    async def body(client: InboxClient) -> list[dict[str, Any]]:
        hashes = await client.send(txs)
        return [await client.wait(h) for h in hashes]

    receipts = run_client(anvil.url, body, private_key=key)
    assert len(receipts) == 1 and receipts[0]["status"] == "0x1"
    tx = l1_tx(anvil, receipts[0]["transactionHash"])
    assert tx["to"] == INBOX and int(tx["value"], 16) == 0
    assert calldata(tx) == inbox.encode_batch(txs)
    assert batched(anvil, [receipts[0]["transactionHash"]]) == txs


@pytest.mark.parametrize("key", [None, DEV_PRIVATE_KEY], ids=["unlocked", "signed"])
def test_send_splits_a_big_batch_in_order(anvil: Anvil, key: str | None) -> None:
    txs = padded(anvil, 250)  # about 275 KB: three L1 transactions
    assert all(1_000 < len(t) <= inbox.MAX_TX_SIZE for t in txs)
    plan = plan_batches(txs)
    assert len(plan) == 3

    async def body(client: InboxClient) -> list[bytes]:
        hashes = await client.send(txs)
        # Consecutive sends: the signed path numbers its nonces itself.
        hashes += await client.send(txs[:2])
        for h in hashes:
            assert (await client.wait(h))["status"] == "0x1"
        return hashes

    hashes = run_client(anvil.url, body, private_key=key)
    assert len(hashes) == 4
    assert batched(anvil, hashes[:3]) == txs
    assert batched(anvil, hashes[3:]) == txs[:2]
    sizes = [len(calldata(l1_tx(anvil, h))) for h in hashes[:3]]
    assert all(s <= CALLDATA_BUDGET for s in sizes)
    assert sizes == [len(inbox.encode_batch(b)) for b in plan]
    nonces = [int(l1_tx(anvil, h)["nonce"], 16) for h in hashes]
    assert nonces == list(range(nonces[0], nonces[0] + 4))


def test_plan_batches_fills_the_budget_exactly() -> None:
    tx = b"\x01" * 98  # 100 bytes framed
    assert plan_batches([tx] * 10, budget=2 + 500) == [[tx] * 5, [tx] * 5]
    assert plan_batches([tx] * 10, budget=2 + 499) == [[tx] * 4] * 2 + [[tx] * 2]
    assert plan_batches([], budget=100) == []
    assert plan_batches([b"\x01" * inbox.MAX_TX_SIZE] * 2) == [[b"\x01" * inbox.MAX_TX_SIZE] * 2]


def test_oversize_or_empty_transaction_is_refused_before_sending(anvil: Anvil) -> None:
    txs = transfers(anvil, 2)
    before = anvil.block_number()
    for bad in (b"\x01" * (inbox.MAX_TX_SIZE + 1), b""):

        async def body(client: InboxClient, bad: bytes = bad) -> list[bytes]:
            return await client.send([txs[0], bad, txs[1]])

        with pytest.raises(ValueError, match=f"transaction 1 is {len(bad)} bytes"):
            run_client(anvil.url, body)
    assert anvil.block_number() == before


def test_user_errors(anvil: Anvil) -> None:
    with pytest.raises(PostingError, match="not 32 bytes of hex"):
        run_client(anvil.url, lambda c: c.send([]), private_key="0x1234")
    # An account without ether: the node refuses the estimate.
    poor = "0x" + "42" * 32
    with pytest.raises(TransactionRejected, match="refused eth_estimateGas"):
        run_client(anvil.url, lambda c: c.deposit(bytes(32), 5), private_key=poor)
    with pytest.raises(TransactionRejected, match=r"no receipt after 0\.3 s"):
        run_client(anvil.url, lambda c: c.wait(b"\x11" * 32, timeout=0.3))
    with refused_port() as port, pytest.raises(RpcUnavailable) as info:
        run_client(f"http://127.0.0.1:{port}", lambda c: c.deposit(bytes(32), 5))
    assert isinstance(info.value, UserError) and "is it running" in str(info.value)


# ---------------------------------------------------------------- CLI


monmouth = functools.partial(clirun.monmouth, env=ENV, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert proc.stdout == ""
    return lines[0]


def test_cli_deposit(anvil: Anvil) -> None:
    to = keypair(3).pubkey()
    proc = monmouth(
        "deposit", "--rpc-url", anvil.url, "--to", str(to), "--lamports", "5000000", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {"l1_tx_hash", "block_number", "status"}
    assert result["status"] == 1 and result["block_number"] == anvil.block_number()
    tx = l1_tx(anvil, result["l1_tx_hash"])
    assert tx["from"] == DEV_ADDRESS.lower()  # the first unlocked account
    assert calldata(tx) == inbox.encode_deposit(bytes(to))
    assert int(tx["value"], 16) == 5_000_000 * 10**9

    # The key from the environment signs; without --json the hash is the one line on stdout.
    proc = monmouth(
        "deposit",
        "--rpc-url",
        anvil.url,
        "--to",
        str(to),
        "--lamports",
        "7",
        MONMOUTH_PRIVATE_KEY=DEV_PRIVATE_KEY_2,
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    tx = l1_tx(anvil, line)
    assert tx["from"] == DEV_ADDRESS_2.lower() and tx["type"] == "0x2"
    assert int(tx["value"], 16) == 7 * 10**9

    # A custom inbox address.
    other = "0x" + "ab" * 20
    proc = monmouth(
        "deposit",
        "--rpc-url",
        anvil.url,
        "--to",
        str(to),
        "--lamports",
        "1",
        "--inbox",
        other,
        "--private-key",
        DEV_PRIVATE_KEY,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert l1_tx(anvil, json.loads(proc.stdout)["l1_tx_hash"])["to"] == other


def test_cli_send_raw_base64_and_stdin(anvil: Anvil, tmp_path: Path) -> None:
    txs = transfers(anvil, 5)
    raw = tmp_path / "one.bin"
    raw.write_bytes(txs[0])
    b64 = tmp_path / "two.b64"
    text = base64.b64encode(txs[1]).decode()
    b64.write_text("\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + "\n")
    stdin = "".join(base64.b64encode(t).decode() + "\n" for t in txs[2:4]) + "\n"
    last = tmp_path / "five.b64"
    last.write_text(base64.b64encode(txs[4]).decode())

    proc = monmouth(
        "send",
        "--rpc-url",
        anvil.url,
        str(raw),
        str(b64),
        "-",
        str(last),
        "--private-key",
        DEV_PRIVATE_KEY,
        "--json",
        stdin=stdin,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {"l1_tx_hashes", "transactions"}
    assert result["transactions"] == 5 and len(result["l1_tx_hashes"]) == 1
    assert batched(anvil, result["l1_tx_hashes"]) == txs

    # Unlocked, without --json: the L1 hashes one a line; a big batch in several L1 txs.
    big = padded(anvil, 130)
    files = []
    for i, t in enumerate(big):
        files.append(tmp_path / f"big{i:03d}.bin")
        files[-1].write_bytes(t)
    proc = monmouth("send", "--rpc-url", anvil.url, *map(str, files))
    assert proc.returncode == 0, proc.stderr
    hashes = proc.stdout.split()
    assert len(hashes) == 2 and "sent 130 transactions in 2 L1 transactions" in proc.stderr
    assert batched(anvil, hashes) == big


def test_cli_user_errors(anvil: Anvil, tmp_path: Path) -> None:
    to = str(keypair(3).pubkey())
    ok = tmp_path / "ok.bin"
    ok.write_bytes(transfers(anvil, 1)[0])
    with refused_port() as port:
        closed = f"http://127.0.0.1:{port}"
        line = one_line_error(
            monmouth("deposit", "--rpc-url", closed, "--to", to, "--lamports", "1")
        )
        assert closed in line and "is it running" in line
        line = one_line_error(monmouth("send", "--rpc-url", closed, str(ok)))
        assert closed in line

    big = tmp_path / "big.b64"
    big.write_text(base64.b64encode(padded(anvil, 1, size=1_400)[0]).decode())
    before = anvil.block_number()
    line = one_line_error(monmouth("send", "--rpc-url", anvil.url, str(ok), str(big)))
    assert str(big) in line and "1232" in line

    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x07" * 100)
    line = one_line_error(monmouth("send", "--rpc-url", anvil.url, str(junk)))
    assert "not a Solana wire transaction" in line
    line = one_line_error(monmouth("send", "--rpc-url", anvil.url, "-", stdin="%%%\n"))
    assert "stdin line 1 is not base64" in line
    line = one_line_error(monmouth("send", "--rpc-url", anvil.url, str(tmp_path / "missing")))
    assert "cannot read" in line

    secret = "0x" + "zz" * 32
    line = one_line_error(
        monmouth(
            "deposit",
            "--rpc-url",
            anvil.url,
            "--to",
            to,
            "--lamports",
            "1",
            "--private-key",
            secret,
        )
    )
    assert "private key" in line and secret not in line
    line = one_line_error(
        monmouth("deposit", "--rpc-url", anvil.url, "--to", "nope", "--lamports", "1")
    )
    assert "base58" in line
    line = one_line_error(
        monmouth(
            "deposit", "--rpc-url", anvil.url, "--to", to, "--lamports", "1", "--inbox", "0x1234"
        )
    )
    assert "--inbox" in line
    line = one_line_error(
        monmouth(
            "deposit",
            "--rpc-url",
            anvil.url,
            "--to",
            to,
            "--lamports",
            "1",
            "--private-key",
            "0x" + "42" * 32,
        )
    )
    assert "insufficient funds" in line.lower() or "refused" in line
    assert anvil.block_number() == before  # nothing was sent
