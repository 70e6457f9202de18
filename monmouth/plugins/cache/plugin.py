"""The `cache` plugin's hook: `account_cache`, the policy and budget of the hot tier."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monmouth.hooks import AccountCacheSpec, hookimpl
from monmouth.plugins.cache.config import Config
from monmouth.plugins.cache.policy import POLICIES

if TYPE_CHECKING:
    from monmouth.hooks import Settings


class Plugin:
    """Gives the node a fresh policy of the configured kind and the configured budget."""

    config_model = Config

    def __init__(self, settings: Settings, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()

    @hookimpl
    def account_cache(self) -> AccountCacheSpec:
        config = self.config
        return AccountCacheSpec(POLICIES[config.policy](), config.hot_bytes)
