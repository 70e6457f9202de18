"""The stream's `writes`, captured lazily (`BlockExecutor._run` without `AccountUpdate`s), are
the eager capture's, which plugins get through `update_accounts`: the same message bytes on the
wire, the same updates rebuilt from them (`monmouth.roles.analyzer.account_updates`), the same
state hashes.

Two real nodes (LiteSVM, LMDB, the stream log) run the same L1 blocks: the reference has a
plugin implementing `update_accounts` (so its executor builds `AccountUpdate`s after every
transaction and the `writes` from them, `_eager_writes`); the other has none (the write log,
`core.writes`, in C and in its Python reference). Every message of every stored segment is
compared, byte for byte.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from chainbuilder import ChainBuilder, keypair, sol_transfer
from conftest import recompute_lthash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.account import Account
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from streamkit import stream_settings

from monmouth.app import build_node
from monmouth.bench import WORKLOADS, Workload, generate
from monmouth.core.l1 import L1Block, L1Transaction
from monmouth.core.node import Node
from monmouth.core.notifications import ChainCommitted
from monmouth.core.payloads import AccountUpdate, BlockInfo
from monmouth.core.plugins import load_plugins
from monmouth.hooks import hookimpl
from monmouth.roles.analyzer import account_updates
from monmouth.rust_svm.accounts import AccountRecord, encode_account_fields
from monmouth.rust_svm.runtime import SvmRuntime, account_fields, encode_account
from monmouth.stream.schema import WritesBody, decode_body
from monmouth.stream.segments import Expander

SOL = 10**9


@pytest.fixture(autouse=True, scope="module", params=["c", "python"])
def write_log(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test twice: with the C write log (`_writes.c`) and with its Python reference."""
    from monmouth.core import writes

    if request.param == "c" and writes.IMPLEMENTATION != "c":
        pytest.skip("the _writes extension is not built")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(writes, "IMPLEMENTATION", request.param)
        made = writes.make_write_log(SvmRuntime())
        assert isinstance(made, writes.WriteLogPy) == (request.param == "python")
        yield request.param


#: A builtin the runtime has of its own (not state until a block changes it).
TOKEN = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
#: Funded users, and one never funded (its transactions are rejected: fee payer).
USERS = [keypair(100 + i) for i in range(5)]
UNFUNDED = keypair(99)


class Updates:
    """Records the `update_accounts` calls of committed blocks."""

    def __init__(self) -> None:
        self.calls: dict[int, list[AccountUpdate]] = {}

    @hookimpl
    def update_accounts(
        self, block: BlockInfo | None, updates: list[AccountUpdate], is_startup: bool
    ) -> None:
        if block is not None and not is_startup:
            self.calls[block.number] = updates


@dataclass
class Pair:
    """The reference node (eager capture, with a plugin that wants updates) and the lazy one."""

    eager: Node
    lazy: Node
    plugin: Updates = field(default_factory=Updates)

    def apply(self, block: L1Block) -> None:
        for node in (self.eager, self.lazy):
            node.apply(ChainCommitted((block,)))

    def check(self) -> list[WritesBody]:
        """Hold the two nodes' logs, state hashes and updates equal; the lazy `writes`."""
        assert not self.lazy.executor.want_updates and self.eager.executor.want_updates
        self.eager.plugins.drain()
        eager, lazy = messages(self.eager), messages(self.lazy)
        assert lazy == eager
        assert self.lazy.state == self.eager.state == recompute_lthash(self.lazy.store)
        out: list[WritesBody] = []
        for body in (decode_body("writes", b) for kind, _, b in lazy if kind == "writes"):
            assert isinstance(body, WritesBody)
            # What an analyzer rebuilds from the lazy node's message is what plugins got.
            assert account_updates(body) == self.plugin.calls.get(body.number, [])
            out.append(body)
        assert len(out) == self.eager.stats.blocks
        return out


def messages(node: Node) -> list[tuple[str, int, bytes]]:
    """(kind, height, body) of every message of the node's stored stream log."""
    first, next_seq, _ = node.store.stream_bounds()
    out: list[tuple[str, int, bytes]] = []
    for seq, segment in node.store.segments(first, next_seq - 1):
        out.extend((m.kind, m.height, m.body) for m in Expander(None).expand(seq, segment)[0])
    return out


@contextlib.contextmanager
def pair(root: Path) -> Iterator[Pair]:
    plugin = Updates()
    eager_settings = stream_settings(root / "eager", None, stream={"writes": "always"})
    lazy_settings = stream_settings(root / "lazy", None, stream={"writes": "always"})
    eager = build_node(
        eager_settings, plugins=load_plugins(eager_settings, extra=[("updates", plugin)])
    )
    try:
        with build_node(lazy_settings) as lazy:
            yield Pair(eager, lazy, plugin)
    finally:
        eager.close()


def paid_transfer(payer: Keypair, source: Keypair, to: Pubkey, lamports: int, tip: bytes) -> bytes:
    """A transfer from `source` whose fee `payer` pays (so `source` can be written back to its
    value, or emptied)."""
    ix = transfer(TransferParams(from_pubkey=source.pubkey(), to_pubkey=to, lamports=lamports))
    msg = Message.new_with_blockhash([ix], payer.pubkey(), Hash(tip))
    signers = [payer] if payer == source else [payer, source]
    return bytes(VersionedTransaction(msg, signers))


def builtin_writable(payer: Keypair, to: Pubkey, tip: bytes) -> bytes:
    """A transfer naming the token program writable (it stays as it was)."""
    plain = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=SOL))
    ix = Instruction(
        plain.program_id, plain.data, [*plain.accounts, AccountMeta(TOKEN, False, True)]
    )
    return bytes(
        VersionedTransaction(Message.new_with_blockhash([ix], payer.pubkey(), Hash(tip)), [payer])
    )


def flipped(raw: bytes) -> bytes:
    """`raw` with a bad signature."""
    out = bytearray(raw)
    out[10] ^= 1
    return bytes(out)


def _lamports(node: Node, key: Pubkey) -> int:
    raw = node.store.account(bytes(key))
    return 0 if raw is None else AccountRecord.decode(raw).lamports


def test_a_block_of_every_kind_of_write(tmp_path: Path) -> None:
    """One block with deposits between transactions to the same accounts, an account written
    back to its value before the block, a failed and rejected transactions, an account closed
    and created again, and a builtin credited."""
    alice, bob, carol, dave, erin = USERS
    chain = ChainBuilder()
    chain.block(*(chain.deposit(i, u.pubkey(), 10 * SOL) for i, u in enumerate(USERS)))
    tip = chain.tip_hash
    first = sol_transfer(alice, bob.pubkey(), SOL, tip)
    chain.block(
        chain.batch(0, first),
        chain.deposit(1, bob.pubkey(), SOL),  # bob again, between transactions
        chain.deposit(2, dave.pubkey(), SOL),  # dave first touched by a deposit ...
        chain.batch(
            3,
            paid_transfer(carol, bob, carol.pubkey(), 2 * SOL, tip),  # bob back to 10 SOL
            paid_transfer(carol, dave, alice.pubkey(), SOL, tip),  # ... and written back
            sol_transfer(alice, bob.pubkey(), 1000 * SOL, tip),  # failed: alice pays the fee
            first,  # already processed
            flipped(sol_transfer(alice, bob.pubkey(), 3, tip)),  # bad signature
            b"garbage",
            sol_transfer(UNFUNDED, bob.pubkey(), SOL, tip),  # nobody to pay the fee
            paid_transfer(carol, erin, carol.pubkey(), 10 * SOL, tip),  # erin closed
            builtin_writable(alice, carol.pubkey(), tip),
        ),
        chain.deposit(4, TOKEN, SOL),  # a builtin credited: it becomes state
        chain.deposit(5, erin.pubkey(), 2 * SOL),  # erin created again
    )
    with pair(tmp_path) as p:
        for block in chain.blocks:
            p.apply(block)
        assert _lamports(p.lazy, bob.pubkey()) == 10 * SOL
        assert _lamports(p.lazy, erin.pubkey()) == 2 * SOL
        bodies = p.check()
    writes = bodies[1].writes
    by_key: dict[str, list[tuple[int, str | None, int | None]]] = {}
    for w in writes:
        before = None if w.before is None else w.before.lamports
        by_key.setdefault(w.pubkey, []).append((w.lamports, w.signature, before))
    # bob: alice's transfer, the deposit, then back to its value before the block.
    assert [lam for lam, _, _ in by_key[str(bob.pubkey())]] == [11 * SOL, 12 * SOL, 10 * SOL]
    assert by_key[str(bob.pubkey())][1][1] is None  # the deposit's
    assert [lam for lam, _, _ in by_key[str(dave.pubkey())]] == [11 * SOL, 10 * SOL]
    # erin: closed (reported as 0 lamports), then the deposit (which replaced that report).
    assert [(lam, b) for lam, _, b in by_key[str(erin.pubkey())]] == [(0, 10 * SOL), (2 * SOL, 0)]
    # The token program: one write, the runtime's own value before it.
    ((lam, sig, before),) = by_key[str(TOKEN)]
    assert sig is None and before is not None and lam == before + SOL
    # The failed transfer wrote alice (its fee) and not bob; rejected ones wrote nothing.
    signed = {w.signature for w in writes if w.signature is not None}
    assert len(signed) == 6  # first, bob's, dave's, the failed one, erin's, the builtin's


# ---------------------------------------------------------------------- generated blocks

_AMOUNTS = st.sampled_from(["some", "sol", "drain", "huge"])
_OP = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 5), st.integers(1, 3)),
    st.tuples(
        st.just("transfer"), st.integers(0, 5), st.integers(0, 4), st.integers(0, 4), _AMOUNTS
    ),
    st.tuples(st.just("flipped"), st.integers(0, 4), st.integers(0, 4)),
    st.tuples(st.just("again")),
    st.tuples(st.just("garbage")),
    st.tuples(st.just("builtin"), st.integers(0, 4)),
    st.tuples(st.just("credit_builtin")),
)


def _build(chain: ChainBuilder, ops: list[tuple[object, ...]], balances: dict[Pubkey, int]) -> None:
    """One block of `ops`: each deposit an L1 transaction of its own, the transactions between
    them in one batch. `balances` (lamports at the block's start) tells what drains a user."""
    tip = chain.tip_hash
    l1: list[L1Transaction] = []
    batch: list[bytes] = []
    sent: list[bytes] = []

    def flush() -> None:
        if batch:
            l1.append(chain.batch(len(l1), *batch))
            batch.clear()

    users = [*USERS, UNFUNDED]
    for op in ops:
        kind = op[0]
        if kind == "deposit":
            flush()
            _, who, sol = op
            assert isinstance(who, int) and isinstance(sol, int)
            l1.append(chain.deposit(len(l1), users[who].pubkey(), sol * SOL))
        elif kind == "credit_builtin":
            flush()
            l1.append(chain.deposit(len(l1), TOKEN, SOL))
        elif kind == "transfer":
            _, payer, source, to, amount = op
            assert isinstance(payer, int) and isinstance(source, int) and isinstance(to, int)
            lamports = {
                "some": 1_000_000 + len(sent),  # distinct: no two transfers are the same
                "sol": SOL,
                "drain": balances.get(users[source].pubkey(), 0),
                "huge": 10**6 * SOL,
            }[str(amount)]
            raw = paid_transfer(users[payer], users[source], users[to].pubkey(), lamports, tip)
            batch.append(raw)
            sent.append(raw)
        elif kind == "flipped":
            _, payer, to = op
            assert isinstance(payer, int) and isinstance(to, int)
            batch.append(flipped(sol_transfer(users[payer], users[to].pubkey(), 7, tip)))
        elif kind == "again" and sent:
            batch.append(sent[-1])  # already processed (or failed before: processed too)
        elif kind == "garbage":
            batch.append(b"\x01garbage")
        elif kind == "builtin":
            (_, payer) = op
            assert isinstance(payer, int)
            batch.append(builtin_writable(users[payer], users[(payer + 1) % 5].pubkey(), tip))
    flush()
    chain.block(*l1)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(st.lists(_OP, max_size=14), min_size=1, max_size=3))
def test_generated_blocks_give_the_eager_writes(blocks: list[list[tuple[object, ...]]]) -> None:
    chain = ChainBuilder()
    chain.block(*(chain.deposit(i, u.pubkey(), 20 * SOL) for i, u in enumerate(USERS)))
    with tempfile.TemporaryDirectory() as tmp, pair(Path(tmp)) as p:
        p.apply(chain.blocks[-1])
        for ops in blocks:
            balances = {u.pubkey(): _lamports(p.lazy, u.pubkey()) for u in USERS}
            _build(chain, ops, balances)
            p.apply(chain.blocks[-1])
        p.check()


@pytest.mark.parametrize("per_block", [50, 7])
@pytest.mark.parametrize("workload", WORKLOADS)
def test_workloads_give_the_eager_writes(
    tmp_path: Path, workload: Workload, per_block: int
) -> None:
    """The devnet's workloads (`monmouth.bench.generate`) over few users: accounts written
    many times in a block, fee payers, token accounts, the mixed workload's failures."""
    blocks = generate(workload, 300, per_block, 12)
    with pair(tmp_path) as p:
        for block in blocks:
            p.apply(block)
        bodies = p.check()
    counts = [len({w.pubkey for w in b.writes}) for b in bodies]
    assert sum(len(b.writes) for b in bodies) > sum(counts)  # accounts written again


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 2**64 - 1),
    st.binary(max_size=200),
    st.sampled_from([bytes(32), bytes(TOKEN), b"\x07" * 32]),
    st.booleans(),
    st.integers(0, 2**64 - 1),
)
def test_the_executors_account_encoding_is_the_stores(
    lamports: int, data: bytes, owner: bytes, executable: bool, rent_epoch: int
) -> None:
    """`account_fields` (the encoder of changed accounts and writes, `encode_account`'s too)
    is the store's layout (`encode_account_fields`), owners from its cache included; a
    0-lamport account (a deposit of 0 lamports) is a value, which `encode_account` drops."""
    account = Account(lamports, data, Pubkey(owner), executable, rent_epoch)
    stored = encode_account_fields(lamports, owner, executable, rent_epoch, data)
    for _ in range(2):  # the owner's bytes computed, then cached
        assert account_fields(account) == stored
        assert encode_account(account) == stored
    zero = Account(0, data, Pubkey(owner), executable, rent_epoch)
    assert encode_account(zero) is None
    assert account_fields(zero) == encode_account_fields(0, owner, executable, rent_epoch, data)
    assert account_fields(None) is None
