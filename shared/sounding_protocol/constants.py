"""Protocol v1 names and limits (PROTOCOL.md). One small module, imported by the server, the client and the add-on."""
from __future__ import annotations

from dataclasses import dataclass

PROTOCOL_VERSION = 1
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5557"

# Operations.
OP_HEALTH = "health"
OP_SEGMENT = "segment"
OP_GENERATE = "generate"
OP_CANCEL = "cancel"
OPS = (OP_HEALTH, OP_SEGMENT, OP_GENERATE, OP_CANCEL)

# Message types (the header's "type" in replies).
TYPE_RESULT = "result"
TYPE_ERROR = "error"
TYPE_PROGRESS = "progress"

# Error codes.
BAD_REQUEST = "bad_request"
UNSUPPORTED_VERSION = "unsupported_version"
UNKNOWN_OP = "unknown_op"
TOO_LARGE = "too_large"
BUSY = "busy"
CANCELLED = "cancelled"
INTERNAL = "internal"
ERROR_CODES = (BAD_REQUEST, UNSUPPORTED_VERSION, UNKNOWN_OP, TOO_LARGE, BUSY, CANCELLED, INTERNAL)

# Progress stages, in the order a generate job goes through them.
STAGES = ("segment", "encode", "denoise", "decode", "vocode")

# Health status.
STATUS_OK = "ok"
STATUS_LOADING = "loading"

IMAGE_FORMATS = ("png", "jpeg")
MASK_FORMATS = ("png",)
AUDIO_FORMATS = ("wav", "flac")

# Limits (PROTOCOL.md defaults).
MAX_HEADER_BYTES = 64 * 1024
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_IMAGE_SIDE = 4096
MAX_OBJECTS = 16
MAX_POINTS_PER_OBJECT = 64
MAX_VARIATIONS = 8
MAX_QUEUED_JOBS = 32
MAX_ID_CHARS = 64
#: Not in PROTOCOL.md's table; bounds that keep one request from holding the worker or the log hostage.
MAX_TEXT_CHARS = 256
#: Longest class name a ``generate`` request's ``sounds_like`` may give (extension).
MAX_CLASS_CHARS = 64
#: Joins the classes of several objects made apart in a result's ``sounds_like`` ("piano + guitar"; extension).
LAYER_SEPARATOR = " + "
MAX_STEPS = 1000
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """The limits one server enforces; the defaults are PROTOCOL.md's."""

    header_bytes: int = MAX_HEADER_BYTES
    message_bytes: int = MAX_MESSAGE_BYTES
    image_side: int = MAX_IMAGE_SIDE
    objects: int = MAX_OBJECTS
    points_per_object: int = MAX_POINTS_PER_OBJECT
    variations: int = MAX_VARIATIONS
    text_chars: int = MAX_TEXT_CHARS
    steps: int = MAX_STEPS


DEFAULT_LIMITS = Limits()
