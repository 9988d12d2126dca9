"""Click -> mask: SAM through transformers (when weights are given) or the embedded segmenter (the default)."""
from __future__ import annotations

import json
from pathlib import Path

from sounding.engine import Segmenter
from sounding.segmentation.cache import EmbeddingCache, image_key
from sounding.segmentation.superpixel import SuperpixelConfig, SuperpixelSegmenter

__all__ = ["BUILTIN_SEGMENTERS", "DEFAULT_SEGMENTER", "EmbeddingCache", "SuperpixelConfig", "SuperpixelSegmenter",
           "image_key", "load_segmenter"]

#: Segmenters that need no weights outside this package ("clicknet-raw": the click network without the colour
#: refinement, for comparison; "clicknet-learned": the colour refinement followed by the learned full-resolution
#: refiner, +0.01 mIoU at three clicks for about 10 ms more a click).
BUILTIN_SEGMENTERS = ("clicknet", "clicknet-learned", "clicknet-raw", "superpixel")
#: What ``load_segmenter(None)`` loads: the learned refiner keeps a cached click within the 50 ms budget on two CPU
#: cores (33 ms median here in bfloat16, 43 ms in float32; docs/segmentation.md).
DEFAULT_SEGMENTER = "clicknet-learned"


def load_segmenter(path: str | None = None, device: str = "cpu") -> Segmenter:
    """``path``: None for the default embedded segmenter (:data:`DEFAULT_SEGMENTER`), a built-in name
    (:data:`BUILTIN_SEGMENTERS`), a Meta segment-anything ``.pth`` file, or a checkpoint directory: SAM in the
    transformers layout (config.json with ``model_type: sam``, model.safetensors, preprocessor_config.json) or a
    click network (``model_type: clicknet``; with the learned refiner saved beside it, if there is one)."""
    path = path or DEFAULT_SEGMENTER
    if path in ("clicknet", "clicknet-learned", "clicknet-raw"):
        from sounding.segmentation.clicknet import ClickNetSegmenter

        if path == "clicknet-raw":
            return ClickNetSegmenter.from_pretrained(device=device, refine=None)
        return ClickNetSegmenter.from_pretrained(device=device, learned_refine=path == "clicknet-learned")
    if path == "superpixel":
        return SuperpixelSegmenter()
    if path.endswith(".pth"):
        from sounding.segmentation.sam import SamSegmenter

        return SamSegmenter.from_meta_checkpoint(path, device=device)
    directory = Path(path)
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{directory}: not a segmenter directory (no config.json); built-in segmenters: "
                                f"{', '.join(BUILTIN_SEGMENTERS)}")
    model_type = json.loads(config_file.read_text()).get("model_type")
    if model_type == "sam":
        from sounding.segmentation.sam import SamSegmenter

        return SamSegmenter.from_pretrained(directory, device=device)
    if model_type == "clicknet":
        from sounding.segmentation.clicknet import ClickNetSegmenter
        from sounding.segmentation.learned_refine import has_learned_refiner

        return ClickNetSegmenter.from_pretrained(directory, device=device,
                                                 learned_refine=has_learned_refiner(directory))
    raise ValueError(f"{config_file}: unknown segmenter model_type {model_type!r} (expected 'sam' or 'clicknet')")
