"""PNG encoding of numpy images (masks and captured pixels) with zlib only: Blender's Python has no Pillow."""
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


def float_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Blender's float pixels (0..1, display-referred for byte images) to uint8, rounded and clipped."""
    return np.clip(np.rint(np.asarray(pixels, np.float32) * 255.0), 0, 255).astype(np.uint8)


def linear_to_srgb(pixels: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1) on linear float pixels."""
    linear = np.clip(np.asarray(pixels, np.float32), 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
