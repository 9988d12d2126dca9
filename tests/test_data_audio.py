"""Audio preparation: every source ends up 16 kHz mono, trimmed, loudness-normalised."""
import numpy as np
import pytest

from sounding.data import audio_prep
from sounding.data.audio_prep import AudioPrepConfig, prepare


def _tone(seconds, rate, frequency=440.0, amplitude=0.3):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_prepare_resamples_trims_and_normalises():
    rate = 44_100
    clip = np.concatenate([np.zeros(rate), _tone(1.0, rate), np.zeros(2 * rate)])
    out = prepare(clip, rate)
    config = AudioPrepConfig()
    # one second of tone plus at most the padding on each side
    assert 1.0 <= len(out) / audio_prep.SAMPLE_RATE <= 1.0 + 2 * config.pad_seconds + 0.05
    rms_db = 20 * np.log10(np.sqrt(np.mean(out[1000:-1000] ** 2)))
    assert abs(rms_db - config.target_rms_db) < 1.0
    assert out.dtype == np.float32


def test_peak_ceiling_wins_for_peaky_sounds():
    rate = 16_000
    clicks = np.zeros(rate, dtype=np.float32)
    clicks[::4000] = 0.9
    out = prepare(clicks + 1e-4 * np.random.default_rng(0).standard_normal(rate).astype(np.float32), rate)
    assert np.max(np.abs(out)) <= 10 ** (AudioPrepConfig().peak_ceiling_db / 20) + 1e-4


def test_long_clips_are_capped_and_silence_rejected():
    rate = 22_050
    assert len(prepare(_tone(14.0, rate), rate)) == int(AudioPrepConfig().max_seconds * audio_prep.SAMPLE_RATE)
    assert prepare(np.zeros(rate, dtype=np.float32), rate) is None
    assert prepare(_tone(0.05, rate), rate) is None  # shorter than min_seconds


def test_prepare_rejects_multichannel_input():
    with pytest.raises(ValueError):
        prepare(np.zeros((100, 2), dtype=np.float32), 16_000)


def test_write_then_load_round_trip(tmp_path):
    audio = prepare(_tone(0.5, 8_000), 8_000)
    audio_prep.write_wav(tmp_path / "a.wav", audio)
    loaded, rate = audio_prep.load_mono(tmp_path / "a.wav")
    assert rate == audio_prep.SAMPLE_RATE and np.allclose(loaded, audio, atol=1e-3)
