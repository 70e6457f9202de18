"""What the core needs of an event log, and the log that keeps nothing.

The node writes each event's segment in the same LMDB transaction as the change it reports
(`Store.commit_blocks`, `revert_blocks`, `set_finality`), then submits it, under `ordered()`, so
whoever publishes receives segments in sequence order. The core defines this protocol and never
imports its implementation: the stream (`monmouth.stream.eventlog.StreamService`) provides one,
and `monmouth.app` hands it to the node. Without one the node keeps and sends nothing
(`NullEventLog`), which is what an embedding application or a unit test gets by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

from monmouth.core.errors import ConfigError

if TYPE_CHECKING:
    from monmouth.core.payloads import TransactionInfo
    from monmouth.core.records import BlockRecord, Segment
    from monmouth.core.state import DetailWrite, Store

#: The status of a slot (an L1 block number), as Geyser names them.
SlotStatus = Literal["processed", "confirmed", "finalized"]
#: (slot, parent slot or None, status): one slot status change.
SlotChange = tuple[int, int | None, SlotStatus]


class Writes(msgspec.Struct, frozen=True, gc=False):
    """One block's writes for the stream, as its segment stores them (the executor builds them
    encoded, so that neither it nor the segment encodes a write twice).

    :ivar writes: every write (the `AccountUpdate`s `update_accounts` would get), in execution
        order (the write version is the index): (pubkey, account fields as `AccountRecord`
        encodes them, a closed account as 0 lamports owned by the system program, index of the
        writing transaction in the block's `TransactionInfo`s or -1 for a deposit).
    :ivar before: (pubkey, encoded value before the block, None: it did not exist) of each
        account in `writes`, in the order of their first write.

    Either field may be those lists already encoded as MessagePack (`msgspec.Raw`: the C write
    log, `core.writes`, makes no tuple), which the segment embeds as they are.
    """

    writes: list[tuple[bytes, bytes, int]] | msgspec.Raw
    before: list[tuple[bytes, bytes | None]] | msgspec.Raw


class Topic(Protocol):
    """A message kind a plugin declared (`register_stream_topics`); `publish` sends one."""

    @property
    def kind(self) -> str: ...

    @property
    def description(self) -> str: ...

    def publish(self, height: int, body: Any, *, key: str = "") -> int:
        """Publish one message about L1 block `height` (any MessagePack-able body).

        :param key: an optional routing key: subscribers may filter on `KIND/KEY/`.
        :returns: its sequence number.
        """
        ...


class EventLog(Protocol):
    """The node's side of an event log: segments built, stored by the node, then submitted."""

    @property
    def logging(self) -> bool:
        """Whether segments are wanted at all (the node builds none otherwise)."""
        ...

    def subscriptions(self) -> int | None:
        """How many topic subscriptions live subscribers hold; None when not publishing."""
        ...

    def block_segments(
        self,
        block: BlockRecord,
        parent: int | None,
        accounts: Sequence[tuple[bytes, bytes | None, bytes | None]],
        transactions: Sequence[TransactionInfo],
        details: Sequence[DetailWrite] = (),
        writes: Writes | None = None,
    ) -> list[Segment]:
        """The segments of one committed block (accounts as (pubkey, old, new) writes, and
        the transaction details it stored, which a replica stores too; `writes`, when
        `wants_writes()` said so before the block ran, as `update_accounts` receives them)."""
        ...

    def wants_writes(self) -> bool:
        """Whether the next block's per-transaction writes go into its segment (the executor
        then builds them: `BlockExecutor.want_writes`)."""
        ...

    def revert_segments(self, block: BlockRecord, parent_checksum: bytes | None) -> list[Segment]:
        """The segments of one reverted block (its parent's checksum: the state after)."""
        ...

    def slot_segments(self, height: int, slots: Sequence[SlotChange]) -> list[Segment]:
        """The segments of slot statuses that changed together, ending with the highest."""
        ...

    def ordered(self) -> AbstractContextManager[None]:
        """Hold while storing segments and submitting them, so they go out in order."""
        ...

    def submit(self, first: int, segments: Sequence[Segment]) -> None:
        """Hand stored segments (the first's sequence number is `first`) to the publisher."""
        ...

    def set_head(self, block: BlockRecord | None) -> None:
        """The instance's head changed (heartbeats carry it)."""
        ...

    def register(self, kind: str, description: str = "") -> Topic:
        """Declare a plugin's message kind (the `register_stream_topics` callback)."""
        ...

    def add_method(self, name: str, function: Callable[[Any], Any]) -> None:
        """Serve a plugin's request method (the `register_rpc_methods` callback, bound)."""
        ...

    def close(self) -> None:
        """Send what is queued, then stop. Idempotent."""
        ...


#: How `monmouth.app` builds an event log for a node, given its store and its head.
EventLogFactory = Callable[["Store", Callable[[], "int | None"]], EventLog]


class NullEventLog:
    """An event log that keeps and sends nothing: no segments, no topics, no methods."""

    logging = False

    def subscriptions(self) -> int | None:
        return None

    def block_segments(
        self,
        block: BlockRecord,
        parent: int | None,
        accounts: Sequence[tuple[bytes, bytes | None, bytes | None]],
        transactions: Sequence[TransactionInfo],
        details: Sequence[DetailWrite] = (),
        writes: Writes | None = None,
    ) -> list[Segment]:
        return []

    def wants_writes(self) -> bool:
        return False

    def revert_segments(self, block: BlockRecord, parent_checksum: bytes | None) -> list[Segment]:
        return []

    def slot_segments(self, height: int, slots: Sequence[SlotChange]) -> list[Segment]:
        return []

    @contextmanager
    def ordered(self) -> Iterator[None]:
        yield

    def submit(self, first: int, segments: Sequence[Segment]) -> None:
        pass

    def set_head(self, block: BlockRecord | None) -> None:
        pass

    def register(self, kind: str, description: str = "") -> Topic:
        raise ConfigError(
            f"stream kind {kind!r}: this node keeps no event log (build it with monmouth.app)"
        )

    def add_method(self, name: str, function: Callable[[Any], Any]) -> None:
        raise ConfigError(
            f"RPC method {name!r}: this node serves no requests (build it with monmouth.app)"
        )

    def close(self) -> None:
        pass
