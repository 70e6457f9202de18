"""Types of the C extension `_wire.c`: a Solana wire transaction's layout."""

def layout(
    raw: bytes,
) -> tuple[
    tuple[bytes, ...], tuple[bytes, ...], bytes, tuple[bytes, ...], list[bytes], bool, bytes
]:
    """(signatures, signers, message, keys, writable, lookups, blockhash) of a wire transaction
    the runtime decoded; raises ValueError when the bytes end inside the layout."""
