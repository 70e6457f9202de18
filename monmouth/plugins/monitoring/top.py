"""`monmouth top`: a live terminal view of one or several instances, from their monitoring
endpoints (`/metrics` for rates, `/status` for heads, state hashes, readiness).

Reading only HTTP, it watches nodes in other processes and on other machines, and works
whether or not this process runs the plugin.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

import typer

from monmouth.plugins.monitoring.config import DEFAULT_ADDRESS

#: Seconds an instance may take to answer before it is shown as down.
TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One instance's endpoints at one moment.

    :ivar at: when it was taken (`time.monotonic()`).
    :ivar status: the `/status` JSON, None when the instance did not answer.
    :ivar transactions: `monmouth_transactions_total` summed over statuses.
    :ivar blocks: `monmouth_blocks_committed_total`.
    :ivar error: why the instance is shown as down.
    :ivar cache: the account cache's `monmouth_cache_*` samples (`CacheSample`), None when the
        instance exports none (an analyzer, a replica).
    """

    endpoint: str
    at: float
    status: dict[str, Any] | None
    transactions: float | None
    blocks: float | None
    error: str | None
    cache: CacheSample | None = None


@dataclass(frozen=True, slots=True)
class CacheSample:
    """The account cache's counters and gauges at one moment (docs/cache.md, "Metrics")."""

    hits: float
    negative_hits: float
    misses: float
    resident_accounts: float | None
    resident_bytes: float | None
    budget_bytes: float | None


@dataclass(frozen=True, slots=True)
class InstanceView:
    """One row of the view (and one object of `--json`).

    :ivar tps: SVM transactions per second between the last two samples (None after one).
    :ivar disagrees: this instance's state hash differs from another's after the same L1 block.
    """

    endpoint: str
    up: bool
    error: str | None = None
    instance: str | None = None
    head: int | None = None
    head_hash: str | None = None
    state_hash: str | None = None
    l1_head: int | None = None
    lag_blocks: int | None = None
    lag_seconds: float | None = None
    tps: float | None = None
    blocks_per_second: float | None = None
    transactions: dict[str, int] = field(default_factory=dict)
    plugin_queues: dict[str, int] = field(default_factory=dict)
    #: Seconds the instance has been waiting on each plugin whose queue is full.
    plugins_waited: dict[str, float] = field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None
    sla_share: float | None = None
    ready: bool | None = None
    reasons: tuple[str, ...] = ()
    disagrees: bool = False
    #: The account cache: the share of named accounts found resident between the last two
    #: samples (None after one, or when no block ran), and the hot tier now.
    cache_hit_rate: float | None = None
    cache_resident_accounts: int | None = None
    cache_resident_bytes: int | None = None
    cache_budget_bytes: int | None = None


def normalize(endpoint: str) -> str:
    """`HOST:PORT` or a URL, as a base URL without a trailing slash."""
    url = endpoint if "://" in endpoint else f"http://{endpoint}"
    return url.rstrip("/")


def _metric_totals(text: str) -> dict[str, float]:
    """Each sample name of a Prometheus text exposition, with its samples' values added up."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def _metric_total(text: str, name: str) -> float | None:
    """The sum of every sample named `name` in a Prometheus text exposition."""
    return _metric_totals(text).get(name)


def _cache_sample(totals: dict[str, float]) -> CacheSample | None:
    if "monmouth_cache_resident_accounts" not in totals:
        return None
    return CacheSample(
        totals.get("monmouth_cache_hits_total", 0.0),
        totals.get("monmouth_cache_negative_hits_total", 0.0),
        totals.get("monmouth_cache_misses_total", 0.0),
        totals.get("monmouth_cache_resident_accounts"),
        totals.get("monmouth_cache_resident_bytes"),
        totals.get("monmouth_cache_budget_bytes"),
    )


def _hit_rate(now: CacheSample | None, before: CacheSample | None) -> float | None:
    """Resident (or known absent) over named, between two samples."""
    if now is None or before is None:
        return None
    found = now.hits + now.negative_hits - before.hits - before.negative_hits
    named = found + now.misses - before.misses
    return found / named if named > 0 else None


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def take_sample(client: Any, endpoint: str) -> Sample:
    """Read `/status` and `/metrics` of one instance; never raises."""
    at = time.monotonic()
    try:
        status = client.get(f"{endpoint}/status")
        status.raise_for_status()
        metrics = client.get(f"{endpoint}/metrics")
        metrics.raise_for_status()
        totals = _metric_totals(metrics.text)
        return Sample(
            endpoint,
            at,
            status.json(),
            totals.get("monmouth_transactions_total"),
            totals.get("monmouth_blocks_committed_total"),
            None,
            _cache_sample(totals),
        )
    except Exception as exc:
        return Sample(endpoint, at, None, None, None, f"{type(exc).__name__}: {exc}")


def _rate(now: float | None, before: float | None, seconds: float) -> float | None:
    if now is None or before is None or seconds <= 0:
        return None
    return max(now - before, 0.0) / seconds  # a restart resets the counters: no negative rate


def build_views(samples: Sequence[Sample], previous: Sequence[Sample] | None) -> list[InstanceView]:
    """The rows for `samples` (rates against `previous`, the samples before, by position)."""
    views = []
    for i, sample in enumerate(samples):
        status = sample.status
        if status is None:
            views.append(InstanceView(sample.endpoint, False, error=sample.error))
            continue
        before = previous[i] if previous is not None and previous[i].status is not None else None
        seconds = sample.at - before.at if before is not None else 0.0
        head = status.get("head") or {}
        readiness = status.get("readiness") or {}
        cache = sample.cache
        views.append(
            InstanceView(
                endpoint=sample.endpoint,
                up=True,
                instance=status.get("instance"),
                head=head.get("number"),
                head_hash=head.get("hash"),
                state_hash=head.get("state_hash"),
                l1_head=status.get("l1_head"),
                lag_blocks=status.get("lag_blocks"),
                lag_seconds=status.get("lag_seconds"),
                tps=_rate(sample.transactions, before.transactions if before else None, seconds),
                blocks_per_second=_rate(sample.blocks, before.blocks if before else None, seconds),
                transactions=dict((status.get("counts") or {}).get("transactions") or {}),
                plugin_queues={p["name"]: p["queue_depth"] for p in status.get("plugins", ())},
                plugins_waited={
                    p["name"]: p["waiting_seconds"]
                    for p in status.get("plugins", ())
                    if p.get("waiting_seconds")
                },
                checkpoint=status.get("checkpoint"),
                sla_share=(readiness.get("sla") or {}).get("share"),
                ready=readiness.get("ready"),
                reasons=tuple(readiness.get("reasons", ())),
                cache_hit_rate=_hit_rate(sample.cache, before.cache if before else None),
                cache_resident_accounts=_int(cache.resident_accounts if cache else None),
                cache_resident_bytes=_int(cache.resident_bytes if cache else None),
                cache_budget_bytes=_int(cache.budget_bytes if cache else None),
            )
        )
    return _mark_disagreements(views)


def _mark_disagreements(views: list[InstanceView]) -> list[InstanceView]:
    """Flag instances whose state hash differs from another's after the same L1 block (same
    height and block hash: at their heads or their checkpoints). Instances on two sides of a
    reorg executed different blocks and are not flagged."""
    seen: dict[tuple[int, str], set[str]] = {}
    for view in views:
        for block, state_hash in _hashes(view):
            seen.setdefault(block, set()).add(state_hash)
    out = []
    for view in views:
        disagrees = any(len(seen[block]) > 1 for block, _ in _hashes(view))
        out.append(_replace(view, disagrees=disagrees))
    return out


def _hashes(view: InstanceView) -> Iterable[tuple[tuple[int, str], str]]:
    """((height, L1 block hash), state hash) pairs the view holds."""
    if view.head is not None and view.head_hash is not None and view.state_hash is not None:
        yield (view.head, view.head_hash), view.state_hash
    if view.checkpoint is not None:
        c = view.checkpoint
        yield (int(c["height"]), str(c["block_hash"])), str(c["state_hash"])


def _replace(view: InstanceView, **changes: Any) -> InstanceView:
    return InstanceView(**{**asdict(view), **changes})


def render(views: Sequence[InstanceView]) -> Any:
    """A rich table of the views."""
    from rich.table import Table

    table = Table(title="monmouth top", title_justify="left")
    for name in ("instance", "head", "L1 head", "lag", "tx/s", "transactions", "queues"):
        table.add_column(name, justify="right" if name in ("head", "L1 head", "tx/s") else "left")
    table.add_column("cache")
    table.add_column("state hash")
    table.add_column("ready")
    for view in views:
        if not view.up:
            table.add_row(
                view.endpoint, "[red]down[/]", "", "", "", "", "", "", "", view.error or ""
            )
            continue
        lag = "-" if view.lag_blocks is None else f"{view.lag_blocks} blk"
        if view.lag_seconds is not None:
            lag += f" {view.lag_seconds:,.0f} s"
        counts = view.transactions
        state = (view.state_hash or "-")[:12]
        table.add_row(
            f"{view.instance}\n[dim]{view.endpoint}[/]",
            "-" if view.head is None else f"{view.head:,}",
            "-" if view.l1_head is None else f"{view.l1_head:,}",
            lag,
            "-" if view.tps is None else f"{view.tps:,.0f}",
            f"[green]{counts.get('ok', 0):,}[/] [yellow]{counts.get('failed', 0):,}[/] "
            f"[red]{counts.get('rejected', 0):,}[/]",
            " ".join(
                f"{name}:{depth}"
                + (
                    f" [red]waited {view.plugins_waited[name]:,.0f} s[/]"
                    if name in view.plugins_waited
                    else ""
                )
                for name, depth in sorted(view.plugin_queues.items())
            ),
            _cache_cell(view),
            f"[bold red]{state} DIFFERS[/]" if view.disagrees else state,
            "[green]yes[/]" if view.ready else "[red]no[/] " + "; ".join(view.reasons),
        )
    return table


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB"


def _cache_cell(view: InstanceView) -> str:
    """Hit rate, then the hot tier's accounts and bytes over its budget."""
    if view.cache_resident_accounts is None:
        return "-"
    rate = "-" if view.cache_hit_rate is None else f"{view.cache_hit_rate:.1%}"
    held = f"{view.cache_resident_accounts:,} acc"
    if view.cache_resident_bytes is not None:
        held += f" {_mib(view.cache_resident_bytes)}"
        if view.cache_budget_bytes is not None:
            held += f"/{_mib(view.cache_budget_bytes)}"
    return f"hit {rate}\n[dim]{held}[/]"


def top(
    endpoint: Annotated[
        list[str] | None,
        typer.Option(
            "--endpoint",
            help=f"An instance's monitoring address (URL or HOST:PORT); repeat for several. "
            f"Default http://{DEFAULT_ADDRESS}.",
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Print one view (rates over one interval) and exit.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object for tools (implies --once).")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between two samples.")
    ] = 2.0,
) -> None:
    """Watch running instances: head, L1 head and lag, SVM tx/s, transactions by status, plugin
    queues, the account cache (hit rate, hot tier), state hash (flagged when two instances
    differ at one height) and readiness, read from their monitoring endpoints (the address in
    their plugins.monitoring table). Ctrl-C quits."""
    import httpx
    from rich.console import Console
    from rich.live import Live

    endpoints = [normalize(e) for e in endpoint or [DEFAULT_ADDRESS]]
    console = Console()
    with httpx.Client(timeout=TIMEOUT) as client, ThreadPoolExecutor(len(endpoints)) as pool:

        def sample_all() -> list[Sample]:
            return list(pool.map(lambda e: take_sample(client, e), endpoints))

        previous = sample_all()
        if once or as_json:
            time.sleep(interval)
            views = build_views(sample_all(), previous)
            if as_json:
                sys.stdout.write(json.dumps({"instances": [asdict(v) for v in views]}) + "\n")
            else:
                console.print(render(views))
            return
        try:
            with Live(render(build_views(previous, None)), console=console) as live:
                while True:
                    time.sleep(interval)
                    samples = sample_all()
                    live.update(render(build_views(samples, previous)))
                    previous = samples
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
