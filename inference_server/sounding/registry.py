"""Model names and directories -> a ready :class:`~sounding.engine.Engine`."""
from __future__ import annotations

from sounding.engine import Engine

#: The model `sounding serve`, `sounding generate` and the demo use when none is named: the embedded model.
DEFAULT_MODEL = "foley-mini"


def load_engine(model: str = DEFAULT_MODEL, device: str = "cpu", segmenter: str | None = None) -> Engine:
    """``model``: a named config ("tiny", "foley-mini", ...) or a model directory; ``segmenter``: a SAM checkpoint
    directory, or None for the embedded segmenter."""
    from sounding.model.loading import load_generator
    from sounding.segmentation import load_segmenter

    return Engine(generator=load_generator(model, device), segmenter=load_segmenter(segmenter, device), device=device)
