"""Built-in plugins. Each is loaded by name through `monmouth.core.plugins`, and replaceable.

Each is a package of the same shape (docs/plugins.md, "Built-in plugins"): `__init__.py` says
what it does and how to enable it and imports `Plugin`; `plugin.py` holds the class with the
hooks; `config.py` its `[plugins.NAME]` model; `cli.py` its `register_commands`, if it has any.
"""
