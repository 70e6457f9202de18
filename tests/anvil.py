"""anvil, a real local Ethereum node, for tests.

`make test` installs it from the root package.json (npm package `@foundry-rs/anvil`, pinned in
package-lock.json) into ./node_modules; it runs offline. Tests use the `anvil` fixture, which
tests/conftest.py registers for the whole suite:

    def test_something(anvil: Anvil) -> None:
        anvil.rpc("anvil_mine", "0x5")
        url = anvil.url

or `start_anvil(block_time=1)` as a context manager for other options. Each instance listens on
its own free port with chain id 31337 and the default dev mnemonic (accounts unlocked), and keeps
its chain in a `--state` file: `stop()` ends it with SIGTERM (anvil writes the chain, blocks and
receipts included, to that file on exit) and `restart()` starts it again on the same port from
that file, so the same blocks with the same hashes (and receipts) are served again. `kill()` ends
it with SIGKILL and writes nothing: a restart after it starts from the last state written.

A restarted anvil has the state of its last block only: `anvil_reorg` and `anvil_rollback` can
reach back to the block it restarted at, no further ("Required data unavailable"). Pass
`preserve_history=True` (`--preserve-historical-states`) to reach past it; that costs about
150 KB and 5 ms per block at each stop and start (2,000 blocks: a 320 MB file, 5 s + 6 s).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
from ports import free_port

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
CHAIN_ID = 31337
#: The first account of anvil's default mnemonic ("test test ... junk"): key and address.
DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
#: The second one, for tests that need two senders.
DEV_PRIVATE_KEY_2 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
DEV_ADDRESS_2 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
NOT_INSTALLED = "anvil is not installed in ./node_modules; run `make test` (it runs `npm ci`) first"

_NPM_PLATFORM = {"linux": "linux", "darwin": "darwin", "win32": "win32"}
_NPM_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class AnvilError(Exception):
    """anvil could not start, or answered a call with a JSON-RPC error."""


def anvil_binary() -> Path:
    """The native anvil binary from the platform package npm installed.

    Preferred over node_modules/.bin/anvil, a node wrapper that spawns it: signals then reach
    anvil itself, and a start costs no node process.
    """
    plat = _NPM_PLATFORM.get(sys.platform)
    arch = _NPM_ARCH.get(platform.machine().lower())
    name = "anvil.exe" if sys.platform == "win32" else "anvil"
    if plat and arch:
        native = NODE_MODULES / "@foundry-rs" / f"anvil-{plat}-{arch}" / "bin" / name
        if native.is_file():
            return native
    wrapper = NODE_MODULES / ".bin" / "anvil"
    if wrapper.exists() and shutil.which("node"):
        return wrapper
    raise AnvilError(NOT_INSTALLED)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux: anvil gets SIGTERM if the test process dies without its teardown (SIGKILL, crash).
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_live: set[Anvil] = set()


@atexit.register
def _stop_all() -> None:
    for node in list(_live):
        node.close()


class Anvil:
    """One anvil process and its chain state; see the module docstring."""

    def __init__(
        self,
        *,
        block_time: float | None = None,
        extra_args: Sequence[str] = (),
        preserve_history: bool = False,
        binary: Path | None = None,
    ) -> None:
        self.binary = binary or anvil_binary()
        self.block_time = block_time
        self.preserve_history = preserve_history
        self.extra_args = tuple(extra_args)
        self._dir = Path(tempfile.mkdtemp(prefix="anvil-"))
        self.state_path = self._dir / "state.json"
        self.log_path = self._dir / "anvil.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(timeout=30)
        self._ids = itertools.count(1)
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def args(self) -> list[str]:
        args = [
            str(self.binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(CHAIN_ID),
            "--silent",
            # Loads the chain from this file at start (when it exists) and writes it on exit.
            "--state",
            str(self.state_path),
        ]
        if self.block_time is not None:
            args += ["--block-time", f"{self.block_time:g}"]
        if self.preserve_history:
            args.append("--preserve-historical-states")
        return args + list(self.extra_args)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Anvil:
        """Start on a fresh free port (first start) or on the same port (after a stop)."""
        if self._closed:
            raise AnvilError("this anvil was closed")
        if self.running:
            return self
        fresh = self.port == 0
        for attempt in itertools.count(1):
            if fresh:
                self.port = free_port()
            try:
                self._spawn()
                return self
            except AnvilError as exc:
                # Another process may have taken the free port between the probe and the bind.
                if not fresh or attempt >= 3 or "in use" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        main_thread = threading.current_thread() is threading.main_thread()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.args(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # PDEATHSIG follows the thread that forked; only tie it to the main thread's life.
                preexec_fn=_die_with_parent if sys.platform == "linux" and main_thread else None,
            )
        _live.add(self)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                self._proc = None
                raise AnvilError(f"anvil exited at start: {self._log_tail()}")
            try:
                if int(self.rpc("eth_chainId"), 16) == CHAIN_ID:
                    return
            except (httpx.TransportError, AnvilError):
                pass
            if time.monotonic() > deadline:
                self._terminate(signal.SIGKILL)
                raise AnvilError(
                    f"anvil did not answer within {START_TIMEOUT:g} s: {self._log_tail()}"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop with SIGTERM, as an operator would; anvil writes its chain to the state file."""
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        """Stop with SIGKILL: nothing is written, as in a crash."""
        self._terminate(signal.SIGKILL)

    def restart(self) -> Anvil:
        """Stop (if running) and start again on the same port with the same chain."""
        self.stop()
        return self.start()

    def _terminate(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Close pooled connections to the old process; the next call connects anew.
        self._http.close()
        self._http = httpx.Client(timeout=30)

    def close(self) -> None:
        """Kill the process and remove its files; the object is unusable afterwards."""
        if self._closed:
            return
        self._terminate(signal.SIGKILL)
        self._http.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        self._closed = True
        _live.discard(self)

    def __enter__(self) -> Anvil:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except OSError:
            return "(no output)"
        return " | ".join(text.splitlines()[-5:]) or "(no output)"

    # ------------------------------------------------------------------ JSON-RPC

    def rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; returns its result, raises AnvilError for an error answer."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        answer = self._http.post(self.url, json=payload).json()
        if answer.get("error") is not None:
            error = answer["error"]
            raise AnvilError(f"{method}: {error.get('code')}: {error.get('message')}")
        return answer.get("result")

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def block(self, tag: int | str = "latest", full: bool = False) -> dict[str, Any]:
        ref = hex(tag) if isinstance(tag, int) else tag
        block: dict[str, Any] = self.rpc("eth_getBlockByNumber", ref, full)
        return block

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))


def start_anvil(
    *,
    block_time: float | None = None,
    extra_args: Sequence[str] = (),
    preserve_history: bool = False,
) -> Anvil:
    """Start an anvil and return it once `eth_chainId` answers; use it as a context manager.

    :param block_time: seconds between blocks (`--block-time`); None mines one block per
        transaction (and `anvil_mine` on demand).
    :param extra_args: more anvil flags.
    :param preserve_history: let reorgs and rollbacks reach past a restart (see the module doc).
    """
    node = Anvil(block_time=block_time, extra_args=extra_args, preserve_history=preserve_history)
    try:
        return node.start()
    except BaseException:
        node.close()
        raise


@pytest.fixture(name="anvil")
def anvil_fixture() -> Iterator[Anvil]:
    """A fresh anvil per test (auto-mining: one block per transaction), killed at teardown.

    Fails (never skips) when anvil is not installed.
    """
    try:
        binary: Path | None = anvil_binary()
    except AnvilError:
        binary = None
    if binary is None:
        pytest.fail(NOT_INSTALLED, pytrace=False)
    node = Anvil(binary=binary)
    try:
        node.start()
        yield node
    finally:
        node.close()
