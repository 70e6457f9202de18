"""The replica: applies an executor's stream to its own LMDB and checks the state hash at
every block.

It starts from the executor's snapshot when its state is empty, then follows the stream from
the sequence number it last applied (kept in its own LMDB, in the same transaction as the
block), so a restart resumes exactly, reverts included. The state it keeps has the executor's
layout, so `monmouth status`, `account` and `tx` read it the same way.

On a state-hash mismatch, a block that does not extend its head, or a gap the executor can no
longer replay, it stops applying, raises an alert, and keeps answering reads and heartbeats
until stopped: its state stays the last one it verified.

What Solana's JSON-RPC reads is kept too, so that the `rpc` plugin serves the same answers
from a replica as from its executor (reads scale out over replicas): the safe and finalized
heads from the stream's `confirmed` / `finalized` slot messages, stored as the executor stores
them and before the next block (pruning follows them); each executed transaction's details
from the `detail` messages (the executor's stored record bytes), with the signatures-by-address
index, through the executor's own code (`Store.commit_block`, `DetailWrite.from_record`); the
account indexes from the account changes. A replica runs the plugins of `REPLICA_PLUGINS` only.
"""

from __future__ import annotations

import threading

import base58
import pluggy
import structlog
import zmq

from monmouth.core import hookspecs
from monmouth.core.config import Settings
from monmouth.core.errors import ConfigError, DataDirError
from monmouth.core.eventlog import SlotChange
from monmouth.core.l1 import BlockId
from monmouth.core.lthash import LtHash, digest, sum_of
from monmouth.core.payloads import BlockInfo
from monmouth.core.plugins import BUILTIN_PLUGINS, PluginHost, find_plugins, instantiate
from monmouth.core.reasons import Reason
from monmouth.core.records import (
    BlockRecord,
    TxRecord,
    decode_block,
    decode_snapshot_head,
    detail_key,
)
from monmouth.core.state import BlockWrite, DetailWrite, Store
from monmouth.roles.analyzer import transaction_info
from monmouth.roles.progress import Every
from monmouth.rust_svm.accounts import AccountRecord, account_hash_input
from monmouth.stream.eventlog import StreamService, client_curve
from monmouth.stream.schema import (
    AccountBody,
    BlockBody,
    DetailBody,
    Request,
    RevertBody,
    SlotBody,
    TransactionBody,
)
from monmouth.stream.security import next_port
from monmouth.stream.subscriber import Message, ReplayUnavailable, Subscriber, ask

log = structlog.get_logger("monmouth.replica")
_CURSOR = b"upstream_seq"
_UPSTREAM_ID = b"upstream_stream_id"


#: The plugins a replica runs: `rpc` serves Solana's JSON-RPC from the replica's own LMDB
#: (writes answer that they go to the executor), `monitoring` serves health and metrics.
#: Others act on execution (`routing` decides where the executor sends transactions) or want
#: what only the executor has (per-write account updates, L1 traces): run them in the executor
#: or an analyzer.
REPLICA_PLUGINS = frozenset({"rpc", "monitoring"})


def replica_plugins(settings: Settings) -> pluggy.PluginManager:
    """A plugin manager with the enabled plugins a replica runs (`REPLICA_PLUGINS`).

    A built-in that is on by default but has nothing to do in a replica (`routing`) is left
    out quietly; any other plugin named in `[plugins] enable` (or an entry point's) is
    refused: raises ConfigError.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    named = set(settings.plugins.enable)
    for found in find_plugins(settings):
        if not found.enabled:
            continue
        if found.name not in REPLICA_PLUGINS:
            if found.name in BUILTIN_PLUGINS and found.name not in named:
                log.info("plugin left out: it has nothing to do in a replica", plugin=found.name)
                continue
            raise ConfigError(
                f"plugin {found.name!r} cannot run in a replica (it runs only "
                f"{', '.join(sorted(REPLICA_PLUGINS))}): run it in the executor or an analyzer, "
                f"or add it to [plugins] disable"
            )
        pm.register(instantiate(found.name, found.load(), settings), name=found.name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise ConfigError(f"plugin {name!r} does not fit the hooks: {exc}") from None
    return pm


def _b58(text: str) -> bytes:
    return base58.b58decode(text)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


class Replica:
    """Follows one executor (`settings.stream.upstream[0]`).

    :param plugins: the plugins to run instead of those the settings enable (tests).
    """

    def __init__(self, settings: Settings, *, plugins: pluggy.PluginManager | None = None) -> None:
        cfg = settings.stream
        if not cfg.upstream:
            raise ConfigError(
                "a replica follows an executor's stream: give --upstream tcp://HOST:PORT"
            )
        self.settings = settings
        # Built first: a plugin a replica cannot run is refused before anything is opened.
        pm = plugins if plugins is not None else replica_plugins(settings)
        self.upstream = cfg.upstream[0]
        self.curve = client_curve(settings)
        kept = settings.store
        #: Whether it stores the executor's transaction details (`[store]
        #: transaction_details`; the executor must keep them too, or there are none to send).
        self.keep_details = kept.transaction_details
        self.store = Store(
            settings.data_dir,
            map_size=kept.map_size_mb << 20,
            sync=kept.sync,
            retention=kept.retention_blocks,
            stream_blocks=0,
            index_signatures=kept.index_signatures and kept.transaction_details,
            index_owners=kept.index_owners,
            index_tokens=kept.index_tokens,
        )
        try:
            self._plugins = PluginHost(pm, settings)
        except BaseException:
            self.store.close()
            raise
        #: Why the replica stopped applying (None while it follows).
        self.halted: str | None = None
        self._closed = False
        self.applied = 0
        self.reverted = 0
        try:
            self.state = self._head_lthash()
        except BaseException:
            self._plugins.close()
            self.store.close()
            raise
        self._accounts: list[AccountBody] = []
        self._txs: list[TransactionBody] = []
        self._details: list[DetailBody] = []
        self._processed: list[SlotBody] = []
        #: (safe, finalized, seq of the last slot message) not yet stored: a finality update
        #: is several slot messages, stored at once before the next other message.
        self._finality: tuple[int | None, int | None, int] | None = None
        #: Its slot changes, for the plugins once stored (they read the state on them).
        self._slot_changes: list[SlotChange] = []
        try:
            self.stream = StreamService(settings, self.store, head=self._head_number)
        except BaseException:
            self.store.close()
            self._plugins.close()
            raise
        self.stream.set_head(self.store.head())
        try:
            self._plugins.started(self, head=self.last_block)
        except BaseException:
            self._plugins.close()
            self.stream.close()
            self.store.close()
            raise

    def _head_number(self) -> int | None:
        head = self.store.head()
        return None if head is None else head.number

    # ------------------------------------------------------------------ the host protocol

    @property
    def head(self) -> BlockId | None:
        return self.store.head_id()

    @property
    def last_block(self) -> BlockInfo | None:
        head = self.store.head()
        return None if head is None else BlockInfo.from_record(head)

    @property
    def relay(self) -> None:
        """A replica posts nothing to the inbox: writes go to the executor."""
        return None

    @property
    def l1_head(self) -> None:
        """A replica follows a stream, not an L1 node."""
        return None

    @property
    def plugins(self) -> PluginHost:
        """The plugins it runs (`REPLICA_PLUGINS`)."""
        return self._plugins

    def stream_subscriptions(self) -> int | None:
        return self.stream.subscriptions()

    def _head_lthash(self) -> LtHash:
        head = self.store.head()
        if head is None:
            return LtHash.identity()
        lthash = self.store.lthash(head.number)
        if lthash is None or lthash.checksum() != head.checksum:
            raise DataDirError(f"{self.store.path} is corrupt: the head's lattice hash is missing")
        return lthash

    # ------------------------------------------------------------------ start

    def _start_seq(self, stop: threading.Event) -> int | None:
        """Where to follow from: after the cursor, or after a snapshot of an empty state."""
        raw = self.store.meta(_CURSOR)
        if raw is not None:
            return int.from_bytes(raw, "big", signed=True) + 1
        if self.store.head() is not None:
            raise DataDirError(
                f"{self.store.path} holds a state that no replica wrote; "
                "give a replica an empty --data-dir"
            )
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        endpoint = next_port(self.upstream)
        delay = 0.2
        while not stop.is_set():
            try:
                replies = list(ask(context, endpoint, Request("snapshot"), self.curve, 30.0))
                break
            except ReplayUnavailable:
                log.warning("upstream not answering; retrying", endpoint=endpoint, retry_in=delay)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
        else:
            return None
        frames = [f for _, data in replies for f in data]
        head = decode_snapshot_head(frames[1])
        pairs = [(frames[i], frames[i + 1]) for i in range(2, len(frames), 2)]
        split = pairs.index((b"", b"txs"))
        accounts, txs = pairs[:split], pairs[split + 1 :]
        stream_id = replies[0][0].stream_id
        cursor = (head.next_seq - 1).to_bytes(8, "big", signed=True)
        self.store.load_snapshot(
            head, accounts, txs, meta=[(_CURSOR, cursor), (_UPSTREAM_ID, stream_id.encode())]
        )
        self.state = self._head_lthash()
        block = None if head.block is None else decode_block(head.block)
        self.stream.set_head(block)
        log.info(
            "snapshot loaded",
            accounts=len(accounts),
            head=None if block is None else block.number,
            next_seq=head.next_seq,
        )
        return head.next_seq

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Follow the upstream until `stop` is set."""
        start = self._start_seq(stop)
        if start is None:
            return
        kinds = ["account", "transaction", "slot", "block", "revert"]
        if self.keep_details:
            kinds.append("detail")
        subscriber = Subscriber(
            self.upstream, kinds=kinds, from_seq=start, curve=self.curve, stop=stop
        )
        progress = Every()
        try:
            while not stop.is_set():
                msg = subscriber.receive(0.25)
                if progress.due():
                    self._log_progress()
                if self.halted is None and (msg is None or not _is_finality(msg)):
                    self._store_finality()
                # A plugin under `halt` failed: stop, as the executor does.
                self._plugins.check()
                if msg is None or self.halted is not None:
                    continue
                if subscriber.stream_id and self._check_upstream(subscriber.stream_id):
                    continue
                self._on(msg)
        finally:
            subscriber.close()
            if self.halted is None:
                self._store_finality()

    def _log_progress(self) -> None:
        head = self.store.head()
        log.info(
            "progress",
            role="replica",
            head=None if head is None else head.number,
            state_hash=None if head is None else self.state.checksum_b58(),
            applied=self.applied,
            reverted=self.reverted,
            halted=self.halted,
        )

    def _check_upstream(self, stream_id: str) -> bool:
        """Halt when the upstream's log is not the one this replica followed."""
        known = self.store.meta(_UPSTREAM_ID)
        if known is not None and known.decode() != stream_id:
            self._halt(
                "upstream_changed",
                f"the upstream's stream id is {stream_id}, this replica followed {known.decode()}",
            )
            return True
        return False

    def _on(self, msg: Message) -> None:
        body = msg.body
        if msg.kind == "account":
            self._accounts.append(body)
        elif msg.kind == "transaction":
            self._txs.append(body)
        elif msg.kind == "detail":
            self._details.append(body)
        elif msg.kind == "slot":
            self._slot(msg.seq, body)
        elif msg.kind == "block":
            self._apply(msg.seq, body)
        elif msg.kind == "revert":
            self._revert(msg.seq, body)
        elif msg.kind == "gap":
            self._halt("stream_gap", f"messages lost upstream: {body}")

    def _halt(self, code: str, message: str, **details: object) -> None:
        self.halted = code
        self.stream.alert(code, message, details={"replica": self.stream.instance, **details})
        log.error("replica stopped applying", code=code, message=message)

    def _slot(self, seq: int, body: SlotBody) -> None:
        """Note a slot status: `processed` goes to the plugins with its block; `confirmed` and
        `finalized` move the safe and finalized heads (the executor sends the slots that moved,
        in increasing order, so the last one of each status is the new head)."""
        if body.status == "processed":
            self._processed.append(body)
            return
        safe, finalized, _ = self._finality or (*self.store.finality(), seq)
        if body.status == "confirmed":
            safe = body.slot
        else:
            finalized = body.slot
        self._finality = (safe, finalized, seq)
        self._slot_changes.append((body.slot, body.parent, body.status))

    def _store_finality(self) -> None:
        """Store the finality update received (with the cursor), as the executor stored it:
        before the next block, whose pruning it bounds."""
        pending, self._finality = self._finality, None
        changes, self._slot_changes = self._slot_changes, []
        if pending is None:
            return
        safe, finalized, seq = pending
        self.store.set_finality(
            safe, finalized, meta=[(_CURSOR, seq.to_bytes(8, "big", signed=True))]
        )
        # As the executor does: the plugins hear of it once a reader sees it.
        self._plugins.slots_changed(changes)

    def _apply(self, seq: int, body: BlockBody) -> None:
        accounts, txs, details = self._accounts, self._txs, self._details
        processed = self._processed
        self._accounts, self._txs, self._details, self._processed = [], [], [], []
        store = self.store
        head = store.head()
        number, hash_, parent = body.number, _hex(body.hash), _hex(body.parent_hash)
        if head is not None and (number != head.number + 1 or parent != head.hash):
            self._halt(
                "chain_mismatch",
                f"block #{number} does not extend the replica's head #{head.number}",
                height=number,
            )
            return
        keys = [_b58(a.pubkey) for a in accounts]
        olds = store.accounts(keys)
        writes: list[tuple[bytes, bytes | None, bytes | None]] = []
        outs: list[bytes] = []
        ins: list[bytes] = []
        for key, old_raw, acc in zip(keys, olds, accounts, strict=True):
            old = None if old_raw is None else bytes(old_raw)
            new = None
            if acc.lamports:
                new = AccountRecord(
                    acc.lamports, _b58(acc.owner), acc.executable, acc.rent_epoch, acc.data
                ).encode()
            if old == new:
                continue
            if old is not None:
                outs.append(digest(account_hash_input(key, old)))
            if new is not None:
                ins.append(digest(account_hash_input(key, new)))
            writes.append((key, old, new))
        lthash = self.state.copy()
        lthash.mix_out(sum_of(outs))
        lthash.mix_in(sum_of(ins))
        if lthash.checksum_b58() != body.state_hash:
            self._halt(
                "state_hash_mismatch",
                f"block #{number}: the executor says {body.state_hash}, "
                f"the replica computes {lthash.checksum_b58()}",
                height=number,
                expected=body.state_hash,
                computed=lthash.checksum_b58(),
            )
            return
        record = BlockRecord(
            number=number,
            hash=hash_,
            parent_hash=parent,
            timestamp=body.timestamp,
            checksum=lthash.checksum(),
            messages=body.messages,
            deposits=body.deposits,
            ok=body.ok,
            failed=body.failed,
            rejected=body.rejected,
        )
        # The executor's record bytes, indexed by the executor's code: the same entries.
        detail_writes = [
            DetailWrite.from_record(detail_key(number, d.l1_tx_index, d.position), d.record)
            for d in details
        ]
        write = BlockWrite(record, lthash, writes, self._tx_records(number, txs), [], detail_writes)
        store.commit_block(write, meta=[(_CURSOR, seq.to_bytes(8, "big", signed=True))])
        self.state = lthash
        self.applied += 1
        self.stream.set_head(record)
        plugins = self._plugins
        plugins.block_committed(
            BlockInfo.from_record(record),
            transactions=(
                [transaction_info(t) for t in txs] if plugins.wants_transactions() else []
            ),
            processed=[(s.slot, s.parent) for s in processed],
        )

    def _tx_records(self, number: int, txs: list[TransactionBody]) -> list[TxRecord]:
        """The statuses the executor stored, by its rules: a failed signature names nothing,
        and a rejection never hides an executed transaction's status."""
        records: dict[bytes, TxRecord] = {}
        for t in txs:
            if t.signature is None or t.reason == Reason.SIGNATURE_FAILURE:
                continue
            sig = _b58(t.signature)
            if t.status == "rejected":
                prior = records.get(sig) or self.store.tx(sig)
                if prior is not None and prior.executed:
                    continue
            records[sig] = TxRecord(
                sig,
                t.status,
                t.reason,
                t.error,
                number,
                t.fee,
                t.compute_units,
                list(t.logs),
                _hex(t.l1_tx_hash),
                t.l1_tx_index,
                t.position,
            )
        return list(records.values())

    def _revert(self, seq: int, body: RevertBody) -> None:
        self._accounts, self._txs, self._details, self._processed = [], [], [], []
        store = self.store
        head = store.head()
        if head is None or head.number != body.number or head.hash != _hex(body.hash):
            self._halt(
                "chain_mismatch",
                f"the executor reverted #{body.number}, which is not the replica's head",
                height=body.number,
            )
            return
        try:
            reverted = store.revert_head(meta=[(_CURSOR, seq.to_bytes(8, "big", signed=True))])
        except DataDirError as exc:
            self._halt("revert_impossible", str(exc), height=body.number)
            return
        parent = store.head()
        self.state = LtHash.identity() if parent is None else self._head_lthash()
        computed = None if parent is None else self.state.checksum_b58()
        if body.state_hash is not None and computed != body.state_hash:
            self._halt(
                "state_hash_mismatch",
                f"after reverting #{body.number}: the executor says {body.state_hash}, "
                f"the replica has {computed}",
                height=body.number - 1,
            )
            return
        self.reverted += 1
        self.stream.set_head(parent)
        self._plugins.blocks_reverted([BlockInfo.from_record(reverted.block)])

    def close(self) -> None:
        """Drain the plugins and call `shutdown`, then close the stream and the store.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._plugins.stopping(self)
        finally:
            self._plugins.close()
            self.stream.close()
            self.store.close()


def _is_finality(msg: Message) -> bool:
    return msg.kind == "slot" and msg.body.status != "processed"
