"""The `[plugins.template]` table, validated by pydantic (`Plugin.config_model`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Config(BaseModel):
    """The `[plugins.template]` table (`on_error` and `queue_size` there belong to the node)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Print every Nth block: blocks whose number is a multiple of `every`.
    every: int = Field(1, ge=1)
