"""Signature checks in the workers agree with the runtime's own (ed25519-dalek verify_strict)."""

from __future__ import annotations

import msgspec
import pytest
from chainbuilder import keypair
from nacl._sodium import ffi, lib
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.rust_svm import sigverify
from monmouth.rust_svm.sigverify import (
    CHUNK,
    SignatureVerifier,
    SignedMessage,
)

PYNACL = int(ffi.cast("uintptr_t", ffi.addressof(lib, "crypto_sign_open")))

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


def verify_one(item: SignedMessage) -> bool:
    """The verdict of one transaction, checked alone on the native threads."""
    verifier = SignatureVerifier(workers=1)
    try:
        return next(verifier.verify([item]))
    finally:
        verifier.close()


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


#: The ed25519 edge cases of "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko, 2020),
#: from novifinancial/ed25519-speccheck `cases.json`: small-order keys and R, mixed-order keys,
#: non-canonical S and R, S = L-ish values. (message, public key, signature), hex.
SPECCHECK = [
    (
        "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
        "0000000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43"
        "a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
    ),
    (
        "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"
        "8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
    ),
    (
        "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f"
        "87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
    ),
    (
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512"
        "5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
    ),
    (
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7"
        "e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
    ),
    (
        "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e"
        "547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
    ),
    (
        "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa1942"
        "7e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
    ),
    (
        "fdaebc429f4a735932a160da1301080c13280eea8bc280d1b392c6b9e6ba3a5a",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
        "454d370c8d9fc323a41450f8d513eafeb5b0697390c1e505a0d4ddc71f566607",
    ),
    (
        "84b698d39be126ff55fe45079e6c8bf64a0d7db6994560b4e96b7021eb39c1a1",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
        "084d5b99c2a9463d9c8bd5026916996984eeec87ddf1d3be329006ace1b37b09",
    ),
]


@pytest.mark.parametrize("case", range(len(SPECCHECK)))
def test_speccheck_vectors_match_the_runtime(case: int) -> None:
    message, key, signature = (bytes.fromhex(h) for h in SPECCHECK[case])
    item = SignedMessage((signature,), (key,), message)
    assert verify_one(item) == runtime_verdict(item)
    # The pool (libsodium in the workers) gives the same verdict as one call.
    verifier = SignatureVerifier(workers=2)
    try:
        assert list(verifier.verify([item] * (CHUNK + 1))) == [runtime_verdict(item)] * (CHUNK + 1)
    finally:
        verifier.close()


def test_the_start_up_choice_is_the_cheapest_measured_candidate() -> None:
    choice = sigverify.choose()
    candidates = sigverify._candidates()
    assert msgspec.structs.replace(choice, costs={}) in candidates
    # PyNaCl's copy (1.0.18 or later) has the two functions the table checks hash with.
    assert all(c.sha512 and c.reduce for c in candidates if c.address == PYNACL)
    if len(candidates) > 1:
        assert set(choice.costs) == {c.library for c in candidates}
        assert choice.costs[choice.library] == min(choice.costs.values())
        assert all(value > 0 for value in choice.costs.values())


def test_the_choice_follows_the_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whichever copy measures cheaper is used (here PyNaCl's, made to look cheaper), and it
    checks signatures like the other."""
    # The system's copy itself, not `sign_open()`: that is whichever measured cheaper at
    # start-up, PyNaCl's on some runs, and the two candidates were then one.
    found = sigverify._candidates()
    system = [c for c in found if c.address != PYNACL]
    if not system:
        pytest.skip("no system libsodium: PyNaCl's is the only candidate")
    pynacl = next(c for c in found if c.address == PYNACL)
    candidates = [
        msgspec.structs.replace(system[0], library="the system's"),
        msgspec.structs.replace(pynacl, library="PyNaCl's"),
    ]
    monkeypatch.setattr(sigverify, "_candidates", lambda: candidates)
    real_cost = sigverify._cost
    monkeypatch.setattr(
        sigverify,
        "_cost",
        lambda address, signed, public: (
            real_cost(address, signed, public) * (0.01 if address == PYNACL else 1)
        ),
    )
    sigverify.choose.cache_clear()
    try:
        choice = sigverify.choose()
        assert (choice.address, choice.library) == (PYNACL, "PyNaCl's")
        assert choice.costs["PyNaCl's"] < choice.costs["the system's"]
    finally:
        sigverify.choose.cache_clear()


def test_tables_turned_off_are_reported_at_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool whose table checks found themselves wrong (`tables_wrong`, never seen: the C
    code turns them off) makes the verifier say so when it closes. The pool is a stand-in:
    only the report is under test."""
    from structlog.testing import capture_logs

    class WrongTables:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def close(self) -> None:
            pass

        def stats(self) -> dict[str, int]:
            return {
                "table_accepted": 5,
                "table_rejected": 1,
                "tables_built": 1,
                "tables_wrong": 1,
                "keys": 4096,
            }

    monkeypatch.setattr(sigverify, "Pool", WrongTables)
    verifier = SignatureVerifier(workers=1)
    with capture_logs() as logs:
        verifier.close()
        verifier.close()  # once only
    assert [e["event"] for e in logs] == ["ed25519 table checks were turned off"]
    assert logs[0]["tables_wrong"] == 1 and verifier.stats()["tables_wrong"] == 1
