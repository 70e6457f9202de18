"""The embedded L1 chain and its seeded Solana workload (the `devnet` source).

- `chain.py`: `DevnetChain` (the chain, event by event: blocks and reorgs) and `DevnetSource`
  (the chain as a `Source` of notifications, with restarts).
- `workload.py`: `Workload`, what the inbox messages of each block carry (deposits, transfers,
  SPL Token, failures, bad input, L1 noise).
- `plan.py`: what the workload and the chain pass each other (`Model`, `Context`, `Draft`,
  `BlockPlan`) and the `Planted` records tests check the node against.
- `instructions.py`: the Solana transactions and SPL Token instructions the workload builds.
- `relay.py`: `DevnetRelay`, the `InboxRelay` whose messages (transactions and deposits from
  outside: a plugin's sendTransaction, its faucet) go into the chain's next block.
- `patterns.py`: `WorkloadPatterns`, the extension point through which a plugin plants its own
  transactions (the mev plugin's MEV patterns, `[devnet] mev_patterns`).

Imports `monmouth.core` and `monmouth.rust_svm` only; nothing in `monmouth.core` imports it.
`monmouth.app` builds the devnet source from settings.
"""

from __future__ import annotations

from monmouth.devnet.chain import RELAY_SENDER, DevnetChain, DevnetSource
from monmouth.devnet.patterns import Entry, WorkloadPatterns
from monmouth.devnet.plan import (
    BLOCKHASH_WINDOW,
    DECOY,
    FAILED,
    OK,
    REVERTED,
    Context,
    Model,
    Planted,
    Tag,
)
from monmouth.devnet.relay import DevnetRelay, RelayedMessage
from monmouth.devnet.workload import Workload

__all__ = [
    "BLOCKHASH_WINDOW",
    "DECOY",
    "FAILED",
    "OK",
    "RELAY_SENDER",
    "REVERTED",
    "Context",
    "DevnetChain",
    "DevnetRelay",
    "DevnetSource",
    "Entry",
    "Model",
    "Planted",
    "RelayedMessage",
    "Tag",
    "Workload",
    "WorkloadPatterns",
]
