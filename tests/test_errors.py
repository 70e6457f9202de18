"""One rule for errors: bad input or a bad environment ends a `monmouth` process with one
`error:` line and the documented exit code (README, "Exit codes"), never a traceback, and what
was committed before stays committed."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin_install import install_plugin
from streamkit import free_endpoint
from test_cli import ENV, monmouth, status


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one line a failing command prints (log lines are JSON and come before it)."""
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Six recorded devnet blocks, as replay-file lines."""
    path = tmp_path_factory.mktemp("chain") / "chain.jsonl"
    monmouth("record", "--blocks", "6", "--out", str(path))
    return path.read_bytes().splitlines()


def _with_field(line: bytes, key: str, value: str) -> bytes:
    block = json.loads(line)
    block[key] = value
    return json.dumps(block).encode()


#: Replay files broken after three good blocks: (what breaks line 4, what the error says).
BROKEN_LINES: dict[str, tuple[Callable[[list[bytes]], bytes], str]] = {
    "not utf-8": (lambda lines: b'\xff\xfe{"number": "0x3"}', "utf-8"),
    "nested 100,000 deep": (lambda lines: b"[" * 100_000, "nested too deeply"),
    "timestamp of 2^63": (
        lambda lines: _with_field(lines[3], "timestamp", hex(2**63)),
        "timestamp is out of range",
    ),
    "number of 2^64+1": (
        lambda lines: _with_field(lines[3], "number", hex(2**64 + 1)),
        "number is out of range",
    ),
    "a 10 MB quantity": (
        lambda lines: _with_field(lines[3], "number", "0x" + "f" * 10_000_000),
        "number is not a hex quantity",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_LINES))
def test_a_broken_replay_line_keeps_the_blocks_before_it(
    case: str, chain: list[bytes], tmp_path: Path
) -> None:
    make, says = BROKEN_LINES[case]
    replay = tmp_path / "broken.jsonl"
    replay.write_bytes(b"\n".join([*chain[:3], make(chain), *chain[4:]]) + b"\n")
    data = tmp_path / "data"
    proc = monmouth("run", "--replay-file", str(replay), "--data-dir", str(data), code=None)
    assert proc.returncode == 2, proc.stderr
    line = error_line(proc)
    assert "line 4" in line and says in line
    assert len(line) < 300
    assert status(data)["head_number"] == 2


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["run", "--blocks", "1"], {"MONMOUTH_PLUGINS__ENABLE": "[not json"}, "environment"),
        (["run", "--blocks", "1", "--publish", "tcp://127.0.0.1:99999"], {}, "0 to 65535"),
        (["run", "--blocks", "1", "--publish", "udp://127.0.0.1:7700"], {}, "tcp://HOST:PORT"),
        (["run", "--role", "replica", "--upstream", "127.0.0.1:7700"], {}, "tcp://HOST:PORT"),
    ],
)
def test_bad_settings_exit_2(
    argv: list[str], env: dict[str, str], says: str, tmp_path: Path
) -> None:
    proc = monmouth(*argv, "--data-dir", str(tmp_path / "d"), code=None, env={**ENV, **env})
    assert proc.returncode == 2, proc.stderr
    assert says in error_line(proc)
    assert not (tmp_path / "d").exists()


def test_bad_places_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = monmouth("run", "--blocks", "1", "--data-dir", str(blocker / "data"), code=None)
    assert proc.returncode == 2 and "cannot create data directory" in error_line(proc)

    folder = tmp_path / "folder"
    folder.mkdir()
    proc = monmouth(
        "run", "--replay-file", str(folder), "--data-dir", str(tmp_path / "d"), code=None
    )
    assert proc.returncode == 2 and "is a directory" in error_line(proc)


def _file_size_limit(size: int) -> Callable[[], None]:
    def limit() -> None:
        # Writes past `size` fail with EFBIG (Python ignores SIGXFSZ), as on a full disk.
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE as a full disk")
def test_a_full_disk_exits_2_and_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = monmouth(
        *("run", "--data-dir", str(data), "--blocks", "40"),
        code=None,
        preexec_fn=_file_size_limit(3_000_000),
        MONMOUTH_STORE__SYNC="true",
    )
    assert proc.returncode == 2, proc.stderr
    assert "disk full" in error_line(proc)
    head = status(data)["head_number"]
    assert isinstance(head, int) and 0 <= head < 39
    # With room again, the run goes on from there and ends where one uninterrupted run does.
    monmouth("run", "--data-dir", str(data), "--blocks", str(40 - (head + 1)))
    monmouth("run", "--data-dir", str(tmp_path / "whole"), "--blocks", "40")
    assert status(data) == status(tmp_path / "whole")


BAD_PLUGINS = {
    "a constructor that does not fit": (
        "class Plugin:\n    def __init__(self):\n        pass\n",
        2,
        "cannot be built",
    ),
    "a router returning an int": (
        "from monmouth.hooks import hookimpl\n\n"
        "@hookimpl\ndef route_transaction(tx, block):\n    return 7\n",
        3,
        "returned int",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PLUGINS))
def test_a_bad_plugin_is_named_in_one_line(case: str, tmp_path: Path) -> None:
    source, code, says = BAD_PLUGINS[case]
    env = install_plugin(tmp_path, "bad", source)
    data = tmp_path / "data"
    proc = monmouth("run", "--data-dir", str(data), "--blocks", "5", code=None, env={**ENV, **env})
    assert proc.returncode == code, proc.stderr
    line = error_line(proc)
    assert "bad" in line and says in line


#: Kills the stream's publisher child as it starts (sitecustomize runs in every interpreter the
#: test starts; only the child's command line names the publisher module).
KILL_PUBLISHER = """
import os, signal
with open("/proc/self/cmdline", "rb") as f:
    if b"monmouth.stream.publisher_process" in f.read():
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/cmdline")
def test_a_publisher_killed_at_start_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(KILL_PUBLISHER)
    data = tmp_path / "data"
    publish = free_endpoint()
    proc = monmouth(
        "run",
        "--blocks",
        "1",
        "--data-dir",
        str(data),
        "--publish",
        publish,
        code=None,
        PYTHONPATH=str(tmp_path),
    )
    assert proc.returncode == 2, proc.stderr
    assert "publisher process ended at start" in error_line(proc)
