"""A background thread that looks at the L1 node and samples the SLA every `probe_interval`.

The node learns the L1 head only from the notifications its source yields: while the L1 node
is away, or the node is stuck, it hears nothing. So the plugin asks the L1 node itself, once per
interval, for its latest block (`eth_getBlockByNumber("latest", false)`, one call, one attempt,
the interval as timeout): whether it answers is "L1 reachable", its number and timestamp give
the lag in blocks and in seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import anyio
import structlog

from monmouth.core.ethrpc import EthRpc
from monmouth.core.hexutil import parse_quantity
from monmouth.plugins.monitoring.health import L1Probe

log = structlog.get_logger("monmouth.monitoring")

#: Seconds between two SLA samples: the window's share moves within a second of a block.
SAMPLE_INTERVAL = 1.0


def probe_l1(url: str, timeout: float) -> L1Probe:
    """One look at the L1 node at `url` (http(s):// or ws(s)://); never raises."""

    async def latest() -> tuple[int, int]:
        with anyio.fail_after(timeout):
            async with EthRpc(url, attempts=1, timeout=timeout) as rpc:
                block = await rpc.call("eth_getBlockByNumber", "latest", False)
        if not isinstance(block, dict):
            raise ValueError("eth_getBlockByNumber answered no block")
        return (
            parse_quantity(block.get("number"), "number"),
            parse_quantity(block.get("timestamp"), "timestamp"),
        )

    try:
        number, timestamp = anyio.run(latest)
    except Exception as exc:
        reason = (
            "no answer within the probe interval" if isinstance(exc, TimeoutError) else str(exc)
        )
        return L1Probe(time.monotonic(), None, None, reason or type(exc).__name__)
    return L1Probe(time.monotonic(), number, timestamp, None)


class Prober:
    """From its own thread, until `close`: calls `sample` every `SAMPLE_INTERVAL` seconds (or
    `interval`, when shorter), and `probe` (when there is an L1 node to probe) every `interval`
    seconds. Logs when the L1 node goes away and comes back."""

    def __init__(
        self,
        interval: float,
        sample: Callable[[], None],
        probe: Callable[[], L1Probe] | None = None,
    ) -> None:
        self.interval = interval
        self._sample = sample
        self._probe = probe
        #: The last probe's result; None before the first one or without an L1 node.
        self.last: L1Probe | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitoring-probe", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tick = min(self.interval, SAMPLE_INTERVAL)
        next_probe = time.monotonic()
        while True:
            if self._probe is not None and time.monotonic() >= next_probe:
                next_probe = time.monotonic() + self.interval
                self._look()
            try:
                self._sample()
            except Exception as exc:  # a sample lost is a gap in the SLA, not a dead thread
                log.warning("SLA sample failed", error=f"{type(exc).__name__}: {exc}")
            if self._stop.wait(tick):
                return

    def _look(self) -> None:
        assert self._probe is not None
        result = self._probe()
        before, self.last = self.last, result
        if not result.ok and (before is None or before.ok):
            log.warning("L1 node unreachable", error=result.error)
        elif result.ok and before is not None and not before.ok:
            log.info("L1 node reachable again", l1_head=result.head)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
