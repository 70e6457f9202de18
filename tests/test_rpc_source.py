"""The rpc source against a real anvil: deposits and SPL transfers, reorgs of depth 1 to 10,
rollbacks, a reorg while the node is stopped, SIGKILL mid catch-up, and an L1 node that goes away.
After each, the state equals that of a fresh node replaying the final canonical chain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import anyio
from anvil import Anvil
from chainbuilder import keypair
from conftest import snapshot
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from monmouth.app import build_node
from monmouth.core import inbox
from monmouth.core.config import Settings, load_settings
from monmouth.core.errors import DataDirError
from monmouth.core.l1 import BlockId, L1Block
from monmouth.core.node import Node
from monmouth.core.notifications import ChainCommitted, Notification
from monmouth.core.plugins import load_plugins
from monmouth.core.sources.rpc import RpcSource
from monmouth.core.state import Store
from monmouth.devnet.instructions import (
    MINT_SIZE,
    RENT_MINT,
    RENT_TOKEN_ACCOUNT,
    TOKEN_ACCOUNT_SIZE,
    create_token_owned,
    initialize_account3,
    initialize_mint2,
    mint_to,
    token_transfer,
)
from monmouth.hooks import hookimpl
from monmouth.rust_svm.accounts import AccountRecord

DEV = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
INBOX = "0x" + inbox.DEFAULT_INBOX_ADDRESS.hex()
SOL = 10**9


def settings_for(data_dir: Path, url: str) -> Settings:
    return load_settings(
        None,
        data_dir=data_dir,
        store={"sync": False},
        source={"kind": "rpc", "rpc_url": url, "poll_interval": 0.05},
    )


def inbox_call(data: bytes, value: int = 0) -> dict[str, str]:
    return {"from": DEV, "to": INBOX, "data": "0x" + data.hex(), "value": hex(value)}


def send(anvil: Anvil, call: dict[str, str]) -> None:
    """Send and wait until the block that holds it is anvil's latest: anvil mines at once but
    may serve the new block as "latest" a moment later, and tests aim at the tip."""
    tx_hash = anvil.rpc("eth_sendTransaction", call)
    deadline = time.monotonic() + 10
    while (receipt := anvil.rpc("eth_getTransactionReceipt", tx_hash)) is None or int(
        receipt["blockNumber"], 16
    ) > anvil.block_number():
        assert time.monotonic() < deadline, "anvil did not mine the transaction"
        time.sleep(0.002)


def deposit(anvil: Anvil, to: Pubkey, sol: int) -> None:
    """Deposit `sol` SOL: one lamport per gwei of value."""
    wei = sol * SOL * inbox.WEI_PER_LAMPORT
    send(anvil, inbox_call(inbox.encode_deposit(bytes(to)), wei))


def post(anvil: Anvil, *txs: bytes) -> None:
    send(anvil, inbox_call(inbox.encode_batch(list(txs))))


def tip(anvil: Anvil) -> BlockId:
    # By number: "latest" can lag a freshly mined block for a moment.
    block = anvil.rpc("eth_getBlockByNumber", hex(anvil.block_number()), False)
    return BlockId(int(block["number"], 16), bytes.fromhex(block["hash"][2:]))


def block_hash(anvil: Anvil, number: int) -> bytes:
    return bytes.fromhex(anvil.rpc("eth_getBlockByNumber", hex(number), False)["hash"][2:])


def signed(instructions: list[Instruction], signers: list[Keypair], blockhash: bytes) -> bytes:
    msg = Message.new_with_blockhash(instructions, signers[0].pubkey(), Hash(blockhash))
    return bytes(VersionedTransaction(msg, signers))


def pay(payer: Keypair, to: Pubkey, lamports: int, blockhash: bytes) -> bytes:
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
    return signed([ix], [payer], blockhash)


def signature(raw: bytes) -> bytes:
    return bytes(VersionedTransaction.from_bytes(raw).signatures[0])


async def follow(it: AsyncGenerator[Notification, None], node: Node, target: BlockId) -> None:
    """Apply notifications until the node's head is `target`."""
    with anyio.fail_after(60):
        while node.head != target:
            node.apply(await it.__anext__())


def stored(data_dir: Path) -> tuple[object, ...]:
    with Store(data_dir, readonly=True) as store:
        return snapshot(store)


def canonical_chain(anvil: Anvil) -> list[L1Block]:
    """anvil's canonical chain now, as the node reads blocks (with receipts)."""
    return [
        L1Block.from_rpc(
            {**anvil.block(n, True), "receipts": anvil.rpc("eth_getBlockReceipts", hex(n))}
        )
        for n in range(anvil.block_number() + 1)
    ]


def fresh_state(anvil: Anvil, tmp_path: Path) -> tuple[object, ...]:
    """The state of a fresh node that replays anvil's canonical chain as it is now."""
    fresh = tmp_path / f"fresh-{time.monotonic_ns()}"
    with build_node(load_settings(None, data_dir=fresh, store={"sync": False})) as node:
        node.apply(ChainCommitted(tuple(canonical_chain(anvil))))
        return snapshot(node.store)


def assert_matches_fresh_replay(anvil: Anvil, data_dir: Path, tmp_path: Path) -> None:
    """A fresh node replaying the canonical chain (as it is now) ends in the same state."""
    assert stored(data_dir) == fresh_state(anvil, tmp_path)


def token_amount(node: Node, account: Pubkey) -> int:
    raw = node.store.account(bytes(account))
    assert raw is not None
    return int.from_bytes(AccountRecord.decode(raw).data[64:72], "little")


def test_deposits_and_spl_transfers(anvil: Anvil, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", anvil.url)
    alice, bob = keypair(1), keypair(2)
    mint, alice_tokens, bob_tokens = keypair(10), keypair(11), keypair(12)
    deposit(anvil, alice.pubkey(), 10)
    deposit(anvil, bob.pubkey(), 1)

    def create(owner: Keypair, new: Keypair, lamports: int, space: int) -> Instruction:
        return create_token_owned(owner.pubkey(), new.pubkey(), lamports, space)

    bh = tip(anvil).hash
    post(
        anvil,
        signed(
            [
                create(alice, mint, RENT_MINT, MINT_SIZE),
                initialize_mint2(mint.pubkey(), 6, alice.pubkey()),
            ],
            [alice, mint],
            bh,
        ),
    )
    bh = tip(anvil).hash
    post(
        anvil,
        signed(
            [
                create(alice, alice_tokens, RENT_TOKEN_ACCOUNT, TOKEN_ACCOUNT_SIZE),
                initialize_account3(alice_tokens.pubkey(), mint.pubkey(), alice.pubkey()),
            ],
            [alice, alice_tokens],
            bh,
        ),
        signed(
            [
                create(bob, bob_tokens, RENT_TOKEN_ACCOUNT, TOKEN_ACCOUNT_SIZE),
                initialize_account3(bob_tokens.pubkey(), mint.pubkey(), bob.pubkey()),
            ],
            [bob, bob_tokens],
            bh,
        ),
    )
    bh = tip(anvil).hash
    post(
        anvil,
        signed([mint_to(mint.pubkey(), alice_tokens.pubkey(), alice.pubkey(), 1000)], [alice], bh),
    )
    bh = tip(anvil).hash
    moved = signed(
        [token_transfer(alice_tokens.pubkey(), bob_tokens.pubkey(), alice.pubkey(), 250)],
        [alice],
        bh,
    )
    too_much = signed(
        [token_transfer(bob_tokens.pubkey(), alice_tokens.pubkey(), bob.pubkey(), 10_000)],
        [bob],
        bh,
    )
    post(anvil, moved, too_much, pay(alice, bob.pubkey(), SOL, bh))

    async def main() -> None:
        with build_node(settings) as node:
            source = RpcSource(anvil.url, poll_interval=0.05)
            await follow(source.notifications(None), node, tip(anvil))
            assert token_amount(node, bob_tokens.pubkey()) == 250
            assert token_amount(node, alice_tokens.pubkey()) == 750
            assert node.store.tx(signature(moved)).status == "ok"  # type: ignore[union-attr]
            assert node.store.tx(signature(too_much)).status == "failed"  # type: ignore[union-attr]

    anyio.run(main)
    assert_matches_fresh_replay(anvil, settings.data_dir, tmp_path)


def test_reorgs_of_depth_1_to_10_and_rollback(anvil: Anvil, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", anvil.url)
    alice, bob = keypair(1), keypair(2)
    deposit(anvil, alice.pubkey(), 100)
    anvil.rpc("anvil_mine", hex(10))
    orphan_refs: list[bytes] = []

    async def main() -> None:
        with build_node(settings) as node:
            source = RpcSource(anvil.url, poll_interval=0.05)
            it = source.notifications(None, None)
            for depth in range(1, 11):
                for i in range(depth + 1):
                    post(anvil, pay(alice, bob.pubkey(), SOL + depth * 100 + i, tip(anvil).hash))
                await follow(it, node, tip(anvil))
                reverted = node.stats.reverted
                head = tip(anvil).number
                fork_hash = block_hash(anvil, head - depth)
                orphaned = block_hash(anvil, head - depth + 1)
                # New blocks carry an SVM transaction whose recent blockhash was orphaned, one on
                # the fork point, and a deposit.
                ref = pay(alice, bob.pubkey(), 3 * SOL + depth, orphaned)
                orphan_refs.append(ref)
                ok = pay(alice, bob.pubkey(), 4 * SOL + depth, fork_hash)
                anvil.rpc(
                    "anvil_reorg",
                    depth,
                    [
                        [inbox_call(inbox.encode_batch([ref, ok])), 0],
                        [
                            inbox_call(inbox.encode_deposit(bytes(bob.pubkey())), SOL * SOL),
                            depth - 1,
                        ],
                    ],
                )
                await follow(it, node, tip(anvil))
                assert node.stats.reverted == reverted + depth
                rec = node.store.tx(signature(ref))
                assert rec is not None and rec.reason == "blockhash_not_found"
                assert node.store.tx(signature(ok)).status == "ok"  # type: ignore[union-attr]
                assert snapshot(node.store) == fresh_state(anvil, tmp_path)
            # A rollback makes the chain shorter; new blocks then continue it.
            anvil.rpc("anvil_rollback", 3)
            await follow(it, node, tip(anvil))
            assert snapshot(node.store) == fresh_state(anvil, tmp_path)
            post(anvil, pay(alice, bob.pubkey(), 5 * SOL, tip(anvil).hash))
            await follow(it, node, tip(anvil))
            await it.aclose()

    anyio.run(main)
    assert_matches_fresh_replay(anvil, settings.data_dir, tmp_path)


def test_reorg_while_the_node_is_stopped(anvil: Anvil, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", anvil.url)
    alice, bob = keypair(1), keypair(2)
    deposit(anvil, alice.pubkey(), 50)
    for i in range(6):
        post(anvil, pay(alice, bob.pubkey(), SOL + i, tip(anvil).hash))

    async def run_to_tip() -> None:
        with build_node(settings) as node:
            source = RpcSource(anvil.url, poll_interval=0.05)
            await follow(source.notifications(node.head, node._stored_hash), node, tip(anvil))

    anyio.run(run_to_tip)
    before = stored(settings.data_dir)
    bob_deposit = inbox_call(inbox.encode_deposit(bytes(bob.pubkey())), SOL * SOL)
    anvil.rpc("anvil_reorg", 4, [[bob_deposit, 1]])
    anyio.run(run_to_tip)
    after = stored(settings.data_dir)
    assert after[1] != before[1]
    assert_matches_fresh_replay(anvil, settings.data_dir, tmp_path)


def monmouth_env() -> dict[str, str]:
    return {**os.environ, "MONMOUTH_STORE__SYNC": "true", "MONMOUTH_SOURCE__POLL_INTERVAL": "0.05"}


def test_sigkill_in_mid_catch_up(anvil: Anvil, tmp_path: Path) -> None:
    alice, bob = keypair(1), keypair(2)
    deposit(anvil, alice.pubkey(), 500)
    for i in range(40):
        post(anvil, pay(alice, bob.pubkey(), SOL + i, tip(anvil).hash))
        anvil.rpc("anvil_mine", hex(5))
    target = tip(anvil)
    data = tmp_path / "data"
    args = [sys.executable, "-m", "monmouth", "run", "--rpc-url", anvil.url, "--data-dir"]
    args.append(str(data))
    proc = subprocess.Popen(
        args, env=monmouth_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                with Store(data, readonly=True) as store:
                    head = store.head_id()
            except DataDirError:
                continue  # not created yet
            if head is not None and head.number >= 20:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Store(data, readonly=True) as store:
        killed_at = store.head_id()
    assert killed_at is not None and killed_at.number < target.number
    remaining = target.number - killed_at.number
    subprocess.run(
        [*args, "--blocks", str(remaining)],
        env=monmouth_env(),
        check=True,
        capture_output=True,
        timeout=240,
    )
    with Store(data, readonly=True) as store:
        assert store.head_id() == target
    assert_matches_fresh_replay(anvil, data, tmp_path)


def test_l1_node_goes_away_and_comes_back(anvil: Anvil, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", anvil.url)
    alice, bob = keypair(1), keypair(2)
    deposit(anvil, alice.pubkey(), 10)

    async def main() -> None:
        with build_node(settings) as node:
            source = RpcSource(anvil.url, poll_interval=0.05)
            it = source.notifications(None, None)
            await follow(it, node, tip(anvil))
            anvil.stop()

            def come_back() -> None:
                time.sleep(1.5)
                anvil.restart()
                post(anvil, pay(alice, bob.pubkey(), SOL, tip(anvil).hash))

            thread = threading.Thread(target=come_back)
            thread.start()
            # The source retries while anvil is away, then picks up the new block.
            with anyio.fail_after(60):
                while node.stats.ok == 0:
                    node.apply(await it.__anext__())
            thread.join()
            await it.aclose()

    anyio.run(main)
    assert_matches_fresh_replay(anvil, settings.data_dir, tmp_path)


class SlotStatuses:
    """A plugin that records every slot status it is told."""

    def __init__(self) -> None:
        self.seen: dict[str, set[int]] = {s: set() for s in ("processed", "confirmed", "finalized")}

    @hookimpl
    def update_slot_status(self, slot: int, parent: int | None, status: str) -> None:
        self.seen[status].add(slot)


def test_safe_and_finalized_drive_slot_status(anvil: Anvil, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", anvil.url)
    anvil.mine(100)
    statuses = SlotStatuses()
    safe = anvil.block("safe")
    finalized = anvil.block("finalized")
    assert 0 < int(finalized["number"], 16) < int(safe["number"], 16) < 100

    async def main() -> None:
        with build_node(settings, plugins=load_plugins(settings, extra=[statuses])) as node:
            source = RpcSource(anvil.url, poll_interval=0.05)
            it = source.notifications(None, None)
            await follow(it, node, tip(anvil))
            node.apply(await it.__anext__())  # finality is read after each new segment
            await it.aclose()
            assert node.store.finality() == (int(safe["number"], 16), int(finalized["number"], 16))

    anyio.run(main)
    assert statuses.seen["processed"] == set(range(101))
    assert statuses.seen["confirmed"] == set(range(int(safe["number"], 16) + 1))
    assert statuses.seen["finalized"] == set(range(int(finalized["number"], 16) + 1))


def test_record_from_the_node_replays_to_the_same_state(anvil: Anvil, tmp_path: Path) -> None:
    alice, bob = keypair(1), keypair(2)
    deposit(anvil, alice.pubkey(), 10)
    post(anvil, pay(alice, bob.pubkey(), SOL, tip(anvil).hash))
    target = tip(anvil)
    chain = tmp_path / "chain.jsonl"
    cli = [sys.executable, "-m", "monmouth"]
    subprocess.run(
        [
            *cli,
            "record",
            "--rpc-url",
            anvil.url,
            "--from",
            "0",
            "--to",
            str(target.number),
            "--out",
            str(chain),
        ],
        check=True,
        capture_output=True,
    )
    lines = chain.read_text().splitlines()
    assert len(lines) == target.number + 1
    # Exactly what the node returns, plus the receipts.
    first = json.loads(lines[-1])
    assert first == {**anvil.block(target.number, True), "receipts": first["receipts"]}
    replayed, followed = tmp_path / "replayed", tmp_path / "followed"
    env = monmouth_env()
    subprocess.run(
        [*cli, "run", "--replay-file", str(chain), "--data-dir", str(replayed)],
        check=True,
        capture_output=True,
        env=env,
    )
    subprocess.run(
        [
            *cli,
            "run",
            "--rpc-url",
            anvil.url,
            "--data-dir",
            str(followed),
            "--blocks",
            str(target.number + 1),
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    assert stored(replayed) == stored(followed)


def test_anvils_blocks_take_the_fast_path(anvil: Anvil) -> None:
    """What a real node answers (every key anvil sends, a contract creation's `to: null`, an
    inbox message, a plain transfer) is the fast path's own, and equals the reference's; the
    answer's bytes read by `ethrpc.loads` are what `json` reads."""
    from monmouth.core import l1
    from monmouth.core.ethrpc import loads

    deposit(anvil, keypair(1).pubkey(), 1)
    send(anvil, {"from": DEV, "to": "0x" + "22" * 20, "value": hex(5)})
    # A contract creation (init code: return nothing), which anvil answers with `to: null`.
    send(anvil, {"from": DEV, "data": "0x60006000f3"})
    http = anvil._http
    for n in range(1, anvil.block_number() + 1):
        body = http.post(
            anvil.url,
            json=[
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "eth_getBlockByNumber",
                    "params": [hex(n), True],
                },
                {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockReceipts", "params": [hex(n)]},
            ],
        ).content
        assert loads(body) == json.loads(body)
        answers = {a["id"]: a["result"] for a in loads(body)}
        obj = {**answers[1], "receipts": answers[2]}
        reference = L1Block.from_rpc(obj)
        assert reference.transactions
        if l1.IMPLEMENTATION == "c":
            assert l1._from_dict_fast(obj) == reference
        assert l1._from_json_fast(json.dumps(obj).encode()) == reference
    creation = L1Block.from_rpc_fast(obj)
    assert creation.transactions[0].to is None and creation.transactions[0].status == 1
