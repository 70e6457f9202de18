"""The account cache (issue 18): which state accounts stay resident inside the SVM runtime (the
hot tier), bounded in bytes; the rest are read from LMDB (the cold tier, with the OS page cache)
when a block names them. See docs/cache.md.

On unless `[plugins] disable = ["cache"]`, which keeps every account resident (unbounded, the
node as it was before). Its table::

    [plugins.cache]
    hot_bytes = 2147483648   # the hot tier's budget, in bytes; "unbounded" for no bound
    policy = "lru"           # a name in monmouth.plugins.cache.policy.POLICIES

Its one hook, `account_cache`, runs once at start-up and hands the node the policy and the
budget; the node does the loading, the exact prefetch and the eviction between blocks.
"""

from monmouth.plugins.cache.plugin import Plugin

__all__ = ["Plugin"]
