"""The `[plugins.rpc]` table, validated by pydantic (`Plugin.config_model`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monmouth.core.config import OFF, optional_address, parse_address

#: Solana's conventional JSON-RPC port, so that clients' defaults (`http://127.0.0.1:8899`, the
#: Solana CLI's `-u localhost`) reach the node.
DEFAULT_ADDRESS = "127.0.0.1:8899"


class Config(BaseModel):
    """The rpc plugin's own keys (`on_error` and `queue_size` belong to the node)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: HOST:PORT of the JSON-RPC endpoint; "none" serves nothing. Port 0 takes a free port
    #: (tests).
    address: str | None = DEFAULT_ADDRESS
    #: The largest request body accepted (Agave's default: 50 KiB); larger ones get HTTP 413.
    max_body_bytes: int = Field(50 * 1024, ge=1024, le=64 << 20)
    #: The most calls in one JSON-RPC batch.
    max_batch: int = Field(1024, ge=1, le=100_000)
    #: Seconds a request may take: to arrive whole (a slow client is cut off with HTTP 408),
    #: and to be answered by the node when it relays (sendTransaction, requestAirdrop).
    request_timeout: float = Field(10.0, gt=0, le=600)
    #: Whether requestAirdrop deposits on a node following an L1 node: each airdrop spends the
    #: relay key's ether (`[relay] key_file`), so it is off there unless allowed. The devnet's
    #: faucet (`monmouth dev`) is always on.
    airdrop: bool = False
    #: The most lamports one requestAirdrop may ask for.
    airdrop_max_lamports: int = Field(10_000 * 10**9, ge=0)

    # PubSub over WebSocket (pubsub.py), served by the same child process.
    #: HOST:PORT of the PubSub WebSocket endpoint; unset: the JSON-RPC port + 1 (8900, as
    #: web3.js derives it; port 0 stays 0, a free port); "none" serves no PubSub.
    pubsub_address: str | None = ""
    #: The most WebSocket connections served at once; more are refused (HTTP 503).
    pubsub_max_connections: int = Field(1000, ge=1, le=100_000)
    #: The most subscriptions one connection may hold; more are refused with an error.
    pubsub_max_subscriptions: int = Field(1000, ge=1, le=1_000_000)
    #: Messages waiting for one slow client before it is disconnected (close code 1008).
    pubsub_max_backlog: int = Field(1024, ge=1, le=1_000_000)
    #: Bytes waiting for one slow client (its backlog and socket buffer) before it is
    #: disconnected (close code 1008): with `pubsub_max_backlog`, a connection's memory bound.
    pubsub_max_backlog_bytes: int = Field(4 << 20, ge=64 * 1024, le=1 << 30)
    #: The largest message a client may send (a subscribe request is small).
    pubsub_max_message_bytes: int = Field(64 * 1024, ge=1024, le=16 << 20)
    #: Seconds between WebSocket pings on a connection; one not answered within the same time
    #: closes it (a dead peer is reaped).
    pubsub_ping_interval: float = Field(20.0, gt=0, le=3600)

    @property
    def pubsub(self) -> str | None:
        """The PubSub HOST:PORT, derived from `address` when not set; None when off."""
        if self.address is None or self.pubsub_address is None:
            return None
        if self.pubsub_address:
            return self.pubsub_address
        host, port = parse_address(self.address)
        shown = f"[{host}]" if ":" in host else host
        return f"{shown}:{port + 1 if port else 0}"

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return optional_address(value)

    @field_validator("pubsub_address")
    @classmethod
    def _pubsub_address(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in OFF[1:]:
            return None
        if value.strip():
            parse_address(value.strip())
        return value.strip()
