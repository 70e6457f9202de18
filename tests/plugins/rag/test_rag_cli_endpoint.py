"""`monmouth rag ... --endpoint`: the same answers as reading the index's data directory, asked
of a running executor through its request socket, with the index's head and lag.

The node runs in this process (its request socket stays open after its last block, so the
command, a real process, asks it while it serves); the command then reads the same data
directory itself, and both answers must be equal.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clirun
import pytest
from streamkit import NodeThread, free_endpoint, stream_settings, wait_until

from monmouth.commands import ask_instance
from monmouth.core.plugins import load_plugins
from monmouth.plugins.rag import Plugin
from monmouth.stream.security import next_port

pytestmark = pytest.mark.slow

ENV = {**os.environ, "MONMOUTH_STORE__SYNC": "false", "MONMOUTH_PLUGINS__ENABLE": "[]"}


monmouth = functools.partial(clirun.monmouth, env=ENV, timeout=240)


def as_json(out: subprocess.CompletedProcess[str]) -> Any:
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeThread, str, Path]]:
    tmp = tmp_path_factory.mktemp("rag-endpoint")
    endpoint = free_endpoint()
    settings = stream_settings(
        tmp / "d",
        endpoint,
        devnet={"interval": 0.01, "txs_per_block": 12, "seed": 5},
        plugins={"enable": ["rag"], "disable": ["rpc", "monitoring"]},
    )
    node = NodeThread(settings, max_blocks=10, plugins=load_plugins(settings))
    requests = next_port(endpoint)
    try:
        node.join()
        wait_until(
            lambda: ask_instance(requests, "rag.stats", None).result["behind"] == 0,
            what="indexing",
        )
        plugin = node.node.pm.get_plugin("rag")
        assert isinstance(plugin, Plugin) and plugin.index is not None
        plugin.index.flush()
        plugin.index.save()  # so that a reader of the data directory finds it all saved
        yield node, requests, tmp / "d"
    finally:
        node.close()


def test_rag_query_and_context_through_the_endpoint(
    served: tuple[NodeThread, str, Path],
) -> None:
    node, requests, data = served
    head = node.node.head
    assert head is not None
    for query in (
        ["failed transfer", "--k", "4"],
        ["token", "--exact", "--status", "ok", "--from-height", "3", "--to-height", "8"],
    ):
        local = as_json(monmouth("rag", "query", *query, "--data-dir", str(data), "--json"))
        remote = as_json(monmouth("rag", "query", *query, "--endpoint", requests, "--json"))
        assert remote["results"] and remote["results"] == local["results"]
        assert remote["query"] == local["query"]
        # An executor is its own upstream: the index is at its head, 0 blocks behind.
        assert (remote["head"], remote["node_head"], remote["behind"]) == (
            head.number,
            head.number,
            0,
        )
    signature = remote["results"][0]["signature"]
    like = as_json(monmouth("rag", "query", "--like", signature, "--endpoint", requests, "--json"))
    assert like["results"][0]["signature"] == signature

    pack_args = ["context", "transfer", "--k", "3"]
    local_pack = as_json(monmouth("rag", *pack_args, "--data-dir", str(data)))
    remote_pack = as_json(monmouth("rag", *pack_args, "--endpoint", requests))
    assert remote_pack.pop("behind") == 0 and remote_pack.pop("node_head") == head.number
    assert remote_pack["head"]["slot"] == head.number
    assert remote_pack == local_pack

    people = monmouth("rag", "query", "transfer", "--endpoint", requests)
    assert people.returncode == 0, people.stderr
    assert "score" in people.stdout
    assert f"index at block #{head.number}, 0 block(s) behind the executor" in people.stdout


def test_rag_stats_through_the_endpoint(served: tuple[NodeThread, str, Path]) -> None:
    node, requests, data = served
    head = node.node.head
    assert head is not None
    remote = as_json(monmouth("rag", "stats", "--endpoint", requests, "--json"))
    local = as_json(monmouth("rag", "stats", "--data-dir", str(data), "--json"))
    assert remote["documents"] == local["documents"] > 0
    assert remote["head"] == local["head"] == head.number
    assert remote["behind"] == 0 and remote["queued_blocks"] == 0


def test_rag_endpoint_errors_are_one_line(served: tuple[NodeThread, str, Path]) -> None:
    _, requests, data = served
    for args, message in (
        (["query", "x", "--k", "ten"], "Invalid value for '--k'"),
        (["query", "--like", "1" * 64], "no indexed transaction"),
        (["query"], "give TEXT"),
        (["stats", "x"], "`rag stats` takes no query"),
        (["query", "x", "--data-dir", str(data)], "leave out --config and --data-dir"),
    ):
        out = monmouth("rag", *args, "--endpoint", requests)
        assert out.returncode == 2, (args, out.stdout)
        assert message in out.stderr, (args, out.stderr)
        if "--k" not in args:  # typer's own usage errors take a box
            assert out.stderr.count("\n") == 1, out.stderr
    keys = monmouth("rag", "query", "x", "--data-dir", str(data), "--server-key", "k")
    assert keys.returncode == 2 and "go with --endpoint" in keys.stderr
