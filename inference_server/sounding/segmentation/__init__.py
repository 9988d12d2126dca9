"""Click -> mask: SAM through transformers (when weights are given) or the embedded segmenter (the default)."""
from __future__ import annotations

import json
from pathlib import Path

from sounding.engine import Segmenter
from sounding.segmentation.cache import EmbeddingCache, image_key
from sounding.segmentation.superpixel import SuperpixelConfig, SuperpixelSegmenter

__all__ = ["EmbeddingCache", "SuperpixelConfig", "SuperpixelSegmenter", "image_key", "load_segmenter"]


def load_segmenter(path: str | None = None, device: str = "cpu") -> Segmenter:
    """``path``: None for the embedded segmenter (needs no weights), or a SAM checkpoint directory in the
    transformers layout (config.json with ``model_type: sam``, model.safetensors, preprocessor_config.json)."""
    if path is None:
        return SuperpixelSegmenter()
    directory = Path(path)
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{directory}: not a segmenter directory (no config.json)")
    model_type = json.loads(config_file.read_text()).get("model_type")
    if model_type == "sam":
        from sounding.segmentation.sam import SamSegmenter

        return SamSegmenter.from_pretrained(directory, device=device)
    raise ValueError(f"{config_file}: unknown segmenter model_type {model_type!r} (expected 'sam')")
