"""sendTransaction and requestAirdrop: checked in the server child, handed over the pipe to the
plugin, given to the node's relay. The relay here is a small fake that records what it got (the
devnet's relay is `monmouth dev`'s); everything else is real."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import base58
import pytest
from rpcnode import (
    Served,
    parse,
    served_fixture,  # noqa: F401 (the `served` fixture)
    signed_transfer,
    user,
)
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.rpc.responses import GetSignatureStatusesResp

from monmouth.core.records import decode_message
from monmouth.hooks import RelayError
from monmouth.plugins.rpc.methods import airdrop_id

pytestmark = pytest.mark.timeout(120)


class FakeRelay:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.deposits: list[tuple[bytes, int]] = []
        self.refuse: str | None = None

    def send_transactions(self, transactions: Sequence[bytes]) -> None:
        if self.refuse:
            raise RelayError(self.refuse)
        self.sent.extend(transactions)

    def deposit(self, recipient: bytes, lamports: int) -> None:
        if self.refuse:
            raise RelayError(self.refuse)
        self.deposits.append((recipient, lamports))


def test_without_a_relay_the_error_says_how(served: Served) -> None:
    served.node.relay = None
    tx = signed_transfer(served, user(0))
    error = served.call(
        "sendTransaction", [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}]
    )["error"]
    assert error["code"] == -32600 and "monmouth dev" in error["message"]
    error = served.call("requestAirdrop", [str(Keypair().pubkey()), 10])["error"]
    assert error["code"] == -32600 and "relay" in error["message"]


def test_send_transaction(served: Served) -> None:
    relay = served.node.relay = FakeRelay()
    try:
        tx = signed_transfer(served, user(1))
        wire = bytes(tx)
        for text, encoding in (
            (base64.b64encode(wire).decode(), "base64"),
            (base58.b58encode(wire).decode(), None),  # Agave's default: base58
        ):
            config = {} if encoding is None else {"encoding": encoding}
            assert served.result("sendTransaction", [text, config]) == str(tx.signatures[0])
        assert relay.sent == [wire, wire]
        # A bad signature: -32003, nothing relayed.
        forged = bytearray(wire)
        forged[5] ^= 1
        error = served.call(
            "sendTransaction", [base64.b64encode(bytes(forged)).decode(), {"encoding": "base64"}]
        )["error"]
        assert error == {"code": -32003, "message": "Transaction signature verification failure"}
        # Preflight: an unknown fee payer, an expired blockhash; skipPreflight relays anyway.
        stranger = signed_transfer(served, Keypair())
        text = base64.b64encode(bytes(stranger)).decode()
        error = served.call("sendTransaction", [text, {"encoding": "base64"}])["error"]
        assert error["code"] == -32002 and error["data"]["err"] == "AccountNotFound"
        expired = base64.b64encode(bytes(signed_transfer(served, user(1), bytes(32)))).decode()
        error = served.call("sendTransaction", [expired, {"encoding": "base64"}])["error"]
        assert error["code"] == -32002 and error["data"]["err"] == "BlockhashNotFound"
        assert served.result(
            "sendTransaction", [text, {"encoding": "base64", "skipPreflight": True}]
        )
        assert len(relay.sent) == 3
        # A transaction the program fails: the simulation's error and logs, nothing relayed.
        poor = signed_transfer(served, user(1), lamports=1000)  # leaves the payee below rent
        text = base64.b64encode(bytes(poor)).decode()
        error = served.call("sendTransaction", [text, {"encoding": "base64"}])["error"]
        assert error["code"] == -32002
        assert error["message"] == (
            "Transaction simulation failed: "
            "Transaction results in an account (1) with insufficient funds for rent"
        )
        assert error["data"]["err"] == {"InsufficientFundsForRent": {"account_index": 1}}
        assert "Program 11111111111111111111111111111111 invoke [1]" in error["data"]["logs"]
        assert error["data"]["unitsConsumed"] > 0
        assert len(relay.sent) == 3
        garbage = served.call("sendTransaction", ["AAAA", {"encoding": "base64"}])["error"]
        assert garbage["code"] == -32602
        relay.refuse = "the relay's queue is full"
        error = served.call(
            "sendTransaction", [base64.b64encode(wire).decode(), {"encoding": "base64"}]
        )["error"]
        assert error["code"] == -32603 and "queue is full" in error["message"]
    finally:
        served.node.relay = None


def test_request_airdrop(served: Served) -> None:
    relay = served.node.relay = FakeRelay()
    try:
        recipient = Keypair().pubkey()
        answer = served.result("requestAirdrop", [str(recipient), 5_000_000])
        raw = base58.b58decode(answer)
        assert len(raw) == 64 and relay.deposits == [(bytes(recipient), 5_000_000)]
        again = served.result("requestAirdrop", [str(recipient), 5_000_000])
        assert again != answer  # the second one looks for the second such deposit
        # Not executed yet (the fake relay posts nothing): unknown, as a signature in flight.
        status = served.result("getSignatureStatuses", [[answer]])
        assert status["value"] == [None]
        over = served.call("requestAirdrop", [str(recipient), 10**30])["error"]
        assert over["code"] == -32602
    finally:
        served.node.relay = None


def test_airdrop_ids_find_executed_deposits(served: Served) -> None:
    """An airdrop's id names the deposit that executes after it: the devnet's own deposits stand
    in for the relay's."""
    store = served.node.store
    found = None
    for number in range(1, store.head().number + 1):  # type: ignore[union-attr]
        for _index, raw in store.iter_messages(number):
            message = decode_message(raw)
            if message.kind == "deposit" and message.reason is None and message.recipient:
                found = (number, message)
                break
        if found:
            break
    assert found is not None, "the devnet workload makes deposits"
    number, message = found
    assert message.recipient is not None
    ident = airdrop_id(message.recipient, message.lamports, number - 1, 0)
    answer = served.call("getSignatureStatuses", [[base58.b58encode(ident).decode()]])
    [status] = parse(GetSignatureStatusesResp, (answer)).value
    assert status is not None and status.slot == number and status.err is None
    never = airdrop_id(bytes(Pubkey.new_unique()), 1, number - 1, 0)
    assert served.result("getSignatureStatuses", [[base58.b58encode(never).decode()]])["value"] == [
        None
    ]
