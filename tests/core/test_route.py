"""`PluginHost.route`, called for every L1 transaction: its routers are planned once and planned
again when the registered routers or the plugins' states change, and it answers as the
per-call lookup it replaced (`reference_route` below) over any sequence of such changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monmouth.core.config import Settings, load_settings
from monmouth.core.dispatch import PluginState
from monmouth.core.l1 import L1Block, L1Transaction
from monmouth.core.plugins import PluginHalted, PluginHost
from monmouth.hooks import hookimpl

TX = L1Transaction(b"\x01" * 32, 0, b"\x02" * 20, b"\x03" * 20, 5, b"\xaa\xbb", 1)
BLOCK = L1Block(7, b"\x04" * 32, b"\x05" * 32, 1_700_000_000, (TX,))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(None, data_dir=Path(tmp_path_factory.mktemp("data")))


class Answer:
    """Answers `answer` to every transaction, and records the arguments it was given."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def route_transaction(self, tx: L1Transaction, block: L1Block) -> Any:
        self.calls.append((tx, block))
        return self.answer


class BlockFirst:
    """Takes the arguments in the other order, by name."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def route_transaction(self, block: L1Block, tx: L1Transaction) -> bytes | None:
        self.calls.append((tx, block))
        return None


class TxOnly:
    @hookimpl
    def route_transaction(self, tx: L1Transaction) -> bytes | None:
        return tx.input


class NoArguments:
    @hookimpl
    def route_transaction(self) -> bytes | None:
        return b"none"


class Raises:
    @hookimpl
    def route_transaction(self, tx: L1Transaction, block: L1Block) -> bytes | None:
        raise ValueError("bad input")


def test_first_answer_wins_in_pluggys_order(config: Settings) -> None:
    host = PluginHost.empty(config)
    first, second = Answer(b"first"), Answer(b"second")
    host.pm.register(first, name="first")
    host.pm.register(second, name="second")
    assert host.route(TX, BLOCK) == b"second"  # the last registered runs first
    assert first.calls == [] and second.calls == [(TX, BLOCK)]
    second.answer = None
    assert host.route(TX, BLOCK) == b"first"


@pytest.mark.parametrize("answer", [bytearray(b"ab"), memoryview(b"ab"), b"ab"])
def test_bytes_like_answers_become_bytes(config: Settings, answer: Any) -> None:
    host = PluginHost.empty(config)
    host.pm.register(Answer(answer), name="r")
    result = host.route(TX, BLOCK)
    assert type(result) is bytes and result == b"ab"


def test_errors_and_wrong_answers_halt_naming_the_plugin(config: Settings) -> None:
    host = PluginHost.empty(config)
    host.pm.register(Raises(), name="raiser")
    with pytest.raises(PluginHalted, match="route_transaction raised ValueError: bad input") as e:
        host.route(TX, BLOCK)
    assert e.value.plugin == "raiser"
    host.pm.unregister(name="raiser")
    host.pm.register(Answer("text"), name="liar")
    with pytest.raises(PluginHalted, match="route_transaction returned str, not bytes or None"):
        host.route(TX, BLOCK)


def test_implementations_taking_some_arguments_in_any_order(config: Settings) -> None:
    host = PluginHost.empty(config)
    none = NoArguments()
    host.pm.register(none, name="none")
    assert host.route(TX, BLOCK) == b"none"
    host.pm.register(TxOnly(), name="tx-only")
    assert host.route(TX, BLOCK) == TX.input
    block_first = BlockFirst()
    host.pm.register(block_first, name="block-first")
    assert host.route(TX, BLOCK) == TX.input
    assert block_first.calls == [(TX, BLOCK)]


def test_plugins_registered_or_disabled_after_the_first_call(config: Settings) -> None:
    host = PluginHost.empty(config)
    assert host.route(TX, BLOCK) is None
    late = Answer(b"late")
    host.pm.register(late, name="late")
    assert host.route(TX, BLOCK) == b"late"
    # A state the host makes later (a plugin registered after start-up that failed).
    host.states.setdefault("late", PluginState("late")).disabled = True
    assert host.route(TX, BLOCK) is None
    host.states["late"].disabled = False
    assert host.route(TX, BLOCK) == b"late"
    host.states["late"].abandoned = True
    assert host.route(TX, BLOCK) is None
    host.pm.unregister(name="late")
    host.pm.register(Answer(b"again"), name="again")
    assert host.route(TX, BLOCK) == b"again"


def reference_route(host: PluginHost, tx: L1Transaction, block: L1Block) -> Any:
    """The routing `PluginHost.route` did before it planned its routers: look them up and
    build the arguments on every call (the answer, or the PluginHalted's plugin and reason)."""
    for impl in reversed(host.pm.hook.route_transaction.get_hookimpls()):
        state = host.states.get(impl.plugin_name)
        if state is not None and (state.disabled or state.abandoned):
            continue
        try:
            args = {"tx": tx, "block": block}
            result = impl.function(**{a: args[a] for a in impl.argnames})
        except Exception as exc:
            reason = f"route_transaction raised {type(exc).__name__}: {exc}"
            return ("halt", impl.plugin_name, str(PluginHalted(impl.plugin_name, reason)))
        if result is None:
            continue
        if not isinstance(result, bytes | bytearray | memoryview):
            reason = f"route_transaction returned {type(result).__name__}, not bytes or None"
            return ("halt", impl.plugin_name, str(PluginHalted(impl.plugin_name, reason)))
        return bytes(result)
    return None


def routed(host: PluginHost) -> Any:
    try:
        return host.route(TX, BLOCK)
    except PluginHalted as exc:
        return ("halt", exc.plugin, str(exc))


PLUGINS = {
    "none": lambda: Answer(None),
    "a": lambda: Answer(b"a"),
    "array": lambda: Answer(bytearray(b"arr")),
    "int": lambda: Answer(5),
    "raises": Raises,
    "tx-only": TxOnly,
    "no-args": NoArguments,
    "block-first": BlockFirst,
}

steps = st.lists(
    st.tuples(
        st.sampled_from(["register", "unregister", "disable", "enable", "abandon", "state"]),
        st.sampled_from(sorted(PLUGINS)),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_route_answers_as_the_reference_over_any_changes(config: Settings, plan: Any) -> None:
    host = PluginHost.empty(config)
    for action, name in plan:
        registered = host.pm.get_plugin(name) is not None
        if action == "register" and not registered:
            host.pm.register(PLUGINS[name](), name=name)
        elif action == "unregister" and registered:
            host.pm.unregister(name=name)
        elif action == "state":
            host.states.setdefault(name, PluginState(name))
        elif name in host.states:
            state = host.states[name]
            if action == "disable":
                state.disabled = True
            elif action == "enable":
                state.disabled = state.abandoned = False
            elif action == "abandon":
                state.abandoned = True
        assert routed(host) == reference_route(host, TX, BLOCK)
