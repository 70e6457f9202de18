"""One block in, its swaps, sandwiches and arbitrages out: mev-inspect-py's `inspect_block`.

The pipeline is mev-inspect-py's: classify every trace but rewards, find the swaps (from the
token transfers around pool calls), then find sandwiches across the block's transactions and
arbitrages within each transaction. Deterministic: the same traces give the same results in the
same order, mev-inspect-py's order (swaps and arbitrages by transaction hash, then trace order;
sandwiches in block order of their frontruns).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from monmouth.plugins.mev.arbitrages import Arbitrage, get_arbitrages
from monmouth.plugins.mev.classifiers.registry import DEFAULT_CLASSIFIER, TraceClassifier
from monmouth.plugins.mev.sandwiches import Sandwich, get_sandwiches
from monmouth.plugins.mev.swaps import Swap, get_swaps
from monmouth.plugins.mev.traces import Block, Trace, load_block


class BlockInspection(msgspec.Struct, frozen=True, kw_only=True):
    """What one block holds: its swaps, and the sandwiches and arbitrages made of them."""

    block_number: int
    swaps: tuple[Swap, ...]
    sandwiches: tuple[Sandwich, ...]
    arbitrages: tuple[Arbitrage, ...]


def inspect_block(
    block: Block | Mapping[str, Any] | str | os.PathLike[str],
    classifier: TraceClassifier = DEFAULT_CLASSIFIER,
) -> BlockInspection:
    """Inspect a block: a parsed `Block`, a block file's JSON object, or a block file's path.

    Raises ValueError naming the field when the block is malformed.
    """
    if not isinstance(block, Block):
        block = load_block(block)
    return inspect_traces(block.traces, block.block_number, classifier)


def inspect_traces(
    traces: Iterable[Trace],
    block_number: int,
    classifier: TraceClassifier = DEFAULT_CLASSIFIER,
) -> BlockInspection:
    """Inspect all the traces of block `block_number`; their order does not change the result.

    This is the entry point for `trace_block` output (parse it with `traces.parse_traces`).
    Raises ValueError when a trace says it is from another block, or is neither a reward nor
    part of a transaction.
    """
    traces = list(traces)
    for index, trace in enumerate(traces):
        if trace.block_number is not None and trace.block_number != block_number:
            raise ValueError(
                f"traces[{index}].block_number: {trace.block_number}, inspecting {block_number}"
            )
    classified = classifier.classify(traces, block_number)
    swaps = get_swaps(classified)
    return BlockInspection(
        block_number=block_number,
        swaps=tuple(swaps),
        sandwiches=tuple(get_sandwiches(swaps)),
        arbitrages=tuple(get_arbitrages(swaps)),
    )


def to_json_dict(inspection: BlockInspection) -> dict[str, Any]:
    """The inspection as plain JSON data: `block_number`, `swaps`, `sandwiches`, `arbitrages`.

    Field names and order are mev-inspect-py's; amounts are JSON integers (not strings),
    addresses and hashes lower-case hex, trace addresses lists.
    """
    return json_object(inspection)


def json_object(struct: msgspec.Struct) -> dict[str, Any]:
    """A struct as plain JSON data, in field order, with lists where it holds tuples."""
    data = _lists(msgspec.to_builtins(struct))
    assert isinstance(data, dict)
    return data


def _lists(value: Any) -> Any:
    # msgspec.to_builtins keeps tuples as tuples; JSON data has lists.
    if isinstance(value, tuple | list):
        return [_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    return value
