"""`write_transaction`, the one LMDB write loop of the node and its plugins: a full map is doubled
and the transaction run again, a map grown by another process is adopted only when asked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb
import pytest

from monmouth.core.state import write_transaction

SMALL = 64 << 10
VALUE = bytes(range(256)) * 16  # 4 KiB, so that a few dozen overflow SMALL


@pytest.fixture
def env(tmp_path: Path) -> Iterator[lmdb.Environment]:
    environment = lmdb.open(str(tmp_path / "env"), map_size=SMALL, sync=False, metasync=False)
    yield environment
    environment.close()


def test_a_full_map_doubles_until_the_whole_transaction_fits(env: lmdb.Environment) -> None:
    runs: list[int] = []

    def body(txn: Any) -> int:
        runs.append(env.info()["map_size"])
        for index in range(200):
            txn.put(index.to_bytes(4, "big"), VALUE)
        return len(runs)

    assert write_transaction(env, body) == len(runs)
    # Each retry ran on twice the map of the one before, from the size it was opened with.
    assert len(runs) > 1
    assert runs == [SMALL << step for step in range(len(runs))]
    assert env.info()["map_size"] == runs[-1]
    with env.begin() as txn:
        assert txn.stat()["entries"] == 200
        assert all(txn.get(index.to_bytes(4, "big")) == VALUE for index in range(200))


def test_an_error_in_the_body_aborts_and_propagates(env: lmdb.Environment) -> None:
    runs = 0

    def body(txn: Any) -> None:
        nonlocal runs
        runs += 1
        txn.put(b"key", b"value")
        raise KeyError("nope")

    with pytest.raises(KeyError, match="nope"):
        write_transaction(env, body)
    assert runs == 1
    with env.begin() as txn:
        assert txn.get(b"key") is None
    assert env.info()["map_size"] == SMALL


def grow_elsewhere(path: Path, size: int) -> None:
    """Another process grows the map of the environment at `path` and writes past the old end."""
    script = textwrap.dedent(
        f"""
        import lmdb
        env = lmdb.open({str(path)!r}, map_size={SMALL})
        env.set_mapsize({size})
        with env.begin(write=True) as txn:
            for index in range(100):
                txn.put(b"other" + index.to_bytes(4, "big"), {VALUE!r})
        env.close()
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_a_map_grown_by_another_writer_is_adopted_when_asked(
    env: lmdb.Environment, tmp_path: Path
) -> None:
    # LMDB reports the resize only once the other writer's pages reach past this process's map.
    grow_elsewhere(tmp_path / "env", SMALL * 16)
    with pytest.raises(lmdb.MapResizedError):
        write_transaction(env, lambda txn: txn.put(b"mine", b"1"))
    write_transaction(env, lambda txn: txn.put(b"mine", b"1"), adopt_resized=True)
    assert env.info()["map_size"] == SMALL * 16
    with env.begin() as txn:
        assert txn.get(b"other" + (99).to_bytes(4, "big")) == VALUE and txn.get(b"mine") == b"1"
