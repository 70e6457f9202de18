"""Protocol classifiers: which calls are transfers and swaps, one module per protocol.

- `abi`: the hand-written call data decoder;
- `base`: what a spec and a classifier are, and the classified trace;
- `erc20`, `aave`: transfers; `uniswap_v2`, `uniswap_v3`, `curve`, `balancer`, `zero_ex`,
  `bancor`: swaps;
- `registry`: the ordered list of specs and the `TraceClassifier` that applies it.

This package module imports nothing, so that `swaps` and `transfers` can import `base` while the
protocol modules import them.
"""
