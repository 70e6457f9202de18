"""Following a real Ethereum node: catch-up rate and follow latency against a local anvil.

1. Catch-up: anvil holds `--blocks` blocks of inbox traffic (a batch of `--txs-per-block`
   Solana transfers in each); a fresh node follows from block 0 over HTTP JSON-RPC to the tip.
   Prints blocks/s and SVM tx/s.
2. Following: the node follows anvil over a WebSocket (newHeads); a poster thread sends one inbox
   message at a time (anvil mines a block per transaction). For each block: the time from its
   being mined (the poster's receipt) to its SVM transactions being committed (the node's
   finished height). Prints p50 and p99.

Needs anvil from `make test` (./node_modules). Figures depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from anvil import Anvil, start_anvil
from chainbuilder import keypair, sol_transfer
from report import emit

from monmouth.app import build_node
from monmouth.core import inbox
from monmouth.core.config import load_settings
from monmouth.core.l1 import BlockId
from monmouth.core.notifications import FinishedHeight
from monmouth.core.sources.rpc import RpcSource

DEV = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
INBOX = "0x" + inbox.DEFAULT_INBOX_ADDRESS.hex()
SOL = 10**9


def send(anvil: Anvil, data: bytes, value: int = 0) -> int:
    """Send an inbox message from the unlocked dev account; returns the block it was mined in."""
    tx_hash = anvil.rpc(
        "eth_sendTransaction",
        {"from": DEV, "to": INBOX, "data": "0x" + data.hex(), "value": hex(value)},
    )
    # anvil mines at once; the transaction names its block before the receipt is published.
    while (tx := anvil.rpc("eth_getTransactionByHash", tx_hash))["blockNumber"] is None:
        time.sleep(0.001)
    return int(tx["blockNumber"], 16)


def fill(anvil: Anvil, blocks: int, per_block: int) -> int:
    users = [keypair(i) for i in range(per_block + 1)]
    for user in users:
        send(anvil, inbox.encode_deposit(bytes(user.pubkey())), 100 * SOL * 10**9)
    txs = 0
    for n in range(blocks - len(users)):
        blockhash = bytes.fromhex(anvil.block()["hash"][2:])
        batch = [
            sol_transfer(users[i], users[i + 1].pubkey(), SOL + n, blockhash)
            for i in range(per_block)
        ]
        send(anvil, inbox.encode_batch(batch))
        txs += len(batch)
    return txs


def catch_up(anvil: Anvil, workdir: Path) -> tuple[float, int, int]:
    settings = load_settings(None, data_dir=workdir / "catch-up", stream={"publish": None})
    target = anvil.block_number()

    async def main() -> tuple[float, int, int]:
        with build_node(settings) as node:
            source = RpcSource(anvil.url)
            start = time.perf_counter()
            async for notification in source.notifications(None):
                node.apply(notification)
                if node.head is not None and node.head.number >= target:
                    break
            return time.perf_counter() - start, node.stats.blocks, node.stats.transactions

    return anyio.run(main)


def follow_latency(anvil: Anvil, workdir: Path, blocks: int) -> list[float]:
    committed: dict[int, float] = {}
    mined: dict[int, float] = {}
    # The caught-up node follows on: latencies are measured at the head, not in catch-up.
    settings = load_settings(None, data_dir=workdir / "catch-up", stream={"publish": None})

    def on_finished(height: FinishedHeight) -> None:
        committed[height.block.number] = time.perf_counter()

    alice, bob = keypair(1000), keypair(1001)
    send(anvil, inbox.encode_deposit(bytes(alice.pubkey())), 100 * SOL * 10**9)

    done = threading.Event()

    def poster(stop: threading.Event) -> None:
        try:
            for n in range(blocks):
                if stop.is_set():
                    return
                blockhash = bytes.fromhex(anvil.block()["hash"][2:])
                tx = sol_transfer(alice, bob.pubkey(), SOL + n, blockhash)
                number = send(anvil, inbox.encode_batch([tx]))
                mined[number] = time.perf_counter()
                time.sleep(0.05)
        finally:
            done.set()
            anvil.mine(1)  # one more head, so a follower waiting for one wakes up and sees `done`

    async def main() -> None:
        with build_node(settings, on_finished=on_finished) as node:
            source = RpcSource(anvil.url.replace("http://", "ws://"), poll_interval=1.0)
            stop = threading.Event()
            thread = threading.Thread(target=poster, args=(stop,))
            notifications = source.notifications(node.head)
            try:
                thread.start()
                with anyio.fail_after(300):
                    while not done.is_set() or node.head != _tip(anvil):
                        node.apply(await notifications.__anext__())
            finally:
                stop.set()
                await notifications.aclose()

    anyio.run(main)
    return [committed[n] - t for n, t in mined.items() if n in committed]


def _tip(anvil: Anvil) -> BlockId:
    block = anvil.block()
    return BlockId(int(block["number"], 16), bytes.fromhex(block["hash"][2:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--txs-per-block", type=int, default=10)
    parser.add_argument("--follow-blocks", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_anvil() as anvil:
        posted = fill(anvil, args.blocks, args.txs_per_block)
        elapsed, blocks, txs = catch_up(anvil, Path(tmp))
        latencies = np.array(follow_latency(anvil, Path(tmp), args.follow_blocks)) * 1000
    result = {
        "catch_up_blocks": blocks,
        "catch_up_txs": txs,
        "posted_txs": posted,
        "catch_up_blocks_per_s": round(blocks / elapsed, 1),
        "catch_up_tps": round(txs / elapsed),
        "follow_blocks": int(latencies.size),
        "follow_latency_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "follow_latency_p99_ms": round(float(np.percentile(latencies, 99)), 1),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
