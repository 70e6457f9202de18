"""Loopback ports for tests: free when drawn, and never handed out twice in one test process.

A port the kernel calls free is free only until someone binds it, and the nodes and anvils the
tests start bind theirs a while after the draw: without the record two draws in a row could
return the same port (a replica's publish port drawn again as the executor's request port sent
replay requests to an XPUB socket). Every helper that draws a port draws it here.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

#: Ports this test process has handed out, or holds (`refused_port`).
_GIVEN: set[int] = set()


def _draw(consecutive: int) -> int:
    """A port p such that p .. p + consecutive - 1 are free now and none was handed out."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        ports = range(port, port + consecutive)
        if any(p in _GIVEN for p in ports):
            continue
        try:
            with contextlib.ExitStack() as held:
                for p in ports[1:]:
                    held.enter_context(socket.socket()).bind(("127.0.0.1", p))
        except OSError:
            continue
        _GIVEN.update(ports)
        return port
    raise RuntimeError(f"no {consecutive} consecutive free ports on loopback")


def free_port() -> int:
    """A loopback port free now and not handed out before by this process."""
    return _draw(1)


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports, each as `free_port`."""
    return [_draw(1) for _ in range(count)]


def free_pair() -> int:
    """A loopback port p such that p and p + 1 are free now, neither handed out before by this
    process (a node's request socket is its publish port + 1; web3.js takes PubSub's port as
    the HTTP one + 1)."""
    return _draw(2)


def free_endpoint() -> str:
    """A loopback endpoint whose port and the next one (a node's request socket) are free now,
    and neither handed out before by this process."""
    return f"tcp://127.0.0.1:{free_pair()}"


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port where nothing listens while the block runs, for certain.

    The port stays bound (never listening) by this process: no other socket can bind it (not
    even with SO_REUSEADDR, which needs both sides to ask for it), and the kernel never picks
    an explicitly bound port as the local port of an outgoing connection, so a client that
    retries its connection cannot connect to itself either (TCP's simultaneous open, which a
    free port in the ephemeral range allows). A connection is refused; the port is never
    handed out again.
    """
    for _ in range(100):
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        port: int = held.getsockname()[1]
        if port not in _GIVEN:
            break
        held.close()
    else:
        raise RuntimeError("no loopback port that was not handed out before")
    _GIVEN.add(port)
    with held:
        yield port
