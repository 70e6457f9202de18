"""Balancer V1 pools (`BPool`): `swapExactAmountIn` and `swapExactAmountOut`, on any contract.

The pool pulls the token in from the caller and pays the token out back to the caller, so the
recipient is the caller. (mev-inspect-py classifies no Balancer V2 vault swaps.)
"""

from __future__ import annotations

from collections.abc import Sequence

from monmouth.plugins.mev.classifiers.abi import function
from monmouth.plugins.mev.classifiers.base import ClassifiedTrace, ClassifierSpec, SwapClassifier
from monmouth.plugins.mev.swaps import Swap, create_swap_from_pool_transfers
from monmouth.plugins.mev.transfers import Transfer

BALANCER_V1_POOL_ABI_NAME = "BPool"
BALANCER_V1_PROTOCOL = "balancer_v1"

SWAP_EXACT_AMOUNT_IN = function(
    "swapExactAmountIn",
    "0x8201aa3f",
    ("tokenIn", "address"),
    ("tokenAmountIn", "uint256"),
    ("tokenOut", "address"),
    ("minAmountOut", "uint256"),
    ("maxPrice", "uint256"),
)
SWAP_EXACT_AMOUNT_OUT = function(
    "swapExactAmountOut",
    "0x7c5e9ea4",
    ("tokenIn", "address"),
    ("maxAmountIn", "uint256"),
    ("tokenOut", "address"),
    ("tokenAmountOut", "uint256"),
    ("maxPrice", "uint256"),
)


class BalancerSwapClassifier(SwapClassifier):
    """A BPool swap, paying out to the caller."""

    def parse_swap(
        self,
        trace: ClassifiedTrace,
        prior_transfers: Sequence[Transfer],
        child_transfers: Sequence[Transfer],
    ) -> Swap | None:
        recipient = trace.from_address
        assert recipient is not None
        return create_swap_from_pool_transfers(trace, recipient, prior_transfers, child_transfers)


_CLASSIFIER = BalancerSwapClassifier()

BALANCER_V1_SPEC = ClassifierSpec(
    abi_name=BALANCER_V1_POOL_ABI_NAME,
    protocol=BALANCER_V1_PROTOCOL,
    functions=(SWAP_EXACT_AMOUNT_IN, SWAP_EXACT_AMOUNT_OUT),
    classifiers={
        SWAP_EXACT_AMOUNT_IN.signature: _CLASSIFIER,
        SWAP_EXACT_AMOUNT_OUT.signature: _CLASSIFIER,
    },
)

BALANCER_CLASSIFIER_SPECS: tuple[ClassifierSpec, ...] = (BALANCER_V1_SPEC,)
