"""The tests' loopback ports (tests/ports.py): never handed out twice, and a refused port that
nothing can take, not even the asking client itself."""

from __future__ import annotations

import errno
import socket

import pytest
import zmq
from ports import free_endpoint, free_pair, free_port, free_ports, refused_port


def test_no_port_is_handed_out_twice() -> None:
    drawn = [free_port() for _ in range(50)] + free_ports(20)
    for _ in range(20):
        port = free_pair()
        drawn += [port, port + 1]
    for _ in range(20):
        port = int(free_endpoint().rsplit(":", 1)[1])
        drawn += [port, port + 1]
    assert len(set(drawn)) == len(drawn) == 150


def _self_connect(port: int) -> socket.socket:
    """A socket on `port` connected to `port`: what a client retrying its connection to a port
    nobody listens on gets when the kernel picks that port as the local one."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


def test_a_port_merely_free_can_answer_its_client() -> None:
    """Why `refused_port` holds its port: at a port that was only free, a client can connect
    to itself and read back what it sent (CI's 'answered something else than a request
    reply' from `monmouth mev --endpoint`)."""
    with _self_connect(free_port()) as sock:
        sock.sendall(b"request")
        assert sock.recv(7) == b"request"


def test_a_refused_port_cannot_be_taken_or_reached() -> None:
    with refused_port() as port:
        with pytest.raises(OSError) as taken:
            _self_connect(port)
        assert taken.value.errno == errno.EADDRINUSE
        with socket.socket() as client, pytest.raises(ConnectionRefusedError):
            client.connect(("127.0.0.1", port))
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        try:
            with context.socket(zmq.ROUTER) as server, pytest.raises(zmq.ZMQError) as bound:
                server.bind(f"tcp://127.0.0.1:{port}")
            assert bound.value.errno == errno.EADDRINUSE
        finally:
            context.term()
    assert port not in {free_port() for _ in range(20)}
