"""Posting to the inbox: deposits and batches of Solana transactions as Ethereum transactions.

`InboxClient` builds inbox calldata (docs/protocol.md section 1, through `monmouth.core.inbox`) and
sends it to the inbox address over JSON-RPC (`EthRpc`). It signs locally when given a private key
(EIP-1559 when the node reports a base fee, legacy otherwise), or asks the node to sign with one of
its unlocked accounts (`eth_sendTransaction`, as development nodes such as anvil allow).

    async with EthRpc("http://127.0.0.1:8545") as rpc:
        client = InboxClient(rpc, private_key=os.environ["MONMOUTH_PRIVATE_KEY"])
        tx_hash = await client.deposit(recipient_pubkey, lamports=1_000_000)
        receipt = await client.wait(tx_hash)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio

from monmouth.core import inbox as _inbox
from monmouth.core.errors import UserError
from monmouth.core.ethrpc import EthRpc, RpcError, RpcUnavailable
from monmouth.core.hexutil import parse_data, parse_quantity, to_data, to_quantity

#: Calldata bytes per L1 transaction. The transaction pools of geth and reth refuse a transaction
#: bigger than 128 KiB (signature, fields and RLP included); 120 KB of calldata keeps clear of it.
CALLDATA_BUDGET = 120_000
#: Gas estimates get this much headroom (percent): the inbox has no code, so an estimate is
#: exact today, but a node may estimate against a slightly different pending state.
GAS_MARGIN_PERCENT = 20
#: EIP-7825 (Osaka) caps a transaction's gas; the margin never pushes a transaction past it.
MAX_TX_GAS = 2**24
#: Tip when the node has no `eth_maxPriorityFeePerGas`.
DEFAULT_PRIORITY_FEE = 10**9
_T = TypeVar("_T")


class PostingError(UserError):
    """Posting to the inbox failed in a way the user can act on (key, account, fees, node)."""


class TransactionRejected(PostingError):
    """The L1 node refused the transaction (funds, nonce, gas, fees) or it did not land."""


def plan_batches(transactions: Sequence[bytes], budget: int = CALLDATA_BUDGET) -> list[list[bytes]]:
    """Split Solana wire transactions into batches whose calldata fits `budget`, in order.

    Raises ValueError naming the index of an empty transaction or one over 1232 bytes.
    """
    for i, tx in enumerate(transactions):
        if not 0 < len(tx) <= _inbox.MAX_TX_SIZE:
            raise ValueError(
                f"transaction {i} is {len(tx)} bytes; "
                f"a Solana transaction is 1..{_inbox.MAX_TX_SIZE}"
            )
    batches: list[list[bytes]] = []
    current: list[bytes] = []
    size = 2  # version and kind
    for tx in transactions:
        framed = 2 + len(tx)  # u16 length, then the transaction
        if current and size + framed > budget:
            batches.append(current)
            current, size = [], 2
        current.append(tx)
        size += framed
    if current:
        batches.append(current)
    return batches


def _account(private_key: str) -> Any:
    limit = sys.getrecursionlimit()
    from eth_account import Account

    # Importing eth_account imports py_ecc, which raises the recursion limit to 100,000 for
    # the whole process. Deeply nested input (a stream request, a replay line) would then
    # overflow the C stack (SIGSEGV) before raising the RecursionError the decoders handle.
    sys.setrecursionlimit(limit)

    text = private_key.strip()
    try:
        raw = bytes.fromhex(text[2:] if text.lower().startswith("0x") else text)
        if len(raw) != 32:
            raise ValueError
        return Account.from_key(raw)
    except (ValueError, TypeError):
        # Never echo the key itself.
        raise PostingError(
            "the private key is not 32 bytes of hex (0x followed by 64 hex digits)"
        ) from None


def _address(text: str, what: str) -> str:
    try:
        raw = parse_data(text, what, 20)
    except ValueError:
        raise PostingError(f"{what} {text!r} is not a 0x-prefixed 20-byte address") from None
    return to_data(raw)


class InboxClient:
    """Sends inbox messages through one Ethereum node.

    :param rpc: the node.
    :param private_key: 0x-hex secp256k1 key to sign with; without it the node signs for
        `sender` (or its first unlocked account).
    :param sender: the unlocked account to send from when there is no key.
    :param inbox: the inbox address (20 bytes).

    A signed transaction is safe to resend: a retry whose first attempt got through is recognised
    by its hash. `eth_sendTransaction` (no key) is not: an `EthRpc` that retries after a lost
    answer can send the message twice, so give it `attempts=1` when that matters.
    """

    def __init__(
        self,
        rpc: EthRpc,
        *,
        private_key: str | None = None,
        sender: str | None = None,
        inbox: bytes = _inbox.DEFAULT_INBOX_ADDRESS,
    ) -> None:
        if len(inbox) != 20:
            raise PostingError(f"the inbox address must be 20 bytes, got {len(inbox)}")
        self.rpc = rpc
        self.inbox = bytes(inbox)
        self._account = _account(private_key) if private_key is not None else None
        if self._account is not None:
            key_address = str(self._account.address).lower()
            if sender is not None and _address(sender, "sender") != key_address:
                raise PostingError(f"sender {sender} is not the address of the private key")
            self._sender: str | None = key_address
        else:
            self._sender = None if sender is None else _address(sender, "sender")
        self._chain_id: int | None = None
        self._nonce: int | None = None
        self._lock = anyio.Lock()

    # ---------------------------------------------------------------- public API

    async def sender(self) -> str:
        """The address the messages come from (lower-case 0x-hex)."""
        if self._sender is None:
            accounts = await self._call("eth_accounts")
            if not accounts:
                raise PostingError(
                    f"the node at {self.rpc.url} has no unlocked account; pass --private-key "
                    "or set MONMOUTH_PRIVATE_KEY"
                )
            self._sender = _address(accounts[0], "the node's first account")
        return self._sender

    async def deposit(self, recipient: bytes, lamports: int) -> bytes:
        """Deposit `lamports` to the 32-byte SVM `recipient`; returns the L1 transaction hash.

        The L1 value is `lamports * 10**9` wei (one lamport per gwei).
        """
        if not 0 < lamports <= _inbox.MAX_LAMPORTS:
            raise ValueError(f"lamports must be 1..{_inbox.MAX_LAMPORTS}, got {lamports}")
        data = _inbox.encode_deposit(recipient)
        return await self._send(data, lamports * _inbox.WEI_PER_LAMPORT)

    async def send(self, transactions: Sequence[bytes]) -> list[bytes]:
        """Send Solana wire transactions, packed into as few L1 transactions as fit the calldata
        budget, in order; returns the L1 transaction hashes in order.

        Raises ValueError naming the index of a transaction over 1232 bytes (nothing is sent).
        """
        hashes = []
        for batch in plan_batches(transactions):
            hashes.append(await self._send(_inbox.encode_batch(batch), 0))
        return hashes

    def forget_nonce(self) -> None:
        """Ask the node for the account's nonce before the next transaction: after one that the
        node no longer knows (dropped from its pool), the next reuses its nonce."""
        self._nonce = None

    # A deadline parameter, not a cancel scope: a receipt that never comes is an answer too.
    async def wait(self, tx_hash: bytes, timeout: float = 30) -> dict[str, Any]:  # noqa: ASYNC109
        """The receipt of `tx_hash` once the node has one (polls `eth_getTransactionReceipt`).

        Raises TransactionRejected when there is none within `timeout` seconds.
        """
        delay = 0.05
        with anyio.move_on_after(timeout):
            while True:
                try:
                    receipt = await self._call("eth_getTransactionReceipt", to_data(tx_hash))
                except RpcUnavailable:
                    # The transaction was sent; a node that is briefly away is asked again.
                    receipt = None
                if receipt is not None:
                    result: dict[str, Any] = receipt
                    return result
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)
        raise TransactionRejected(
            f"L1 transaction {to_data(tx_hash)} has no receipt after {timeout:g} s; is the node "
            "mining, and is the fee high enough?"
        )

    # ---------------------------------------------------------------- internals

    async def _call(self, method: str, *params: Any) -> Any:
        try:
            return await self.rpc.call(method, *params)
        except RpcError as exc:
            raise TransactionRejected(
                f"the L1 node at {self.rpc.url} refused {method}: {exc.message}"
            ) from None

    async def _send(self, data: bytes, value: int) -> bytes:
        async with self._lock:
            sender = await self.sender()
            tx: dict[str, Any] = {
                "from": sender,
                "to": to_data(self.inbox),
                "value": to_quantity(value),
                "data": to_data(data),
            }
            if self._account is None:
                answer = await self._call("eth_sendTransaction", tx)
                return self._parse(parse_data, answer, "transaction hash", 32)
            try:
                raw, tx_hash = await self._sign(tx, value)
                try:
                    await self._call("eth_sendRawTransaction", raw)
                except PostingError:
                    # When a retried request's first attempt got through, the node refuses the
                    # second as already known: the transaction is in, under the hash we computed.
                    if not await self._known(tx_hash):
                        raise
            except BaseException:
                self._nonce = None  # ask the node again next time
                raise
            assert self._nonce is not None
            self._nonce += 1
            return tx_hash

    async def _known(self, tx_hash: bytes) -> bool:
        try:
            return await self.rpc.call("eth_getTransactionByHash", to_data(tx_hash)) is not None
        except RpcError:
            return False

    def _parse(self, parser: Callable[..., _T], *args: Any) -> _T:
        """Parse a field of an answer; a node that answers nonsense is the node's fault."""
        try:
            return parser(*args)
        except ValueError as exc:
            raise TransactionRejected(
                f"the L1 node at {self.rpc.url} answered badly: {exc}"
            ) from None

    async def _quantity(self, method: str, *params: Any) -> int:
        return self._parse(parse_quantity, await self._call(method, *params), method)

    async def _sign(self, tx: dict[str, Any], value: int) -> tuple[str, bytes]:
        """The signed raw transaction (0x-hex) and its hash."""
        assert self._account is not None
        if self._chain_id is None:
            self._chain_id = await self._quantity("eth_chainId")
        if self._nonce is None:
            self._nonce = await self._quantity("eth_getTransactionCount", tx["from"], "pending")
        latest = await self._call("eth_getBlockByNumber", "latest", False)
        if not isinstance(latest, dict):
            raise TransactionRejected(f"the L1 node at {self.rpc.url} has no latest block")
        estimate = await self._quantity("eth_estimateGas", tx)
        limit = min(MAX_TX_GAS, self._parse(parse_quantity, latest.get("gasLimit"), "gasLimit"))
        gas = max(estimate, min(estimate + estimate * GAS_MARGIN_PERCENT // 100, limit))
        fields: dict[str, Any] = {
            "chainId": self._chain_id,
            "nonce": self._nonce,
            "to": self.inbox,  # bytes: eth-account wants hex addresses checksummed
            "value": value,
            "data": tx["data"],
            "gas": gas,
        }
        base_fee = latest.get("baseFeePerGas")
        if base_fee is not None:
            tip = await self._priority_fee()
            fields["type"] = 2
            fields["maxPriorityFeePerGas"] = tip
            base = self._parse(parse_quantity, base_fee, "baseFeePerGas")
            fields["maxFeePerGas"] = 2 * base + tip
        else:
            fields["gasPrice"] = await self._quantity("eth_gasPrice")
        signed = self._account.sign_transaction(fields)
        return to_data(bytes(signed.raw_transaction)), bytes(signed.hash)

    async def _priority_fee(self) -> int:
        try:
            answer = await self.rpc.call("eth_maxPriorityFeePerGas")
        except RpcError:
            return DEFAULT_PRIORITY_FEE
        return self._parse(parse_quantity, answer, "eth_maxPriorityFeePerGas")
