"""Signature checks in the workers agree with the runtime's own (ed25519-dalek verify_strict)."""

from __future__ import annotations

import pytest
from chainbuilder import keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.rust_svm.sigverify import (
    CHUNK,
    SignatureVerifier,
    SignedMessage,
    split_wire,
    verify_one,
)

#: The group order L of ed25519, little-endian scalars.
L = 2**252 + 27742317777372353535851937790883648493
#: The encoding of the identity point (small order) and of a point of order 2.
IDENTITY = (1).to_bytes(32, "little")
ORDER_2 = ((2**255 - 19) - 1).to_bytes(32, "little")


def runtime_verdict(item: SignedMessage) -> bool:
    return all(
        Signature(sig).verify(Pubkey(pk), item.message)
        for sig, pk in zip(item.signatures, item.signers, strict=True)
    )


def cases() -> list[tuple[str, SignedMessage]]:
    key, other = keypair(1), keypair(2)
    msg = b"a solana message"
    good = bytes(key.sign_message(msg))
    r, s = good[:32], int.from_bytes(good[32:], "little")
    pk = bytes(key.pubkey())
    out = [
        ("valid", SignedMessage((good,), (pk,), msg)),
        ("other message", SignedMessage((good,), (pk,), msg + b"!")),
        ("other signer", SignedMessage((good,), (bytes(other.pubkey()),), msg)),
        ("flipped R", SignedMessage((bytes([good[0] ^ 1]) + good[1:],), (pk,), msg)),
        # Malleability: S + L verifies under a lax check, never under a strict one.
        ("non-canonical S", SignedMessage((r + (s + L).to_bytes(32, "little"),), (pk,), msg)),
        ("small-order key", SignedMessage((IDENTITY + bytes(32),), (IDENTITY,), msg)),
        ("order-2 key", SignedMessage((IDENTITY + bytes(32),), (ORDER_2,), msg)),
        ("small-order R", SignedMessage((IDENTITY + good[32:],), (pk,), msg)),
        ("all zero", SignedMessage((bytes(64),), (bytes(32),), msg)),
        (
            "two signers",
            SignedMessage((good, bytes(other.sign_message(msg))), (pk, bytes(other.pubkey())), msg),
        ),
        ("one of two bad", SignedMessage((good, good), (pk, bytes(other.pubkey())), msg)),
    ]
    return out


@pytest.mark.parametrize(("name", "item"), cases(), ids=[n for n, _ in cases()])
def test_same_verdict_as_the_runtime(name: str, item: SignedMessage) -> None:
    assert verify_one(item) == runtime_verdict(item)
    assert verify_one(item) == (name in ("valid", "two signers"))


def test_pool_keeps_order_over_many_chunks() -> None:
    items = [item for _, item in cases()] * (3 * CHUNK // len(cases()) + 1)
    verifier = SignatureVerifier(workers=2)
    try:
        assert list(verifier.verify(items)) == [runtime_verdict(i) for i in items]
    finally:
        verifier.close()


def test_split_wire() -> None:
    assert split_wire(b"\x01" + bytes(64) + b"msg") == (1, 65)
    assert split_wire(b"\x80\x01") == (128, 2 + 64 * 128)
    with pytest.raises(ValueError, match="ends inside"):
        split_wire(b"")
