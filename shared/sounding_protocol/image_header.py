"""Image width and height from the PNG/JPEG header bytes, without decoding pixels.

The server checks sizes (limits, points inside the image, mask size = image size) before it spends time decoding,
and the add-on can check its own requests; both stay pure Python.
"""
from __future__ import annotations

from .constants import BAD_REQUEST
from .errors import ProtocolError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
#: JPEG start-of-frame markers (baseline, progressive, lossless, ...); C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Markers with no length field: TEM and RST0..7 (SOI is consumed first).
JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


def image_size(data: bytes, fmt: str) -> tuple[int, int]:
    """(width, height) of a PNG or JPEG; ``bad_request`` when the bytes are not an image of the declared format."""
    if fmt == "png":
        return png_size(data)
    if fmt == "jpeg":
        return jpeg_size(data)
    raise ProtocolError(BAD_REQUEST, f"unsupported image format {fmt!r}")


def png_size(data: bytes) -> tuple[int, int]:
    # Signature, then the IHDR chunk: length (4), type (4), width (4), height (4).
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ProtocolError(BAD_REQUEST, "not a PNG (no PNG signature and IHDR chunk)")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if width == 0 or height == 0:
        raise ProtocolError(BAD_REQUEST, "PNG has zero width or height")
    return width, height


def jpeg_size(data: bytes) -> tuple[int, int]:
    if data[:2] != JPEG_SOI:
        raise ProtocolError(BAD_REQUEST, "not a JPEG (no start-of-image marker)")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ProtocolError(BAD_REQUEST, "JPEG marker expected")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in JPEG_STANDALONE_MARKERS:
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in JPEG_SOF_MARKERS:
            if i + 9 > len(data):
                break
            height, width = int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 7:i + 9], "big")
            if width == 0 or height == 0:
                raise ProtocolError(BAD_REQUEST, "JPEG has zero width or height")
            return width, height
        if length < 2:
            raise ProtocolError(BAD_REQUEST, "JPEG segment length is invalid")
        i += 2 + length
    raise ProtocolError(BAD_REQUEST, "JPEG has no frame header")
