"""Token and ether transfers found in classified traces, as mev-inspect-py finds them.

A transfer is either a call whose spec has a transfer classifier (an ERC-20 `transfer` or
`transferFrom`), or a plain ether send: a call with value and empty call data. Ether is reported
under the pseudo-token address `ETH_TOKEN_ADDRESS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from monmouth.plugins.mev.classifiers.base import ClassifiedTrace, TransferClassifier

ETH_TOKEN_ADDRESS = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
"""The token address mev-inspect-py gives ether."""


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    """`amount` of `token_address` moved from `from_address` to `to_address`, in one trace."""

    block_number: int
    transaction_hash: str
    trace_address: tuple[int, ...]
    from_address: str
    to_address: str
    amount: int
    token_address: str


def get_transfer(trace: ClassifiedTrace) -> Transfer | None:
    """The transfer `trace` makes, or None when it makes none."""
    if _is_simple_eth_transfer(trace):
        return build_eth_transfer(trace)
    call = trace.call
    if call is not None and isinstance(call.classifier, TransferClassifier):
        return call.classifier.get_transfer(trace)
    return None


def get_transfers(traces: Iterable[ClassifiedTrace]) -> list[Transfer]:
    """Every transfer in `traces`, in the order given."""
    transfers = (get_transfer(trace) for trace in traces)
    return [transfer for transfer in transfers if transfer is not None]


def build_eth_transfer(trace: ClassifiedTrace) -> Transfer:
    """The ether `trace`'s call sends, whatever its call data. The trace must be a call."""
    assert trace.to_address is not None and trace.from_address is not None
    assert trace.value is not None
    return Transfer(
        block_number=trace.block_number,
        transaction_hash=trace.transaction_hash,
        trace_address=trace.trace_address,
        amount=trace.value,
        to_address=trace.to_address,
        from_address=trace.from_address,
        token_address=ETH_TOKEN_ADDRESS,
    )


def _is_simple_eth_transfer(trace: ClassifiedTrace) -> bool:
    # Any call type counts, delegatecall included: mev-inspect-py looks at value and input only.
    value = trace.value
    return value is not None and value > 0 and trace.trace.action.input == b""


def filter_transfers(
    transfers: Iterable[Transfer],
    to_address: str | None = None,
    from_address: str | None = None,
) -> list[Transfer]:
    """The transfers to `to_address` and from `from_address` (either None: any), in order."""
    return [
        transfer
        for transfer in transfers
        if (to_address is None or transfer.to_address == to_address)
        and (from_address is None or transfer.from_address == from_address)
    ]


def is_child_trace_address(child: Sequence[int], parent: Sequence[int]) -> bool:
    """Whether `child` is strictly below `parent` in a transaction's call tree."""
    return len(child) > len(parent) and tuple(child[: len(parent)]) == tuple(parent)


def remove_child_transfers_of_transfers(transfers: Iterable[Transfer]) -> list[Transfer]:
    """Drop each transfer made inside another transfer of the same transaction.

    A proxy token's `transfer` delegates to its implementation with the same call data, which
    decodes as a second transfer; only the outer one is real. The result is in trace order.
    """
    kept: list[Transfer] = []
    seen: dict[str, list[tuple[int, ...]]] = {}
    for transfer in sorted(transfers, key=lambda t: t.trace_address):
        earlier = seen.setdefault(transfer.transaction_hash, [])
        if not any(is_child_trace_address(transfer.trace_address, parent) for parent in earlier):
            kept.append(transfer)
        # Removed transfers still count as parents, as in mev-inspect-py.
        earlier.append(transfer.trace_address)
    return kept
