"""A second inbox router: batches carried by a contract event instead of calldata to the inbox.

An L1 transaction routes when its receipt status is 1 and one of its logs was emitted by the
configured contract with topic0 = keccak256("SvmTransactions(bytes)"). The log's data is the ABI
encoding of that one `bytes` argument (offset 32, length, content padded to 32 bytes); the content
is a complete inbox message in the batch encoding of docs/protocol.md section 1 (version 0x01, kind
0x00, u16-length-prefixed Solana transactions), and this router returns it for the node to
execute. Because the event is read from the receipt, the contract may be reached directly or
through other contracts: whatever emits the event from the configured address counts.

Decisions (consensus-relevant: every instance must route alike):

* **One message per L1 transaction**: the first matching log, in receipt order, is the message;
  later matching logs of the same transaction are ignored. The node keys messages by
  (block, transaction index), so a transaction carries at most one.
* **Broken ABI framing is rejected, visibly**: when the data is not the canonical encoding of one
  `bytes` value (offset exactly 32, data exactly 64 + the length rounded up to 32 bytes, zero
  padding), the router returns `MALFORMED` (`b"\\x00"`, a message of version 0), which the node
  records as rejected with `unknown_version`. Returning None would hide the event as if it had
  never been emitted; returning the raw data would execute bytes nobody framed.
* **Batches only**: a deposit (kind 0x01) credits lamports for the L1 transaction's `value`, and
  a transaction that reaches the contract through another contract pays its value to that other
  contract, so a deposit on this route could mint lamports for ether nobody locked. The router
  returns `NOT_A_BATCH` (version 0x01, kind 0xff) for it instead, recorded as `unknown_kind`.
  Anything else (another version or kind, a malformed batch) is returned as decoded and the
  node rejects it with the usual reason.

Use it with the built-in inbox router, which stays on for deposits::

    from monmouth.core.plugins import load_plugins
    import event_router

    router = event_router.make("0x5FbDB2315678afecb367f032d93F642f64180aa3")
    pm = load_plugins(settings, extra=[router])

pluggy calls plugins registered later first; the inbox has no code, so a transaction never
matches both routers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils.crypto import keccak
from pydantic import BaseModel

from monmouth.hooks import hookimpl, inbox

if TYPE_CHECKING:
    from monmouth.hooks import L1Block, L1Log, L1Transaction, Settings

#: The event this router listens for.
EVENT_SIGNATURE = "SvmTransactions(bytes)"
#: Its topic0, keccak256 of the signature.
TOPIC0: bytes = keccak(text=EVENT_SIGNATURE)
#: What a log with broken ABI framing routes to: rejected by the node as `unknown_version`.
MALFORMED = b"\x00"
#: What a deposit routes to on this route: rejected by the node as `unknown_kind`.
NOT_A_BATCH = bytes((inbox.VERSION, 0xFF))

_WORD = 32


def decode_bytes_argument(data: bytes) -> bytes | None:
    """The value of a canonical ABI encoding of one `bytes` argument, or None if `data` is not
    one: offset 32, a length word, the content, zero padding to a multiple of 32 bytes."""
    if len(data) < 2 * _WORD or int.from_bytes(data[:_WORD], "big") != _WORD:
        return None
    length = int.from_bytes(data[_WORD : 2 * _WORD], "big")
    padded = -(-length // _WORD) * _WORD
    if len(data) != 2 * _WORD + padded:
        return None
    content = data[2 * _WORD :]
    if any(content[length:]):
        return None
    return bytes(content[:length])


def message_of(log: L1Log) -> bytes:
    """The inbox message a matching log carries, or the rejection the node should record."""
    content = decode_bytes_argument(log.data)
    if content is None:
        return MALFORMED
    if content[:2] == bytes((inbox.VERSION, inbox.KIND_DEPOSIT)):
        return NOT_A_BATCH
    return content


class EventRouterConfig(BaseModel):
    """The `[plugins.NAME]` table of this router: `address = "0x…"`, the emitting contract."""

    address: str


class Plugin:
    """Routes transactions whose receipt holds a `SvmTransactions(bytes)` log from `address`.

    :param settings: the node's settings (unused); None when built outside a node.
    :param address: the 20-byte address of the emitting contract, or the plugin's validated
        `[plugins.NAME]` table (how the node builds it when the plugin is enabled in config).
    """

    config_model = EventRouterConfig

    def __init__(self, settings: Settings | None, address: bytes | EventRouterConfig) -> None:
        if isinstance(address, EventRouterConfig):
            address = _parse_address(address.address)
        if len(address) != 20:
            raise ValueError(f"a contract address is 20 bytes, got {len(address)}")
        self.settings = settings
        self.address = bytes(address)

    def __repr__(self) -> str:
        return f"event_router.Plugin(0x{self.address.hex()})"

    @hookimpl
    def route_transaction(self, tx: L1Transaction, block: L1Block) -> bytes | None:
        if tx.status != 1:
            return None
        for log in tx.logs:
            if log.address == self.address and log.topics and log.topics[0] == TOPIC0:
                return message_of(log)
        return None


def _parse_address(address_hex: str) -> bytes:
    text = address_hex.removeprefix("0x").removeprefix("0X")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"not a hex address: {address_hex!r}") from None


def make(address_hex: str) -> Plugin:
    """A router for the contract at `address_hex` (20 bytes, `0x` prefix optional)."""
    return Plugin(None, _parse_address(address_hex))
