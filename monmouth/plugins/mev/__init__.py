"""MEV detection on Ethereum call traces: a faithful port of flashbots/mev-inspect-py.

A pure library. Feed it a block file (`inspect_block`) or the parsed output of `trace_block`
(`parse_traces` then `inspect_traces`); it finds swaps (Uniswap V2 and V3, Curve, Balancer V1,
0x native orders, Bancor) from the token transfers around pool calls, then sandwiches and
arbitrages, with mev-inspect-py's field names, results and ordering. `to_json_dict` gives the
JSON form. Everything returned is immutable; the same traces give the same results in the same
order.

It is also the built-in plugin `mev` (`Plugin`, in `plugin.py`; off until `[plugins] enable =
["mev"]`, configured by the `[plugins.mev]` table, `config.py`): it runs the detector on the call
traces of every block the node follows and the SVM detector (`svm.py`) on its Solana
transactions, stores the findings per block (`store.py`), publishes them on the event stream
(kind `mev`) and reverts them with the blocks. The command `monmouth mev` (`cli.py`, offered
whether or not the plugin is enabled) shows them, and runs the detector on a block file. See
docs/mev.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monmouth.plugins.mev.arbitrages import Arbitrage, get_arbitrages
from monmouth.plugins.mev.classifiers.registry import (
    ALL_CLASSIFIER_SPECS,
    DEFAULT_CLASSIFIER,
    TraceClassifier,
)
from monmouth.plugins.mev.cli import register_commands
from monmouth.plugins.mev.inspect import (
    BlockInspection,
    inspect_block,
    inspect_traces,
    to_json_dict,
)
from monmouth.plugins.mev.plugin import Plugin
from monmouth.plugins.mev.sandwiches import Sandwich, get_sandwiches
from monmouth.plugins.mev.swaps import Swap, get_swaps
from monmouth.plugins.mev.traces import (
    Action,
    Block,
    Receipt,
    Trace,
    TraceResult,
    load_block,
    parse_trace,
    parse_traces,
    read_block_file,
)
from monmouth.plugins.mev.transfers import ETH_TOKEN_ADDRESS, Transfer, get_transfers

if TYPE_CHECKING:
    from monmouth.plugins.mev.store import MevBlock, MevStore


def __getattr__(name: str) -> Any:
    """`MevBlock` and `MevStore` load on first use: the store brings LMDB and, through the
    node's state module, numpy, which `monmouth --help` (importing this package to offer
    `monmouth mev`) does without."""
    if name in ("MevBlock", "MevStore"):
        from monmouth.plugins.mev import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALL_CLASSIFIER_SPECS",
    "DEFAULT_CLASSIFIER",
    "ETH_TOKEN_ADDRESS",
    "Action",
    "Arbitrage",
    "Block",
    "BlockInspection",
    "MevBlock",
    "MevStore",
    "Plugin",
    "Receipt",
    "Sandwich",
    "Swap",
    "Trace",
    "TraceClassifier",
    "TraceResult",
    "Transfer",
    "get_arbitrages",
    "get_sandwiches",
    "get_swaps",
    "get_transfers",
    "inspect_block",
    "inspect_traces",
    "load_block",
    "parse_trace",
    "parse_traces",
    "read_block_file",
    "register_commands",
    "to_json_dict",
]
