"""PNG encoding of numpy images and decoding of the server's 8-bit grey masks, with zlib and numpy only:
Blender's Python has no Pillow."""
from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types by channel count: grey, grey + alpha, RGB, RGBA.
_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels: np.ndarray, level: int = 6) -> bytes:
    """8-bit PNG of ``pixels``: (H, W) or (H, W, C) with C in 1..4, uint8 (bool is stored as 0/255), row 0 = top."""
    array = np.asarray(pixels)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ValueError(f"encode_png needs uint8 or bool pixels, got {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in _COLOUR_TYPES or 0 in array.shape[:2]:
        raise ValueError(f"encode_png needs (H, W) or (H, W, 1..4) pixels, got shape {array.shape}")
    height, width, channels = array.shape
    rows = np.empty((height, 1 + width * channels), np.uint8)
    rows[:, 0] = 0  # filter type None on every row
    rows[:, 1:] = array.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
            + _chunk(b"IEND", b""))


def _chunks(data: bytes):
    position = len(_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        yield kind, data[position + 8:position + 8 + length]
        position += 12 + length


def _paeth_row(filtered: np.ndarray, above: np.ndarray) -> np.ndarray:
    row = np.zeros_like(above)
    left = upper_left = 0
    for i, (f, b) in enumerate(zip(filtered.tolist(), above.tolist())):
        p = left + b - upper_left
        pa, pb, pc = abs(p - left), abs(p - b), abs(p - upper_left)
        predictor = left if pa <= pb and pa <= pc else b if pb <= pc else upper_left
        left = row[i] = (f + predictor) & 0xFF
        upper_left = b
    return row


def _average_row(filtered: np.ndarray, above: np.ndarray) -> np.ndarray:
    row = np.zeros_like(above)
    left = 0
    for i, (f, b) in enumerate(zip(filtered.tolist(), above.tolist())):
        left = row[i] = (f + (left + b) // 2) & 0xFF
    return row


def decode_grey_png(data: bytes) -> np.ndarray:
    """(H, W) uint8 of an 8-bit greyscale, non-interlaced PNG (what the protocol's masks are), row 0 = top."""
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG")
    header, compressed = None, []
    for kind, body in _chunks(data):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif kind == b"IDAT":
            compressed.append(body)
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, colour, _compression, _filter, interlace = header
    if (depth, colour, interlace) != (8, 0, 0):
        raise ValueError(f"PNG is not 8-bit grey, non-interlaced (depth {depth}, colour type {colour})")
    try:
        raw = np.frombuffer(zlib.decompress(b"".join(compressed)), np.uint8)
    except zlib.error as exc:
        raise ValueError(f"PNG data is corrupt: {exc}") from None
    if raw.size != height * (width + 1):
        raise ValueError("PNG data does not match its size")
    rows = raw.reshape(height, width + 1)
    image = np.empty((height, width), np.uint8)
    above = np.zeros(width, np.uint8)
    for y in range(height):
        kind, filtered = rows[y, 0], rows[y, 1:]
        if kind == 0:
            image[y] = filtered
        elif kind == 1:
            image[y] = np.cumsum(filtered, dtype=np.uint8)  # wraps modulo 256, as PNG's Sub needs
        elif kind == 2:
            image[y] = filtered + above
        elif kind == 3:
            image[y] = _average_row(filtered, above)
        elif kind == 4:
            image[y] = _paeth_row(filtered, above)
        else:
            raise ValueError(f"PNG row {y} has unknown filter type {kind}")
        above = image[y]
    return image


def float_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Blender's float pixels (0..1, display-referred for byte images) to uint8, rounded and clipped."""
    return np.clip(np.rint(np.asarray(pixels, np.float32) * 255.0), 0, 255).astype(np.uint8)


def linear_to_srgb(pixels: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1) on linear float pixels."""
    linear = np.clip(np.asarray(pixels, np.float32), 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
