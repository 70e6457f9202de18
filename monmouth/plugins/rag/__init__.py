"""Retrieval over the SVM transactions the node executed: the built-in plugin `rag`.

Off until `[plugins] enable = ["rag"]`. Each executed Solana transaction becomes a `Document`
(a readable summary: programs, instruction kinds, signers, accounts, amounts moved, status,
error, log lines) and a vector; the documents live in LMDB and their vectors in an HNSW index
(usearch), both under `<data_dir>/rag/`, and leave with the blocks a reorg reverts. Queries by
text, by an example transaction or by account, with filters, answer the top k with scores
(`RagIndex.query`), or a prompt-ready JSON pack (`RagIndex.context`): from Python, from the
command line (`monmouth rag`, `cli.py`) and on the node's request socket (`rag.query`,
`rag.context`, `rag.stats`). See docs/rag.md.

Enable it with `[plugins] enable = ["rag"]` (or `MONMOUTH_PLUGINS__ENABLE='["rag"]'`); its
settings are the `[plugins.rag]` table (`config.py`: the embedder, the HNSW parameters, how
often the index is saved). `monmouth rag` is offered whether or not the plugin is enabled.

Importing this package is cheap (the CLI imports it to offer `monmouth rag`): numpy, LMDB and
usearch load when an index is opened.
"""

from monmouth.plugins.rag.cli import register_commands
from monmouth.plugins.rag.plugin import Plugin

__all__ = ["Plugin", "register_commands"]
