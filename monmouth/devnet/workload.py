"""The devnet's seeded Solana workload: what the inbox messages of each devnet block carry.

Everything here is a pure function of the devnet seed and the order of calls: keys are derived
with BLAKE3 from the seed, random choices come from the `random.Random` the chain hands over for
each block, and nothing iterates a set or reads the clock.

What a block carries (the inbox protocol and its semantics: docs/protocol.md sections 1 and 3):

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
- Patterns (off by default): a `WorkloadPatterns` given to the workload adds its transactions to
  each block that has transactions, after the workload's own. Without one, nothing here draws a
  random number or moves a counter for it, so the workload is exactly the one without it. The
  mev plugin's (`monmouth.plugins.mev.devnet`) plants SVM-side MEV patterns with
  `[devnet] mev_patterns`; `monmouth.app` passes it.

The `none` workload makes empty blocks: no users, deposits, transactions or noise, and no
random draws (`monmouth dev`: only what the relay brings).

Failures and bad input come with the other workloads; a benchmark of plain transfers sets
`failure_rate = 0` and `bad_input_rate = 0`. A `Planted` record names each of the special cases
above, so tests can check what the node did; the transactions of a pattern carry its name in
`Planted.pattern`.
"""

from __future__ import annotations

import struct
from random import Random
from typing import TYPE_CHECKING, Final

import nacl.bindings
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from monmouth.core import inbox
from monmouth.core.config import DevnetSettings
from monmouth.core.reasons import Reason
from monmouth.devnet.instructions import (
    FEE,
    MINT_SIZE,
    RENT_MINT,
    RENT_TOKEN_ACCOUNT,
    SOL,
    TOKEN_ACCOUNT_SIZE,
    create_token_owned,
    initialize_account3,
    initialize_mint2,
    mint_to,
    sign_solders,
    token_transfer,
    transfer_tx,
)
from monmouth.devnet.plan import (
    BLOCKHASH_WINDOW,
    DECOY,
    FAILED,
    REVERTED,
    BlockPlan,
    Context,
    Draft,
    Model,
    Tag,
    derive,
)

if TYPE_CHECKING:
    from monmouth.devnet.patterns import WorkloadPatterns

#: A user whose balance falls below this gets a deposit in the next block.
_LOW = 5 * SOL
#: What a payer keeps back so that no transaction meant to succeed runs out of lamports.
FLOOR: Final = 1 * SOL
#: New users funded per block.
_FUND_PER_BLOCK = 1024
#: Executed transactions remembered per block for `already_processed` re-sends.
_EXECUTED_SAMPLE = 32
#: Bad transactions per tx-level slot of the bad-input cycle.
_BAD_TXS_PER_SLOT = 3
_TX_SLOT = "transactions"
_U16 = struct.Struct("<H")

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

    :param patterns: adds its transactions after the workload's own in every block that has
        transactions (see `WorkloadPatterns`); None (the default) adds none. The public methods
        below the keys are what a pattern may use to make transactions the model agrees with.
    """

    def __init__(
        self,
        settings: DevnetSettings,
        inbox_address: bytes,
        patterns: WorkloadPatterns | None = None,
    ) -> None:
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
        self._patterns = patterns

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

    @property
    def nonce(self) -> int:
        """The last nonce handed out: it goes into amounts, so that no two transactions share
        bytes."""
        return self._nonce

    def next_nonce(self) -> int:
        """Move the nonce on and return it."""
        self._nonce += 1
        return self._nonce

    # -- the block ----------------------------------------------------------------------------

    def genesis_model(self) -> Model:
        """The model before block 0."""
        return Model()

    def build(self, number: int, rng: Random, model: Model, ctx: Context) -> BlockPlan:
        """The L1 transactions of block `number`; updates `model` to the state after it."""
        if self._s.workload == "none":
            return BlockPlan([], [])
        inbox_msgs = self._deposits(rng, model)
        executed: list[tuple[bytes, int]] = []
        batches: list[Draft] = []
        if number >= 1 and self._s.txs_per_block:
            entries = self._transactions(number, rng, model, ctx, executed)
            if self._patterns is not None:
                entries.extend(self._patterns.plant(self, number, rng, model, ctx))
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

    def spend(self, model: Model, user: int, lamports: int) -> None:
        """Take `lamports` from `user` in the model; a low balance gets a top-up next block."""
        balance = model.balances[user] - lamports
        model.balances[user] = balance
        if balance < _LOW:
            model.topup[user] = None

    def pick_payer(self, rng: Random, model: Model, cost: int) -> int | None:
        """A random funded user who can pay `cost` and keep `FLOOR`; None after four misses."""
        for _ in range(4):
            user = rng.randrange(model.funded)
            if model.balances[user] >= cost + FLOOR:
                return user
        return None

    def other_user(self, rng: Random, model: Model, user: int) -> int:
        """A random funded user other than `user`."""
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
            if balances[sender] < FEE + FLOOR:
                continue
            self._nonce += 1
            if random() < 0.9:
                blockhash, at = newest, number - 1
            else:
                blockhash, at = self._older_blockhash(number, rng, ctx)
            tag: Tag | None = None
            if random() < failure_rate:
                amount = self.overdraft(balances[sender], rng)
                tag = (FAILED, "system transfer over balance")
                self.spend(model, sender, FEE)
            else:
                amount = self._nonce
                if balances[sender] < amount + FEE + FLOOR:
                    continue
                self.spend(model, sender, amount + FEE)
                balances[recipient] += amount
            public, secret = user(sender)
            raw = transfer_tx(secret, public, user(recipient)[0], amount, blockhash)
            out.append((raw, tag))
            if tag is None and len(executed) < _EXECUTED_SAMPLE:
                executed.append((raw, at))
        return out

    def overdraft(self, balance: int, rng: Random) -> int:
        """An amount above `balance` for sure; its low digits hold the nonce, so the bytes are
        unique."""
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
        sender = self.pick_payer(rng, model, amount + FEE)
        if sender is None:
            return None
        recipient = self.other_user(rng, model, sender)
        self.spend(model, sender, amount + FEE)
        model.balances[recipient] += amount
        public, secret = self.user(sender)
        return transfer_tx(secret, public, self.user(recipient)[0], amount, blockhash, v0=v0)

    def _to_fresh(
        self, rng: Random, model: Model, blockhash: bytes, v0: bool, *, new: bool
    ) -> bytes | None:
        # At least 10**8 lamports: a new account must end up rent-exempt (890880).
        amount = rng.randint(1, 20) * 10**8 + self._nonce
        sender = self.pick_payer(rng, model, amount + FEE)
        if sender is None:
            return None
        if new:
            recipient = bytes(self._new_keypair("fresh").pubkey())
            model.fresh.append(recipient)
        else:
            recipient = rng.choice(model.fresh)
        self.spend(model, sender, amount + FEE)
        public, secret = self.user(sender)
        return transfer_tx(secret, public, recipient, amount, blockhash, v0=v0)

    def _create_mint(self, rng: Random, model: Model, blockhash: bytes, v0: bool) -> bytes | None:
        payer = self.pick_payer(rng, model, RENT_MINT + 2 * FEE)
        if payer is None:
            return None
        owner = self.user_keypair(payer)
        mint = self._new_keypair("mint")
        instructions = [
            create_token_owned(owner.pubkey(), mint.pubkey(), RENT_MINT, MINT_SIZE),
            initialize_mint2(mint.pubkey(), rng.randint(0, 9), owner.pubkey()),
        ]
        self.spend(model, payer, RENT_MINT + 2 * FEE)
        model.mints.append((bytes(mint.pubkey()), payer))
        model.mint_accounts.append([])
        return sign_solders(instructions, [owner, mint], blockhash, v0)

    def _create_token_account(
        self, rng: Random, model: Model, blockhash: bytes, v0: bool
    ) -> bytes | None:
        owner_index = self.pick_payer(rng, model, RENT_TOKEN_ACCOUNT + 2 * FEE)
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
        self.spend(model, owner_index, RENT_TOKEN_ACCOUNT + 2 * FEE)
        model.mint_accounts[mint_index].append(len(model.token_accounts))
        model.token_accounts.append((bytes(account.pubkey()), mint_index, owner_index))
        model.token_amounts.append(0)
        return sign_solders(instructions, [owner, account], blockhash, v0)

    def _mint_to(self, rng: Random, model: Model, blockhash: bytes, v0: bool) -> bytes | None:
        index = rng.randrange(len(model.token_accounts))
        address, mint_index, _ = model.token_accounts[index]
        mint, authority_index = model.mints[mint_index]
        if model.balances[authority_index] < FEE + FLOOR:
            return None
        amount = rng.randint(1, 100) * 10**8 + self._nonce
        authority = self.user_keypair(authority_index)
        ix = mint_to(Pubkey(mint), Pubkey(address), authority.pubkey(), amount)
        self.spend(model, authority_index, FEE)
        model.token_amounts[index] += amount
        return sign_solders([ix], [authority], blockhash, v0)

    def _token_pair(self, rng: Random, model: Model) -> tuple[int, int] | None:
        source = rng.randrange(len(model.token_accounts))
        siblings = model.mint_accounts[model.token_accounts[source][1]]
        if len(siblings) < 2:
            return None
        destination = rng.choice(siblings)
        if destination == source:
            destination = siblings[(siblings.index(source) + 1) % len(siblings)]
        owner = model.token_accounts[source][2]
        if model.balances[owner] < FEE + FLOOR:
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
        self.spend(model, owner_index, FEE)
        model.token_amounts[source] -= amount
        model.token_amounts[destination] += amount
        return self.token_transfer_tx(model, source, destination, amount, blockhash, v0)

    def token_transfer_tx(
        self, model: Model, source: int, destination: int, amount: int, blockhash: bytes, v0: bool
    ) -> bytes:
        """The wire bytes of an SPL Token transfer between the model's token accounts `source`
        and `destination`, signed by the source's owner; the model is left as it is."""
        owner = self.user_keypair(model.token_accounts[source][2])
        ix = token_transfer(
            Pubkey(model.token_accounts[source][0]),
            Pubkey(model.token_accounts[destination][0]),
            owner.pubkey(),
            amount,
        )
        return sign_solders([ix], [owner], blockhash, v0)

    def _failing_tx(
        self, rng: Random, model: Model, blockhash: bytes, v0: bool, at: int
    ) -> tuple[bytes, Tag | None, int] | None:
        if model.token_accounts and rng.random() < 0.5:
            pair = self._token_pair(rng, model)
            if pair is not None:
                source, destination = pair
                amount = self.overdraft(model.token_amounts[source], rng)
                self.spend(model, model.token_accounts[source][2], FEE)
                raw = self.token_transfer_tx(model, source, destination, amount, blockhash, v0)
                return raw, (FAILED, "token transfer over balance"), at
        sender = self.pick_payer(rng, model, FEE)
        if sender is None:
            return None
        recipient = self.other_user(rng, model, sender)
        amount = self.overdraft(model.balances[sender], rng)
        self.spend(model, sender, FEE)
        public, secret = self.user(sender)
        raw = transfer_tx(secret, public, self.user(recipient)[0], amount, blockhash, v0=v0)
        return raw, (FAILED, "system transfer over balance"), at

    # -- transactions that are never executed -------------------------------------------------

    def _phantom(self, number: int, rng: Random, model: Model, ctx: Context) -> bytes:
        """A valid signed transfer that the model does not apply: it must never execute."""
        blockhash = ctx.hash_at(number - 1)
        assert blockhash is not None
        return self._phantom_with(rng, model, blockhash)

    def _phantom_with(self, rng: Random, model: Model, blockhash: bytes) -> bytes:
        sender = rng.randrange(model.funded)
        recipient = self.other_user(rng, model, sender)
        public, secret = self.user(sender)
        amount = rng.randint(1, 9) * 10**8 + self.next_nonce()
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
        amount = rng.randint(1, 9) * 10**8 + self.next_nonce()
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
