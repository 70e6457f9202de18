"""The devnet's seeded Solana workload: what the inbox messages of each devnet block carry.

Everything here is a pure function of the devnet seed and the order of calls: keys are derived
with BLAKE3 from the seed, random choices come from the `random.Random` the chain hands over for
each block, and nothing iterates a set or reads the clock.

What a block carries (DESIGN.md sections 4 and 5):

- Deposits first: users not yet funded (at most 1024 per block, block 0 funds the first ones),
  top-ups of users whose balance fell below 5 SOL, and in the `mixed` workload an occasional
  deposit to a funded user or to a fresh address (some with wei that is not a whole lamport).
- Then `txs_per_block` Solana transactions, `batch_size` per batch message, whose
  `recent_blockhash` is the hash of block n-1, sometimes of an older block within n-150..n-1.
  `transfers`: system transfers between funded users, signed by hand (cheap: the benchmark
  workload). `mixed`: system transfers (some to fresh addresses, some as v0 messages), SPL Token
  mints (create_account + InitializeMint2), token accounts (create_account + InitializeAccount3),
  MintTo and token Transfer.
- About `failure_rate` of the transactions execute and fail, paying the fee: a system transfer of
  more lamports than the payer holds, or (mixed) a token transfer of more than the balance.
- Bad input, about `bad_input_rate` of the good inbox messages (a deterministic credit, so it
  comes at a steady pace), in a fixed cycle of slots: `unknown_version`, `unknown_kind`,
  [3 bad transactions], `malformed_batch`, `malformed_deposit`, [3 bad transactions],
  `empty_deposit`. Bad transactions go into a well-framed batch and cycle through
  `malformed_tx`, `signature_failure`, `blockhash_not_found`, `already_processed`, `fee_payer`.
  Each reason cycles through its variants (see `_MESSAGE_VARIANTS` and `_TX_VARIANTS`). At the
  default settings every reason appears within the first 50 blocks.
- L1 noise the node must ignore: ETH transfers, contract calls (some reverted), a contract
  creation now and then, a valid-looking inbox message sent to another contract (`decoy`), and
  a reverted (status 0) transaction to the inbox that carries a valid-looking message.

- With `mev_patterns` (off by default; off, nothing here draws a random number or moves a
  counter, so the workload is exactly the one without it), each block with transactions also
  carries one SVM-side MEV pattern, after its other transactions, in the cycle of `MEV_PATTERNS`:
  `svm_sandwich` (user A's SPL token transfer onto token account x, user B's onto x, A's onto x
  again, one after the other), `spam` (`SPAM_BURST` system transfers of more than the payer holds,
  from one payer), `replay` (an executed transaction of the last blocks sent again, rejected as
  `already_processed`) and `cu_outlier` (one system transaction of `OUTLIER_TRANSFERS`
  transfers). A pattern that cannot be made yet (no mint with three token accounts and two
  holders, nothing executed yet) is passed over until its next turn; the `transfers` workload
  never has a sandwich.

Failures and bad input come with both workloads; a benchmark of plain transfers sets
`failure_rate = 0` and `bad_input_rate = 0`. A `Planted` record names each of the special cases
above, so tests can check what the node did; the transactions of an MEV pattern carry its name in
`Planted.pattern`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Final

import nacl.bindings
from blake3 import blake3
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, TransferParams, create_account, transfer
from solders.transaction import VersionedTransaction

from monmouth.core import inbox
from monmouth.core.config import DevnetSettings
from monmouth.core.reasons import Reason

FEE: Final = 5000
"""Lamports per signature."""
RENT_SYSTEM: Final = 890_880
RENT_MINT: Final = 1_461_600
RENT_TOKEN_ACCOUNT: Final = 2_039_280
MINT_SIZE: Final = 82
TOKEN_ACCOUNT_SIZE: Final = 165
SOL: Final = 10**9
#: Solana's blockhash window, in L1 blocks.
BLOCKHASH_WINDOW: Final = 150
TOKEN_PROGRAM_ID: Final = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
SYSTEM_PROGRAM_ID: Final = Pubkey.default()

#: A user whose balance falls below this gets a deposit in the next block.
_LOW = 5 * SOL
#: What a payer keeps back so that no transaction meant to succeed runs out of lamports.
_FLOOR = 1 * SOL
#: New users funded per block.
_FUND_PER_BLOCK = 1024
#: Executed transactions remembered per block for `already_processed` re-sends.
_EXECUTED_SAMPLE = 32
#: Bad transactions per tx-level slot of the bad-input cycle.
_BAD_TXS_PER_SLOT = 3
_TX_SLOT = "transactions"

# A legacy system transfer, laid out by hand: header (1 signer, 0 read-only signed, 1 read-only
# unsigned), 3 account keys; after the blockhash, 1 instruction: program 2, accounts [0, 1],
# 12 bytes of data (u32 2 = Transfer, u64 lamports).
_XFER_HEAD = bytes((1, 0, 1, 3))
_XFER_IX = bytes((1, 2, 2, 0, 1, 12))
_XFER_DATA = struct.Struct("<IQ")
_SYSTEM_ID = bytes(32)
_V0_PREFIX = b"\x80"
_NO_LOOKUPS = b"\x00"
_U16 = struct.Struct("<H")
_U64 = struct.Struct("<Q")

#: The order in which bad inbox messages come; `_TX_SLOT` is a batch with bad transactions.
_MESSAGE_CYCLE: Final[tuple[str, ...]] = (
    Reason.UNKNOWN_VERSION,
    Reason.UNKNOWN_KIND,
    _TX_SLOT,
    Reason.MALFORMED_BATCH,
    Reason.MALFORMED_DEPOSIT,
    _TX_SLOT,
    Reason.EMPTY_DEPOSIT,
)
_TX_CYCLE: Final[tuple[Reason, ...]] = (
    Reason.MALFORMED_TX,
    Reason.SIGNATURE_FAILURE,
    Reason.BLOCKHASH_NOT_FOUND,
    Reason.ALREADY_PROCESSED,
    Reason.FEE_PAYER,
)
_MESSAGE_VARIANTS: Final[dict[str, tuple[str, ...]]] = {
    Reason.UNKNOWN_VERSION: ("version 2", "empty calldata", "one byte", "version 0"),
    Reason.UNKNOWN_KIND: ("kind 2", "kind 255"),
    Reason.MALFORMED_BATCH: (
        "length past the end",
        "zero length",
        "length over 1232",
        "trailing byte",
        "empty batch",
    ),
    Reason.MALFORMED_DEPOSIT: ("31-byte recipient", "33-byte recipient", "no recipient"),
    Reason.EMPTY_DEPOSIT: ("zero value", "less than a lamport"),
}
_TX_VARIANTS: Final[dict[Reason, tuple[str, ...]]] = {
    Reason.MALFORMED_TX: ("garbage", "truncated"),
    Reason.SIGNATURE_FAILURE: ("flipped signature byte", "signed by another key"),
    Reason.BLOCKHASH_NOT_FOUND: ("older than the window", "reorged-out block", "random hash"),
    Reason.ALREADY_PROCESSED: ("re-sent",),
    Reason.FEE_PAYER: ("never-funded payer",),
}

FAILED: Final = "failed"
"""A Solana transaction that executes and fails; the fee is charged."""
REVERTED: Final = "reverted"
"""An L1 transaction to the inbox whose receipt status is 0: the node ignores it."""
DECOY: Final = "decoy"
"""Inbox calldata sent to another address: the node ignores it."""
OK: Final = "ok"
"""A Solana transaction planted for an MEV pattern that executes and succeeds."""

SVM_SANDWICH: Final = "svm_sandwich"
"""MEV pattern: one user's token transfer before and after another's onto the same account."""
SPAM: Final = "spam"
"""MEV pattern: one fee payer's burst of transfers that fail."""
REPLAY: Final = "replay"
"""MEV pattern: a transaction that already executed, sent again."""
CU_OUTLIER: Final = "cu_outlier"
"""MEV pattern: a system transaction of many transfers, far costlier than its program's usual."""
#: The order in which `mev_patterns` plants them, one per block.
MEV_PATTERNS: Final[tuple[str, ...]] = (SVM_SANDWICH, SPAM, REPLAY, CU_OUTLIER)
#: Failing transfers of a spam burst.
SPAM_BURST: Final = 6
#: Transfer instructions of a compute-unit outlier.
OUTLIER_TRANSFERS: Final = 16

#: A planted entry's (what, detail) or (what, detail, MEV pattern).
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
    :ivar pattern: with `mev_patterns`, the MEV pattern the transaction belongs to
        (`SVM_SANDWICH`, `SPAM`, `REPLAY` or `CU_OUTLIER`); `what` is then `OK`, `FAILED` or
        `already_processed`.
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


def transfer_tx(
    secret: bytes, payer: bytes, to: bytes, lamports: int, blockhash: bytes, *, v0: bool = False
) -> bytes:
    """The wire bytes of a signed system transfer, built without solders (the hot path).

    `secret` is the 64-byte ed25519 secret key (seed and public key) of `payer`. The bytes are
    those solders makes for `system_program.transfer` in a legacy message (or `MessageV0`).
    """
    msg = b"".join(
        (_XFER_HEAD, payer, to, _SYSTEM_ID, blockhash, _XFER_IX, _XFER_DATA.pack(2, lamports))
    )
    if v0:
        msg = _V0_PREFIX + msg + _NO_LOOKUPS
    signature: bytes = nacl.bindings.crypto_sign(msg, secret)[:64]
    return b"\x01" + signature + msg


def _sign_solders(
    instructions: list[Instruction], signers: list[Keypair], blockhash: bytes, v0: bool
) -> bytes:
    payer = signers[0].pubkey()
    if v0:
        msg: Message | MessageV0 = MessageV0.try_compile(payer, instructions, [], Hash(blockhash))
    else:
        msg = Message.new_with_blockhash(instructions, payer, Hash(blockhash))
    return bytes(VersionedTransaction(msg, signers))


def create_token_owned(payer: Pubkey, new: Pubkey, lamports: int, space: int) -> Instruction:
    """System `create_account` of `space` bytes owned by SPL Token (a mint or token account)."""
    return create_account(
        CreateAccountParams(
            from_pubkey=payer,
            to_pubkey=new,
            lamports=lamports,
            space=space,
            owner=TOKEN_PROGRAM_ID,
        )
    )


def initialize_mint2(mint: Pubkey, decimals: int, authority: Pubkey) -> Instruction:
    """SPL Token InitializeMint2 with no freeze authority."""
    data = bytes((20, decimals)) + bytes(authority) + b"\x00"
    return Instruction(TOKEN_PROGRAM_ID, data, [AccountMeta(mint, False, True)])


def initialize_account3(account: Pubkey, mint: Pubkey, owner: Pubkey) -> Instruction:
    """SPL Token InitializeAccount3."""
    return Instruction(
        TOKEN_PROGRAM_ID,
        bytes((18,)) + bytes(owner),
        [AccountMeta(account, False, True), AccountMeta(mint, False, False)],
    )


def mint_to(mint: Pubkey, destination: Pubkey, authority: Pubkey, amount: int) -> Instruction:
    """SPL Token MintTo."""
    return Instruction(
        TOKEN_PROGRAM_ID,
        bytes((7,)) + _U64.pack(amount),
        [
            AccountMeta(mint, False, True),
            AccountMeta(destination, False, True),
            AccountMeta(authority, True, False),
        ],
    )


def token_transfer(source: Pubkey, destination: Pubkey, owner: Pubkey, amount: int) -> Instruction:
    """SPL Token Transfer."""
    return Instruction(
        TOKEN_PROGRAM_ID,
        bytes((3,)) + _U64.pack(amount),
        [
            AccountMeta(source, False, True),
            AccountMeta(destination, False, True),
            AccountMeta(owner, True, False),
        ],
    )


def _is_malformed(raw: bytes) -> bool:
    try:
        VersionedTransaction.from_bytes(raw)
    except ValueError:
        return True
    return False


class Workload:
    """Makes the inbox messages and L1 noise of each block; holds what never rolls back.

    The counters here (nonce, derived-key counters, bad-input cycle) only move forward, even
    across reorgs, so no two transactions the devnet makes share a signature by accident.
    """

    def __init__(self, settings: DevnetSettings, inbox_address: bytes) -> None:
        self._s = settings
        self._inbox = inbox_address
        self._seed = settings.seed
        self._mixed = settings.workload == "mixed"
        self._users: dict[int, tuple[bytes, bytes]] = {}
        self._eoas = [derive("eoa", self._seed, i)[:20] for i in range(8)]
        self._contracts = [derive("contract", self._seed, i)[:20] for i in range(4)]
        self._decoy = derive("decoy", self._seed)[:20]
        self._nonce = 0
        self._keys = 0
        self._bad_credit = 0.5 if settings.bad_input_rate > 0 else 0.0
        self._bad_slots = 0
        self._bad_txs = 0
        self._variants: dict[str, int] = {}
        self._mev = settings.mev_patterns
        self._mev_next = 0

    # -- keys ---------------------------------------------------------------------------------

    def user(self, index: int) -> tuple[bytes, bytes]:
        """User `index`'s (public key, 64-byte secret key)."""
        keys = self._users.get(index)
        if keys is None:
            public, secret = nacl.bindings.crypto_sign_seed_keypair(
                derive("user", self._seed, index)
            )
            keys = self._users[index] = (bytes(public), bytes(secret))
        return keys

    def user_keypair(self, index: int) -> Keypair:
        """User `index` as a solders keypair."""
        return Keypair.from_bytes(self.user(index)[1])

    def _new_keypair(self, domain: str) -> Keypair:
        self._keys += 1
        return Keypair.from_seed(derive(domain, self._seed, self._keys))

    def _next_nonce(self) -> int:
        self._nonce += 1
        return self._nonce

    # -- the block ----------------------------------------------------------------------------

    def genesis_model(self) -> Model:
        """The model before block 0."""
        return Model()

    def build(self, number: int, rng: Random, model: Model, ctx: Context) -> BlockPlan:
        """The L1 transactions of block `number`; updates `model` to the state after it."""
        inbox_msgs = self._deposits(rng, model)
        executed: list[tuple[bytes, int]] = []
        batches: list[Draft] = []
        if number >= 1 and self._s.txs_per_block:
            entries = self._transactions(number, rng, model, ctx, executed)
            if self._mev:
                entries.extend(self._mev_pattern(number, rng, model, ctx))
            size = self._s.batch_size
            for start in range(0, len(entries), size):
                batch = self._message(rng, b"", 0)
                batch.entries = entries[start : start + size]
                batches.append(batch)
        inbox_msgs.extend(batches)
        extras: list[Draft] = []
        if number >= 1:
            self._bad_credit += self._s.bad_input_rate * len(inbox_msgs)
            while self._bad_credit >= 1.0:
                self._bad_credit -= 1.0
                bad = self._bad_input(number, rng, model, ctx, batches)
                if bad is not None:
                    extras.append(bad)
            if rng.random() < 0.1:
                extras.append(self._reverted(number, rng, model, ctx))
        extras.extend(self._noise(number, rng, model, ctx))
        # Extras go anywhere; the good inbox messages keep their order (it is execution order).
        drafts = inbox_msgs
        for extra in extras:
            drafts.insert(rng.randrange(len(drafts) + 1), extra)
        return BlockPlan(drafts, executed)

    def _message(self, rng: Random, calldata: bytes, value: int) -> Draft:
        return Draft(rng.choice(self._eoas), self._inbox, value, calldata, 1)

    def _deposit(self, rng: Random, recipient: bytes, lamports: int, *, odd_wei: bool) -> Draft:
        wei = lamports * inbox.WEI_PER_LAMPORT
        if odd_wei:
            wei += rng.randrange(1, inbox.WEI_PER_LAMPORT)
        return self._message(rng, inbox.encode_deposit(recipient), wei)

    def _deposits(self, rng: Random, model: Model) -> list[Draft]:
        out: list[Draft] = []
        for user in model.topup:
            lamports = rng.randint(10, 100) * SOL
            model.balances[user] += lamports
            out.append(self._deposit(rng, self.user(user)[0], lamports, odd_wei=False))
        model.topup.clear()
        first = model.funded
        for user in range(first, min(self._s.users, first + _FUND_PER_BLOCK)):
            lamports = rng.randint(10, 100) * SOL
            model.balances.append(lamports)
            out.append(self._deposit(rng, self.user(user)[0], lamports, odd_wei=False))
        model.funded = len(model.balances)
        if self._mixed and first and rng.random() < 0.3:
            lamports = rng.randint(1, 20) * SOL + rng.randrange(SOL)
            odd = rng.random() < 0.5
            if rng.random() < 0.5:
                user = rng.randrange(model.funded)
                model.balances[user] += lamports
                out.append(self._deposit(rng, self.user(user)[0], lamports, odd_wei=odd))
            else:
                fresh = bytes(self._new_keypair("fresh").pubkey())
                model.fresh.append(fresh)
                out.append(self._deposit(rng, fresh, lamports, odd_wei=odd))
        return out

    # -- good transactions --------------------------------------------------------------------

    def _blockhash(self, number: int, rng: Random, ctx: Context) -> tuple[bytes, int]:
        """Mostly the hash of block n-1; one time in ten an older one within the window."""
        if rng.random() < 0.1:
            return self._older_blockhash(number, rng, ctx)
        found = ctx.hash_at(number - 1)
        assert found is not None
        return found, number - 1

    def _older_blockhash(self, number: int, rng: Random, ctx: Context) -> tuple[bytes, int]:
        at = rng.randint(max(0, number - BLOCKHASH_WINDOW), number - 1)
        found = ctx.hash_at(at)
        if found is None:  # not kept: fall back to the newest block, which always is
            at = number - 1
            found = ctx.hash_at(at)
            assert found is not None
        return found, at

    def _spend(self, model: Model, user: int, lamports: int) -> None:
        balance = model.balances[user] - lamports
        model.balances[user] = balance
        if balance < _LOW:
            model.topup[user] = None

    def _pick_payer(self, rng: Random, model: Model, cost: int) -> int | None:
        for _ in range(4):
            user = rng.randrange(model.funded)
            if model.balances[user] >= cost + _FLOOR:
                return user
        return None

    def _other_user(self, rng: Random, model: Model, user: int) -> int:
        other = rng.randrange(model.funded - 1)
        return other + 1 if other >= user else other

    def _transactions(
        self,
        number: int,
        rng: Random,
        model: Model,
        ctx: Context,
        executed: list[tuple[bytes, int]],
    ) -> list[tuple[bytes, Tag | None]]:
        if self._s.workload == "transfers":
            return self._transfers(number, rng, model, ctx, executed)
        make = self._spl_tx if self._s.workload == "spl" else self._mixed_tx
        out: list[tuple[bytes, Tag | None]] = []
        for _ in range(self._s.txs_per_block):
            made = make(number, rng, model, ctx)
            if made is None:
                continue
            raw, tag, at = made
            out.append((raw, tag))
            if tag is None and len(executed) < _EXECUTED_SAMPLE:
                executed.append((raw, at))
        return out

    def _transfers(
        self,
        number: int,
        rng: Random,
        model: Model,
        ctx: Context,
        executed: list[tuple[bytes, int]],
    ) -> list[tuple[bytes, Tag | None]]:
        # The benchmark's hot loop: no solders objects, one signature per transaction.
        out: list[tuple[bytes, Tag | None]] = []
        balances = model.balances
        funded = model.funded
        failure_rate = self._s.failure_rate
        newest = ctx.hash_at(number - 1)
        assert newest is not None
        user = self.user
        random = rng.random
        randrange = rng.randrange
        for _ in range(self._s.txs_per_block):
            sender = randrange(funded)
            recipient = randrange(funded - 1)
            if recipient >= sender:
                recipient += 1
            if balances[sender] < FEE + _FLOOR:
                continue
            self._nonce += 1
            if random() < 0.9:
                blockhash, at = newest, number - 1
            else:
                blockhash, at = self._older_blockhash(number, rng, ctx)
            tag: Tag | None = None
            if random() < failure_rate:
                amount = self._overdraft(balances[sender], rng)
                tag = (FAILED, "system transfer over balance")
                self._spend(model, sender, FEE)
            else:
                amount = self._nonce
                if balances[sender] < amount + FEE + _FLOOR:
                    continue
                self._spend(model, sender, amount + FEE)
                balances[recipient] += amount
            public, secret = user(sender)
            raw = transfer_tx(secret, public, user(recipient)[0], amount, blockhash)
            out.append((raw, tag))
            if tag is None and len(executed) < _EXECUTED_SAMPLE:
                executed.append((raw, at))
        return out

    def _overdraft(self, balance: int, rng: Random) -> int:
        # More than `balance` for sure; the low digits hold the nonce, so the bytes are unique.
        return (balance // 10**12 + 1 + rng.randrange(10)) * 10**12 + self._nonce

    def _mixed_tx(
        self, number: int, rng: Random, model: Model, ctx: Context
    ) -> tuple[bytes, Tag | None, int] | None:
        self._nonce += 1
        blockhash, at = self._blockhash(number, rng, ctx)
        v0 = rng.random() < 0.3
        if rng.random() < self._s.failure_rate:
            return self._failing_tx(rng, model, blockhash, v0, at)
        roll = rng.random()
        made: bytes | None = None
        if roll < 0.10:
            made = self._to_fresh(rng, model, blockhash, v0, new=True)
        elif roll < 0.15 and model.fresh:
            made = self._to_fresh(rng, model, blockhash, v0, new=False)
        elif roll < 0.18:
            made = self._create_mint(rng, model, blockhash, v0)
        elif roll < 0.25 and model.mints:
            made = self._create_token_account(rng, model, blockhash, v0)
        elif roll < 0.35 and model.token_accounts:
            made = self._mint_to(rng, model, blockhash, v0)
        elif roll < 0.50 and model.token_accounts:
            made = self._token_transfer(rng, model, blockhash, v0)
        if made is None:
            made = self._system_transfer(rng, model, blockhash, v0)
        return None if made is None else (made, None, at)

    def _spl_tx(
        self, number: int, rng: Random, model: Model, ctx: Context
    ) -> tuple[bytes, Tag | None, int] | None:
        """The `spl` workload: a few mints and token accounts first, then MintTo now and then
        and mostly token transfers (failures as configured)."""
        self._nonce += 1
        blockhash, at = self._blockhash(number, rng, ctx)
        if rng.random() < self._s.failure_rate:
            return self._failing_tx(rng, model, blockhash, False, at)
        made: bytes | None = None
        if len(model.mints) < 4:
            made = self._create_mint(rng, model, blockhash, False)
        elif len(model.token_accounts) < 8 * len(model.mints) and rng.random() < 0.3:
            made = self._create_token_account(rng, model, blockhash, False)
        elif model.token_accounts and rng.random() < 0.15:
            made = self._mint_to(rng, model, blockhash, False)
        elif len(model.token_accounts) >= 2:
            made = self._token_transfer(rng, model, blockhash, False)
        if made is None and model.token_accounts:
            made = self._mint_to(rng, model, blockhash, False)
        if made is None and model.mints:
            made = self._create_token_account(rng, model, blockhash, False)
        if made is None:
            made = self._system_transfer(rng, model, blockhash, False)
        return None if made is None else (made, None, at)

    def _system_transfer(
        self, rng: Random, model: Model, blockhash: bytes, v0: bool
    ) -> bytes | None:
        amount = rng.randrange(20) * 10**8 + self._nonce
        sender = self._pick_payer(rng, model, amount + FEE)
        if sender is None:
            return None
        recipient = self._other_user(rng, model, sender)
        self._spend(model, sender, amount + FEE)
        model.balances[recipient] += amount
        public, secret = self.user(sender)
        return transfer_tx(secret, public, self.user(recipient)[0], amount, blockhash, v0=v0)

    def _to_fresh(
        self, rng: Random, model: Model, blockhash: bytes, v0: bool, *, new: bool
    ) -> bytes | None:
        # At least 10**8 lamports: a new account must end up rent-exempt (890880).
        amount = rng.randint(1, 20) * 10**8 + self._nonce
        sender = self._pick_payer(rng, model, amount + FEE)
        if sender is None:
            return None
        if new:
            recipient = bytes(self._new_keypair("fresh").pubkey())
            model.fresh.append(recipient)
        else:
            recipient = rng.choice(model.fresh)
        self._spend(model, sender, amount + FEE)
        public, secret = self.user(sender)
        return transfer_tx(secret, public, recipient, amount, blockhash, v0=v0)

    def _create_mint(self, rng: Random, model: Model, blockhash: bytes, v0: bool) -> bytes | None:
        payer = self._pick_payer(rng, model, RENT_MINT + 2 * FEE)
        if payer is None:
            return None
        owner = self.user_keypair(payer)
        mint = self._new_keypair("mint")
        instructions = [
            create_token_owned(owner.pubkey(), mint.pubkey(), RENT_MINT, MINT_SIZE),
            initialize_mint2(mint.pubkey(), rng.randint(0, 9), owner.pubkey()),
        ]
        self._spend(model, payer, RENT_MINT + 2 * FEE)
        model.mints.append((bytes(mint.pubkey()), payer))
        model.mint_accounts.append([])
        return _sign_solders(instructions, [owner, mint], blockhash, v0)

    def _create_token_account(
        self, rng: Random, model: Model, blockhash: bytes, v0: bool
    ) -> bytes | None:
        owner_index = self._pick_payer(rng, model, RENT_TOKEN_ACCOUNT + 2 * FEE)
        if owner_index is None:
            return None
        mint_index = rng.randrange(len(model.mints))
        mint = Pubkey(model.mints[mint_index][0])
        owner = self.user_keypair(owner_index)
        account = self._new_keypair("token-account")
        instructions = [
            create_token_owned(
                owner.pubkey(), account.pubkey(), RENT_TOKEN_ACCOUNT, TOKEN_ACCOUNT_SIZE
            ),
            initialize_account3(account.pubkey(), mint, owner.pubkey()),
        ]
        self._spend(model, owner_index, RENT_TOKEN_ACCOUNT + 2 * FEE)
        model.mint_accounts[mint_index].append(len(model.token_accounts))
        model.token_accounts.append((bytes(account.pubkey()), mint_index, owner_index))
        model.token_amounts.append(0)
        return _sign_solders(instructions, [owner, account], blockhash, v0)

    def _mint_to(self, rng: Random, model: Model, blockhash: bytes, v0: bool) -> bytes | None:
        index = rng.randrange(len(model.token_accounts))
        address, mint_index, _ = model.token_accounts[index]
        mint, authority_index = model.mints[mint_index]
        if model.balances[authority_index] < FEE + _FLOOR:
            return None
        amount = rng.randint(1, 100) * 10**8 + self._nonce
        authority = self.user_keypair(authority_index)
        ix = mint_to(Pubkey(mint), Pubkey(address), authority.pubkey(), amount)
        self._spend(model, authority_index, FEE)
        model.token_amounts[index] += amount
        return _sign_solders([ix], [authority], blockhash, v0)

    def _token_pair(self, rng: Random, model: Model) -> tuple[int, int] | None:
        source = rng.randrange(len(model.token_accounts))
        siblings = model.mint_accounts[model.token_accounts[source][1]]
        if len(siblings) < 2:
            return None
        destination = rng.choice(siblings)
        if destination == source:
            destination = siblings[(siblings.index(source) + 1) % len(siblings)]
        owner = model.token_accounts[source][2]
        if model.balances[owner] < FEE + _FLOOR:
            return None
        return source, destination

    def _token_transfer(
        self, rng: Random, model: Model, blockhash: bytes, v0: bool
    ) -> bytes | None:
        pair = self._token_pair(rng, model)
        if pair is None:
            return None
        source, destination = pair
        held = model.token_amounts[source]
        if held < self._nonce:
            return None
        # The nonce in the low digits keeps every transfer's bytes unique.
        amount = self._nonce + 10**8 * rng.randint(0, (held - self._nonce) // 10**8)
        owner_index = model.token_accounts[source][2]
        self._spend(model, owner_index, FEE)
        model.token_amounts[source] -= amount
        model.token_amounts[destination] += amount
        return self._token_transfer_tx(model, source, destination, amount, blockhash, v0)

    def _token_transfer_tx(
        self, model: Model, source: int, destination: int, amount: int, blockhash: bytes, v0: bool
    ) -> bytes:
        owner = self.user_keypair(model.token_accounts[source][2])
        ix = token_transfer(
            Pubkey(model.token_accounts[source][0]),
            Pubkey(model.token_accounts[destination][0]),
            owner.pubkey(),
            amount,
        )
        return _sign_solders([ix], [owner], blockhash, v0)

    def _failing_tx(
        self, rng: Random, model: Model, blockhash: bytes, v0: bool, at: int
    ) -> tuple[bytes, Tag | None, int] | None:
        if model.token_accounts and rng.random() < 0.5:
            pair = self._token_pair(rng, model)
            if pair is not None:
                source, destination = pair
                amount = self._overdraft(model.token_amounts[source], rng)
                self._spend(model, model.token_accounts[source][2], FEE)
                raw = self._token_transfer_tx(model, source, destination, amount, blockhash, v0)
                return raw, (FAILED, "token transfer over balance"), at
        sender = self._pick_payer(rng, model, FEE)
        if sender is None:
            return None
        recipient = self._other_user(rng, model, sender)
        amount = self._overdraft(model.balances[sender], rng)
        self._spend(model, sender, FEE)
        public, secret = self.user(sender)
        raw = transfer_tx(secret, public, self.user(recipient)[0], amount, blockhash, v0=v0)
        return raw, (FAILED, "system transfer over balance"), at

    # -- MEV patterns (settings.mev_patterns) -----------------------------------------------

    def _mev_pattern(
        self, number: int, rng: Random, model: Model, ctx: Context
    ) -> list[tuple[bytes, Tag | None]]:
        """The next pattern of the cycle that can be made now, appended after the block's
        transactions (so the model's order is the execution order); none when none can."""
        blockhash = ctx.hash_at(number - 1)
        assert blockhash is not None
        for step in range(len(MEV_PATTERNS)):
            kind = MEV_PATTERNS[(self._mev_next + step) % len(MEV_PATTERNS)]
            if kind == SVM_SANDWICH:
                made = self._plant_sandwich(rng, model, blockhash)
            elif kind == SPAM:
                made = self._plant_spam(rng, model, blockhash)
            elif kind == REPLAY:
                made = self._plant_replay(number, rng, ctx)
            else:
                made = self._plant_outlier(rng, model, blockhash)
            if made is not None:
                self._mev_next = (self._mev_next + step + 1) % len(MEV_PATTERNS)
                return made
        return []

    def _plant_sandwich(
        self, rng: Random, model: Model, blockhash: bytes
    ) -> list[tuple[bytes, Tag | None]] | None:
        """User A's token transfer a -> x, user B's b -> x, A's a -> x again: three in a row."""
        need = self._nonce + 3  # each leg moves a fresh nonce's worth of tokens
        mints = [m for m, accounts in enumerate(model.mint_accounts) if len(accounts) >= 3]
        if not mints:
            return None
        start = rng.randrange(len(mints))
        for mint in mints[start:] + mints[:start]:
            accounts = model.mint_accounts[mint]
            found = self._sandwich_accounts(model, accounts, need)
            if found is None:
                continue
            a, b, x = found
            legs: list[tuple[bytes, Tag | None]] = []
            for source, role in ((a, "front"), (b, "victim"), (a, "back")):
                amount = self._next_nonce()
                self._spend(model, model.token_accounts[source][2], FEE)
                model.token_amounts[source] -= amount
                model.token_amounts[x] += amount
                raw = self._token_transfer_tx(model, source, x, amount, blockhash, False)
                legs.append((raw, (OK, role, SVM_SANDWICH)))
            return legs
        return None

    def _sandwich_accounts(
        self, model: Model, accounts: list[int], need: int
    ) -> tuple[int, int, int] | None:
        """Token accounts (a, b, x) of one mint: a's owner can pay two transfers, b's another
        owner one, x is a third account."""
        for a in accounts:
            owner_a = model.token_accounts[a][2]
            if model.token_amounts[a] < 2 * need or model.balances[owner_a] < 2 * FEE + _FLOOR:
                continue
            for b in accounts:
                owner_b = model.token_accounts[b][2]
                if (
                    owner_b == owner_a
                    or model.token_amounts[b] < need
                    or model.balances[owner_b] < FEE + _FLOOR
                ):
                    continue
                for x in accounts:
                    if x not in (a, b):
                        return a, b, x
        return None

    def _plant_spam(
        self, rng: Random, model: Model, blockhash: bytes
    ) -> list[tuple[bytes, Tag | None]] | None:
        """`SPAM_BURST` system transfers of more than the payer holds, from one payer."""
        payer = self._pick_payer(rng, model, SPAM_BURST * FEE)
        if payer is None:
            return None
        public, secret = self.user(payer)
        out: list[tuple[bytes, Tag | None]] = []
        for _ in range(SPAM_BURST):
            self._nonce += 1
            recipient = self._other_user(rng, model, payer)
            amount = self._overdraft(model.balances[payer], rng)
            self._spend(model, payer, FEE)
            raw = transfer_tx(secret, public, self.user(recipient)[0], amount, blockhash)
            out.append((raw, (FAILED, "system transfer over balance", SPAM)))
        return out

    def _plant_replay(
        self, number: int, rng: Random, ctx: Context
    ) -> list[tuple[bytes, Tag | None]] | None:
        """A transaction that executed in one of the last blocks, sent again."""
        candidates = [raw for _, raw, at in ctx.recent_executed if at >= number - BLOCKHASH_WINDOW]
        if not candidates:
            return None
        return [(rng.choice(candidates), (Reason.ALREADY_PROCESSED, "re-sent", REPLAY))]

    def _plant_outlier(
        self, rng: Random, model: Model, blockhash: bytes
    ) -> list[tuple[bytes, Tag | None]] | None:
        """One system transaction of `OUTLIER_TRANSFERS` transfers (the usual has one)."""
        amounts = [rng.randint(1, 9) * 10**6 for _ in range(OUTLIER_TRANSFERS)]
        amounts[0] += self._next_nonce()  # unique bytes
        payer = self._pick_payer(rng, model, sum(amounts) + FEE)
        if payer is None:
            return None
        owner = self.user_keypair(payer)
        instructions: list[Instruction] = []
        for amount in amounts:
            recipient = self._other_user(rng, model, payer)
            model.balances[recipient] += amount
            params = TransferParams(
                from_pubkey=owner.pubkey(),
                to_pubkey=Pubkey(self.user(recipient)[0]),
                lamports=amount,
            )
            instructions.append(transfer(params))
        self._spend(model, payer, sum(amounts) + FEE)
        raw = _sign_solders(instructions, [owner], blockhash, False)
        return [(raw, (OK, f"{OUTLIER_TRANSFERS} system transfers", CU_OUTLIER))]

    # -- transactions that are never executed -------------------------------------------------

    def _phantom(self, number: int, rng: Random, model: Model, ctx: Context) -> bytes:
        """A valid signed transfer that the model does not apply: it must never execute."""
        blockhash = ctx.hash_at(number - 1)
        assert blockhash is not None
        return self._phantom_with(rng, model, blockhash)

    def _phantom_with(self, rng: Random, model: Model, blockhash: bytes) -> bytes:
        sender = rng.randrange(model.funded)
        recipient = self._other_user(rng, model, sender)
        public, secret = self.user(sender)
        amount = rng.randint(1, 9) * 10**8 + self._next_nonce()
        return transfer_tx(secret, public, self.user(recipient)[0], amount, blockhash)

    def _variant(self, reason: str) -> str:
        variants = _MESSAGE_VARIANTS.get(reason) or _TX_VARIANTS[Reason(reason)]
        count = self._variants.get(reason, 0)
        self._variants[reason] = count + 1
        return variants[count % len(variants)]

    def _bad_input(
        self, number: int, rng: Random, model: Model, ctx: Context, batches: list[Draft]
    ) -> Draft | None:
        slot = _MESSAGE_CYCLE[self._bad_slots % len(_MESSAGE_CYCLE)]
        self._bad_slots += 1
        if slot != _TX_SLOT:
            return self._bad_message(Reason(slot), number, rng, model, ctx)
        created: Draft | None = None
        if batches:
            target = rng.choice(batches)
        else:
            target = created = self._message(rng, b"", 0)
            target.entries = []
        assert target.entries is not None
        for _ in range(_BAD_TXS_PER_SLOT):
            reason = _TX_CYCLE[self._bad_txs % len(_TX_CYCLE)]
            self._bad_txs += 1
            raw, reason, detail = self._bad_tx(reason, number, rng, model, ctx)
            target.entries.insert(rng.randrange(len(target.entries) + 1), (raw, (reason, detail)))
        return created

    def _bad_message(
        self, reason: Reason, number: int, rng: Random, model: Model, ctx: Context
    ) -> Draft:
        detail = self._variant(reason)
        recipient = self.user(rng.randrange(model.funded))[0]
        value = rng.randint(1, 50) * SOL * inbox.WEI_PER_LAMPORT
        deposit_kind = bytes((inbox.VERSION, inbox.KIND_DEPOSIT))
        phantom = self._phantom(number, rng, model, ctx)
        framed = _U16.pack(len(phantom)) + phantom
        batch_kind = bytes((inbox.VERSION, inbox.KIND_BATCH))
        calldata, wei = {
            "version 2": (bytes((2, inbox.KIND_BATCH)) + framed, 0),
            "empty calldata": (b"", 0),
            "one byte": (bytes((inbox.VERSION,)), 0),
            "version 0": (bytes((0, inbox.KIND_DEPOSIT)) + recipient, value),
            "kind 2": (bytes((inbox.VERSION, 2)) + recipient, value),
            "kind 255": (bytes((inbox.VERSION, 255)) + framed, 0),
            "length past the end": (batch_kind + _U16.pack(len(phantom) + 7) + phantom, 0),
            "zero length": (batch_kind + framed + _U16.pack(0), 0),
            "length over 1232": (
                batch_kind + _U16.pack(1300) + rng.randbytes(1300),
                0,
            ),
            "trailing byte": (batch_kind + framed + b"\x07", 0),
            "empty batch": (batch_kind, 0),
            "31-byte recipient": (deposit_kind + recipient[:31], value),
            "33-byte recipient": (deposit_kind + recipient + b"\x00", value),
            "no recipient": (deposit_kind, value),
            "zero value": (deposit_kind + recipient, 0),
            "less than a lamport": (deposit_kind + recipient, inbox.WEI_PER_LAMPORT - 1),
        }[detail]
        draft = self._message(rng, calldata, wei)
        draft.tags.append((reason, detail))
        return draft

    def _bad_tx(
        self, reason: Reason, number: int, rng: Random, model: Model, ctx: Context
    ) -> tuple[bytes, Reason, str]:
        if reason is Reason.ALREADY_PROCESSED:
            # Re-send a transaction that executed in an earlier block and is still in the window.
            candidates = [
                raw for _, raw, at in ctx.recent_executed if at >= number - BLOCKHASH_WINDOW
            ]
            if not candidates:
                reason = Reason.FEE_PAYER  # nothing executed yet (block 1): plant the next one
            else:
                return rng.choice(candidates), reason, self._variant(reason)
        detail = self._variant(reason)
        if reason is Reason.MALFORMED_TX:
            if detail == "garbage":
                while True:
                    raw = rng.randbytes(rng.randint(1, 300))
                    if _is_malformed(raw):
                        return raw, reason, detail
            phantom = self._phantom(number, rng, model, ctx)
            return phantom[: rng.randint(1, len(phantom) - 1)], reason, detail
        if reason is Reason.SIGNATURE_FAILURE:
            forged = bytearray(self._phantom(number, rng, model, ctx))
            if detail == "flipped signature byte":
                forged[rng.randint(1, 64)] ^= rng.randint(1, 255)
            else:  # a valid signature, by the wrong key
                stranger = self._new_keypair("stranger")
                forged[1:65] = bytes(stranger.sign_message(bytes(forged[65:])))
            return bytes(forged), reason, detail
        if reason is Reason.BLOCKHASH_NOT_FOUND:
            stale: bytes | None = None
            if detail == "older than the window" and number > BLOCKHASH_WINDOW:
                stale = ctx.hash_at(
                    rng.randint(max(0, number - 600), number - BLOCKHASH_WINDOW - 1)
                )
            elif detail == "reorged-out block" and ctx.dropped:
                stale = rng.choice(ctx.dropped[-64:])
            if stale is None:
                stale, detail = rng.randbytes(32), "random hash"
            return self._phantom_with(rng, model, stale), reason, detail
        # FEE_PAYER: a key that no deposit or transfer ever funds.
        payer = self._new_keypair("unfunded")
        secret = bytes(payer)
        recipient = self.user(rng.randrange(model.funded))[0]
        blockhash = ctx.hash_at(number - 1)
        assert blockhash is not None
        amount = rng.randint(1, 9) * 10**8 + self._next_nonce()
        raw = transfer_tx(secret, bytes(payer.pubkey()), recipient, amount, blockhash)
        return raw, reason, "never-funded payer"

    # -- L1 noise -----------------------------------------------------------------------------

    def _reverted(self, number: int, rng: Random, model: Model, ctx: Context) -> Draft:
        if rng.random() < 0.5:
            recipient = self.user(rng.randrange(model.funded))[0]
            lamports = rng.randint(1, 50) * SOL
            draft = self._deposit(rng, recipient, lamports, odd_wei=False)
            detail = "deposit"
        else:
            txs = [self._phantom(number, rng, model, ctx) for _ in range(rng.randint(1, 3))]
            draft = self._message(rng, inbox.encode_batch(txs), 0)
            detail = "batch"
        draft.status = 0
        draft.tags.append((REVERTED, detail))
        return draft

    def _noise(self, number: int, rng: Random, model: Model, ctx: Context) -> list[Draft]:
        out: list[Draft] = []
        for _ in range(rng.randint(1, 3)):
            sender = rng.choice(self._eoas)
            roll = rng.random()
            if roll < 0.4:  # an ETH transfer
                out.append(Draft(sender, rng.randbytes(20), rng.randrange(1, 10**19), b"", 1))
            elif roll < 0.95:  # a contract call, sometimes reverted
                calldata = rng.randbytes(4) + rng.randbytes(32 * rng.randint(0, 4))
                status = 0 if rng.random() < 0.1 else 1
                out.append(Draft(sender, rng.choice(self._contracts), 0, calldata, status))
            else:  # a contract creation
                out.append(Draft(sender, None, 0, rng.randbytes(rng.randint(32, 200)), 1))
        if number >= 1 and rng.random() < 0.15:
            if rng.random() < 0.5:
                recipient = self.user(rng.randrange(model.funded))[0]
                calldata = inbox.encode_deposit(recipient)
                value = rng.randint(1, 50) * SOL * inbox.WEI_PER_LAMPORT
                detail = "deposit"
            else:
                calldata = inbox.encode_batch([self._phantom(number, rng, model, ctx)])
                value = 0
                detail = "batch"
            decoy = Draft(rng.choice(self._eoas), self._decoy, value, calldata, 1)
            decoy.tags.append((DECOY, detail))
            out.append(decoy)
        return out
