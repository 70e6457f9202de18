"""Base58, as Solana writes keys, hashes and signatures.

The `base58` package is pure Python: 8.7 µs for a 32-byte value, measured on this machine kind,
against 0.4 µs through solders' `Hash` (Rust). The node writes one per block at least (the
state hash of each `BlockInfo`), and the rpc plugin one per key it answers with, so 32-byte
values, by far the most common, go through solders wherever it is loaded already. Read-only
commands (`monmouth status`) do not load it (0.2 s of start-up) to print one hash.
"""

from __future__ import annotations

import sys

import base58

_HASH_BYTES = 32


def encode(raw: bytes) -> str:
    """`raw` in base58 (Bitcoin's alphabet, leading zero bytes as `1`s)."""
    if len(raw) == _HASH_BYTES:
        solders_hash = sys.modules.get("solders.hash")
        if solders_hash is not None:
            return str(solders_hash.Hash(raw))
    return base58.b58encode(raw).decode()


class KeyNames:
    """Base58 names of 32-byte keys (public keys) seen lately, in a dict bounded at `size`
    entries (cleared when full): keys recur from block to block (users, programs, sysvars),
    and naming one costs more than looking it up. Call it with the key's bytes."""

    __slots__ = ("_pubkey", "names", "size")

    def __init__(self, size: int) -> None:
        # Imported here: only modules that hold the runtime's keys make one, and they have
        # solders loaded already (the module itself stays free of it, see above).
        from solders.pubkey import Pubkey

        self._pubkey = Pubkey.from_bytes
        #: key bytes -> base58: what a caller (or a C extension) may look up directly.
        self.names: dict[bytes, str] = {}
        self.size = size

    def __call__(self, raw: bytes) -> str:
        names = self.names
        name = names.get(raw)
        if name is None:
            if len(names) >= self.size:
                names.clear()
            name = names[raw] = str(self._pubkey(raw))
        return name
