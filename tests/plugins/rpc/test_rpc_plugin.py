"""The plugin's lifecycle: on by default, "none" serves nothing, a taken address is a
configuration error that names the key, shutdown ends the child."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from monmouth.app import build_node
from monmouth.core.config import load_settings
from monmouth.core.errors import ConfigError
from monmouth.core.plugins import BUILTIN_PLUGINS, load_plugins
from monmouth.plugins.rpc.config import Config
from monmouth.plugins.rpc.plugin import Plugin

pytestmark = pytest.mark.timeout(60)


def test_on_by_default_and_configurable() -> None:
    assert "rpc" in BUILTIN_PLUGINS
    assert Config().address == "127.0.0.1:8899"
    assert Config(address="none").address is None
    with pytest.raises(ValueError, match="HOST:PORT"):
        Config(address="8899")
    assert load_plugins(load_settings(None)).get_plugin("rpc") is not None
    off = load_plugins(load_settings(None, plugins={"disable": ["rpc"]}))
    assert off.get_plugin("rpc") is None


def test_none_serves_nothing(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path / "data", store={"sync": False})
    with build_node(settings) as node:  # the tests' environment says "none"
        plugin = node.pm.get_plugin("rpc")
        assert isinstance(plugin, Plugin) and plugin.url is None and plugin.process is None


def test_a_taken_address_names_the_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        settings = load_settings(
            None,
            data_dir=tmp_path / "data",
            store={"sync": False},
            plugins={"rpc": {"address": address}},
        )
        with pytest.raises(ConfigError, match=r"\[plugins.rpc\] address"):
            build_node(settings)


def test_shutdown_ends_the_server(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        store={"sync": False},
        plugins={"rpc": {"address": "127.0.0.1:0"}},
    )
    node = build_node(settings)
    plugin = node.pm.get_plugin("rpc")
    assert isinstance(plugin, Plugin) and plugin.url is not None and plugin.process is not None
    url, process = plugin.url, plugin.process
    # Before any block: GET /health says unknown, reads say the node is not ready.
    assert httpx.get(url + "/health").text == "unknown"
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"}).json()
    assert answer["error"]["code"] == -32005
    node.close()
    assert process.poll() is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health")
