"""MEV detection on Ethereum call traces: a faithful port of flashbots/mev-inspect-py.

A pure library. Feed it a block file (`inspect_block`) or the parsed output of `trace_block`
(`parse_traces` then `inspect_traces`); it finds swaps (Uniswap V2 and V3, Curve, Balancer V1,
0x native orders, Bancor) from the token transfers around pool calls, then sandwiches and
arbitrages, with mev-inspect-py's field names, results and ordering. `to_json_dict` gives the
JSON form. Everything returned is immutable; the same traces give the same results in the same
order.

It is also the built-in plugin `mev` (`Plugin`, in `plugin.py`; off until `[plugins] enable =
["mev"]`): it runs the detector on the call traces of every block the node follows and the SVM
detector (`svm.py`) on its Solana transactions, stores the findings per block (`store.py`),
publishes them on the event stream (kind `mev`) and reverts them with the blocks. The command
`monmouth mev` (`cli.py`) shows them, and runs the detector on a block file. See docs/mev.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monmouth.hooks import hookimpl
from monmouth.plugins.mev.arbitrages import Arbitrage, get_arbitrages
from monmouth.plugins.mev.classifiers.registry import (
    ALL_CLASSIFIER_SPECS,
    DEFAULT_CLASSIFIER,
    TraceClassifier,
)
from monmouth.plugins.mev.inspect import (
    BlockInspection,
    inspect_block,
    inspect_traces,
    to_json_dict,
)
from monmouth.plugins.mev.plugin import MevConfig, MevPlugin
from monmouth.plugins.mev.sandwiches import Sandwich, get_sandwiches
from monmouth.plugins.mev.store import MevBlock, MevStore
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

#: What the node builds, `Plugin(settings, config)`, when `mev` is enabled.
Plugin = MevPlugin


@hookimpl
def register_commands(register: Callable[..., Any]) -> None:
    """`monmouth mev` (offered even while the plugin is off: the CLI asks built-ins' modules)."""
    from monmouth.plugins.mev.cli import register_mev_commands

    register_mev_commands(register)


__all__ = [
    "ALL_CLASSIFIER_SPECS",
    "DEFAULT_CLASSIFIER",
    "ETH_TOKEN_ADDRESS",
    "Action",
    "Arbitrage",
    "Block",
    "BlockInspection",
    "MevBlock",
    "MevConfig",
    "MevPlugin",
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
    "to_json_dict",
]
