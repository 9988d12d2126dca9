"""The project's denoising loop: any diffusers scheduler, a diffusers UNet2DConditionModel conditioned through
``class_labels`` (AudioLDM's way), classifier-free guidance, then VAE decoding to a log-mel and vocoding.
It reproduces diffusers' AudioLDMPipeline for the same latents and condition (tests/test_sampler.py).
"""
from __future__ import annotations

import math

import diffusers
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from torch import nn

from sounding.engine import ProgressFn

#: Short names of the schedulers offered at inference; any other diffusers scheduler class name works too.
SCHEDULERS = {"ddim": DDIMScheduler, "dpm": DPMSolverMultistepScheduler}


def make_scheduler(name: str, config: dict) -> SchedulerMixin:
    """A fresh scheduler (schedulers keep per-run state) of kind ``name`` on the model's training noise schedule."""
    cls = SCHEDULERS.get(name) or getattr(diffusers, name, None)
    if cls is None or not issubclass(cls, SchedulerMixin):
        raise ValueError(f"unknown scheduler {name!r}; use one of {sorted(SCHEDULERS)} or a diffusers scheduler class")
    return cls.from_config(config)


def latent_frames(duration: float, hop_seconds: float, multiple: int) -> int:
    """Mel frames for ``duration`` seconds, rounded up so every VAE and UNet downsampling divides them."""
    return math.ceil(math.ceil(duration / hop_seconds - 1e-6) / multiple) * multiple


def frame_multiple(unet: UNet2DConditionModel, vae: AutoencoderKL) -> int:
    """Mel frames must be a multiple of the VAE's and the UNet's total downsampling."""
    return 2 ** (len(vae.config.block_out_channels) - 1) * 2 ** (len(unet.config.block_out_channels) - 1)


def latent_shape(batch: int, frames: int, n_mels: int, unet: UNet2DConditionModel, vae: AutoencoderKL):
    vae_factor = 2 ** (len(vae.config.block_out_channels) - 1)
    return batch, unet.config.in_channels, frames // vae_factor, n_mels // vae_factor


@torch.no_grad()
def sample(unet: UNet2DConditionModel, scheduler: SchedulerMixin, vae: AutoencoderKL, vocoder: nn.Module,
           condition: torch.Tensor, uncondition: torch.Tensor, latents: torch.Tensor, steps: int, guidance: float,
           progress: ProgressFn | None = None) -> torch.Tensor:
    """condition / uncondition (B, D): UNet ``class_labels``; latents (B, C, H, W) standard normal.
    Returns waveforms (B, frames * hop). ``progress`` may raise GenerationCancelled between steps."""
    log_mel = sample_log_mel(unet, scheduler, vae, condition, uncondition, latents, steps, guidance, progress)
    return vocode(vocoder, log_mel, progress)


@torch.no_grad()
def sample_log_mel(unet: UNet2DConditionModel, scheduler: SchedulerMixin, vae: AutoencoderKL,
                   condition: torch.Tensor, uncondition: torch.Tensor, latents: torch.Tensor, steps: int,
                   guidance: float, progress: ProgressFn | None = None) -> torch.Tensor:
    """:func:`sample` up to the VAE's log-mels (B, frames, n_mels), which a clip ranker reads before vocoding."""
    report = progress or (lambda stage, step, total: None)
    # 1. Timesteps and initial noise scaled for the scheduler.
    scheduler.set_timesteps(steps, device=latents.device)
    latents = latents * scheduler.init_noise_sigma
    # 2. Classifier-free guidance runs the unconditional and conditional branches as one batch.
    guided = guidance > 1.0
    labels = (torch.cat([uncondition, condition]) if guided else condition).to(unet.dtype)
    # 3. Denoising loop.
    for i, t in enumerate(scheduler.timesteps):
        model_input = scheduler.scale_model_input(torch.cat([latents] * 2) if guided else latents, t)
        noise = unet(model_input, t, encoder_hidden_states=None, class_labels=labels).sample
        if guided:
            noise_uncond, noise_cond = noise.chunk(2)
            noise = noise_uncond + guidance * (noise_cond - noise_uncond)
        latents = scheduler.step(noise, t, latents).prev_sample
        report("denoise", i + 1, steps)
    # 4. VAE decoding: latents -> log-mel (B, frames, n_mels).
    log_mel = vae.decode(latents / vae.config.scaling_factor).sample[:, 0]
    report("decode", 1, 1)
    return log_mel


@torch.no_grad()
def vocode(vocoder: nn.Module, log_mel: torch.Tensor, progress: ProgressFn | None = None) -> torch.Tensor:
    """5. Vocoding: log-mel (B, frames, n_mels) -> waveform (B, frames * hop)."""
    waveform = vocoder(log_mel).float()
    if progress is not None:
        progress("vocode", 1, 1)
    return waveform
