"""The `monmouth` command, run as users run it: a real process, real files, real signals."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import base58
import clirun
import pytest
from plugin_install import install_plugin

from monmouth.core.config import load_settings
from monmouth.core.state import Store
from monmouth.devnet import DevnetChain

ENV = {**os.environ, "MONMOUTH_STORE__SYNC": "false", "MONMOUTH_PLUGINS__ENABLE": "[]"}


#: Each run must succeed unless the test says `code=None` (and checks `returncode` itself).
monmouth = functools.partial(clirun.monmouth, env=ENV, timeout=240, code=0)


def status(data: Path) -> dict[str, object]:
    result: dict[str, object] = json.loads(
        monmouth("status", "--data-dir", str(data), "--json").stdout
    )
    return result


def test_run_status_account_tx(tmp_path: Path) -> None:
    data = tmp_path / "data"
    monmouth("run", "--data-dir", str(data), "--blocks", "30")
    st = status(data)
    assert set(st) == {"head_number", "head_hash", "state_hash", "accounts", "transactions"}
    assert st["head_number"] == 29
    assert isinstance(st["head_hash"], str) and st["head_hash"].startswith("0x")
    assert isinstance(st["accounts"], int) and st["accounts"] > 10

    with Store(data, readonly=True) as store:
        pubkey, _ = next(store.iter_accounts())
    acct = json.loads(
        monmouth(
            "account", base58.b58encode(pubkey).decode(), "--data-dir", str(data), "--json"
        ).stdout
    )
    assert set(acct) == {"pubkey", "lamports", "owner", "executable", "rent_epoch", "data"}
    assert acct["lamports"] > 0

    # The devnet planted a failing transaction; `tx` shows it with its error and fee.
    settings = load_settings(None)
    chain = DevnetChain(settings.devnet, settings.inbox.address_bytes)
    planted = []
    while chain.tip.number < 29:
        chain.next_event()
        planted += [p for p in chain.planted(chain.tip.hash) if p.what == "failed"]
    assert planted and planted[0].signature is not None
    sig = base58.b58encode(planted[0].signature).decode()
    tx = json.loads(monmouth("tx", sig, "--data-dir", str(data), "--json").stdout)
    assert set(tx) == {
        "signature",
        "status",
        "reason",
        "error",
        "slot",
        "fee",
        "compute_units",
        "logs",
    }
    assert tx["status"] == "failed" and tx["reason"] is None and tx["fee"] >= 5000
    assert tx["error"] and tx["logs"]

    missing = monmouth(
        "account",
        "11111111111111111111111111111112",
        "--data-dir",
        str(data),
        "--json",
        code=None,
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    unknown = monmouth("tx", "1" * 64, "--data-dir", str(data), code=None)
    assert unknown.returncode in (1, 2)
    bad = monmouth("account", "not-a-key", "--data-dir", str(data), code=None)
    assert bad.returncode == 2 and "base58" in bad.stderr


def test_user_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[devnet]\nseed = 'x'\n")
    proc = monmouth("run", "--config", str(config), "--data-dir", str(tmp_path / "d"), code=None)
    assert proc.returncode == 2 and "devnet.seed" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    proc = monmouth("run", "--data-dir", str(foreign), "--blocks", "1", code=None)
    assert proc.returncode == 2 and "no monmouth data" in proc.stderr
    assert (foreign / "mine.txt").read_text() == "keep me"

    proc = monmouth("status", "--data-dir", str(tmp_path / "nowhere"), code=None)
    assert proc.returncode == 2 and "monmouth run" in proc.stderr


def test_replay_round_trip_and_broken_file(tmp_path: Path) -> None:
    chain = tmp_path / "chain.jsonl"
    monmouth("record", "--blocks", "20", "--out", str(chain))
    assert len(chain.read_text().splitlines()) == 20
    data = tmp_path / "replayed"
    monmouth("run", "--source", "replay", "--replay-file", str(chain), "--data-dir", str(data))
    live = tmp_path / "live"
    monmouth("run", "--data-dir", str(live), "--blocks", "20")
    assert status(data) == status(live)

    lines = chain.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([*lines[:10], lines[10][:40], *lines[11:]]) + "\n")
    data2 = tmp_path / "partial"
    proc = monmouth("run", "--replay-file", str(broken), "--data-dir", str(data2), code=None)
    assert proc.returncode == 2 and "line 11" in proc.stderr
    assert status(data2)["head_number"] == 9  # the blocks before the broken line are kept

    other = tmp_path / "other.jsonl"
    monmouth("record", "--blocks", "5", "--out", str(other), MONMOUTH_DEVNET__SEED="99")
    proc = monmouth("run", "--replay-file", str(other), "--data-dir", str(data), code=None)
    assert proc.returncode == 2 and "same chain" in proc.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_cleanly_and_restart_continues(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = clirun.spawn("run", "--data-dir", str(data), env=ENV, MONMOUTH_DEVNET__INTERVAL="0.05")
    deadline = time.monotonic() + 120
    head = None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if (data / "data.mdb").exists():
            head = status(data)["head_number"]
            if isinstance(head, int) and head >= 10:
                break
    clirun.stop(proc)
    first = status(data)
    assert isinstance(first["head_number"], int) and first["head_number"] >= 10
    monmouth("run", "--data-dir", str(data), "--blocks", "5")
    assert status(data)["head_number"] == first["head_number"] + 5


def test_plugins_list() -> None:
    rows = json.loads(monmouth("plugins", "list", "--json").stdout)
    routing = next(r for r in rows if r["name"] == "routing")
    assert routing == {
        "name": "routing",
        "origin": "built-in",
        "enabled": True,
        "hooks": ["route_transaction"],
    }
    off = json.loads(
        monmouth("plugins", "list", "--json", MONMOUTH_PLUGINS__DISABLE='["routing"]').stdout
    )
    assert next(r for r in off if r["name"] == "routing")["enabled"] is False


FAILING_PLUGIN = """
from monmouth.hooks import hookimpl


@hookimpl
def notify_block(block):
    if block.number == 2:
        raise RuntimeError("cannot keep up")
"""


def test_a_halting_plugin_exits_3_and_keeps_the_block(tmp_path: Path) -> None:
    env = install_plugin(tmp_path, "failing", FAILING_PLUGIN)
    data = tmp_path / "data"
    config = tmp_path / "halt.toml"
    config.write_text('[plugins]\nenable = ["failing"]\n[plugins.failing]\non_error = "halt"\n')
    proc = monmouth(
        "run",
        "--config",
        str(config),
        "--data-dir",
        str(data),
        "--blocks",
        "10",
        code=None,
        env={**ENV, **env},
    )
    assert proc.returncode == 3, proc.stderr
    assert "failing" in proc.stderr.splitlines()[-1]
    head = status(data)["head_number"]
    assert isinstance(head, int) and 2 <= head < 9
    # With the default policy the node disables it and carries on.
    config.write_text('[plugins]\nenable = ["failing"]\n')
    proc = monmouth(
        "run",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "d2"),
        "--blocks",
        "10",
        code=None,
        env={**ENV, **env},
    )
    assert proc.returncode == 0, proc.stderr


#: What a command that only reads must not import before it runs: the node's execution, its
#: event stream, telemetry, the plugins' libraries (each costs tens of milliseconds at start).
HEAVY = ("solders", "opentelemetry", "zmq", "numpy", "usearch", "httpx", "anyio", "structlog")
#: Not even when `--help` imports every built-in plugin to list its commands (structlog and the
#: OpenTelemetry API come with the plugin host; the rest belongs to running a node).
HEAVY_FOR_HELP = (
    "solders",
    "opentelemetry.sdk",
    "zmq",
    "numpy",
    "lmdb",
    "usearch",
    "httpx",
    "anyio",
)


@pytest.mark.parametrize(
    ("argv", "heavy"),
    [
        (["status"], HEAVY),
        (["account", "x"], HEAVY),
        (["tx", "x"], HEAVY),
        (["plugins", "list"], HEAVY),
        (["--help"], HEAVY_FOR_HELP),
        ([], HEAVY_FOR_HELP),
    ],
)
def test_read_commands_start_light(argv: list[str], heavy: tuple[str, ...]) -> None:
    """The app as built for a read-only command imports none of the heavy modules (a test on
    what is imported, where a timing would be noisy): start-up stays near 0.3 s."""
    code = (
        "import sys, monmouth.cli as cli; "
        f"cli.add_plugin_commands({argv!r}); "
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    )
    proc = clirun.python("-c", code, env=ENV, timeout=60, code=0)
    assert proc.stdout.split() == []


def test_reading_a_state_stays_light(tmp_path: Path) -> None:
    """Not only the app: `status` and `account` run on a state with a head, and still import
    none of the heavy modules (numpy comes with the lattice hash, which a stored head needs
    not)."""
    data = tmp_path / "data"
    monmouth("run", "--blocks", "3", "--data-dir", str(data))
    with Store(data, readonly=True) as store:
        account = base58.b58encode(next(iter(store.iter_accounts()))[0]).decode()
    for argv in (["status", "--json"], ["account", account, "--json"]):
        code = (
            "import sys; from monmouth.cli import main; "
            f"sys.argv = ['monmouth', *{argv!r}, '--data-dir', {str(data)!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
        )
        proc = clirun.python("-c", code, env=ENV, timeout=60, code=0)
        assert proc.stdout.startswith("{"), (argv, proc.stdout)
        assert proc.stderr.split() == [], argv


def test_the_command_and_config_are_read_ahead_of_typer() -> None:
    """What the CLI reads from the arguments before typer parses them: which command runs (its
    own need no plugin's commands) and the `--config` file (plugins' commands follow it)."""
    from monmouth.cli import _command_name, _config_file

    assert _command_name(["--config", "f.toml", "status", "--json"]) == "status"
    assert _command_name(["--help"]) is None
    assert _command_name(["rag", "stats", "--config", "f.toml"]) == "rag"
    assert _config_file(["rag", "--config", "f.toml"]) == Path("f.toml")
    assert _config_file(["--config=f.toml", "greet"]) == Path("f.toml")
    assert _config_file(["send", "--", "--config", "f.toml"]) is None
