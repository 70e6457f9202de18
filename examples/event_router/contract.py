"""The `SvmTransactions(bytes)` emitter: a minimal contract, hand-assembled (no compiler needed).

Any call without value emits one event, `SvmTransactions(bytes)`, whose single argument is the
call's whole calldata: `LOG1(topic0 = keccak256("SvmTransactions(bytes)"))` with the data in the
ABI encoding of one `bytes` argument, exactly as Solidity's `emit SvmTransactions(msg.data)` would
write it. A call that carries value reverts (the contract is not payable, so no ether is trapped
in it, and a test has a deterministic way to make a call revert).

Runtime code (73 bytes)::

    off  bytes         instruction        stack after (top first)   note
    00   34            CALLVALUE          [v]
    01   15            ISZERO             [v==0]
    02   60 09         PUSH1 0x09         [0x09, v==0]
    04   57            JUMPI              []                        to 0x09 when no value
    05   60 00         PUSH1 0x00         [0]
    07   80            DUP1               [0, 0]
    08   fd            REVERT                                       revert(0, 0): not payable
    09   5b            JUMPDEST           []
    0a   60 20         PUSH1 0x20         [0x20]
    0c   60 00         PUSH1 0x00         [0, 0x20]
    0e   52            MSTORE             []                        mem[0:32]  = 0x20 (offset)
    0f   36            CALLDATASIZE       [n]
    10   60 20         PUSH1 0x20         [0x20, n]
    12   52            MSTORE             []                        mem[32:64] = n (length)
    13   36            CALLDATASIZE       [n]
    14   60 00         PUSH1 0x00         [0, n]
    16   60 40         PUSH1 0x40         [0x40, 0, n]
    18   37            CALLDATACOPY       []                        mem[64:64+n] = calldata
    19   7f <32 bytes> PUSH32 topic0      [topic0]
    3a   60 1f         PUSH1 0x1f         [31, topic0]
    3c   36            CALLDATASIZE       [n, 31, topic0]
    3d   01            ADD                [n+31, topic0]
    3e   60 1f         PUSH1 0x1f         [31, n+31, topic0]
    40   19            NOT                [~31, n+31, topic0]
    41   16            AND                [pad(n), topic0]          n rounded up to 32
    42   60 40         PUSH1 0x40         [64, pad(n), topic0]
    44   01            ADD                [64+pad(n), topic0]
    45   60 00         PUSH1 0x00         [0, 64+pad(n), topic0]
    47   a1            LOG1               []                        log1(mem[0:64+pad(n)], topic0)
    48   00            STOP

The padding after the calldata is zero because fresh EVM memory is zero.

Init code (11 bytes), followed by the runtime code, which it copies to memory and returns::

    00   60 49         PUSH1 0x49         [73]                      runtime length
    02   80            DUP1               [73, 73]
    03   60 0b         PUSH1 0x0b         [11, 73, 73]              runtime offset in this code
    05   60 00         PUSH1 0x00         [0, 11, 73, 73]
    07   39            CODECOPY           [73]                      mem[0:73] = code[11:84]
    08   60 00         PUSH1 0x00         [0, 73]
    0a   f3            RETURN                                       return mem[0:73]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: keccak256("SvmTransactions(bytes)"), the event's topic0 (event_router.TOPIC0 computes it).
TOPIC0_HEX = "d72623da448ce05092ca4ffc873f1bd1505a9c28704c8b5675a8d2c9d157bed6"

RUNTIME_CODE_HEX = "".join(
    (
        "3415600957600080fd5b",  # 00-09: revert(0, 0) when called with value
        "6020600052",  # 0a-0e: mem[0:32] = 0x20
        "36602052",  # 0f-12: mem[32:64] = calldatasize
        "366000604037",  # 13-18: mem[64:64+n] = calldata
        "7f" + TOPIC0_HEX,  # 19-39: push topic0
        "601f3601601f1916604001",  # 3a-44: 64 + pad(n)
        "6000a100",  # 45-48: log1(mem[0:64+pad(n)], topic0); stop
    )
)
RUNTIME_CODE = bytes.fromhex(RUNTIME_CODE_HEX)
INIT_PREFIX_HEX = "604980600b6000396000f3"
#: The deployment transaction's data: init code, then the runtime code it returns.
INIT_CODE = "0x" + INIT_PREFIX_HEX + RUNTIME_CODE_HEX

assert len(RUNTIME_CODE) == 0x49 and len(bytes.fromhex(INIT_PREFIX_HEX)) == 0x0B

#: anvil's first dev account (unlocked), the default deployer.
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def receipt(rpc_call: Callable[..., Any], tx_hash: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll `eth_getTransactionReceipt` until the receipt is published (anvil may publish it a
    moment after mining); raises TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = rpc_call("eth_getTransactionReceipt", tx_hash)
        if found is not None:
            result: dict[str, Any] = found
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"no receipt for {tx_hash} after {timeout:g} s")
        time.sleep(0.02)


def deploy(
    rpc_call: Callable[..., Any], sender: str = DEV_ADDRESS, init_code: str = INIT_CODE
) -> str:
    """Deploy the emitter from an unlocked account and return its address (0x-hex).

    :param rpc_call: a JSON-RPC call, `rpc_call(method, *params) -> result` (`Anvil.rpc`).
    :param sender: an account the node signs for (`eth_sendTransaction`).
    :param init_code: the creation code; the emitter's by default.
    Raises RuntimeError when the creation failed.
    """
    tx_hash = rpc_call("eth_sendTransaction", {"from": sender, "data": init_code})
    found = receipt(rpc_call, tx_hash)
    address = found.get("contractAddress")
    if found.get("status") != "0x1" or not isinstance(address, str):
        raise RuntimeError(f"deployment {tx_hash} failed: {found}")
    return address
