"""Monmouth SVM ExEx: execute Solana-VM transactions carried by Ethereum blocks."""

from __future__ import annotations

__version__ = "0.1.0"
