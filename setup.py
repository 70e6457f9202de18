"""The one C extension; everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        # Signature checks on native threads without the GIL (see the file's comment).
        Extension(
            "monmouth.rust_svm._verify",
            sources=["monmouth/rust_svm/_verify.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
        )
    ]
)
