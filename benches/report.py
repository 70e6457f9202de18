"""How the benchmarks print their results: one JSON object for tools, or aligned lines."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """What every figure needs beside it: the CPU (as /proc/cpuinfo names it), the cores, and
    the load average when the run started."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    cpu = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        "unknown",
    )
    return {"cpu": cpu, "cores": os.cpu_count(), "load_before": os.getloadavg()[0]}


def emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}  {value}")
