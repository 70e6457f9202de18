"""The ordered list of classifier specs, and the trace classifier that applies it.

Order matters: each call is claimed by the first spec (in `ALL_CLASSIFIER_SPECS` order) that
applies to its callee and decodes its call data, as in mev-inspect-py's `TraceClassifier`. The
order here is mev-inspect-py's `ALL_CLASSIFIER_SPECS` order restricted to the protocols ported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monmouth.plugins.mev.classifiers.aave import AAVE_CLASSIFIER_SPECS
from monmouth.plugins.mev.classifiers.abi import AbiDecodeError, AbiFunction
from monmouth.plugins.mev.classifiers.balancer import BALANCER_CLASSIFIER_SPECS
from monmouth.plugins.mev.classifiers.bancor import BANCOR_CLASSIFIER_SPECS
from monmouth.plugins.mev.classifiers.base import ClassifiedTrace, ClassifierSpec, DecodedCall
from monmouth.plugins.mev.classifiers.curve import CURVE_CLASSIFIER_SPECS
from monmouth.plugins.mev.classifiers.erc20 import ERC20_CLASSIFIER_SPECS
from monmouth.plugins.mev.classifiers.uniswap_v2 import UNISWAP_V2_PAIR_SPEC
from monmouth.plugins.mev.classifiers.uniswap_v3 import UNISWAP_V3_POOL_SPEC
from monmouth.plugins.mev.classifiers.zero_ex import ZERO_EX_CLASSIFIER_SPECS
from monmouth.plugins.mev.traces import Trace

ALL_CLASSIFIER_SPECS: tuple[ClassifierSpec, ...] = (
    *ERC20_CLASSIFIER_SPECS,
    *CURVE_CLASSIFIER_SPECS,
    UNISWAP_V3_POOL_SPEC,
    UNISWAP_V2_PAIR_SPEC,
    *AAVE_CLASSIFIER_SPECS,
    *ZERO_EX_CLASSIFIER_SPECS,
    *BALANCER_CLASSIFIER_SPECS,
    *BANCOR_CLASSIFIER_SPECS,
)
"""Every spec, in the order calls are offered to them."""


class TraceClassifier:
    """Decodes and classifies the traces of a block against an ordered list of specs.

    Stateless after construction; one instance may be shared.
    """

    def __init__(self, specs: Sequence[ClassifierSpec] = ALL_CLASSIFIER_SPECS) -> None:
        self.specs = tuple(specs)
        # Per selector, the (spec, function) pairs in spec order: a call is only offered to the
        # specs whose ABI has its selector, which is all the others would decline anyway.
        self._by_selector: dict[bytes, list[tuple[ClassifierSpec, AbiFunction]]] = {}
        for spec in self.specs:
            for fn in spec.functions:
                self._by_selector.setdefault(fn.selector, []).append((spec, fn))

    def classify(self, traces: Iterable[Trace], block_number: int) -> list[ClassifiedTrace]:
        """Classify every trace but rewards, keeping their order.

        Raises ValueError for a trace other than a reward without a transaction hash or
        position: it cannot be placed in a transaction.
        """
        classified: list[ClassifiedTrace] = []
        for index, trace in enumerate(traces):
            if trace.type == "reward":
                continue
            tx_hash, position = trace.transaction_hash, trace.transaction_position
            if tx_hash is None or position is None:
                raise ValueError(
                    f"traces[{index}]: a {trace.type} trace needs transaction_hash and "
                    "transaction_position"
                )
            classified.append(
                ClassifiedTrace(
                    trace=trace,
                    block_number=block_number,
                    transaction_hash=tx_hash,
                    transaction_position=position,
                    call=self.decode_call(trace) if trace.type == "call" else None,
                )
            )
        return classified

    def decode_call(self, trace: Trace) -> DecodedCall | None:
        """The call decoded by the first spec that applies and decodes it, or None."""
        call_data = trace.action.input
        if call_data is None or len(call_data) < 4:
            return None
        candidates = self._by_selector.get(call_data[:4])
        if candidates is None:
            return None
        to_address = trace.action.to_address
        for spec, fn in candidates:
            valid = spec.valid_contract_addresses
            if valid is not None and to_address not in valid:
                continue
            try:
                inputs = fn.decode_inputs(call_data[4:])
            except AbiDecodeError:
                continue
            signature = fn.signature
            return DecodedCall(
                abi_name=spec.abi_name,
                protocol=spec.protocol,
                function_name=fn.name,
                function_signature=signature,
                inputs=inputs,
                classifier=spec.classifiers.get(signature),
            )
        return None


DEFAULT_CLASSIFIER = TraceClassifier()
"""A classifier over `ALL_CLASSIFIER_SPECS`."""
