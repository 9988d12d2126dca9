"""Loudness: the dataset's recordings and the delivered sounds sit at one level, so generated clips drop into a mix
(and sit beside each other) without gain riding, whatever level the model happened to produce."""
from __future__ import annotations

import numpy as np

#: Level of the active (non-silent) part of a clip, in dBFS RMS ...
TARGET_RMS_DB = -20.0
#: ... unless that would push the peak above this (dBFS).
PEAK_CEILING_DB = -1.0
#: Frames quieter than this many dB below the loudest frame count as silence.
SILENCE_DB = 40.0
#: Frame length of the level measurement.
FRAME_SECONDS = 0.02


def frame_rms_db(samples: np.ndarray, frame: int) -> np.ndarray:
    """RMS level (dBFS) of consecutive frames of ``frame`` samples."""
    count = max(1, len(samples) // frame)
    frames = samples[: count * frame].reshape(count, frame) if len(samples) >= frame else samples[None, :]
    return 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)


def normalise_loudness(samples: np.ndarray, sample_rate: int, target_rms_db: float = TARGET_RMS_DB,
                       peak_ceiling_db: float = PEAK_CEILING_DB, silence_db: float = SILENCE_DB,
                       frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """Scale so the active part sits at ``target_rms_db``; the peak ceiling wins for very peaky sounds.
    An all-zero clip stays silent."""
    gain = loudness_gain(samples, sample_rate, target_rms_db, peak_ceiling_db, silence_db, frame_seconds)
    return (samples * gain).astype(np.float32)


def loudness_gain(samples: np.ndarray, sample_rate: int, target_rms_db: float = TARGET_RMS_DB,
                  peak_ceiling_db: float = PEAK_CEILING_DB, silence_db: float = SILENCE_DB,
                  frame_seconds: float = FRAME_SECONDS) -> float:
    """The factor :func:`normalise_loudness` scales ``samples`` by (1 for a silent clip): applied to the parts of a
    mix as well, it keeps them summing to the normalised mix."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak == 0.0:
        return 1.0
    frame = max(1, int(frame_seconds * sample_rate))
    levels = frame_rms_db(samples, frame)
    active = levels[levels > levels.max() - silence_db]
    active_rms_db = 10.0 * np.log10(np.mean(10.0 ** (active / 10.0)))
    gain_db = min(target_rms_db - active_rms_db, peak_ceiling_db - 20.0 * np.log10(peak))
    return float(10.0 ** (gain_db / 20.0))
