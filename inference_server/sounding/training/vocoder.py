"""Train a HiFi-GAN vocoder (transformers' ``SpeechT5HifiGan``, AudioLDM's layout) on real recordings, and compare
vocoders by how close their audio comes to the recordings.

Three steps, each a subcommand of ``python -m sounding.training.vocoder``:

- ``pack``: a split's single-object recordings -> one ``.npz`` of 16-bit waveforms (AudioLDM-normalised, at most
  ``--max-clip-seconds`` each), small enough to travel to a GPU machine without the dataset.
- ``train``: HiFi-GAN's recipe (Kong et al. 2020): random segments, the generator against the multi-period and
  multi-scale discriminators with the mel L1 (x45) and feature-matching (x2) losses; stops at ``max_steps`` or after
  ``max_seconds``, saving the generator (weight norm folded in) as a ``vocoder/`` folder every ``checkpoint_seconds``.
- ``evaluate``: a split's recordings -> log-mel -> each vocoder -> the log-mel distance to the recording, and the
  share of resynthesised clips the judge still names correctly.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from sounding.audio.mel import GriffinLim, LogMel, normalize_waveform
from sounding.model.config import FOLEY_MINI_HIFIGAN, MelConfig
from sounding.training.hifigan_discriminators import (HifiGanDiscriminator, discriminator_loss,
                                                      feature_matching_loss, generator_loss)

#: 16-bit PCM scale of the packed waveforms.
PCM_SCALE = 32767.0
VOCODER_FOLDER = "vocoder"
CONFIG_NAME = "vocoder_training.json"
LOG_NAME = "vocoder_log.json"


@dataclass
class VocoderTrainConfig:
    hifigan: dict[str, Any] = field(default_factory=lambda: dict(FOLEY_MINI_HIFIGAN))
    #: A saved ``vocoder/`` folder to start the generator from (its config replaces ``hifigan``); the
    #: discriminators always start afresh.
    init_generator: str = ""
    #: HifiGanDiscriminator kwargs (periods, scales, divisor); empty: the paper's.
    discriminator: dict[str, Any] = field(default_factory=dict)
    #: Training segments in mel frames (x 160 samples: 0.64 s at 16 kHz).
    segment_frames: int = 64
    batch_size: int = 32
    #: HiFi-GAN's AdamW settings for both networks (constant: a short run never reaches its per-epoch decay).
    learning_rate: float = 2e-4
    adam_betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    #: The paper's loss weights: mel L1 x 45, feature matching x 2.
    mel_loss_weight: float = 45.0
    feature_loss_weight: float = 2.0
    #: Random gain of each segment in dB (the recordings are packed at AudioLDM's peak 0.5).
    gain_db: tuple[float, float] = (-6.0, 0.0)
    max_steps: int = 200_000
    #: Wall-clock budget; None: run to ``max_steps``.
    max_seconds: float | None = None
    checkpoint_seconds: float = 60.0
    log_every: int = 500
    #: Clips of the validation pack scored at each checkpoint (log-mel L1, seconds capped as for the pack).
    validation_clips: int = 32
    seed: int = 0

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")


# --- the packed waveforms -------------------------------------------------------------------------------------------


def pack_split(data_dir: Path, split: str, out: Path, max_clip_seconds: float, sample_rate: int) -> dict:
    """Write the split's distinct single-object recordings (not scene mixes) as int16 + offsets to ``out``."""
    from sounding.audio.io import read_audio
    from sounding.data.build import MANIFEST_NAME
    from sounding.data.manifest import read_manifest

    manifest = data_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found: run `sounding data build --out {data_dir}` first")
    paths = sorted({row.audio_path for row in read_manifest(manifest) if row.split == split and not row.scene_id})
    if not paths:
        raise ValueError(f"{manifest} has no single-object rows in split {split!r}")
    limit = int(max_clip_seconds * sample_rate)
    clips = [normalize_waveform(read_audio(data_dir / path, sample_rate))[:limit] for path in paths]
    lengths = np.array([len(clip) for clip in clips], dtype=np.int64)
    pcm = np.round(np.concatenate(clips) * PCM_SCALE).astype(np.int16)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial.npz")
    np.savez(partial, pcm=pcm, lengths=lengths, sample_rate=np.int64(sample_rate))
    partial.replace(out)
    return {"clips": len(clips), "seconds": round(float(lengths.sum()) / sample_rate, 1), "bytes": out.stat().st_size}


@dataclass
class WavePack:
    """Packed waveforms on one device: float samples, each clip's offset and length."""

    samples: torch.Tensor
    offsets: torch.Tensor
    lengths: torch.Tensor
    sample_rate: int

    @classmethod
    def load(cls, path: Path, device: str | torch.device = "cpu") -> "WavePack":
        with np.load(path) as data:
            lengths = torch.from_numpy(data["lengths"])
            samples = torch.from_numpy(data["pcm"].astype(np.float32) / PCM_SCALE)
            rate = int(data["sample_rate"])
        offsets = torch.cumsum(lengths, 0) - lengths
        return cls(samples.to(device), offsets.to(device), lengths.to(device), rate)

    def __len__(self) -> int:
        return len(self.lengths)

    def clip(self, index: int) -> torch.Tensor:
        start = int(self.offsets[index])
        return self.samples[start: start + int(self.lengths[index])]

    def segments(self, count: int, samples: int, generator: torch.Generator) -> torch.Tensor:
        """(count, samples) random segments of uniformly drawn clips; a shorter clip is zero-padded at its end."""
        device = self.samples.device
        index = torch.randint(len(self), (count,), generator=generator, device=device)
        room = (self.lengths[index] - samples).clamp(min=0)
        start = self.offsets[index] + (torch.rand(count, generator=generator, device=device) * (room + 1)).long()
        position = torch.arange(samples, device=device)
        valid = position[None] < self.lengths[index, None]
        gathered = self.samples[(start[:, None] + position[None]).clamp(max=len(self.samples) - 1)]
        return gathered * valid


# --- training -------------------------------------------------------------------------------------------------------


def _weight_norm_convolutions(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
            weight_norm(layer)


def plain_generator(generator: SpeechT5HifiGan) -> SpeechT5HifiGan:
    """A copy without the weight-norm parametrisation (the layout ``from_pretrained`` expects)."""
    plain = SpeechT5HifiGan(generator.config)
    state = {}
    for name, layer in generator.named_modules():
        if parametrize.is_parametrized(layer, "weight"):
            state[f"{name}.weight"] = layer.weight.detach()
            state[f"{name}.bias"] = layer.bias.detach()
    for name, tensor in generator.state_dict().items():
        if ".parametrizations." not in name:
            state.setdefault(name, tensor)
    plain.load_state_dict({name: tensor.cpu() for name, tensor in state.items()})
    return plain.eval()


def mel_distance(log_mel: LogMel, reference_mel: torch.Tensor, audio: torch.Tensor, samples: int) -> float:
    """Mean absolute log-mel difference to the reference's log-mel (of ``samples`` samples; the audio is padded or cut
    to that length)."""
    audio = nn.functional.pad(audio, (0, max(samples - audio.shape[-1], 0)))[..., :samples]
    return float((log_mel(audio) - reference_mel).abs().mean())


@torch.no_grad()
def validate(generator: nn.Module, pack: WavePack, log_mel: LogMel, clips: int) -> float:
    """Mean log-mel L1 of the pack's first ``clips`` clips resynthesised. cuDNN's autotuning is off here: each clip
    length is a new shape, and tuning 32 of them held up the first checkpoint of an H200 run by about 45 s."""
    generator.eval()
    distances = []
    with torch.backends.cudnn.flags(enabled=True, benchmark=False):
        for i in range(min(clips, len(pack))):
            clip = pack.clip(i)[None]
            mel = log_mel(clip)
            distances.append(mel_distance(log_mel, mel, generator(mel), clip.shape[-1]))
    generator.train()
    return float(np.mean(distances))


def train_vocoder(train_pack: Path, out_dir: Path, config: VocoderTrainConfig, device: str = "cpu",
                  validation_pack: Path | None = None) -> dict:
    """Train (from ``init_generator`` or from scratch); write ``out_dir/vocoder/`` (config.json + safetensors), the
    config and the loss log. The inputs are all read before anything is written."""
    started = time.monotonic()
    torch.manual_seed(config.seed)
    generator_rng = torch.Generator(device=device).manual_seed(config.seed)
    pack = WavePack.load(train_pack, device)
    validation = WavePack.load(validation_pack, device) if validation_pack else None
    mel_config = MelConfig(sample_rate=pack.sample_rate)
    log_mel = LogMel(mel_config).to(device)
    if config.init_generator:
        generator = SpeechT5HifiGan.from_pretrained(config.init_generator, local_files_only=True)
        config.hifigan = {key: getattr(generator.config, key) for key in config.hifigan}
    else:
        generator = SpeechT5HifiGan(SpeechT5HifiGanConfig(**config.hifigan))
    if generator.config.sampling_rate != pack.sample_rate:
        raise ValueError(f"the pack is at {pack.sample_rate} Hz, the vocoder at {generator.config.sampling_rate} Hz")
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save(out_dir / CONFIG_NAME)
    _weight_norm_convolutions(generator)
    generator.to(device).train()
    discriminator = HifiGanDiscriminator(**config.discriminator).to(device).train()
    optimisers = [torch.optim.AdamW(net.parameters(), config.learning_rate, betas=config.adam_betas,
                                    weight_decay=config.weight_decay) for net in (generator, discriminator)]
    samples = config.segment_frames * mel_config.hop_length
    log, last_checkpoint, step = [], time.monotonic(), 0

    def checkpoint() -> None:
        plain_generator(generator).save_pretrained(out_dir / VOCODER_FOLDER)
        entry = {"step": step, "seconds": round(time.monotonic() - started, 1)}
        if validation is not None:
            entry["val_mel_l1"] = round(validate(generator, validation, log_mel, config.validation_clips), 4)
        log.append(entry)
        (out_dir / LOG_NAME).write_text(json.dumps(log, indent=1) + "\n")
        print(json.dumps(entry), flush=True)

    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    while step < config.max_steps and (config.max_seconds is None or time.monotonic() - started < config.max_seconds):
        # 1. Real segments at a random gain, their log-mels, and the generator's audio for them.
        low, high = config.gain_db
        gain_db = low + (high - low) * torch.rand(config.batch_size, 1, generator=generator_rng, device=device)
        real = pack.segments(config.batch_size, samples, generator_rng) * 10 ** (gain_db / 20)
        real_mel = log_mel(real)[:, :config.segment_frames]
        fake = generator(real_mel)[:, :samples]

        # 2. Discriminator update.
        d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
        optimisers[1].zero_grad(set_to_none=True)
        d_loss.backward()
        optimisers[1].step()

        # 3. Generator update against the updated discriminators; real feature maps are targets only.
        mel_loss = (log_mel(fake)[:, :config.segment_frames] - real_mel).abs().mean()
        with torch.no_grad():
            real_scored = discriminator(real)
        fake_scored = discriminator(fake)
        adversarial = generator_loss(fake_scored)
        features = feature_matching_loss(real_scored, fake_scored)
        g_loss = adversarial + config.feature_loss_weight * features + config.mel_loss_weight * mel_loss
        optimisers[0].zero_grad(set_to_none=True)
        g_loss.backward()
        optimisers[0].step()

        step += 1
        if step % config.log_every == 0:
            print(json.dumps({"step": step, "seconds": round(time.monotonic() - started, 1),
                              "d": round(d_loss.item(), 4), "g_adv": round(adversarial.item(), 4),
                              "features": round(features.item(), 4), "mel_l1": round(mel_loss.item(), 4)}),
                  flush=True)
        if time.monotonic() - last_checkpoint >= config.checkpoint_seconds:
            checkpoint()
            last_checkpoint = time.monotonic()
    checkpoint()
    return log[-1]


# --- comparing vocoders ---------------------------------------------------------------------------------------------


def load_vocoder(name: str, mel_config: MelConfig) -> nn.Module:
    """"griffin-lim" or a ``vocoder/`` folder (config.json + safetensors)."""
    if name == "griffin-lim":
        return GriffinLim(mel_config)
    if not (Path(name) / "config.json").is_file():
        raise FileNotFoundError(f"{name} is neither 'griffin-lim' nor a vocoder folder with config.json")
    return SpeechT5HifiGan.from_pretrained(name, local_files_only=True).eval()


@torch.inference_mode()
def evaluate_vocoders(data_dir: Path, split: str, vocoders: list[str], judge_dir: Path | None,
                      max_clip_seconds: float) -> dict:
    """Per vocoder: mean log-mel L1 to the split's recordings and, with a judge, its top-1 on the resynthesised
    clips (the recordings themselves under ``"recordings"``)."""
    from sounding.audio.io import read_audio
    from sounding.data.build import MANIFEST_NAME
    from sounding.data.manifest import read_manifest
    from sounding.evaluation.judge import Judge

    mel_config = MelConfig()
    log_mel = LogMel(mel_config)
    rows = [row for row in read_manifest(data_dir / MANIFEST_NAME) if row.split == split and not row.scene_id]
    judge = Judge.load(judge_dir) if judge_dir else None
    if judge:
        rows = [row for row in rows if row.label in judge.labels]
    limit = int(max_clip_seconds * mel_config.sample_rate)
    results: dict[str, dict] = {}
    models = {name: load_vocoder(name, mel_config) for name in vocoders}
    hits = {name: 0 for name in ["recordings", *vocoders]}
    distances = {name: [] for name in vocoders}
    for row in rows:
        audio = torch.from_numpy(normalize_waveform(read_audio(data_dir / row.audio_path, mel_config.sample_rate)))
        audio = audio[:limit][None]
        mel = log_mel(audio)
        outputs = {name: model(mel).float()[..., :audio.shape[-1]] for name, model in models.items()}
        for name, output in outputs.items():
            distances[name].append(mel_distance(log_mel, mel, output, audio.shape[-1]))
        if judge:
            target = judge.labels.index(row.label)
            for name, clip in [("recordings", audio), *outputs.items()]:
                hits[name] += int(np.argmax(judge.classify(clip[0].numpy(), mel_config.sample_rate)) == target)
    for name in ["recordings", *vocoders]:
        entry = {"clips": len(rows)}
        if name in distances:
            entry["mel_l1"] = round(float(np.mean(distances[name])), 4)
        if judge:
            entry["judge_top1"] = round(hits[name] / len(rows), 4)
        results[name] = entry
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sounding.training.vocoder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    pack = commands.add_parser("pack", help="a split's recordings -> one .npz of waveforms")
    pack.add_argument("--data", type=Path, default=Path("data/foley-mini"))
    pack.add_argument("--split", default="train")
    pack.add_argument("--out", type=Path, required=True)
    pack.add_argument("--max-clip-seconds", type=float, default=4.0)
    train = commands.add_parser("train", help="train a HiFi-GAN from scratch on a pack")
    train.add_argument("--pack", type=Path, required=True)
    train.add_argument("--validation-pack", type=Path)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    train.add_argument("--config", type=Path, help="JSON of VocoderTrainConfig fields to change")
    train.add_argument("--max-steps", type=int)
    train.add_argument("--max-seconds", type=float)
    evaluate = commands.add_parser("evaluate", help="log-mel distance and judge top-1 of resynthesised recordings")
    evaluate.add_argument("vocoders", nargs="+", help='"griffin-lim" or vocoder/ folders')
    evaluate.add_argument("--data", type=Path, default=Path("data/foley-mini"))
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--judge", type=Path, help="judge directory (`sounding eval judge`'s output)")
    evaluate.add_argument("--max-clip-seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    try:
        result = _run(parser, args)
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(json.dumps(result, indent=1))
    return 0


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    if args.command == "pack":
        return pack_split(args.data, args.split, args.out, args.max_clip_seconds, MelConfig().sample_rate)
    if args.command == "train":
        changes = json.loads(args.config.read_text()) if args.config else {}
        unknown = set(changes) - {f.name for f in dataclasses.fields(VocoderTrainConfig)}
        if unknown:
            parser.error(f"{args.config}: unknown VocoderTrainConfig fields {sorted(unknown)}")
        changes.update({k: v for k, v in (("max_steps", args.max_steps), ("max_seconds", args.max_seconds))
                        if v is not None})
        config = VocoderTrainConfig(**changes)
        return train_vocoder(args.pack, args.out, config, args.device, args.validation_pack)
    return evaluate_vocoders(args.data, args.split, args.vocoders, args.judge, args.max_clip_seconds)


if __name__ == "__main__":
    raise SystemExit(main())
