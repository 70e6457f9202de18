"""The hookspecs as plugin authors read them, and the registration hooks (llm's `register(...)`
pattern): a plugin calls the function it is handed once per thing it adds."""

from __future__ import annotations

import functools
import inspect
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import clirun
import pytest

from monmouth import hooks
from monmouth.core.config import Settings
from monmouth.core.plugins import load_plugins
from monmouth.hooks import hookimpl

SPECS = {
    name: function
    for name, function in inspect.getmembers(hooks, inspect.isfunction)
    if getattr(function, f"{hooks.PROJECT}_spec", None) is not None
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hookspecs_follow_the_docstring_template(name: str) -> None:
    """pytest's template: a summary line, `:param:` for each argument, who may implement it;
    every argument and the result typed; first-result hooks say so and may return None."""
    function = SPECS[name]
    doc = inspect.getdoc(function) or ""
    summary, _, rest = doc.partition("\n\n")
    assert summary and summary.endswith("."), name
    signature = inspect.signature(function)
    for param in signature.parameters.values():
        assert param.annotation is not inspect.Parameter.empty, (name, param.name)
        assert f":param {param.name}:" in rest, (name, param.name)
    assert signature.return_annotation is not inspect.Signature.empty, name
    assert "implement" in rest, name
    if getattr(function, f"{hooks.PROJECT}_spec")["firstresult"]:
        assert "first" in doc.lower() and ":returns:" in doc, name
        assert "None" in str(signature.return_annotation), name


class Registers:
    @hookimpl
    def register_stream_topics(self, register: Callable[..., Any]) -> None:
        register("token_transfer", "An SPL Token transfer.")
        register("large_deposit", "A deposit above 1 SOL.")

    @hookimpl
    def register_rpc_methods(self, register: Callable[..., Any]) -> None:
        register("getAnswer", lambda node, params: 42)


def test_stream_topics_and_rpc_methods_arrive_through_register(
    monmouth_settings: Settings,
) -> None:
    # The node has no event stream or RPC server yet, so nothing calls these hooks in the core;
    # this pins the calling convention plugins are written against.
    pm = load_plugins(monmouth_settings, extra=[("registers", Registers())])
    topics: list[tuple[str, str]] = []
    methods: dict[str, Callable[..., Any]] = {}
    pm.hook.register_stream_topics(
        register=lambda kind, description: topics.append((kind, description))
    )
    pm.hook.register_rpc_methods(register=methods.__setitem__)
    assert [kind for kind, _ in topics] == ["token_transfer", "large_deposit"]
    assert methods["getAnswer"](None, []) == 42


HELLO = '''
from monmouth.hooks import hookimpl


@hookimpl
def register_commands(register):
    def hello(name: str = "world") -> None:
        """Say hello."""
        print(f"hello {name}")

    register(hello)
    register(hello, name="bonjour")
'''


GREETER = '''
class Plugin:
    """A class entry point: its commands are a staticmethod, offered without building it."""

    def __init__(self, settings):
        raise AssertionError("the CLI must not build plugins to find their commands")

    @staticmethod
    def register_commands(register):
        def greet(name: str = "world") -> None:
            """Greet someone."""
            print(f"greetings {name}")

        register(greet)
'''


Monmouth = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def monmouth(tmp_path: Path) -> Monmouth:
    """`python -m monmouth ARGS` with two plugins installed in a site folder, neither enabled:
    `hello` (a module) and `greeter` (a class); keyword arguments are environment variables."""
    (tmp_path / "hello_plugin.py").write_text(HELLO)
    (tmp_path / "greeter_plugin.py").write_text(GREETER)
    dist = tmp_path / "hello_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hello-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[monmouth.plugins]\nhello = hello_plugin\ngreeter = greeter_plugin:Plugin\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONMOUTH_")}
    env["PYTHONPATH"] = str(tmp_path)
    return functools.partial(clirun.monmouth, env=env)


def test_plugins_add_cli_commands(monmouth: Monmouth) -> None:
    """An installed, enabled plugin's `register_commands` adds commands to `monmouth`."""
    enabled = {"MONMOUTH_PLUGINS__ENABLE": '["hello"]'}
    assert monmouth("hello", "--name", "plugins", **enabled).stdout == "hello plugins\n"
    assert monmouth("bonjour", **enabled).stdout == "hello world\n"
    assert "hello" in monmouth("--help", **enabled).stdout
    # Not enabled: not there.
    assert monmouth("hello").returncode == 2


def test_plugin_commands_follow_the_config_file(monmouth: Monmouth, tmp_path: Path) -> None:
    """A third-party plugin enabled only in the file given with `--config` has its commands in
    `--help` and runnable; its class is never built; built-ins' commands stay offered."""
    config = tmp_path / "monmouth.toml"
    config.write_text('[plugins]\nenable = ["hello", "greeter"]\n')
    broken = tmp_path / "broken.toml"
    broken.write_text('[plugins]\nenable = ["nobody"]\n')
    listed = monmouth("--help", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    for command in ("hello", "bonjour", "greet", "rag", "mev", "top"):
        assert f" {command} " in listed.stdout
    # Commands without a `--config` of their own take it before them.
    assert monmouth("--config", str(config), "hello", "--name", "file").stdout == "hello file\n"
    assert monmouth(f"--config={config}", "greet").stdout == "greetings world\n"
    # Not enabled (no file): not there; built-ins' tools are.
    plain = monmouth("--help").stdout
    assert " greet " not in plain and " hello " not in plain and " mev " in plain
    assert monmouth("greet").returncode == 2
    # Before the command, `--config` is the command's default (its own `--config` wins).
    assert " greet " in monmouth("--config", str(config), "--help").stdout
    # A file the node would refuse: the built-ins' commands still, the error left to commands.
    refused = monmouth("--config", str(broken), "--help")
    assert " rag " in refused.stdout and " greet " not in refused.stdout
    listing = monmouth("plugins", "list", "--config", str(broken))
    assert listing.returncode == 2
    assert "unknown plugin(s) in [plugins]: nobody" in listing.stderr
    assert monmouth("--config", str(broken), "plugins", "list").stderr == listing.stderr
