"""Sandwiches: a swap, others' swaps the same way on the same pool, then the reverse swap.

A port of mev-inspect-py's `sandwiches.py`. The sandwicher is whoever received the frontrun's
output; the backrun is the first later swap from them on the same pool in the opposite
direction, and at least one swap by someone else in the frontrun's direction must lie between.
Profit is the backrun's output minus the frontrun's input, in the frontrun's input token, even
when the two legs differ in size (mev-inspect-py does not pro-rate).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from monmouth.plugins.mev.swaps import Swap

UNISWAP_V2_ROUTER = "0x7a250d5630b4cf539739df2c5dacb4c659f2488d"
UNISWAP_V3_ROUTER = "0xe592427a0aece92de3edee1f18e0157c05861564"
UNISWAP_V3_ROUTER_2 = "0x68b3465833fb72a70ecdf485e0e4c7bd8665fc45"

# Routers receive the output of ordinary users' multi-hop swaps: three such swaps in a row look
# like a sandwich by the router, so mev-inspect-py never takes one as a sandwicher.
_ROUTERS = frozenset((UNISWAP_V2_ROUTER, UNISWAP_V3_ROUTER, UNISWAP_V3_ROUTER_2))


class Sandwich(msgspec.Struct, frozen=True, kw_only=True):
    """One sandwich, with mev-inspect-py's field names.

    :ivar sandwiched_swaps: the victims' swaps, in block order.
    :ivar profit_amount: may be negative.
    """

    block_number: int
    sandwicher_address: str
    frontrun_swap: Swap
    backrun_swap: Swap
    sandwiched_swaps: tuple[Swap, ...]
    profit_token_address: str
    profit_amount: int


def get_sandwiches(swaps: Iterable[Swap]) -> list[Sandwich]:
    """Every sandwich among a block's swaps, in the block order of their frontruns.

    A swap may be the backrun of one sandwich and the frontrun of another, as in mev-inspect-py.
    """
    ordered = sorted(swaps, key=lambda swap: (swap.transaction_position, swap.trace_address))
    sandwiches: list[Sandwich] = []
    for index, swap in enumerate(ordered):
        sandwich = _get_sandwich_starting_with_swap(swap, ordered[index + 1 :])
        if sandwich is not None:
            sandwiches.append(sandwich)
    return sandwiches


def _get_sandwich_starting_with_swap(front: Swap, rest: Sequence[Swap]) -> Sandwich | None:
    sandwicher = front.to_address
    if sandwicher in _ROUTERS:
        return None
    sandwiched: list[Swap] = []
    for other in rest:
        if other.transaction_hash == front.transaction_hash:
            continue
        if other.contract_address != front.contract_address:
            continue
        if (
            other.token_in_address == front.token_in_address
            and other.token_out_address == front.token_out_address
            and other.from_address != sandwicher
        ):
            sandwiched.append(other)
        elif (
            other.token_out_address == front.token_in_address
            and other.token_in_address == front.token_out_address
            and other.from_address == sandwicher
            and sandwiched
        ):
            return Sandwich(
                block_number=front.block_number,
                sandwicher_address=sandwicher,
                frontrun_swap=front,
                backrun_swap=other,
                sandwiched_swaps=tuple(sandwiched),
                profit_token_address=front.token_in_address,
                profit_amount=other.token_out_amount - front.token_in_amount,
            )
    return None
