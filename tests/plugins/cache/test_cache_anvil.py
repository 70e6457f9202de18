"""Correct at any size, following a real L1 node: four nodes follow one anvil side by side, with
hot tiers of zero accounts, one, a hundred and unbounded, through deposits, SPL Token
transfers, reorgs of depth 1 to 4 (whose new blocks spend from accounts the reorg restored)
and a rollback. After every step their state hashes and LMDB contents are identical, and equal
to those of a fresh node without the cache replaying the canonical chain."""

from __future__ import annotations

from pathlib import Path

import anyio
from anvil import Anvil
from cachenode import HOT_SIZES, ONE_ACCOUNT, cache_table, lmdb_contents
from chainbuilder import keypair
from solders.keypair import Keypair
from test_rpc_source import (
    SOL,
    block_hash,
    canonical_chain,
    deposit,
    follow,
    inbox_call,
    pay,
    post,
    settings_for,
    signed,
    tip,
)

from monmouth.app import build_node
from monmouth.core import inbox
from monmouth.core.config import load_settings
from monmouth.core.node import Node
from monmouth.core.notifications import ChainCommitted
from monmouth.core.sources.rpc import RpcSource
from monmouth.devnet.instructions import (
    MINT_SIZE,
    RENT_MINT,
    RENT_TOKEN_ACCOUNT,
    TOKEN_ACCOUNT_SIZE,
    create_token_owned,
    initialize_account3,
    initialize_mint2,
    mint_to,
    token_transfer,
)


def fresh(anvil: Anvil, data_dir: Path) -> tuple[bytes, dict[bytes, dict[bytes, bytes]]]:
    """A node without the cache replaying anvil's canonical chain now: state hash, LMDB."""
    settings = load_settings(
        None, data_dir=data_dir, store={"sync": False}, plugins={"disable": ["cache"]}
    )
    with build_node(settings) as node:
        node.apply(ChainCommitted(tuple(canonical_chain(anvil))))
        return node.state.checksum(), lmdb_contents(node.store)


def without_history(contents: dict[bytes, dict[bytes, bytes]]) -> dict[bytes, object]:
    """What a fresh replay must agree on: all but the node's history (its stream log, which
    logged the reverts, and what finality pruned: undo records, the finality marks in meta)."""
    history = (b"stream", b"stream_index", b"undo", b"meta")
    return {name: rows for name, rows in contents.items() if name not in history}


def test_nodes_with_any_hot_size_agree_through_reorgs(anvil: Anvil, tmp_path: Path) -> None:
    alice, bob, carol = keypair(1), keypair(2), keypair(3)
    mint, alice_tokens, bob_tokens = keypair(10), keypair(11), keypair(12)
    deposit(anvil, alice.pubkey(), 100)
    deposit(anvil, bob.pubkey(), 10)

    def token_account(owner: Keypair, new: Keypair) -> bytes:
        return signed(
            [
                create_token_owned(
                    owner.pubkey(), new.pubkey(), RENT_TOKEN_ACCOUNT, TOKEN_ACCOUNT_SIZE
                ),
                initialize_account3(new.pubkey(), mint.pubkey(), owner.pubkey()),
            ],
            [owner, new],
            tip(anvil).hash,
        )

    post(
        anvil,
        signed(
            [
                create_token_owned(alice.pubkey(), mint.pubkey(), RENT_MINT, MINT_SIZE),
                initialize_mint2(mint.pubkey(), 6, alice.pubkey()),
            ],
            [alice, mint],
            tip(anvil).hash,
        ),
    )
    post(anvil, token_account(alice, alice_tokens), token_account(bob, bob_tokens))
    post(
        anvil,
        signed(
            [mint_to(mint.pubkey(), alice_tokens.pubkey(), alice.pubkey(), 10**6)],
            [alice],
            tip(anvil).hash,
        ),
    )
    dirs = {hot: tmp_path / f"hot-{hot}" for hot in HOT_SIZES}
    checked: list[int] = []

    async def main() -> None:
        nodes: dict[int | None, Node] = {}
        streams = {}
        try:
            for hot, data_dir in dirs.items():
                base = settings_for(data_dir, anvil.url)
                settings = load_settings(
                    None,
                    data_dir=data_dir,
                    store={"sync": False},
                    source=base.source.model_dump(),
                    plugins=cache_table(hot),
                )
                nodes[hot] = build_node(settings)
                streams[hot] = RpcSource(anvil.url, poll_interval=0.05).notifications(None, None)

            async def follow_all() -> None:
                target = tip(anvil)
                for hot, node in nodes.items():
                    await follow(streams[hot], node, target)

            def agree(step: int) -> None:
                unbounded = nodes[None]
                expected = (unbounded.state.checksum(), lmdb_contents(unbounded.store))
                for hot, node in nodes.items():
                    got = (node.state.checksum(), lmdb_contents(node.store))
                    assert got[0] == expected[0], f"hot_bytes={hot}: state hash at step {step}"
                    assert got[1] == expected[1], f"hot_bytes={hot}: LMDB at step {step}"
                # A fresh replay of the canonical chain has the same state.
                replayed = fresh(anvil, tmp_path / f"fresh-{step}")
                assert replayed[0] == expected[0]
                assert without_history(replayed[1]) == without_history(expected[1])
                checked.append(step)

            await follow_all()
            agree(0)
            for depth in range(1, 5):
                for i in range(depth + 1):
                    post(
                        anvil,
                        pay(alice, bob.pubkey(), SOL + depth * 100 + i, tip(anvil).hash),
                        signed(
                            [
                                token_transfer(
                                    alice_tokens.pubkey(), bob_tokens.pubkey(), alice.pubkey(), 7
                                )
                            ],
                            [alice],
                            tip(anvil).hash,
                        ),
                    )
                await follow_all()
                fork = block_hash(anvil, tip(anvil).number - depth)
                # The new branch: bob spends what the old branch gave him only in part, carol
                # (a fresh account) gets lamports, and a deposit lands in its middle block.
                new = [
                    pay(bob, carol.pubkey(), SOL // 2 + depth, fork),
                    signed(
                        [
                            token_transfer(
                                alice_tokens.pubkey(), bob_tokens.pubkey(), alice.pubkey(), depth
                            )
                        ],
                        [alice],
                        fork,
                    ),
                ]
                anvil.rpc(
                    "anvil_reorg",
                    depth,
                    [
                        [inbox_call(inbox.encode_batch(new)), 0],
                        [
                            inbox_call(
                                inbox.encode_deposit(bytes(carol.pubkey())),
                                SOL * inbox.WEI_PER_LAMPORT,
                            ),
                            depth - 1,
                        ],
                    ],
                )
                await follow_all()
                assert all(node.stats.reverted > 0 for node in nodes.values())
                agree(depth)
            anvil.rpc("anvil_rollback", 2)
            await follow_all()
            agree(5)
        finally:
            for hot, stream in streams.items():
                await stream.aclose()
                nodes[hot].close()
        # The scenario has a handful of accounts: a hundred hold them all, zero or one do not.
        assert nodes[0].executor.cache.counts.evictions > 0
        assert nodes[ONE_ACCOUNT].executor.cache.counts.evictions > 0

    anyio.run(main)
    assert checked == [0, 1, 2, 3, 4, 5]
