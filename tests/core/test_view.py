"""`Store.read()`: one snapshot per view, and the state as of an older block recovered from the
undo records, checked against nodes that ran the same devnet chain only that far."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import anyio
import clirun
import pytest

from monmouth.app import build_node, make_source
from monmouth.core.config import load_settings
from monmouth.core.errors import DataDirError
from monmouth.core.state import Store

pytestmark = pytest.mark.timeout(120)


def run(data_dir: Path, blocks: int, **store: Any) -> None:
    settings = load_settings(None, data_dir=data_dir, store={"sync": False, **store})
    with build_node(settings) as node:
        anyio.run(functools.partial(node.run, make_source(settings), max_blocks=blocks))


def test_account_at_matches_shorter_runs(tmp_path: Path) -> None:
    run(tmp_path / "long", 7)
    with Store(tmp_path / "long", readonly=True) as store, store.read() as view:
        head = view.head()
        assert head is not None and head.number == 6
        keys = {k for k, _ in store.iter_accounts()}
        for blocks in (1, 3, 6):
            run(tmp_path / str(blocks), blocks)
            with Store(tmp_path / str(blocks), readonly=True) as short:
                expected = dict(short.iter_accounts())
            for key in keys | set(expected):
                assert view.account_at(key, blocks - 1, head.number) == expected.get(key)
            assert dict(view.accounts_at(blocks - 1, head.number)) == expected
        for key in list(keys)[:10]:
            assert view.account_at(key, head.number, head.number) == store.account(key)


def test_a_view_is_one_snapshot(tmp_path: Path) -> None:
    run(tmp_path / "data", 2)
    with Store(tmp_path / "data", readonly=True) as store, store.read() as view:
        before = view.head()
        # Another process commits two more blocks meanwhile.
        clirun.monmouth(
            "run", "--data-dir", str(tmp_path / "data"), "--blocks", "2", timeout=None, code=0
        )
        assert view.head() == before
        assert before is not None and view.block(before.number + 1) is None
        assert view.block_numbers(0, 100, 100) == list(range(before.number + 1))
        assert view.finality() == (None, None)
        with store.read() as fresh:
            head = fresh.head()
            assert head is not None and head.number == before.number + 2


def test_pruned_undo_records_are_an_error(tmp_path: Path) -> None:
    run(tmp_path / "data", 6, retention_blocks=2)
    with Store(tmp_path / "data", readonly=True) as store, store.read() as view:
        head = view.head()
        assert head is not None
        key = next(k for k, _ in store.iter_accounts())
        view.account_at(key, head.number - 2, head.number)  # within retention
        with pytest.raises(DataDirError, match="no longer kept"):
            view.account_at(key, 0, head.number)
