"""Periodic progress lines for the roles that run until stopped (as the executor logs its own)."""

from __future__ import annotations

import time


class Every:
    """True once per `seconds` when asked (`due()`), starting one period after creation."""

    def __init__(self, seconds: float = 5.0) -> None:
        self.seconds = seconds
        self._next = time.monotonic() + seconds

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.seconds
        return True
