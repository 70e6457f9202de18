"""Pytest fixtures for plugin authors: run a real node with one plugin registered.

monmouth registers this module as the pytest plugin `monmouth` (entry point group `pytest11`),
so every test suite in an environment where monmouth is installed has the fixtures
`monmouth_settings` and `monmouth_run`; `pytest -p no:monmouth` turns them off. See
docs/plugins.md, "Testing your plugin".

Importing this module does nothing else and imports no part of the node: pytest imports it in
every run, so the node is imported when a fixture is first used.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from monmouth.core.config import Settings
    from monmouth.core.node import RunStats
    from monmouth.core.payloads import BlockInfo

__all__ = ["MonmouthRun", "MonmouthRunner", "PluginFailure", "monmouth_run", "monmouth_settings"]


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """One exception the plugin raised in a hook (the node logged it and applied `on_error`)."""

    hook: str
    policy: str
    traceback: str


@dataclass(frozen=True, slots=True)
class MonmouthRun:
    """A finished run. The node is closed: every hook has run, `shutdown` included.

    :ivar plugin: the object that was registered (the instance, when a class was given).
    :ivar settings: the node's settings; `settings.data_dir` holds the state.
    :ivar stats: the run's counters (blocks, ok, failed, rejected, deposits, reverted).
    :ivar head: the last committed block, None when nothing was committed.
    :ivar failures: every exception the plugin raised in a hook, in order.
    :ivar log: every structured log event of the run, as dicts (`event`, `log_level`, ...).
    """

    plugin: object
    settings: Settings
    stats: RunStats
    head: BlockInfo | None
    failures: tuple[PluginFailure, ...]
    log: tuple[Mapping[str, Any], ...]

    @property
    def data_dir(self) -> Path:
        """The data directory; open it with `Store(run.data_dir, readonly=True)`."""
        return self.settings.data_dir


class MonmouthRunner(Protocol):
    """The type of the `monmouth_run` fixture, for annotating tests."""

    def __call__(
        self,
        plugin: object,
        *,
        blocks: int | None = 20,
        replay_file: Path | None = None,
        config: Mapping[str, Any] | None = None,
        name: str = "plugin",
        data_dir: Path | None = None,
        check: bool = True,
        **devnet: Any,
    ) -> MonmouthRun: ...


@pytest.fixture
def monmouth_settings(tmp_path: Path) -> Settings:
    """Settings with the data directory in the test's temporary folder and fsync off.

    `monmouth_run` starts from these: override this fixture in a conftest.py to change what
    every run of a test module uses (the inbox address, the devnet workload).
    """
    from monmouth.core.config import load_settings

    return load_settings(
        None,
        data_dir=tmp_path / "monmouth-data",
        store={"sync": False},
        stream={"publish": None},
    )


@pytest.fixture
def monmouth_run(monmouth_settings: Settings, tmp_path: Path) -> MonmouthRunner:
    """Run a fresh node with one plugin registered; returns a `MonmouthRun`.

    `run(plugin, *, blocks=20, replay_file=None, config=None, name="plugin", data_dir=None,
    check=True, **devnet)`:

    - `plugin`: what your entry point names: a module, a class, or a module with a `Plugin`
      class, built as the node builds it (`Plugin(settings)`, or `Plugin(settings, config)`
      with the table validated by its `config_model`); or a ready instance. Built-ins run too.
    - `config`: the plugin's `[plugins.NAME]` table: its own keys, and `on_error` or
      `queue_size` for the node.
    - `name`: the name it is registered under (the table's NAME, the name in the log).
    - `blocks`: stop after this many committed blocks (the devnet's genesis counts); None runs
      a replay file to its end.
    - `replay_file`: follow this recorded chain instead of the devnet.
    - `data_dir`: continue from this data directory (a previous run's `data_dir`) instead of a
      fresh one, e.g. to test a restart or the startup snapshot.
    - `check`: fail the test when the plugin raised in a hook (the traceback is in the message);
      with check=False, inspect `run.failures` instead.
    - `**devnet`: `[devnet]` settings for this run (`seed`, `txs_per_block`, `reorg_probability`).

    Configuration errors raise ConfigError, as they stop the node; a plugin that halts the node
    (`on_error = "halt"`) raises PluginHalted. Call it from a plain (not async) test: it runs
    the node's event loop itself.
    """
    counter = itertools.count(1)

    def run(
        plugin: object,
        *,
        blocks: int | None = 20,
        replay_file: Path | None = None,
        config: Mapping[str, Any] | None = None,
        name: str = "plugin",
        data_dir: Path | None = None,
        check: bool = True,
        **devnet: Any,
    ) -> MonmouthRun:
        import anyio
        from structlog.testing import capture_logs

        from monmouth.app import build_node, make_source
        from monmouth.core.config import Settings
        from monmouth.core.plugins import instantiate, load_plugins

        if blocks is None and replay_file is None:
            raise ValueError("the devnet never ends: give blocks=N, or a replay_file")
        values = monmouth_settings.model_dump()
        values["data_dir"] = data_dir if data_dir is not None else tmp_path / f"run-{next(counter)}"
        values["devnet"] = {**values["devnet"], **devnet}
        if replay_file is not None:
            values["source"] = {**values["source"], "kind": "replay", "replay_file": replay_file}
        if config:
            values["plugins"] = {**values["plugins"], name: dict(config)}
        settings = Settings.model_validate(values)
        registered = instantiate(name, plugin, settings)
        with capture_logs() as log:
            pm = load_plugins(settings, extra=[(name, registered)])
            with build_node(settings, plugins=pm) as node:
                source = make_source(settings, traces=node.plugins.wants_traces(), node=node)
                anyio.run(functools.partial(node.run, source, max_blocks=blocks))
            failures = tuple(
                PluginFailure(str(e["hook"]), str(e["policy"]), str(e["traceback"]))
                for e in log
                if e.get("event") == "plugin failed" and e.get("plugin") == name
            )
            result = MonmouthRun(
                registered, settings, node.stats, node.stats.head, failures, tuple(log)
            )
        if check and result.failures:
            details = "\n".join(
                f"{f.hook} (policy {f.policy}):\n{f.traceback}" for f in result.failures
            )
            pytest.fail(
                f"plugin {name!r} raised in {len(result.failures)} hook call(s):\n{details}",
                pytrace=False,
            )
        return result

    return run
