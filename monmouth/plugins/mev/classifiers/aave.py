"""Aave aTokens: `transferOnLiquidation` moves aTokens and counts as a transfer.

mev-inspect-py's aTokens spec applies to every contract. Its lending-pool spec classifies
liquidations, which this port does not report, so it is left out: its functions shadow no
transfer or swap of a later spec.
"""

from __future__ import annotations

from monmouth.plugins.mev.classifiers.abi import function
from monmouth.plugins.mev.classifiers.base import (
    ClassifiedTrace,
    ClassifierSpec,
    TransferClassifier,
)
from monmouth.plugins.mev.transfers import Transfer

AAVE_PROTOCOL = "aave"

TRANSFER_ON_LIQUIDATION = function(
    "transferOnLiquidation",
    "0xf866c319",
    ("from", "address"),
    ("to", "address"),
    ("value", "uint256"),
)


class AaveTransferClassifier(TransferClassifier):
    """`value` of the called aToken from `from` to `to`."""

    def get_transfer(self, trace: ClassifiedTrace) -> Transfer:
        call = trace.call
        assert call is not None and trace.to_address is not None
        return Transfer(
            block_number=trace.block_number,
            transaction_hash=trace.transaction_hash,
            trace_address=trace.trace_address,
            amount=call.int_input("value"),
            to_address=call.address_input("to"),
            from_address=call.address_input("from"),
            token_address=trace.to_address,
        )


ATOKENS_SPEC = ClassifierSpec(
    abi_name="aTokens",
    protocol=AAVE_PROTOCOL,
    functions=(TRANSFER_ON_LIQUIDATION,),
    classifiers={TRANSFER_ON_LIQUIDATION.signature: AaveTransferClassifier()},
)

AAVE_CLASSIFIER_SPECS: tuple[ClassifierSpec, ...] = (ATOKENS_SPEC,)
