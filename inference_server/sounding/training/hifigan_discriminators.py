"""HiFi-GAN's discriminators and losses (Kong et al. 2020, section 2.2-2.3), for training the vocoder.

The multi-period discriminator looks at the waveform folded into ``period`` columns (periodic structure); the
multi-scale discriminator at the waveform and two average-pooled copies of it (structure at several time scales).
Each sub-discriminator returns its score map and its feature maps, which the feature-matching loss compares.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

#: The paper's periods (primes, so that the sub-discriminators overlap little).
PERIODS = (2, 3, 5, 7, 11)
#: Channels of a period sub-discriminator's (5 x 1) convolutions; all but the last stride 3 in time.
PERIOD_CHANNELS = (32, 128, 512, 1024, 1024)
#: A scale sub-discriminator's grouped 1-D convolutions: (in, out, kernel, stride, groups, padding).
SCALE_LAYERS = ((1, 128, 15, 1, 1, 7), (128, 128, 41, 2, 4, 20), (128, 256, 41, 2, 16, 20),
                (256, 512, 41, 4, 16, 20), (512, 1024, 41, 4, 16, 20), (1024, 1024, 41, 1, 16, 20),
                (1024, 1024, 5, 1, 1, 2))
SCALES = 3
LEAKY_SLOPE = 0.1

Scored = tuple[torch.Tensor, list[torch.Tensor]]


def _score(convs: nn.ModuleList, post: nn.Module, x: torch.Tensor) -> Scored:
    """Leaky-ReLU convolutions, then the score layer; every layer's output is a feature map."""
    features = []
    for conv in convs:
        x = nn.functional.leaky_relu(conv(x), LEAKY_SLOPE)
        features.append(x)
    x = post(x)
    features.append(x)
    return x.flatten(1), features


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, divisor: int = 1):
        super().__init__()
        self.period = period
        channels = (1,) + tuple(max(c // divisor, 1) for c in PERIOD_CHANNELS)
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(c_in, c_out, (5, 1), (3 if i < len(PERIOD_CHANNELS) - 1 else 1, 1), (2, 0)))
            for i, (c_in, c_out) in enumerate(zip(channels, channels[1:])))
        self.post = weight_norm(nn.Conv2d(channels[-1], 1, (3, 1), 1, (1, 0)))

    def forward(self, wav: torch.Tensor) -> Scored:
        """wav (B, samples) -> score (B, n), feature maps."""
        batch, samples = wav.shape
        if samples % self.period:
            wav = nn.functional.pad(wav[:, None], (0, self.period - samples % self.period), mode="reflect")[:, 0]
        return _score(self.convs, self.post, wav.reshape(batch, 1, -1, self.period))


class ScaleDiscriminator(nn.Module):
    def __init__(self, spectral: bool = False, divisor: int = 1):
        super().__init__()
        norm = spectral_norm if spectral else weight_norm
        layers = [(max(c_in // divisor, 1) if c_in > 1 else 1, max(c_out // divisor, 1), kernel, stride, groups,
                   padding) for c_in, c_out, kernel, stride, groups, padding in SCALE_LAYERS]
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(c_in, c_out, kernel, stride, groups=min(groups, c_in, c_out), padding=padding))
            for c_in, c_out, kernel, stride, groups, padding in layers)
        self.post = norm(nn.Conv1d(layers[-1][1], 1, 3, 1, padding=1))

    def forward(self, wav: torch.Tensor) -> Scored:
        return _score(self.convs, self.post, wav[:, None])


class HifiGanDiscriminator(nn.Module):
    """The multi-period and the multi-scale discriminator together: one (score, features) per sub-discriminator.
    The first scale uses spectral normalisation, as in the paper; ``divisor`` narrows every layer (tests)."""

    def __init__(self, periods: tuple[int, ...] = PERIODS, scales: int = SCALES, divisor: int = 1):
        super().__init__()
        self.periods = nn.ModuleList(PeriodDiscriminator(p, divisor) for p in periods)
        self.scales = nn.ModuleList(ScaleDiscriminator(i == 0, divisor) for i in range(scales))
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, wav: torch.Tensor) -> list[Scored]:
        scored = [d(wav) for d in self.periods]
        for i, d in enumerate(self.scales):
            if i:
                wav = self.pool(wav[:, None])[:, 0]
            scored.append(d(wav))
        return scored


def discriminator_loss(real: list[Scored], fake: list[Scored]) -> torch.Tensor:
    """Least squares (the paper's eq. 1): real scores towards 1, generated ones towards 0."""
    return sum(((1 - r) ** 2).mean() + (f ** 2).mean() for (r, _), (f, _) in zip(real, fake))


def generator_loss(fake: list[Scored]) -> torch.Tensor:
    """Least squares (eq. 2): generated scores towards 1."""
    return sum(((1 - f) ** 2).mean() for f, _ in fake)


def feature_matching_loss(real: list[Scored], fake: list[Scored]) -> torch.Tensor:
    """L1 between the discriminators' feature maps of real and generated audio (eq. 3)."""
    return sum((r - f).abs().mean() for (_, real_maps), (_, fake_maps) in zip(real, fake)
               for r, f in zip(real_maps, fake_maps))
