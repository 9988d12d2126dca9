"""Audio files and bytes: the project's one WAV/FLAC encoder and a reader that resamples to one mono rate."""
from __future__ import annotations

import io
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

#: Containers the encoder writes, with their soundfile subtype (16-bit PCM: what Blender's sequencer reads).
FORMATS = {"wav": "PCM_16", "flac": "PCM_16"}


def encode_audio(audio: np.ndarray, sample_rate: int, fmt: str = "wav") -> bytes:
    """float mono audio in [-1, 1] -> WAV or FLAC bytes (16-bit PCM); values outside [-1, 1] are clipped."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; expected one of {sorted(FORMATS)}")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio of shape (samples,), got {audio.shape}")
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(audio, -1.0, 1.0), sample_rate, subtype=FORMATS[fmt], format=fmt.upper())
    return buffer.getvalue()


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """WAV/FLAC/OGG bytes -> (float32 mono audio, sample rate)."""
    audio, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return audio.mean(axis=1), rate


def resample(audio: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased) from ``rate`` to ``target_rate``."""
    if rate == target_rate:
        return audio.astype(np.float32)
    g = gcd(rate, target_rate)
    return resample_poly(audio, target_rate // g, rate // g).astype(np.float32)


def read_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Any file soundfile reads (WAV, FLAC, OGG) -> float32 mono at ``sample_rate``."""
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), rate, sample_rate)
