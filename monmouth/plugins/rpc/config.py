"""The `[plugins.rpc]` table, validated by pydantic (`Plugin.config_model`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monmouth.core.config import parse_address

#: Solana's conventional JSON-RPC port, so that clients' defaults (`http://127.0.0.1:8899`, the
#: Solana CLI's `-u localhost`) reach the node.
DEFAULT_ADDRESS = "127.0.0.1:8899"
_OFF = ("", "none", "off")


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

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in _OFF:
            return None
        parse_address(value.strip())
        return value.strip()
