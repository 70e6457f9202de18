"""CURVE on the stream: allowed clients read, others get nothing; key files and bind rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq
from streamkit import NodeThread, free_endpoint, stream_settings

from monmouth.core.errors import ConfigError
from monmouth.stream import Subscriber
from monmouth.stream.schema import Request
from monmouth.stream.security import (
    ClientCurve,
    ServerCurve,
    check_bind,
    generate_keys,
    is_loopback,
    next_port,
)
from monmouth.stream.subscriber import ReplayUnavailable, ask

pytestmark = pytest.mark.slow


def test_only_allowed_clients_receive(tmp_path: Path) -> None:
    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    allowed.mkdir()
    server_pub, server_secret = generate_keys(keys, "server")
    client_pub, client_secret = generate_keys(keys, "client")
    _, stranger_secret = generate_keys(keys, "stranger")
    (allowed / "client.key").write_bytes(client_pub.read_bytes())
    endpoint = free_endpoint()
    settings = stream_settings(
        tmp_path / "d",
        endpoint,
        devnet={"interval": 0.01},
        stream={"curve_secret_key": server_secret, "curve_allowed_keys": allowed},
    )
    node = NodeThread(settings, max_blocks=10)
    try:
        node.join()
        friend = Subscriber(
            endpoint,
            kinds=["block"],
            from_height=0,
            curve=ClientCurve.load(client_secret, server_pub),
        )
        stranger = Subscriber(
            endpoint,
            kinds=["block"],
            request_timeout=1.0,
            curve=ClientCurve.load(stranger_secret, server_pub),
        )
        plain = Subscriber(endpoint, request_timeout=1.0)
        try:
            blocks: list[int] = []
            while len(blocks) < 10:
                msg = friend.receive(5)
                assert msg is not None
                if msg.kind == "block":
                    blocks.append(msg.body.number)
            assert blocks == list(range(10))
            # The stranger's handshake is refused: not even a heartbeat reaches it.
            assert stranger.receive(2.0) is None
            assert plain.receive(2.0) is None
        finally:
            for sub in (friend, stranger, plain):
                sub.close()
    finally:
        node.close()


def test_a_refused_replay_times_out(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    server_pub, server_secret = generate_keys(keys, "server")
    _, stranger_secret = generate_keys(keys, "stranger")
    (tmp_path / "allowed").mkdir()
    endpoint = free_endpoint()
    settings = stream_settings(
        tmp_path / "d",
        endpoint,
        stream={"curve_secret_key": server_secret, "curve_allowed_keys": tmp_path / "allowed"},
    )
    node = NodeThread(settings, max_blocks=2)
    try:
        node.join()
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        try:
            curve = ClientCurve.load(stranger_secret, server_pub)
            with pytest.raises(ReplayUnavailable):
                list(ask(context, next_port(endpoint), Request("status"), curve, timeout=1.0))
        finally:
            context.term()
    finally:
        node.close()


def test_key_files_and_bind_rules(tmp_path: Path) -> None:
    public, secret = generate_keys(tmp_path, "n")
    assert public.name == "n.key" and secret.name == "n.key_secret"
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ConfigError, match="exists"):
        generate_keys(tmp_path, "n")
    with pytest.raises(ConfigError, match="no secret key"):
        ServerCurve.load(public, tmp_path)
    with pytest.raises(ConfigError, match="monmouth keys generate"):
        ClientCurve.load(tmp_path / "missing.key_secret", public)
    assert is_loopback("tcp://127.0.0.1:1") and is_loopback("tcp://localhost:1")
    assert is_loopback("ipc:///tmp/x") and not is_loopback("tcp://*:1")
    assert not is_loopback("tcp://10.0.0.1:1")
    check_bind("tcp://10.0.0.1:1", curve=None, insecure=True)
    with pytest.raises(ConfigError, match="--insecure-bind"):
        check_bind("tcp://*:7700", curve=None, insecure=False)
    assert next_port("tcp://127.0.0.1:7700") == "tcp://127.0.0.1:7701"
    with pytest.raises(ConfigError):
        next_port("ipc:///tmp/x")
