"""What the workload and the chain pass each other: the model of who holds what, the context of
the blocks before, the drafts of one block's L1 transactions, and the `Planted` records of what was
put into a block on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from blake3 import blake3

from monmouth.core import inbox
from monmouth.core.reasons import Reason

#: Solana's blockhash window, in L1 blocks.
BLOCKHASH_WINDOW: Final = 150

FAILED: Final = "failed"
"""A Solana transaction that executes and fails; the fee is charged."""
REVERTED: Final = "reverted"
"""An L1 transaction to the inbox whose receipt status is 0: the node ignores it."""
DECOY: Final = "decoy"
"""Inbox calldata sent to another address: the node ignores it."""
OK: Final = "ok"
"""A Solana transaction planted by a pattern (`WorkloadPatterns`) that executes and succeeds."""

#: A planted entry's (what, detail) or (what, detail, pattern).
Tag = tuple[str, str] | tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Planted:
    """Something the devnet put into a block on purpose, for tests to check the node against.

    :ivar what: a `Reason` (the message or transaction is rejected), `FAILED`, `REVERTED` or
        `DECOY`.
    :ivar tx_index: the L1 transaction's index in its block.
    :ivar position: the Solana transaction's position in the batch; None for a whole message.
    :ivar detail: which variant, in words (for example "empty calldata").
    :ivar signature: the first signature of the Solana transaction, when it has one.
    :ivar pattern: the name of the pattern (`WorkloadPatterns`) the transaction belongs to, None
        for the workload's own; `what` is then `OK`, `FAILED` or a rejection `Reason`. With
        `[devnet] mev_patterns` these are the mev plugin's (`monmouth.plugins.mev.devnet`).
    """

    what: str
    tx_index: int
    position: int | None
    detail: str
    signature: bytes | None = None
    pattern: str | None = None


@dataclass(slots=True)
class Draft:
    """An L1 transaction before the chain gives it an index and a hash.

    A batch keeps its entries (wire bytes and an optional (what, detail) tag) until `finish`.
    """

    sender: bytes
    to: bytes | None
    value: int
    input: bytes
    status: int
    entries: list[tuple[bytes, Tag | None]] | None = None
    tags: list[tuple[str, str]] = field(default_factory=list)

    def finish(self, tx_index: int) -> tuple[bytes, list[Planted]]:
        """The calldata and the planted records of this transaction at `tx_index`."""
        planted = [Planted(what, tx_index, None, detail) for what, detail in self.tags]
        if self.entries is None:
            return self.input, planted
        for position, (raw, tag) in enumerate(self.entries):
            if tag is not None:
                well_formed = tag[0] != Reason.MALFORMED_TX
                signature = raw[1:65] if well_formed else None
                pattern = tag[2] if len(tag) == 3 else None
                planted.append(Planted(tag[0], tx_index, position, tag[1], signature, pattern))
        return inbox.encode_batch([raw for raw, _ in self.entries]), planted


@dataclass(slots=True)
class BlockPlan:
    """What the workload puts into one block.

    :ivar drafts: the L1 transactions in block order.
    :ivar executed: a sample of the Solana transactions that execute successfully in this
        block, as (wire bytes, number of the block their blockhash names).
    """

    drafts: list[Draft]
    executed: list[tuple[bytes, int]]


@dataclass(frozen=True, slots=True)
class Context:
    """What the chain tells the workload about the blocks before the one being made.

    :ivar hash_at: the hash of canonical block `number`, or None when it is not kept.
    :ivar recent_executed: samples of `BlockPlan.executed` of the last few canonical blocks,
        as (block number, wire bytes, blockhash block number).
    :ivar dropped: hashes of blocks that a reorg took off the chain.
    """

    hash_at: Callable[[int], bytes | None]
    recent_executed: Sequence[tuple[int, bytes, int]]
    dropped: Sequence[bytes]


class Model:
    """Who holds what, as far as the workload knows: enough to make transactions that succeed.

    Rolled back with the chain on a reorg (`clone` makes the snapshots).
    """

    __slots__ = (
        "balances",
        "fresh",
        "funded",
        "mint_accounts",
        "mints",
        "token_accounts",
        "token_amounts",
        "topup",
    )

    def __init__(self) -> None:
        #: Lamports of users 0..funded-1.
        self.balances: list[int] = []
        self.funded = 0
        #: Users waiting for a top-up deposit (an ordered set).
        self.topup: dict[int, None] = {}
        #: Fresh system accounts created by transfers and deposits.
        self.fresh: list[bytes] = []
        #: Mints as (address, authority user).
        self.mints: list[tuple[bytes, int]] = []
        #: Token accounts of each mint, as indexes into `token_accounts`.
        self.mint_accounts: list[list[int]] = []
        #: Token accounts as (address, mint index, owner user), and their token amounts.
        self.token_accounts: list[tuple[bytes, int, int]] = []
        self.token_amounts: list[int] = []

    def clone(self) -> Model:
        """An independent copy."""
        other = Model()
        other.balances = self.balances.copy()
        other.funded = self.funded
        other.topup = self.topup.copy()
        other.fresh = self.fresh.copy()
        other.mints = self.mints.copy()
        other.mint_accounts = [accounts.copy() for accounts in self.mint_accounts]
        other.token_accounts = self.token_accounts.copy()
        other.token_amounts = self.token_amounts.copy()
        return other


def derive(*parts: bytes | str | int) -> bytes:
    """32 bytes of BLAKE3 over an unambiguous encoding of `parts`."""
    hasher = blake3()
    for part in parts:
        if isinstance(part, int):
            raw, tag = str(part).encode(), b"i"
        elif isinstance(part, str):
            raw, tag = part.encode(), b"s"
        else:
            raw, tag = part, b"b"
        hasher.update(tag + len(raw).to_bytes(4, "little") + raw)
    digest: bytes = hasher.digest()
    return digest
