"""A monmouth plugin to start from: one line per committed block (or per Nth block).

The entry point `template` (in pyproject.toml) names this package; the node finds its `Plugin`
class (`plugin.py`) and builds it as `Plugin(settings, config)`, where `config` is the
`[plugins.template]` table validated by `Plugin.config_model` (`config.py`). Enable it with
`[plugins] enable = ["template"]`. It has the shape of monmouth's built-in plugins: to add
commands, write a `cli.py` with `register_commands(register)` and import it here.
"""

from monmouth_plugin_template.plugin import Plugin

__version__ = "0.1.0"

__all__ = ["Plugin"]
