"""What a classifier is, and what classifying a trace gives.

A `ClassifierSpec` describes one ABI: the functions it can decode, optionally the only contract
addresses it applies to, and per function signature the classifier that turns a decoded call into
a transfer or a swap. Specs are tried in a fixed order and the first one that decodes a call
claims it (see `registry`), exactly as mev-inspect-py's `TraceClassifier` does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias

import msgspec

from monmouth.plugins.mev.classifiers.abi import AbiFunction, AbiValue
from monmouth.plugins.mev.traces import Trace

if TYPE_CHECKING:
    # Only for annotations: swaps and transfers import this module at run time.
    from monmouth.plugins.mev.swaps import Swap
    from monmouth.plugins.mev.transfers import Transfer

Classification: TypeAlias = Literal["unknown", "transfer", "swap"]


class TransferClassifier(ABC):
    """Turns a decoded call (an ERC-20 `transfer`, say) into the token transfer it makes."""

    classification: Classification = "transfer"

    @abstractmethod
    def get_transfer(self, trace: ClassifiedTrace) -> Transfer:
        """The transfer made by `trace`, whose `call` this classifier's spec decoded."""


class SwapClassifier(ABC):
    """Turns a decoded call to a pool into a swap, from the transfers around it."""

    classification: Classification = "swap"

    @abstractmethod
    def parse_swap(
        self,
        trace: ClassifiedTrace,
        prior_transfers: Sequence[Transfer],
        child_transfers: Sequence[Transfer],
    ) -> Swap | None:
        """The swap made by `trace`, or None when the transfers do not show one.

        :param prior_transfers: the transaction's transfers before `trace` in trace order.
        :param child_transfers: the transfers made inside `trace`.
        Both come without the transfers nested inside another transfer (proxy tokens).
        """


Classifier: TypeAlias = TransferClassifier | SwapClassifier


class ClassifierSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One ABI and how to classify the calls it decodes.

    :ivar abi_name: mev-inspect-py's name for the ABI (`UniswapV2Pair`, ...): it ends up in
        `Swap.abi_name`.
    :ivar protocol: the protocol label it gives swaps (`uniswap_v2`, ...), or None.
    :ivar functions: the functions this ABI declares that matter here. A function left out can
        only make a call fall through to the next spec, so every function that shadows a later
        spec's classified function must be listed.
    :ivar classifiers: by function signature, the classifier of that function's calls.
    :ivar valid_contract_addresses: when set, the spec applies only to calls to these addresses
        (lower-case).
    """

    abi_name: str
    protocol: str | None
    functions: tuple[AbiFunction, ...]
    classifiers: Mapping[str, Classifier] = msgspec.field(default_factory=dict)
    valid_contract_addresses: frozenset[str] | None = None


class DecodedCall(msgspec.Struct, frozen=True, kw_only=True):
    """A call decoded by one spec: which ABI and function, with the decoded arguments."""

    abi_name: str
    protocol: str | None
    function_name: str
    function_signature: str
    inputs: Mapping[str, AbiValue]
    classifier: Classifier | None

    @property
    def classification(self) -> Classification:
        """`transfer` or `swap` when the function has a classifier, else `unknown`."""
        return "unknown" if self.classifier is None else self.classifier.classification

    def address_input(self, name: str) -> str:
        """The `address` argument `name`; KeyError or TypeError when there is no such address."""
        value = self.inputs[name]
        if not isinstance(value, str):
            raise TypeError(f"{self.function_signature}: input {name!r} is not an address")
        return value

    def int_input(self, name: str) -> int:
        """The integer argument `name`; KeyError or TypeError when there is no such integer."""
        value = self.inputs[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{self.function_signature}: input {name!r} is not an integer")
        return value


class ClassifiedTrace(msgspec.Struct, frozen=True, kw_only=True):
    """A trace of one transaction, with its decoded call when a spec decoded it.

    :ivar block_number: the block the trace is in.
    :ivar call: None for traces that are not calls, and for calls no spec decodes.
    """

    trace: Trace
    block_number: int
    transaction_hash: str
    transaction_position: int
    call: DecodedCall | None = None

    @property
    def trace_address(self) -> tuple[int, ...]:
        return self.trace.trace_address

    @property
    def error(self) -> str | None:
        return self.trace.error

    @property
    def classification(self) -> Classification:
        return "unknown" if self.call is None else self.call.classification

    @property
    def to_address(self) -> str | None:
        """The callee of a call trace; None for other trace types."""
        return self.trace.action.to_address if self.trace.type == "call" else None

    @property
    def from_address(self) -> str | None:
        """The caller of a call trace; None for other trace types."""
        return self.trace.action.from_address if self.trace.type == "call" else None

    @property
    def value(self) -> int | None:
        """The wei sent by a call trace; None for other trace types (as mev-inspect-py has it)."""
        return self.trace.action.value if self.trace.type == "call" else None
