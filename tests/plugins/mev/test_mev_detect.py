"""Swaps, transfers, sandwiches and arbitrages on hand-built traces and swaps."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode

from monmouth.plugins.mev import (
    ETH_TOKEN_ADDRESS,
    Action,
    Swap,
    Trace,
    Transfer,
    get_arbitrages,
    get_sandwiches,
    inspect_traces,
)
from monmouth.plugins.mev.arbitrages import equal_within_percent
from monmouth.plugins.mev.sandwiches import UNISWAP_V2_ROUTER
from monmouth.plugins.mev.transfers import remove_child_transfers_of_transfers

BLOCK = 1000


def addr(n: int) -> str:
    return "0x" + f"{n:040x}"


def tx_hash(n: int) -> str:
    return "0x" + f"{n:064x}"


USER, ROUTER, PAIR, POOL, TOKEN_A, TOKEN_B, IMPL, BOT, VICTIM = (addr(n) for n in range(1, 10))


def call(
    tx: int,
    address: tuple[int, ...],
    sender: str,
    to: str,
    data: bytes = b"",
    value: int = 0,
    *,
    error: str | None = None,
    call_type: str = "call",
) -> Trace:
    return Trace(
        action=Action(
            from_address=sender,
            to_address=to,
            call_type=call_type,
            gas=100_000,
            input=data,
            value=value,
        ),
        result=None,
        subtraces=0,
        trace_address=address,
        transaction_hash=tx_hash(tx),
        transaction_position=tx,
        type="call",
        error=error,
        block_number=BLOCK,
    )


def calldata(selector: str, types: list[str], values: list[Any]) -> bytes:
    return bytes.fromhex(selector) + encode(types, values)


def transfer(recipient: str, amount: int) -> bytes:
    return calldata("a9059cbb", ["address", "uint256"], [recipient, amount])


def transfer_from(sender: str, recipient: str, amount: int) -> bytes:
    return calldata("23b872dd", ["address", "address", "uint256"], [sender, recipient, amount])


def v2_swap(amount0_out: int, amount1_out: int, to: str) -> bytes:
    return calldata(
        "022c0d9f", ["uint256", "uint256", "address", "bytes"], [amount0_out, amount1_out, to, b""]
    )


def v3_swap(recipient: str, amount: int) -> bytes:
    return calldata(
        "128acb08",
        ["address", "bool", "int256", "uint160", "bytes"],
        [recipient, True, amount, 4295128740, b"\x00" * 40],
    )


def uniswap_v2_swap_traces(tx: int = 1) -> list[Trace]:
    """A router pays the pair from the user, then the pair pays the user."""
    return [
        call(tx, (), USER, ROUTER),
        call(tx, (0,), ROUTER, TOKEN_A, transfer_from(USER, PAIR, 100)),
        call(tx, (1,), ROUTER, PAIR, v2_swap(0, 200, USER)),
        call(tx, (1, 0), PAIR, TOKEN_B, transfer(USER, 200)),
    ]


def test_uniswap_v2_swap() -> None:
    result = inspect_traces(uniswap_v2_swap_traces(), BLOCK)
    assert result.swaps == (
        Swap(
            abi_name="UniswapV2Pair",
            transaction_hash=tx_hash(1),
            transaction_position=1,
            block_number=BLOCK,
            trace_address=(1,),
            contract_address=PAIR,
            from_address=USER,
            to_address=USER,
            token_in_address=TOKEN_A,
            token_in_amount=100,
            token_out_address=TOKEN_B,
            token_out_amount=200,
            protocol="uniswap_v2",
            error=None,
        ),
    )
    assert result.sandwiches == () and result.arbitrages == ()


def test_uniswap_v3_swap_paid_in_the_callback() -> None:
    traces = [
        call(2, (), USER, POOL, v3_swap(BOT, 100)),
        call(2, (0,), POOL, TOKEN_B, transfer(BOT, 50)),
        call(2, (1,), POOL, USER, bytes.fromhex("fa461e33") + bytes(96)),  # the swap callback
        call(2, (1, 0), USER, TOKEN_A, transfer(POOL, 100)),
    ]
    [swap] = inspect_traces(traces, BLOCK).swaps
    assert (swap.abi_name, swap.protocol, swap.contract_address) == (
        "UniswapV3Pool",
        "uniswap_v3",
        POOL,
    )
    assert (swap.from_address, swap.to_address) == (USER, BOT)
    assert (swap.token_in_address, swap.token_in_amount) == (TOKEN_A, 100)
    assert (swap.token_out_address, swap.token_out_amount) == (TOKEN_B, 50)


def test_a_proxy_token_transfer_counts_once() -> None:
    # The token delegates to its implementation with the same call data, which decodes as a
    # second transfer of the "token" IMPL; only the outer transfer is real.
    traces = uniswap_v2_swap_traces()
    traces.insert(
        2,
        call(1, (0, 0), TOKEN_A, IMPL, transfer_from(USER, PAIR, 100), call_type="delegatecall"),
    )
    [swap] = inspect_traces(traces, BLOCK).swaps
    assert swap.token_in_address == TOKEN_A


def test_remove_child_transfers_of_transfers() -> None:
    def t(address: tuple[int, ...], tx: int = 1) -> Transfer:
        return Transfer(
            block_number=BLOCK,
            transaction_hash=tx_hash(tx),
            trace_address=address,
            from_address=USER,
            to_address=PAIR,
            amount=1,
            token_address=TOKEN_A,
        )

    kept = remove_child_transfers_of_transfers([t((1, 0)), t((0, 0)), t((0,)), t((0, 0), tx=2)])
    assert [(x.transaction_hash, x.trace_address) for x in kept] == [
        (tx_hash(1), (0,)),
        (tx_hash(2), (0, 0)),
        (tx_hash(1), (1, 0)),
    ]


def test_ether_in_and_out() -> None:
    # A pool paid in ether with the call, paying ether back with a plain send.
    traces = [
        call(3, (), USER, PAIR, v2_swap(0, 7, USER), value=5),
        call(3, (0,), PAIR, TOKEN_B, transfer(USER, 7)),
        call(4, (), USER, PAIR, v2_swap(9, 0, USER)),
        call(4, (0,), USER, TOKEN_B, transfer(PAIR, 8)),
        call(4, (1,), PAIR, USER, b"", value=9),
    ]
    eth_in, eth_out = inspect_traces(traces, BLOCK).swaps
    assert (eth_in.token_in_address, eth_in.token_in_amount) == (ETH_TOKEN_ADDRESS, 5)
    assert (eth_out.token_out_address, eth_out.token_out_amount) == (ETH_TOKEN_ADDRESS, 9)


def test_a_transfer_that_does_not_decode_is_no_transfer() -> None:
    traces = uniswap_v2_swap_traces()
    data = bytearray(traces[1].action.input or b"")
    data[4] = 0xFF  # dirty the padding of `sender`: eth-abi rejects it, so does the port
    traces[1] = call(1, (0,), ROUTER, TOKEN_A, bytes(data))
    assert inspect_traces(traces, BLOCK).swaps == ()


def test_swaps_need_exactly_one_payout_to_the_recipient() -> None:
    traces = [*uniswap_v2_swap_traces(), call(1, (1, 1), PAIR, TOKEN_B, transfer(USER, 1))]
    assert inspect_traces(traces, BLOCK).swaps == ()


def test_reverted_swaps_are_kept_with_their_error() -> None:
    traces = uniswap_v2_swap_traces()
    traces[2] = call(1, (1,), ROUTER, PAIR, v2_swap(0, 200, USER), error="Reverted")
    [swap] = inspect_traces(traces, BLOCK).swaps
    assert swap.error == "Reverted"


def test_swaps_come_by_transaction_hash_whatever_the_trace_order() -> None:
    traces = [*uniswap_v2_swap_traces(tx=9), *uniswap_v2_swap_traces(tx=2)]
    result = inspect_traces(traces, BLOCK)
    assert [swap.transaction_hash for swap in result.swaps] == [tx_hash(2), tx_hash(9)]
    assert inspect_traces(reversed(traces), BLOCK) == result


def test_rewards_are_skipped_and_orphan_traces_rejected() -> None:
    reward = Trace(
        action=Action(author=BOT, reward_type="block", value=2),
        result=None,
        subtraces=0,
        trace_address=(),
        transaction_hash=None,
        transaction_position=None,
        type="reward",
        error=None,
    )
    assert inspect_traces([reward, *uniswap_v2_swap_traces()], BLOCK).swaps != ()
    orphan = Trace(
        action=Action(from_address=USER, to_address=PAIR, gas=0, input=b"", value=0),
        result=None,
        subtraces=0,
        trace_address=(),
        transaction_hash=None,
        transaction_position=None,
        type="call",
        error=None,
    )
    with pytest.raises(ValueError, match=r"traces\[0\]: a call trace needs transaction_hash"):
        inspect_traces([orphan], BLOCK)
    with pytest.raises(ValueError, match=r"traces\[0\]\.block_number: 1000, inspecting 7"):
        inspect_traces(uniswap_v2_swap_traces(), 7)


# --- sandwiches and arbitrages on swaps -------------------------------------------------------


def swap(
    tx: int,
    address: tuple[int, ...] = (0,),
    *,
    pool: str = PAIR,
    sender: str = BOT,
    recipient: str = BOT,
    token_in: str = TOKEN_A,
    amount_in: int = 100,
    token_out: str = TOKEN_B,
    amount_out: int = 200,
    error: str | None = None,
) -> Swap:
    return Swap(
        abi_name="UniswapV2Pair",
        transaction_hash=tx_hash(tx),
        transaction_position=tx,
        block_number=BLOCK,
        trace_address=address,
        contract_address=pool,
        from_address=sender,
        to_address=recipient,
        token_in_address=token_in,
        token_in_amount=amount_in,
        token_out_address=token_out,
        token_out_amount=amount_out,
        protocol="uniswap_v2",
        error=error,
    )


def test_sandwich() -> None:
    front = swap(1, amount_in=100, amount_out=200)
    victims = [
        swap(2, sender=VICTIM, recipient=VICTIM),
        swap(3, sender=USER, recipient=USER),
    ]
    back = swap(4, token_in=TOKEN_B, amount_in=200, token_out=TOKEN_A, amount_out=130)
    unrelated = swap(3, (1,), pool=POOL, sender=USER, recipient=USER)
    [sandwich] = get_sandwiches([back, unrelated, *victims, front])
    assert sandwich.sandwicher_address == BOT
    assert (sandwich.frontrun_swap, sandwich.backrun_swap) == (front, back)
    assert sandwich.sandwiched_swaps == tuple(victims)
    assert (sandwich.profit_token_address, sandwich.profit_amount) == (TOKEN_A, 30)


def test_no_sandwich_without_victims_or_by_a_router() -> None:
    back = swap(4, token_in=TOKEN_B, token_out=TOKEN_A)
    assert get_sandwiches([swap(1), back]) == []
    by_router = swap(1, recipient=UNISWAP_V2_ROUTER)
    router_back = swap(4, sender=UNISWAP_V2_ROUTER, token_in=TOKEN_B, token_out=TOKEN_A)
    assert get_sandwiches([by_router, swap(2, sender=VICTIM), router_back]) == []


def test_two_pool_arbitrage() -> None:
    first = swap(1, (0,), pool=PAIR, sender=BOT, recipient=POOL, amount_in=100, amount_out=200)
    second = swap(
        1,
        (1,),
        pool=POOL,
        sender=PAIR,
        recipient=BOT,
        token_in=TOKEN_B,
        amount_in=200,
        token_out=TOKEN_A,
        amount_out=150,
        error="Reverted",
    )
    [arbitrage] = get_arbitrages([first, second])
    assert arbitrage.swaps == (first, second)
    assert (arbitrage.account_address, arbitrage.profit_token_address) == (BOT, TOKEN_A)
    assert (arbitrage.start_amount, arbitrage.end_amount, arbitrage.profit_amount) == (100, 150, 50)
    assert arbitrage.error == "Reverted"


def test_arbitrage_legs_must_agree_within_one_percent() -> None:
    first = swap(1, (0,), pool=PAIR, recipient=BOT, amount_out=200)
    close = swap(1, (1,), pool=POOL, token_in=TOKEN_B, amount_in=199, token_out=TOKEN_A)
    far = swap(1, (1,), pool=POOL, token_in=TOKEN_B, amount_in=197, token_out=TOKEN_A)
    assert len(get_arbitrages([first, close])) == 1
    assert get_arbitrages([first, far]) == []


def test_three_pool_arbitrage_takes_the_shortest_route() -> None:
    token_c = addr(0xC)
    pool_c = addr(0xCC)
    legs = [
        swap(1, (0,), pool=PAIR, recipient=POOL, token_out=TOKEN_B, amount_out=200),
        swap(1, (1,), pool=POOL, sender=PAIR, recipient=pool_c, token_in=TOKEN_B, amount_in=200,
             token_out=token_c, amount_out=300),
        swap(1, (2,), pool=pool_c, sender=POOL, recipient=BOT, token_in=token_c, amount_in=300,
             token_out=TOKEN_A, amount_out=101),
    ]  # fmt: skip
    [arbitrage] = get_arbitrages(legs)
    assert arbitrage.swaps == tuple(legs)
    assert arbitrage.profit_amount == 1


def test_no_arbitrage_starting_from_a_pool() -> None:
    first = swap(1, (0,), pool=PAIR, sender=POOL, recipient=PAIR)
    second = swap(1, (1,), pool=POOL, sender=PAIR, recipient=POOL, token_in=TOKEN_B,
                  amount_in=200, token_out=TOKEN_A)  # fmt: skip
    assert get_arbitrages([first, second]) == []


def test_equal_within_percent() -> None:
    assert equal_within_percent(100, 100, 0.01)
    assert equal_within_percent(1000, 1009, 0.01)
    assert not equal_within_percent(1000, 1011, 0.01)
    assert not equal_within_percent(0, 0, 0.01)
