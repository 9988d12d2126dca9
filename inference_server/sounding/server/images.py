"""Image and mask bytes <-> arrays (Pillow). Sizes were checked from the headers already; this decodes the pixels."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image
from sounding_protocol.constants import BAD_REQUEST
from sounding_protocol.errors import ProtocolError
from sounding_protocol.validation import ImageInput

#: Pillow's names for the protocol's formats.
PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG"}


def _open(data: bytes, fmt: str, what: str, size: tuple[int, int]) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[fmt]])
        image.load()
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError, DecompressionBombError)
        raise ProtocolError(BAD_REQUEST, f"undecodable {what} ({fmt}): {exc}") from None
    if image.size != size:
        raise ProtocolError(BAD_REQUEST, f"{what} decodes to {image.size[0]}x{image.size[1]}, its header says "
                                         f"{size[0]}x{size[1]}")
    return image


def decode_image(image: ImageInput) -> np.ndarray:
    """(H, W, 3) uint8 RGB; grey, palette and alpha images are converted (RGB ones are not copied twice)."""
    decoded = _open(image.data, image.format, "image", (image.width, image.height))
    return np.asarray(decoded if decoded.mode == "RGB" else decoded.convert("RGB"))


def decode_mask(data: bytes, width: int, height: int) -> np.ndarray:
    """(H, W) bool: nonzero = object (any PNG mode is read as 8-bit grey)."""
    return np.asarray(_open(data, "png", "mask", (width, height)).convert("L")) > 0


def encode_mask(mask: np.ndarray) -> bytes:
    """(H, W) bool -> 8-bit grey PNG, 255 = object."""
    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
