"""The account cache (issue 18, under construction): which accounts live in the runtime (hot),
in process memory (warm) or only in LMDB (cold). See docs/cache.md."""
