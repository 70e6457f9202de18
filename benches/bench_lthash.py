"""What an account's lattice hash costs the main thread: `_lthash.account_digest` and
`_lthash.mix_writes` (the C extension `monmouth/core/_lthash.c`).

Reported, in µs, best round of each (the least disturbed by a shared machine's load):

- `digest_49_us`, `digest_214_us`: one `account_digest(pubkey, raw)` of a 49-byte record (a
  system account: no data) and of a 214-byte one (an SPL token account: 165 bytes of data);
- `mix_writes_hit_us`: per account of a block of 100 changed accounts (half of each size
  above) whose old values the digest cache holds (one digest each: the new value's),
  `mix_writes_miss_us` with an empty cache (two digests each);
- `path_<name>_digest_214_us`: `digest_214_us` on each SIMD path this CPU runs
  (`_lthash._paths()`: AVX-512, AVX2, portable; `path` names the one chosen).

With `--against SO`: another build of the extension (e.g. one built from an earlier commit,
copied aside), loaded in the same process, its rows (`against_...`) measured in the same
rounds, alternating with this build's, so that the machine's drift falls on both alike.

    python benches/bench_lthash.py [--rounds R] [--json] [--against path/to/_lthash.so]
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import time
import timeit
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

from report import emit, machine

from monmouth.core import _lthash
from monmouth.rust_svm.accounts import AccountRecord

#: Accounts in the mix_writes block.
ACCOUNTS = 100


def load_other(path: str) -> ModuleType:
    """The extension built at `path`, under another package name (its init function is still
    `PyInit__lthash`: the name must end in `_lthash`)."""
    loader = importlib.machinery.ExtensionFileLoader("against._lthash", path)
    spec = importlib.util.spec_from_file_location("against._lthash", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def record(seed: int, data_len: int) -> bytes:
    """An encoded account: `seed` lamports, `data_len` bytes of data."""
    return AccountRecord(seed + 1, bytes([seed % 256]) * 32, False, 0, bytes(data_len)).encode()


def per_call_us(call: Callable[[], object], number: int) -> float:
    return timeit.timeit(call, number=number) / number * 1e6


def measure(module: Any, number: int) -> dict[str, float]:
    """One round of every row for one build."""
    key = bytes(range(32))
    small, large = record(4, 0), record(5, 165)
    rows = {
        "digest_49_us": per_call_us(partial(module.account_digest, key, small), number),
        "digest_214_us": per_call_us(partial(module.account_digest, key, large), number),
    }
    keys = [bytes([i % 256, i // 256]) * 16 for i in range(ACCOUNTS)]
    olds = [record(i, 165 if i % 2 else 0) for i in range(ACCOUNTS)]
    news = [record(i + 1, 165 if i % 2 else 0) for i in range(ACCOUNTS)]
    digests = [module.account_digest(k, o) for k, o in zip(keys, olds, strict=True)]
    lanes = bytearray(2048)
    blocks = max(1, number // ACCOUNTS)

    def per_account_us(cached: bool) -> float:
        # Each block gets a fresh cache (the call changes it), made outside the timed call.
        spent = 0.0
        for _ in range(blocks):
            cache = dict(zip(keys, zip(olds, digests, strict=True), strict=True)) if cached else {}
            start = time.perf_counter()
            module.mix_writes(lanes, cache, keys, olds, news)
            spent += time.perf_counter() - start
        return spent / blocks / ACCOUNTS * 1e6

    rows["mix_writes_hit_us"] = per_account_us(True)
    rows["mix_writes_miss_us"] = per_account_us(False)
    if hasattr(module, "_use"):
        for name in module._paths():
            previous = module._use(name)
            try:
                rows[f"path_{name}_digest_214_us"] = per_call_us(
                    partial(module.account_digest, key, large), number
                )
            finally:
                module._use(previous)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=20_000, help="calls per round and row")
    parser.add_argument("--against", help="another build of _lthash (.so) to alternate with")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = machine()
    builds: list[tuple[str, Any]] = [("", _lthash)]
    if args.against:
        builds.append(("against_", load_other(args.against)))
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for prefix, module in builds:
            for name, value in measure(module, args.number).items():
                best[prefix + name] = min(value, best.get(prefix + name, value))
    result["path"] = _lthash._path()
    result.update({name: round(value, 3) for name, value in sorted(best.items())})
    emit(result, args.json)


if __name__ == "__main__":
    main()
