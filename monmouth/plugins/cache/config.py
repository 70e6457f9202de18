"""The `[plugins.cache]` table, validated by pydantic (`Plugin.config_model`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from monmouth.plugins.cache.policy import POLICIES

#: The hot tier's default budget: 2 GiB, a twelfth of a 24 GB machine. At 565 bytes counted
#: per resident token account (`rust_svm.runtime.resident_size`; 553 measured in RSS) that is
#: 3.8 million accounts, and leaves the rest of the memory to LMDB's page cache.
DEFAULT_HOT_BYTES = 2 << 30


def _unbounded(value: object) -> object:
    """ "unbounded" (any case), as TOML and environment overrides spell no bound, is None."""
    if isinstance(value, str) and value.strip().lower() == "unbounded":
        return None
    return value


class Config(BaseModel):
    """The cache plugin's own keys (`on_error` and `queue_size` belong to the node)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Budget of the hot tier (accounts inside the runtime), in bytes as the node counts them
    #: (data plus a measured overhead per account); None ("unbounded"): no bound. 0 keeps only
    #: programs resident between blocks.
    hot_bytes: Annotated[int | None, BeforeValidator(_unbounded)] = Field(DEFAULT_HOT_BYTES, ge=0)
    #: The warm tier (encoded accounts in process memory) is not built: only 0 is accepted
    #: (docs/cache.md, "Tiers").
    warm_bytes: int = Field(0, ge=0, le=0)
    #: The eviction policy, by name (`POLICIES`).
    policy: str = "lru"

    @field_validator("policy")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in POLICIES:
            raise ValueError(f"unknown policy {value!r}; known: {', '.join(sorted(POLICIES))}")
        return value
