"""Delivered and training audio share one loudness: active RMS at -20 dBFS, peaks at most -1 dBFS."""
import numpy as np

from sounding.audio.loudness import (
    PEAK_CEILING_DB, TARGET_RMS_DB, frame_rms_db, loudness_gain, normalise_loudness,
)

RATE = 16000


def _db(x: float) -> float:
    return 20 * np.log10(x)


def test_quiet_tone_is_raised_to_the_target_rms():
    t = np.arange(RATE) / RATE
    tone = 1e-4 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out = normalise_loudness(tone, RATE)
    assert abs(_db(np.sqrt(np.mean(out.astype(np.float64) ** 2))) - TARGET_RMS_DB) < 0.1


def test_silence_around_a_sound_does_not_count():
    t = np.arange(RATE // 4) / RATE
    burst = 0.3 * np.sin(2 * np.pi * 300 * t)
    clip = np.concatenate([np.zeros(RATE), burst, np.zeros(RATE)]).astype(np.float32)
    out = normalise_loudness(clip, RATE)
    active = out[RATE: RATE + len(burst)]
    assert abs(_db(np.sqrt(np.mean(active.astype(np.float64) ** 2))) - TARGET_RMS_DB) < 0.2


def test_a_click_is_held_at_the_peak_ceiling():
    clip = np.zeros(RATE, np.float32)
    clip[100] = 0.01
    out = normalise_loudness(clip, RATE)
    assert abs(_db(np.abs(out).max()) - PEAK_CEILING_DB) < 1e-3


def test_digital_silence_stays_silent():
    assert not np.any(normalise_loudness(np.zeros(RATE, np.float32), RATE))
    assert frame_rms_db(np.zeros(10, np.float32), 320).shape == (1,)


def test_the_parts_of_a_mix_scaled_by_its_gain_sum_to_the_normalised_mix():
    rng = np.random.default_rng(0)
    parts = [0.05 * rng.standard_normal(RATE).astype(np.float32), 0.2 * np.sin(np.arange(RATE) / 9).astype(np.float32)]
    gain = loudness_gain(parts[0] + parts[1], RATE)
    np.testing.assert_allclose(parts[0] * gain + parts[1] * gain, normalise_loudness(parts[0] + parts[1], RATE),
                               atol=1e-6)
    assert loudness_gain(np.zeros(RATE, np.float32), RATE) == 1.0
