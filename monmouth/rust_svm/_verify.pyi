"""Types of the C extension `_verify.c`: Ed25519 checks on native threads without the GIL."""

from collections.abc import Sequence

class Job:
    """Signatures submitted to a `Pool`, checked in its threads."""

    def wait(self) -> bytes:
        """Block (without the GIL) until every signature is checked; one byte per signature,
        1 where libsodium accepted it."""

class Pool:
    """Native threads checking signatures with the `crypto_sign_open` at `address`."""

    def __init__(
        self,
        address: int,
        threads: int,
        nice: int = 0,
        *,
        sha512: int = 0,
        reduce: int = 0,
        keys: int = 0,
    ) -> None:
        """With `keys` > 0, the threads keep tables of multiples for up to `keys` keys that
        signed before, and check their signatures from them (`_ed25519.h`), hashing with
        the `crypto_hash_sha512` and `crypto_core_ed25519_scalar_reduce` at `sha512` and
        `reduce`."""
    def submit(
        self, signatures: Sequence[bytes], keys: Sequence[bytes], messages: Sequence[bytes]
    ) -> Job:
        """Queue one check per signature (64 bytes) of its message by its key (32 bytes)."""
    def stats(self) -> dict[str, int]:
        """What the table checks did: `table_accepted`, `table_rejected` (libsodium's check
        then decided), `tables_built`, `tables_wrong` (a table that refused a signature
        libsodium accepted, which turns the table checks off) and `keys` (0: off)."""
    def close(self) -> None:
        """Finish the queued work and stop the threads. Idempotent."""
