"""Topic prefixes: ZeroMQ's prefix rule, and which families a subscription can reach."""

from __future__ import annotations

from monmouth.stream.topics import PrefixSet, filter_prefixes


def test_relevant_families_and_matching() -> None:
    prefixes = PrefixSet(["account/Abc/", "transaction/ok/", "mev/"])
    assert prefixes.relevant("account") == ("account/Abc/",)
    assert prefixes.relevant("owner") == ()
    assert prefixes.matching("account/Abc/") == ["account/Abc/"]
    assert prefixes.matching("account/Abd/") == []
    assert prefixes.matching("transaction/failed/Sig/") == []
    assert prefixes.matching("transaction/ok/Sig/") == ["transaction/ok/"]
    # The empty prefix (everything) reaches every family.
    everything = PrefixSet([""])
    assert everything.relevant("owner") == ("",)
    prefixes.discard("mev/")
    assert prefixes.relevant("mev") == ()


def test_filters_become_prefixes() -> None:
    assert filter_prefixes(kinds=["block"], accounts=["A"], owners=["P"]) == [
        "block/",
        "account/A/",
        "owner/P/",
    ]
    assert filter_prefixes(signatures=["S"], include_failed=False) == ["transaction/ok/S/"]
    assert filter_prefixes(mentions=["A"]) == [
        "mention/ok/A/",
        "mention/failed/A/",
        "mention/rejected/A/",
    ]
