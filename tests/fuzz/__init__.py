"""Fuzz tests (a package, so that its conftest.py is `fuzz.conftest` beside tests/conftest.py)."""
