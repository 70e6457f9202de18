"""Swaps: calls to a pool, with the tokens that went into it and came out to the recipient.

A port of mev-inspect-py's `swaps.py` and of the swap helpers in its `classifiers/helpers.py`. The
protocol classifiers decide which calls are swaps and who the recipient is; the helpers here find
the two transfers that make a swap of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby

import msgspec

from monmouth.plugins.mev.classifiers.base import ClassifiedTrace, SwapClassifier
from monmouth.plugins.mev.transfers import (
    Transfer,
    build_eth_transfer,
    filter_transfers,
    get_transfer,
    remove_child_transfers_of_transfers,
)


class Swap(msgspec.Struct, frozen=True, kw_only=True):
    """One swap, with mev-inspect-py's field names and meanings.

    :ivar trace_address: the swap call's place in its transaction's call tree.
    :ivar contract_address: the pool called.
    :ivar from_address: who sent the tokens in (the sender of the transfer into the pool).
    :ivar to_address: who received the tokens out.
    :ivar protocol: `uniswap_v2`, `uniswap_v3`, ... (mev-inspect-py's labels).
    :ivar error: the swap call's error (`"Reverted"`, ...), or None when it succeeded.
    :ivar abi_name: the ABI that decoded the call (`UniswapV2Pair`, `UniswapV3Pool`, ...).
    """

    abi_name: str
    transaction_hash: str
    transaction_position: int
    block_number: int
    trace_address: tuple[int, ...]
    contract_address: str
    from_address: str
    to_address: str
    token_in_address: str
    token_in_amount: int
    token_out_address: str
    token_out_amount: int
    protocol: str | None
    error: str | None


def get_swaps(traces: Iterable[ClassifiedTrace]) -> list[Swap]:
    """Every swap in `traces`: by transaction hash (as strings), then in trace order.

    That order is mev-inspect-py's, and arbitrage detection depends on it.
    """
    by_hash = sorted(traces, key=lambda trace: trace.transaction_hash)
    swaps: list[Swap] = []
    for _, transaction_traces in groupby(by_hash, key=lambda trace: trace.transaction_hash):
        swaps += _get_swaps_for_transaction(list(transaction_traces))
    return swaps


def _get_swaps_for_transaction(traces: list[ClassifiedTrace]) -> list[Swap]:
    ordered = sorted(traces, key=lambda trace: trace.trace_address)
    swaps: list[Swap] = []
    prior_transfers: list[Transfer] = []
    for index, trace in enumerate(ordered):
        call = trace.call
        if call is None:
            # Plain ether sends are no prior transfers: mev-inspect-py only looks at decoded calls
            # here (it does count them among a swap's child transfers).
            continue
        if call.classification == "transfer":
            transfer = get_transfer(trace)
            if transfer is not None:
                prior_transfers.append(transfer)
        elif isinstance(call.classifier, SwapClassifier):
            child_transfers = get_transfers_below(ordered, index)
            swap = call.classifier.parse_swap(
                trace,
                remove_child_transfers_of_transfers(prior_transfers),
                remove_child_transfers_of_transfers(child_transfers),
            )
            if swap is not None:
                swaps.append(swap)
    return swaps


def get_transfers_below(ordered: Sequence[ClassifiedTrace], index: int) -> list[Transfer]:
    """The transfers strictly below `ordered[index]`, in trace order.

    `ordered` is one transaction's traces sorted by trace address, so the traces below one trace
    are the run that follows it and shares its address as a prefix.
    """
    parent = ordered[index].trace_address
    depth = len(parent)
    transfers: list[Transfer] = []
    for trace in ordered[index + 1 :]:
        address = trace.trace_address
        if address[:depth] != parent:
            break
        if len(address) > depth:
            transfer = get_transfer(trace)
            if transfer is not None:
                transfers.append(transfer)
    return transfers


def create_swap_from_pool_transfers(
    trace: ClassifiedTrace,
    recipient_address: str,
    prior_transfers: Sequence[Transfer],
    child_transfers: Sequence[Transfer],
) -> Swap | None:
    """The swap of a pool that is paid before or during the call and pays out during it.

    Token in: the ether sent with the call if any, else the last transfer to the pool before the
    call, else the last one during it. Token out: the single transfer from the pool to the
    recipient during the call; None when there is not exactly one.
    """
    call = trace.call
    pool_address = trace.to_address
    assert call is not None and pool_address is not None

    value = trace.value
    if value is not None and value > 0:
        transfers_to_pool = [build_eth_transfer(trace)]
    else:
        transfers_to_pool = filter_transfers(prior_transfers, to_address=pool_address)
        if not transfers_to_pool:
            transfers_to_pool = filter_transfers(child_transfers, to_address=pool_address)
    if not transfers_to_pool:
        return None

    transfers_out = filter_transfers(
        child_transfers, to_address=recipient_address, from_address=pool_address
    )
    if len(transfers_out) != 1:
        return None

    return _swap(trace, pool_address, transfers_to_pool[-1], transfers_out[0])


def create_swap_from_recipient_transfers(
    trace: ClassifiedTrace,
    pool_address: str,
    recipient_address: str,
    prior_transfers: Sequence[Transfer],
    child_transfers: Sequence[Transfer],
) -> Swap | None:
    """The swap of a pool that moves the recipient's tokens itself (Balancer-style).

    Needs exactly one transfer from the recipient (before or during the call) and exactly one to
    it during the call.
    """
    transfers_in = filter_transfers(
        [*prior_transfers, *child_transfers], from_address=recipient_address
    )
    transfers_out = filter_transfers(child_transfers, to_address=recipient_address)
    if len(transfers_in) != 1 or len(transfers_out) != 1:
        return None
    return _swap(trace, pool_address, transfers_in[0], transfers_out[0])


def _swap(
    trace: ClassifiedTrace, pool_address: str, transfer_in: Transfer, transfer_out: Transfer
) -> Swap:
    call = trace.call
    assert call is not None
    return Swap(
        abi_name=call.abi_name,
        transaction_hash=trace.transaction_hash,
        transaction_position=trace.transaction_position,
        block_number=trace.block_number,
        trace_address=trace.trace_address,
        contract_address=pool_address,
        from_address=transfer_in.from_address,
        to_address=transfer_out.to_address,
        token_in_address=transfer_in.token_address,
        token_in_amount=transfer_in.amount,
        token_out_address=transfer_out.token_address,
        token_out_amount=transfer_out.amount,
        protocol=call.protocol,
        error=trace.error,
    )
