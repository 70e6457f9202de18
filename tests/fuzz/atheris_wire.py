"""A coverage-guided fuzzer (atheris, libFuzzer) for the wire-transaction reader: `_wire.c`
and its Python reference `layout_py` must agree on every input, as in test_wire_fuzz.py, and
neither may crash. Not part of `make test` (atheris is not a dependency, and a run has no end);
docs/operations.md, "Fuzzing", says how to run it:

    .venv/bin/pip install atheris
    .venv/bin/python tests/fuzz/atheris_wire.py -max_total_time=600 -max_len=1300

libFuzzer's options follow (`-runs=N`, `-max_total_time=S`, a corpus folder to keep). Coverage
comes from the Python side (the reference and the inbox decoder, instrumented at import); for
coverage inside `_wire.c` too, rebuild the extension with clang and
`CFLAGS=-fsanitize=fuzzer-no-link` (and `address` with the ASan runtime preloaded).
A mismatch or crash stops the run and leaves the input in `crash-*` to add as an `@example`.
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-not-found, import-untyped, unused-ignore]

with atheris.instrument_imports():
    from monmouth.core import inbox
    from monmouth.rust_svm import wire


def _read(reader: object, raw: bytes) -> object:
    try:
        return reader(raw)  # type: ignore[operator]
    except ValueError:
        return "ValueError"


def test_one_input(data: bytes) -> None:
    c, py = _read(wire.layout, data), _read(wire.layout_py, data)
    if c != py:
        raise AssertionError(f"C and Python disagree on {data.hex()}: {c!r} != {py!r}")
    # The same bytes as a batch of one transaction: the codec never raises.
    if 0 < len(data) <= inbox.MAX_TX_SIZE:
        message = inbox.decode(inbox.encode_batch([data]), 0)
        assert message == inbox.Batch((data,))


def main() -> None:
    if wire.IMPLEMENTATION != "c":
        raise SystemExit("monmouth was installed without _wire.c: nothing to compare")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
