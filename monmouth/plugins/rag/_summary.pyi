"""Types of the C extension `_summary.c`: one executed transaction's document."""

from collections.abc import Callable
from typing import Any

from monmouth.plugins.rag.documents import Document

def configure(
    log_facts: Callable[..., Any],
    log_cache: dict[Any, Any],
    error_text: Callable[..., Any],
    encode_key: Callable[[bytes], str],
    key_cache: dict[bytes, str],
    signature: Callable[[bytes], object],
    kinds_text: Callable[..., Any],
    kinds_cache: dict[Any, Any],
    program_words: Callable[..., Any],
    program_words_cache: dict[Any, Any],
    words: Callable[[str], list[str]],
    program_names: dict[str, str],
    document: type,
    movement: type,
    /,
) -> None:
    """The Python helpers and types `summarize` uses (documents.py passes them once)."""

def summarize(
    doc_id: int,
    tx: Any,
    slot: int,
    block_hash: bytes,
    changes: Any,
    max_log_lines: int,
    /,
) -> tuple[Document, list[str]] | None:
    """(Document, words) of an executed transaction, as `documents.summarize_changes_py`
    defines them; None when the Python definition must make this one."""
