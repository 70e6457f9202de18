"""The built-in routing plugin: the configured inbox address and a successful receipt."""

from __future__ import annotations

from dataclasses import replace

from chainbuilder import INBOX, ChainBuilder

from monmouth.core.config import Settings, load_settings
from monmouth.core.plugins import load_plugins
from monmouth.plugins.routing import Plugin


def test_routes_successful_calls_to_the_inbox_only(settings: Settings) -> None:
    chain = ChainBuilder()
    router = Plugin(settings)
    block = chain.block()
    assert router.route_transaction(chain.l1tx(0, b"\x01\x00"), block) == b"\x01\x00"
    assert router.route_transaction(chain.l1tx(0, b"\x01", status=0), block) is None
    assert router.route_transaction(chain.l1tx(0, b"\x01", to=bytes(20)), block) is None
    assert router.route_transaction(chain.l1tx(0, b"\x01", to=None), block) is None
    # A pre-Byzantium receipt has no status: not a success.
    no_status = replace(chain.l1tx(0, b"\x01"), status=None)
    assert router.route_transaction(no_status, block) is None


def test_inbox_address_comes_from_config() -> None:
    other = "0x" + "ab" * 20
    router = Plugin(load_settings(None, inbox={"address": other}))
    chain = ChainBuilder()
    block = chain.block()
    assert router.route_transaction(chain.l1tx(0, b"x", to=INBOX), block) is None
    assert router.route_transaction(chain.l1tx(0, b"x", to=bytes.fromhex("ab" * 20)), block) == b"x"


def test_loaded_through_pluggy_and_disable(settings: Settings) -> None:
    pm = load_plugins(settings)
    assert pm.get_plugin("routing") is not None
    chain = ChainBuilder()
    block = chain.block()
    assert pm.hook.route_transaction(tx=chain.l1tx(0, b"\x01"), block=block) == b"\x01"
    off = load_plugins(load_settings(None, plugins={"disable": ["routing"]}))
    assert off.get_plugin("routing") is None
    assert off.hook.route_transaction(tx=chain.l1tx(0, b"\x01"), block=block) is None
