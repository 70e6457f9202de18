"""Types of the C extension `_lthash.c`: the lattice hash's per-account work."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

def digest(data: Buffer, /) -> bytes:
    """The 2048-byte BLAKE3 extendable output over `data`."""

def account_digest(pubkey: Buffer, raw: Buffer, /) -> bytes:
    """The 2048-byte BLAKE3 output over an encoded account's lattice-hash input."""

def mix(
    lanes: Buffer | npt.NDArray[np.uint16], ins: Sequence[bytes], outs: Sequence[bytes], /
) -> None:
    """Add every hash of `ins` to `lanes` and subtract every one of `outs`, in place."""

def mix_writes(
    lanes: Buffer | npt.NDArray[np.uint16],
    cache: dict[bytes, tuple[bytes, bytes]],
    keys: list[bytes],
    olds: list[bytes | None],
    news: list[bytes | None],
    /,
) -> list[tuple[bytes, bytes | None, bytes | None]]:
    """Mix a block's changed accounts into `lanes` (`monmouth.core.lthash.mix_writes`)."""

def _paths() -> tuple[str, ...]:
    """The names of the SIMD paths this CPU runs, fastest first (tests, benchmarks)."""

def _path() -> str:
    """The name of the path in use."""

def _use(path: str, /) -> str:
    """Use the named path from now on; returns the name of the one in use before."""
