"""The CLI as users run it, `python -m monmouth ARGS` in a child process: the one way tests run
it to its end (`monmouth`) or start a node and stop it as users do (`spawn`, `stop`), and the
one way they run another script of this interpreter (`python`: a benchmark, `-c CODE`).

A test module that runs them with its own defaults (an environment, a timeout, a working
folder, the exit code it expects) binds those once with `functools.partial(monmouth, ...)`
instead of writing another wrapper around `subprocess.run`.

A run times out after two minutes unless told otherwise: a hung child fails its test instead
of stalling the suite. Without `env` the child inherits this process's environment, which the
conftest made safe (no stream, metrics or rpc port bound).
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

__all__ = ["MONMOUTH", "monmouth", "python", "spawn", "stop"]

#: The command line of the CLI of this test environment (the interpreter running the tests,
#: so the monmouth under test, whatever `monmouth` on PATH is).
MONMOUTH = (sys.executable, "-m", "monmouth")

_File = int | IO[bytes] | IO[str] | None


def _environment(
    env: Mapping[str, str] | None, variables: Mapping[str, str]
) -> dict[str, str] | None:
    """None (inherit ours) when nothing was given, else `env` (or ours) with `variables` over it."""
    if env is None and not variables:
        return None
    return {**(os.environ if env is None else env), **variables}


def python(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = 120.0,
    stdin: str | None = None,
    code: int | None = None,
    preexec_fn: Callable[[], object] | None = None,
    **variables: str,
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ARGS (a script and its arguments, `-c CODE`, `-m MODULE`) to
    its end; stdout and stderr captured as text.

    :param env: the child's environment (default: this process's).
    :param cwd: the child's working folder (default: ours).
    :param timeout: seconds before the child is killed and `subprocess.TimeoutExpired` raised;
        None waits as long as the test may run (pytest-timeout's limit).
    :param stdin: text written to the child's standard input (default: none, EOF at once).
    :param code: the exit code expected: anything else fails the test, with the child's stderr
        in the message. None checks nothing (the caller looks at `returncode`).
    :param preexec_fn: run in the child before the interpreter starts (e.g. a resource limit).
    :param variables: environment variables set over `env`, e.g. `MONMOUTH_STORE__SYNC="false"`.
    """
    proc = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        env=_environment(env, variables),
        cwd=cwd,
        preexec_fn=preexec_fn,
    )
    if code is not None:
        assert proc.returncode == code, (
            f"python {' '.join(args)} exited {proc.returncode}, not {code}:\n{proc.stderr[-4000:]}"
        )
    return proc


#: `monmouth ARGS` to its end: `python -m monmouth ARGS`, with the keywords of `python`.
monmouth = functools.partial(python, *MONMOUTH[1:])


def spawn(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdout: _File = subprocess.PIPE,
    stderr: _File = subprocess.PIPE,
    **variables: str,
) -> subprocess.Popen[str]:
    """Start `monmouth ARGS` (a node that runs until stopped) and return at once; text mode.

    :param env: the child's environment (default: this process's).
    :param stdout: where its stdout goes (default: a pipe); a file, `subprocess.DEVNULL`, ...
    :param stderr: where its stderr goes (default: a pipe); `subprocess.STDOUT` joins stdout.
    :param variables: environment variables set over `env`.

    The caller stops it (a signal, `terminate`) and waits for it.
    """
    return subprocess.Popen(
        [*MONMOUTH, *args],
        stdout=stdout,
        stderr=stderr,
        text=True,
        env=_environment(env, variables),
    )


def stop(proc: subprocess.Popen[str], signum: int = signal.SIGTERM, timeout: float = 60) -> str:
    """Signal a `spawn`ed process (SIGTERM as a service manager, SIGINT as Ctrl-C) and wait for
    its end; fails unless it exited 0. Its stderr, when that was a pipe (else "")."""
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return err or ""
