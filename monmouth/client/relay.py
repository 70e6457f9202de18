"""The relay of a node that follows an L1 node: outside transactions posted to the inbox.

An `L1Relay` is the `InboxRelay` (`monmouth.core.relay`) that `monmouth.app` gives a node with
`[source] kind = "rpc"` and a relay key (`[relay] key_file`). The rpc plugin's sendTransaction and
requestAirdrop hand it their writes; it posts them to the inbox from the relay key's account with
an `InboxClient`, so the key pays the L1 fees (and, for airdrops, the deposited ether).

- **Queue, then return.** `send_transactions` and `deposit` queue (at most `max_pending` entries;
  beyond, `RelayError`) and return at once, from any thread. A worker thread posts.
- **Batching.** The worker waits `batch_window` seconds after the first entry arrives, then takes
  the whole queue in arrival order: consecutive transactions become one inbox batch message per
  L1 transaction (up to `max_calldata` bytes; docs/protocol.md: one message per L1 transaction),
  each deposit its own. It posts them one after another, each once its predecessor is mined, so
  what arrives meanwhile is batched into the next one.
- **Retries.** L1 faults (no answer, a refusal, a receipt that does not come, status 0) are
  retried with backoff. A batch is retried until it lands or until none of its transactions'
  recent blockhashes is still within the 150-block window (an L1 block the L1 node no longer
  knows, after a reorg, counts as expired): expired transactions are dropped, with a log line
  naming their signatures. A deposit is retried for `deposit_deadline` seconds. A sent L1
  transaction that the node still knows is waited for, never sent twice.
- **Landed means landed once.** Once an L1 transaction is mined with status 1, the relay is done
  with it. A reorg that orphans its L1 block orphans the Solana transactions too, and the relay
  does not send them again: as on Solana, the client resends (with a fresh blockhash).
- **close()** cancels the worker and drops what is queued (logged with a count); an L1 transaction
  already sent may still land.

The key is never logged or echoed; `load_key` refuses a key file that others may read.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio
import structlog
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.client import CALLDATA_BUDGET, InboxClient, PostingError, _account
from monmouth.core import inbox
from monmouth.core.errors import ConfigError
from monmouth.core.ethrpc import EthRpc, RpcError, RpcUnavailable
from monmouth.core.hexutil import parse_quantity, to_data
from monmouth.core.relay import RelayError
from monmouth.rust_svm.wire import layout

__all__ = ["BLOCKHASH_WINDOW", "L1Relay", "load_key"]

log = structlog.get_logger("monmouth.relay")

#: Solana's blockhash window in L1 blocks (`core.executor.BLOCKHASH_WINDOW`): a transaction whose
#: recent blockhash is further back than this below the block that carries it is rejected.
BLOCKHASH_WINDOW: Final = 150
#: Entries (a transaction or a deposit each) queued at most.
MAX_PENDING: Final = 10_000
#: Seconds a sent L1 transaction is waited for before the relay asks whether the node still
#: knows it (and sends it again if not).
RECEIPT_TIMEOUT: Final = 30.0
#: Seconds a deposit is retried (it has no blockhash to expire with).
DEPOSIT_DEADLINE: Final = 120.0
_MAX_BACKOFF = 5.0


def load_key(path: Path) -> str:
    """The 0x-hex private key in `path` (whitespace around it ignored).

    Raises ConfigError when the file cannot be read, when its group or others may read or write
    it (as ssh refuses such a key: `chmod 600 FILE`), or when it holds no 32-byte hex key. The
    message never contains the key.
    """
    try:
        mode = path.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"[relay] key_file {path} may be read by other users (mode "
                f"{stat.S_IMODE(mode):o}); run `chmod 600 {path}`"
            )
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"[relay] key_file {path}: {exc.strerror or exc}") from None
    raw = text[2:] if text.lower().startswith("0x") else text
    try:
        if len(bytes.fromhex(raw)) != 32:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"[relay] key_file {path} does not hold a private key (0x followed by 64 hex digits)"
        ) from None
    return "0x" + raw


@dataclass(frozen=True, slots=True)
class _Tx:
    wire: bytes
    blockhash: bytes

    @property
    def signature(self) -> str:
        return str(Signature.from_bytes(self.wire[1:65]))


@dataclass(frozen=True, slots=True)
class _Deposit:
    recipient: bytes
    lamports: int


class L1Relay:
    """An `InboxRelay` that posts to the inbox of an L1 node (see the module docstring).

    :param url: the L1 node's JSON-RPC endpoint (the one the node follows).
    :param private_key: the relay key, 0x-hex (`load_key`); its account pays.
    :param inbox_address: the inbox (20 bytes).
    :param batch_window: seconds to wait after the first entry for others to join its batch.
    :param max_calldata: calldata bytes of one batch message (one L1 transaction) at most.
    :param max_pending: entries queued at most; beyond, `RelayError`.
    :param airdrop: whether `deposit` is allowed (airdrops spend the relay key's ether).
    :param airdrop_max_lamports: the largest deposit allowed.

    The worker thread starts with the relay; `close()` stops it.
    """

    def __init__(
        self,
        url: str,
        private_key: str,
        *,
        inbox_address: bytes = inbox.DEFAULT_INBOX_ADDRESS,
        batch_window: float = 0.2,
        max_calldata: int = CALLDATA_BUDGET,
        max_pending: int = MAX_PENDING,
        airdrop: bool = False,
        airdrop_max_lamports: int = 0,
        receipt_timeout: float = RECEIPT_TIMEOUT,
        deposit_deadline: float = DEPOSIT_DEADLINE,
    ) -> None:
        if not 2 + 2 + inbox.MAX_TX_SIZE <= max_calldata <= CALLDATA_BUDGET:
            raise ValueError(
                f"max_calldata must be {2 + 2 + inbox.MAX_TX_SIZE} to {CALLDATA_BUDGET} bytes"
            )
        self.url = url
        self.inbox_address = bytes(inbox_address)
        self.batch_window = batch_window
        self.max_calldata = max_calldata
        self.max_pending = max_pending
        self.airdrop = airdrop
        self.airdrop_max_lamports = airdrop_max_lamports
        self.receipt_timeout = receipt_timeout
        self.deposit_deadline = deposit_deadline
        # Builds the signer now, so that a bad key fails at start-up, not at the first send.
        self._key = private_key
        self._sender = str(_account(private_key).address).lower()
        self._lock = threading.Lock()
        self._queue: deque[_Tx | _Deposit] = deque()
        self._closed = False  # sends refused
        self._shut = False  # close() ran
        #: L1 transactions mined with status 1, and Solana transactions dropped as expired.
        self.landed = 0
        self.expired = 0
        # The worker: an event loop in a thread of its own (a blocking portal), so that neither
        # the node's loop nor the plugin's thread that calls `send_transactions` ever waits on L1.
        self._wake: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._portal.start_task_soon(self._run)
        log.info("l1 relay", url=url, sender=self._sender, airdrop=airdrop)

    @property
    def sender(self) -> str:
        """The relay key's address (0x-hex, lower case): fund it with ether for fees."""
        return self._sender

    # -- InboxRelay ---------------------------------------------------------------------------

    def send_transactions(self, transactions: Sequence[bytes]) -> None:
        """Queue Solana wire transactions for the inbox (see the module docstring)."""
        items: list[_Tx | _Deposit] = []
        for i, raw in enumerate(transactions):
            tx = bytes(raw)
            if not 0 < len(tx) <= inbox.MAX_TX_SIZE:
                raise RelayError(
                    f"transaction {i} is {len(tx)} bytes; a Solana transaction is 1 to "
                    f"{inbox.MAX_TX_SIZE} bytes"
                )
            try:
                blockhash = layout(tx).blockhash
            except ValueError:
                raise RelayError(f"transaction {i} is not a Solana wire transaction") from None
            items.append(_Tx(tx, blockhash))
        self._put(items)

    def deposit(self, recipient: bytes, lamports: int) -> None:
        """Queue a deposit of `lamports` (value `lamports * 10**9` wei from the relay key) to
        `recipient`, when `airdrop` allows it."""
        if not self.airdrop:
            raise RelayError(
                "airdrops are off on this node: each spends the relay key's ether. To allow "
                "them, set `airdrop = true` in [plugins.rpc] (MONMOUTH_PLUGINS__RPC__AIRDROP=true)"
            )
        if len(recipient) != 32:
            raise RelayError(f"a deposit's recipient is 32 bytes, got {len(recipient)}")
        cap = min(self.airdrop_max_lamports, inbox.MAX_LAMPORTS)
        if not 0 < lamports <= cap:
            raise RelayError(
                f"an airdrop is 1 to {cap} lamports here ([plugins.rpc] airdrop_max_lamports), "
                f"got {lamports}"
            )
        self._put([_Deposit(bytes(recipient), lamports)])

    # -- lifecycle ----------------------------------------------------------------------------

    def pending(self) -> int:
        """Entries queued and not yet taken by the worker."""
        with self._lock:
            return len(self._queue)

    def close(self) -> None:
        """Stop the worker and drop what is queued (a log line counts it). An L1 transaction
        already sent may still land. Idempotent."""
        with self._lock:
            if self._shut:
                return
            # `_closed` may be set already, by a worker that failed: its portal still ends here.
            self._closed = self._shut = True
            dropped = len(self._queue)
            self._queue.clear()
        if dropped:
            log.warning("relay closed; queued entries dropped", dropped=dropped)
        with contextlib.suppress(RuntimeError):  # the portal has stopped already
            self._portal.call(self._cancel)
        self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> L1Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _put(self, items: Sequence[_Tx | _Deposit]) -> None:
        with self._lock:
            if self._closed:
                raise RelayError("the L1 relay is stopped (the node is closing, or see its log)")
            if len(self._queue) + len(items) > self.max_pending:
                raise RelayError(
                    f"the L1 relay's queue is full ({len(self._queue)} of {self.max_pending} "
                    "entries waiting to be posted); retry later"
                )
            self._queue.extend(items)
        with contextlib.suppress(RuntimeError):  # closing meanwhile: close() drops the queue
            self._portal.call(self._signal)

    def _cancel(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    def _signal(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- the worker (its own thread and event loop) ------------------------------------------

    async def _run(self) -> None:
        try:
            with anyio.CancelScope() as self._scope:
                if not self._closed:
                    await self._main()
        except Exception:  # a bug: log it, and refuse sends from now on rather than queue them
            log.exception("the L1 relay's worker failed; the relay is stopped")
            with self._lock:
                self._closed = True
                self._queue.clear()

    async def _main(self) -> None:
        async with EthRpc(self.url) as rpc:
            client = InboxClient(rpc, private_key=self._key, inbox=self.inbox_address)
            while True:
                for message in await self._next():
                    if isinstance(message, _Deposit):
                        await self._post_deposit(rpc, client, message)
                    else:
                        await self._post_batch(rpc, client, message)

    async def _next(self) -> list[_Deposit | list[_Tx]]:
        """Once something is queued and `batch_window` has passed: the queue as messages."""
        self._wake = anyio.Event()
        if not self.pending():
            await self._wake.wait()  # `_put` sets it, from the caller's thread via the portal
        await anyio.sleep(self.batch_window)
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
        messages: list[_Deposit | list[_Tx]] = []
        batch: list[_Tx] = []
        size = 2  # version and kind
        for item in queued:
            if isinstance(item, _Deposit):
                if batch:
                    messages.append(batch)
                    batch, size = [], 2
                messages.append(item)
                continue
            if batch and size + 2 + len(item.wire) > self.max_calldata:
                messages.append(batch)
                batch, size = [], 2
            batch.append(item)
            size += 2 + len(item.wire)
        if batch:
            messages.append(batch)
        return messages

    async def _post_batch(self, rpc: EthRpc, client: InboxClient, txs: list[_Tx]) -> None:
        """Post one batch until it lands or its transactions' blockhashes expire."""
        numbers: dict[bytes, int | None] = {}
        sent: bytes | None = None
        delay = 0.1
        while True:
            try:
                # Expired transactions are no longer retried; an L1 transaction already sent
                # still carries them (the node rejects them as `blockhash_not_found`).
                txs = await self._unexpired(rpc, txs, numbers)
                if not txs:
                    return
                if sent is None:
                    (sent,) = await client.send([tx.wire for tx in txs])
                if await self._landed(client, sent, f"batch of {len(txs)}"):
                    return
                sent = None  # mined with status 0: send again
            except (PostingError, RpcError, RpcUnavailable, ValueError) as exc:
                sent = await self._after_fault(rpc, client, sent, exc)
            await anyio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    async def _post_deposit(self, rpc: EthRpc, client: InboxClient, deposit: _Deposit) -> None:
        """Post one deposit until it lands or `deposit_deadline` passes."""
        deadline = time.monotonic() + self.deposit_deadline
        sent: bytes | None = None
        delay = 0.1
        while time.monotonic() < deadline:
            try:
                if sent is None:
                    sent = await client.deposit(deposit.recipient, deposit.lamports)
                if await self._landed(client, sent, "deposit"):
                    return
                sent = None
            except (PostingError, RpcError, RpcUnavailable, ValueError) as exc:
                sent = await self._after_fault(rpc, client, sent, exc)
            await anyio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)
        log.error(
            "deposit dropped: not posted within its deadline",
            recipient=str(Pubkey.from_bytes(deposit.recipient)),
            lamports=deposit.lamports,
            deadline=self.deposit_deadline,
        )

    async def _landed(self, client: InboxClient, sent: bytes, what: str) -> bool:
        """Wait for `sent`'s receipt: True when mined with status 1, False with status 0.

        Raises `TransactionRejected` when no receipt comes within `receipt_timeout`."""
        receipt = await client.wait(sent, timeout=self.receipt_timeout)
        number = _quantity(receipt.get("blockNumber"))
        if _quantity(receipt.get("status")) == 1:
            self.landed += 1
            log.info("relayed", what=what, l1_tx=to_data(sent), l1_block=number)
            return True
        log.warning("relayed transaction failed on L1; sending again", l1_tx=to_data(sent))
        return False

    async def _after_fault(
        self, rpc: EthRpc, client: InboxClient, sent: bytes | None, exc: Exception
    ) -> bytes | None:
        """What to wait for after a fault: `sent` while the node still knows it (never send a
        message twice), else None (send again, with the node's nonce)."""
        log.warning("relay retry", error=str(exc), l1_tx=None if sent is None else to_data(sent))
        if sent is not None:
            try:
                if await rpc.call("eth_getTransactionByHash", to_data(sent)) is not None:
                    return sent
            except (RpcError, RpcUnavailable):
                return sent  # not known either way: keep waiting rather than risk a double
        client.forget_nonce()
        return None

    async def _unexpired(
        self, rpc: EthRpc, txs: list[_Tx], numbers: dict[bytes, int | None]
    ) -> list[_Tx]:
        """`txs` whose recent blockhash can still be in the window of the next L1 block; the
        others are dropped with a log line. `numbers` caches the L1 number of each hash."""
        for blockhash in {tx.blockhash for tx in txs} - numbers.keys():
            block = await rpc.call("eth_getBlockByHash", to_data(blockhash), False)
            numbers[blockhash] = None if block is None else _quantity(block.get("number"))
        head = _quantity(await rpc.call("eth_blockNumber"))
        live, dropped = [], []
        for tx in txs:
            number = numbers[tx.blockhash]
            # The next block is head + 1; its window holds the blocks from head + 1 - 150.
            if number is None or number < head + 1 - BLOCKHASH_WINDOW:
                dropped.append(tx)
            else:
                live.append(tx)
        if dropped:
            self.expired += len(dropped)
            log.warning(
                "transactions dropped (not retried): their recent blockhash is no longer in "
                f"the window of {BLOCKHASH_WINDOW} L1 blocks (or not an L1 block the node knows)",
                signatures=[tx.signature for tx in dropped],
                l1_head=head,
            )
        return live


def _quantity(value: Any) -> int:
    return parse_quantity(value, "quantity")
