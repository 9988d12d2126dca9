"""CURVE authentication: required when the server binds beyond loopback, optional on loopback."""
from __future__ import annotations

import logging
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from sounding.server.config import ServerConfig
from sounding_protocol.endpoints import is_loopback

log = logging.getLogger(__name__)


class ConfigurationError(Exception):
    """The server cannot start as configured (the message says how to fix it)."""


def secure_socket(socket: zmq.Socket, config: ServerConfig) -> ThreadAuthenticator | None:
    """Make ``socket`` a CURVE server when keys are given; refuse a non-loopback bind without them."""
    if config.curve_secret_key is None and config.curve_clients is None:
        if not is_loopback(config.bind):
            raise ConfigurationError(
                f"refusing to bind {config.bind} without authentication: a non-loopback address needs CURVE keys "
                "(--curve-secret-key SERVER.key_secret --curve-clients DIR; create them with `sounding keys`)")
        return None
    if config.curve_secret_key is None or config.curve_clients is None:
        raise ConfigurationError("CURVE needs both --curve-secret-key and --curve-clients")
    if not Path(config.curve_clients).is_dir():
        raise ConfigurationError(f"--curve-clients {config.curve_clients} is not a directory")
    try:
        public, secret = zmq.auth.load_certificate(config.curve_secret_key)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the server key {config.curve_secret_key}: {exc}") from None
    if secret is None:
        raise ConfigurationError(f"{config.curve_secret_key} holds no secret key (use the .key_secret file)")
    authenticator = ThreadAuthenticator(zmq.Context.instance(), log=log)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=config.curve_clients)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    return authenticator


def create_keys(directory: str) -> tuple[Path, Path]:
    """A server and a client key pair in ``directory`` (``server.key``/``.key_secret``, ``client.key``/...).

    The server's ``--curve-clients`` directory must hold the client's public ``client.key``.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    server_public, _ = zmq.auth.create_certificates(path, "server")
    client_public, _ = zmq.auth.create_certificates(path, "client")
    return Path(server_public), Path(client_public)
