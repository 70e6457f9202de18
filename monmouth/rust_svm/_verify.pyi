"""Types of the C extension `_verify.c`: Ed25519 checks on native threads without the GIL."""

from collections.abc import Sequence

class Job:
    """Signatures submitted to a `Pool`, checked in its threads."""

    def wait(self) -> bytes:
        """Block (without the GIL) until every signature is checked; one byte per signature,
        1 where libsodium accepted it."""

class Pool:
    """Native threads checking signatures with the `crypto_sign_open` at `address`."""

    def __init__(self, address: int, threads: int, nice: int = 0) -> None: ...
    def submit(
        self, signatures: Sequence[bytes], keys: Sequence[bytes], messages: Sequence[bytes]
    ) -> Job:
        """Queue one check per signature (64 bytes) of its message by its key (32 bytes)."""
    def close(self) -> None:
        """Finish the queued work and stop the threads. Idempotent."""
