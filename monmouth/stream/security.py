"""CURVE keys and bind checks for the stream's sockets.

Key files are ZeroMQ's certificate format (`zmq.auth.create_certificates`): `NAME.key` holds
the public key, `NAME.key_secret` both. A server allows the clients whose public `.key` files
are in one folder; a client needs its own secret file and the server's public file.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from monmouth.core.errors import ConfigError


def generate_keys(folder: Path, name: str) -> tuple[Path, Path]:
    """Make a key pair `folder/NAME.key` and `folder/NAME.key_secret` (refusing to overwrite)."""
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = folder / f"{name}.key", folder / f"{name}.key_secret"
    for path in (public, secret):
        if path.exists():
            raise ConfigError(f"{path} exists; remove it or pick another --name")
    made_public, made_secret = zmq.auth.create_certificates(str(folder), name)
    Path(made_secret).chmod(0o600)
    return Path(made_public), Path(made_secret)


def _load(path: Path, *, secret: bool) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise ConfigError(f"no CURVE key file at {path}; make one with `monmouth keys generate`")
    try:
        public, secret_key = zmq.auth.load_certificate(str(path))
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{path} is not a CURVE key file: {exc}") from None
    if secret and secret_key is None:
        raise ConfigError(f"{path} holds no secret key; pass the `.key_secret` file")
    return public, secret_key


@dataclass(frozen=True, slots=True)
class ServerCurve:
    """A server's key pair and the folder of client public keys it accepts."""

    public: bytes
    secret: bytes
    allowed: Path

    @classmethod
    def load(cls, secret_file: Path, allowed: Path) -> ServerCurve:
        public, secret = _load(secret_file, secret=True)
        if not allowed.is_dir():
            raise ConfigError(f"the allowed client keys folder {allowed} does not exist")
        assert secret is not None
        return cls(public, secret, allowed)

    def apply(self, socket: zmq.Socket[bytes]) -> None:
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_server = True


@dataclass(frozen=True, slots=True)
class ClientCurve:
    """A client's key pair and the public key of the server it talks to."""

    public: bytes
    secret: bytes
    server: bytes

    @classmethod
    def load(cls, secret_file: Path, server_file: Path) -> ClientCurve:
        public, secret = _load(secret_file, secret=True)
        server, _ = _load(server_file, secret=False)
        assert secret is not None
        return cls(public, secret, server)

    def apply(self, socket: zmq.Socket[bytes]) -> None:
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_serverkey = self.server


def start_authenticator(
    context: zmq.Context[zmq.Socket[bytes]], curve: ServerCurve
) -> ThreadAuthenticator:
    """Check every CURVE client of `context` against the allowed keys folder."""
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=str(curve.allowed))
    return auth


def is_loopback(endpoint: str) -> bool:
    """Whether a `tcp://host:port` (or ipc/inproc) endpoint stays on this machine."""
    parts = urlsplit(endpoint)
    if parts.scheme in ("ipc", "inproc"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # an interface name or `*`: reachable from outside


def check_bind(endpoint: str, *, curve: ServerCurve | None, insecure: bool) -> None:
    """Refuse to bind an address other machines can reach without CURVE, unless allowed."""
    if curve is None and not insecure and not is_loopback(endpoint):
        raise ConfigError(
            f"refusing to bind {endpoint} without CURVE: other machines could read the stream. "
            "Set [stream] curve_secret_key and curve_allowed_keys, or pass --insecure-bind"
        )


def next_port(endpoint: str) -> str:
    """`tcp://host:P` -> `tcp://host:P+1` (where the request socket sits beside a publisher)."""
    parts = urlsplit(endpoint)
    if parts.scheme != "tcp" or parts.port is None:
        raise ConfigError(
            f"cannot derive a request endpoint from {endpoint}; set [stream] request explicitly"
        )
    host = parts.netloc.rsplit(":", 1)[0]
    return f"tcp://{host}:{parts.port + 1}"
