"""One L1 block's way through the SVM: route, decode, check, execute.

The rules it implements are docs/protocol.md sections 1-3.

Consensus-critical and deterministic: the same block on the same state gives the same writes and
the same lattice hash on every machine. The executor reads the store but never writes it; the
node commits what `execute` returns in one write transaction.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Container, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import msgspec
from solders.account import Account
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction

from monmouth.core import inbox
from monmouth.core.accountcache import AccountCache
from monmouth.core.eventlog import Writes
from monmouth.core.l1 import L1Block, L1Transaction
from monmouth.core.lthash import LtHash, mix_writes
from monmouth.core.payloads import AccountUpdate, TransactionInfo
from monmouth.core.reasons import Reason
from monmouth.core.records import (
    BlockRecord,
    MessageRecord,
    TokenBalance,
    TxRecord,
    TxStatus,
    detail_key,
    message_key,
)
from monmouth.core.records import encode as encode_record
from monmouth.core.spl import TOKEN_PROGRAMS, is_token_account
from monmouth.core.state import BlockWrite, DetailWrite, Store
from monmouth.core.telemetry import SIGNATURES
from monmouth.core.writes import changes, make_write_log
from monmouth.rust_svm.accounts import encode_account_fields
from monmouth.rust_svm.errors import snake
from monmouth.rust_svm.runtime import (
    ABSENT_SIZE,
    Execution,
    SvmRuntime,
    WireTransaction,
    account_fields,
    loaded_addresses,
    loaded_split,
    lookup_tables,
    writable_keys,
)
from monmouth.rust_svm.sigverify import SignatureVerifier, SignedMessage
from monmouth.rust_svm.wire import layout

#: Solana's blockhash window, in L1 blocks.
BLOCKHASH_WINDOW = 150
#: Blocks kept beyond the blockhash window in the executed signatures' memory
#: (`BlockExecutor._remembers`), so that a reorg this deep leaves it complete.
REORG_MARGIN = 64
#: Account hashes kept for reuse (2 KiB each, so at most 16 MiB, and one block's more).
DIGEST_CACHE = 8192
_SYSTEM_PROGRAM = bytes(32)
#: A background read older than this many committed blocks is not used (and the write stamps
#: that would tell which of its values are still current are dropped).
PREFETCH_HORIZON = 256
#: Runtime errors that mean the fee payer cannot pay: Solana drops these transactions.
_FEE_PAYER_ERRORS = frozenset(
    {"AccountNotFound", "InsufficientFundsForFee", "InvalidAccountForFee"}
)

Router = Callable[[L1Transaction, L1Block], bytes | None]


class _Tx(msgspec.Struct, gc=False):
    """One Solana transaction of a batch on its way through the block (a struct: one per
    transaction, built on the main thread)."""

    l1: L1Transaction
    message: int  # index into the block's messages
    position: int
    tx: WireTransaction | None  # None: malformed (`_decode_tx`)
    signed: SignedMessage | None
    keys: tuple[bytes, ...]  # the static account keys
    #: The accounts it may write, when that does not depend on lookup tables (else None).
    writable: list[bytes] | None = None
    blockhash: bytes = b""
    raw: bytes = b""  # the wire bytes, kept for the transaction's details


@dataclass(slots=True)
class _Deposit:
    l1: L1Transaction
    message: int
    recipient: bytes
    lamports: int


@dataclass(slots=True)
class _Message:
    l1: L1Transaction
    kind: Literal["batch", "deposit"] | None
    reason: str | None
    outcomes: list[tuple[TxStatus, str | None]]
    recipient: bytes | None = None
    lamports: int = 0


class ExecutedBlock(msgspec.Struct, frozen=True, gc=False):
    """An executed block: what to commit, and the payloads plugins asked for (else empty)."""

    write: BlockWrite
    updates: list[AccountUpdate]
    transactions: list[TransactionInfo]
    #: The stream's `writes`, encoded as its segment stores them (`BlockExecutor.want_writes`;
    #: else None).
    writes: Writes | None = None


@dataclass(frozen=True, slots=True)
class _Read:
    """The stored values of a block's keys, read in the background while earlier blocks run.

    :ivar epoch: the executor's revert count when it was asked for (a revert voids it).
    :ivar since: the last block committed when it was asked for: the read sees at least the
        store as of then, so a value is current unless a later block wrote its key.
    """

    epoch: int
    since: int
    keys: list[bytes]
    values: Future[list[bytes | None]]


@dataclass(slots=True)
class Prepared:
    """A block routed and decoded, its signature checks under way (see `BlockExecutor.prepare`)."""

    block: L1Block
    messages: list[_Message]
    items: list[_Tx | _Deposit]
    verdicts: Iterator[bool]
    #: The keys the block names (`_named`), made resident before it runs.
    named: list[bytes]
    #: Wall-clock nanoseconds when routing started and ended (for the block's trace).
    started_ns: int = 0
    routed_ns: int = 0
    #: The stored values of the block's keys, being read off the main thread.
    read: _Read | None = None


def _decode_tx(
    raw: bytes,
) -> (
    tuple[
        WireTransaction,
        SignedMessage,
        tuple[bytes, ...],
        list[bytes] | None,
        bytes,
    ]
    | None
):
    """The transaction, what its signature check needs, its static account keys, the accounts
    it may write (None when lookup tables decide) and its recent blockhash; None when it is
    malformed.

    A legacy message (no version prefix) is decoded as solders' `Transaction`, which LiteSVM's
    `send_transaction` takes first: given a `VersionedTransaction`, it first fails to read a
    `Transaction` and builds (and formats) the error: 4% of the main thread's samples at 1,000
    transfers a block (py-spy). Both are the same transaction to the runtime. The legacy
    type's `sanitize` allows more signatures than the header requires, the versioned one does
    not: that check is made here, so that exactly the same bytes are malformed either way
    (`tests/fuzz/test_decode_fuzz.py`).
    """
    try:
        count = raw[0]
        # A signature count below 128 is one byte; the message's first byte follows them.
        at = 1 + 64 * count
        if count < 0x80 and len(raw) > at and not raw[at] & 0x80:
            # Legacy: the message's first byte is its header's required signature count.
            if raw[at] != count:
                return None
            tx: WireTransaction = Transaction.from_bytes(raw)
        else:
            tx = VersionedTransaction.from_bytes(raw)
        # Exactly one encoding per transaction: trailing or non-canonical bytes are malformed.
        if bytes(tx) != raw:
            return None
        tx.sanitize()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # solders raises pyo3 panics (BaseException) on some garbage
        return None
    # The runtime accepted these bytes: read the rest from them, without its objects.
    wire = layout(raw)
    signed = SignedMessage(wire.signatures, wire.signers, wire.message)
    return tx, signed, wire.keys, None if wire.lookups else wire.writable, wire.blockhash


class BlockExecutor:
    """Executes L1 blocks against the store's state through one SVM runtime."""

    def __init__(
        self,
        store: Store,
        runtime: SvmRuntime,
        verifier: SignatureVerifier,
        router: Router,
        cache: AccountCache | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        #: Which accounts stay resident in the runtime (default: all, unbounded).
        self.cache = cache if cache is not None else AccountCache(runtime)
        self.verifier = verifier
        self.router = router
        # The hash of each recently written account value: an account changed in one block is
        # usually mixed out in a later one, and its hash is then known.
        self._digests: dict[bytes, tuple[bytes, bytes]] = {}
        #: Whether plugins asked for per-write account updates / per-transaction payloads.
        self.want_updates = False
        self.want_transactions = False
        #: Whether the stream wants the block's `writes` (`ExecutedBlock.writes`; they index
        #: the block's `TransactionInfo`s, which are then built too).
        self.want_writes = False
        #: Whether executed transactions keep their details (`TxDetail`: wire, balances, inner
        #: instructions) for getTransaction and getBlock (`[store] transaction_details`).
        self.keep_details = True
        # Writes of blocks executed but not committed yet (a group commit): later blocks of the
        # group read these, not the store, as the values before them ...
        self._pending_accounts: dict[bytes, bytes | None] = {}
        self._pending_txs: dict[bytes, TxRecord] = {}
        # ... and those of the group on its way to the store (`seal`, while the store's writer
        # process commits it and the next group executes), read after the pending ones.
        self._sealed_accounts: dict[bytes, bytes | None] = {}
        self._sealed_txs: dict[bytes, TxRecord] = {}
        self._sealed = 0  # blocks executed when the sealed group was sealed
        # Background reads (`prepare`): blocks are numbered as they execute; each key written
        # keeps the number of the last block that wrote it, for as long as a read may need it.
        self._executed = 0
        self._committed = 0
        self._epoch = 0
        self._last_write: dict[bytes, int] = {}
        self._write_log: deque[tuple[int, list[bytes]]] = deque()
        self._reader: ThreadPoolExecutor | None = None
        #: Values taken from background reads (the rest of the misses were read inline).
        self.background_values = 0
        # The signatures executed (ok or failed) in the blocks executed here, for the
        # `already_processed` check without a store read per transaction (`_remembers`): each
        # one's block, and each block's (those that executed any), oldest first.
        self._executed_sigs: dict[bytes, int] = {}
        self._sig_log: deque[tuple[int, list[bytes]]] = deque()
        # Every stored block from this number on is in that memory (None: the store's head is
        # read when the first block executes; blocks up to it were executed elsewhere).
        self._memory_from: int | None = None

    def _mix(
        self,
        state: LtHash,
        keys: list[bytes],
        olds: list[bytes | None],
        news: list[bytes | None],
    ) -> list[tuple[bytes, bytes | None, bytes | None]]:
        """Mix the block's changed accounts into `state` (`lthash.mix_writes`: one C call per
        block), the old values' digests kept from when they were written (an account written
        in a block is usually written again in a later one). Returns the writes (key, old,
        new) whose value changed."""
        cache = self._digests
        if len(cache) + len(keys) > DIGEST_CACHE:
            # The oldest first: at least half, and room for this block's.
            drop = max(DIGEST_CACHE // 2, len(cache) + len(keys) - DIGEST_CACHE)
            for key in list(itertools.islice(cache, drop)):
                del cache[key]
        return mix_writes(state, cache, keys, olds, news)

    def seal(self) -> None:
        """The blocks executed so far are on their way to the store (a group commit): their
        writes stay readable here until `settle`, while later blocks execute. At most one
        group is sealed at a time."""
        if self._sealed_accounts or self._sealed_txs or self._sealed != self._committed:
            raise RuntimeError("a group is already sealed: settle it first")
        self._sealed_accounts, self._pending_accounts = self._pending_accounts, {}
        self._sealed_txs, self._pending_txs = self._pending_txs, {}
        self._sealed = self._executed

    def settle(self) -> None:
        """The sealed blocks are committed: read the store for what they wrote from now on."""
        self._sealed_accounts = {}
        self._sealed_txs = {}
        self._committed = self._sealed
        # Stamps older than any read still usable are never asked for again.
        oldest = self._committed - PREFETCH_HORIZON
        log, last_write = self._write_log, self._last_write
        while log and log[0][0] <= oldest:
            number, keys = log.popleft()
            for key in keys:
                if last_write.get(key) == number:
                    del last_write[key]

    def reverted(self, head: int) -> None:
        """Blocks above `head` were undone in the store: reads under way saw values that are
        gone, and their executed signatures are forgotten.

        :param head: the store's head after the revert (its parent's number, one below the
            lowest block undone, when the store is left empty).
        """
        self._epoch += 1
        log, sigs = self._sig_log, self._executed_sigs
        while log and log[-1][0] > head:
            number, signatures = log.pop()
            for signature in signatures:
                if sigs.get(signature) == number:
                    del sigs[signature]
        # The stored blocks up to `head` executed here are still remembered, those pruned or
        # executed elsewhere are not: memory is complete from above the lower of the two.
        if self._memory_from is not None:
            self._memory_from = min(self._memory_from, head + 1)

    def _remembers(self, number: int) -> bool:
        """Whether the executed signatures in memory are all that block `number`'s transactions
        can repeat (else the store is read: `_stored_txs`); forgets the blocks no later block
        needs.

        A transaction is checked for a repeat only once its blockhash is in the window (blocks
        number-150 ... number-1). An executed transaction with the same signature is the same
        message, so it named the same blockhash within its own block's window: it executed in
        block number-149 or later. Memory is enough once it holds every stored block from
        number-149 on, which it does from BLOCKHASH_WINDOW-1 blocks above the head found at
        the first block (or a revert below what memory holds), unless the store was empty.
        """
        if self._memory_from is None:
            with self.store.lock:  # see `_stored_accounts`
                head = self.store.head()
            self._memory_from = 0 if head is None else head.number + 1
        oldest = number + 1 - BLOCKHASH_WINDOW  # the first block a repeat can have executed in
        keep = oldest - REORG_MARGIN
        log, sigs = self._sig_log, self._executed_sigs
        while log and log[0][0] < keep:
            old, signatures = log.popleft()
            for signature in signatures:
                if sigs.get(signature) == old:
                    del sigs[signature]
        self._memory_from = max(self._memory_from, keep)
        return max(oldest, 0) >= self._memory_from  # no block before 0 to remember

    def close(self) -> None:
        """Stop the background reader (reads under way finish first)."""
        if self._reader is not None:
            self._reader.shutdown(wait=True)
            self._reader = None

    def _read_stored(self, keys: list[bytes]) -> list[bytes | None]:
        # On the reader thread.
        with self.store.lock:
            return self.store.accounts(keys)

    def _background(self, named: list[bytes]) -> _Read | None:
        """Start reading the stored values of the keys a block names (`_named`: static keys,
        deposit recipients, lookup tables) on the reader thread."""
        # Only keys not resident now: the others are read again only if evicted before the
        # block runs (then inline), and reading every named key would cost the reader thread
        # an LMDB read per key per block (thousands of hot accounts).
        resident = self.runtime.resident
        keys = [k for k in named if k not in resident]
        if not keys:
            return None
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="monmouth-prefetch")
        future = self._reader.submit(self._read_stored, keys)
        return _Read(self._epoch, self._committed, keys, future)

    def _reader_for(self, read: _Read | None) -> Callable[[list[bytes]], list[bytes | None]]:
        """How the cache reads a block's missing keys: the background read's values where they
        are still current (no block written since it was asked for wrote the key), the pending
        writes and the store for the rest."""
        inline = self._stored_accounts
        if read is None:
            return inline
        values = read.values.result()
        if read.epoch != self._epoch or read.since < self._committed - PREFETCH_HORIZON:
            return inline
        known = dict(zip(read.keys, values, strict=True))
        last_write, since = self._last_write, read.since

        def from_read(keys: list[bytes]) -> list[bytes | None]:
            out: list[bytes | None] = []
            rest: list[int] = []
            for i, key in enumerate(keys):
                if key in known and last_write.get(key, -1) <= since:
                    out.append(known[key])
                else:
                    out.append(None)
                    rest.append(i)
            self.background_values += len(keys) - len(rest)
            if rest:
                for i, value in zip(rest, inline([keys[i] for i in rest]), strict=True):
                    out[i] = value
            return out

        return from_read

    def _stored_accounts(self, keys: list[bytes]) -> list[bytes | None]:
        pending = self._pending_accounts
        # Loops in C (`map`): once per block, over every account it changed.
        if all(map(pending.__contains__, keys)):  # written earlier in the group: no read
            return list(map(pending.__getitem__, keys))
        missing = [k for k in keys if k not in pending]
        sealed = self._sealed_accounts
        found: dict[bytes, bytes | None] = {}
        if sealed:
            found = {k: sealed[k] for k in missing if k in sealed}
            missing = [k for k in missing if k not in found]
        # Under the store's lock, as the background reads: a reader that finds the map grown by
        # the writer process remaps it, which must not happen under another's read.
        with self.store.lock:
            found.update(zip(missing, self.store.accounts(missing), strict=True))
        return [pending[k] if k in pending else found[k] for k in keys]

    def _stored_txs(self, signatures: list[bytes]) -> dict[bytes, TxRecord | None]:
        pending, sealed = self._pending_txs, self._sealed_txs
        # None seen in the groups not committed yet: the usual case.
        if pending.keys().isdisjoint(signatures) and sealed.keys().isdisjoint(signatures):
            missing = signatures
        else:
            missing = [s for s in signatures if s not in pending and s not in sealed]
        with self.store.lock:  # see `_stored_accounts`
            stored = self.store.txs(missing)
        out: dict[bytes, TxRecord | None] = dict(zip(missing, stored, strict=True))
        if missing is signatures:
            return out
        for s in signatures:
            if s in pending:
                out[s] = pending[s]
            elif s in sealed:
                out[s] = sealed[s]
        return out

    def prepare(self, block: L1Block) -> Prepared:
        """Route and decode `block`, and start checking its signatures in the workers.

        Depends on the block alone, not on the state, so the node prepares the next block while
        the current one executes. It also starts reading the stored values of the keys the
        block names, off the main thread; `execute` uses those still current.
        """
        started = time.time_ns()
        messages: list[_Message] = []
        items: list[_Tx | _Deposit] = []
        for l1tx in block.transactions:
            payload = self.router(l1tx, block)
            if payload is not None:
                self._route(l1tx, payload, messages, items)
        signed = [i.signed for i in items if isinstance(i, _Tx) and i.signed is not None]
        if signed:
            SIGNATURES.add(sum(len(s.signatures) for s in signed))
        verdicts = self.verifier.verify(signed)
        named = _named(items)
        read = self._background(named)
        return Prepared(block, messages, items, verdicts, named, started, time.time_ns(), read)

    def execute(self, prepared: Prepared, window: Container[bytes], state: LtHash) -> ExecutedBlock:
        """Run a prepared block on the current state; return its writes and the lattice hash
        after it. A prepared block runs once.

        :param window: the hashes of the previous 150 L1 blocks (valid recent blockhashes).
        :param state: the lattice hash before the block (not modified).
        """
        block = prepared.block
        self._executed += 1
        self._prefetch(prepared.items, prepared.named, self._reader_for(prepared.read))
        self.runtime.set_clock(block.number, block.timestamp)
        executed = self._run(
            block, window, state, prepared.messages, prepared.items, prepared.verdicts
        )
        # Between blocks: every value the runtime had is in the pending writes or the store.
        cache = self.cache
        cache.evict()
        cache.record()
        return executed

    # ------------------------------------------------------------------ stages

    def _route(
        self,
        l1tx: L1Transaction,
        payload: bytes,
        messages: list[_Message],
        items: list[_Tx | _Deposit],
    ) -> None:
        decoded = inbox.decode(payload, l1tx.value)
        index = len(messages)
        if isinstance(decoded, inbox.Rejected):
            # The kind byte means something only under a version this node knows.
            kind: Literal["batch", "deposit"] | None = None
            if decoded.reason is not Reason.UNKNOWN_VERSION:
                if payload[1] == inbox.KIND_BATCH:
                    kind = "batch"
                elif payload[1] == inbox.KIND_DEPOSIT:
                    kind = "deposit"
            messages.append(_Message(l1tx, kind, decoded.reason.value, []))
        elif isinstance(decoded, inbox.Deposit):
            messages.append(
                _Message(l1tx, "deposit", None, [], decoded.recipient, decoded.lamports)
            )
            items.append(_Deposit(l1tx, index, decoded.recipient, decoded.lamports))
        else:
            messages.append(_Message(l1tx, "batch", None, []))
            for position, raw in enumerate(decoded.transactions):
                parsed = _decode_tx(raw)
                if parsed is None:
                    items.append(_Tx(l1tx, index, position, None, None, ()))
                else:
                    items.append(_Tx(l1tx, index, position, *parsed, raw=raw))

    def _prefetch(
        self,
        items: list[_Tx | _Deposit],
        named: list[bytes],
        read: Callable[[list[bytes]], list[bytes | None]],
    ) -> None:
        """Make every account the block can touch resident before it runs: deposit recipients,
        static keys, lookup tables and the addresses they hold, and the ProgramData of each
        upgradeable program among them (`AccountCache.ensure`). Sysvars and builtins are the
        runtime's own.

        :param named: the keys the block names (`_named`, at `prepare`).
        :param read: reads the values of keys not resident (`_reader_for`).
        """
        cache = self.cache
        cache.ensure(named, read)
        v0 = [i.tx for i in items if isinstance(i, _Tx) and i.tx is not None and i.writable is None]
        if v0:
            # The tables are resident now. Addresses a table gains in this slot are not usable
            # until the next one (and a table created in it is not usable at all), so what the
            # tables hold before the block is all the block can load.
            runtime = self.runtime
            cache.ensure(
                (a for tx in v0 for a in loaded_addresses(tx, runtime)), self._stored_accounts
            )

    def _run(
        self,
        block: L1Block,
        window: Container[bytes],
        state: LtHash,
        messages: list[_Message],
        items: list[_Tx | _Deposit],
        verdicts: Iterator[bool],
    ) -> ExecutedBlock:
        runtime = self.runtime
        get = runtime.get_object
        resident = runtime.resident
        # Every account the block may write, in the order first touched. What the block changed
        # is read once, at its end, and compared with the stored value (the pending writes',
        # else the store's): a transaction's own writes are read only when a plugin wants them
        # one by one.
        touched: dict[bytes, None] = {}
        # The value before the block, as the runtime had it, of the touched accounts the state
        # does not hold (a key known absent may be one the runtime has of its own, a builtin or
        # sysvar, which is never written unless the block changes it), and of every touched
        # account when plugins want per-write updates. An account of the state has the stored
        # value in the runtime (the cache's invariant), so it needs no copy.
        before: dict[bytes, Account | None] = {}
        # With per-write updates: each account's value after the last write reported.
        current: dict[bytes, Account | None] = {}
        records: dict[bytes, TxRecord] = {}
        details: list[DetailWrite] = []
        keep_details = self.keep_details
        ok = failed = rejected = deposits = 0
        # Payloads for plugins, built only when one asked for them.
        want_writes = self.want_writes
        updates: list[AccountUpdate] | None = [] if self.want_updates else None
        capture = updates is not None
        infos: list[TransactionInfo] | None = [] if self.want_transactions or want_writes else None
        # The stream's `writes` without `AccountUpdate`s: the block's write log (`core.writes`)
        # reads a write's value only when its key is touched again in the block (just before),
        # or at the block's end, where the last pass reads every touched account anyway.
        log = make_write_log(runtime) if want_writes and updates is None else None

        # Which signatures executed before: from memory (`_remembers`), else the earlier
        # statuses of every signature in the block, in one read transaction.
        executed_sigs = self._executed_sigs
        stored_txs: dict[bytes, TxRecord | None] | None = None
        if not self._remembers(block.number):
            signatures = [i.signed.signatures[0] for i in items if isinstance(i, _Tx) and i.signed]
            stored_txs = self._stored_txs(signatures)
        executed_here: list[bytes] = []

        for item in items:
            msg = messages[item.message]
            if isinstance(item, _Deposit):
                recipient = item.recipient
                value = get(recipient)
                if recipient not in touched:
                    touched[recipient] = None
                    before[recipient] = value
                credited = _credit(value, item.lamports)
                if credited is None:
                    msg.reason = Reason.MALFORMED_DEPOSIT.value  # the credit overflows a u64
                    continue
                runtime.put_object(recipient, credited)
                if updates is not None:
                    current[recipient] = credited
                    updates.append(_update(recipient, credited, None, len(updates)))
                elif log is not None:  # always a write, as `update_accounts` gets it
                    log.deposit(recipient, value, credited)
                deposits += 1
                continue

            if item.tx is None or item.signed is None:
                msg.outcomes.append(("rejected", Reason.MALFORMED_TX.value))
                rejected += 1
                if infos is not None:
                    infos.append(
                        TransactionInfo(
                            None,
                            "rejected",
                            Reason.MALFORMED_TX.value,
                            None,
                            0,
                            0,
                            (),
                            (),
                            item.l1.hash,
                            item.l1.index,
                            item.position,
                        )
                    )
                continue
            tx = item.tx
            signature = item.signed.signatures[0]
            verdict = next(verdicts)
            prior = records.get(signature)
            if prior is None and stored_txs is not None:
                prior = stored_txs[signature]
            # Memory holds only executed signatures, each one's status in the store.
            repeat = prior.executed if prior is not None else signature in executed_sigs
            reason: str | None = None
            if not verdict:
                reason = Reason.SIGNATURE_FAILURE.value
            elif item.blockhash not in window:
                reason = Reason.BLOCKHASH_NOT_FOUND.value
            elif repeat:
                reason = Reason.ALREADY_PROCESSED.value

            status: TxStatus
            fee = compute_units = 0
            logs: list[str] = []
            error: object = None
            if reason is None:
                writable = item.writable
                if writable is None:
                    writable = writable_keys(tx, list(item.keys), runtime)
                # The fee payer is the first key, always a writable signer (so it is touched
                # below). Its lamports now tell whether a failure was charged.
                payer = item.keys[0]
                for key in writable:
                    if key not in touched:
                        touched[key] = None
                        if capture or resident.get(key, ABSENT_SIZE) == ABSENT_SIZE:
                            before[key] = get(key)
                if log is not None:  # the values earlier transactions wrote, before this one
                    log.touch(writable)
                if keep_details:
                    loaded = None if item.writable is not None else loaded_split(tx, runtime)
                    keys = item.keys if loaded is None else (*item.keys, *loaded[0], *loaded[1])
                    pre = runtime.balances(keys)
                    payer_lamports = pre[0]
                    # Token balances read the accounts; only writable ones can change, and
                    # only a transaction that names a token program changes them.
                    pre_token_accounts = (
                        None
                        if TOKEN_PROGRAMS.isdisjoint(keys)
                        else [(keys.index(k), get(k)) for k in writable]
                    )
                else:
                    payer_lamports = runtime.lamports(payer)
                result = runtime.execute(tx, details=keep_details)
                if result.error is None:
                    status = "ok"
                elif runtime.lamports(payer) != payer_lamports:
                    # Executed: the fee was charged (it is never 0, so a transaction the
                    # runtime committed always took lamports from its fee payer), the rest
                    # rolled back.
                    status = "failed"
                else:
                    name = result.error_name or "unknown"
                    reason = Reason.FEE_PAYER.value if name in _FEE_PAYER_ERRORS else snake(name)
                    status = "rejected"
                if updates is not None and status != "rejected":
                    for key in writable:
                        value = get(key)
                        if value != current.get(key, before[key]):
                            current[key] = value
                            updates.append(_update(key, value, signature, len(updates)))
                elif log is not None and status != "rejected":
                    log.written(writable, 0 if infos is None else len(infos))  # its info next
                if status != "rejected":
                    fee, compute_units, logs = result.fee, result.compute_units, result.logs
                    error = result.error_json
                    if keep_details:
                        details.append(
                            self._detail(
                                item,
                                block.number,
                                signature,
                                keys,
                                loaded,
                                pre,
                                pre_token_accounts,
                                result,
                            )
                        )
                    executed_here.append(signature)
                    records[signature] = TxRecord(
                        signature,
                        status,
                        None,
                        error,
                        block.number,
                        fee,
                        compute_units,
                        logs,
                        item.l1.hash,
                        item.l1.index,
                        item.position,
                    )
            else:
                status = "rejected"
            if status == "rejected":
                rejected += 1
                # A rejection never hides the status of the executed transaction it repeats, and
                # a signature that failed its check does not name the transaction it claims to.
                if reason != Reason.SIGNATURE_FAILURE and not repeat:
                    if prior is None and stored_txs is None:
                        # Memory holds the window only: a transaction executed long ago,
                        # repeated with its stale blockhash, is in the store (rejections are
                        # rare: one read each).
                        prior = self._stored_txs([signature])[signature]
                    if prior is None or not prior.executed:
                        records[signature] = TxRecord(
                            signature,
                            "rejected",
                            reason,
                            None,
                            block.number,
                            0,
                            0,
                            [],
                            item.l1.hash,
                            item.l1.index,
                            item.position,
                        )
            elif status == "ok":
                ok += 1
            else:
                failed += 1
            msg.outcomes.append((status, reason))
            if infos is not None:
                infos.append(
                    TransactionInfo(
                        signature,
                        status,
                        reason,
                        error,
                        fee,
                        compute_units,
                        tuple(logs),
                        item.keys,
                        item.l1.hash,
                        item.l1.index,
                        item.position,
                    )
                )

        # One pass over what the block may have written (`writes.changes`, in C): a copy taken
        # before it tells unchanged accounts apart without encoding them; the others are
        # encoded and compared with the stored value.
        changed_keys, changed = changes(runtime, touched, before)
        stored = self._stored_accounts(changed_keys)
        writes: Writes | None = None
        if log is not None:
            writes = log.finish(before, changed_keys, changed, stored)
        elif want_writes and updates is not None:
            writes = _eager_writes(updates, {k: before[k] for k in current}, infos or [])
        lthash = state.copy()
        account_writes = self._mix(lthash, changed_keys, stored, changed)

        record = BlockRecord(
            number=block.number,
            hash=block.hash,
            parent_hash=block.parent_hash,
            timestamp=block.timestamp,
            checksum=lthash.checksum(),
            messages=len(messages),
            deposits=deposits,
            ok=ok,
            failed=failed,
            rejected=rejected,
        )
        message_records = [
            (
                message_key(block.number, m.l1.index),
                MessageRecord(m.l1.hash, m.kind, m.reason, m.outcomes, m.recipient, m.lamports),
            )
            for m in messages
        ]
        pending = self._pending_accounts
        number, last_write = self._executed, self._last_write
        for key, _, new in account_writes:
            pending[key] = new
            last_write[key] = number
        self.cache.written(account_writes)
        self._write_log.append((number, [key for key, _, _ in account_writes]))
        self._pending_txs.update(records)
        if executed_here:
            self._sig_log.append((block.number, executed_here))
            executed_sigs.update(zip(executed_here, itertools.repeat(block.number)))
        write = BlockWrite(
            record, lthash, account_writes, list(records.values()), message_records, details
        )
        return ExecutedBlock(
            write, updates if self.want_updates and updates else [], infos or [], writes
        )

    def _detail(
        self,
        item: _Tx,
        number: int,
        signature: bytes,
        keys: tuple[bytes, ...],
        loaded: tuple[list[bytes], list[bytes]] | None,
        pre: list[int],
        pre_token_accounts: list[tuple[int, Account | None]] | None,
        result: Execution,
    ) -> DetailWrite:
        """An executed transaction's details, read from the runtime right after it ran.

        Lamports come from `SvmRuntime.balances` (no account data is copied: a program's is
        its whole ELF); token balances only from the writable keys of a transaction naming a
        token program (Solana also lists token accounts a transaction only reads)."""
        pre_tokens: list[TokenBalance] = []
        post_tokens: list[TokenBalance] = []
        if pre_token_accounts is not None:
            get = self.runtime.get_object
            pre_tokens = self._token_balances(pre_token_accounts)
            post_tokens = self._token_balances([(i, get(keys[i])) for i, _ in pre_token_accounts])
        # A `TxDetail`'s fields in its order: it is `array_like`, so the tuple encodes to the
        # same bytes (`test_detail_fields_encode_as_the_record`) without the object.
        fields = (
            item.raw,
            pre,
            self.runtime.balances(keys),
            loaded,
            pre_tokens,
            post_tokens,
            result.inner,
            result.return_data,
        )
        return DetailWrite(
            detail_key(number, item.l1.index, item.position),
            signature,
            keys,
            encode_record(fields),  # once, for the store and the stream log
        )

    def _token_balances(self, accounts: list[tuple[int, Account | None]]) -> list[TokenBalance]:
        out: list[TokenBalance] = []
        for index, account in accounts:
            if account is None:
                continue
            program = bytes(account.owner)
            data = account.data
            if not is_token_account(program, data):
                continue
            mint = data[:32]
            decimals = self._decimals(mint)
            if decimals is None:
                continue
            amount = int.from_bytes(data[64:72], "little")
            out.append(TokenBalance(index, mint, data[32:64], program, amount, decimals))
        return out

    def _decimals(self, mint: bytes) -> int | None:
        # The mint need not be named by the transaction: read it (through the pending writes)
        # between transactions, as any other load. Asked for once per token balance, it counts
        # only when it is read.
        if mint not in self.runtime.resident:
            self.cache.ensure((mint,), self._stored_accounts, prefetch=False)
        account = self.runtime.get_object(mint)
        if account is None or bytes(account.owner) not in TOKEN_PROGRAMS:
            return None
        data = account.data
        return data[44] if len(data) >= 82 else None


def _named(items: list[_Tx | _Deposit]) -> list[bytes]:
    """The keys a block names without reading any state, each once, in the order first named:
    deposit recipients, each transaction's static keys, and the lookup tables it names (the
    addresses in them come from the tables)."""
    named: list[bytes] = []
    extend = named.extend
    for item in items:
        if isinstance(item, _Deposit):
            named.append(item.recipient)
        elif item.tx is not None:
            extend(item.keys)
            if item.writable is None:  # it loads addresses from lookup tables
                extend(lookup_tables(item.tx))
    return list(dict.fromkeys(named))


def _credit(account: Account | None, lamports: int) -> Account | None:
    """The account after a deposit, or None when the balance would overflow a u64."""
    if account is None:
        # rent_epoch 0, as the runtime gives accounts that a transfer creates.
        return Account(lamports, b"", Pubkey(_SYSTEM_PROGRAM))
    total = account.lamports + lamports
    if total > inbox.MAX_LAMPORTS:
        return None
    return Account(total, account.data, account.owner, account.executable, account.rent_epoch)


def _update(
    pubkey: bytes, account: Account | None, signature: bytes | None, version: int
) -> AccountUpdate:
    if account is None:  # closed: 0 lamports
        return AccountUpdate(pubkey, 0, _SYSTEM_PROGRAM, False, 0, b"", signature, version)
    return AccountUpdate(
        pubkey,
        account.lamports,
        bytes(account.owner),
        account.executable,
        account.rent_epoch,
        account.data,
        signature,
        version,
    )


def _eager_writes(
    updates: list[AccountUpdate],
    written_before: dict[bytes, Account | None],
    infos: list[TransactionInfo],
) -> Writes:
    """The block's `writes` from the `AccountUpdate`s plugins get, and each updated account's
    value before the block (the reference for the write log, `core.writes`)."""
    index = {t.signature: i for i, t in enumerate(infos) if t.signature is not None}
    # Every field as written, lamports 0 included: the analyzer rebuilds the same update.
    logged = [
        (
            u.pubkey,
            encode_account_fields(u.lamports, u.owner, u.executable, u.rent_epoch, u.data),
            -1 if u.signature is None else index[u.signature],
        )
        for u in updates
    ]
    before = [(key, account_fields(value)) for key, value in written_before.items()]
    return Writes(logged, before)
