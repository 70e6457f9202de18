"""The runtime's resident set under the account cache: evicting really lets LiteSVM forget an
account and reuse its memory, sizes are what the memory costs, negative entries spare store
reads, reverts reach resident keys only, and an upgradeable program comes with its ProgramData
and stays pinned. Real LiteSVM; the store is a dict of encoded accounts (the mechanics do not
depend on LMDB: the node tests run them on it)."""

from __future__ import annotations

import textwrap

import clirun
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from monmouth.core.accountcache import AccountCache
from monmouth.core.spl import TOKEN_PROGRAM
from monmouth.plugins.cache.policy import Lru
from monmouth.rust_svm.accounts import encode_account_fields
from monmouth.rust_svm.runtime import (
    ABSENT_SIZE,
    UPGRADEABLE_LOADER,
    SvmRuntime,
    programdata_address,
    resident_size,
)

SYSTEM = bytes(32)


def account(
    lamports: int, data: bytes = b"", owner: bytes = SYSTEM, executable: bool = False
) -> bytes:
    return encode_account_fields(lamports, owner, executable, 0, data)


class Store:
    """A dict of encoded accounts that counts the keys read."""

    def __init__(self, accounts: dict[bytes, bytes]) -> None:
        self.accounts = accounts
        self.reads: list[bytes] = []

    def read(self, keys: list[bytes]) -> list[bytes | None]:
        self.reads += keys
        return [self.accounts.get(k) for k in keys]


def key(n: int) -> bytes:
    return n.to_bytes(32, "little")


def test_evicting_makes_litesvm_forget_and_a_load_brings_the_stored_value_back() -> None:
    store = Store({key(1): account(5_000), key(2): account(7_000, b"x" * 165)})
    runtime = SvmRuntime()
    cache = AccountCache(runtime, Lru(), 0)
    cache.ensure([key(1), key(2), key(3)], store.read)
    assert runtime.get_object(key(2)).lamports == 7_000  # type: ignore[union-attr]
    assert runtime.resident == {
        key(1): resident_size(store.accounts[key(1)]),
        key(2): resident_size(store.accounts[key(2)]),
        key(3): ABSENT_SIZE,
    }
    assert cache.evict() == 3
    assert runtime.resident == {} and runtime.get_object(key(2)) is None
    assert cache.counts.evictions == 3 and cache.counts.misses == 3
    store.accounts[key(2)] = account(9_000)  # the store moved on while it was away
    cache.ensure([key(2)], store.read)
    assert runtime.get_object(key(2)).lamports == 9_000  # type: ignore[union-attr]


def test_a_negative_entry_costs_no_second_read() -> None:
    store = Store({})
    cache = AccountCache(SvmRuntime(), Lru(), None)
    cache.ensure([key(9)], store.read)
    cache.ensure([key(9), key(9)], store.read)
    assert store.reads == [key(9)]
    assert (cache.counts.misses, cache.counts.negative_hits, cache.counts.hits) == (1, 1, 0)
    assert cache.snapshot().negative_entries == 1 and cache.snapshot().resident_accounts == 0


def test_the_policy_keeps_the_recently_used_within_the_budget() -> None:
    store = Store({key(i): account(1_000 + i, bytes(165)) for i in range(10)})
    one = resident_size(store.accounts[key(0)])
    runtime = SvmRuntime()
    cache = AccountCache(runtime, Lru(), 3 * one)
    cache.ensure([key(i) for i in range(6)], store.read)
    cache.ensure([key(0)], store.read)  # used again: the most recent
    cache.evict()
    assert set(runtime.resident) == {key(0), key(4), key(5)}
    assert cache.snapshot().resident_bytes == 3 * one


def test_a_written_account_changes_its_size_and_a_closed_one_becomes_negative() -> None:
    store = Store({key(1): account(5_000)})
    runtime = SvmRuntime()
    cache = AccountCache(runtime, Lru(), None)
    cache.ensure([key(1), key(2)], store.read)
    big = account(8_000, bytes(1000))
    cache.written([(key(2), None, big), (key(1), store.accounts[key(1)], None)])
    assert runtime.resident == {key(1): ABSENT_SIZE, key(2): resident_size(big)}
    assert cache.snapshot().negative_entries == 1


def test_a_revert_reaches_resident_keys_only() -> None:
    store = Store({key(1): account(5_000), key(2): account(6_000)})
    runtime = SvmRuntime()
    cache = AccountCache(runtime, Lru(), None)
    cache.ensure([key(1)], store.read)
    cache.restore(key(1), account(4_000))  # resident: the runtime takes the stored value
    cache.restore(key(2), account(3_000))  # not resident: read from the store when named
    assert runtime.get_object(key(1)).lamports == 4_000  # type: ignore[union-attr]
    assert key(2) not in runtime.resident and runtime.get_object(key(2)) is None
    cache.restore(key(1), None)
    assert runtime.get_object(key(1)) is None and runtime.resident[key(1)] == ABSENT_SIZE


def upgradeable(program: bytes, programdata: bytes) -> dict[bytes, bytes]:
    """A loader-v3 program and its ProgramData holding SPL Token's ELF, as LiteSVM ships it."""
    svm = LiteSVM()
    token = svm.get_account(Pubkey(TOKEN_PROGRAM))
    assert token is not None and bytes(token.owner) == UPGRADEABLE_LOADER
    shipped = svm.get_account(Pubkey(bytes(token.data[4:36])))
    assert shipped is not None
    elf = bytes(shipped.data[45:])
    # ProgramData: tag 3, slot, no upgrade authority (45 bytes of metadata all the same).
    metadata = (3).to_bytes(4, "little") + bytes(8) + b"\x00" + bytes(32)
    return {
        programdata: account(10**9, metadata + elf, UPGRADEABLE_LOADER),
        program: account(10**9, (2).to_bytes(4, "little") + programdata, UPGRADEABLE_LOADER, True),
    }


def test_an_upgradeable_program_comes_with_its_programdata_and_stays_pinned() -> None:
    program, programdata = key(70), key(71)
    payer = Keypair.from_seed(bytes(range(32)))
    store = Store({**upgradeable(program, programdata), bytes(payer.pubkey()): account(10**9)})
    assert programdata_address(store.accounts[program]) == programdata
    runtime = SvmRuntime()
    cache = AccountCache(runtime, Lru(), 0)
    message = Message.new_with_blockhash(
        [Instruction(Pubkey(program), b"", [])], payer.pubkey(), Hash(bytes(32))
    )
    tx = VersionedTransaction(message, [payer])
    # The transaction names the payer and the program; the cache adds the ProgramData.
    cache.ensure([bytes(k) for k in message.account_keys], store.read)
    assert programdata in runtime.resident
    for slot in (5, 6):
        runtime.set_clock(slot, 1_700_000_000 + slot)
        # SPL Token ran and refused the empty instruction (TokenError::InvalidInstruction).
        # Without its ProgramData the runtime answers "Program is not deployed" instead.
        assert runtime.execute(tx).error_json == {"InstructionError": [0, {"Custom": 12}]}
        cache.evict()  # a budget of 0: all but the pinned go
        assert set(runtime.resident) == {program, programdata}
        cache.ensure([bytes(k) for k in message.account_keys], store.read)
    assert store.reads.count(programdata) == 1 and store.reads.count(program) == 1


RSS_PROBE = textwrap.dedent(
    """
    import os, sys
    from monmouth.core.accountcache import AccountCache
    from monmouth.plugins.cache.policy import Lru
    from monmouth.rust_svm.accounts import encode_account_fields
    from monmouth.rust_svm.runtime import SvmRuntime

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    N, ROUNDS, evict = 100_000, 4, sys.argv[1] == "evict"
    raw = encode_account_fields(2_039_280, bytes([6] * 32), False, 0, bytes(165))
    cache = AccountCache(SvmRuntime(), Lru(), 0 if evict else None)
    read = lambda keys: [raw] * len(keys)
    start = rss()
    grown = []
    for r in range(ROUNDS):
        for i in range(0, N, 1000):
            base = r * N + i
            cache.ensure([(base + j + 1).to_bytes(32, "little") for j in range(1000)], read)
        if r == 0:
            counted = cache.policy.resident_bytes()
        cache.evict()
        grown.append(rss() - start)
    print(counted, *grown)
    """
)


def probe(mode: str) -> tuple[int, list[int]]:
    out = clirun.python("-c", RSS_PROBE, mode, timeout=300, code=0)
    counted, *grown = (int(v) for v in out.stdout.split())
    return counted, grown


def test_evicted_memory_is_reused_and_sizes_match_the_memory() -> None:
    """Four rounds of 100,000 distinct token accounts: kept, the process grows by each round;
    evicted after each round, it stays near one round's size (LiteSVM removes an account set
    with 0 lamports and reuses its memory). What the cache counts for a round is within a
    third of what the process grew by."""
    counted, kept = probe("keep")
    _, evicted = probe("evict")
    first = kept[0]
    assert 0.66 * first < counted < 1.5 * first
    assert kept[-1] > 3 * first  # without eviction, every round stays
    assert evicted[-1] < 2 * first  # with it, the memory of the first round is reused
