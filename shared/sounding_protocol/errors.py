"""The one error type of the protocol: a code from PROTOCOL.md and a message for a person."""
from __future__ import annotations


class ProtocolError(Exception):
    """A request (or reply) that breaks protocol v1; ``code`` is one of ``constants.ERROR_CODES``."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
