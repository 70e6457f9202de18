"""Monitoring, a built-in plugin (on unless `[plugins] disable = ["monitoring"]`).

- Metrics through the OpenTelemetry SDK, served for Prometheus at `http://ADDRESS/metrics`
  (`[plugins.monitoring] address`, default 127.0.0.1:9464): the core's instruments, the counts
  this plugin takes from its per-block hooks, and gauges read when scraped. Names: see
  docs/operations.md.
- `/health` (alive), `/ready` (caught up, L1 reachable, store writable, no plugin halted; the
  SLA) and `/status` (everything, for `monmouth top`) as JSON.
- Traces over OTLP/HTTP when `otlp_endpoint` is set, with the block number and trace id on the
  log lines of a block's trace.
- `monmouth top` (`cli.py`): the command exists even when the plugin is off.

The hot path pays for two queued calls per block (`notify_transactions`, `notify_block`), a
few integer additions in this plugin's worker thread, and a tally of rejection reasons in
blocks that have rejections; with the SDK installed, the core's own few records per block cost
a few microseconds each. Everything else is read when someone scrapes.
"""

from monmouth.plugins.monitoring.cli import register_commands
from monmouth.plugins.monitoring.plugin import Plugin

__all__ = ["Plugin", "register_commands"]
