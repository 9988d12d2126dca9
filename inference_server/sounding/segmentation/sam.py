"""Segment Anything through transformers' ``SamModel``, with an LRU cache of image embeddings.

Loads the Hugging Face layouts of ``facebook/sam-vit-base|large|huge`` (config.json, model.safetensors,
preprocessor_config.json) from a local directory, or Meta's ``sam_vit_*.pth`` files (:mod:`.sam_meta`). The image
encoder runs once per distinct image; every further click on that image runs only the prompt encoder and the mask
decoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import SamConfig, SamModel
from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

from sounding.engine import ObjectMask
from sounding.segmentation.cache import EmbeddingCache, image_key
from sounding.segmentation.prompts import check_image, check_prompts


@dataclass
class SamEmbedding:
    """The image encoder's output for one image and the sizes needed to map clicks and masks."""

    embeddings: torch.Tensor  # (1, C, h, w), e.g. (1, 256, 64, 64) for ViT-B at 1024 px
    original_size: tuple[int, int]  # (H, W) of the image as given
    reshaped_size: tuple[int, int]  # (H', W') after resizing the longest side to the encoder's input size


class SamSegmenter:
    """Click -> mask with SAM. ``cache_size`` image embeddings are kept (least recently used dropped first)."""

    def __init__(self, model: SamModel, processor: SamImageProcessorPil, device: str = "cpu", cache_size: int = 8):
        self.model = model.to(device).eval()
        self.processor = processor
        self.device = device
        self.cache: EmbeddingCache[SamEmbedding] = EmbeddingCache(cache_size)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu", cache_size: int = 8) -> "SamSegmenter":
        directory = Path(directory)
        for name in ("config.json", "preprocessor_config.json"):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory}: missing {name} (expected the Hugging Face SAM layout)")
        model = SamModel.from_pretrained(directory, local_files_only=True)
        processor = SamImageProcessorPil.from_pretrained(directory, local_files_only=True)
        return cls(model, processor, device=device, cache_size=cache_size)

    @classmethod
    def from_meta_checkpoint(cls, path: str | Path, device: str = "cpu", cache_size: int = 8,
                             config: SamConfig | None = None) -> "SamSegmenter":
        """A segment-anything ``.pth`` file; ``config`` defaults to its ViT-B/L/H variant."""
        from sounding.segmentation.sam_meta import load_meta_checkpoint

        model = load_meta_checkpoint(path, config)
        size = model.config.vision_config.image_size
        processor = SamImageProcessorPil(size={"longest_edge": size}, pad_size={"height": size, "width": size})
        return cls(model, processor, device=device, cache_size=cache_size)

    @torch.inference_mode()
    def embed(self, image: np.ndarray) -> SamEmbedding:
        """(H, W, 3) uint8 -> the cached or freshly computed image embedding."""

        def compute() -> SamEmbedding:
            inputs = self.processor(images=image, return_tensors="pt")
            embeddings = self.model.get_image_embeddings(inputs["pixel_values"].to(self.device))
            return SamEmbedding(embeddings=embeddings, original_size=tuple(image.shape[:2]),
                                reshaped_size=tuple(int(v) for v in inputs["reshaped_input_sizes"][0]))

        return self.cache.get_or_compute(image_key(image), compute)

    @torch.inference_mode()
    def segment(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray) -> ObjectMask:
        """image (H, W, 3) uint8; points (N, 2) x, y pixels; labels (N,) 1 = object, 0 = not -> (H, W) bool mask.

        One click is ambiguous (part, object, group), so SAM predicts three masks and the one with the highest
        predicted IoU is kept; with several clicks SAM's single-mask output is used, as its authors recommend.
        """
        check_image(image)
        points, labels = check_prompts(points, labels, image.shape[:2])
        embedding = self.embed(image)
        (h, w), (rh, rw) = embedding.original_size, embedding.reshaped_size
        scaled = points * np.array([rw / w, rh / h], np.float32)
        output = self.model(
            image_embeddings=embedding.embeddings,
            input_points=torch.from_numpy(scaled)[None, None].to(self.device),  # (1, 1, N, 2)
            input_labels=torch.from_numpy(labels)[None, None].to(self.device),  # (1, 1, N)
            multimask_output=len(points) == 1,
        )
        scores = output.iou_scores[0, 0]  # (M,)
        best = int(scores.argmax())
        logits = output.pred_masks[0, :, best : best + 1].float().cpu()  # (1, 1, 256, 256)
        mask = self.processor.post_process_masks([logits], [embedding.original_size], [embedding.reshaped_size])[0]
        return ObjectMask(mask=mask[0, 0].numpy(), score=float(scores[best].clamp(0, 1)))
