"""Crash safety: SIGKILL the node at N random moments of a replay and compare with a run that
was never interrupted (docs/operations.md, "Crash safety").

1. `monmouth record` writes the devnet's first `--blocks` canonical blocks to a replay file.
2. `monmouth run --source replay` executes it uninterrupted: the reference, and its wall time T.
3. The same run on a fresh data directory is started again and again, each time SIGKILLed at a
   seeded random moment (`--seed`, `Moments`: a fifth in start-up, the rest while blocks are
   read, executed and committed, spread so that N kills cover the chain), until `--kills`
   kills; then it runs to the end. After each kill the directory must open, and its head block
   (hash and state hash) must be the reference's block of that height: a crash leaves whole
   blocks only.
4. The state hash, head, account and transaction counts (`monmouth status --json`) and the
   event stream's last sequence number (`Store.stream_bounds`) must equal the reference's.

`--json` prints one object; the exit code is 1 when anything differs. Fsync is on (the
default), as in production. No port is opened: the stream is stored, not published.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from report import emit, machine

from monmouth.core.errors import DataDirError
from monmouth.core.node import GROUP_BLOCKS, GROUP_SECONDS
from monmouth.core.state import Store

#: No ports (a developer's node may run beside), and only the plugins the node needs.
ENV = {
    **os.environ,
    "MONMOUTH_STREAM__PUBLISH": "none",
    "MONMOUTH_PLUGINS__MONITORING__ADDRESS": "none",
    "MONMOUTH_PLUGINS__RPC__ADDRESS": "none",
}


def _monmouth(*args: str) -> list[str]:
    return [sys.executable, "-m", "monmouth", *args]


def _check(*args: str) -> str:
    done = subprocess.run(_monmouth(*args), env=ENV, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"monmouth {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _run_args(data: Path, chain: Path) -> list[str]:
    return _monmouth(
        "run", "--data-dir", str(data), "--source", "replay", "--replay-file", str(chain)
    )


def outcome(data: Path) -> dict[str, Any]:
    """What must survive: `monmouth status --json` and the stream's last sequence number."""
    result: dict[str, Any] = json.loads(_check("status", "--json", "--data-dir", str(data)))
    with Store(data, readonly=True) as store:
        result["stream_last_seq"] = store.stream_bounds()[1] - 1
    return result


def reference_run(data: Path, chain: Path) -> tuple[float, float]:
    """Run the replay uninterrupted; (start-up, execution) seconds, from its log lines."""
    started = time.time()
    done = subprocess.run(
        _run_args(data, chain), env=ENV, capture_output=True, text=True, timeout=1800
    )
    ended = time.time()
    if done.returncode:
        raise SystemExit(f"the reference run failed: {done.stderr.strip()}")
    stamps = {}
    for line in done.stderr.splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict) and event.get("event") in ("starting", "stopped"):
                stamps[event["event"]] = datetime.fromisoformat(event["timestamp"]).timestamp()
    if len(stamps) < 2:
        return ended - started, 0.0  # no log lines: every moment counts as start-up
    return stamps["starting"] - started, stamps["stopped"] - stamps["starting"]


def _started(log: Path) -> bool:
    """Whether the node's log says it has started (its store and source are open)."""
    with contextlib.suppress(OSError):
        return '"event": "starting"' in log.read_text()
    return False


def crash_run(
    data: Path,
    chain: Path,
    reference: Path,
    kills: int,
    moments: Moments,
) -> dict[str, Any]:
    """Run the replay on `data`, SIGKILLed `kills` times; each time check the head against the
    reference's block of that height."""
    heads: list[int] = []
    broken: list[str] = []
    killed = restarts = 0
    kinds = dict.fromkeys(("startup", "running", "after_commit"), 0)
    log = data.parent / "crashed.log"
    head = -1
    while True:
        restarts += 1
        with log.open("w") as err:
            proc = subprocess.Popen(
                _run_args(data, chain), env=ENV, stdout=subprocess.DEVNULL, stderr=err
            )
        if killed < kills:
            kind, delay = moments.next(head, kills - killed)
            if kind != "startup":
                # Timed from the node's own start: a loaded machine stretches start-up.
                while proc.poll() is None and not _started(log):
                    time.sleep(0.005)
            if kind == "after_commit":
                while proc.poll() is None and _head(data) <= head:
                    time.sleep(0.01)
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
                kinds[kind] += 1
                head = check_head(data, reference, broken)
                heads.append(head)
                continue
        proc.wait(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"the run after {killed} kills failed: {log.read_text().strip()}")
        break
    return {
        "kills": killed,
        **{f"kills_{kind}": count for kind, count in kinds.items()},
        "restarts": restarts,
        "heads_at_kills": heads,
        "broken": broken,
    }


def _head(data: Path) -> int:
    """The head's number, -1 when there is none yet (or the store is being created)."""
    try:
        with Store(data, readonly=True) as store:
            head = store.head()
    except DataDirError:
        return -1
    return -1 if head is None else head.number


class Moments:
    """The seeded kill moments, of three kinds:

    - `startup`, a fifth: from process start, uniform over the reference's start-up S;
    - `after_commit`: once the node has committed a group beyond the last head (a group is
      up to 256 blocks or half a second while catching up), uniform over the time G of one
      group, so the kill lands while the next group executes or commits;
    - `running`: from the node's "starting" line, uniform over G (reading the replay file up
      to the head, preparing, executing the first group).

    `after_commit` kills are drawn with the chance that spreads N kills over the whole chain:
    the groups left over the kills left.
    """

    def __init__(self, seed: int, startup: float, execution: float, blocks: int):
        self.rng = random.Random(seed)
        self.startup = startup
        self.blocks = blocks
        # A group ends at GROUP_BLOCKS blocks or GROUP_SECONDS (its transactions' bound is
        # met by neither the devnet's nor the bench's blocks sooner).
        self.execution = execution
        self.group = min(execution * min(1.0, GROUP_BLOCKS / max(blocks, 1)), GROUP_SECONDS)
        self.group_blocks = max(1.0, blocks * self.group / execution) if execution else blocks

    def next(self, head: int, kills_left: int) -> tuple[str, float]:
        """(kind, seconds to wait) of the next kill: within a group's time, and within the
        time the blocks after `head` take (a few large groups leave little after a commit)."""
        draw = self.rng.random()
        left = max(self.blocks - 1 - head, 1)
        groups_left = left / self.group_blocks
        window = min(self.group, self.execution * left / max(self.blocks, 1))
        if draw < 0.2:
            return "startup", self.rng.uniform(0, self.startup)
        # After a commit, a kill needs a next group to land in: with fewer than two groups
        # left the run would end first (and a kill that misses ends the crash run).
        if groups_left >= 2 and draw < 0.2 + 0.8 * min(1.0, groups_left / max(kills_left, 1)):
            return "after_commit", self.rng.uniform(0, window)
        return "running", self.rng.uniform(0, window)


def check_head(data: Path, reference: Path, broken: list[str]) -> int:
    """The head after a kill (-1 before the first block), noting in `broken` a head that is not
    the reference's block of its height."""
    if not (data / "data.mdb").is_file():
        return -1  # killed before the store was created
    try:
        with Store(data, readonly=True) as store:
            head = store.head()
    except DataDirError as exc:
        if "no data in" not in str(exc):  # killed before the first write transaction
            broken.append(f"the data directory does not open after a kill: {exc}")
        return -1
    if head is None:
        return -1
    with Store(reference, readonly=True) as ref:
        expected = ref.block(head.number)
    if expected is None or (expected.hash, expected.checksum) != (head.hash, head.checksum):
        broken.append(f"head #{head.number} after a kill is not the reference's block")
    return head.number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs before the last run")
    parser.add_argument("--blocks", type=int, default=1000, help="devnet blocks to replay")
    parser.add_argument("--seed", type=int, default=1, help="seeds the kill moments")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {
        **machine(),
        "blocks": args.blocks,
        "seed": args.seed,
    }
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        work = Path(tmp)
        chain = work / "chain.jsonl"
        _check("record", "--blocks", str(args.blocks), "--out", str(chain))
        reference = work / "reference"
        startup, execution = reference_run(reference, chain)
        expected = outcome(reference)
        moments = Moments(args.seed, startup, execution, args.blocks)
        started = time.perf_counter()
        crashed = crash_run(work / "crashed", chain, reference, args.kills, moments)
        crash_s = time.perf_counter() - started
        got = outcome(work / "crashed")
    heads = crashed.pop("heads_at_kills")
    differs = sorted(k for k in expected if got.get(k) != expected[k])
    result |= {
        "reference_startup_s": round(startup, 2),
        "reference_execution_s": round(execution, 2),
        "group_s": round(moments.group, 3),
        "crash_runs_s": round(crash_s, 1),
        **crashed,
        "kills_before_first_block": sum(1 for h in heads if h < 0),
        "distinct_heads_at_kills": len(set(heads)),
        "head_at_kills_min": min(heads, default=None),
        "head_at_kills_median": statistics.median(heads) if heads else None,
        "head_at_kills_max": max(heads, default=None),
        "reference": expected,
        "differs": differs,
        "identical": not differs and not crashed["broken"],
        "load_after": os.getloadavg()[0],
    }
    emit(result, args.json)
    if not result["identical"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
