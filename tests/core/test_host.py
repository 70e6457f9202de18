"""Every role that runs plugins hands them a `Host` (monmouth.hooks): the executor, the
analyzer and the replica satisfy it (mypy checks `_hosts`), and what a role lacks is None,
never missing, so no plugin needs `getattr` on its host."""

from __future__ import annotations

import functools
from pathlib import Path

import anyio
from streamkit import analyzer_with

from monmouth.app import build_node, make_source
from monmouth.core.config import Settings, load_settings
from monmouth.core.node import Node
from monmouth.core.plugins import load_plugins
from monmouth.devnet import DevnetRelay
from monmouth.hooks import Host, hookimpl
from monmouth.roles.analyzer import Analyzer
from monmouth.roles.replica import Replica


def _hosts(node: Node, analyzer: Analyzer, replica: Replica) -> list[Host]:
    """Type-checked only: each role is a Host."""
    return [node, analyzer, replica]


class Seen:
    """What `startup` saw of its host."""

    def __init__(self) -> None:
        self.seen: list[tuple[object, ...]] = []

    @hookimpl
    def startup(self, node: Host) -> None:
        last = node.last_block
        self.seen.append(
            (
                node.store is not None,
                node.head,
                None if last is None else last.number,
                node.l1_head,
                node.stream_subscriptions(),
                sorted(node.plugins.states),
                node.settings.instance,
                node.relay,
            )
        )


def test_an_executor_is_a_host_with_its_state(settings: Settings) -> None:
    seen = Seen()
    with build_node(settings, plugins=load_plugins(settings, extra=[("seen", seen)])) as node:
        anyio.run(functools.partial(node.run, make_source(settings), max_blocks=3))
        head = node.head
    assert head is not None and head.number == 2
    with build_node(settings, plugins=load_plugins(settings, extra=[("seen", seen)])) as node:
        assert node.last_block is not None and node.last_block.hash == head.hash
    first, second = seen.seen
    plugins = ["cache", "monitoring", "routing", "rpc", "seen"]
    # On the devnet the executor's relay is the devnet's, there from startup on.
    assert first[:-1] == (True, None, None, None, None, plugins, settings.instance)
    assert isinstance(first[-1], DevnetRelay)
    assert second[:3] == (True, head, 2)


def _follower(tmp_path: Path, role: str) -> Settings:
    return load_settings(
        None,
        data_dir=tmp_path / role,
        role=role,
        stream={"upstream": ["tcp://127.0.0.1:9"], "publish": None, "instance": role},
    )


def test_an_analyzer_is_a_host_without_state(tmp_path: Path) -> None:
    settings = _follower(tmp_path, "analyzer")
    seen = Seen()
    analyzer = analyzer_with(settings, seen=seen)
    try:
        assert seen.seen == [
            (
                False,
                None,
                None,
                None,
                None,
                ["cache", "monitoring", "routing", "rpc", "seen"],
                "analyzer",
                None,
            )
        ]
    finally:
        analyzer.close()


def test_a_replica_is_a_host_running_the_read_plugins(tmp_path: Path) -> None:
    replica = Replica(_follower(tmp_path, "replica"))
    try:
        host: Host = replica
        assert host.store is not None and host.head is None and host.last_block is None
        assert host.l1_head is None and host.stream_subscriptions() is None
        assert host.relay is None
        # routing (on by default) decides the executor's routes: a replica leaves it out.
        assert sorted(host.plugins.states) == ["monitoring", "rpc"]
    finally:
        replica.close()
