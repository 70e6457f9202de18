"""`monmouth top`, the monitoring plugin's command: offered whether the plugin runs or not (it
watches other processes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["register_commands"]


def register_commands(register: Callable[..., Any]) -> None:
    """Add `monmouth top` (`top.py`, imported here: it is the CLI's alone)."""
    from monmouth.plugins.monitoring.top import top

    register(top, name="top")
