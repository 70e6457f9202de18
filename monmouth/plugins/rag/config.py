"""The `[plugins.rag]` table, validated by pydantic (`Plugin.config_model`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Config"]


class Config(BaseModel):
    """`[plugins.rag]`: the embedder, the HNSW parameters, how often the index is saved."""

    model_config = ConfigDict(extra="forbid")

    #: `hashing` (deterministic feature hashing) or `minilm` (the extra `rag-model`).
    embedder: Literal["hashing", "minilm"] = "hashing"
    #: Vector length of the hashing embedder (minilm's is 384).
    dimensions: int = Field(128, ge=8, le=4096)
    #: HNSW edges per node (M); fixed when the index is built.
    connectivity: int = Field(16, ge=2, le=256)
    #: HNSW candidates per insertion (efConstruction).
    expansion_add: int = Field(32, ge=1, le=4096)
    #: HNSW candidates per search (ef): recall against speed.
    expansion_search: int = Field(256, ge=1, le=4096)
    #: Save the HNSW index after this many changed documents (and at shutdown).
    save_every: int = Field(100_000, ge=1)
    #: Threads an insertion uses (0: every core).
    threads: int = Field(1, ge=0, le=256)
    #: Log lines kept per document.
    max_log_lines: int = Field(8, ge=0, le=1024)
    #: Blocks with at least this many executed transactions are summarised and embedded in a
    #: child process, off the node's GIL (hashing embedder only); 0: never.
    worker_min: int = Field(64, ge=0)
