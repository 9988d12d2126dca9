"""Which ZeroMQ endpoints stay on this computer: the server needs no CURVE keys for them, and the Blender add-on may
reach them with Online Access off (a server on this computer is not "online")."""
from __future__ import annotations

import ipaddress

#: Transports that never leave the machine.
LOCAL_TRANSPORTS = ("ipc://", "inproc://")
LOOPBACK_NAMES = ("localhost",)


def is_loopback(endpoint: str) -> bool:
    """True for ipc/inproc and tcp on 127.0.0.0/8, ::1 or localhost; False for wildcards and every other address."""
    if endpoint.startswith(LOCAL_TRANSPORTS):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://"):].rsplit(":", 1)[0].strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface name or a host name: not provably loopback
        return False
