"""How the benchmarks print their results: one JSON object for tools, or aligned lines."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from monmouth.core.logs import configure_logging

# The benchmarks print their results on stdout (one JSON object with --json); the node's logs
# (structlog prints to stdout until configured) go to stderr, warnings and worse only, as in
# `monmouth bench`.
configure_logging("warning")


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
