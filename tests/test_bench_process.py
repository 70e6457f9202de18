"""benches/bench_process.py: its /proc accounting on real threads and processes, and a short
run of the whole comparison (`monmouth run` with its children and a subscriber, against the
bench's node)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import clirun
import pytest

BENCHES = Path(__file__).resolve().parents[1] / "benches"


@pytest.fixture(scope="module")
def bench_process() -> ModuleType:
    sys.path.insert(0, str(BENCHES))
    try:
        return importlib.import_module("bench_process")
    finally:
        sys.path.remove(str(BENCHES))


def _burn(seconds: float, release: threading.Event) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    release.wait(60)  # alive until read: /proc forgets an ended thread


def test_cpu_is_told_by_thread_and_child(bench_process: ModuleType) -> None:
    """A thread's CPU counts under its name, a child process's under `child`, the machine's
    busy time under `machine`."""
    release = threading.Event()
    burner = threading.Thread(target=_burn, args=(0.3, release), name="burner-7")
    script = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    script += "\ntime.sleep(60)"

    def names() -> dict[int, str]:
        return {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}

    before = bench_process.snapshot(os.getpid(), names=names())
    child = subprocess.Popen([sys.executable, "-c", script])
    burner.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            now = bench_process.snapshot(os.getpid(), names=names())
            cpu = bench_process.cpu_between(before, now)
            if cpu.get("burner", 0.0) >= 0.29 and cpu.get("child", 0.0) >= 0.29:
                break
            time.sleep(0.05)
    finally:
        release.set()
        child.kill()
        child.wait()
        burner.join()
    # "-7" dropped: threads of one kind count together.
    assert 0.29 <= cpu["burner"] < 1
    assert cpu["child"] >= 0.29
    assert cpu["machine"] >= cpu["burner"]
    # The process's first thread (pytest runs tests there) only polled meanwhile.
    assert cpu.get("main", 0.0) < 0.25


@pytest.mark.slow
def test_the_process_bench_runs(tmp_path: Path) -> None:
    proc = clirun.python(
        *(str(BENCHES / "bench_process.py"), "--txs", "3000", "--per-block", "500"),
        *("--rounds", "1", "--subscribers", "0,1", "--json"),
        timeout=600,
        code=0,
    )
    result = json.loads(proc.stdout)
    for name in ("bench", "run_0", "run_1"):
        assert result[f"{name}_tps"][0] > 0
        (cpu,) = result[f"{name}_cpu_us_per_tx"]
        assert cpu["main"] > 0 and cpu["checks"] > 0
        # Each figure is rounded to 0.01 µs on its own.
        assert cpu["total"] >= cpu["main"] + cpu["checks"] - 0.02
    for name in ("run_0", "run_1"):
        (cpu,) = result[f"{name}_cpu_us_per_tx"]
        # The whole life (imports, three interpreters starting) costs more than the window.
        assert cpu["life_total"] > cpu["total"]
        # `monmouth run`'s own threads, named through the launcher.
        assert "plugin-monitori" in cpu["threads_by_name"]
    assert result["run_1_ratio"][0] > 0
    # The bench's CPU per transaction over the run's, subscribers included.
    (bench,) = result["bench_cpu_us_per_tx"]
    (run_1,) = result["run_1_cpu_us_per_tx"]
    assert abs(result["run_1_cpu_ratio"][0] - bench["total"] / run_1["total"]) < 0.02
