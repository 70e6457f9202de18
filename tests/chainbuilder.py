"""Building L1 blocks by hand for tests: deposits, batches, signed Solana transfers."""

from __future__ import annotations

import hashlib

from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from monmouth.core import inbox
from monmouth.core.l1 import L1Block, L1Transaction

INBOX = inbox.DEFAULT_INBOX_ADDRESS
SENDER = bytes.fromhex("00000000000000000000000000000000000000aa")


def keypair(n: int) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(f"test-key-{n}".encode()).digest())


def sol_transfer(payer: Keypair, to: Pubkey, lamports: int, blockhash: bytes) -> bytes:
    """A signed system transfer, as wire bytes."""
    msg = Message.new_with_blockhash(
        [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))],
        payer.pubkey(),
        Hash(blockhash),
    )
    return bytes(VersionedTransaction(msg, [payer]))


class ChainBuilder:
    """Makes a linked chain of L1 blocks; each call to `block` appends one."""

    def __init__(self, salt: bytes = b"") -> None:
        self.blocks: list[L1Block] = []
        self.salt = salt

    def _hash(self, *parts: bytes) -> bytes:
        return hashlib.sha256(self.salt + b"".join(parts)).digest()

    def l1tx(
        self, index: int, data: bytes, *, value: int = 0, to: bytes | None = INBOX, status: int = 1
    ) -> L1Transaction:
        number = len(self.blocks)
        return L1Transaction(
            hash=self._hash(b"tx", number.to_bytes(8, "big"), index.to_bytes(4, "big"), data),
            index=index,
            sender=SENDER,
            to=to,
            value=value,
            input=data,
            status=status,
        )

    def block(self, *txs: L1Transaction) -> L1Block:
        number = len(self.blocks)
        parent = self.blocks[-1].hash if self.blocks else bytes(32)
        block = L1Block(
            number=number,
            hash=self._hash(b"block", number.to_bytes(8, "big"), parent, *(t.hash for t in txs)),
            parent_hash=parent,
            timestamp=1_700_000_000 + 12 * number,
            transactions=tuple(txs),
        )
        self.blocks.append(block)
        return block

    @property
    def tip_hash(self) -> bytes:
        return self.blocks[-1].hash

    def deposit(self, index: int, to: Pubkey, lamports: int) -> L1Transaction:
        return self.l1tx(index, inbox.encode_deposit(bytes(to)), value=lamports * 10**9)

    def batch(self, index: int, *txs: bytes) -> L1Transaction:
        return self.l1tx(index, inbox.encode_batch(list(txs)))
