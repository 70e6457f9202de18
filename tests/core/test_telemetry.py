"""The core's spans per block are opened only where something can record them."""

from __future__ import annotations

import clirun


def test_no_spans_before_a_tracer_provider_is_installed() -> None:
    # A fresh process: the test session's own providers must not decide.
    code = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from monmouth.core.telemetry import SPANS\n"
        "assert SPANS.on and not SPANS.active()\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "assert SPANS.active()\n"
        "SPANS.on = False\n"
        "assert not SPANS.active()\n"
    )
    clirun.python("-c", code, timeout=60, code=0)
