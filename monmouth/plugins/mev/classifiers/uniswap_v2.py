"""Uniswap V2 pairs (and every fork with the same `swap`: SushiSwap and the like).

mev-inspect-py's `UniswapV2Pair` spec applies to every contract and labels all its swaps
`uniswap_v2`, forks included. The recipient is the `to` argument; the token in is whatever was
sent to the pair before the call (or during it, for flash swaps).
"""

from __future__ import annotations

from collections.abc import Sequence

from monmouth.plugins.mev.classifiers.abi import function
from monmouth.plugins.mev.classifiers.base import ClassifiedTrace, ClassifierSpec, SwapClassifier
from monmouth.plugins.mev.swaps import Swap, create_swap_from_pool_transfers
from monmouth.plugins.mev.transfers import Transfer

UNISWAP_V2_PAIR_ABI_NAME = "UniswapV2Pair"
UNISWAP_V2_PROTOCOL = "uniswap_v2"

SWAP = function(
    "swap",
    "0x022c0d9f",
    ("amount0Out", "uint256"),
    ("amount1Out", "uint256"),
    ("to", "address"),
    ("data", "bytes"),
)


class UniswapV2SwapClassifier(SwapClassifier):
    """A pair's `swap`: paid by a transfer to the pair, paying out to `to`."""

    def parse_swap(
        self,
        trace: ClassifiedTrace,
        prior_transfers: Sequence[Transfer],
        child_transfers: Sequence[Transfer],
    ) -> Swap | None:
        call = trace.call
        assert call is not None
        recipient = call.address_input("to")
        return create_swap_from_pool_transfers(trace, recipient, prior_transfers, child_transfers)


UNISWAP_V2_PAIR_SPEC = ClassifierSpec(
    abi_name=UNISWAP_V2_PAIR_ABI_NAME,
    protocol=UNISWAP_V2_PROTOCOL,
    functions=(SWAP,),
    classifiers={SWAP.signature: UniswapV2SwapClassifier()},
)
