"""`monmouth rag` as users run it (a real process on a data directory), and the request
socket's `rag.query`, `rag.context` and `rag.stats` on a running node."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import clirun
import msgspec
import pytest
import zmq
from streamkit import NodeThread, free_endpoint, stream_settings, wait_until

from monmouth.core.plugins import load_plugins
from monmouth.plugins.rag import Plugin
from monmouth.plugins.rag.index import RagIndex
from monmouth.stream.schema import Request
from monmouth.stream.security import next_port
from monmouth.stream.subscriber import ask
from monmouth.testing import MonmouthRun, MonmouthRunner

ENV = {**os.environ, "MONMOUTH_STORE__SYNC": "false", "MONMOUTH_PLUGINS__ENABLE": "[]"}


monmouth = functools.partial(clirun.monmouth, env=ENV, timeout=240)


@pytest.fixture
def indexed(monmouth_run: MonmouthRunner) -> MonmouthRun:
    return monmouth_run(Plugin, name="rag", blocks=12, seed=2, txs_per_block=20)


def test_rag_query_cli(indexed: MonmouthRun) -> None:
    data = str(indexed.data_dir)
    with RagIndex(indexed.data_dir / "rag", readonly=True) as index:
        docs = list(index.store.iter_documents())
    doc = next(d for d in docs if d.status == "failed")

    out = monmouth("rag", "query", doc.summary, "--k", "3", "--data-dir", data, "--json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["query"] == {"text": doc.summary, "k": 3}
    assert len(answer["results"]) == 3
    top = answer["results"][0]
    assert top["signature"] == doc.signature and top["score"] == pytest.approx(1.0, abs=2e-3)
    assert top["summary"] == doc.summary and top["slot"] == doc.slot

    like = monmouth("rag", "query", "--like", doc.signature, "--data-dir", data, "--json")
    assert like.returncode == 0, like.stderr
    results = json.loads(like.stdout)["results"]
    assert len(results) == 10 and results[0]["signature"] == doc.signature

    account = monmouth(
        "rag", "query", "--account", doc.fee_payer, "--k", "5", "--status", "failed",
        "--data-dir", data, "--json",
    )  # fmt: skip
    assert account.returncode == 0, account.stderr
    hits = json.loads(account.stdout)["results"]
    assert hits and all(doc.fee_payer in h["accounts"] and h["status"] == "failed" for h in hits)

    people = monmouth("rag", "query", "token transfer", "--data-dir", data)
    assert people.returncode == 0 and "score" in people.stdout

    context = monmouth("rag", "context", "failed transfer", "--data-dir", data)
    assert context.returncode == 0, context.stderr
    pack = json.loads(context.stdout)
    assert pack["version"] == 1 and len(pack["documents"]) == 5 and "[1] score" in pack["prompt"]

    stats = json.loads(monmouth("rag", "stats", "--data-dir", data, "--json").stdout)
    assert stats["documents"] == len(docs)
    # The index follows the node to its head.
    assert indexed.head is not None and stats["behind"] == 0
    assert stats["node_head"] == stats["head"] == indexed.head.number

    # Enabled or not, the command is there.
    enabled = monmouth(
        "rag", "stats", "--data-dir", data, "--json", MONMOUTH_PLUGINS__ENABLE='["rag"]'
    )
    assert enabled.returncode == 0, enabled.stderr


def test_rag_cli_errors(indexed: MonmouthRun, tmp_path: Path) -> None:
    data = str(indexed.data_dir)
    missing = monmouth("rag", "query", "x", "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 2 and "no rag index" in missing.stderr
    assert monmouth("rag", "frobnicate", "--data-dir", data).returncode == 2
    nothing = monmouth("rag", "query", "--data-dir", data)
    assert nothing.returncode == 2 and "give TEXT" in nothing.stderr
    unknown = monmouth("rag", "query", "--like", "1" * 64, "--data-dir", data)
    assert unknown.returncode == 2 and "no indexed transaction" in unknown.stderr
    assert monmouth("rag", "query", "x", "--k", "0", "--data-dir", data).returncode == 2


def test_rag_methods_on_the_request_socket(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    settings = stream_settings(
        tmp_path / "d",
        endpoint,
        devnet={"interval": 0.01, "txs_per_block": 10},
        plugins={"enable": ["rag"]},
    )
    node = NodeThread(settings, max_blocks=8, plugins=load_plugins(settings))
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    request_endpoint = next_port(endpoint)

    def call(method: str, params: object) -> dict[str, object]:
        [(_, frames)] = list(
            ask(context, request_endpoint, Request("call", method=method, params=params))
        )
        result: dict[str, object] = msgspec.msgpack.decode(frames[0])
        return result

    try:
        node.join()
        executed = node.node.stats.ok + node.node.stats.failed
        wait_until(lambda: call("rag.stats", None)["behind"] == 0, what="indexing")
        stats = call("rag.stats", None)
        assert stats["documents"] == executed and stats["queued_blocks"] == 0
        head = node.node.head
        assert head is not None and stats["node_head"] == stats["head"] == head.number
        plugin = node.node.pm.get_plugin("rag")
        assert isinstance(plugin, Plugin) and plugin.index is not None
        plugin.index.flush()
        docs = list(plugin.index.store.iter_documents())
        answer = call("rag.query", {"text": docs[0].summary, "k": 2})
        results = answer["results"]
        assert isinstance(results, list) and results[0]["signature"] == docs[0].signature
        same = call("rag.query", docs[0].summary)  # a bare text works too
        assert isinstance(same["results"], list) and len(same["results"]) == 10
        pack = call("rag.context", {"like": docs[1].signature, "k": 2})
        documents = pack["documents"]
        assert isinstance(documents, list) and documents[0]["signature"] == docs[1].signature
        with pytest.raises(ValueError, match="unknown params colour"):
            call("rag.query", {"text": "x", "colour": "blue"})
        with pytest.raises(ValueError, match="k must be an integer"):
            call("rag.query", {"text": "x", "k": "ten"})
        with pytest.raises(ValueError, match="no indexed transaction"):
            call("rag.query", {"like": "1" * 64})
    finally:
        context.term()
        node.close()
