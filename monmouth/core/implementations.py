"""Which implementation runs each hot path: its C extension, or the Python reference that the
tests hold it equal to (setup.py builds every extension optionally, so an install without a C
compiler runs the Python ones, more slowly but to the same results).

Each module that uses an extension picks by importing it, and says what it picked in its own
`IMPLEMENTATION`; this asks the same question by the extensions' names, without importing the
modules (the rag plugin's are above the core, and need numpy).
"""

from __future__ import annotations

import importlib
from typing import Final, Literal

__all__ = ["EXTENSIONS", "Implementation", "implementations"]

Implementation = Literal["c", "python"]

#: Hot path → its C extension (with the Python reference that runs without it).
EXTENSIONS: Final = {
    # Reading a wire transaction's layout (`rust_svm.wire.layout_py`).
    "wire": "monmouth.rust_svm._wire",
    # A transaction's lamports before and after it (`rust_svm.runtime.SvmRuntime.balances_py`).
    "balances": "monmouth.rust_svm._runtime",
    # Ed25519 checks on threads without the GIL (`rust_svm.verify_py`).
    "verify": "monmouth.rust_svm._verify",
    # Accounts' lattice hashes and their mixing (`core.lthash.digest_py`, `LtHash.mix_py`).
    "lthash": "monmouth.core._lthash",
    # An L1 block's transactions (`core.l1._transactions_py`, `L1Block.from_rpc`).
    "l1": "monmouth.core._l1",
    # A block's write log for the stream's `writes` (`core.writes.WriteLogPy`).
    "writes": "monmouth.core._writes",
    # Frames written to a pipe on a native thread (`core.pipes.FrameWriterPy`).
    "pipes": "monmouth.core._pipes",
    # The stream's `writes` message in the publisher (`stream.segments.writes_message`).
    "segments": "monmouth.stream._segments",
    # The rag plugin's feature hashing (`HashingEmbedder._embed_words_numpy`).
    "hashing": "monmouth.plugins.rag._hashing",
    # The rag plugin's documents (`documents.summarize_changes_py`).
    "summary": "monmouth.plugins.rag._summary",
}


def implementations() -> dict[str, Implementation]:
    """Per hot path, "c" when its extension imports, else "python"."""
    found: dict[str, Implementation] = {}
    for name, module in EXTENSIONS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            found[name] = "python"
        else:
            found[name] = "c"
    return found
