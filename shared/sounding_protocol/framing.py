"""Header/blob multipart framing: frame 0 is a UTF-8 JSON object, frames 1..n are blobs the header refers to."""
from __future__ import annotations

import json
import math
from typing import Any, Sequence

from .constants import (
    BAD_REQUEST, DEFAULT_LIMITS, PROTOCOL_VERSION, TOO_LARGE, TYPE_ERROR, TYPE_PROGRESS, TYPE_RESULT, Limits,
)
from .errors import ProtocolError

Frames = Sequence[bytes]


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def encode_message(header: dict[str, Any], blobs: Sequence[bytes] = ()) -> list[bytes]:
    """Header dict and blobs -> multipart frames. NaN and infinities are refused (they are not JSON)."""
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return [text.encode("utf-8"), *blobs]


def decode_header(frame: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Frame 0 -> the header dict; ``too_large`` over the header limit, ``bad_request`` if not a JSON object."""
    if len(frame) > limits.header_bytes:
        raise ProtocolError(TOO_LARGE, f"header is {len(frame)} bytes, the limit is {limits.header_bytes}")
    try:
        header = json.loads(bytes(frame).decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(BAD_REQUEST, f"header is not UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(BAD_REQUEST, f"header must be a JSON object, not {type(header).__name__}")
    return header


def check_message_size(frames: Frames, limits: Limits = DEFAULT_LIMITS) -> None:
    total = sum(len(f) for f in frames)
    if total > limits.message_bytes:
        raise ProtocolError(TOO_LARGE, f"message is {total} bytes, the limit is {limits.message_bytes}")


def result_header(request_id: str, **fields: Any) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": TYPE_RESULT, "id": request_id, **fields}


def error_header(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": TYPE_ERROR, "id": request_id, "code": code, "message": message}


def progress_header(request_id: str, stage: str, step: int, total: int) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": TYPE_PROGRESS, "id": request_id, "stage": stage, "step": step,
            "total": total}


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
