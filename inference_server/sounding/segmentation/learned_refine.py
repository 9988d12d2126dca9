"""A learned full-resolution refiner: a small CNN that corrects the colour-refined mask at the backbone's input size.

The click decoder predicts at stride 4 and the colour refinement (:mod:`sounding.segmentation.refine`) snaps its
upsampled logits to colour edges, one histogram per image. What neither sees is local: a thin stem, a shaded edge, a
same-coloured neighbour. This network looks at the pixels, both logit maps and the clicks at full resolution and adds
a residual to the colour-refined logits, clipped. Its last layer starts at zero, so an untrained refiner keeps the
colour-refined mask.
It is trained with the decoder frozen, on the decoder's own outputs for simulated clicks
(:mod:`sounding.segmentation.train_refiner`); docs/segmentation.md, "A learned full-resolution refiner".

Files, beside the decoder's: ``learned_refiner.json`` (:class:`LearnedRefinerConfig`) and
``learned_refiner.safetensors``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_FILE = "learned_refiner.json"
WEIGHTS_FILE = "learned_refiner.safetensors"
#: RGB, the network's upsampled logits, the colour-refined logits, positive and negative click maps.
INPUT_CHANNELS = 7


@dataclass(frozen=True)
class LearnedRefinerConfig:
    width: int = 16  # channels of every hidden layer
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1)  # one 3x3 convolution each; receptive field 1 + 2 * sum
    click_sigma: float = 0.02  # width of the Gaussian click maps, fraction of the image's longest side
    logit_clamp: float = 10.0  # logits are clipped to +-this (a sure pixel needs no more) ...
    logit_scale: float = 5.0  # ... and divided by this as inputs

    def __post_init__(self):
        if self.width < 1 or not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"width and dilations must be >= 1, got {self.width}, {self.dilations}")
        if self.click_sigma <= 0 or self.logit_clamp <= 0 or self.logit_scale <= 0:
            raise ValueError("click_sigma, logit_clamp and logit_scale must be > 0")


class LearnedRefiner(nn.Module):
    """pixels (B, 3, H, W) ImageNet-normalised, network and refined logits (B, 1, H, W), clicks (B, 2, H, W) ->
    refined logits clipped to +-``logit_clamp`` plus a learned residual (B, 1, H, W)."""

    def __init__(self, config: LearnedRefinerConfig = LearnedRefinerConfig()):
        super().__init__()
        self.config = config
        layers, channels = [], INPUT_CHANNELS
        for dilation in config.dilations:
            layers += [nn.Conv2d(channels, config.width, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
            channels = config.width
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(config.width, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, pixels: torch.Tensor, network: torch.Tensor, refined: torch.Tensor,
                clicks: torch.Tensor) -> torch.Tensor:
        c = self.config
        network, refined = network.clamp(-c.logit_clamp, c.logit_clamp), refined.clamp(-c.logit_clamp, c.logit_clamp)
        x = torch.cat([pixels, network / c.logit_scale, refined / c.logit_scale, clicks], 1)
        return refined + self.head(self.body(x))

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "LearnedRefiner":
        directory = Path(directory)
        stored = json.loads((directory / CONFIG_FILE).read_text())
        refiner = cls(LearnedRefinerConfig(**{**stored, "dilations": tuple(stored["dilations"])}))
        refiner.load_state_dict(load_file(directory / WEIGHTS_FILE))
        return refiner.eval()

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, directory / WEIGHTS_FILE)


def has_learned_refiner(directory: str | Path) -> bool:
    return (Path(directory) / WEIGHTS_FILE).is_file()


def native_dtype(device: str) -> torch.dtype:
    """bfloat16 where the hardware computes it natively (a CUDA GPU that supports it, a CPU with AVX512-BF16 or
    AMX), else float32. On held-out composites bfloat16 scores what float32 does to 0.001 mIoU and runs the refiner
    about 4x faster on an AVX512-BF16 CPU (docs/segmentation.md)."""
    if torch.device(device).type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return torch.bfloat16 if any(probe is not None and probe() for probe in probes) else torch.float32
