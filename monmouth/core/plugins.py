"""Loading plugins: built-ins by name, third parties from entry points, all through pluggy.

The core never imports a built-in plugin by name outside this tuple: built-ins load through the
same path a third-party plugin takes.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

import pluggy

from monmouth import hooks
from monmouth.core.config import Settings
from monmouth.core.errors import ConfigError

#: Built-in plugins, run unless disabled in `[plugins] disable`.
BUILTIN_PLUGINS: tuple[str, ...] = ("routing",)
ENTRY_POINT_GROUP = "monmouth.plugins"
AUTOLOAD_ENV = "MONMOUTH_DISABLE_PLUGIN_AUTOLOAD"


def _instantiate(obj: object, settings: Settings) -> object:
    """A module registers as it is; a module with a `Plugin` class registers an instance."""
    factory = getattr(obj, "Plugin", None)
    if isinstance(factory, type):
        return factory(settings)
    if isinstance(obj, type):
        return obj(settings)
    return obj


def load_plugins(settings: Settings, extra: list[object] | None = None) -> pluggy.PluginManager:
    """A plugin manager with the hookspecs, the enabled built-ins and entry-point plugins.

    :param extra: plugin objects to register as well (tests, embedding applications).
    Raises ConfigError for an unknown plugin name or an implementation that matches no hook.
    """
    pm = pluggy.PluginManager(hooks.PROJECT)
    pm.add_hookspecs(hooks)
    disabled = set(settings.plugins.disable)
    enabled = set(settings.plugins.enable)
    for name in BUILTIN_PLUGINS:
        if name in disabled:
            continue
        module = importlib.import_module(f"monmouth.plugins.{name}")
        pm.register(_instantiate(module, settings), name=name)
    found: set[str] = set(BUILTIN_PLUGINS)
    if not os.environ.get(AUTOLOAD_ENV):
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            found.add(ep.name)
            if ep.name in enabled and ep.name not in disabled:
                pm.register(_instantiate(ep.load(), settings), name=ep.name)
    unknown = (enabled | disabled) - found
    if unknown:
        raise ConfigError(
            f"unknown plugin(s) in [plugins]: {', '.join(sorted(unknown))}; "
            f"installed: {', '.join(sorted(found))}"
        )
    for plugin in extra or []:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from None
    return pm
