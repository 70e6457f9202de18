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
