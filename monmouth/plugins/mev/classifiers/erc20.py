"""ERC-20 `transfer` and `transferFrom`: the token movements swaps are built from.

mev-inspect-py's ERC20 spec is the first one tried and applies to every contract, so any call
with one of these selectors whose arguments decode is a transfer of the called contract's token,
whatever that contract really is. WETH's own spec comes later and never sees these two functions.
"""

from __future__ import annotations

from monmouth.plugins.mev.classifiers.abi import function
from monmouth.plugins.mev.classifiers.base import (
    ClassifiedTrace,
    ClassifierSpec,
    TransferClassifier,
)
from monmouth.plugins.mev.transfers import Transfer

ERC20_ABI_NAME = "ERC20"

TRANSFER = function("transfer", "0xa9059cbb", ("recipient", "address"), ("amount", "uint256"))
TRANSFER_FROM = function(
    "transferFrom",
    "0x23b872dd",
    ("sender", "address"),
    ("recipient", "address"),
    ("amount", "uint256"),
)


class ERC20TransferClassifier(TransferClassifier):
    """`amount` of the called token to `recipient`, from `sender` or else from the caller."""

    def get_transfer(self, trace: ClassifiedTrace) -> Transfer:
        call = trace.call
        assert call is not None and trace.to_address is not None
        from_address = (
            call.address_input("sender") if "sender" in call.inputs else trace.from_address
        )
        assert from_address is not None
        return Transfer(
            block_number=trace.block_number,
            transaction_hash=trace.transaction_hash,
            trace_address=trace.trace_address,
            amount=call.int_input("amount"),
            to_address=call.address_input("recipient"),
            from_address=from_address,
            token_address=trace.to_address,
        )


_TRANSFER_CLASSIFIER = ERC20TransferClassifier()

ERC20_SPEC = ClassifierSpec(
    abi_name=ERC20_ABI_NAME,
    protocol=None,
    functions=(TRANSFER, TRANSFER_FROM),
    classifiers={
        TRANSFER.signature: _TRANSFER_CLASSIFIER,
        TRANSFER_FROM.signature: _TRANSFER_CLASSIFIER,
    },
)

ERC20_CLASSIFIER_SPECS: tuple[ClassifierSpec, ...] = (ERC20_SPEC,)
