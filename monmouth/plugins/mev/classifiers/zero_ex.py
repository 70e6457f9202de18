"""0x native orders: limit and RFQ order fills on the 0x exchange proxy.

mev-inspect-py reads these swaps from the order itself rather than from pool transfers: the token
in is the order's taker token, for the fill amount the call asks for; the token out is the maker
token, for the amount the child transfers pay the order's taker (or, for an order open to any
taker, the first child transfer of the maker token). The swap's `from_address` is the caller and
its `to_address` and `contract_address` the proxy.

Both the public fill and the internal `_fill...` call the proxy makes to itself are swaps, as in
mev-inspect-py.
"""

from __future__ import annotations

from collections.abc import Sequence

from monmouth.plugins.mev.classifiers.abi import AbiValue, function
from monmouth.plugins.mev.classifiers.base import ClassifiedTrace, ClassifierSpec, SwapClassifier
from monmouth.plugins.mev.swaps import Swap
from monmouth.plugins.mev.transfers import Transfer

ZERO_EX_PROTOCOL = "0x"
NATIVE_ORDERS_ABI_NAME = "INativeOrdersFeature"
EXCHANGE_PROXY_ADDRESS = "0xdef1c0ded9bec7f1a1670819833240f027b25eff"
ANY_TAKER_ADDRESS = "0x0000000000000000000000000000000000000000"

_LIMIT_ORDER = (
    "(address,address,uint128,uint128,uint128,address,address,address,address,"
    "bytes32,uint64,uint256)"
)
_RFQ_ORDER = "(address,address,uint128,uint128,address,address,address,bytes32,uint64,uint256)"
_SIGNATURE = "(uint8,uint8,bytes32,bytes32)"
# Where the taker is in each kind of order tuple.
_LIMIT_TAKER_INDEX = 6
_RFQ_TAKER_INDEX = 5

FILL_LIMIT_ORDER = function(
    "fillLimitOrder",
    "0xf6274f66",
    ("order", _LIMIT_ORDER),
    ("signature", _SIGNATURE),
    ("takerTokenFillAmount", "uint128"),
)
FILL_OR_KILL_LIMIT_ORDER = function(
    "fillOrKillLimitOrder",
    "0x9240529c",
    ("order", _LIMIT_ORDER),
    ("signature", _SIGNATURE),
    ("takerTokenFillAmount", "uint128"),
)
INTERNAL_FILL_LIMIT_ORDER = function(
    "_fillLimitOrder",
    "0x414e4ccf",
    ("order", _LIMIT_ORDER),
    ("signature", _SIGNATURE),
    ("takerTokenFillAmount", "uint128"),
    ("taker", "address"),
    ("sender", "address"),
)
FILL_RFQ_ORDER = function(
    "fillRfqOrder",
    "0xaa77476c",
    ("order", _RFQ_ORDER),
    ("signature", _SIGNATURE),
    ("takerTokenFillAmount", "uint128"),
)
INTERNAL_FILL_RFQ_ORDER = function(
    "_fillRfqOrder",
    "0xaa6b21cd",
    ("order", _RFQ_ORDER),
    ("signature", _SIGNATURE),
    ("takerTokenFillAmount", "uint128"),
    ("taker", "address"),
    ("useSelfBalance", "bool"),
    ("recipient", "address"),
)

_LIMIT_SIGNATURES = frozenset(
    fn.signature for fn in (FILL_LIMIT_ORDER, FILL_OR_KILL_LIMIT_ORDER, INTERNAL_FILL_LIMIT_ORDER)
)


class ZeroExSwapClassifier(SwapClassifier):
    """An order fill; None when fewer than two transfers settle it."""

    def parse_swap(
        self,
        trace: ClassifiedTrace,
        prior_transfers: Sequence[Transfer],
        child_transfers: Sequence[Transfer],
    ) -> Swap | None:
        call = trace.call
        assert call is not None and trace.to_address is not None and trace.from_address is not None
        if len(child_transfers) < 2:
            return None
        order = call.inputs["order"]
        assert isinstance(order, tuple)
        maker_token = _address(order[0])
        taker_index = (
            _LIMIT_TAKER_INDEX if call.function_signature in _LIMIT_SIGNATURES else _RFQ_TAKER_INDEX
        )
        token_out_amount = _taker_token_transfer_amount(
            trace, _address(order[taker_index]), maker_token, child_transfers
        )
        if token_out_amount is None:
            return None
        return Swap(
            abi_name=call.abi_name,
            transaction_hash=trace.transaction_hash,
            transaction_position=trace.transaction_position,
            block_number=trace.block_number,
            trace_address=trace.trace_address,
            contract_address=trace.to_address,
            from_address=trace.from_address,
            to_address=trace.to_address,
            token_in_address=_address(order[1]),
            token_in_amount=call.int_input("takerTokenFillAmount"),
            token_out_address=maker_token,
            token_out_amount=token_out_amount,
            protocol=ZERO_EX_PROTOCOL,
            error=trace.error,
        )


def _taker_token_transfer_amount(
    trace: ClassifiedTrace,
    taker_address: str,
    token_address: str,
    child_transfers: Sequence[Transfer],
) -> int | None:
    # A failed fill moved nothing: mev-inspect-py reports the swap with 0 out.
    if trace.error is not None:
        return 0
    if taker_address == ANY_TAKER_ADDRESS:
        for transfer in child_transfers:
            if transfer.token_address == token_address:
                return transfer.amount
    else:
        for transfer in child_transfers:
            if transfer.to_address == taker_address:
                return transfer.amount
    # mev-inspect-py raises here and loses the whole block; this port drops the swap instead.
    return None


def _address(value: AbiValue) -> str:
    assert isinstance(value, str)
    return value


_CLASSIFIER = ZeroExSwapClassifier()
_FILLS = (
    FILL_OR_KILL_LIMIT_ORDER,
    FILL_RFQ_ORDER,
    FILL_LIMIT_ORDER,
    INTERNAL_FILL_RFQ_ORDER,
    INTERNAL_FILL_LIMIT_ORDER,
)

NATIVE_ORDERS_SPEC = ClassifierSpec(
    abi_name=NATIVE_ORDERS_ABI_NAME,
    protocol=ZERO_EX_PROTOCOL,
    functions=_FILLS,
    classifiers={fn.signature: _CLASSIFIER for fn in _FILLS},
    valid_contract_addresses=frozenset((EXCHANGE_PROXY_ADDRESS,)),
)

# mev-inspect-py's other 0x specs classify nothing; the proxy's own ABI (tried first at the same
# address) has none of the fill functions, so leaving them out changes no classification.
ZERO_EX_CLASSIFIER_SPECS: tuple[ClassifierSpec, ...] = (NATIVE_ORDERS_SPEC,)
