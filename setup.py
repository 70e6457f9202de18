"""The C extensions of the node's hot paths; everything else about the package is in
pyproject.toml."""

from setuptools import Extension, setup

FLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]

setup(
    ext_modules=[
        # Signature checks on native threads without the GIL (see the file's comment).
        Extension(
            "monmouth.rust_svm._verify",
            sources=["monmouth/rust_svm/_verify.c"],
            extra_compile_args=FLAGS,
        ),
        # A wire transaction's layout, read once per transaction on the main thread.
        Extension(
            "monmouth.rust_svm._wire",
            sources=["monmouth/rust_svm/_wire.c"],
            extra_compile_args=FLAGS,
        ),
        # The rag index's feature hashing, a block of documents at a time in the rag child.
        # No contraction into fused multiply-adds: the vectors' bits are the same on every
        # machine (aarch64 compilers would fuse by default).
        Extension(
            "monmouth.plugins.rag._hashing",
            sources=["monmouth/plugins/rag/_hashing.c"],
            extra_compile_args=[*FLAGS, "-ffp-contract=off"],
        ),
        # The rag index's documents, one per executed transaction in the rag child.
        Extension(
            "monmouth.plugins.rag._summary",
            sources=["monmouth/plugins/rag/_summary.c"],
            extra_compile_args=FLAGS,
        ),
    ]
)
