"""Errors a user can act on; the CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """Base of every error caused by input the user controls (config, data dir, files).

    The message is one line that says what is wrong and what to do about it.
    """


class ConfigError(UserError):
    """The configuration file or an environment override is invalid."""


class DataDirError(UserError):
    """The data directory is missing, corrupt, foreign, or does not match the chain."""


class ReplayFileError(UserError):
    """A replay file cannot be read or one of its lines is not a valid L1 block."""


class SourceError(UserError):
    """A source cannot continue from the persisted head (for example, a different chain)."""


class StartError(UserError):
    """A part of the node could not start in this environment (a child process that died or
    never answered): nothing was written, and running again once the cause is gone works."""


class WriterError(UserError):
    """The store's writer process (`core.storewriter`) failed or died: what it did not confirm
    was not reported finished, the store is as its last commit left it, and running again
    continues from there."""


class PluginHalted(Exception):
    """A plugin failed under the `halt` policy, or routing failed: the node must stop (exit
    code 3). Not a UserError: the input was fine, a plugin was not."""

    def __init__(self, plugin: str, reason: str) -> None:
        super().__init__(f"plugin {plugin!r} halted the node: {reason}")
        self.plugin = plugin
