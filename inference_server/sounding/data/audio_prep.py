"""Every recording, whatever its format, becomes the same thing: 16 kHz mono float32, silence trimmed, loudness
normalised, length capped. One place so that all sources and the judge see identical audio."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sounding.audio import loudness
from sounding.audio.io import decode_audio, encode_audio, resample

#: The dataset's single sample rate (AudioLDM's).
SAMPLE_RATE = 16_000


@dataclass
class AudioPrepConfig:
    sample_rate: int = SAMPLE_RATE
    #: Frames quieter than this (dB below the loudest frame) count as silence at the ends.
    silence_db: float = loudness.SILENCE_DB
    frame_seconds: float = loudness.FRAME_SECONDS
    #: Silence kept around the trimmed sound.
    pad_seconds: float = 0.05
    max_seconds: float = 10.0
    #: Clips shorter than this after trimming are rejected (clicks, empty lumps).
    min_seconds: float = 0.15
    #: Loudness of the active frames (see :mod:`sounding.audio.loudness`).
    target_rms_db: float = loudness.TARGET_RMS_DB
    peak_ceiling_db: float = loudness.PEAK_CEILING_DB


def load_mono(path: Path) -> tuple[np.ndarray, int]:
    """Any format libsndfile reads (WAV incl. 8-bit, OGG Vorbis, FLAC, MP3) -> (mono float32, its rate)."""
    return decode_audio(Path(path).read_bytes())


def trim_silence(samples: np.ndarray, sample_rate: int, config: AudioPrepConfig) -> np.ndarray:
    frame = max(1, int(config.frame_seconds * sample_rate))
    levels = loudness.frame_rms_db(samples, frame)
    active = np.flatnonzero(levels > levels.max() - config.silence_db)
    pad = int(config.pad_seconds * sample_rate)
    start = max(0, active[0] * frame - pad)
    end = min(len(samples), (active[-1] + 1) * frame + pad)
    return samples[start:end]


def prepare(samples: np.ndarray, sample_rate: int, config: AudioPrepConfig | None = None) -> np.ndarray | None:
    """Mono float samples at any rate -> the dataset's form, or None when nothing audible is left."""
    config = config or AudioPrepConfig()
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples, got shape {samples.shape}")
    if len(samples) == 0 or not np.any(samples):
        return None
    audio = resample(samples, sample_rate, config.sample_rate)
    audio = trim_silence(audio, config.sample_rate, config)
    audio = audio[: int(config.max_seconds * config.sample_rate)]
    if len(audio) < config.min_seconds * config.sample_rate or not np.any(audio):
        return None
    return loudness.normalise_loudness(audio, config.sample_rate, config.target_rms_db, config.peak_ceiling_db,
                                       config.silence_db, config.frame_seconds)


def prepare_file(path: Path, config: AudioPrepConfig | None = None) -> np.ndarray | None:
    samples, sample_rate = load_mono(path)
    return prepare(samples, sample_rate, config)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_audio(samples, sample_rate, "wav"))
