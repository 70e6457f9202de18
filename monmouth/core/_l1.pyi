"""Types of the C extension `_l1.c` (an L1 block's transactions, `L1Block.from_rpc`'s fast path)."""

from typing import Any

def init(tx_class: type, log_class: type, block_class: type, /) -> None: ...
def transactions(txs: Any, receipts: Any, structs: bool, /) -> tuple[Any, ...] | None: ...
def block(
    number: Any,
    hash: Any,
    parent_hash: Any,
    timestamp: Any,
    transactions: tuple[Any, ...],
    traces: Any,
    /,
) -> Any: ...
def deeper(decode: Any, text: Any, levels: int, /) -> Any: ...
