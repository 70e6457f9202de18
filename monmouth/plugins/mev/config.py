"""The `[plugins.mev]` table, validated by pydantic (`Plugin.config_model`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monmouth.plugins.mev.svm import SvmDetectorConfig

__all__ = ["Config"]

_DEFAULTS = SvmDetectorConfig()


class Config(BaseModel):
    """`[plugins.mev]`: what to run, what to publish, how long to keep, the SVM thresholds.

    The SVM detector's keys (`spam_min` ... `ignored_accounts`) are `SvmDetectorConfig`'s, with
    its defaults (see `monmouth/plugins/mev/svm.py`).
    """

    model_config = ConfigDict(extra="forbid")

    #: Run the Ethereum side (and so ask the source for call traces).
    ethereum: bool = True
    #: Run the SVM side.
    svm: bool = True
    #: Also publish every swap (key `swap`), not only sandwiches and arbitrages.
    publish_swaps: bool = False
    #: Keep the records of this many most recent blocks (0: keep all).
    keep_blocks: int = Field(0, ge=0)
    spam_min: int = _DEFAULTS.spam_min
    replay_window: int = _DEFAULTS.replay_window
    revert_depth: int = _DEFAULTS.revert_depth
    cu_k: float = _DEFAULTS.cu_k
    cu_min_samples: int = _DEFAULTS.cu_min_samples
    cu_std_floor: float = _DEFAULTS.cu_std_floor
    sandwich_skip_builtin: bool = _DEFAULTS.sandwich_skip_builtin
    ignored_accounts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_detector(self) -> Config:
        self.detector_config()  # raises ValueError, which pydantic reports with the table
        return self

    def detector_config(self) -> SvmDetectorConfig:
        return SvmDetectorConfig(
            spam_min=self.spam_min,
            replay_window=self.replay_window,
            revert_depth=self.revert_depth,
            cu_k=self.cu_k,
            cu_min_samples=self.cu_min_samples,
            cu_std_floor=self.cu_std_floor,
            sandwich_skip_builtin=self.sandwich_skip_builtin,
            ignored_accounts=frozenset(self.ignored_accounts),
        )
