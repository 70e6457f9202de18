"""The built-in `mev` plugin: real mainnet blocks through `on_l1_block`, findings stored per block
(one record per block hash, reverted with it, kept across restarts), published on the stream
(kind `mev`), shown by `monmouth mev --block N`; `monmouth mev inspect FILE`; the SVM side on a
devnet with reorgs, through a real node.

The mainnet blocks are read from `tests/data/mev-inspect/` (see its README).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache, partial
from pathlib import Path
from typing import Any

import clirun
import msgspec
import pytest

import monmouth.plugins.mev as mev_module
from monmouth.app import devnet_chain
from monmouth.core.config import Settings, load_settings
from monmouth.core.errors import ConfigError, DataDirError
from monmouth.core.inbox import DEFAULT_INBOX_ADDRESS
from monmouth.core.l1 import L1Block
from monmouth.core.payloads import BlockInfo
from monmouth.core.plugins import (
    OPTIONAL_BUILTINS,
    commands_of,
    find_plugins,
    implemented_hooks,
    load_plugins,
)
from monmouth.core.sources.replay import write_replay
from monmouth.core.state import Store
from monmouth.plugins.mev import MevStore, Plugin, inspect_block, read_block_file
from monmouth.plugins.mev.config import Config
from monmouth.plugins.mev.store import MevBlock, to_json
from monmouth.plugins.mev.svm import SvmDetector
from monmouth.testing import MonmouthRunner

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mev-inspect"
BLOCKS_DIR = DATA_DIR / "blocks"
SANDWICH_BLOCK = 12775690
ARBITRAGE_BLOCK = 12914944
ROOT = Path(__file__).resolve().parents[3]


@cache
def block_file(number: int) -> dict[str, Any]:
    path = BLOCKS_DIR / f"{number}.json.xz"
    assert path.is_file(), f"missing test data {path}: see {DATA_DIR / 'README.md'}"
    return read_block_file(path)


def fake_hash(number: int, fork: str = "") -> bytes:
    return hashlib.sha256(f"{fork}{number}".encode()).digest()


def l1_block(number: int, fork: str = "", traces: bool = True) -> L1Block:
    """A mainnet block file as the rpc source would hand it over: the header fields we need
    (the hashes are made up; the files carry none) and its `trace_block` output."""
    raw = tuple(block_file(number)["traces"]) if traces else None
    return L1Block(number, fake_hash(number, fork), fake_hash(number - 1), 0, (), traces=raw)


def info(block: L1Block) -> BlockInfo:
    return BlockInfo(block.number, block.hash, block.parent_hash, 0, "", 0, 0, 0, 0, 0)


class FakeTopic:
    """Stands for the stream `Topic` the node returns from `register(kind, description)`."""

    def __init__(self) -> None:
        self.kind = ""
        self.sent: list[tuple[int, str, Any]] = []

    def register(self, kind: str, description: str = "") -> FakeTopic:
        self.kind = kind
        return self

    def publish(self, height: int, body: Any, *, key: str = "") -> int:
        msgspec.msgpack.encode(body)  # what the stream does with it
        self.sent.append((height, key, body))
        return len(self.sent)


@pytest.fixture
def mev_settings(tmp_path: Path) -> Settings:
    return load_settings(None, data_dir=tmp_path / "data", store={"sync": False})


def new_plugin(settings: Settings, topic: FakeTopic | None = None, **config: Any) -> Plugin:
    plugin = Plugin(settings, Config.model_validate(config))
    if topic is not None:
        plugin.register_stream_topics(topic.register)
    return plugin


def commit(plugin: Plugin, block: L1Block) -> None:
    """What the node does for a committed block: the L1 block, then `notify_block`."""
    plugin.on_l1_block(block)
    plugin.notify_block(info(block))


def expected_sandwiches() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(
        (DATA_DIR / "expected" / f"{SANDWICH_BLOCK}.sandwiches.json").read_text()
    )
    return data


monmouth = partial(clirun.monmouth, timeout=60, cwd=ROOT)


# ---------------------------------------------------------------------------- the plugin


def test_mev_is_an_optional_builtin_with_the_plugin_class(mev_settings: Settings) -> None:
    assert "mev" in OPTIONAL_BUILTINS
    found = {f.name: f for f in find_plugins(mev_settings)}
    assert found["mev"].enabled is False
    assert load_plugins(mev_settings).get_plugin("mev") is None
    on = mev_settings.model_copy(
        update={"plugins": mev_settings.plugins.model_copy(update={"enable": ["mev"]})}
    )
    plugin = load_plugins(on).get_plugin("mev")
    assert isinstance(plugin, Plugin) and plugin.wants_traces is True
    assert {
        "notify_block",
        "notify_transactions",
        "revert_blocks",
        "register_stream_topics",
        "startup",
        "shutdown",
    } <= set(implemented_hooks(plugin))
    # Its command is the package's, offered without building the plugin.
    assert commands_of(mev_module) is mev_module.register_commands


def test_config_is_validated() -> None:
    settings = load_settings(None, plugins={"enable": ["mev"], "mev": {"ethereum": False}})
    plugin = load_plugins(settings).get_plugin("mev")
    assert isinstance(plugin, Plugin) and plugin.wants_traces is False
    for bad in ({"spam_min": 0}, {"cu_k": -1}, {"nonsense": 1}, {"keep_blocks": -1}):
        with pytest.raises(ConfigError, match=r"\[plugins.mev\]"):
            load_plugins(load_settings(None, plugins={"enable": ["mev"], "mev": bad}))
    settings = load_settings(None, plugins={"enable": ["mev"], "mev": {"spam_min": 2}})
    plugin = load_plugins(settings).get_plugin("mev")
    assert isinstance(plugin, Plugin) and plugin.detector.config.spam_min == 2


def test_mainnet_blocks_are_found_stored_and_published(mev_settings: Settings) -> None:
    topic = FakeTopic()
    plugin = new_plugin(mev_settings, topic)
    assert topic.kind == "mev"
    sandwich, arbitrage = l1_block(SANDWICH_BLOCK), l1_block(ARBITRAGE_BLOCK)
    commit(plugin, sandwich)
    commit(plugin, arbitrage)
    record = plugin.store.get(SANDWICH_BLOCK, sandwich.hash)
    assert record is not None and record.traced and record.error is None
    assert to_json(record)["sandwiches"] == expected_sandwiches()
    library = inspect_block(block_file(SANDWICH_BLOCK))
    assert (record.swaps, record.sandwiches, record.arbitrages) == (
        library.swaps,
        library.sandwiches,
        library.arbitrages,
    )
    arbs = plugin.store.get(ARBITRAGE_BLOCK, arbitrage.hash)
    assert arbs is not None and len(arbs.swaps) == 51
    profits = {a.transaction_hash: a.profit_amount for a in arbs.arbitrages}
    assert profits == {
        "0x448245bf1a507b73516c4eeee01611927dada6610bf26d403012f2e66800d8f0": 750005273675102326,
        "0xfcf4558f6432689ea57737fe63124a5ec39fd6ba6aaf198df13a825dd599bffc": (
            53560707941943273628
        ),
    }
    # One message per sandwich and arbitrage (no swaps unless asked), keyed by kind, in order.
    assert len(arbs.sandwiches) == 2
    assert [(h, k) for h, k, _ in topic.sent] == [
        (SANDWICH_BLOCK, "sandwich"),
        (ARBITRAGE_BLOCK, "sandwich"),
        (ARBITRAGE_BLOCK, "sandwich"),
        (ARBITRAGE_BLOCK, "arbitrage"),
        (ARBITRAGE_BLOCK, "arbitrage"),
    ]
    _, _, body = topic.sent[0]
    assert body["block_hash"] == "0x" + sandwich.hash.hex()
    # Amounts are decimal strings on the stream (MessagePack stops at 64 bits).
    assert body["profit_amount"] == "49991481915322274"
    expected = expected_sandwiches()[0]
    assert body["frontrun_swap"]["token_in_amount"] == str(
        expected["frontrun_swap"]["token_in_amount"]
    )
    assert body["frontrun_swap"]["transaction_position"] == 2
    plugin.close()


def test_publish_swaps(mev_settings: Settings) -> None:
    topic = FakeTopic()
    plugin = new_plugin(mev_settings, topic, publish_swaps=True)
    commit(plugin, l1_block(SANDWICH_BLOCK))
    keys = [k for _, k, _ in topic.sent]
    assert keys.count("swap") == 21 and keys.count("sandwich") == 1
    plugin.close()


def test_a_revert_deletes_exactly_the_reverted_block(mev_settings: Settings) -> None:
    topic = FakeTopic()
    plugin = new_plugin(mev_settings, topic)
    before = l1_block(SANDWICH_BLOCK - 1, traces=False)
    old = l1_block(SANDWICH_BLOCK)
    commit(plugin, before)
    commit(plugin, old)
    assert plugin.store.head() == (SANDWICH_BLOCK, old.hash)
    plugin.revert_blocks([info(old)])
    assert plugin.store.get(SANDWICH_BLOCK, old.hash) is None
    assert plugin.store.get(SANDWICH_BLOCK - 1, before.hash) is not None
    assert plugin.store.head() == (SANDWICH_BLOCK - 1, old.parent_hash)
    assert topic.sent[-1] == (
        SANDWICH_BLOCK,
        "revert",
        {"block_number": SANDWICH_BLOCK, "block_hash": "0x" + old.hash.hex()},
    )
    # The new block at that height, without traces this time.
    new = l1_block(SANDWICH_BLOCK, fork="b", traces=False)
    commit(plugin, new)
    (record,) = plugin.store.at(SANDWICH_BLOCK)
    assert record.block_hash == "0x" + new.hash.hex() and not record.traced
    assert record.sandwiches == ()
    # A block without findings goes without a message.
    sent = len(topic.sent)
    plugin.revert_blocks([info(new)])
    assert plugin.store.at(SANDWICH_BLOCK) == [] and len(topic.sent) == sent
    plugin.close()


def test_a_missed_revert_leaves_one_record_per_height(mev_settings: Settings) -> None:
    plugin = new_plugin(mev_settings)
    commit(plugin, l1_block(SANDWICH_BLOCK))
    other = l1_block(SANDWICH_BLOCK, fork="b", traces=False)
    commit(plugin, other)  # nobody said the first one was reverted
    assert [r.block_hash for r in plugin.store.at(SANDWICH_BLOCK)] == ["0x" + other.hash.hex()]
    plugin.close()


def test_findings_survive_a_restart(mev_settings: Settings) -> None:
    plugin = new_plugin(mev_settings)
    block = l1_block(SANDWICH_BLOCK)
    commit(plugin, block)
    stored = plugin.store.get(block.number, block.hash)
    plugin.shutdown()
    again = new_plugin(mev_settings)
    assert again.store.get(block.number, block.hash) == stored
    assert again.store.head() == (block.number, block.hash)
    again.close()


def test_notify_block_before_the_l1_block_merges(mev_settings: Settings) -> None:
    """Whatever order the node calls them in, the record ends up whole."""
    topic = FakeTopic()
    plugin = new_plugin(mev_settings, topic)
    block = l1_block(SANDWICH_BLOCK)
    plugin.notify_block(info(block))
    first = plugin.store.get(block.number, block.hash)
    assert first is not None and not first.traced
    plugin.on_l1_block(block)
    record = plugin.store.get(block.number, block.hash)
    assert record is not None and record.traced and len(record.sandwiches) == 1
    assert [k for _, k, _ in topic.sent] == ["sandwich"]
    plugin.close()


def test_bad_traces_are_recorded_not_raised(mev_settings: Settings) -> None:
    plugin = new_plugin(mev_settings)
    good = block_file(SANDWICH_BLOCK)["traces"]
    broken = [{**good[0], "trace_address": "nope"}, *good[1:]]
    unknown = [{**good[0], "type": "selfdestruct"}, *good[1:]]
    block = L1Block(1, fake_hash(1), fake_hash(0), 0, (), traces=tuple(broken))
    commit(plugin, block)
    record = plugin.store.get(1, block.hash)
    assert record is not None and record.traced and record.error is not None
    assert "trace_address" in record.error
    # A trace type the library does not know is left out; the rest is inspected.
    block = L1Block(SANDWICH_BLOCK, fake_hash(2), fake_hash(1), 0, (), traces=tuple(unknown))
    commit(plugin, block)
    record = plugin.store.get(SANDWICH_BLOCK, block.hash)
    assert record is not None and record.error is None and record.traced
    plugin.close()


def test_ethereum_side_off(mev_settings: Settings) -> None:
    plugin = new_plugin(mev_settings, ethereum=False)
    assert plugin.wants_traces is False
    block = l1_block(SANDWICH_BLOCK)
    commit(plugin, block)
    record = plugin.store.get(block.number, block.hash)
    assert record is not None and not record.traced and record.swaps == ()
    plugin.close()


def test_keep_blocks_prunes_old_records(mev_settings: Settings) -> None:
    plugin = new_plugin(mev_settings, keep_blocks=3)
    for n in range(1, 8):
        commit(plugin, L1Block(n, fake_hash(n), fake_hash(n - 1), 0, ()))
    assert plugin.store.numbers() == [5, 6, 7]
    plugin.close()


# ---------------------------------------------------------------------------- the CLI


def test_mev_block_cli(mev_settings: Settings) -> None:
    plugin = new_plugin(mev_settings)
    block = l1_block(SANDWICH_BLOCK)
    commit(plugin, block)
    plugin.close()
    data_dir = str(mev_settings.data_dir)
    out = monmouth("mev", "--block", str(SANDWICH_BLOCK), "--data-dir", data_dir, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert list(data) == [
        "block_number",
        "block_hash",
        "traced",
        "swaps",
        "sandwiches",
        "arbitrages",
        "svm_findings",
        "error",
    ]
    assert data["block_number"] == SANDWICH_BLOCK
    assert data["block_hash"] == "0x" + block.hash.hex()
    assert data["traced"] is True and len(data["swaps"]) == 21
    assert data["sandwiches"] == expected_sandwiches()
    people = monmouth("mev", "--block", str(SANDWICH_BLOCK), "--data-dir", data_dir)
    assert people.returncode == 0, people.stderr
    assert "0x000000000027d2efc283613d0c3e24a8b430c4d8" in people.stdout
    missing = monmouth("mev", "--block", "5", "--data-dir", data_dir, "--json")
    assert missing.returncode == 1 and "no MEV record for block 5" in missing.stderr
    # After the revert, the block is gone.
    plugin = new_plugin(mev_settings)
    plugin.revert_blocks([info(block)])
    plugin.close()
    gone = monmouth("mev", "--block", str(SANDWICH_BLOCK), "--data-dir", data_dir, "--json")
    assert gone.returncode == 1


def test_mev_block_cli_without_data(tmp_path: Path) -> None:
    out = monmouth("mev", "--block", "1", "--data-dir", str(tmp_path / "none"))
    assert out.returncode == 2 and "no MEV findings" in out.stderr
    with pytest.raises(DataDirError):
        MevStore(tmp_path / "none" / "mev", readonly=True)


def test_mev_inspect_cli() -> None:
    path = str(BLOCKS_DIR / f"{SANDWICH_BLOCK}.json.xz")
    out = monmouth("mev", "inspect", path, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert list(data) == ["block_number", "swaps", "sandwiches", "arbitrages"]
    assert data["block_number"] == SANDWICH_BLOCK and len(data["swaps"]) == 21
    assert data["sandwiches"] == expected_sandwiches()
    people = monmouth("mev", "inspect", path)
    assert people.returncode == 0 and "sandwich" in people.stdout
    # Enabled or not, the command is there.
    enabled = monmouth("mev", "inspect", path, "--json", MONMOUTH_PLUGINS__ENABLE='["mev"]')
    assert enabled.returncode == 0 and json.loads(enabled.stdout) == data


def test_mev_cli_errors(tmp_path: Path) -> None:
    assert monmouth("mev").returncode == 2
    missing = monmouth("mev", "inspect", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "no block file" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"block_number": 1}')
    broken = monmouth("mev", "inspect", str(bad))
    assert broken.returncode == 2 and "bad.json" in broken.stderr
    assert monmouth("mev", "frobnicate").returncode == 2


# ---------------------------------------------------------------------------- through a node


def records(data_dir: Path) -> dict[int, MevBlock]:
    with MevStore(data_dir / "mev", readonly=True) as store:
        return {n: r for n in store.numbers() for r in store.at(n)}


def hashes(data_dir: Path) -> dict[int, str]:
    with Store(data_dir, readonly=True) as store:
        head = store.head()
        assert head is not None
        return {b.number: "0x" + b.hash.hex() for b in store.blocks(0, head.number)}


def test_svm_side_through_a_node_with_reorgs(monmouth_run: MonmouthRunner, tmp_path: Path) -> None:
    """Findings of a devnet run with reorgs equal those of a fresh node replaying the final
    canonical chain, block by block: reverts deleted exactly the reverted blocks' records and
    undid the SVM detector."""
    run = monmouth_run(
        mev_module, name="mev", blocks=60, mev_patterns=True, reorg_probability=0.3, seed=5
    )
    assert run.stats.reverted > 0
    assert isinstance(run.plugin, Plugin)
    found = records(run.data_dir)
    canonical = hashes(run.data_dir)
    # Exactly one record per committed block, and it is the committed block's.
    assert {n: r.block_hash for n, r in found.items()} == canonical
    kinds = {f.kind for r in found.values() for f in r.svm_findings}
    assert {"svm_sandwich", "spam", "replay"} <= kinds
    assert not any(r.traced for r in found.values())  # the devnet serves no traces

    chain = devnet_chain(run.settings.devnet, DEFAULT_INBOX_ADDRESS)
    head = max(canonical)
    while chain.tip.number < head:
        chain.next_event()
    replay = tmp_path / "canonical.jsonl"
    write_replay(replay, chain.canonical()[: head + 1])
    fresh = monmouth_run(mev_module, name="mev", blocks=None, replay_file=replay)
    again = records(fresh.data_dir)
    same = [n for n in canonical if hashes(fresh.data_dir).get(n) == canonical[n]]
    assert len(same) > head // 2
    for n in same:
        assert again[n] == found[n], n


def test_findings_on_the_stream_log(monmouth_run: MonmouthRunner) -> None:
    """Through a node, each SVM finding is one `mev` message keyed by its kind."""
    run = monmouth_run(mev_module, name="mev", blocks=25, mev_patterns=True)
    found = records(run.data_dir)
    expected = sorted((n, f.kind, f.summary) for n, r in found.items() for f in r.svm_findings)
    assert expected
    sent = []
    with Store(run.data_dir, readonly=True) as store:
        first, end, _ = store.stream_bounds()
        for _, segment in store.segments(first, end):
            if segment.kind == "plugin":
                kind, key, body = msgspec.msgpack.decode(segment.data)
                assert kind == "mev"
                payload = msgspec.msgpack.decode(body)
                assert payload["block_hash"] == found[segment.height].block_hash
                sent.append((segment.height, key, payload["summary"]))
    assert sorted(sent) == expected


def test_detector_matches_the_library(monmouth_run: MonmouthRunner) -> None:
    """The stored SVM findings are what `SvmDetector` gives on the same blocks."""
    run = monmouth_run(mev_module, name="mev", blocks=20, mev_patterns=True)
    found = records(run.data_dir)
    assert isinstance(run.plugin, Plugin)
    assert sum(len(r.svm_findings) for r in found.values()) > 0
    assert isinstance(run.plugin.detector, SvmDetector)
    assert run.plugin.detector.newest is not None
    assert run.plugin.detector.newest <= max(found)


def test_ethereum_side_through_a_node(monmouth_run: MonmouthRunner, tmp_path: Path) -> None:
    """A replay file whose blocks carry mainnet call traces: the node hands each committed L1
    block to the plugin (`notify_l1_block`), which stores and shows the sandwich."""
    first = L1Block(SANDWICH_BLOCK - 1, fake_hash(SANDWICH_BLOCK - 1), fake_hash(0), 0, ())
    second = l1_block(SANDWICH_BLOCK)
    replay = tmp_path / "traced.jsonl"
    write_replay(replay, [first, second])
    run = monmouth_run(mev_module, name="mev", blocks=None, replay_file=replay)
    found = records(run.data_dir)
    assert not found[SANDWICH_BLOCK - 1].traced
    assert to_json(found[SANDWICH_BLOCK])["sandwiches"] == expected_sandwiches()
    out = monmouth("mev", "--block", str(SANDWICH_BLOCK), "--data-dir", str(run.data_dir), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["sandwiches"] == expected_sandwiches()
