"""A queued job: what the ROUTER loop and the worker thread share (the cancel flag is the only mutable part)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sounding_protocol.validation import GenerateRequest, SegmentRequest


@dataclass
class Job:
    serial: int  # server-wide, so a late reply can never reach a newer job that reuses the client's id
    identity: bytes  # the client's ROUTER identity
    request: SegmentRequest | GenerateRequest
    received: float  # time.perf_counter() when the request arrived
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> tuple[bytes, str]:
        return self.identity, self.request.id
