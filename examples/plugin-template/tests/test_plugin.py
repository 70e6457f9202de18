"""The template's tests: a real node on the devnet with the plugin registered (monmouth's pytest
fixtures, installed with monmouth), and its config table."""

from __future__ import annotations

import pytest
from monmouth.hooks import ConfigError
from monmouth.testing import MonmouthRunner

import monmouth_plugin_template


def lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("template: ")]


def test_prints_a_line_per_block(
    monmouth_run: MonmouthRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    run = monmouth_run(monmouth_plugin_template, blocks=5)
    printed = lines(capsys.readouterr().out)
    assert [line.split(":")[1] for line in printed] == [f" block {n}" for n in range(5)]
    assert run.head is not None and printed[-1].endswith(f"state {run.head.state_hash}")
    # Every transaction that executed was counted once, on some line.
    counted = sum(int(line.split(": ")[2].split(" ok")[0]) for line in printed)
    assert counted == run.stats.ok > 0


def test_every_nth_block(monmouth_run: MonmouthRunner, capsys: pytest.CaptureFixture[str]) -> None:
    monmouth_run(monmouth_plugin_template, blocks=7, config={"every": 3})
    printed = lines(capsys.readouterr().out)
    assert [line.split(":")[1] for line in printed] == [" block 0", " block 3", " block 6"]


def test_config_is_validated(monmouth_run: MonmouthRunner) -> None:
    for bad, where in (({"every": 0}, "every"), ({"evry": 2}, "evry")):
        with pytest.raises(ConfigError, match=rf"\[plugins.template\] {where}"):
            monmouth_run(monmouth_plugin_template, name="template", blocks=1, config=bad)
