"""Plugins: found by name (built-ins) and entry points (third parties), loaded in a function,
and run through a typed facade so core code never calls `pm.hook.x(**kw)` itself.

The core never imports a built-in plugin by name outside the tuple below: built-ins load through
the same path a third-party plugin takes.
"""

from __future__ import annotations

import importlib
import inspect
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy
import structlog
from pydantic import ValidationError

from monmouth.core import hookspecs
from monmouth.core.dispatch import Halt, PluginState, Stopping, Worker, call_hook
from monmouth.core.errors import ConfigError, UserError
from monmouth.core.errors import PluginHalted as PluginHalted
from monmouth.core.extras import PLUGIN_EXTRAS, require_extra
from monmouth.core.host import plugin_attribute
from monmouth.core.telemetry import ERRORS

if TYPE_CHECKING:
    from monmouth.core.cachespec import AccountCacheSpec
    from monmouth.core.config import Settings
    from monmouth.core.eventlog import SlotChange, Topic
    from monmouth.core.host import Host
    from monmouth.core.l1 import L1Block, L1Transaction
    from monmouth.core.payloads import AccountUpdate, BlockInfo, TransactionInfo

log = structlog.get_logger("monmouth.plugins")

#: Built-in plugins, run unless disabled in `[plugins] disable`.
BUILTIN_PLUGINS: tuple[str, ...] = ("routing", "cache", "monitoring", "rpc")
#: Built-in plugins that run only when named in `[plugins] enable`.
OPTIONAL_BUILTINS: tuple[str, ...] = ("mev", "rag")
ENTRY_POINT_GROUP = "monmouth.plugins"
AUTOLOAD_ENV = "MONMOUTH_DISABLE_PLUGIN_AUTOLOAD"
#: Hooks whose calls go through each plugin's queue and worker.
QUEUED_HOOKS = frozenset(
    {
        "update_accounts",
        "notify_transactions",
        "notify_l1_block",
        "notify_block",
        "update_slot_status",
        "revert_blocks",
    }
)
#: Keys of a `[plugins.NAME]` table that belong to the node, not to the plugin.
HOST_KEYS = ("on_error", "queue_size")
DEFAULT_QUEUE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class FoundPlugin:
    """A plugin the node can see, enabled or not (what `monmouth plugins list` shows)."""

    name: str
    origin: str  # "built-in" or "<distribution> <version>"
    enabled: bool
    load: Callable[[], object]


def _builtin(name: str) -> object:
    return importlib.import_module(f"monmouth.plugins.{name}")


def _entry_points() -> list[EntryPoint]:
    if os.environ.get(AUTOLOAD_ENV):
        return []
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def find_plugins(settings: Settings, also: frozenset[str] = frozenset()) -> list[FoundPlugin]:
    """Every plugin found: built-ins, then entry points by name. Loads none of them.

    :param also: names of plugins registered directly (tests, embedding), whose `[plugins.NAME]`
        tables are therefore not unknown.
    """
    disabled = set(settings.plugins.disable)
    enabled = set(settings.plugins.enable)
    found = [
        FoundPlugin(
            name,
            "built-in",
            (name in BUILTIN_PLUGINS or name in enabled) and name not in disabled,
            lambda name=name: _builtin(name),  # type: ignore[misc]
        )
        for name in (*BUILTIN_PLUGINS, *OPTIONAL_BUILTINS)
    ]
    for ep in _entry_points():
        dist = ep.dist
        origin = f"{dist.name} {dist.version}" if dist is not None else "entry point"
        found.append(
            FoundPlugin(ep.name, origin, ep.name in enabled and ep.name not in disabled, ep.load)
        )
    names = {f.name for f in found}
    unknown = (enabled | disabled | set(settings.plugins.tables())) - names - also
    if unknown:
        raise ConfigError(
            f"unknown plugin(s) in [plugins]: {', '.join(sorted(unknown))}; "
            f"installed: {', '.join(sorted(names))}"
        )
    return found


def implemented_hooks(plugin: object) -> list[str]:
    """The hook names an object implements (marked with `@hookimpl`), without registering it."""
    marker = f"{hookspecs.PROJECT}_impl"
    return sorted(
        name
        for name in dir(plugin)
        if getattr(getattr(plugin, name, None), marker, None) is not None
    )


def instantiate(name: str, obj: object, settings: Settings) -> object:
    """A module registers as it is; a class, or a module's `Plugin` class, is instantiated with
    the settings, and with its validated `[plugins.NAME]` table when it has a `config_model`."""
    factory = getattr(obj, "Plugin", None)
    cls = factory if isinstance(factory, type) else obj if isinstance(obj, type) else None
    if cls is None:
        return obj
    table = {k: v for k, v in settings.plugins.table(name).items() if k not in HOST_KEYS}
    model = plugin_attribute(cls, "config_model")
    if model is None:
        if table:
            raise ConfigError(
                f"[plugins.{name}] has {', '.join(sorted(table))}, but the plugin takes no settings"
            )
        return _build(name, cls, settings)
    try:
        config = model.model_validate(table)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"[plugins.{name}] {where}: {first['msg']}") from None
    return _build(name, cls, settings, config)


def _build(name: str, cls: type, *args: object) -> object:
    """`cls(*args)`; a constructor that does not fit them is the plugin's mistake, reported in
    one line that names it rather than as a traceback."""
    try:
        return cls(*args)
    except TypeError as exc:
        raise ConfigError(f"plugin {name!r} cannot be built: {exc}") from None


def listed_hooks(obj: object) -> list[str]:
    """The hooks `monmouth plugins list` shows for a loaded plugin object (a module, a class, or
    a module with a `Plugin` class): those its plugin implements, and `register_commands` where
    it offers commands (`commands_of`)."""
    factory = getattr(obj, "Plugin", None)
    hooks = implemented_hooks(factory if isinstance(factory, type) else obj)
    if commands_of(obj) is not None and "register_commands" not in hooks:
        hooks = sorted([*hooks, "register_commands"])
    return hooks


def commands_of(obj: object) -> Callable[[Callable[..., Any]], None] | None:
    """A loaded plugin's `register_commands(register)`, or None: a function of its module, or
    a staticmethod or classmethod of its class (an instance's method would need the plugin
    built, which the CLI never does)."""
    owner = obj if isinstance(obj, type) else None
    if owner is None and not inspect.ismodule(obj):
        return None
    if owner is not None and not isinstance(
        inspect.getattr_static(owner, "register_commands", None), staticmethod | classmethod
    ):
        return None
    hook = getattr(obj, "register_commands", None)
    return hook if callable(hook) else None


def find_commands(
    settings: Callable[[], Settings] | None,
) -> list[tuple[str, Callable[[Callable[..., Any]], None]]]:
    """The `register_commands` of every built-in plugin, on or off (their commands are tools:
    `monmouth mev inspect FILE`), then of every enabled third-party plugin (`find_plugins`), by
    name. Builds no plugin.

    :param settings: reads the settings, which say which third-party plugins are enabled; called
        only when one is installed (reading them is most of a short command's start-up). None:
        the built-ins' commands alone.
    Raises ConfigError as `find_plugins` does.
    """
    loaded = [(name, _builtin(name)) for name in (*BUILTIN_PLUGINS, *OPTIONAL_BUILTINS)]
    if settings is not None and _entry_points():
        loaded += [
            (found.name, found.load())
            for found in find_plugins(settings())
            if found.enabled and found.origin != "built-in"
        ]
    return [(name, hook) for name, obj in loaded if (hook := commands_of(obj)) is not None]


def load_plugins(
    settings: Settings, extra: list[object | tuple[str, object]] | None = None
) -> pluggy.PluginManager:
    """A plugin manager with the hookspecs, the enabled plugins, and `extra` objects.

    :param extra: plugin objects to register as well (tests, embedding applications); a
        `(name, plugin)` pair names it, so that its `[plugins.NAME]` table applies.
    Raises ConfigError for an unknown plugin name, an invalid plugin table, an implementation
    that matches no hook (naming the plugin), or an enabled built-in whose extra is not
    installed (naming the `pip install`).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    named = [item for item in extra or [] if isinstance(item, tuple)]
    try:
        for found in find_plugins(settings, also=frozenset(name for name, _ in named)):
            if found.enabled:
                if found.origin == "built-in" and found.name in PLUGIN_EXTRAS:
                    needs, modules = PLUGIN_EXTRAS[found.name]
                    require_extra(needs, modules, f"the {found.name} plugin")
                pm.register(instantiate(found.name, found.load(), settings), name=found.name)
        for item in extra or []:
            if isinstance(item, tuple):
                pm.register(item[1], name=item[0])
            else:
                pm.register(item)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise ConfigError(f"plugin {name!r} does not fit the hooks: {exc}") from None
    for hook in ("route_transaction", "account_cache"):
        for impl in getattr(pm.hook, hook).get_hookimpls():
            # Both run inline, on the execution path: a plain function only.
            if impl.hookwrapper or impl.wrapper or inspect.iscoroutinefunction(impl.function):
                raise ConfigError(
                    f"plugin {impl.plugin_name!r}: {hook} must be a plain function "
                    "(not async, not a wrapper)"
                )
    return pm


class _Router(NamedTuple):
    """A `route_transaction` implementation as `PluginHost.route` calls it."""

    plugin_name: str
    state: PluginState | None
    call: Callable[[L1Transaction, L1Block], bytes | None]


class PluginHost:
    """Runs the registered plugins: inline hooks directly, notifications through workers."""

    def __init__(self, pm: pluggy.PluginManager, settings: Settings) -> None:
        self.pm = pm
        self.halt = Halt()
        self.states: dict[str, PluginState] = {}
        self._workers: dict[str, Worker] = {}
        self.stall_timeout = settings.plugins.stall_timeout
        self._stopping = Stopping(settings.plugins.stop_timeout)
        # `route`'s routers, and what they were planned from (`_plan_routers`).
        self._routers: list[_Router] = []
        self._route_impls: list[Any] | None = None
        self._route_states = 0
        for name, plugin in pm.list_name_plugin():
            if plugin is None:
                continue
            table = settings.plugins.table(name)
            on_error = table.get("on_error", "disable")
            if on_error not in ("log", "disable", "halt"):
                raise ConfigError(f"[plugins.{name}] on_error must be log, disable or halt")
            try:
                # Environment overrides arrive as strings.
                size = int(table.get("queue_size", DEFAULT_QUEUE_SIZE))
            except (TypeError, ValueError):
                size = 0
            if size < 1:
                raise ConfigError(f"[plugins.{name}] queue_size must be a positive integer")
            state = PluginState(name, on_error)
            self.states[name] = state
            if any(h in QUEUED_HOOKS for h in implemented_hooks(plugin)):
                self._workers[name] = Worker(state, size, self._failed, self._stopping)

    @classmethod
    def empty(cls, settings: Settings) -> PluginHost:
        """A host with no plugins (a role that runs none)."""
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        return cls(pm, settings)

    # ------------------------------------------------------------------ queries

    def wants(self, hook: str) -> bool:
        """Whether any running plugin implements `hook` (the core builds no payload otherwise)."""
        return any(self._live(impl) for impl in getattr(self.pm.hook, hook).get_hookimpls())

    def _live(self, impl: Any) -> bool:
        state = self.states.get(impl.plugin_name)
        return state is None or not (state.disabled or state.abandoned)

    def stalled(self) -> dict[str, float]:
        """Plugins the node has waited on for longer than `[plugins] stall_timeout`, with the
        seconds it has waited (read from any thread: monitoring asks while the node waits)."""
        now = time.monotonic()
        waits = {name: state.stalled_for(now) for name, state in self.states.items()}
        return {name: wait for name, wait in waits.items() if wait > self.stall_timeout}

    def request_stop(self) -> None:
        """The node is asked to stop: from now on it waits for each plugin at most
        `[plugins] stop_timeout` seconds (safe from a signal handler)."""
        self._stopping.set()

    def queue_depths(self) -> dict[str, int]:
        return {name: worker.depth for name, worker in self._workers.items()}

    def wants_traces(self) -> bool:
        """Whether a running plugin asked for L1 call traces (`wants_traces = True`)."""
        return any(
            plugin_attribute(plugin, "wants_traces")
            for name, plugin in self.pm.list_name_plugin()
            if name in self.states and not self.states[name].disabled
        )

    def wants_snapshot(self) -> list[str]:
        """Plugins that asked for a startup snapshot (`wants_startup_snapshot = True`)."""
        return [
            name
            for name, plugin in self.pm.list_name_plugin()
            if plugin_attribute(plugin, "wants_startup_snapshot") and name in self.states
        ]

    # ------------------------------------------------------------------ failures

    def _failed(self, state: PluginState, hook: str, exc: BaseException) -> None:
        state.errors += 1
        ERRORS.add(1, {"plugin": state.name, "hook": hook})
        log.error(
            "plugin failed",
            plugin=state.name,
            hook=hook,
            policy=state.on_error,
            traceback="".join(traceback.format_exception(exc)),
        )
        if state.on_error == "disable":
            state.disabled = True
            log.warning("plugin disabled", plugin=state.name)
        elif state.on_error == "halt":
            self.halt.request(state.name, f"{hook} raised {type(exc).__name__}: {exc}")

    def check(self) -> None:
        """Raise PluginHalted when a plugin asked the node to halt."""
        if self.halt.plugin is not None:
            raise PluginHalted(self.halt.plugin, self.halt.reason)

    # ------------------------------------------------------------------ calls

    def _impls(self, hook: str) -> Iterator[Any]:
        # pluggy calls the last registered first; keep its order.
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            if self._live(impl):
                yield impl

    def call_inline(self, hook: str, **kwargs: Any) -> None:
        """Call `hook` on every plugin now (lifecycle hooks), isolating failures. A
        `UserError` (a plugin's configuration cannot work, such as a port in use) is not a
        fault to isolate: it stops the start-up with its message."""
        for impl in self._impls(hook):
            args = {a: kwargs[a] for a in impl.argnames}
            try:
                call_hook(impl.function, args)
            except UserError:
                raise
            except Exception as exc:
                state = self.states.setdefault(impl.plugin_name, PluginState(impl.plugin_name))
                self._failed(state, hook, exc)

    def _call_isolated(self, impl: Any, hook: str, args: dict[str, Any]) -> None:
        try:
            call_hook(impl.function, args)
        except Exception as exc:
            state = self.states.setdefault(impl.plugin_name, PluginState(impl.plugin_name))
            self._failed(state, hook, exc)

    def route(self, tx: L1Transaction, block: L1Block) -> bytes | None:
        """The first router's answer; any error halts (routing decides state)."""
        # Called for every L1 transaction: the routers are looked up once, not per call, and
        # looked up again whenever the registered ones or the plugins' states change.
        impls = self.pm.hook.route_transaction.get_hookimpls()
        if impls != self._route_impls or len(self.states) != self._route_states:
            self._routers = self._plan_routers(impls)
        for name, state, call in self._routers:
            if state is not None and (state.disabled or state.abandoned):
                continue
            try:
                result: bytes | None = call(tx, block)
            except Exception as exc:
                raise PluginHalted(
                    name, f"route_transaction raised {type(exc).__name__}: {exc}"
                ) from exc
            if result is None:
                continue
            if not isinstance(result, bytes | bytearray | memoryview):
                # Routing decides state: a wrong answer type halts rather than guessing.
                raise PluginHalted(
                    name, f"route_transaction returned {type(result).__name__}, not bytes or None"
                )
            return bytes(result)
        return None

    def _plan_routers(self, impls: list[Any]) -> list[_Router]:
        """The routers of `impls` in pluggy's calling order (the last registered first), each
        with its plugin's state (None: it has none, and runs) and a call taking `(tx, block)`."""
        self._route_impls = impls
        self._route_states = len(self.states)
        routers = []
        for impl in reversed(impls):
            names = tuple(impl.argnames)
            if names == ("tx", "block"):
                # pluggy's argnames are the positional parameters in order: the same binding.
                call = impl.function
            else:
                # A hook implementation may take a subset of the arguments, as pluggy allows.
                def call(
                    tx: L1Transaction,
                    block: L1Block,
                    function: Callable[..., bytes | None] = impl.function,
                    names: tuple[str, ...] = names,
                ) -> bytes | None:
                    args = {"tx": tx, "block": block}
                    return function(**{a: args[a] for a in names})

            routers.append(_Router(impl.plugin_name, self.states.get(impl.plugin_name), call))
        return routers

    def account_cache(self) -> AccountCacheSpec | None:
        """The first `account_cache` answer (the policy and budget of the runtime's resident
        accounts), None when no plugin gives one. An error stops the start-up: the node would
        otherwise run with a cache nobody chose."""
        for impl in self._impls("account_cache"):
            try:
                spec: AccountCacheSpec | None = impl.function()
            except Exception as exc:
                raise ConfigError(
                    f"plugin {impl.plugin_name!r}: account_cache raised {type(exc).__name__}: {exc}"
                ) from exc
            if spec is not None:
                return spec
        return None

    def notify(self, hook: str, only: list[str] | None = None, **kwargs: Any) -> None:
        """Queue `hook` for every plugin that implements it (or the `only` ones), in order."""
        for impl in self._impls(hook):
            if only is not None and impl.plugin_name not in only:
                continue
            args = {a: kwargs[a] for a in impl.argnames}
            worker = self._workers.get(impl.plugin_name)
            if worker is None:
                # Registered after start-up (tests): run inline, still isolated.
                self._call_isolated(impl, hook, args)
            else:
                worker.put(hook, impl.function, args)

    # ------------------------------------------------------------------ events
    # The node's and the analyzer's one way to reach plugins: a method per event, so hook names
    # stay in this module and the order of one block's hooks is written once.

    def wants_account_updates(self) -> bool:
        """Whether a running plugin takes `update_accounts` (otherwise none are built)."""
        return self.wants("update_accounts")

    def wants_transactions(self) -> bool:
        """Whether a running plugin takes `notify_transactions` (otherwise none are built)."""
        return self.wants("notify_transactions")

    def register_extensions(
        self,
        topics: Callable[..., Topic],
        methods: Callable[[str, Callable[..., Any]], None],
    ) -> None:
        """Collect the plugins' stream topics and request methods (inline, before `started`)."""
        self.pm.hook.register_stream_topics(register=topics)
        self.register_methods(methods)

    def register_methods(self, methods: Callable[[str, Callable[..., Any]], None]) -> None:
        """Collect the plugins' request methods only (inline, before `started`): what an
        instance without a stream log of its own (an analyzer) serves."""
        self.pm.hook.register_rpc_methods(register=methods)

    def started(
        self,
        host: Host,
        snapshot: Callable[[], Iterable[list[AccountUpdate]]] | None = None,
        head: BlockInfo | None = None,
    ) -> None:
        """`startup`, then the startup snapshot to the plugins that asked for one, then
        `end_of_startup`. Raises PluginHalted when a plugin under `halt` failed.

        :param snapshot: the stored accounts in chunks; None where the host keeps no state.
        :param head: the block the snapshot is as of.
        """
        self.call_inline("startup", node=host)
        names = self.wants_snapshot()
        if names and snapshot is None:
            log.warning("no state here, so no startup snapshot", plugins=", ".join(names))
        elif names and snapshot is not None:
            for updates in snapshot():
                self.notify(
                    "update_accounts", only=names, block=head, updates=updates, is_startup=True
                )
            self.drain()
        self.call_inline("end_of_startup", node=host)
        self.check()

    def block_committed(
        self,
        block: BlockInfo,
        *,
        updates: Sequence[AccountUpdate] = (),
        transactions: Sequence[TransactionInfo] = (),
        l1: L1Block | None = None,
        processed: Sequence[tuple[int, int | None]] = (),
    ) -> None:
        """Queue one committed block's hooks, in the order plugins rely on: `notify_l1_block`,
        `update_accounts`, `notify_transactions`, `notify_block`, then `update_slot_status`
        `processed` for each of `processed` (slot, parent).

        :param l1: the L1 block as the source gave it (None where the host has none).
        """
        if l1 is not None and self.wants("notify_l1_block"):
            self.notify("notify_l1_block", block=l1)
        if updates:
            self.notify("update_accounts", block=block, updates=updates, is_startup=False)
        if transactions and self.wants("notify_transactions"):
            self.notify("notify_transactions", block=block, transactions=transactions)
        self.notify("notify_block", block=block)
        for slot, parent in processed:
            self.notify("update_slot_status", slot=slot, parent=parent, status="processed")

    def slots_changed(self, changes: Iterable[SlotChange]) -> None:
        """Queue `update_slot_status` for each (slot, parent, status), in order."""
        for slot, parent, status in changes:
            self.notify("update_slot_status", slot=slot, parent=parent, status=status)

    def blocks_reverted(self, blocks: list[BlockInfo]) -> None:
        """Queue `revert_blocks` (the blocks that left the chain, highest first)."""
        self.notify("revert_blocks", blocks=blocks)

    def stopping(self, host: Host) -> None:
        """Wait for every queue, then call `shutdown` inline."""
        self.drain()
        self.call_inline("shutdown", node=host)

    def drain(self) -> None:
        """Wait until every plugin has run everything queued for it."""
        for worker in self._workers.values():
            worker.drain()

    def close(self) -> None:
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()
