"""The C extensions of the node's hot paths; everything else about the package is in
pyproject.toml.

Every extension is optional: where one cannot be built (no C compiler, no Python headers, a
compiler that fails), the build warns and goes on, and the package uses that hot path's Python
reference instead (the tests hold each to its extension; `monmouth --version` says which runs).
`CC=false pip install .` installs a package without any of them.
"""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

FLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]


class OptionalBuildExt(build_ext):
    """build_ext that skips, with a warning, an extension it cannot compile or link."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # no compiler at all (distutils' CCompilerError, OSError)
            self._skipped("the C extensions", error)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:  # CompileError, LinkError, a missing compiler
            self._skipped(ext.name, error)

    @staticmethod
    def _skipped(what: str, error: BaseException) -> None:
        print(
            f"warning: not building {what} ({type(error).__name__}: {error}); "
            "the pure-Python implementation will be used",
            file=sys.stderr,
        )


setup(
    cmdclass={"build_ext": OptionalBuildExt},
    ext_modules=[
        # Signature checks on native threads without the GIL (see the file's comment).
        Extension(
            "monmouth.rust_svm._verify",
            sources=["monmouth/rust_svm/_verify.c", "monmouth/rust_svm/_ed25519.c"],
            depends=["monmouth/rust_svm/_ed25519.h"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
        # A wire transaction's layout, read once per transaction on the main thread.
        Extension(
            "monmouth.rust_svm._wire",
            sources=["monmouth/rust_svm/_wire.c"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
        # Each key's lamports before and after a transaction, on the main thread
        # (`rust_svm.runtime.SvmRuntime.balances_py` is the reference).
        Extension(
            "monmouth.rust_svm._runtime",
            sources=["monmouth/rust_svm/_runtime.c"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
        # Each written account's lattice hash, and the block's mixing, on the main thread.
        Extension(
            "monmouth.core._lthash",
            sources=["monmouth/core/_lthash.c"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
        # A block's write log for the stream's `writes`, one call per transaction on the main
        # thread (`core.writes.WriteLogPy` is the reference).
        Extension(
            "monmouth.core._writes",
            sources=["monmouth/core/_writes.c"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
        # The stream's `writes` message, one call per block in the publisher's child
        # (`stream.segments.writes_message` is the reference).
        Extension(
            "monmouth.stream._segments",
            sources=["monmouth/stream/_segments.c"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
        # Frames written to a child's pipe on a native thread that never takes the interpreter
        # lock (the store's writer process; `core.pipes.FrameWriterPy` is the reference).
        Extension(
            "monmouth.core._pipes",
            sources=["monmouth/core/_pipes.c"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
        # Each L1 transaction's fields, on the main thread for every block the node follows.
        Extension(
            "monmouth.core._l1",
            sources=["monmouth/core/_l1.c"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
        # The rag index's feature hashing, a block of documents at a time in the rag child.
        # No contraction into fused multiply-adds: the vectors' bits are the same on every
        # machine (aarch64 compilers would fuse by default).
        Extension(
            "monmouth.plugins.rag._hashing",
            sources=["monmouth/plugins/rag/_hashing.c"],
            extra_compile_args=[*FLAGS, "-ffp-contract=off"],
            optional=True,
        ),
        # The rag index's documents, one per executed transaction in the rag child.
        Extension(
            "monmouth.plugins.rag._summary",
            sources=["monmouth/plugins/rag/_summary.c"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
    ],
)
