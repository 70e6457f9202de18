"""Curve StableSwap pools: `exchange` and `exchange_underlying` on the pools mev-inspect-py lists.

Only calls to the listed pool addresses count (mev-inspect-py's Curve specs are address-bound),
each pool under its own ABI name. The recipient is always the caller, and the token in is found
like a Uniswap pool's: ether sent with the call, else the last transfer to the pool before or
during it.
"""

from __future__ import annotations

from collections.abc import Sequence

from monmouth.plugins.mev.classifiers.abi import function
from monmouth.plugins.mev.classifiers.base import ClassifiedTrace, ClassifierSpec, SwapClassifier
from monmouth.plugins.mev.swaps import Swap, create_swap_from_pool_transfers
from monmouth.plugins.mev.transfers import Transfer

CURVE_PROTOCOL = "curve"

EXCHANGE = function(
    "exchange",
    "0x3df02124",
    ("i", "int128"),
    ("j", "int128"),
    ("dx", "uint256"),
    ("min_dy", "uint256"),
)
EXCHANGE_UNDERLYING = function(
    "exchange_underlying",
    "0xa6417ed6",
    ("i", "int128"),
    ("j", "int128"),
    ("dx", "uint256"),
    ("min_dy", "uint256"),
)


class CurveSwapClassifier(SwapClassifier):
    """A pool's exchange, paying out to the caller."""

    def parse_swap(
        self,
        trace: ClassifiedTrace,
        prior_transfers: Sequence[Transfer],
        child_transfers: Sequence[Transfer],
    ) -> Swap | None:
        recipient = trace.from_address
        assert recipient is not None
        return create_swap_from_pool_transfers(trace, recipient, prior_transfers, child_transfers)


_CLASSIFIER = CurveSwapClassifier()

# (ABI name, pool addresses, whether the pool's `exchange_underlying` is classified too), in
# mev-inspect-py's order: base pools, then meta pools.
_POOLS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("StableSwap3Pool", ("0xbEbc44782C7dB0a1A60Cb6fe97d0b483032FF1C7",), False),
    ("StableSwapAAVE", ("0xDeBF20617708857ebe4F679508E7b7863a8A8EeE",), True),
    ("StableSwapAETH", ("0xA96A65c051bF88B4095Ee1f2451C2A9d43F53Ae2",), False),
    ("StableSwapBUSD", ("0x79a8C46DeA5aDa233ABaFFD40F3A0A2B1e5A4F27",), True),
    ("StableSwapCompound", ("0xA2B47E3D5c44877cca798226B7B8118F9BFb7A56",), True),
    ("StableSwapEURS", ("0x0Ce6a5fF5217e38315f87032CF90686C96627CAA",), False),
    ("StableSwaphBTC", ("0x4CA9b3063Ec5866A4B82E437059D2C43d1be596F",), False),
    ("StableSwapIronBank", ("0x2dded6Da1BF5DBdF597C45fcFaa3194e53EcfeAF",), True),
    ("StableSwapLink", ("0xf178c0b5bb7e7abf4e12a4838c7b7c5ba2c623c0",), False),
    ("StableSwapPAX", ("0x06364f10B501e868329afBc005b3492902d6C763",), True),
    ("StableSwaprenBTC", ("0x93054188d876f558f4a66B2EF1d97d16eDf0895B",), False),
    ("StableSwaprETH", ("0xF9440930043eb3997fc70e1339dBb11F341de7A8",), False),
    ("StableSwapsAAVE", ("0xEB16Ae0052ed37f479f7fe63849198Df1765a733",), True),
    ("StableSwapsBTC", ("0x7fC77b5c7614E1533320Ea6DDc2Eb61fa00A9714",), False),
    ("StableSwapsETH", ("0xc5424B857f758E906013F3555Dad202e4bdB4567",), False),
    ("StableSwapstETH", ("0xDC24316b9AE028F1497c275EB9192a3Ea0f67022",), False),
    ("StableSwapsUSD", ("0xA5407eAE9Ba41422680e2e00537571bcC53efBfD",), True),
    ("StableSwapUSDT", ("0x52EA46506B9CC5Ef470C5bf89f17Dc28bB35D85C",), True),
    ("StableSwapY", ("0x45F783CCE6B7FF23B2ab2D70e416cdb7D6055f51",), True),
    ("StableSwapYv2", ("0x8925D9d9B4569D737a48499DeF3f67BaA5a144b9",), True),
    ("StableSwapbBTC", ("0x071c661B4DeefB59E2a3DdB20Db036821eeE8F4b",), True),
    ("StableSwapDUSD", ("0x8038C01A0390a8c547446a0b2c18fc9aEFEcc10c",), True),
    ("StableSwapGUSD", ("0x4f062658EaAF2C1ccf8C8e36D6824CDf41167956",), True),
    ("StableSwapHUSD", ("0x3eF6A01A0f81D6046290f3e2A8c5b843e738E604",), True),
    ("StableSwapLinkUSD", ("0xE7a24EF0C5e95Ffb0f6684b813A78F2a3AD7D171",), True),
    ("StableSwapMUSD", ("0x8474DdbE98F5aA3179B3B3F5942D724aFcdec9f6",), True),
    ("StableSwapoBTC", ("0xd81dA8D904b52208541Bade1bD6595D8a251F8dd",), True),
    ("StableSwappBTC", ("0x7F55DDe206dbAD629C080068923b36fe9D6bDBeF",), True),
    ("StableSwapRSV", ("0xC18cC39da8b11dA8c3541C598eE022258F9744da",), True),
    ("StableSwaptBTC", ("0xC25099792E9349C7DD09759744ea681C7de2cb66",), True),
    (
        "StableSwapUSD",
        (
            "0x3E01dD8a5E1fb3481F0F589056b428Fc308AF0Fb",
            "0x0f9cb53Ebe405d49A0bbdBD291A65Ff571bC83e1",
        ),
        True,
    ),
    ("StableSwapUSDP", ("0x42d7025938bEc20B69cBae5A77421082407f053A",), True),
    ("StableSwapUST", ("0x890f4e345B1dAED0367A877a1612f86A1f86985f",), True),
)


def _pool_spec(abi_name: str, addresses: tuple[str, ...], underlying: bool) -> ClassifierSpec:
    functions = (EXCHANGE, EXCHANGE_UNDERLYING) if underlying else (EXCHANGE,)
    return ClassifierSpec(
        abi_name=abi_name,
        protocol=CURVE_PROTOCOL,
        functions=functions,
        classifiers={fn.signature: _CLASSIFIER for fn in functions},
        valid_contract_addresses=frozenset(address.lower() for address in addresses),
    )


# mev-inspect-py's other Curve specs (LP tokens, deposit zaps) classify nothing and are bound to
# addresses where no other classified function is called, so they are left out.
CURVE_CLASSIFIER_SPECS: tuple[ClassifierSpec, ...] = tuple(
    _pool_spec(abi_name, addresses, underlying) for abi_name, addresses, underlying in _POOLS
)
