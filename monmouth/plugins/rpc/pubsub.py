"""Solana's PubSub subscriptions, fed by what the node commits and reverts (read from LMDB).

Agave's method names, parameters and notification shapes (`rpc/src/rpc_pubsub.rs`,
`rpc_subscriptions.rs`). The notifier is driven by the state, not by the events: an event from
the node (`messages.Committed` and the others) only wakes it, and each wake-up compares one
read snapshot (one LMDB read transaction) with what it last saw:

- the blocks above the last one it saw are new (their undo records say which accounts they
  changed, their details which transactions they hold); when the child is behind, every block
  since the last wake-up is taken in one pass (coalesced), account values as of the head;
- a remembered block whose hash the store no longer has was reverted: the accounts it changed
  are candidates too, so that at `processed` an account a reorg changed back is notified;
- the confirmed and finalized blocks (snapshot.py) that moved up bring their own notifications,
  with the state as of that block.

An account subscription keeps a digest of the last value it sent, so nothing is sent twice for
one commitment level unless the value changed; `finalized` never moves back, so nothing sent at
`finalized` is taken back.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import structlog

from monmouth.core.errors import DataDirError
from monmouth.core.records import TxDetail, TxRecord
from monmouth.core.state import Store
from monmouth.core.view import StateView
from monmouth.plugins.rpc.accounts import ENCODINGS, encode_account, parse_data_slice
from monmouth.plugins.rpc.errors import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError, invalid_params
from monmouth.plugins.rpc.methods import (
    AIRDROP_MAGIC,
    airdrop_slot,
    filters_match,
    mint_decimals,
    parse_filters,
)
from monmouth.plugins.rpc.params import b58, base58_of, config_of, positional, pubkey_of
from monmouth.plugins.rpc.snapshot import Commitment, Snapshot, parse_commitment
from monmouth.plugins.rpc.transactions import encode_with_meta

__all__ = ["Notifier", "Sink", "Subscription"]

log = structlog.get_logger("monmouth.rpc.pubsub")

#: Blocks one wake-up reads one by one; a child further behind than this (it was stopped, or
#: the node replayed a long range) re-checks every account subscription against the head
#: instead, and notifies logs and blocks of the last MAX_CATCHUP blocks only.
MAX_CATCHUP = 256
#: Blocks remembered (number, hash, accounts changed) to see reverts: deeper than any L1 reorg
#: below a finalized block.
REMEMBERED = 1024
_SYSTEM = b58(bytes(32))
_encode = msgspec.json.Encoder().encode


class Sink(Protocol):
    """Where a connection's notifications go (`pubsub_server.Connection`)."""

    def push(self, message: bytes) -> None:
        """Queue one JSON text message; never blocks (a full backlog closes the connection)."""


@dataclass(eq=False, slots=True)
class Subscription:
    """One subscription of one connection (mutable: it remembers what it sent)."""

    id: int
    kind: str
    sink: Sink
    commitment: Commitment
    #: The account, program, mentioned key or signature it watches (None: all).
    key: bytes | None = None
    encoding: str = "base64"
    data_slice: tuple[int, int] | None = None
    filters: list[tuple[int | None, int, bytes]] = field(default_factory=list)
    #: signatureSubscribe's `enableReceivedNotification`, and whether it was sent.
    received: bool = False
    received_sent: bool = False
    #: blockSubscribe's options.
    details: str = "full"
    rewards: bool = True
    max_version: int | None = None
    #: The digest of the last account value sent (or the value at subscribe time).
    last: bytes | None = None
    #: programSubscribe: the digest of the last value sent per account, most recent last (at
    #: most PROGRAM_SENT_KEPT), so that a reorg that changes an account back and forth to the
    #: same value notifies it once.
    sent: dict[bytes, bytes] = field(default_factory=dict)


#: Accounts a program subscription remembers the last sent value of (16-byte digests).
PROGRAM_SENT_KEPT = 100_000


def _digest(raw: bytes | None) -> bytes:
    return b"" if raw is None else hashlib.blake2b(raw, digest_size=16).digest()


def _notification(method: str, sub_id: int, result: Any) -> bytes:
    return _encode(
        {
            "jsonrpc": "2.0",
            "method": method,
            "params": {"result": result, "subscription": sub_id},
        }
    )


def _context(slot: int, value: Any) -> dict[str, Any]:
    return {"context": {"slot": slot}, "value": value}


def _first_signature(wire: bytes) -> bytes:
    # A compact-u16 count of 1…127 signatures is one byte.
    return wire[1:65]


@dataclass(frozen=True, slots=True)
class _Block:
    """A block the notifier read: its number, hash and the accounts it changed."""

    number: int
    hash: bytes
    #: None: not read (no account or program subscription then); reverting it re-checks
    #: every account subscription.
    changed: frozenset[bytes] | None


class Notifier:
    """Every subscription of every connection, and what the last wake-up saw."""

    def __init__(self, store: Store, max_subscriptions: int) -> None:
        self.store = store
        self.max_subscriptions = max_subscriptions
        self.ids = itertools.count(1)
        self.subs: dict[int, Subscription] = {}
        self.owners: dict[int, Sink] = {}
        self.per_sink: dict[int, int] = {}
        #: Subscriptions by kind, and the keyed ones by key.
        self.kinds: dict[str, dict[int, Subscription]] = {}
        self.accounts: dict[bytes, dict[int, Subscription]] = {}
        self.programs: dict[bytes, dict[int, Subscription]] = {}
        self.signatures: dict[bytes, dict[int, Subscription]] = {}
        self.chain: deque[_Block] = deque(maxlen=REMEMBERED)
        self.started = False
        self.confirmed = -1
        self.finalized = -1
        self.wake = asyncio.Event()
        self.methods: dict[str, Callable[[Sink, Any], Any]] = {
            "accountSubscribe": self._account,
            "programSubscribe": self._program,
            "signatureSubscribe": self._signature,
            "logsSubscribe": self._logs,
            "blockSubscribe": self._block,
            "slotSubscribe": lambda sink, p: self._bare(sink, p, "slot", "slotSubscribe"),
            "rootSubscribe": lambda sink, p: self._bare(sink, p, "root", "rootSubscribe"),
            "slotsUpdatesSubscribe": lambda sink, p: self._bare(
                sink, p, "slotsUpdates", "slotsUpdatesSubscribe"
            ),
        }
        for name in ("account", "program", "signature", "logs", "block", "slot", "root"):
            self.methods[f"{name}Unsubscribe"] = self._unsubscribe
        self.methods["slotsUpdatesUnsubscribe"] = self._unsubscribe

    # ------------------------------------------------------------------ requests

    def call(self, sink: Sink, method: str, params: Any) -> Any:
        """The result of one request; raises RpcError."""
        function = self.methods.get(method)
        if function is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        return function(sink, params)

    def drop(self, sink: Sink) -> None:
        """Forget every subscription of a closed connection."""
        for sub_id in [i for i, owner in self.owners.items() if owner is sink]:
            self._remove(sub_id)
        self.per_sink.pop(id(sink), None)

    def _add(self, sub: Subscription) -> int:
        if self.per_sink.get(id(sub.sink), 0) >= self.max_subscriptions:
            raise RpcError(
                INVALID_PARAMS,
                f"Too many subscriptions on this connection: the limit is "
                f"{self.max_subscriptions} ([plugins.rpc] pubsub_max_subscriptions)",
            )
        self.per_sink[id(sub.sink)] = self.per_sink.get(id(sub.sink), 0) + 1
        self.subs[sub.id] = sub
        self.owners[sub.id] = sub.sink
        self.kinds.setdefault(sub.kind, {})[sub.id] = sub
        index = self._index(sub.kind)
        if index is not None and sub.key is not None:
            index.setdefault(sub.key, {})[sub.id] = sub
        return sub.id

    def _index(self, kind: str) -> dict[bytes, dict[int, Subscription]] | None:
        return {
            "account": self.accounts,
            "program": self.programs,
            "signature": self.signatures,
        }.get(kind)

    def _remove(self, sub_id: int) -> bool:
        sub = self.subs.pop(sub_id, None)
        if sub is None:
            return False
        self.owners.pop(sub_id, None)
        count = self.per_sink.get(id(sub.sink), 1) - 1
        if count:
            self.per_sink[id(sub.sink)] = count
        else:
            self.per_sink.pop(id(sub.sink), None)
        self.kinds.get(sub.kind, {}).pop(sub_id, None)
        index = self._index(sub.kind)
        if index is not None and sub.key is not None:
            subs = index.get(sub.key)
            if subs is not None:
                subs.pop(sub_id, None)
                if not subs:
                    del index[sub.key]
        return True

    def _unsubscribe(self, sink: Sink, params: Any) -> bool:
        (sub_id,) = positional(params, "unsubscribe", 1, 1)
        if not isinstance(sub_id, int) or self.owners.get(sub_id) is not sink:
            raise invalid_params("Invalid subscription id.")
        return self._remove(sub_id)

    @staticmethod
    def _encoding(cfg: dict[str, Any], default: str) -> str:
        encoding = cfg.get("encoding") or default
        if encoding not in ENCODINGS:
            raise invalid_params(
                f"params[1].encoding: unknown encoding {encoding!r}, expected one of "
                + ", ".join(ENCODINGS)
            )
        return str(encoding)

    def _account(self, sink: Sink, params: Any) -> int:
        pubkey, config = positional(params, "accountSubscribe", 1, 2)
        key = pubkey_of(pubkey, "params[0]")
        cfg = config_of(config, "params[1]")
        sub = Subscription(
            next(self.ids),
            "account",
            sink,
            parse_commitment(cfg),
            key,
            self._encoding(cfg, "binary"),
            parse_data_slice(cfg.get("dataSlice"), "params[1]"),
        )
        sub.last = self._current(sub)
        return self._add(sub)

    def _current(self, sub: Subscription) -> bytes:
        """The digest of the subscribed account at its commitment now."""
        assert sub.key is not None
        with self.store.read() as view:
            snap = Snapshot(view)
            if snap.head is None:
                return _digest(None)
            try:
                return _digest(snap.account(sub.key, snap.at(sub.commitment)))
            except DataDirError:
                return _digest(view.account(sub.key))

    def _program(self, sink: Sink, params: Any) -> int:
        program, config = positional(params, "programSubscribe", 1, 2)
        key = pubkey_of(program, "params[0]")
        cfg = config_of(config, "params[1]")
        sub = Subscription(
            next(self.ids),
            "program",
            sink,
            parse_commitment(cfg),
            key,
            self._encoding(cfg, "binary"),
            parse_data_slice(cfg.get("dataSlice"), "params[1]"),
            parse_filters(cfg.get("filters"), "params[1].filters"),
        )
        return self._add(sub)

    def _signature(self, sink: Sink, params: Any) -> int:
        signature, config = positional(params, "signatureSubscribe", 1, 2)
        raw = base58_of(signature, 64)
        if raw is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: params[0] is not a signature")
        cfg = config_of(config, "params[1]")
        sub = Subscription(next(self.ids), "signature", sink, parse_commitment(cfg), raw)
        sub.received = bool(cfg.get("enableReceivedNotification"))
        sub_id = self._add(sub)
        # Already landed: Agave answers from its status cache at once; here the next wake-up.
        self.wake.set()
        return sub_id

    def _logs(self, sink: Sink, params: Any) -> int:
        which, config = positional(params, "logsSubscribe", 1, 2)
        key: bytes | None = None
        if isinstance(which, dict) and "mentions" in which:
            mentions = which["mentions"]
            if not isinstance(mentions, list) or len(mentions) != 1:
                raise invalid_params("Invalid Request: Only 1 address supported")
            key = pubkey_of(mentions[0], "params[0].mentions[0]")
        elif which not in ("all", "allWithVotes"):
            raise invalid_params(
                'params[0] must be "all", "allWithVotes" or {"mentions": [address]}'
            )
        cfg = config_of(config, "params[1]")
        return self._add(Subscription(next(self.ids), "logs", sink, parse_commitment(cfg), key))

    def _block(self, sink: Sink, params: Any) -> int:
        which, config = positional(params, "blockSubscribe", 1, 2)
        key: bytes | None = None
        if isinstance(which, dict) and "mentionsAccountOrProgram" in which:
            key = pubkey_of(which["mentionsAccountOrProgram"], "params[0].mentionsAccountOrProgram")
        elif which != "all":
            raise invalid_params('params[0] must be "all" or {"mentionsAccountOrProgram": address}')
        cfg = config_of(config, "params[1]")
        encoding = cfg.get("encoding") or "json"
        if encoding not in ("json", "jsonParsed", "base58", "base64", "binary"):
            raise invalid_params(f"params[1].encoding: unknown encoding {encoding!r}")
        details = cfg.get("transactionDetails") or "full"
        if details not in ("full", "signatures", "none", "accounts"):
            raise invalid_params(f"params[1].transactionDetails: unknown {details!r}")
        max_version = cfg.get("maxSupportedTransactionVersion")
        if max_version is not None and (not isinstance(max_version, int) or max_version < 0):
            raise invalid_params("params[1].maxSupportedTransactionVersion must be 0 or more")
        sub = Subscription(next(self.ids), "block", sink, parse_commitment(cfg), key, encoding)
        sub.details, sub.max_version = details, max_version
        sub.rewards = cfg.get("showRewards") is not False
        return self._add(sub)

    def _bare(self, sink: Sink, params: Any, kind: str, method: str) -> int:
        positional(params, method, 0, 0)
        return self._add(Subscription(next(self.ids), kind, sink, "processed"))

    # ------------------------------------------------------------------ notifying

    async def run(self) -> None:
        """Wake up on each event and notify; never ends (cancelled with the server)."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                self.tick()
            except Exception:  # a bug must not stop every subscription
                log.exception("pubsub notification failed")
            # Let the connections write before the next pass.
            await asyncio.sleep(0)

    def tick(self) -> None:
        """Compare one snapshot with the last and send what changed."""
        with self.store.read() as view:
            snap = Snapshot(view)
            head = snap.head
            if head is None:
                return
            if not self.started:
                self.started = True
                self.chain.append(_Block(head.number, head.hash, None))
                self.confirmed, self.finalized = snap.confirmed, snap.finalized
                return
            reverted: set[bytes] = set()
            resync = False
            while self.chain:
                top = self.chain[-1]
                stored = view.block(top.number) if top.number <= head.number else None
                if stored is not None and stored.hash == top.hash:
                    break
                if top.changed is None:
                    resync = True
                else:
                    reverted |= top.changed
                self.chain.pop()
            base = self.chain[-1].number if self.chain else head.number - 1
            first = max(base + 1, head.number - MAX_CATCHUP + 1)
            resync = resync or first > base + 1
            # Which accounts a block changed costs decoding its undo record: only when an
            # account or program subscription may care.
            keyed = bool(self.accounts or self.programs)
            new: list[_Block] = []
            for number in range(first, head.number + 1):
                record = view.block(number)
                if record is None:
                    continue
                changed: frozenset[bytes] | None = None
                if keyed:
                    try:
                        changed = frozenset(view.changes_after(number - 1, number))
                    except DataDirError:
                        changed, resync = frozenset(), True
                new.append(_Block(number, record.hash, changed))
            self.chain.extend(new)
            if reverted:
                log.info("pubsub saw a revert", accounts=len(reverted), head=head.number)
            self._processed(view, snap, new, reverted, resync)
            for level in ("confirmed", "finalized"):
                self._level(view, snap, level)

    def _of(self, kind: str, level: Commitment) -> list[Subscription]:
        return [s for s in self.kinds.get(kind, {}).values() if s.commitment == level]

    def _processed(
        self,
        view: StateView,
        snap: Snapshot,
        new: list[_Block],
        reverted: set[bytes],
        resync: bool,
    ) -> None:
        head = snap.processed
        now = int(time.time() * 1000)
        for sub in self.kinds.get("slot", {}).values():
            for block in new[-64:]:
                result = {
                    "parent": max(block.number - 1, 0),
                    "root": snap.finalized,
                    "slot": block.number,
                }
                sub.sink.push(_notification("slotNotification", sub.id, result))
        for sub in self.kinds.get("slotsUpdates", {}).values():
            for block in new[-64:]:
                record = view.block(block.number)
                parent = max(block.number - 1, 0)
                created = {
                    "type": "createdBank",
                    "parent": parent,
                    "slot": block.number,
                    "timestamp": now,
                }
                sub.sink.push(_notification("slotsUpdatesNotification", sub.id, created))
                if record is not None:
                    stats = {
                        "numTransactionEntries": record.ok + record.failed,
                        "numSuccessfulTransactions": record.ok,
                        "numFailedTransactions": record.failed,
                        "maxTransactionsPerEntry": record.ok + record.failed,
                    }
                    frozen = {
                        "type": "frozen",
                        "slot": block.number,
                        "timestamp": now,
                        "stats": stats,
                    }
                    sub.sink.push(_notification("slotsUpdatesNotification", sub.id, frozen))
        changed: set[bytes] = set(reverted)
        for block in new:
            if block.changed is not None:
                changed |= block.changed
        if resync:
            changed |= self.accounts.keys()
        self._accounts(view, snap, "processed", head, changed, lambda key: view.account(key))
        self._transactions(view, snap, "processed", [b.number for b in new])
        self._signatures(view, snap)

    def _level(self, view: StateView, snap: Snapshot, level: Commitment) -> None:
        old = self.confirmed if level == "confirmed" else self.finalized
        new = snap.at(level)
        if new == old:
            return
        if level == "confirmed":
            self.confirmed = new
        else:
            # Finalized never moves back: an older value is a node restarted on other data.
            self.finalized = max(new, old)
        if new < old:
            return
        now = int(time.time() * 1000)
        kind = "optimisticConfirmation" if level == "confirmed" else "root"
        numbers = list(range(max(old + 1, new - MAX_CATCHUP + 1), new + 1))
        for sub in self.kinds.get("slotsUpdates", {}).values():
            for number in numbers[-64:]:
                update = {"type": kind, "slot": number, "timestamp": now}
                sub.sink.push(_notification("slotsUpdatesNotification", sub.id, update))
        if level == "finalized":
            for sub in self.kinds.get("root", {}).values():
                sub.sink.push(_notification("rootNotification", sub.id, new))
        wanted = any(
            s.commitment == level
            for kind_ in ("account", "program")
            for s in self.kinds.get(kind_, {}).values()
        )
        if wanted:
            try:
                changed = set(view.changes_after(max(old, new - MAX_CATCHUP), new))
                after = view.changes_after(new, snap.processed) if new < snap.processed else {}
            except DataDirError:
                changed, after = set(self.accounts), {}

            def value(key: bytes) -> bytes | None:
                return after[key] if key in after else view.account(key)

            if old < new - MAX_CATCHUP:
                changed |= self.accounts.keys()
            self._accounts(view, snap, level, new, changed, value)
        self._transactions(view, snap, level, numbers)

    def _accounts(
        self,
        view: StateView,
        snap: Snapshot,
        level: Commitment,
        slot: int,
        changed: Iterable[bytes],
        value: Callable[[bytes], bytes | None],
    ) -> None:
        """Notify account and program subscriptions at `level` of the `changed` accounts, as
        `value` reads them (the state as of block `slot`)."""
        programs = self.programs
        accounts = self.accounts
        if not accounts and not programs:
            return
        decimals = mint_decimals(snap, slot)
        for key in changed:
            subs = accounts.get(key)
            raw: bytes | None = None
            read = False
            if subs:
                raw, read = value(key), True
                digest = _digest(raw)
                for sub in list(subs.values()):
                    if sub.commitment != level or sub.last == digest:
                        continue
                    sub.last = digest
                    self._send_account(sub, slot, raw, decimals)
            if programs:
                if not read:
                    raw = value(key)
                if raw is None:
                    continue
                owner = raw[17:49]
                watchers = programs.get(owner)
                if not watchers:
                    continue
                digest = _digest(raw)
                for sub in list(watchers.values()):
                    if sub.commitment != level or not filters_match(raw[49:], sub.filters):
                        continue
                    if sub.sent.pop(key, None) == digest:
                        sub.sent[key] = digest  # unchanged since it was sent: now the newest
                        continue
                    sub.sent[key] = digest
                    if len(sub.sent) > PROGRAM_SENT_KEPT:
                        del sub.sent[next(iter(sub.sent))]
                    try:
                        account = encode_account(raw, sub.encoding, sub.data_slice, decimals)
                    except RpcError:
                        continue
                    result = _context(slot, {"pubkey": b58(key), "account": account})
                    sub.sink.push(_notification("programNotification", sub.id, result))

    def _send_account(self, sub: Subscription, slot: int, raw: bytes | None, decimals: Any) -> None:
        if raw is None:
            # Agave notifies a closed account as the default account.
            data = (
                ""
                if sub.encoding == "binary"
                else ["", "base64" if sub.encoding == "jsonParsed" else sub.encoding]
            )
            account: Any = {
                "lamports": 0,
                "data": data,
                "owner": _SYSTEM,
                "executable": False,
                "rentEpoch": 0,
                "space": 0,
            }
        else:
            try:
                account = encode_account(raw, sub.encoding, sub.data_slice, decimals)
            except RpcError as exc:
                log.info("account notification not encodable", error=exc.message)
                return
        sub.sink.push(_notification("accountNotification", sub.id, _context(slot, account)))

    def _signatures(self, view: StateView, snap: Snapshot) -> None:
        """Signature subscriptions whose transaction reached their commitment (one-shot)."""
        done: list[int] = []
        for signature, subs in self.signatures.items():
            err: Any = None
            if signature.startswith(AIRDROP_MAGIC):
                # requestAirdrop's id: the deposit it names (getSignatureStatuses' reading).
                slot = airdrop_slot(snap, signature)
                if slot is None:
                    continue
            else:
                record = view.tx(signature)
                if record is None or not record.executed:
                    continue
                slot = record.slot
                err = record.error if record.status == "failed" else None
            for sub in subs.values():
                if sub.received and not sub.received_sent:
                    sub.received_sent = True
                    result = _context(slot, "receivedSignature")
                    sub.sink.push(_notification("signatureNotification", sub.id, result))
                if slot <= snap.at(sub.commitment):
                    result = _context(slot, {"err": err})
                    sub.sink.push(_notification("signatureNotification", sub.id, result))
                    done.append(sub.id)
        for sub_id in done:
            self._remove(sub_id)

    def _transactions(
        self, view: StateView, snap: Snapshot, level: Commitment, numbers: list[int]
    ) -> None:
        """Logs and block subscriptions at `level` for blocks `numbers`."""
        logs = self._of("logs", level)
        blocks = self._of("block", level)
        if not numbers or (not logs and not blocks):
            return
        # Which transactions mention a key is read from the message itself (cheap); the
        # status record (logs, error) only for the transactions some subscription takes.
        everything = any(s.key is None for s in logs) or any(s.key is None for s in blocks)
        for number in numbers[-MAX_CATCHUP:]:
            entries: list[tuple[TxDetail, TxRecord, list[bytes]]] = []
            for detail in view.block_details(number):
                keys = _account_keys(detail)
                if (
                    not everything
                    and not any(s.key in keys for s in logs)
                    and not any(s.key in keys for s in blocks)
                ):
                    continue
                record = view.tx(_first_signature(detail.wire))
                if record is not None:
                    entries.append((detail, record, keys))
            for _detail, record, keys in entries:
                if not logs:
                    break
                err = record.error if record.status == "failed" else None
                value = {"signature": b58(record.signature), "err": err, "logs": record.logs}
                for sub in logs:
                    if sub.key is None or sub.key in keys:
                        result = _context(number, value)
                        sub.sink.push(_notification("logsNotification", sub.id, result))
            for sub in blocks:
                self._send_block(view, sub, number, entries)

    def _send_block(
        self,
        view: StateView,
        sub: Subscription,
        number: int,
        entries: list[tuple[TxDetail, TxRecord, list[bytes]]],
    ) -> None:
        block = view.block(number)
        if block is None:
            return
        chosen = [e for e in entries if sub.key is None or sub.key in e[2]]
        if sub.key is not None and not chosen:
            return
        out: dict[str, Any] = {
            "blockHeight": number,
            "blockTime": block.timestamp,
            "blockhash": b58(block.hash),
            "parentSlot": max(number - 1, 0),
            "previousBlockhash": b58(block.parent_hash),
        }
        error: Any = None
        shown: dict[str, Any] | None = out
        try:
            if sub.details == "signatures":
                out["signatures"] = [b58(_first_signature(d.wire)) for d, _, _ in chosen]
            elif sub.details != "none":
                out["transactions"] = [
                    encode_with_meta(r, d, sub.encoding, sub.max_version, sub.details)
                    for d, r, _ in chosen
                ]
        except RpcError as exc:
            shown, error = None, {"UnsupportedTransactionVersion": 0}
            log.info("block notification not encodable", error=exc.message)
        if sub.rewards:
            out["rewards"] = []
        result = _context(number, {"slot": number, "err": error, "block": shown})
        sub.sink.push(_notification("blockNotification", sub.id, result))


def _account_keys(detail: TxDetail) -> list[bytes]:
    """Every account a transaction names: its static keys (read from the wire: signatures,
    an optional version byte, the 3-byte header, then the keys), then those it loaded."""
    wire = detail.wire
    count, at = _compact_u16(wire, 0)
    at += 64 * count
    if wire[at] & 0x80:
        at += 1  # a versioned message's prefix
    count, at = _compact_u16(wire, at + 3)
    keys = [wire[at + 32 * i : at + 32 * (i + 1)] for i in range(count)]
    if detail.loaded is not None:
        keys.extend(detail.loaded[0])
        keys.extend(detail.loaded[1])
    return keys


def _compact_u16(data: bytes, at: int) -> tuple[int, int]:
    """Solana's compact-u16 at `at`: (value, offset after it)."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
