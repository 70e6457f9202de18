"""Honest answers to the methods about a cluster's validators, stake, inflation and
performance, for a chain with one executor that leads every slot, has no votes, no stake and no
inflation. Shapes are Agave's, so tools that call them (explorers, wallets' fee estimators) work.
"""

from __future__ import annotations

from typing import Any

from monmouth.plugins.rpc.errors import RpcError, invalid_params
from monmouth.plugins.rpc.methods import (
    FEATURE_SET,
    SLOTS_PER_EPOCH,
    Method,
    identity,
    scan_accounts,
)
from monmouth.plugins.rpc.params import Params, b58, config_of, positional, pubkey_of, u64_of
from monmouth.plugins.rpc.snapshot import API_VERSION, Snapshot

__all__ = ["CLUSTER_METHODS"]

#: Agave's limits.
MAX_PERFORMANCE_SAMPLES = 720
MAX_SLOT_LEADERS = 5000
MAX_PRIORITIZATION_ACCOUNTS = 128
PERFORMANCE_SAMPLE_SECONDS = 60
#: Blocks getRecentPrioritizationFees covers (Agave's cache: 150 blocks).
PRIORITIZATION_BLOCKS = 150


def get_cluster_nodes(snap: Snapshot, params: Params) -> Any:
    positional(params, "getClusterNodes", 0, 0)
    return [
        {
            "pubkey": b58(identity(snap)),
            "gossip": None,
            "tvu": None,
            "tpu": None,
            "tpuQuic": None,
            "tpuForwards": None,
            "tpuForwardsQuic": None,
            "tpuVote": None,
            "serveRepair": None,
            "rpc": None,
            "pubsub": None,
            "version": API_VERSION,
            "featureSet": FEATURE_SET,
            "shredVersion": 0,
        }
    ]


def get_vote_accounts(snap: Snapshot, params: Params) -> Any:
    (config,) = positional(params, "getVoteAccounts", 0, 1)
    snap.slot(config_of(config, "params[0]"))
    return {"current": [], "delinquent": []}


def get_slot_leader(snap: Snapshot, params: Params) -> Any:
    (config,) = positional(params, "getSlotLeader", 0, 1)
    snap.slot(config_of(config, "params[0]"))
    return b58(identity(snap))


def get_slot_leaders(snap: Snapshot, params: Params) -> Any:
    start, limit = positional(params, "getSlotLeaders", 2, 2)
    u64_of(start, "params[0] (start slot)")
    count = u64_of(limit, "params[1] (limit)")
    if count > MAX_SLOT_LEADERS:
        raise invalid_params(f"Invalid limit; max {MAX_SLOT_LEADERS}")
    return [b58(identity(snap))] * count


def get_leader_schedule(snap: Snapshot, params: Params) -> Any:
    """The executor leads every slot of the epoch; `identity` filters as Agave's does."""
    slot_arg, config = positional(params, "getLeaderSchedule", 0, 2)
    if isinstance(slot_arg, dict) and config is None:
        slot_arg, config = None, slot_arg
    cfg = config_of(config, "params[1]")
    slot = snap.slot(cfg) if slot_arg is None else u64_of(slot_arg, "params[0] (slot)")
    if slot // SLOTS_PER_EPOCH > snap.processed // SLOTS_PER_EPOCH + 1:
        return None  # Agave: no schedule for an epoch that far ahead
    me = b58(identity(snap))
    wanted = cfg.get("identity")
    if wanted is not None and wanted != me:
        return {}
    return {me: list(range(SLOTS_PER_EPOCH))}


def get_block_production(snap: Snapshot, params: Params) -> Any:
    (config,) = positional(params, "getBlockProduction", 0, 1)
    cfg = config_of(config, "params[0]")
    slot = snap.slot(cfg)
    first = snap.view.first_block() or 0
    window = cfg.get("range") or {}
    first_slot = u64_of(window.get("firstSlot", first), "params[0].range.firstSlot")
    last_slot = u64_of(window.get("lastSlot", slot), "params[0].range.lastSlot")
    produced = len(snap.view.block_numbers(first_slot, min(last_slot, slot), 1 << 62))
    return snap.context(
        slot,
        {
            "byIdentity": {b58(identity(snap)): [last_slot - first_slot + 1, produced]},
            "range": {"firstSlot": first_slot, "lastSlot": last_slot},
        },
    )


def get_block_commitment(snap: Snapshot, params: Params) -> Any:
    (slot,) = positional(params, "getBlockCommitment", 1, 1)
    u64_of(slot, "params[0] (slot)")
    # No votes, no stake: Agave answers a block without vote commitment so.
    return {"commitment": None, "totalStake": 0}


def get_supply(snap: Snapshot, params: Params) -> Any:
    """Every lamport of the state at the commitment circulates: nothing is staked or locked."""
    (config,) = positional(params, "getSupply", 0, 1)
    slot = snap.slot(config_of(config, "params[0]"))
    total = sum(int.from_bytes(raw[:8], "little") for _, raw in scan_accounts(snap, slot))
    value = {
        "total": total,
        "circulating": total,
        "nonCirculating": 0,
        "nonCirculatingAccounts": [],
    }
    return snap.context(slot, value)


def get_largest_accounts(snap: Snapshot, params: Params) -> Any:
    (config,) = positional(params, "getLargestAccounts", 0, 1)
    cfg = config_of(config, "params[0]")
    slot = snap.slot(cfg)
    if cfg.get("filter") not in (None, "circulating", "nonCirculating"):
        raise invalid_params("params[0].filter must be circulating or nonCirculating")
    if cfg.get("filter") == "nonCirculating":
        return snap.context(slot, [])
    balances = [(int.from_bytes(raw[:8], "little"), key) for key, raw in scan_accounts(snap, slot)]
    balances.sort(reverse=True)
    top = [{"address": b58(key), "lamports": lamports} for lamports, key in balances[:20]]
    return snap.context(slot, top)


def get_inflation_governor(snap: Snapshot, params: Params) -> Any:
    positional(params, "getInflationGovernor", 0, 1)
    return {
        "initial": 0.0,
        "terminal": 0.0,
        "taper": 0.0,
        "foundation": 0.0,
        "foundationTerm": 0.0,
    }


def get_inflation_rate(snap: Snapshot, params: Params) -> Any:
    positional(params, "getInflationRate", 0, 0)
    epoch = max(snap.processed, 0) // SLOTS_PER_EPOCH
    return {"total": 0.0, "validator": 0.0, "foundation": 0.0, "epoch": epoch}


def get_inflation_reward(snap: Snapshot, params: Params) -> Any:
    addresses, config = positional(params, "getInflationReward", 1, 2)
    if not isinstance(addresses, list):
        raise invalid_params("params[0] must be an array of base58 public keys")
    for i, address in enumerate(addresses):
        pubkey_of(address, f"params[0][{i}]")
    snap.slot(config_of(config, "params[1]"))
    return [None] * len(addresses)  # no rewards are paid


def get_stake_minimum_delegation(snap: Snapshot, params: Params) -> Any:
    (config,) = positional(params, "getStakeMinimumDelegation", 0, 1)
    slot = snap.slot(config_of(config, "params[0]"))
    return snap.context(slot, 1)


def get_recent_prioritization_fees(snap: Snapshot, params: Params) -> Any:
    """Fees are 5000 lamports per signature and no block prices compute units: every recent
    block's prioritization fee is 0 (a fee estimator then adds none)."""
    (accounts,) = positional(params, "getRecentPrioritizationFees", 0, 1)
    if accounts is not None:
        if not isinstance(accounts, list):
            raise invalid_params("params[0] must be an array of base58 public keys")
        if len(accounts) > MAX_PRIORITIZATION_ACCOUNTS:
            raise invalid_params(f"Too many inputs provided; max {MAX_PRIORITIZATION_ACCOUNTS}")
        for i, address in enumerate(accounts):
            pubkey_of(address, f"params[0][{i}]")
    head = snap.require_head().number
    numbers = snap.view.block_numbers(head - PRIORITIZATION_BLOCKS + 1, head, PRIORITIZATION_BLOCKS)
    return [{"slot": number, "prioritizationFee": 0} for number in numbers]


def get_recent_performance_samples(snap: Snapshot, params: Params) -> Any:
    """Samples of 60 seconds of L1 time, newest first, from the block records."""
    (limit,) = positional(params, "getRecentPerformanceSamples", 0, 1)
    count = MAX_PERFORMANCE_SAMPLES if limit is None else u64_of(limit, "params[0] (limit)")
    if count > MAX_PERFORMANCE_SAMPLES:
        raise invalid_params(f"Invalid limit; max {MAX_PERFORMANCE_SAMPLES}")
    head = snap.require_head()
    samples: list[dict[str, Any]] = []
    number, end = head.number, head.timestamp
    while len(samples) < count and number >= 0:
        slots = transactions = 0
        top = number
        while number >= 0:
            block = snap.view.block(number)
            if block is None or block.timestamp <= end - PERFORMANCE_SAMPLE_SECONDS:
                break
            slots += 1
            transactions += block.ok + block.failed
            number -= 1
        if not slots:
            break
        samples.append(
            {
                "slot": top,
                "numTransactions": transactions,
                "numNonVoteTransactions": transactions,
                "numSlots": slots,
                "samplePeriodSecs": PERFORMANCE_SAMPLE_SECONDS,
            }
        )
        end -= PERFORMANCE_SAMPLE_SECONDS
    return samples


def get_highest_snapshot_slot(snap: Snapshot, params: Params) -> Any:
    positional(params, "getHighestSnapshotSlot", 0, 0)
    raise RpcError(-32008, "No snapshot")


def _head_slot(method: str) -> Method:
    def answer(snap: Snapshot, params: Params) -> Any:
        positional(params, method, 0, 0)
        return snap.require_head().number

    return answer


CLUSTER_METHODS: dict[str, Method] = {
    "getBlockCommitment": get_block_commitment,
    "getBlockProduction": get_block_production,
    "getClusterNodes": get_cluster_nodes,
    "getHighestSnapshotSlot": get_highest_snapshot_slot,
    "getInflationGovernor": get_inflation_governor,
    "getInflationRate": get_inflation_rate,
    "getInflationReward": get_inflation_reward,
    "getLargestAccounts": get_largest_accounts,
    "getLeaderSchedule": get_leader_schedule,
    "getMaxRetransmitSlot": _head_slot("getMaxRetransmitSlot"),
    "getMaxShredInsertSlot": _head_slot("getMaxShredInsertSlot"),
    "getRecentPerformanceSamples": get_recent_performance_samples,
    "getRecentPrioritizationFees": get_recent_prioritization_fees,
    "getSlotLeader": get_slot_leader,
    "getSlotLeaders": get_slot_leaders,
    "getStakeMinimumDelegation": get_stake_minimum_delegation,
    "getSupply": get_supply,
    "getVoteAccounts": get_vote_accounts,
}
