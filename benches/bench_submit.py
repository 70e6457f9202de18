"""What handing signatures to the native checking threads costs the thread that hands them over
(`_verify.Pool.submit`, then `Job.wait`): in the node, the main thread, once per block of up to
`sigverify.CHUNK` transactions.

Jobs of 1 to 50 signatures by 64 keys (tables on, as the node runs them), each waited for at
once, so that the threads sleep between jobs and every submit has to wake one. Reported: the
calling thread's CPU microseconds per submit and per submit + wait (median of `--rounds`).
With `--against PATH`, another build of the extension (say the previous commit's
`_verify.*.so`, copied aside) runs too, its rounds alternated with this build's in one process
so that a busy moment on a shared machine does not fall on one of them only; both must give
the same verdicts.

    python benches/bench_submit.py [--jobs N] [--rounds N] [--against PATH] [--json]
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import random
import statistics
import time
from types import ModuleType

from nacl.signing import SigningKey

from monmouth.rust_svm import _verify
from monmouth.rust_svm.sigverify import TABLE_KEYS, choose

Jobs = list[tuple[list[bytes], list[bytes], list[bytes]]]


def _load(path: str) -> ModuleType:
    """Another build of `_verify`, loaded beside this one (its init function has the same name,
    so it is loaded under the same module name, not registered in `sys.modules`)."""
    name = "monmouth.rust_svm._verify"
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _jobs(count: int) -> Jobs:
    rng = random.Random(5)
    keys = [SigningKey(bytes([k]) * 32) for k in range(64)]
    signed = []
    for i in range(400):
        key = keys[i % len(keys)]
        msg = f"message {i} ".encode() * 16
        signed.append((key.sign(msg).signature, bytes(key.verify_key), msg))
    jobs: Jobs = []
    for _ in range(count):
        n = rng.randint(1, 50)
        at = rng.randrange(len(signed) - n)
        part = signed[at : at + n]
        jobs.append(([p[0] for p in part], [p[1] for p in part], [p[2] for p in part]))
    return jobs


def _round(module: ModuleType, jobs: Jobs) -> tuple[float, float, list[bytes]]:
    """Seconds of this thread's CPU in submits, in submits and waits, and the verdicts."""
    c = choose()
    pool = module.Pool(c.address, 2, sha512=c.sha512, reduce=c.reduce, keys=TABLE_KEYS)
    try:
        verdicts = []
        submitting = 0.0
        start = time.thread_time()
        for sigs, keys, msgs in jobs:
            before = time.thread_time()
            job = pool.submit(sigs, keys, msgs)
            submitting += time.thread_time() - before
            verdicts.append(job.wait())
        return submitting, time.thread_time() - start, verdicts
    finally:
        pool.close()


def main() -> None:
    """Measure and print the rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", help="another build of _verify (a .so) to compare")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    jobs = _jobs(args.jobs)
    builds = {"this": _verify} | ({"against": _load(args.against)} if args.against else {})
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in builds}
    reference: list[bytes] | None = None
    for r in range(args.rounds):
        order = list(builds.items())
        for name, module in order if r % 2 == 0 else order[::-1]:
            submitting, total, verdicts = _round(module, jobs)
            reference = reference or verdicts
            if verdicts != reference:
                raise SystemExit(f"{name}: the verdicts differ")
            times[name].append((submitting, total))
    rows: dict[str, float] = {}
    for name, measured in times.items():
        rows[f"{name}_submit_us"] = statistics.median(s for s, _ in measured) / args.jobs * 1e6
        rows[f"{name}_submit_wait_us"] = statistics.median(t for _, t in measured) / args.jobs * 1e6
    rows = {k: round(v, 2) for k, v in rows.items()}
    if args.json:
        print(json.dumps(rows))
    else:
        for key, value in rows.items():
            print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
