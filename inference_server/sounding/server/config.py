"""Server settings: one dataclass, limits from the protocol's named constants."""
from __future__ import annotations

from dataclasses import dataclass

from sounding_protocol.constants import DEFAULT_ENDPOINT, DEFAULT_LIMITS, MAX_MESSAGE_BYTES, MAX_QUEUED_JOBS, Limits

from sounding.registry import DEFAULT_MODEL

#: How often the ROUTER loop wakes to notice a stop request when no message arrives.
POLL_INTERVAL_MS = 100
#: How long closing the ROUTER socket may take to deliver the last replies (the shutdown's ``cancelled`` errors).
SHUTDOWN_LINGER_MS = 1000
#: How long shutdown waits for the worker to abandon its batch (it stops at the engine's next progress step).
WORKER_JOIN_S = 10.0
#: Frames above this are dropped by ZeroMQ itself (the peer is disconnected, no reply): a memory bound. Frames
#: between the message limit and this get a ``too_large`` reply.
HARD_FRAME_BYTES = 2 * MAX_MESSAGE_BYTES


@dataclass
class ServerConfig:
    bind: str = DEFAULT_ENDPOINT
    model: str = DEFAULT_MODEL  # reported by ``health`` while the engine loads
    device: str = "cpu"
    queue_size: int = MAX_QUEUED_JOBS
    limits: Limits = DEFAULT_LIMITS
    curve_secret_key: str | None = None  # the server's secret key file (zmq.auth)
    curve_clients: str | None = None  # a directory of authorised client public key files
