"""Uniswap V3 pools.

The pool sends the token out to `recipient` first and is paid inside the callback it makes to
the caller, so the token in is usually a transfer below the swap call; mev-inspect-py still
prefers a transfer to the pool earlier in the transaction when there is one, and so does this.
"""

from __future__ import annotations

from collections.abc import Sequence

from monmouth.plugins.mev.classifiers.abi import function
from monmouth.plugins.mev.classifiers.base import ClassifiedTrace, ClassifierSpec, SwapClassifier
from monmouth.plugins.mev.swaps import Swap, create_swap_from_pool_transfers
from monmouth.plugins.mev.transfers import Transfer

UNISWAP_V3_POOL_ABI_NAME = "UniswapV3Pool"
UNISWAP_V3_PROTOCOL = "uniswap_v3"

SWAP = function(
    "swap",
    "0x128acb08",
    ("recipient", "address"),
    ("zeroForOne", "bool"),
    ("amountSpecified", "int256"),
    ("sqrtPriceLimitX96", "uint160"),
    ("data", "bytes"),
)


class UniswapV3SwapClassifier(SwapClassifier):
    """A pool's `swap`: paying out to `recipient`, paid by a transfer to the pool."""

    def parse_swap(
        self,
        trace: ClassifiedTrace,
        prior_transfers: Sequence[Transfer],
        child_transfers: Sequence[Transfer],
    ) -> Swap | None:
        call = trace.call
        assert call is not None
        recipient = call.address_input("recipient")
        return create_swap_from_pool_transfers(trace, recipient, prior_transfers, child_transfers)


UNISWAP_V3_POOL_SPEC = ClassifierSpec(
    abi_name=UNISWAP_V3_POOL_ABI_NAME,
    protocol=UNISWAP_V3_PROTOCOL,
    functions=(SWAP,),
    classifiers={SWAP.signature: UniswapV3SwapClassifier()},
)
