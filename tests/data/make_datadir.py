"""Make tests/data/datadir-v2.tar.xz: a small data directory of schema 2, today's format, that
tests/test_datadir_format.py opens forever after (docs/operations.md, "Upgrades").

How it was made (run from the repository root; a few seconds):

    .venv/bin/python tests/data/make_datadir.py

1. `monmouth record --blocks 40` writes the devnet's first 40 canonical blocks (settings:
   tests/data/datadir-v2.toml: the mixed workload, reorgs with probability 0.3, safe and
   finalized heights) to `chain.jsonl`.
2. `monmouth run --blocks K` runs the same devnet, reorgs and all, into `data/`, for the first
   K >= 20 whose head is a block of `chain.jsonl`, so that the test can continue the directory
   with `--source replay` and compare it with a fresh run of the whole file.
3. The directory is copied compacted (LMDB's `mdb_copy -c`), and `data/` and `chain.jsonl` are
   packed with xz; `datadir-v2.json` beside it records what `monmouth status --json` and the
   store said of it then.

Never regenerate it for a new schema: keep this one (a migration must open it, or the refusal
must say what to do) and add a `datadir-vN` beside it.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import lmdb

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/, for the one CLI runner
import clirun

HERE = Path(__file__).parent
CONFIG = HERE / "datadir-v2.toml"
RECORDED = 40
MIN_COMMITS = 20


def _monmouth(*args: str) -> str:
    """`monmouth ARGS` to its end, with no `MONMOUTH_` setting of ours (the settings are the
    config file's); its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONMOUTH_")}
    return clirun.monmouth(*args, env=env, timeout=None, code=0).stdout


def main() -> None:
    from monmouth import __version__
    from monmouth.core.records import SCHEMA_VERSION
    from monmouth.core.state import Store

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        chain = work / "chain.jsonl"
        _monmouth("record", "--config", str(CONFIG), "--blocks", str(RECORDED), "--out", str(chain))
        canonical = {json.loads(line)["hash"] for line in chain.read_text().splitlines()}
        for commits in range(MIN_COMMITS, RECORDED):
            data = work / f"run-{commits}"
            _monmouth(
                "run", "--config", str(CONFIG), "--data-dir", str(data), "--blocks", str(commits)
            )
            status = json.loads(_monmouth("status", "--json", "--data-dir", str(data)))
            if status["head_hash"] in canonical:
                break
        else:
            raise SystemExit("no head of the devnet run is in the recorded chain")
        packed = work / "data"
        packed.mkdir()
        env = lmdb.open(str(data), readonly=True, max_dbs=32, lock=False)
        env.copy(str(packed), compact=True)
        env.close()
        with Store(packed, readonly=True) as store:
            first_seq, next_seq, first_height = store.stream_bounds()
            safe, finalized = store.finality()
            facts: dict[str, Any] = {
                "made_by": "tests/data/make_datadir.py",
                "monmouth_version": __version__,
                "schema": SCHEMA_VERSION,
                "config": CONFIG.name,
                "commits": commits,
                "recorded_blocks": RECORDED,
                "status": status,
                "stream": {
                    "first_seq": first_seq,
                    "next_seq": next_seq,
                    "first_height": first_height,
                },
                "finality": {"safe": safe, "finalized": finalized},
                "first_block": store.first_block(),
            }
        out = HERE / "datadir-v2.tar.xz"
        with tarfile.open(out, "w:xz", preset=9) as tar:
            tar.add(packed / "data.mdb", arcname="data/data.mdb")
            tar.add(chain, arcname="chain.jsonl")
        (HERE / "datadir-v2.json").write_text(json.dumps(facts, indent=2) + "\n")
        print(f"wrote {out} ({out.stat().st_size} bytes): {commits} commits, head {status}")


if __name__ == "__main__":
    main()
