"""A replica follows an executor's stream over real loopback sockets and ends with its state."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import recompute_lthash, snapshot
from streamkit import NodeThread, free_endpoint, stream_settings, wait_until

from monmouth.core.state import Store
from monmouth.roles.replica import Replica
from monmouth.stream import Subscriber

pytestmark = pytest.mark.slow

REORGS = {"reorg_probability": 0.3, "reorg_max_depth": 4, "interval": 0.01, "txs_per_block": 12}


class ReplicaThread:
    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.stop = threading.Event()
        self.thread = threading.Thread(target=replica.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        self.replica.close()


def _replica(tmp_path: Path, name: str, upstream: str) -> Replica:
    settings = stream_settings(
        tmp_path / name, None, role="replica", stream={"upstream": [upstream]}
    )
    return Replica(settings)


def _caught_up(replica: Replica, executor: Store) -> bool:
    head, mine = executor.head(), replica.store.head()
    return head is not None and mine is not None and mine.hash == head.hash


def test_replica_matches_executor_through_reorgs_and_a_restart(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    settings = stream_settings(tmp_path / "exec", endpoint, devnet=REORGS)
    executor = NodeThread(settings, max_blocks=60)
    first = ReplicaThread(_replica(tmp_path, "replica", endpoint))
    try:
        wait_until(lambda: first.replica.applied >= 20, what="the replica applying blocks")
        first.close()  # stopped mid-stream: it resumes from its cursor, reverts included
        executor.join()
        assert executor.node.stats.reverted > 0, "the devnet made no reorg; pick another seed"
        second = ReplicaThread(_replica(tmp_path, "replica", endpoint))
        try:
            wait_until(lambda: _caught_up(second.replica, executor.node.store), what="catch-up")
            assert second.replica.halted is None
            assert snapshot(second.replica.store) == snapshot(executor.node.store)
            assert recompute_lthash(second.replica.store) == executor.node.state
        finally:
            second.close()
    finally:
        executor.close()


def test_a_replica_of_a_running_executor_starts_from_its_snapshot(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    settings = stream_settings(tmp_path / "exec", endpoint, devnet={"interval": 0.01})
    executor = NodeThread(settings, max_blocks=40)
    try:
        wait_until(lambda: executor.node.stats.blocks >= 15, what="the executor's first blocks")
        late = ReplicaThread(_replica(tmp_path, "late", endpoint))
        try:
            executor.join()
            wait_until(lambda: _caught_up(late.replica, executor.node.store), what="catch-up")
            assert late.replica.halted is None
            ours, theirs = late.replica.store, executor.node.store
            assert dict(ours.iter_accounts()) == dict(theirs.iter_accounts())
            assert recompute_lthash(ours) == executor.node.state
        finally:
            late.close()
    finally:
        executor.close()


def _tamper_all_balances(data_dir: Path) -> None:
    """Add one lamport to every account behind the replica's back."""
    import lmdb

    env = lmdb.open(str(data_dir), max_dbs=16)
    db = env.open_db(b"accounts")
    with env.begin(write=True, db=db) as txn:
        for key, value in list(txn.cursor()):
            lamports = int.from_bytes(value[:8], "little") + 1
            txn.put(key, lamports.to_bytes(8, "little") + value[8:])
    env.close()


def test_a_state_hash_mismatch_stops_the_replica_with_an_alert(tmp_path: Path) -> None:
    endpoint, replica_endpoint = free_endpoint(), free_endpoint()
    settings = stream_settings(tmp_path / "exec", endpoint, devnet={"interval": 0.02})
    executor = NodeThread(settings, max_blocks=40)
    try:
        first = ReplicaThread(_replica(tmp_path, "replica", endpoint))
        wait_until(lambda: first.replica.applied >= 5, what="the replica applying blocks")
        first.close()
        _tamper_all_balances(tmp_path / "replica")
        replica_settings = stream_settings(
            tmp_path / "replica",
            replica_endpoint,
            role="replica",
            stream={"upstream": [endpoint]},
        )
        replica = Replica(replica_settings)
        alerts = Subscriber(replica_endpoint, kinds=["alert"])
        publisher = replica.stream.publisher
        assert publisher is not None
        wait_until(lambda: "alert/" in set(publisher.subscriptions), what="the subscription")
        second = ReplicaThread(replica)
        try:
            wait_until(lambda: second.replica.halted is not None, what="the mismatch")
            assert second.replica.halted == "state_hash_mismatch"
            msg = alerts.receive(5)
            assert msg is not None and msg.kind == "alert"
            assert msg.body.code == "state_hash_mismatch" and msg.body.severity == "critical"
            stuck = second.replica.store.head()
            executor.join()
            time.sleep(0.5)
            assert second.replica.store.head() == stuck, "it stopped applying"
        finally:
            alerts.close()
            second.close()
    finally:
        executor.close()
