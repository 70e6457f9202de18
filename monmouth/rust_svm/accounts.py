"""An SVM account's stored layout: the bytes LMDB keeps and the lattice hash reads.

A fixed binary layout, because accounts are the hot path: lamports (u64 LE), rent epoch (u64 LE),
executable (1 byte), owner (32 bytes), then the data. It belongs to the runtime's boundary: the
runtime loads and captures accounts in it, and the state stores it as it is.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: The fixed part of the layout: lamports, rent epoch, executable, owner.
ACCOUNT_HEADER = struct.Struct("<QQ?32s")


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One SVM account as stored (and as the lattice hash sees it)."""

    lamports: int
    owner: bytes
    executable: bool
    rent_epoch: int
    data: bytes

    def encode(self) -> bytes:
        return encode_account_fields(
            self.lamports, self.owner, self.executable, self.rent_epoch, self.data
        )

    @classmethod
    def decode(cls, raw: bytes) -> AccountRecord:
        lamports, rent_epoch, executable, owner = ACCOUNT_HEADER.unpack_from(raw)
        return cls(lamports, owner, executable, rent_epoch, bytes(raw[ACCOUNT_HEADER.size :]))


def encode_account_fields(
    lamports: int, owner: bytes, executable: bool, rent_epoch: int, data: bytes
) -> bytes:
    """`AccountRecord(...).encode()` without building the record (the executor's hot path)."""
    return ACCOUNT_HEADER.pack(lamports, rent_epoch, executable, owner) + data


def account_hash_input(pubkey: bytes, raw: bytes) -> bytes:
    """What the lattice hash covers of an encoded account, read straight from the layout:
    lamports (u64 LE) ‖ data ‖ executable ‖ owner ‖ pubkey (`lthash.account_lthash` is the
    reference definition; a test holds both equal)."""
    return raw[0:8] + raw[49:] + raw[16:17] + raw[17:49] + pubkey
