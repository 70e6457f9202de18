"""The C extensions of the node's hot path; everything else about the package is in
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
    ]
)
