"""CURVE: required beyond loopback, enforced when configured; key files from `sounding keys`."""
import pytest
from sounding_protocol.client import CurveKeys, RequestTimeout, SoundingClient
from server_harness import running_server

from sounding.cli import main
from sounding.server.config import ServerConfig
from sounding.server.router import Server
from sounding.server.security import ConfigurationError, create_keys
from sounding_protocol.endpoints import is_loopback


@pytest.mark.parametrize("endpoint, loopback", [
    ("tcp://127.0.0.1:5557", True), ("tcp://127.3.2.1:1", True), ("tcp://localhost:5557", True),
    ("tcp://[::1]:5557", True), ("ipc:///tmp/sounding", True), ("inproc://x", True),
    ("tcp://0.0.0.0:5557", False), ("tcp://*:5557", False), ("tcp://192.168.1.4:5557", False),
    ("tcp://eth0:5557", False), ("tcp://[::]:5557", False), ("udp://127.0.0.1:1", False),
])
def test_is_loopback(endpoint, loopback):
    assert is_loopback(endpoint) is loopback


def test_non_loopback_bind_without_keys_is_refused():
    server = Server(ServerConfig(bind="tcp://0.0.0.0:*"), lambda: pytest.fail("must not load an engine"))
    with pytest.raises(ConfigurationError, match="CURVE"):
        server.run()


def test_half_a_key_configuration_is_refused(tmp_path):
    server = Server(ServerConfig(bind="tcp://0.0.0.0:*", curve_clients=str(tmp_path)), lambda: None)
    with pytest.raises(ConfigurationError, match="both"):
        server.run()


def test_curve_server_answers_only_clients_with_keys(tmp_path):
    assert main(["keys", "--out", str(tmp_path / "keys")]) == 0
    server_public, client_public = tmp_path / "keys" / "server.key", tmp_path / "keys" / "client.key"
    clients = tmp_path / "clients"
    clients.mkdir()
    (clients / client_public.name).write_bytes(client_public.read_bytes())
    with running_server(curve_secret_key=f"{server_public}_secret", curve_clients=str(clients)) as server:
        keys = CurveKeys.from_files(str(server_public), f"{client_public}_secret")
        with SoundingClient(server.endpoint, timeout=30, curve=keys) as client:
            assert client.health()["protocol"] == 1
        with SoundingClient(server.endpoint, timeout=0.5) as plain:
            with pytest.raises(RequestTimeout):
                plain.health()
        stranger_dir = tmp_path / "stranger"
        _, stranger_public = create_keys(str(stranger_dir))
        stranger = CurveKeys.from_files(str(server_public), f"{stranger_public}_secret")
        with SoundingClient(server.endpoint, timeout=0.5, curve=stranger) as client:
            with pytest.raises(RequestTimeout):
                client.health()
