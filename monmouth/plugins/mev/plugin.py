"""The built-in `mev` plugin: MEV in the blocks the node follows, stored, streamed, reverted.

Off until named in `[plugins] enable = ["mev"]`; swappable like any plugin (disable it and
enable another under another name). Per committed L1 block it runs two detectors:

- **Ethereum side**, on the block's call traces (`L1Block.traces`, Parity `trace_block`): swaps,
  then sandwiches and arbitrages, with the library of this package (mev-inspect-py's rules). The
  plugin asks for traces with `wants_traces = True`; the node passes that to its source, which
  then fetches `trace_block` with each block. The block reaches the plugin through
  `on_l1_block(block)` (the hook `notify_l1_block`, when the node has it). A block without traces
  (the L1 node does not serve them) is recorded with `traced = False`.
- **SVM side**, on the block's executed Solana transactions (`notify_transactions`): the
  `SvmDetector` (sandwiches, spam, replays, compute-unit outliers), reverted with the blocks
  (`revert_blocks`).

When the block is notified (`notify_block`), its findings are written in one LMDB write
transaction to `<data_dir>/mev/` (`MevStore`), then published on the event stream as messages of
kind `mev`, one per finding, keyed by what it is: `sandwich`, `arbitrage` (and `swap` with
`publish_swaps`), or the SVM finding's kind (`svm_sandwich`, `spam`, `replay`, `cu_outlier`).
The body is the finding's fields as plain values, plus `block_hash`; token amounts (the fields
named `*_amount`: they may exceed 64 bits, which MessagePack cannot carry) are decimal strings.
When blocks are reverted, their records are deleted and, for each one that had findings, a
message with key `revert` (`block_number`, `block_hash`) tells subscribers to drop them.

Hooks run in the plugin's worker, behind the node; the SVM detector's running statistics live in
memory and start afresh at each start (the stored findings stay).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

import msgspec
import structlog

from monmouth.core.hexutil import to_data
from monmouth.hooks import hookimpl
from monmouth.plugins.mev.config import Config
from monmouth.plugins.mev.inspect import BlockInspection, inspect_traces
from monmouth.plugins.mev.svm import SvmDetector, SvmFinding
from monmouth.plugins.mev.traces import TraceType, parse_traces

if TYPE_CHECKING:
    from collections.abc import Callable

    from monmouth.hooks import BlockInfo, Host, L1Block, Settings, Topic, TransactionInfo
    from monmouth.plugins.mev.store import MevBlock, MevStore

log = structlog.get_logger("monmouth.mev")

#: The stream kind of every message the plugin publishes.
KIND = "mev"
_TRACE_TYPES = frozenset(get_args(TraceType))


@dataclass(slots=True)
class _Pending:
    """One block's findings until the block is notified (and written)."""

    traced: bool = False
    ethereum: BlockInspection | None = None
    error: str | None = None
    svm: list[SvmFinding] = field(default_factory=list)


def inspect_l1_block(block: L1Block) -> tuple[BlockInspection | None, str | None]:
    """The Ethereum side of one block: its inspection, or why there is none.

    (None, None) when the block has no traces. Traces of types the library does not know are
    left out; malformed traces give (None, the reason).
    """
    if block.traces is None:
        return None, None
    known = [t for t in block.traces if not isinstance(t, dict) or t.get("type") in _TRACE_TYPES]
    try:
        return inspect_traces(parse_traces(known), block.number), None
    except ValueError as exc:
        return None, str(exc)


class Plugin:
    """The `mev` plugin (module docstring). Built as `Plugin(settings, config)`."""

    config_model = Config
    #: Ask the node's source for each block's call traces (`L1Block.traces`).
    wants_traces = True

    def __init__(self, settings: Settings, config: Config | None = None) -> None:
        self.settings = settings
        self.config = config if config is not None else Config()
        self.wants_traces = self.config.ethereum
        self.path = settings.data_dir / "mev"
        self.detector = SvmDetector(self.config.detector_config())
        self.topic: Topic | None = None
        self._store: MevStore | None = None
        self._pending: dict[tuple[int, bytes], _Pending] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ resources

    @property
    def store(self) -> MevStore:
        """The findings database, opened on first use (`startup` opens it)."""
        # The store (LMDB, and numpy through the node's state module) loads with the first
        # use, not with the package, which `monmouth --help` imports to offer `monmouth mev`.
        from monmouth.plugins.mev.store import MevStore

        if self._store is None:
            self._store = MevStore(
                self.path, sync=self.settings.store.sync, keep_blocks=self.config.keep_blocks
            )
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # ------------------------------------------------------------------ registration

    @hookimpl
    def register_stream_topics(self, register: Callable[..., Any]) -> None:
        self.topic = register(
            KIND,
            "MEV findings per block, keyed by kind: sandwich, arbitrage, svm_sandwich, spam, "
            "replay, cu_outlier (swap with publish_swaps), and revert",
        )

    @hookimpl
    def register_rpc_methods(self, register: Callable[..., Any]) -> None:
        register("mev.block", self.rpc_block)

    def rpc_block(self, node: Host, params: Any) -> dict[str, Any]:
        """`mev.block` (`{"block": N}`): the block's record and the plugin's head
        (`queries.block_answer`); `monmouth mev --block N --endpoint` asks it."""
        from monmouth.plugins.mev.queries import block_answer, block_number

        number = block_number(params)
        chain = node.store
        record = None if chain is None else chain.block(number)
        head = node.head
        if record is not None:
            chain_hash: bytes | None = record.hash
        elif head is not None and head.number == number:
            chain_hash = head.hash  # an analyzer knows its head's hash
        else:
            chain_hash = None
        return block_answer(self.store, number, chain_hash)

    # ------------------------------------------------------------------ lifecycle

    @hookimpl
    def startup(self, node: Host) -> None:
        store = self.store
        head = node.head
        if head is None:
            return
        dropped = store.delete_above(head.number)
        if dropped:
            log.info("mev: dropped findings above the head", head=head.number, blocks=dropped)
        ours = store.head()
        if ours is not None and ours[0] < head.number:
            log.warning(
                "mev: no findings for blocks the node committed while the plugin was off",
                first=ours[0] + 1,
                last=head.number,
            )

    @hookimpl
    def shutdown(self) -> None:
        self.close()

    # ------------------------------------------------------------------ per block

    @hookimpl
    def notify_l1_block(self, block: L1Block) -> None:
        self.on_l1_block(block)

    def on_l1_block(self, block: L1Block) -> None:
        """The Ethereum side of one committed L1 block, kept until `notify_block` writes it.

        A block already written (its `notify_block` came first) gets its record rewritten with
        the Ethereum findings, which are then published.
        """
        if not self.config.ethereum:
            return
        inspection, error = inspect_l1_block(block)
        if error is not None:
            log.warning("mev: traces not inspected", block=block.number, error=error)
        key = (block.number, block.hash)
        with self._lock:
            pending = self._pending.setdefault(key, _Pending())
            pending.traced = block.traces is not None
            pending.ethereum = inspection
            pending.error = error
        written = self.store.get(block.number, block.hash)
        if written is None:
            return
        with self._lock:
            late = self._pending.pop(key, None)
        if late is not None:
            record = msgspec.structs.replace(written, **_ethereum_fields(late))
            self.store.put(record)
            self._publish(record, svm=False)

    @hookimpl
    def notify_transactions(self, block: BlockInfo, transactions: list[TransactionInfo]) -> None:
        if not self.config.svm:
            return
        findings = self.detector.inspect(block, transactions)
        with self._lock:
            self._pending.setdefault((block.number, block.hash), _Pending()).svm = findings

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        """Write the block's findings (one write transaction), then publish them."""
        from monmouth.plugins.mev.store import MevBlock  # once a block: see `store`

        with self._lock:
            pending = self._pending.pop((block.number, block.hash), None) or _Pending()
            # Blocks that never committed (nothing else can reach them now).
            for stale in [k for k in self._pending if k[0] < block.number]:
                del self._pending[stale]
        record = MevBlock(
            block_number=block.number,
            block_hash=to_data(block.hash),
            **_ethereum_fields(pending),
            svm_findings=tuple(pending.svm),
        )
        self.store.put(record)
        self._publish(record)

    @hookimpl
    def revert_blocks(self, blocks: list[BlockInfo]) -> None:
        """Delete the reverted blocks' findings, undo the SVM detector, tell subscribers."""
        if not blocks:
            return
        lowest = min(blocks, key=lambda b: b.number)
        try:
            self.detector.revert(lowest.number)
        except ValueError as exc:
            log.warning("mev: SVM detector restarted", reason=str(exc))
            self.detector = SvmDetector(self.config.detector_config())
        with self._lock:
            for b in blocks:
                self._pending.pop((b.number, b.hash), None)
        parent = (lowest.number - 1, lowest.parent_hash) if lowest.number > 0 else None
        deleted = self.store.delete([(b.number, b.hash) for b in blocks], parent)
        topic = self.topic
        if topic is None:
            return
        for record in deleted:
            if self._findings(record):
                topic.publish(
                    record.block_number,
                    {"block_number": record.block_number, "block_hash": record.block_hash},
                    key="revert",
                )

    # ------------------------------------------------------------------ stream

    def _findings(self, record: MevBlock, *, svm: bool = True) -> list[tuple[str, Any]]:
        """What is published of a record: (key, finding), in order."""
        findings: list[tuple[str, Any]] = []
        if self.config.publish_swaps:
            findings += [("swap", swap) for swap in record.swaps]
        findings += [("sandwich", sandwich) for sandwich in record.sandwiches]
        findings += [("arbitrage", arbitrage) for arbitrage in record.arbitrages]
        if svm:
            findings += [(finding.kind, finding) for finding in record.svm_findings]
        return findings

    def _publish(self, record: MevBlock, *, svm: bool = True) -> None:
        topic = self.topic
        if topic is None:
            return
        height, extra = record.block_number, {"block_hash": record.block_hash}
        for key, finding in self._findings(record, svm=svm):
            topic.publish(height, {**stream_body(finding), **extra}, key=key)


def stream_body(finding: msgspec.Struct) -> dict[str, Any]:
    """A finding as a stream message body: plain values, amounts as decimal strings."""
    body = _amounts_as_text(msgspec.to_builtins(finding))
    assert isinstance(body, dict)
    return body


def _amounts_as_text(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _amounts_as_text(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_amounts_as_text(item) for item in value]
    if key.endswith("_amount") and isinstance(value, int):
        return str(value)
    return value


def _ethereum_fields(pending: _Pending) -> dict[str, Any]:
    inspection = pending.ethereum
    if inspection is None:
        return {"traced": pending.traced, "error": pending.error}
    return {
        "traced": pending.traced,
        "error": pending.error,
        "swaps": inspection.swaps,
        "sandwiches": inspection.sandwiches,
        "arbitrages": inspection.arbitrages,
    }
