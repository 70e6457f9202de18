"""Exact prefetch through address lookup tables: a v0 transaction whose recipient is named only
by a lookup table finds the recipient's stored balance at every hot size (a recipient the
prefetch missed would look absent to the runtime, and the transfer would create it anew).
Real LMDB, real LiteSVM; the state starts from a stored genesis holding the table."""

from __future__ import annotations

from pathlib import Path

from cachenode import HOT_SIZES, cache_table, lmdb_contents
from chainbuilder import ChainBuilder, keypair
from solders.address_lookup_table_account import (
    ID as LOOKUP_TABLE_PROGRAM,
)
from solders.address_lookup_table_account import (
    LOOKUP_TABLE_META_SIZE,
    AddressLookupTable,
    AddressLookupTableAccount,
)
from solders.hash import Hash
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from monmouth.app import build_node
from monmouth.core.config import load_settings
from monmouth.core.lthash import LtHash, digest, sum_of
from monmouth.core.notifications import ChainCommitted
from monmouth.core.records import BlockRecord
from monmouth.core.state import BlockWrite, Store
from monmouth.rust_svm.accounts import AccountRecord, account_hash_input, encode_account_fields

SOL = 10**9
SYSTEM = bytes(32)


def lookup_table(addresses: list[Pubkey]) -> bytes:
    """An active table without authority, last extended at slot 0, as the ALT program stores it."""
    meta = (
        (1).to_bytes(4, "little")  # ProgramState::LookupTable
        + (2**64 - 1).to_bytes(8, "little")  # not deactivated
        + (0).to_bytes(8, "little")  # last extended at slot 0
        + b"\x00"  # start index of that extension
        + b"\x00"  # no authority
    ).ljust(LOOKUP_TABLE_META_SIZE, b"\x00")
    data = meta + b"".join(bytes(a) for a in addresses)
    assert list(AddressLookupTable.deserialize(data).addresses) == addresses
    return data


def seed(data_dir: Path, genesis_block: object, accounts: dict[bytes, bytes]) -> None:
    """Commit `genesis_block` with `accounts` as its writes, lattice hash included."""
    lthash = LtHash.identity()
    lthash.mix_in(sum_of([digest(account_hash_input(k, v)) for k, v in accounts.items()]))
    block = genesis_block
    record = BlockRecord(
        number=block.number,  # type: ignore[attr-defined]
        hash=block.hash,  # type: ignore[attr-defined]
        parent_hash=block.parent_hash,  # type: ignore[attr-defined]
        timestamp=block.timestamp,  # type: ignore[attr-defined]
        checksum=lthash.checksum(),
        messages=0,
        deposits=0,
        ok=0,
        failed=0,
        rejected=0,
    )
    with Store(data_dir) as store:
        write = BlockWrite(record, lthash, [(k, None, v) for k, v in accounts.items()], [], [], [])
        store.commit_blocks([write], [[]])


def test_a_recipient_named_only_by_a_lookup_table_is_prefetched(tmp_path: Path) -> None:
    payer, table = keypair(1), keypair(2).pubkey()
    first, second = keypair(3).pubkey(), keypair(4).pubkey()
    accounts = {
        bytes(payer.pubkey()): encode_account_fields(10 * SOL, SYSTEM, False, 0, b""),
        bytes(first): encode_account_fields(SOL, SYSTEM, False, 0, b""),
        bytes(table): encode_account_fields(
            SOL, bytes(LOOKUP_TABLE_PROGRAM), False, 0, lookup_table([first, second])
        ),
    }
    chain = ChainBuilder()
    genesis = chain.block()
    tables = [AddressLookupTableAccount(table, [first, second])]

    def v0(to: Pubkey, lamports: int, blockhash: bytes) -> bytes:
        ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
        message = MessageV0.try_compile(payer.pubkey(), [ix], tables, Hash(blockhash))
        assert bytes(to) not in [bytes(k) for k in message.account_keys]  # only in the table
        return bytes(VersionedTransaction(message, [payer]))

    chain.block(chain.batch(0, v0(first, 12_345, genesis.hash)))
    chain.block(chain.batch(0, v0(first, 1_000, chain.tip_hash), v0(second, SOL, chain.tip_hash)))
    chain.block(chain.batch(0, v0(second, 7, chain.tip_hash)))

    results = {}
    for hot in HOT_SIZES:
        data_dir = tmp_path / f"hot-{hot}"
        seed(data_dir, genesis, accounts)
        settings = load_settings(
            None, data_dir=data_dir, store={"sync": False}, plugins=cache_table(hot)
        )
        with build_node(settings) as node:
            for block in chain.blocks[1:]:
                node.apply(ChainCommitted((block,)))
            balances = []
            for key in (first, second):
                raw = node.store.account(bytes(key))
                assert raw is not None
                balances.append(AccountRecord.decode(raw).lamports)
            assert balances == [SOL + 12_345 + 1_000, SOL + 7]
            head = node.store.head()
            assert head is not None and (head.ok, head.failed, head.rejected) == (1, 0, 0)
            if hot == 0:
                assert node.executor.cache.counts.evictions > 0
            results[hot] = (node.state.checksum(), lmdb_contents(node.store))
    assert all(got == results[None] for got in results.values())
