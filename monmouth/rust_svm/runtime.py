"""LiteSVM as the node's execution engine: clock, accounts loaded on demand, one tx at a time.

The runtime holds a working set of accounts in memory: the resident keys. Accounts of the node's
state are loaded from LMDB (`load`) before the block that names them runs, and may be let go
between blocks (`evict`); everything else the runtime knows (builtin programs, sysvars, SPL
Token) is the runtime's own and never state. A resident key is either an account of the state or
a key known absent from it (a negative entry: nothing in LiteSVM, no LMDB read on its next use).
Which keys stay resident is the account cache's decision (`core/accountcache.py`).

Blockhash, replay and signature checks are the node's (docs/protocol.md section 3), so the runtime
runs with its own blockhash check, transaction history and signature verification off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from solders.account import Account
from solders.clock import Clock
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import SimulatedTransactionInfo, TransactionMetadata

from monmouth.rust_svm.accounts import ACCOUNT_HEADER, AccountRecord
from monmouth.rust_svm.errors import error_json, error_name

try:
    from monmouth.rust_svm import _runtime
except ImportError:  # installed without a C compiler: `SvmRuntime.balances` is `balances_py`
    _runtime = None  # type: ignore[assignment]

#: Which implementation reads a transaction's lamports: "c" (`_runtime.c`) or "python"
#: (`SvmRuntime.balances_py`).
IMPLEMENTATION = "python" if _runtime is None else "c"

#: A transaction as the runtime takes it: a legacy message as `Transaction` (which LiteSVM reads
#: without first failing to read it as one; `executor._decode_tx`), or any as
#: `VersionedTransaction`.
WireTransaction = Transaction | VersionedTransaction
_SYSTEM_PROGRAM = bytes(32)
#: Address lookup table accounts: a 56-byte header, then 32-byte addresses.
_ALT_HEADER = 56
#: BPF Loader Upgradeable: a program account's data is the tag 2 (u32 LE), then the address of
#: its ProgramData account, which holds the ELF and which LiteSVM needs to load the program.
UPGRADEABLE_LOADER = bytes(Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111"))
_PROGRAM_TAG = (2).to_bytes(4, "little")
#: The stored account layout (`accounts.py`): executable at 16, owner at 17..49, data from 49.
_EXECUTABLE, _OWNER, _DATA = 16, slice(17, 49), 49
#: Bytes of memory one resident account costs besides its data: LiteSVM's map entry and
#: account (about 210), the runtime's entry for the key, the LRU policy's, and the key object.
#: Measured in RSS: 553 bytes per resident 165-byte token account (tests/rust_svm/
#: test_runtime_cache.py holds the count within a third of the measure).
ACCOUNT_OVERHEAD = 400
#: Bytes one negative entry (a key known absent from the state) costs: the entries alone
#: (measured: 273 in RSS).
ABSENT_SIZE = 270
_EMPTY = Account(0, b"", Pubkey(_SYSTEM_PROGRAM))


def resident_size(raw: bytes | None) -> int:
    """What holding an account (its stored encoding; None: absent) costs, in bytes."""
    return ABSENT_SIZE if raw is None else ACCOUNT_OVERHEAD + len(raw) - _DATA


def is_program(raw: bytes) -> bool:
    """Whether a stored account is executable (a program: loading it compiles it)."""
    return raw[_EXECUTABLE] != 0


def programdata_address(raw: bytes) -> bytes | None:
    """The ProgramData address of an upgradeable program account (stored encoding), else None."""
    if (
        raw[_EXECUTABLE]
        and raw[_OWNER] == UPGRADEABLE_LOADER
        and raw[_DATA : _DATA + 4] == _PROGRAM_TAG
    ):
        address = raw[_DATA + 4 : _DATA + 36]
        return address if len(address) == 32 else None
    return None


def _new_svm() -> LiteSVM:
    return LiteSVM().with_sigverify(False).with_blockhash_check(False).with_transaction_history(0)


#: Pubkey objects kept for reuse (building one costs more than the account read it serves).
PUBKEY_CACHE = 65_536


class Execution(msgspec.Struct, frozen=True, gc=False):
    """What the runtime said about one transaction.

    :ivar error: None on success, else the runtime's error object (see `error_json`).
    """

    error: object | None
    fee: int
    compute_units: int
    logs: list[str]
    #: Per instruction, its inner instructions (see `Simulation`); filled when asked for.
    inner: list[list[tuple[int, bytes, bytes, int | None]]] = []
    #: (program id, data) when the transaction set return data and it was asked for.
    return_data: tuple[bytes, bytes] | None = None

    @property
    def error_name(self) -> str | None:
        return None if self.error is None else error_name(self.error)

    @property
    def error_json(self) -> Any:
        return None if self.error is None else error_json(self.error)


class Simulation(msgspec.Struct, frozen=True, gc=False):
    """What simulating one transaction said, nothing committed.

    :ivar return_data: (program id, data) when the transaction set any, else None.
    :ivar inner_instructions: per instruction, its inner instructions as (program id index,
        account indexes, data, stack height).
    :ivar post_accounts: the accounts the transaction would write, as they would be after it.
    """

    execution: Execution
    return_data: tuple[bytes, bytes] | None
    inner_instructions: list[list[tuple[int, bytes, bytes, int | None]]]
    post_accounts: dict[bytes, Account]


#: The bytes of the owners seen lately (a few programs own nearly every account), at most 4,096:
#: `bytes(Pubkey)` costs more than the rest of an encoding.
_owners: dict[Pubkey, bytes] = {}
_pack_header = ACCOUNT_HEADER.pack


def account_fields(account: Account | None) -> bytes | None:
    """`account` in the store's encoding (`encode_account_fields`, the header packed here);
    None: absent. A 0-lamport account is a value (a deposit's, as `update_accounts` reports
    it); `encode_account` takes it as absent. The executor encodes every account a block
    changes, and each write the stream wants, through this."""
    if account is None:
        return None
    owner = account.owner
    raw = _owners.get(owner)
    if raw is None:
        if len(_owners) >= 4096:
            _owners.clear()
        raw = _owners[owner] = bytes(owner)
    return (
        _pack_header(account.lamports, account.rent_epoch, account.executable, raw) + account.data
    )


def encode_account(account: Account | None) -> bytes | None:
    """A runtime account as the store encodes it; None for absent or 0-lamport accounts."""
    if account is None or account.lamports == 0:
        return None
    return account_fields(account)


def decode_account(raw: bytes) -> Account:
    rec = AccountRecord.decode(raw)
    return Account(rec.lamports, rec.data, Pubkey(rec.owner), rec.executable, rec.rent_epoch)


class SvmRuntime:
    """One LiteSVM instance and the state accounts resident in it."""

    def __init__(self) -> None:
        self._svm = _new_svm()
        #: The resident keys, each with what it costs (`resident_size`).
        self.resident: dict[bytes, int] = {}
        self._pristine: LiteSVM | None = None
        self._pubkeys: dict[bytes, Pubkey] = {}
        # solders' Python `LiteSVM` only forwards these to its Rust class; the node calls them
        # several times per transaction, so it calls the Rust methods directly (solders is
        # pinned to one version).
        inner = self._svm._inner
        self._get_account = inner.get_account
        self._get_balance = inner.get_balance
        self._send = inner.send_transaction

    def _pubkey(self, key: bytes) -> Pubkey:
        pubkey = self._pubkeys.get(key)
        if pubkey is None:
            if len(self._pubkeys) >= PUBKEY_CACHE:
                self._pubkeys.clear()
            pubkey = self._pubkeys[key] = Pubkey(key)
        return pubkey

    # ------------------------------------------------------------------ clock

    def set_clock(self, slot: int, unix_timestamp: int) -> None:
        """Slot = L1 block number, unix_timestamp = L1 timestamp (one epoch, as on a new chain)."""
        self._svm.set_clock(Clock(slot, 0, 0, 0, unix_timestamp))

    # ------------------------------------------------------------------ accounts

    def load(self, pubkeys: list[bytes], values: list[bytes | None]) -> None:
        """Make state accounts read from the store resident; an absent one leaves the runtime's
        own. Programs go in last: LiteSVM compiles a program when it is set, and an upgradeable
        one needs its ProgramData account in place by then."""
        svm = self._svm
        resident = self.resident
        programs = []
        for key, raw in zip(pubkeys, values, strict=True):
            if raw is not None:
                if raw[_EXECUTABLE]:
                    programs.append((key, raw))
                    continue
                svm.set_account(Pubkey(key), decode_account(raw))
            resident[key] = resident_size(raw)
        for key, raw in programs:
            svm.set_account(Pubkey(key), decode_account(raw))
            resident[key] = resident_size(raw)

    def evict(self, pubkeys: Iterable[bytes]) -> None:
        """Let resident keys go: LiteSVM forgets the accounts (an account set with 0 lamports
        is removed from its map, and its memory is reused), or holds its own again where it
        has one. The store (or the executor's pending writes) holds their values."""
        resident = self.resident
        for key in pubkeys:
            # A key absent from the state has nothing of the state's in LiteSVM.
            if resident.pop(key) != ABSENT_SIZE:
                self.set(key, None)

    def restore(self, pubkey: bytes, raw: bytes | None) -> None:
        """A revert wrote `raw` back to the store: a resident key takes it, any other key is
        read from the store when next used."""
        if pubkey in self.resident:
            self.set(pubkey, raw)
            self.resident[pubkey] = resident_size(raw)

    def get_object(self, pubkey: bytes) -> Account | None:
        """The account as the runtime sees it now (None when it does not exist). Comparing
        these is cheaper than encoding them: the executor encodes only what changed."""
        account = self._get_account(self._pubkeys.get(pubkey) or self._pubkey(pubkey))
        return None if account is None or account.lamports == 0 else account

    def native_reader(self) -> tuple[Callable[[Pubkey], Account | None], dict[bytes, Pubkey]]:
        """What `get_object` reads through, for native code that reads accounts without its
        Python frame (`core.writes`): LiteSVM's own reader, which gives a 0-lamport account as
        it is (`get_object` gives None), and the Pubkeys kept by key (a dict cleared in place
        when full, never replaced; a key missing from it is read through `get_object`)."""
        return self._get_account, self._pubkeys

    def balances(self, pubkeys: tuple[bytes, ...]) -> list[int]:
        """The lamports of each account (0 where none), without copying any account data.

        The executor reads these for every key of every transaction, before and after it, on
        the main thread: this is `balances_py` in C (`_runtime.c`), at about half its cost."""
        return _runtime.balances(self._get_balance, self._pubkeys, self._pubkey, pubkeys)

    def balances_py(self, pubkeys: tuple[bytes, ...]) -> list[int]:
        """`balances` in Python: the reference the tests hold the C one to."""
        balance = self._get_balance
        pubkeys_cache = self._pubkeys
        return [balance(pubkeys_cache.get(k) or self._pubkey(k)) or 0 for k in pubkeys]

    if _runtime is None:  # installed without a C compiler
        balances = balances_py

    def lamports(self, pubkey: bytes) -> int:
        """The lamports of one account (0 where none), without copying its data. Python: one
        key through `_runtime.balances` costs more (a tuple and a list; 0.20 against 0.16 us)."""
        return self._get_balance(self._pubkeys.get(pubkey) or self._pubkey(pubkey)) or 0

    def put_object(self, pubkey: bytes, account: Account) -> None:
        """Overwrite an account (deposits)."""
        self._svm.set_account(self._pubkey(pubkey), account)

    def set(self, pubkey: bytes, raw: bytes | None) -> None:
        """Overwrite an account (deposits, reverts). None restores the runtime's own account,
        if it has one (a program or sysvar), or removes it."""
        if raw is None:
            original = self._original(pubkey)
            account = original if original is not None else _EMPTY
        else:
            account = decode_account(raw)
        self._svm.set_account(Pubkey(pubkey), account)

    def _original(self, pubkey: bytes) -> Account | None:
        # A pristine runtime tells what an account was before the state ever touched it.
        if self._pristine is None:
            self._pristine = _new_svm()
        return self._pristine.get_account(Pubkey(pubkey))

    def lookup_table_addresses(self, table: bytes) -> list[bytes]:
        """The addresses an address lookup table holds now (empty when it does not exist)."""
        account = self._svm.get_account(Pubkey(table))
        if account is None or len(account.data) < _ALT_HEADER:
            return []
        data = account.data
        return [data[i : i + 32] for i in range(_ALT_HEADER, len(data) - 31, 32)]

    # ------------------------------------------------------------------ execution

    def execute(self, tx: WireTransaction, *, details: bool = False) -> Execution:
        """Run and commit `tx`; with `details`, also its inner instructions and return data."""
        result = self._send(tx)
        if isinstance(result, TransactionMetadata):
            meta, error = result, None
        else:
            meta, error = result.meta(), result.err()
        logs = meta.logs()
        if not details:
            return Execution(error, meta.fee(), meta.compute_units_consumed(), logs)
        # The logs say whether there is anything to convert (most transactions invoke nothing
        # and return nothing); a truncated log says nothing, so it converts both.
        invoked = returned = False
        for line in logs:
            if line.endswith(" invoke [2]"):
                invoked = True
            elif line.startswith(("Program return: ", "Log truncated")):
                returned = True
                invoked = invoked or line.startswith("Log truncated")
        return Execution(
            error,
            meta.fee(),
            meta.compute_units_consumed(),
            logs,
            _inner(meta) if invoked else [],
            _return_data(meta) if returned else None,
        )

    def simulate(self, tx: WireTransaction) -> Simulation:
        """Run `tx` against the accounts loaded now without keeping any of its writes."""
        result = self._svm.simulate_transaction(tx)
        if isinstance(result, SimulatedTransactionInfo):
            meta, error = result.meta(), None
            post = {bytes(key): account for key, account in result.post_accounts()}
        else:
            meta, error, post = result.meta(), result.err(), {}
        execution = Execution(error, meta.fee(), meta.compute_units_consumed(), meta.logs())
        return Simulation(execution, _return_data(meta), _inner(meta), post)


def _inner(meta: TransactionMetadata) -> list[list[tuple[int, bytes, bytes, int | None]]]:
    return [
        [
            (ix.program_id_index, bytes(ix.accounts), bytes(ix.data), item.stack_height())
            for item in group
            for ix in (item.instruction(),)
        ]
        for group in meta.inner_instructions()
    ]


def _return_data(meta: TransactionMetadata) -> tuple[bytes, bytes] | None:
    """(program id, data), or None when the transaction set none (or set it empty)."""
    returned = meta.return_data()
    if returned is None:
        return None
    data = bytes(returned.data)
    return (bytes(returned.program_id), data) if data else None


def lookup_tables(tx: WireTransaction) -> list[bytes]:
    """The address lookup tables a v0 transaction names."""
    msg = tx.message
    if not isinstance(msg, MessageV0):
        return []
    return [bytes(lookup.account_key) for lookup in msg.address_table_lookups]


def writable_keys(tx: WireTransaction, keys: list[bytes], runtime: SvmRuntime) -> list[bytes]:
    """Accounts the transaction may write: writable by the header, not invoked as a program,
    plus the writable addresses it loads from lookup tables."""
    msg = tx.message
    header = msg.header
    n_sig = header.num_required_signatures
    n_keys = len(keys)
    ro_signed = header.num_readonly_signed_accounts
    ro_unsigned = header.num_readonly_unsigned_accounts
    programs = {ix.program_id_index for ix in msg.instructions}
    out = [
        keys[i]
        for i in range(n_keys)
        if i not in programs and ((i < n_sig - ro_signed) or (n_sig <= i < n_keys - ro_unsigned))
    ]
    if isinstance(msg, MessageV0):
        for lookup in msg.address_table_lookups:
            addresses = runtime.lookup_table_addresses(bytes(lookup.account_key))
            out.extend(addresses[i] for i in bytes(lookup.writable_indexes) if i < len(addresses))
    return out


def loaded_split(tx: WireTransaction, runtime: SvmRuntime) -> tuple[list[bytes], list[bytes]]:
    """The (writable, readonly) addresses a v0 transaction loads, in Solana's order (all
    tables' writable ones, then all readonly ones): the rest of its account keys."""
    msg = tx.message
    writable: list[bytes] = []
    readonly: list[bytes] = []
    if isinstance(msg, MessageV0):
        for lookup in msg.address_table_lookups:
            addresses = runtime.lookup_table_addresses(bytes(lookup.account_key))
            n = len(addresses)
            writable.extend(addresses[i] for i in bytes(lookup.writable_indexes) if i < n)
            readonly.extend(addresses[i] for i in bytes(lookup.readonly_indexes) if i < n)
    return writable, readonly


def loaded_addresses(tx: WireTransaction, runtime: SvmRuntime) -> list[bytes]:
    """Every address a v0 transaction loads through lookup tables (for prefetching)."""
    msg = tx.message
    if not isinstance(msg, MessageV0):
        return []
    out: list[bytes] = []
    for lookup in msg.address_table_lookups:
        addresses = runtime.lookup_table_addresses(bytes(lookup.account_key))
        for i in bytes(lookup.writable_indexes) + bytes(lookup.readonly_indexes):
            if i < len(addresses):
                out.append(addresses[i])
    return out
