"""The replica: applies an executor's stream to its own LMDB and checks the state hash at
every block.

It starts from the executor's snapshot when its state is empty, then follows the stream from
the sequence number it last applied (kept in its own LMDB, in the same transaction as the
block), so a restart resumes exactly, reverts included. The state it keeps has the executor's
layout, so `monmouth status`, `account` and `tx` read it the same way.

On a state-hash mismatch, a block that does not extend its head, or a gap the executor can no
longer replay, it stops applying, raises an alert, and keeps answering reads and heartbeats
until stopped: its state stays the last one it verified.
"""

from __future__ import annotations

import threading

import base58
import structlog
import zmq

from monmouth.core.config import Settings
from monmouth.core.errors import ConfigError, DataDirError
from monmouth.core.l1 import BlockId
from monmouth.core.lthash import LtHash, digest, sum_of
from monmouth.core.payloads import BlockInfo
from monmouth.core.plugins import PluginHost
from monmouth.core.reasons import Reason
from monmouth.core.records import BlockRecord, TxRecord, decode_block, decode_snapshot_head
from monmouth.core.state import BlockWrite, Store
from monmouth.roles.progress import Every
from monmouth.rust_svm.accounts import AccountRecord, account_hash_input
from monmouth.stream.eventlog import StreamService, client_curve
from monmouth.stream.schema import AccountBody, BlockBody, Request, RevertBody, TransactionBody
from monmouth.stream.security import next_port
from monmouth.stream.subscriber import Message, ReplayUnavailable, Subscriber, ask

log = structlog.get_logger("monmouth.replica")
_CURSOR = b"upstream_seq"
_UPSTREAM_ID = b"upstream_stream_id"


def _b58(text: str) -> bytes:
    return base58.b58decode(text)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


class Replica:
    """Follows one executor (`settings.stream.upstream[0]`)."""

    def __init__(self, settings: Settings) -> None:
        cfg = settings.stream
        if not cfg.upstream:
            raise ConfigError(
                "a replica follows an executor's stream: give --upstream tcp://HOST:PORT"
            )
        self.settings = settings
        self._plugins = PluginHost.empty(settings)
        self.upstream = cfg.upstream[0]
        self.curve = client_curve(settings)
        self.store = Store(
            settings.data_dir,
            map_size=settings.store.map_size_mb << 20,
            sync=settings.store.sync,
            retention=settings.store.retention_blocks,
            stream_blocks=0,
        )
        #: Why the replica stopped applying (None while it follows).
        self.halted: str | None = None
        self.applied = 0
        self.reverted = 0
        self.state = self._head_lthash()
        self._accounts: list[AccountBody] = []
        self._txs: list[TransactionBody] = []
        try:
            self.stream = StreamService(settings, self.store, head=self._head_number)
        except BaseException:
            self.store.close()
            raise
        self.stream.set_head(self.store.head())

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
        """A replica posts nothing to the inbox."""
        return None

    @property
    def l1_head(self) -> None:
        """A replica follows a stream, not an L1 node."""
        return None

    @property
    def plugins(self) -> PluginHost:
        """A replica runs no plugins."""
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
        subscriber = Subscriber(
            self.upstream,
            kinds=["account", "transaction", "block", "revert"],
            from_seq=start,
            curve=self.curve,
            stop=stop,
        )
        progress = Every()
        try:
            while not stop.is_set():
                msg = subscriber.receive(0.25)
                if progress.due():
                    self._log_progress()
                if msg is None or self.halted is not None:
                    continue
                if subscriber.stream_id and self._check_upstream(subscriber.stream_id):
                    continue
                self._on(msg)
        finally:
            subscriber.close()

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

    def _apply(self, seq: int, body: BlockBody) -> None:
        accounts, txs = self._accounts, self._txs
        self._accounts, self._txs = [], []
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
        write = BlockWrite(record, lthash, writes, self._tx_records(number, txs), [])
        store.commit_block(write, meta=[(_CURSOR, seq.to_bytes(8, "big", signed=True))])
        self.state = lthash
        self.applied += 1
        self.stream.set_head(record)

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
        self._accounts, self._txs = [], []
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
            store.revert_head(meta=[(_CURSOR, seq.to_bytes(8, "big", signed=True))])
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

    def close(self) -> None:
        """Close the stream and the store. Idempotent."""
        self.stream.close()
        self.store.close()
