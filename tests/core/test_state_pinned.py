"""The state hash of a fixed devnet chain, pinned: consensus does not change by accident.

The same L1 chain must give the same state on every machine and in every version of the node
(docs/protocol.md section 4: the lattice hash proves the state). These hashes were computed by the
node before its ingest was reworked (native signature checks, the C wire reader, per-block account
reads) and again after, with the same result. A failure here means execution, decoding, routing, the
checks or the lattice hash now decide differently, or the devnet makes other chains from the same
seed; either is a change that has to be meant, and then the new hashes are pinned here.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from monmouth.app import build_node
from monmouth.core.config import load_settings
from monmouth.devnet import DevnetSource

PINNED = {
    # workload: (head, base58 state hash, ok, failed, rejected) after 60 blocks of seed 11
    "mixed": (59, "GnMrq2oTQXGmthap2UGwv342A71hgWbwMTwGJHJ9WDen", 1360, 56, 9),
    "spl": (59, "66Ycp79dH32wQcvwzrMczMDV263bjuRS5oq8hU7kN1f2", 1355, 61, 6),
    "transfers": (59, "GjiaN3LgvJeTL1byJrVPdPnvqrBiCfNXbosbZfWkZxjW", 1343, 73, 6),
}


@pytest.mark.parametrize("workload", sorted(PINNED))
def test_the_devnet_chain_gives_the_pinned_state(workload: str, tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path, devnet={"workload": workload, "seed": 11})
    with build_node(settings) as node:
        source = DevnetSource(settings.devnet, settings.inbox.address_bytes)
        stats = anyio.run(lambda: node.run(source, max_blocks=60))
    assert stats.head is not None
    got = (stats.head.number, stats.head.state_hash, stats.ok, stats.failed, stats.rejected)
    assert got == PINNED[workload]
