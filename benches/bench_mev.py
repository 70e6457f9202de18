"""MEV detection benchmark: the 27 mainnet blocks of mev-inspect-py's fixtures, end to end.

For each block file in `tests/data/mev-inspect/blocks/` (xz-compressed), times the parse
(`load_block`, decompression included) and the inspection (`inspect_block`: classification,
swaps, sandwiches, arbitrages), then prints the totals and each block's milliseconds (`--json`
for one object).
The target is all 27 blocks, parse included, in under 5 seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from report import emit

from monmouth.plugins.mev import inspect_block, load_block

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mev-inspect"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the mev-inspect data")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    paths = sorted((args.data / "blocks").glob("*.json*"))
    if not paths:
        raise SystemExit(f"no block files in {args.data / 'blocks'}")

    per_block: dict[str, float] = {}
    load_total = inspect_total = 0.0
    swaps = sandwiches = arbitrages = 0
    for path in paths:
        start = time.perf_counter()
        block = load_block(path)
        loaded = time.perf_counter()
        result = inspect_block(block)
        done = time.perf_counter()
        load_total += loaded - start
        inspect_total += done - loaded
        per_block[f"{path.name.split('.')[0]}_ms"] = round((done - start) * 1000, 1)
        swaps += len(result.swaps)
        sandwiches += len(result.sandwiches)
        arbitrages += len(result.arbitrages)

    total = load_total + inspect_total
    report: dict[str, object] = {
        "blocks": len(paths),
        "swaps": swaps,
        "sandwiches": sandwiches,
        "arbitrages": arbitrages,
        "load_s": round(load_total, 3),
        "inspect_s": round(inspect_total, 3),
        "total_s": round(total, 3),
        "under_5s": total < 5.0,
        **per_block,
    }
    emit(report, args.json)


if __name__ == "__main__":
    main()
