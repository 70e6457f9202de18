"""Bancor: `convertByPath` on the Bancor network contract.

The network moves the caller's tokens itself, so the swap is the single transfer from the caller
(before or during the call) and the single transfer back to it during the call.
"""

from __future__ import annotations

from collections.abc import Sequence

from monmouth.plugins.mev.classifiers.abi import function
from monmouth.plugins.mev.classifiers.base import ClassifiedTrace, ClassifierSpec, SwapClassifier
from monmouth.plugins.mev.swaps import Swap, create_swap_from_recipient_transfers
from monmouth.plugins.mev.transfers import Transfer

BANCOR_NETWORK_ABI_NAME = "BancorNetwork"
BANCOR_PROTOCOL = "bancor"
# mev-inspect-py writes this address checksummed into `contract_address`, the one address in its
# output that is not lower-case; here it is lower-case like every other. Nothing it is compared
# with in sandwich or arbitrage detection is checksummed, so no result depends on the case.
BANCOR_NETWORK_CONTRACT_ADDRESS = "0x2f9ec37d6ccfff1cab21733bdadede11c823ccb0"

CONVERT_BY_PATH = function(
    "convertByPath",
    "0xb77d239b",
    ("_path", "address[]"),
    ("_amount", "uint256"),
    ("_minReturn", "uint256"),
    ("_beneficiary", "address"),
    ("_affiliateAccount", "address"),
    ("_affiliateFee", "uint256"),
)


class BancorSwapClassifier(SwapClassifier):
    """A conversion by the network on behalf of the caller."""

    def parse_swap(
        self,
        trace: ClassifiedTrace,
        prior_transfers: Sequence[Transfer],
        child_transfers: Sequence[Transfer],
    ) -> Swap | None:
        recipient = trace.from_address
        assert recipient is not None
        return create_swap_from_recipient_transfers(
            trace, BANCOR_NETWORK_CONTRACT_ADDRESS, recipient, prior_transfers, child_transfers
        )


BANCOR_NETWORK_SPEC = ClassifierSpec(
    abi_name=BANCOR_NETWORK_ABI_NAME,
    protocol=BANCOR_PROTOCOL,
    functions=(CONVERT_BY_PATH,),
    classifiers={CONVERT_BY_PATH.signature: BancorSwapClassifier()},
    valid_contract_addresses=frozenset((BANCOR_NETWORK_CONTRACT_ADDRESS,)),
)

BANCOR_CLASSIFIER_SPECS: tuple[ClassifierSpec, ...] = (BANCOR_NETWORK_SPEC,)
