"""A node for the monitoring tests, in a process of its own (the SDK's providers are global to a
process, and a fresh process counts from zero).

    python monitoring_node.py DATA_DIR BLOCKS

Follows the source the environment configures (`MONMOUTH_...`, the devnet by default) until
BLOCKS blocks are committed, prints the run's counters as one JSON line, then keeps the node
open, its monitoring endpoints included, until its standard input closes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from pathlib import Path

import anyio

from monmouth.app import build_node, make_source
from monmouth.core.config import load_settings
from monmouth.core.logs import configure_logging


def main() -> None:
    data_dir, blocks = Path(sys.argv[1]), int(sys.argv[2])
    settings = load_settings(None, data_dir=data_dir, store={"sync": False})
    configure_logging("info", json=True)
    with build_node(settings) as node:
        anyio.run(functools.partial(node.run, make_source(settings), max_blocks=blocks))
        stats = dataclasses.asdict(node.stats)
        print(json.dumps({k: v for k, v in stats.items() if isinstance(v, int)}), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
