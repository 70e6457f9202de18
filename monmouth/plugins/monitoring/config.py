"""The `[plugins.monitoring]` table, validated by pydantic (`Plugin.config_model`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monmouth.core.config import OFF, optional_address, parse_address
from monmouth.core.extras import missing_extra

#: Where `/metrics`, `/health`, `/ready` and `/status` are served unless configured otherwise
#: (9464 is the port OpenTelemetry's Prometheus exporters use by convention).
DEFAULT_ADDRESS = "127.0.0.1:9464"
#: The OTLP/HTTP span exporter, from the extra `otlp` (imported only when traces are exported).
OTLP_EXPORTER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"

__all__ = ["DEFAULT_ADDRESS", "Config", "parse_address"]


class Config(BaseModel):
    """The monitoring plugin's own keys (`on_error` and `queue_size` belong to the node)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: HOST:PORT of the HTTP endpoints; "none" serves nothing (metrics are still counted, and
    #: traces still exported). Port 0 takes a free port (tests).
    address: str | None = DEFAULT_ADDRESS
    #: Ready only when the node's head is at most this many blocks behind the L1 head.
    max_lag_blocks: int = Field(8, ge=0)
    #: The SLA: a block is on time when it is committed within this many seconds of reaching
    #: the node (`monmouth_block_latency_seconds`).
    sla_target_seconds: float = Field(1.0, gt=0)
    #: The share of on-time blocks is taken over this many seconds.
    sla_window_seconds: float = Field(300.0, gt=0)
    #: Seconds between looks at the L1 node (source `rpc`: is it reachable, what is its head)
    #: and between SLA samples.
    probe_interval: float = Field(5.0, gt=0, le=300)
    #: Not ready when the data directory's file system has less free space than this.
    min_free_disk_mb: int = Field(100, ge=0)
    #: Publish the state hash of every block whose number is a multiple of this
    #: (`monmouth_state_checkpoint_info`): instances can be compared at one height.
    checkpoint_interval: int = Field(32, ge=1)
    #: OTLP/HTTP collector for traces (`http://HOST:4318`, `/v1/traces` is added); none: off.
    otlp_endpoint: str | None = None
    #: Count rejected transactions by reason. That takes the transaction payloads, which an
    #: executor builds anyway for its stream log (the default); "auto" counts them then only,
    #: so that the node builds nothing more and an analyzer subscribes to no more messages.
    count_reasons: Literal["auto", "on", "off"] = "auto"

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return optional_address(value)

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in OFF:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (OTLP over HTTP)")
        missing = missing_extra("otlp", (OTLP_EXPORTER,), "trace export")
        if missing is not None:
            raise ValueError(missing)
        return value.strip()
