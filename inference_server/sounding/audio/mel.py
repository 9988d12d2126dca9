"""Log-mel spectrograms exactly as AudioLDM computes them (its TacotronSTFT), so AudioLDM's VAE and HiFi-GAN
checkpoints work unchanged, and the weight-free Griffin-Lim inversion of them.

AudioLDM: magnitude of a centred, reflect-padded hann STFT (n_fft 1024, hop 160) -> librosa's slaney mel filters
(64 bins, 0 - 8 kHz) -> ``log(clamp(mel, 1e-5))``; frames are laid out as (time, mel) for the VAE.
"""
from __future__ import annotations

import numpy as np
import torch
from transformers.audio_utils import mel_filter_bank

from sounding.model.config import MelConfig

#: AudioLDM's waveform normalisation before the STFT: zero mean, peak 0.5.
PEAK = 0.5


def normalize_waveform(wav: np.ndarray) -> np.ndarray:
    """AudioLDM's dataset normalisation: remove the mean, scale the peak to 0.5."""
    wav = wav - wav.mean()
    return (wav / (np.abs(wav).max() + 1e-8) * PEAK).astype(np.float32)


class LogMel(torch.nn.Module):
    """waveform (B, samples) in [-1, 1] -> log-mel (B, frames, n_mels); frames = samples // hop + 1."""

    def __init__(self, config: MelConfig = MelConfig()):
        super().__init__()
        self.config = config
        filters = mel_filter_bank(num_frequency_bins=config.n_fft // 2 + 1, num_mel_filters=config.n_mels,
                                  min_frequency=config.fmin, max_frequency=config.fmax,
                                  sampling_rate=config.sample_rate, norm="slaney", mel_scale="slaney")
        self.register_buffer("filters", torch.from_numpy(filters.T.astype(np.float32)), persistent=False)  # (M, F)
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)

    def magnitude(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> |STFT| (B, n_fft // 2 + 1, frames)."""
        c = self.config
        spec = torch.stft(wav, c.n_fft, c.hop_length, c.win_length, self.window, center=True, pad_mode="reflect",
                          return_complex=True)
        return spec.abs()

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        mel = self.filters @ self.magnitude(wav)
        return torch.log(mel.clamp(min=self.config.log_floor)).transpose(1, 2)


class GriffinLim(torch.nn.Module):
    """log-mel (B, frames, n_mels) -> waveform (B, frames * hop): pseudo-inverse of the mel filters, then
    Griffin-Lim phase recovery. Needs no weights; noisier than HiFi-GAN."""

    def __init__(self, config: MelConfig = MelConfig(), iterations: int = 32, momentum: float = 0.99):
        super().__init__()
        self.config, self.iterations, self.momentum = config, iterations, momentum
        log_mel = LogMel(config)
        self.register_buffer("inverse", torch.linalg.pinv(log_mel.filters), persistent=False)  # (F, M)
        self.register_buffer("window", log_mel.window, persistent=False)

    def _stft(self, wav: torch.Tensor) -> torch.Tensor:
        c = self.config
        return torch.stft(wav, c.n_fft, c.hop_length, c.win_length, self.window, center=True, pad_mode="reflect",
                          return_complex=True)

    def _istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        c = self.config
        return torch.istft(spec, c.n_fft, c.hop_length, c.win_length, self.window, center=True, length=length)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        magnitude = (self.inverse @ log_mel.float().exp().transpose(1, 2)).clamp(min=0.0)  # (B, F, frames)
        length = (magnitude.shape[-1] - 1) * self.config.hop_length
        # One fixed initial phase for every clip of the batch: the same mel gives the same audio, alone or batched.
        generator = torch.Generator(device="cpu").manual_seed(0)
        phase = torch.rand(magnitude.shape[1:], generator=generator).to(magnitude.device) * 2 * torch.pi
        spec = magnitude * torch.exp(1j * phase)
        previous = torch.zeros_like(spec)
        for _ in range(self.iterations):  # fast Griffin-Lim (Perraudin et al. 2013)
            rebuilt = self._stft(self._istft(spec, length))
            accelerated = rebuilt - self.momentum / (1 + self.momentum) * previous
            previous = rebuilt
            spec = magnitude * accelerated / accelerated.abs().clamp(min=1e-8)
        wav = self._istft(spec, length)
        return torch.nn.functional.pad(wav, (0, self.config.hop_length)).clamp(-1.0, 1.0)
