"""The stream commands as users run them: `run --publish`, `subscribe --json`, `keys generate`,
and `run --role replica` answering `status` like its executor."""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path

import clirun
import pytest
from streamkit import free_endpoint

pytestmark = pytest.mark.slow

ENV = {
    **os.environ,
    "MONMOUTH_STORE__SYNC": "false",
    "MONMOUTH_PLUGINS__ENABLE": "[]",
    "MONMOUTH_DEVNET__INTERVAL": "0.02",
    "MONMOUTH_STREAM__HEARTBEAT_INTERVAL": "0.2",
}
ENV.pop("MONMOUTH_STREAM__PUBLISH", None)


spawn = functools.partial(clirun.spawn, env=ENV)
monmouth = functools.partial(clirun.monmouth, env=ENV, timeout=120)


stop = functools.partial(clirun.stop, timeout=30)


def test_subscribe_prints_json_lines_and_a_replica_serves_status(tmp_path: Path) -> None:
    endpoint, replica_endpoint = free_endpoint(), free_endpoint()
    executor = spawn("run", "--data-dir", str(tmp_path / "e"), "--publish", endpoint)
    replica = spawn(
        "run",
        "--role",
        "replica",
        "--data-dir",
        str(tmp_path / "r"),
        "--publish",
        replica_endpoint,
        "--upstream",
        endpoint,
    )
    try:
        sub = monmouth(
            "subscribe", "--endpoint", endpoint, "--from-height", "0", "--count", "40", "--json"
        )
        assert sub.returncode == 0, sub.stderr
        lines = [json.loads(line) for line in sub.stdout.splitlines()]
        assert len(lines) == 40
        assert all({"seq", "kind", "height", "payload"} <= set(line) for line in lines)
        # A heartbeat may come first (seq -1: nothing published yet); then the log from 0.
        seqs = [line["seq"] for line in lines if line["kind"] != "heartbeat"]
        assert seqs[:10] == list(range(10))
        blocks = monmouth(
            "subscribe", "--endpoint", endpoint, "--kind", "block", "--count", "2", "--json"
        )
        kinds = {json.loads(line)["kind"] for line in blocks.stdout.splitlines()}
        assert kinds == {"block"}
        beats = monmouth(
            "subscribe",
            "--endpoint",
            replica_endpoint,
            "--kind",
            "heartbeat",
            "--count",
            "1",
            "--json",
        )
        beat = json.loads(beats.stdout)
        assert beat["payload"]["role"] == "replica"
    finally:
        stop(executor)
        time.sleep(1.0)
        stop(replica)
    executor_status = json.loads(
        monmouth("status", "--data-dir", str(tmp_path / "e"), "--json").stdout
    )
    replica_status = json.loads(
        monmouth("status", "--data-dir", str(tmp_path / "r"), "--json").stdout
    )
    assert replica_status == executor_status


def test_keys_generate_and_bind_refusal(tmp_path: Path) -> None:
    made = monmouth("keys", "generate", "--name", "server", "--dir", str(tmp_path), "--json")
    assert made.returncode == 0, made.stderr
    paths = json.loads(made.stdout)
    assert Path(paths["public"]).is_file() and Path(paths["secret"]).is_file()
    again = monmouth("keys", "generate", "--name", "server", "--dir", str(tmp_path))
    assert again.returncode == 2 and "exists" in again.stderr
    refused = monmouth("run", "--data-dir", str(tmp_path / "d"), "--publish", "tcp://0.0.0.0:7799")
    assert refused.returncode == 2 and "--insecure-bind" in refused.stderr
    no_upstream = monmouth("run", "--role", "replica", "--data-dir", str(tmp_path / "r"))
    assert no_upstream.returncode == 2 and "--upstream" in no_upstream.stderr
