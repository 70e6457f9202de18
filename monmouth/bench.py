"""`monmouth bench`: the node's ingest rate against LiteSVM's own loop, in one process run.

It generates a devnet workload, then measures over the same Solana transactions:

- (a) LiteSVM's `send_transaction` loop with signature checks on (blockhash check and history
  off, deposits turned into direct account funding, nothing persisted);
- (b) the same loop with signature checks off;
- (c) the whole node, from a replay file of the L1 blocks to committed LMDB state (fsync on):
  routing, decoding, the blockhash window, replay protection, strict signature checks, execution,
  the lattice hash, the stream log, group commits.

Figures depend on the machine and its load; compare the ratios of one run.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
from solders.account import Account
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from monmouth.app import build_node
from monmouth.core import inbox
from monmouth.core.config import load_settings
from monmouth.core.implementations import implementations
from monmouth.core.l1 import L1Block
from monmouth.core.node import Node
from monmouth.core.sources.replay import ReplaySource, write_replay
from monmouth.devnet import DevnetChain

Workload = Literal["transfers", "spl", "mixed"]
WORKLOADS: tuple[Workload, ...] = ("transfers", "spl", "mixed")


def _devnet(workload: Workload, per_block: int, users: int) -> dict[str, Any]:
    base: dict[str, Any] = {"txs_per_block": per_block, "batch_size": 64, "users": users}
    if workload == "mixed":
        return {**base, "workload": "mixed"}  # with the default failures and bad input
    return {**base, "workload": workload, "failure_rate": 0.0, "bad_input_rate": 0.0}


def generate(workload: Workload, txs: int, per_block: int, users: int) -> list[L1Block]:
    """Devnet L1 blocks (canonical, from genesis) carrying at least `txs` Solana transactions."""
    settings = load_settings(None, devnet=_devnet(workload, per_block, users))
    chain = DevnetChain(settings.devnet, settings.inbox.address_bytes)
    count = 0
    while count < txs:
        chain.next_event()
        count += sum(len(batch) for batch in _batches(chain.tip))
    return list(chain.canonical())


def _inbox_messages(block: L1Block) -> list[inbox.Deposit | inbox.Batch]:
    out: list[inbox.Deposit | inbox.Batch] = []
    for tx in block.transactions:
        if tx.to == inbox.DEFAULT_INBOX_ADDRESS and tx.status == 1:
            msg = inbox.decode(tx.input, tx.value)
            if isinstance(msg, inbox.Deposit | inbox.Batch):
                out.append(msg)
    return out


def _batches(block: L1Block) -> list[tuple[bytes, ...]]:
    return [m.transactions for m in _inbox_messages(block) if isinstance(m, inbox.Batch)]


def litesvm_loop(blocks: list[L1Block], *, sigverify: bool) -> tuple[int, float, float]:
    """LiteSVM alone over the blocks' transactions: (transactions sent, seconds, CPU seconds
    of the loop; it runs on this one thread)."""
    svm = (
        LiteSVM().with_sigverify(sigverify).with_blockhash_check(False).with_transaction_history(0)
    )
    txs: list[VersionedTransaction] = []
    for block in blocks:
        for msg in _inbox_messages(block):
            if isinstance(msg, inbox.Deposit):
                key = Pubkey(msg.recipient)
                have = svm.get_account(key)
                lamports = msg.lamports + (have.lamports if have else 0)
                svm.set_account(key, Account(lamports, b"", Pubkey.default()))
                continue
            for raw in msg.transactions:
                try:
                    txs.append(VersionedTransaction.from_bytes(raw))
                except ValueError:
                    continue  # a malformed transaction (mixed workload): nothing to send
    start, cpu = time.perf_counter(), time.thread_time()
    for tx in txs:
        svm.send_transaction(tx)
    return len(txs), time.perf_counter() - start, time.thread_time() - cpu


@dataclass(frozen=True, slots=True)
class NodeRun:
    """One measured run of the node.

    :ivar seconds: wall-clock time from start to the last commit.
    :ivar cpu_main_s: CPU time of the thread that runs the node (routing, execution, commits).
    :ivar cpu_other_s: CPU time of every other thread: the signature checks, hooks, the stream.
    :ivar cpu_children_s: CPU time of the node's child processes (the stream's publisher, the
        rpc server), not of subscribers.
    """

    node: Node
    seconds: float
    cpu_main_s: float
    cpu_other_s: float
    cpu_children_s: float = 0.0


def node_run(
    blocks: list[L1Block], workdir: Path, *, subscribers: int | None = None, **settings: Any
) -> NodeRun:
    """The node from a replay file of `blocks` to committed state.

    :param subscribers: None: the stream is not published (the log is still kept); a number:
        published on loopback, with that many subscriber processes taking every message.
    """
    replay = workdir / "chain.jsonl"
    write_replay(replay, blocks)
    # The node as it runs by default (monitoring, stream log), but binding no port.
    defaults: dict[str, Any] = {
        "stream": {"publish": None},
        "plugins": {"monitoring": {"address": "none"}, "rpc": {"address": "none"}},
    }
    if subscribers is not None:
        publish, request = free_endpoints()
        defaults["stream"] = {"publish": publish, "request": request}
    config = load_settings(None, data_dir=workdir / "data", **{**defaults, **settings})
    with (
        build_node(config) as node,
        subscriber_processes(config.stream.publish, subscribers or 0) as theirs,
    ):
        usage, main, start = _cpu(), time.thread_time(), time.perf_counter()
        children = _children_cpu(exclude=theirs)
        anyio.run(node.run, ReplaySource(replay))
        seconds, main = time.perf_counter() - start, time.thread_time() - main
        children = _children_cpu(exclude=theirs) - children
        return NodeRun(node, seconds, main, _cpu() - usage - main, children)


def child_pids(pid: int | str = "self") -> set[int]:
    """The live children of process `pid` (every thread's), from /proc; empty where there is
    none."""
    pids: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                pids.update(int(child) for child in f.read().split())
    return pids


#: Clock ticks per second of /proc's CPU times.
TICK = os.sysconf("SC_CLK_TCK")


def stat_cpu(stat: str, *, reaped: bool = False) -> float:
    """CPU seconds (user and system) of a /proc `stat` file's text, a process's or a thread's;
    with `reaped`, its reaped children's too. Raises IndexError or ValueError on a text that is
    not one."""
    fields = stat.rsplit(")", 1)[1].split()
    # utime, stime (fields 14 and 15), then cutime, cstime (16 and 17).
    return sum(int(v) for v in fields[11 : 15 if reaped else 13]) / TICK


def _children_cpu(exclude: frozenset[int]) -> float:
    """CPU seconds so far of this process's live children (the stream's publisher, the rpc
    server), from /proc; 0 where there is none."""
    total = 0.0
    for pid in child_pids() - exclude:
        with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{pid}/stat") as f:
            total += stat_cpu(f.read())
    return total


#: A subscriber that takes every message and throws it away: what the node pays to publish,
#: without the cost of printing it.
_SUBSCRIBER = """
import sys, zmq
sock = zmq.Context().socket(zmq.SUB)
sock.rcvhwm = 0
sock.subscribe(b"")
sock.connect(sys.argv[1])
print("ready", flush=True)
while True:
    sock.recv_multipart()
"""


@contextlib.contextmanager
def subscriber_processes(endpoint: str | None, count: int) -> Iterator[frozenset[int]]:
    """`count` subscriber processes while the block runs; yields their pids."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _SUBSCRIBER, str(endpoint)],
            stdout=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            process.stdout.readline()
        if processes:
            time.sleep(0.5)  # their subscriptions reach the publisher
        yield frozenset(process.pid for process in processes)
    finally:
        for process in processes:
            process.kill()
            process.wait()


def free_port() -> int:
    """A loopback port free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def free_endpoints() -> tuple[str, str]:
    """Two loopback endpoints on ports free now."""
    return f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"


def ratio_limit(
    litesvm_us: float, node_us: float, main_us: float, cores: int | None = None
) -> float:
    """The highest `ratio_vs_sigverify` that these CPU costs per transaction allow: the node
    can use every core (`cores` x the time LiteSVM takes per transaction, against the node's
    CPU per transaction), but its main thread executes in order, one transaction after
    another, so it can be no faster than that thread alone."""
    n = cores if cores is not None else (os.cpu_count() or 1)
    return min(n * litesvm_us / node_us, litesvm_us / main_us) if node_us and main_us else 0.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(
    workload: Workload = "transfers",
    txs: int = 100_000,
    *,
    per_block: int = 1000,
    users: int = 1000,
    stream: int | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Measure (a), (b) and (c); the result has the keys `monmouth bench --json` prints.

    :param stream: None: the stream log is kept but not published (the default); a number:
        published, with that many subscriber processes.
    """
    progress(f"generating {txs:,} {workload} transactions")
    blocks = generate(workload, txs, per_block, users)
    progress("LiteSVM with signature checks")
    n_sig, t_sig, cpu_sig = litesvm_loop(blocks, sigverify=True)
    progress("LiteSVM without signature checks")
    n_nosig, t_nosig, cpu_nosig = litesvm_loop(blocks, sigverify=False)
    progress("the node, from a replay file to committed state")
    with tempfile.TemporaryDirectory() as tmp:
        measured = node_run(blocks, Path(tmp), subscribers=stream)
    node, t_node = measured.node, measured.seconds
    n_node = node.stats.transactions
    sig_tps, nosig_tps, node_tps = n_sig / t_sig, n_nosig / t_nosig, n_node / t_node
    node_cpu = measured.cpu_main_s + measured.cpu_other_s + measured.cpu_children_s
    node_cpu_us = node_cpu / max(n_node, 1) * 1e6
    litesvm_cpu_us = cpu_sig / max(n_sig, 1) * 1e6
    main_us = measured.cpu_main_s / max(n_node, 1) * 1e6
    return {
        "workload": workload,
        "txs": n_node,
        "litesvm_sigverify_tps": round(sig_tps),
        "litesvm_nosig_tps": round(nosig_tps),
        "node_tps": round(node_tps),
        "ratio_vs_sigverify": round(node_tps / sig_tps, 3),
        "ratio_vs_nosig": round(node_tps / nosig_tps, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "blocks": len(blocks),
        "commits": node.stats.commits,
        "ed25519": node.verifier.library,
        # What the checks from per-key tables did (`sigverify`): of the node's signature
        # checks, `table_accepted` needed no libsodium call.
        "ed25519_tables": node.verifier.stats(),
        # Per hot path, its C extension or the Python reference (installed without a compiler).
        "implementations": implementations(),
        # Where the node's CPU went: its own thread, and the others (mostly signature checks).
        "node_cpu_main_s": round(measured.cpu_main_s, 2),
        "node_cpu_other_s": round(measured.cpu_other_s, 2),
        "node_cpu_children_s": round(measured.cpu_children_s, 2),
        "node_cores_used": round(node_cpu / t_node, 2),
        # CPU per transaction, all the node's threads and child processes, against LiteSVM's
        # signature-checked loop.
        "cpu_per_tx_us": round(node_cpu_us, 1),
        "litesvm_cpu_per_tx_us": round(litesvm_cpu_us, 1),
        "cpu_ratio": round(node_cpu_us / litesvm_cpu_us, 3),
        # The CPU arithmetic (docs/performance.md, "The limit"): the main thread's share, what
        # LiteSVM's execution alone costs of it, and the best `ratio_vs_sigverify` these costs
        # allow on this machine's cores.
        "main_cpu_per_tx_us": round(main_us, 1),
        "litesvm_exec_cpu_per_tx_us": round(cpu_nosig / max(n_nosig, 1) * 1e6, 1),
        "ratio_limit": round(ratio_limit(litesvm_cpu_us, node_cpu_us, main_us), 3),
        "per_block": per_block,
        "stream_subscribers": stream,
    }
