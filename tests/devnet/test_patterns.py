"""The devnet's extension point (`WorkloadPatterns`): called once per block with transactions,
after the workload's own; a pattern that plants nothing leaves the chain as it was; `[devnet]
mev_patterns` without the mev plugin's patterns is refused rather than silently ignored."""

from __future__ import annotations

from random import Random

import pytest

from monmouth.app import devnet_chain, make_source
from monmouth.core.config import DevnetSettings, load_settings
from monmouth.core.errors import ConfigError
from monmouth.core.inbox import DEFAULT_INBOX_ADDRESS
from monmouth.devnet import (
    Context,
    DevnetChain,
    DevnetSource,
    Entry,
    Model,
    Workload,
    WorkloadPatterns,
)

INBOX = DEFAULT_INBOX_ADDRESS


class Nothing:
    """Plants nothing and draws nothing; remembers the blocks it was asked about."""

    def __init__(self) -> None:
        self.numbers: list[int] = []

    def plant(
        self, workload: Workload, number: int, rng: Random, model: Model, ctx: Context
    ) -> list[Entry]:
        self.numbers.append(number)
        return []


class Resend:
    """Re-sends the newest executed transaction of the blocks before, tagged as a pattern."""

    def plant(
        self, workload: Workload, number: int, rng: Random, model: Model, ctx: Context
    ) -> list[Entry]:
        if not ctx.recent_executed:
            return []
        return [(ctx.recent_executed[-1][1], ("already_processed", "re-sent", "resend"))]


def chain_of(chain: DevnetChain, events: int) -> DevnetChain:
    for _ in range(events):
        chain.next_event()
    return chain


def test_a_pattern_that_plants_nothing_changes_nothing() -> None:
    settings = DevnetSettings(reorg_probability=0.3)
    nothing = Nothing()
    patterns: WorkloadPatterns = nothing
    with_it = chain_of(DevnetChain(settings, INBOX, patterns=patterns), 30)
    without = chain_of(DevnetChain(settings, INBOX), 30)
    assert with_it.canonical() == without.canonical()
    assert nothing.numbers[:3] == [1, 2, 3]  # from block 1 on; genesis has no transactions
    empty = DevnetSettings(txs_per_block=0)
    idle = Nothing()
    chain_of(DevnetChain(empty, INBOX, patterns=idle), 5)
    assert idle.numbers == []  # no transactions, no patterns


def test_planted_entries_carry_their_pattern() -> None:
    chain = chain_of(DevnetChain(DevnetSettings(), INBOX, patterns=Resend()), 10)
    marks = [p for b in chain.canonical() for p in chain.planted(b.hash) if p.pattern]
    assert marks and {p.pattern for p in marks} == {"resend"}
    assert {p.what for p in marks} == {"already_processed"}


def test_mev_patterns_need_the_plugins_patterns() -> None:
    settings = DevnetSettings(mev_patterns=True)
    with pytest.raises(ConfigError, match="mev_patterns"):
        DevnetChain(settings, INBOX)
    plain = chain_of(devnet_chain(DevnetSettings(), INBOX), 3)
    mev = chain_of(devnet_chain(settings, INBOX), 3)
    assert plain.canonical()[1] != mev.canonical()[1]
    source = make_source(load_settings(None, devnet={"mev_patterns": True}))
    assert isinstance(source, DevnetSource)
