"""Retrieval over the SVM transactions the node executed: the built-in plugin `rag`.

Off until `[plugins] enable = ["rag"]`. Each executed Solana transaction becomes a `Document`
(a readable summary: programs, instruction kinds, signers, accounts, amounts moved, status,
error, log lines) and a vector; the documents live in LMDB and their vectors in an HNSW index
(usearch), both under `<data_dir>/rag/`, and leave with the blocks a reorg reverts. Queries by
text, by an example transaction or by account, with filters, answer the top k with scores
(`RagIndex.query`), or a prompt-ready JSON pack (`RagIndex.context`): from Python, from the
command line (`monmouth rag`, `cli.py`) and on the node's request socket (`rag.query`,
`rag.context`, `rag.stats`). See docs/rag.md.

Importing this package is cheap (the CLI imports it at every start to offer `monmouth rag`):
numpy, LMDB and usearch load when an index is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monmouth.hooks import hookimpl
from monmouth.plugins.rag.plugin import RagConfig, RagPlugin

#: What the node builds, `Plugin(settings, config)`, when `rag` is enabled.
Plugin = RagPlugin


@hookimpl
def register_commands(register: Callable[..., Any]) -> None:
    """`monmouth rag` (offered even while the plugin is off: the CLI asks built-ins' modules)."""
    from monmouth.plugins.rag.cli import register_rag_commands

    register_rag_commands(register)


__all__ = ["Plugin", "RagConfig", "RagPlugin", "register_commands"]
