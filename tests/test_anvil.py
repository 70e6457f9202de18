"""The anvil test helper itself: a stopped and restarted anvil serves the same chain on the same
URL, which the tests of an L1 node that goes away and comes back rely on."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from anvil import (
    CHAIN_ID,
    DEV_ADDRESS,
    Anvil,
    AnvilError,
    start_anvil,
)

INBOX = "0x000000000000000000000000000000000053564d"


def chain(node: Anvil) -> list[tuple[str, str, list[str]]]:
    out = []
    for n in range(node.block_number() + 1):
        block = node.block(n)
        out.append((block["hash"], block["parentHash"], block["transactions"]))
    return out


def test_restart_keeps_the_chain(anvil: Anvil) -> None:
    assert int(anvil.rpc("eth_chainId"), 16) == CHAIN_ID
    for i in range(3):
        anvil.rpc(
            "eth_sendTransaction",
            {"from": DEV_ADDRESS, "to": INBOX, "value": hex(10**9), "data": f"0x01010{i}"},
        )
    anvil.mine(20)
    before = chain(anvil)
    receipts = anvil.rpc("eth_getBlockReceipts", "0x2")
    url, pid = anvil.url, anvil.pid

    anvil.stop()
    assert not anvil.running
    with pytest.raises(httpx.TransportError):
        anvil.rpc("eth_blockNumber")

    anvil.restart()
    assert anvil.url == url and anvil.pid != pid
    assert chain(anvil) == before
    assert anvil.rpc("eth_getBlockReceipts", "0x2") == receipts
    anvil.mine()
    assert anvil.block()["parentHash"] == before[-1][0]

    # After SIGKILL nothing is written: a start resumes from the last state written (the stop).
    anvil.kill()
    anvil.start()
    assert chain(anvil) == before


def test_interval_mining_and_close() -> None:
    with start_anvil(block_time=0.5) as node:
        assert node.block_number() == 0
        pid = node.pid
        assert pid is not None
        deadline = time.monotonic() + 10
        while node.block_number() < 2:
            assert time.monotonic() < deadline, "anvil mines no blocks at --block-time 0.5"
            time.sleep(0.05)
    assert not node.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(AnvilError, match="closed"):
        node.start()


@pytest.mark.parametrize("preserve", [False, True], ids=["latest-state", "historical-states"])
def test_reorg_after_restart(preserve: bool) -> None:
    with start_anvil(preserve_history=preserve) as node:
        node.mine(10)
        node.restart()
        node.mine(5)
        node.rpc("anvil_reorg", 5, [])  # back to the restart point: always possible
        if preserve:
            node.rpc("anvil_reorg", 8, [])
            node.rpc("anvil_rollback", 8)
            assert node.block_number() == 7
        else:
            with pytest.raises(AnvilError, match="Required data unavailable"):
                node.rpc("anvil_reorg", 8, [])
