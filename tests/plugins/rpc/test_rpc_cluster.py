"""The cluster methods' honest answers for one executor (no votes, stake or inflation), each
parsed by solders' response type."""

from __future__ import annotations

from typing import Any

import pytest
from rpcnode import (
    Served,
    parse,
    served_fixture,  # noqa: F401 (the `served` fixture)
)
from solders.rpc import responses as r

from monmouth.rust_svm.accounts import AccountRecord

pytestmark = pytest.mark.timeout(120)


CALLS: list[tuple[str, Any, Any]] = [
    ("getClusterNodes", None, r.GetClusterNodesResp),
    ("getVoteAccounts", None, r.GetVoteAccountsResp),
    ("getSlotLeader", None, r.GetSlotLeaderResp),
    ("getSlotLeaders", [0, 10], r.GetSlotLeadersResp),
    ("getBlockProduction", None, r.GetBlockProductionResp),
    ("getBlockCommitment", [1], r.GetBlockCommitmentResp),
    ("getSupply", None, r.GetSupplyResp),
    ("getLargestAccounts", None, r.GetLargestAccountsResp),
    ("getInflationGovernor", None, r.GetInflationGovernorResp),
    ("getInflationRate", None, r.GetInflationRateResp),
    ("getInflationReward", [["11111111111111111111111111111111"]], r.GetInflationRewardResp),
    ("getStakeMinimumDelegation", None, r.GetStakeMinimumDelegationResp),
    ("getRecentPrioritizationFees", None, r.GetRecentPrioritizationFeesResp),
    ("getRecentPerformanceSamples", [5], r.GetRecentPerformanceSamplesResp),
    ("getMaxRetransmitSlot", None, r.GetMaxRetransmitSlotResp),
    ("getMaxShredInsertSlot", None, r.GetMaxShredInsertSlotResp),
    ("getLeaderSchedule", None, r.GetLeaderScheduleResp),
]


@pytest.mark.parametrize(("method", "params", "shape"), CALLS, ids=[c[0] for c in CALLS])
def test_shapes(served: Served, method: str, params: Any, shape: Any) -> None:
    parse(shape, served.call(method, params))


def test_values(served: Served) -> None:
    store = served.node.store
    head = store.head()
    assert head is not None
    me = served.result("getIdentity")["identity"]
    assert served.result("getSlotLeader") == me
    assert served.result("getClusterNodes")[0]["pubkey"] == me
    total = sum(AccountRecord.decode(v).lamports for _, v in store.iter_accounts())
    supply = served.result("getSupply")["value"]
    assert supply["total"] == supply["circulating"] == total
    largest = served.result("getLargestAccounts")["value"]
    assert len(largest) == min(20, store.accounts_count())
    assert [a["lamports"] for a in largest] == sorted(
        (a["lamports"] for a in largest), reverse=True
    )
    fees = served.result("getRecentPrioritizationFees")
    assert [f["slot"] for f in fees] == list(range(head.number + 1))
    assert {f["prioritizationFee"] for f in fees} == {0}
    samples = served.result("getRecentPerformanceSamples", [5])
    executed = sum(b.ok + b.failed for b in store.blocks(0, head.number))
    assert sum(s["numTransactions"] for s in samples) == executed
    assert samples[0]["slot"] == head.number
    schedule = served.result("getLeaderSchedule", [None, {"identity": me}])
    assert list(schedule) == [me] and len(schedule[me]) == 432_000
    assert served.result("getLeaderSchedule", [None, {"identity": "x"}]) == {}
    assert served.call("getHighestSnapshotSlot")["error"]["code"] == -32008
