"""Audio front end: AudioLDM's log-mel (checked against an independent numpy TacotronSTFT + librosa slaney
filters), Griffin-Lim, WAV/FLAC io."""
import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import get_window

from sounding.audio.io import decode_audio, encode_audio, read_audio, resample
from sounding.audio.mel import GriffinLim, LogMel, normalize_waveform
from sounding.model.config import MelConfig

RATE = 16000


def slaney_mel_filters(sr=16000, n_fft=1024, n_mels=64, fmin=0.0, fmax=8000.0):
    """librosa.filters.mel (htk=False, norm='slaney'), written out."""
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, float)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        m = np.asarray(m, float)
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fft_f = np.linspace(0, sr / 2, 1 + n_fft // 2)
    fdiff, ramps = np.diff(mel_f), mel_f[:, None] - fft_f[None, :]
    weights = np.maximum(0, np.minimum(-ramps[:-2] / fdiff[:-1, None], ramps[2:] / fdiff[1:, None]))
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def tacotron_log_mel(wav, n_fft=1024, hop=160):
    """AudioLDM's STFT: reflect-pad n_fft/2, hann (periodic) frames every hop, |rfft|, mel, log(clamp 1e-5)."""
    padded = np.pad(wav, n_fft // 2, mode="reflect")
    frames = np.stack([padded[i:i + n_fft] for i in range(0, len(padded) - n_fft + 1, hop)])
    magnitude = np.abs(np.fft.rfft(frames * get_window("hann", n_fft, fftbins=True), axis=-1))
    return np.log(np.maximum(magnitude @ slaney_mel_filters().T, 1e-5))


def test_log_mel_matches_audioldm():
    wav = normalize_waveform(np.random.default_rng(0).standard_normal(RATE // 2).astype(np.float32))
    ours = LogMel()(torch.from_numpy(wav)[None])[0].numpy()
    expected = tacotron_log_mel(wav.astype(np.float64))
    assert ours.shape == expected.shape == (RATE // 2 // 160 + 1, 64)
    np.testing.assert_allclose(ours, expected, atol=2e-3)


def test_normalize_waveform_is_audioldms():
    wav = normalize_waveform(np.array([1.0, 3.0, 5.0], np.float32))
    np.testing.assert_allclose(wav, [-0.5, 0.0, 0.5], atol=1e-6)


def test_griffin_lim_keeps_the_spectral_envelope():
    t = np.arange(RATE // 2) / RATE
    wav = (0.5 * np.sin(2 * np.pi * 700 * t)).astype(np.float32)
    log_mel = LogMel()(torch.from_numpy(wav)[None])
    audio = GriffinLim(MelConfig(), iterations=16)(log_mel)
    assert audio.shape == (1, log_mel.shape[1] * 160)
    again = LogMel()(audio)[0].mean(0)
    assert int(again.argmax()) == int(log_mel[0].mean(0).argmax())
    assert torch.equal(audio, GriffinLim(MelConfig(), iterations=16)(log_mel))  # fixed initial phase
    batched = GriffinLim(MelConfig(), iterations=16)(torch.cat([log_mel.flip(1), log_mel]))
    torch.testing.assert_close(batched[1:], audio, rtol=0, atol=1e-5)  # the same clip second in a batch


def test_wav_and_flac_round_trip():
    audio = np.sin(np.linspace(0, 100, 4000)).astype(np.float32) * 0.8
    for fmt in ("wav", "flac"):
        data = encode_audio(audio, RATE, fmt)
        decoded, rate = decode_audio(data)
        assert rate == RATE and decoded.shape == audio.shape
        np.testing.assert_allclose(decoded, audio, atol=1 / 2 ** 14)
    assert encode_audio(audio, RATE)[:4] == b"RIFF"
    with pytest.raises(ValueError, match="format"):
        encode_audio(audio, RATE, "mp3")
    with pytest.raises(ValueError, match="mono"):
        encode_audio(np.zeros((2, 10), np.float32), RATE)


def test_read_audio_mixes_down_and_resamples(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    soundfile.write(tmp_path / "a.wav", stereo, 44100)
    audio = read_audio(tmp_path / "a.wav", RATE)
    assert audio.shape == (RATE,) and audio.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(int(spectrum.argmax()) - 440) <= 1  # 1 s: bin = Hz
    np.testing.assert_array_equal(resample(audio, RATE, RATE), audio)
