"""The example event router (examples/event_router): batches carried by a contract's
`SvmTransactions(bytes)` event, found in the receipts' logs.

The routing rules are checked on hand-built transactions; then against a real anvil, with the
hand-assembled emitter deployed from its bytecode: its logs are the ABI encoding of its calldata,
and a node following anvil executes the batches it emits, ignores reverted calls and the same
event from a contract it was not configured with, and records the rejections the router chose.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from anvil import Anvil
from chainbuilder import ChainBuilder, keypair, sol_transfer
from conftest import snapshot
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from monmouth.app import build_node
from monmouth.core import inbox
from monmouth.core.config import Settings, load_settings
from monmouth.core.l1 import BlockId, L1Block, L1Log, L1Transaction
from monmouth.core.node import Node
from monmouth.core.notifications import ChainCommitted
from monmouth.core.plugins import load_plugins
from monmouth.core.reasons import Reason
from monmouth.core.records import MessageRecord, decode_message
from monmouth.core.sources.rpc import RpcSource
from monmouth.rust_svm.accounts import AccountRecord

# The example is a plain folder, not a package of this project: import it from there.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "event_router"))

import contract
import event_router

DEV = contract.DEV_ADDRESS
INBOX = "0x" + inbox.DEFAULT_INBOX_ADDRESS.hex()
SOL = 10**9
EMITTER = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")

#: A misbehaving emitter, for the malformed case: LOG1(topic0) with the calldata as it is, not
#: ABI-encoded. Runtime (44 bytes): CALLDATASIZE PUSH1 0 PUSH1 0 CALLDATACOPY (mem[0:n] = calldata)
#: PUSH32 topic0 CALLDATASIZE PUSH1 0 LOG1 STOP; the init code is the emitter's with length 0x2c.
RAW_RUNTIME_HEX = "366000600037" + "7f" + contract.TOPIC0_HEX + "366000a100"
RAW_INIT_CODE = "0x602c80600b6000396000f3" + RAW_RUNTIME_HEX


def abi_bytes(value: bytes) -> bytes:
    """An independent ABI encoder's encoding of one `bytes` argument."""
    return abi_encode(["bytes"], [value])


def event_tx(*logs: L1Log, status: int | None = 1) -> L1Transaction:
    return replace(ChainBuilder().l1tx(0, b"", to=EMITTER, status=1), status=status, logs=logs)


def event_log(
    data: bytes, address: bytes = EMITTER, topics: tuple[bytes, ...] | None = None
) -> L1Log:
    return L1Log(address, (event_router.TOPIC0,) if topics is None else topics, data)


# ----------------------------------------------------------------------------- routing rules


def test_topic0_is_the_event_signature_hash_and_in_the_bytecode() -> None:
    assert keccak(text="SvmTransactions(bytes)") == event_router.TOPIC0
    assert bytes.fromhex(contract.TOPIC0_HEX) == event_router.TOPIC0
    # PUSH32 at 0x19: the 32 bytes after the opcode.
    assert contract.RUNTIME_CODE[0x19] == 0x7F
    assert contract.RUNTIME_CODE[0x1A:0x3A] == event_router.TOPIC0
    assert contract.INIT_CODE.endswith(contract.RUNTIME_CODE.hex())
    assert len(bytes.fromhex(RAW_RUNTIME_HEX)) == 0x2C


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 64, 300, 1232 + 2])
def test_canonical_abi_bytes_decode(length: int) -> None:
    value = bytes((i * 7 + 1) % 256 for i in range(length))
    assert event_router.decode_bytes_argument(abi_bytes(value)) == value


def test_broken_abi_framing_is_refused() -> None:
    good = abi_bytes(b"\x01\x00abc")
    cases = [
        b"",
        good[:63],
        good[:-1],  # truncated padding
        good + bytes(32),  # a word too many
        (64).to_bytes(32, "big") + good[32:],  # offset not 32
        good[:32] + (33).to_bytes(32, "big") + good[64:],  # length beyond the data
        good[:-1] + b"\x01",  # non-zero padding
        good[:32] + (2**255).to_bytes(32, "big") + good[64:],  # absurd length
        b"\x01\x00abc",  # the message itself, not ABI-encoded
    ]
    for data in cases:
        assert event_router.decode_bytes_argument(data) is None, data.hex()


def test_routes_the_first_matching_log_of_a_successful_transaction() -> None:
    router = event_router.Plugin(None, EMITTER)
    block = ChainBuilder().block()
    first = inbox.encode_batch([b"\x01" * 100])
    second = inbox.encode_batch([b"\x02" * 100])
    other_topic = event_log(abi_bytes(second), topics=(keccak(text="Other(bytes)"),))
    other_address = event_log(abi_bytes(second), address=bytes(20))
    no_topics = event_log(abi_bytes(second), topics=())
    tx = event_tx(other_topic, other_address, no_topics, event_log(abi_bytes(first)))
    assert router.route_transaction(tx, block) == first
    two = event_tx(event_log(abi_bytes(first)), event_log(abi_bytes(second)))
    assert router.route_transaction(two, block) == first
    # Anything that is not a matching log, or not a success, is not routed.
    assert router.route_transaction(event_tx(other_topic, other_address, no_topics), block) is None
    assert router.route_transaction(event_tx(), block) is None
    assert router.route_transaction(event_tx(event_log(abi_bytes(first)), status=0), block) is None
    # A pre-Byzantium receipt has no status: not a success.
    no_status = event_tx(event_log(abi_bytes(first)), status=None)
    assert router.route_transaction(no_status, block) is None


def test_rejections_the_router_chooses() -> None:
    router = event_router.Plugin(None, EMITTER)
    block = ChainBuilder().block()

    def route(data: bytes) -> bytes | None:
        return router.route_transaction(event_tx(event_log(data)), block)

    # Broken framing: a clear rejection (`unknown_version`), not silence.
    assert route(b"\x01\x00abc") == event_router.MALFORMED
    assert inbox.decode(event_router.MALFORMED, 0) == inbox.Rejected(Reason.UNKNOWN_VERSION)
    # A deposit could mint lamports for value paid elsewhere: `unknown_kind`.
    deposit = inbox.encode_deposit(bytes(32))
    assert route(abi_bytes(deposit)) == event_router.NOT_A_BATCH
    assert inbox.decode(event_router.NOT_A_BATCH, 10**18) == inbox.Rejected(Reason.UNKNOWN_KIND)
    # Anything else well framed goes to the node as it is, which rejects it by the usual rules.
    assert route(abi_bytes(b"\x02\x00")) == b"\x02\x00"
    assert route(abi_bytes(b"")) == b""
    assert route(abi_bytes(b"\x01\x00\x05")) == b"\x01\x00\x05"


def test_make_parses_the_address() -> None:
    assert event_router.make("0x" + EMITTER.hex()).address == EMITTER
    assert event_router.make(EMITTER.hex().upper()).address == EMITTER
    with pytest.raises(ValueError, match="hex"):
        event_router.make("0xnot-hex")
    with pytest.raises(ValueError, match="20 bytes"):
        event_router.make("0x" + "ab" * 19)


def test_registers_beside_the_inbox_router(settings: Settings) -> None:
    pm = load_plugins(settings, extra=[event_router.make("0x" + EMITTER.hex())])
    chain = ChainBuilder()
    block = chain.block()
    batch = inbox.encode_batch([b"\x03" * 80])
    assert pm.hook.route_transaction(tx=event_tx(event_log(abi_bytes(batch))), block=block) == (
        batch
    )
    deposit = chain.deposit(0, Pubkey(bytes(32)), 5)
    assert pm.hook.route_transaction(tx=deposit, block=block) == deposit.input
    assert pm.hook.route_transaction(tx=event_tx(), block=block) is None


# ----------------------------------------------------------------------------- against anvil


def send(anvil: Anvil, to: str, data: bytes, value: int = 0, gas: int | None = None) -> Any:
    """Send from the dev account and return the receipt."""
    tx = {"from": DEV, "to": to, "data": "0x" + data.hex(), "value": hex(value)}
    if gas is not None:
        tx["gas"] = hex(gas)
    return contract.receipt(anvil.rpc, anvil.rpc("eth_sendTransaction", tx))


def tip(anvil: Anvil) -> BlockId:
    block = anvil.block()
    return BlockId(int(block["number"], 16), bytes.fromhex(block["hash"][2:]))


def signature(raw: bytes) -> bytes:
    return bytes(VersionedTransaction.from_bytes(raw).signatures[0])


def test_emitter_logs_the_abi_encoding_of_its_calldata(anvil: Anvil) -> None:
    address = contract.deploy(anvil.rpc)
    assert bytes.fromhex(anvil.rpc("eth_getCode", address, "latest")[2:]) == contract.RUNTIME_CODE
    for length in (0, 1, 31, 32, 33, 64, 300):
        data = bytes((i * 13 + 5) % 256 for i in range(length))
        receipt = send(anvil, address, data)
        assert receipt["status"] == "0x1"
        [log] = receipt["logs"]
        assert log["address"] == address.lower()
        assert log["topics"] == ["0x" + contract.TOPIC0_HEX]
        assert bytes.fromhex(log["data"][2:]) == abi_bytes(data)
    # Not payable: a call with value reverts, and a reverted call has no logs.
    reverted = send(anvil, address, b"\x01\x00", value=1, gas=100_000)
    assert reverted["status"] == "0x0"
    assert reverted["logs"] == []


def plugins_for(settings: Settings, *addresses: str) -> Any:
    """The built-in inbox router plus one event router per configured emitter."""
    return load_plugins(settings, extra=[event_router.make(a) for a in addresses])


def messages(node: Node, block_number: int) -> list[MessageRecord]:
    return [decode_message(raw) for _, raw in node.store.iter_messages(block_number)]


def lamports(node: Node, pubkey: Pubkey) -> int | None:
    raw = node.store.account(bytes(pubkey))
    return None if raw is None else AccountRecord.decode(raw).lamports


def test_a_node_executes_batches_from_the_configured_emitter(anvil: Anvil, tmp_path: Path) -> None:
    emitter = contract.deploy(anvil.rpc)
    unconfigured = contract.deploy(anvil.rpc)
    raw_emitter = contract.deploy(anvil.rpc, init_code=RAW_INIT_CODE)
    alice, bob, carol, dave, erin = (keypair(n) for n in range(1, 6))
    deposit = inbox.encode_deposit(bytes(alice.pubkey()))
    assert send(anvil, INBOX, deposit, value=10 * SOL * inbox.WEI_PER_LAMPORT)["status"] == "0x1"

    def transfer(to: Pubkey, sol: int) -> bytes:
        return sol_transfer(alice, to, sol * SOL, tip(anvil).hash)

    def block_of(receipt: Any, status: str = "0x1") -> int:
        assert receipt["status"] == status
        return int(receipt["blockNumber"], 16)

    to_bob = transfer(bob.pubkey(), 1)
    routed = block_of(send(anvil, emitter, inbox.encode_batch([to_bob])))
    # The same event from a contract the node was not configured with: ignored.
    to_carol = transfer(carol.pubkey(), 2)
    elsewhere = block_of(send(anvil, unconfigured, inbox.encode_batch([to_carol])))
    # A call that reverts (the emitter is not payable) has status 0: ignored.
    to_dave = transfer(dave.pubkey(), 3)
    call = send(anvil, emitter, inbox.encode_batch([to_dave]), value=1, gas=200_000)
    reverted = block_of(call, "0x0")
    # A log whose data is not ABI-encoded: a recorded `unknown_version` rejection.
    to_erin = transfer(erin.pubkey(), 4)
    malformed = block_of(send(anvil, raw_emitter, inbox.encode_batch([to_erin])))
    # A deposit on this route: a recorded `unknown_kind` rejection, nothing credited.
    on_event = block_of(send(anvil, emitter, inbox.encode_deposit(bytes(erin.pubkey()))))
    # The raw emitter with a well-framed encoding routes like the emitter.
    to_erin_framed = transfer(erin.pubkey(), 5)
    framed = block_of(send(anvil, raw_emitter, abi_bytes(inbox.encode_batch([to_erin_framed]))))
    settings = load_settings(None, data_dir=tmp_path / "data", store={"sync": False})

    async def main() -> tuple[object, ...]:
        with build_node(settings, plugins=plugins_for(settings, emitter, raw_emitter)) as node:
            it = RpcSource(anvil.url, poll_interval=0.05).notifications(None, None)
            target = tip(anvil)
            with anyio.fail_after(60):
                while node.head != target:
                    node.apply(await it.__anext__())
            await it.aclose()

            ok = node.store.tx(signature(to_bob))
            assert ok is not None and ok.status == "ok"
            assert ok.slot == routed
            [message] = messages(node, routed)
            assert (message.kind, message.reason, message.outcomes) == (
                "batch",
                None,
                [("ok", None)],
            )
            assert lamports(node, bob.pubkey()) == 1 * SOL
            for ignored, raw in ((elsewhere, to_carol), (reverted, to_dave)):
                assert messages(node, ignored) == []
                assert node.store.tx(signature(raw)) is None
            assert lamports(node, carol.pubkey()) is None
            assert lamports(node, dave.pubkey()) is None
            [rejected] = messages(node, malformed)
            assert (rejected.kind, rejected.reason) == (None, "unknown_version")
            assert node.store.tx(signature(to_erin)) is None
            [rejected] = messages(node, on_event)
            assert (rejected.kind, rejected.reason) == (None, "unknown_kind")
            assert node.store.tx(signature(to_erin_framed)).status == "ok"  # type: ignore[union-attr]
            assert [m.reason for m in messages(node, framed)] == [None]
            assert lamports(node, erin.pubkey()) == 5 * SOL
            return snapshot(node.store)

    followed = anyio.run(main)
    # A fresh node replaying the same blocks with the same routers ends in the same state.
    chain = tuple(
        L1Block.from_rpc(
            {**anvil.block(n, True), "receipts": anvil.rpc("eth_getBlockReceipts", hex(n))}
        )
        for n in range(anvil.block_number() + 1)
    )
    fresh = load_settings(None, data_dir=tmp_path / "fresh", store={"sync": False})
    with build_node(fresh, plugins=plugins_for(fresh, emitter, raw_emitter)) as node:
        node.apply(ChainCommitted(chain))
        assert snapshot(node.store) == followed


def test_built_from_its_config_table(tmp_path: Path) -> None:
    from monmouth.core.plugins import instantiate

    address = "0x" + "ab" * 20
    settings = load_settings(
        None, data_dir=tmp_path, plugins={"event-router": {"address": address}}
    )
    router = instantiate("event-router", event_router, settings)
    assert isinstance(router, event_router.Plugin)
    assert router.address == bytes.fromhex("ab" * 20)
