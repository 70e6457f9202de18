"""Arbitrages: swaps within one transaction that cycle a token back to the account it left.

A port of mev-inspect-py's `arbitrages.py`, choices and quirks included:

- a route starts with a swap whose sender is not a pool of the transaction and ends with a swap,
  on another pool, paying the start's token back to that sender;
- consecutive swaps must hand over the same token, the next one taking from where the previous
  one paid out (pool to pool, or via the account), and amounts that agree within 1 %;
- for each start, in swap order, the shortest route is kept; a swap used by one route is not
  reused by later ones;
- when a transaction has several routes, only those whose first swap comes before their last in
  trace order are kept (a lone route is kept whatever its order).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby

import msgspec

from monmouth.plugins.mev.swaps import Swap

MAX_TOKEN_AMOUNT_PERCENT_DIFFERENCE = 0.01
"""How far apart, relatively, one swap's output and the next swap's input may be."""


class Arbitrage(msgspec.Struct, frozen=True, kw_only=True):
    """One arbitrage, with mev-inspect-py's field names.

    :ivar swaps: the route, in order.
    :ivar account_address: the first swap's sender, who gets the profit.
    :ivar profit_amount: `end_amount - start_amount`, in the first swap's input token; may be
        negative.
    :ivar error: the error of the last swap in the route that has one, else None.
    """

    swaps: tuple[Swap, ...]
    block_number: int
    transaction_hash: str
    account_address: str
    profit_token_address: str
    start_amount: int
    end_amount: int
    profit_amount: int
    error: str | None


def get_arbitrages(swaps: Iterable[Swap]) -> list[Arbitrage]:
    """Every arbitrage among a block's swaps, by transaction hash (as strings).

    Within one transaction, swaps are taken in the order given: pass `get_swaps`' output as is.
    """
    by_hash = sorted(swaps, key=lambda swap: swap.transaction_hash)
    arbitrages: list[Arbitrage] = []
    for _, transaction_swaps in groupby(by_hash, key=lambda swap: swap.transaction_hash):
        arbitrages += _get_arbitrages_from_swaps(list(transaction_swaps))
    return arbitrages


def _get_arbitrages_from_swaps(swaps: list[Swap]) -> list[Arbitrage]:
    arbitrages: list[Arbitrage] = []
    used: list[Swap] = []
    for start, ends in _get_all_start_end_swaps(swaps):
        if start in used:
            continue
        unused_ends = [end for end in ends if end not in used]
        route = _get_shortest_route(start, unused_ends, swaps)
        if route is None:
            continue
        error = None
        for swap in route:
            if swap.error is not None:
                error = swap.error
        start_amount = route[0].token_in_amount
        end_amount = route[-1].token_out_amount
        arbitrages.append(
            Arbitrage(
                swaps=tuple(route),
                block_number=route[0].block_number,
                transaction_hash=route[0].transaction_hash,
                account_address=route[0].from_address,
                profit_token_address=route[0].token_in_address,
                start_amount=start_amount,
                end_amount=end_amount,
                profit_amount=end_amount - start_amount,
                error=error,
            )
        )
        used.extend(route)
    if len(arbitrages) == 1:
        return arbitrages
    return [arb for arb in arbitrages if arb.swaps[0].trace_address < arb.swaps[-1].trace_address]


def _get_all_start_end_swaps(swaps: Sequence[Swap]) -> list[tuple[Swap, list[Swap]]]:
    """Each possible opening swap, in order, with its possible closing swaps, in order."""
    pool_addresses = {swap.contract_address for swap in swaps}
    starts: list[tuple[Swap, list[Swap]]] = []
    for index, start in enumerate(swaps):
        if start.from_address in pool_addresses:
            continue
        ends = [
            end
            for end in (*swaps[:index], *swaps[index + 1 :])
            if start.token_in_address == end.token_out_address
            and start.contract_address != end.contract_address
            and start.from_address == end.to_address
        ]
        if ends:
            starts.append((start, ends))
    return starts


def _get_shortest_route(
    start: Swap,
    ends: Sequence[Swap],
    all_swaps: Sequence[Swap],
    max_route_length: int | None = None,
) -> list[Swap] | None:
    """The shortest chain from `start` to one of `ends`; the first found among equals."""
    if not ends:
        return None
    if max_route_length is not None and max_route_length < 2:
        return None
    for end in ends:
        if _swap_outs_match_swap_ins(start, end):
            return [start, end]
    if max_route_length == 2:
        return None

    others = [swap for swap in all_swaps if swap is not start and swap not in ends]
    if not others:
        return None

    shortest: list[Swap] | None = None
    max_remaining = None if max_route_length is None else max_route_length - 1
    for next_swap in others:
        if not _swap_outs_match_swap_ins(start, next_swap):
            continue
        from_next = _get_shortest_route(next_swap, ends, others, max_route_length=max_remaining)
        if from_next is not None and (shortest is None or len(from_next) < len(shortest)):
            shortest = from_next
            # Only a strictly shorter route can replace this one.
            max_remaining = len(from_next) - 1
    return None if shortest is None else [start, *shortest]


def _swap_outs_match_swap_ins(swap_out: Swap, swap_in: Swap) -> bool:
    return (
        swap_out.token_out_address == swap_in.token_in_address
        and (
            swap_out.contract_address == swap_in.from_address
            or swap_out.to_address == swap_in.contract_address
            or swap_out.to_address == swap_in.from_address
        )
        and equal_within_percent(
            swap_out.token_out_amount,
            swap_in.token_in_amount,
            MAX_TOKEN_AMOUNT_PERCENT_DIFFERENCE,
        )
    )


def equal_within_percent(first: int, second: int, threshold: float) -> bool:
    """Whether `|first - second| / mean(first, second) < threshold`, in floating point.

    mev-inspect-py computes it in floats, and so does this, so borderline cases decide alike. It
    divides by zero when both are 0; here two zero amounts are simply not equal (no route goes
    through an empty swap).
    """
    mean = 0.5 * (first + second)
    if mean == 0:
        return False
    return abs((first - second) / mean) < threshold
