"""The built-in `rag` plugin: every executed Solana transaction, indexed for similarity search.

Off until named in `[plugins] enable = ["rag"]`. Its hooks are queued, so the indexing runs in
the plugin's own worker thread behind a bounded queue (`[plugins.rag] queue_size`): the node
only hands each block's payloads over. Per committed block:

1. `update_accounts` and `notify_transactions` keep the block's account writes and transactions;
2. `notify_block` makes a document of each executed transaction (`documents.py`), embeds the
   summaries (`embed.py`), in a child process for a block of `worker_min` transactions or more
   (`worker.py`), and writes the block to `<data_dir>/rag/` (`index.py`): LMDB first, then the
   HNSW index;
3. `revert_blocks` removes the documents of the reverted blocks (and their balance changes).

It runs in an executor or in an analyzer (`monmouth run --role analyzer`, fed by the executor's
stream, whose `writes` messages give it each transaction's account writes as the executor would).

`startup` opens the index, repairs it against LMDB when a crash left them apart, and, in an
executor, reconciles it with the node's chain: indexed blocks above the node's head, or that the
node no longer has, are removed. When the node committed blocks while the plugin was off (or the
index is new on a state that is not empty), those blocks are not indexed (a warning says which),
and the plugin asks for the startup snapshot to learn the accounts' balances, so the amounts of
later transactions are right. In an analyzer the upstream's log stands for the chain: the
analyzer replays it from the position it stored, the reverts in it undo what the chain dropped,
and a replayed block at a height the index already holds is skipped, so none is indexed twice.

Queries: `monmouth rag` (`cli.py`), the request socket's methods `rag.query`, `rag.context` and
`rag.stats` (`register_rpc_methods`), and `RagIndex` from Python. See docs/rag.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from monmouth.hooks import hookimpl
from monmouth.plugins.rag.config import Config

if TYPE_CHECKING:
    from collections.abc import Callable

    from monmouth.core.config import Settings
    from monmouth.core.payloads import AccountUpdate, BlockInfo, TransactionInfo
    from monmouth.core.state import Store
    from monmouth.hooks import Host
    from monmouth.plugins.rag.index import RagIndex

__all__ = ["QUERY_KEYS", "Plugin", "lag", "query_arguments"]

log = structlog.get_logger("monmouth.rag")

#: The keys a `rag.query` or `rag.context` request may carry in its params.
QUERY_KEYS = (
    "text",
    "like",
    "account",
    "k",
    "program",
    "status",
    "from_height",
    "to_height",
    "exact",
)


def lag(indexed: int | None, node_head: int | None) -> dict[str, int | None]:
    """How far the index is behind the node: `node_head`, and `behind`, the blocks the node
    committed above the index's head (None when either is unknown)."""
    behind = None if node_head is None else node_head - (-1 if indexed is None else indexed)
    return {"node_head": node_head, "behind": behind}


def query_arguments(params: Any) -> dict[str, Any]:
    """The keyword arguments of `RagIndex.query` from a request's params: a string (the text),
    or a map with keys of `QUERY_KEYS` (a one-element list holding either is accepted too).
    Raises ValueError for anything else."""
    if isinstance(params, list) and len(params) == 1:
        params = params[0]
    if isinstance(params, str):
        return {"text": params}
    if not isinstance(params, dict):
        raise ValueError("params must be a text or a map of " + ", ".join(QUERY_KEYS))
    unknown = sorted(str(key) for key in params if key not in QUERY_KEYS)
    if unknown:
        raise ValueError(f"unknown params {', '.join(unknown)}; use {', '.join(QUERY_KEYS)}")
    args = dict(params)
    for key in ("k", "from_height", "to_height"):
        value = args.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(f"{key} must be an integer")
    for key in ("text", "like", "account", "program", "status"):
        value = args.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
    return args


class Plugin:
    """The `rag` plugin (module docstring). Built as `Plugin(settings, config)`."""

    config_model = Config

    def __init__(self, settings: Settings, config: Config | None = None) -> None:
        self.settings = settings
        self.config = config if config is not None else Config()
        self.path = settings.data_dir / "rag"
        #: Asked for only when the index does not follow the node's state (see `startup`).
        self.wants_startup_snapshot = False
        self.index: RagIndex | None = None
        #: In an analyzer: the index's head at start; blocks up to it may come again.
        self._replayed_up_to = -1
        self._updates: dict[tuple[int, bytes], list[AccountUpdate]] = {}
        self._transactions: dict[tuple[int, bytes], list[TransactionInfo]] = {}

    # ------------------------------------------------------------------ registration

    @hookimpl
    def register_rpc_methods(self, register: Callable[..., Any]) -> None:
        register("rag.query", self.rpc_query)
        register("rag.context", self.rpc_context)
        register("rag.stats", self.rpc_stats)

    def _open_index(self) -> RagIndex:
        if self.index is None:
            raise ValueError("the rag index is not open (the plugin did not start)")
        return self.index

    def rpc_query(self, node: Host, params: Any) -> dict[str, Any]:
        """`rag.query`: `{"results": [hit, ...]}`, each hit the document's fields and `score`."""
        args = query_arguments(params)
        hits = self._open_index().query(**args)
        return {"results": [hit.to_json() for hit in hits]}

    def rpc_context(self, node: Host, params: Any) -> dict[str, Any]:
        """`rag.context`: the prompt-ready pack of `RagIndex.context`."""
        args = query_arguments(params)
        return self._open_index().context(**args)

    def rpc_stats(self, node: Host, params: Any) -> dict[str, Any]:
        """`rag.stats`: counts and sizes, how far the index is behind the node, and the blocks
        waiting in the plugin's queue."""
        stats = self._open_index().stats()
        head = node.head
        stats.update(lag(stats["head"], None if head is None else head.number))
        stats["queued_blocks"] = node.plugins.queue_depths().get("rag", 0)
        return stats

    # ------------------------------------------------------------------ lifecycle

    @hookimpl
    def startup(self, node: Host) -> None:
        from monmouth.plugins.rag.embed import make_embedder
        from monmouth.plugins.rag.index import IndexSettings, RagIndex

        cfg = self.config
        index = RagIndex(
            self.path,
            embedder=make_embedder(cfg.embedder, cfg.dimensions),
            settings=IndexSettings(
                connectivity=cfg.connectivity,
                expansion_add=cfg.expansion_add,
                expansion_search=cfg.expansion_search,
                save_every=cfg.save_every,
                threads=cfg.threads,
                max_log_lines=cfg.max_log_lines,
                worker_min=cfg.worker_min,
            ),
            retention=self.settings.store.retention_blocks,
        )
        self.index = index
        if node.store is None:
            # An analyzer: the upstream's log is the chain. The analyzer replays it from the
            # last position it stored, which may be behind the index after a crash: the blocks
            # the index already holds (height and hash) are skipped, and the reverts replayed
            # undo what the chain no longer has.
            head = index.store.meta().head
            self._replayed_up_to = -1 if head is None else head[0]
            log.info("rag: in an analyzer", head=self._replayed_up_to)
        else:
            self._reconcile(node, node.store, index)

    def _reconcile(self, node: Host, chain: Store, index: RagIndex) -> None:
        """Make the index follow the node's chain (`chain`: its store; module docstring)."""
        head = node.head
        store = index.store
        dropped = index.drop_blocks_above(-1 if head is None else head.number)
        # Blocks the node no longer has (a reorg while the plugin was off), newest first.
        for number in store.blocks_above(-1)[: self.settings.store.retention_blocks]:
            entry = store.block(number)
            record = chain.block(number)
            if entry is not None and record is not None and record.hash == entry.hash:
                break
            index.drop_blocks_above(number - 1)
            dropped += 1
        if dropped:
            log.info("rag: removed blocks the node does not have", blocks=dropped)
        remaining = store.blocks_above(-1)
        ours = remaining[0] if remaining else None
        wanted = None if head is None else (head.number, head.hash)
        if head is None:
            store.clear_balances(complete=True)
            store.set_head(None)
        elif ours == head.number:
            # The index follows the node (after dropping what the node no longer has).
            store.set_head(wanted)
            if not store.meta().complete:
                # A dropped block was too deep to undo its balance changes: learn them again.
                store.clear_balances(complete=False)
                self.wants_startup_snapshot = True
        else:
            log.warning(
                "rag: blocks committed while the plugin was off are not indexed",
                first=0 if ours is None else ours + 1,
                last=head.number,
            )
            # Learn the balances from the node's accounts (the startup snapshot).
            store.clear_balances(complete=False)
            store.set_head(wanted)
            self.wants_startup_snapshot = True
        if index.repair.state != "ok":
            log.info(
                "rag: index opened", state=index.repair.state, documents=index.repair.documents
            )

    @hookimpl
    def end_of_startup(self, node: Host) -> None:
        if self.wants_startup_snapshot and self.index is not None:
            self.index.store.set_head(self.index.store.meta().head, complete=True)
            self.wants_startup_snapshot = False

    @hookimpl
    def update_accounts(
        self, block: BlockInfo | None, updates: list[AccountUpdate], is_startup: bool
    ) -> None:
        if self.index is None:
            return
        if is_startup:
            self.index.seed_accounts(updates)
        elif block is not None:
            self._updates[(block.number, block.hash)] = updates

    @hookimpl
    def notify_transactions(self, block: BlockInfo, transactions: list[TransactionInfo]) -> None:
        if self.index is not None:
            self._transactions[(block.number, block.hash)] = transactions

    @hookimpl
    def notify_block(self, block: BlockInfo) -> None:
        key = (block.number, block.hash)
        updates = self._updates.pop(key, [])
        transactions = self._transactions.pop(key, [])
        index = self.index
        if index is None:
            return
        if block.number <= self._replayed_up_to and index.store.block(block.number) is not None:
            # Replayed after a crash of the analyzer: the index holds this block, or the one a
            # later reorg put at its height (a new block there comes after the revert of the
            # held one, which `revert_blocks` applies).
            return
        index.index_block(block.number, block.hash, transactions, updates)

    @hookimpl
    def revert_blocks(self, blocks: list[BlockInfo]) -> None:
        if self.index is None:
            return
        for block in blocks:
            self._updates.pop((block.number, block.hash), None)
            self._transactions.pop((block.number, block.hash), None)
            self.index.revert_block(block.number, block.hash, block.parent_hash)

    @hookimpl
    def shutdown(self, node: Host) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None
