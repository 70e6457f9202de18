"""The `writes` kind: every account write of a block, as `update_accounts` gets it in the
executor, with the value each write replaced; built as `[stream] writes` says."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import anyio
import base58
import pytest
from streamkit import free_endpoint, stream_settings, wait_until

from monmouth.app import build_node, make_source
from monmouth.core.node import Node
from monmouth.core.payloads import AccountUpdate, BlockInfo
from monmouth.core.plugins import load_plugins
from monmouth.core.state import Store
from monmouth.hooks import hookimpl
from monmouth.stream.schema import AccountBody, WritesBody, decode_body
from monmouth.stream.segments import Expander
from monmouth.stream.subscriber import Subscriber
from monmouth.stream.topics import PrefixSet

DEVNET = {"reorg_probability": 0.0, "txs_per_block": 12}


class Updates:
    """Records the executor's `update_accounts` calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, list[AccountUpdate]]] = []

    @hookimpl
    def update_accounts(
        self, block: BlockInfo | None, updates: list[AccountUpdate], is_startup: bool
    ) -> None:
        if block is not None and not is_startup:
            self.calls.append((block.number, updates))


def writes_in_log(store: Store) -> dict[int, WritesBody]:
    """The `writes` message of every block segment that has one, by height."""
    first, next_seq, _ = store.stream_bounds()
    out: dict[int, WritesBody] = {}
    for seq, segment in store.segments(first, next_seq - 1):
        for m in Expander(PrefixSet(["writes/"])).expand(seq, segment)[0]:
            if m.kind == "writes":
                out[m.height] = decode_body("writes", m.body)
    return out


def node_with(tmp_path: Path, plugin: object | None = None, **stream: Any) -> Node:
    settings = stream_settings(tmp_path / "d", None, devnet=DEVNET, stream=stream)
    assert settings.stream.writes == stream.get("writes", "published")
    extra: list[object | tuple[str, object]] = [] if plugin is None else [("updates", plugin)]
    return build_node(settings, plugins=load_plugins(settings, extra=extra))


def run(node: Node, blocks: int) -> None:
    anyio.run(functools.partial(node.run, make_source(node.settings), max_blocks=blocks))


def _value(body: AccountBody | None) -> tuple[Any, ...] | None:
    if body is None:
        return None
    return (body.lamports, body.owner, body.executable, body.rent_epoch, bytes(body.data))


def test_writes_are_the_executors_updates_with_the_values_they_replaced(tmp_path: Path) -> None:
    plugin = Updates()
    node = node_with(tmp_path, plugin, writes="always")
    try:
        run(node, 12)
        node.plugins.drain()
        logged = writes_in_log(node.store)
    finally:
        node.close()
    assert sorted(logged) == [number for number, _ in plugin.calls]
    seen: dict[str, tuple[Any, ...]] = {}  # the last value written of each account
    several = 0
    for number, updates in plugin.calls:
        body = logged[number]
        assert body.number == number
        assert len(body.writes) == len(updates) > 0
        in_block: set[str] = set()
        for write, update in zip(body.writes, updates, strict=True):
            assert base58.b58decode(write.pubkey) == update.pubkey
            assert base58.b58decode(write.owner) == update.owner
            assert (write.lamports, write.executable, write.rent_epoch, bytes(write.data)) == (
                update.lamports,
                update.executable,
                update.rent_epoch,
                update.data,
            )
            sig = None if write.signature is None else base58.b58decode(write.signature)
            assert sig == update.signature
            assert write.write_version == update.write_version
            # The value before: the account's last write (this block's or an earlier one's).
            if write.pubkey in seen:
                assert _value(write.before) == seen[write.pubkey]
            elif write.before is not None:
                assert write.before.pubkey == write.pubkey
            several += write.pubkey in in_block
            in_block.add(write.pubkey)
            seen[write.pubkey] = (
                write.lamports,
                write.owner,
                write.executable,
                write.rent_epoch,
                bytes(write.data),
            )
    assert several > 0  # accounts written more than once in a block (fee payers)


def test_the_log_holds_writes_only_as_configured(tmp_path: Path) -> None:
    node = node_with(tmp_path / "never", writes="never")
    try:
        run(node, 4)
        assert writes_in_log(node.store) == {}
    finally:
        node.close()
    # The default, "published": none without a published stream (nobody can subscribe) ...
    node = node_with(tmp_path / "unpublished")
    try:
        run(node, 4)
        assert writes_in_log(node.store) == {}
    finally:
        node.close()
    # ... and every block's with one, subscribed or not.
    settings = stream_settings(tmp_path / "published", free_endpoint(), devnet=DEVNET)
    assert settings.stream.writes == "published"
    node = build_node(settings)
    try:
        run(node, 4)
        assert sorted(writes_in_log(node.store)) == list(range(4))
    finally:
        node.close()


@pytest.mark.timeout(300)
def test_subscribed_writes_follow_the_subscription(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    settings = stream_settings(
        tmp_path / "d", endpoint, devnet=DEVNET, stream={"writes": "subscribed"}
    )
    node = build_node(settings)
    try:
        run(node, 3)
        assert writes_in_log(node.store) == {}  # nobody asked
        sub = Subscriber(endpoint, kinds=["writes"])
        try:
            events = node.events
            wait_until(lambda: events.wants_writes(), what="the subscription at the publisher")
            run(node, 6)  # 3 more: the count is the node's
            logged = writes_in_log(node.store)
            head = node.stats.head
            assert head is not None
            assert sorted(logged) == [head.number - 2, head.number - 1, head.number]
            got: list[int] = []
            wait_until(lambda: _received(sub, got) and got[-1] == head.number)
        finally:
            sub.close()
    finally:
        node.close()


def _received(sub: Subscriber, got: list[int]) -> bool:
    msg = sub.receive(0.2)
    if msg is not None and msg.kind == "writes":
        got.append(msg.body.number)
        assert [w.write_version for w in msg.body.writes] == list(range(len(msg.body.writes)))
        assert all(w.before is None or isinstance(w.before, AccountBody) for w in msg.body.writes)
    return bool(got)
