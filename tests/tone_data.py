"""A synthetic Foley-Mini of tones for the judge and the vocoder tests: three classes a tiny judge separates easily,
written through the dataset's own audio preparation and manifest (real files, real code paths)."""
import numpy as np
import pytest

from sounding.data import audio_prep
from sounding.data.build import MANIFEST_NAME
from sounding.data.manifest import ClipRow, write_manifest
from sounding.evaluation.judge import JudgeTrainConfig, train_judge

#: Three "classes" a tiny judge separates easily: a low hum, a mid tone, high noise bursts.
RATE = 16_000


def tone(label, seed, seconds=1.0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    if label == "car":
        audio = np.sin(2 * np.pi * rng.uniform(80, 120) * t)
    elif label == "dog":
        audio = np.sin(2 * np.pi * rng.uniform(600, 800) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    else:
        audio = rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 5 * t) > 0.5)
        audio = np.diff(audio, prepend=0.0)  # tilt towards high frequencies
    return (0.3 * audio).astype(np.float32)


@pytest.fixture(scope="module")
def tone_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("tones")
    rows = []
    for label in ("car", "dog", "bird"):
        for index, split in enumerate(["train"] * 6 + ["val", "test", "test"]):
            clip_id = f"{label}-{index}"
            audio_prep.write_wav(out / f"audio/{clip_id}.wav", audio_prep.prepare(tone(label, index), RATE))
            rows.append(ClipRow(id=clip_id, label=label, caption="", audio_path=f"audio/{clip_id}.wav",
                                image_path="", mask_path="", source="synthetic", licence="CC0-1.0", split=split,
                                recording=clip_id))
    for scene, labels in enumerate((("car", "dog"), ("dog", "bird"))):  # two-object test scenes and their mixes
        mix_path = f"scenes/{scene}/mix.wav"
        audio_prep.write_wav(out / mix_path, audio_prep.prepare(sum(tone(label, 40 + scene) for label in labels),
                                                                RATE))
        for label in labels:
            rows.append(ClipRow(id=f"scene-{scene}-{label}", label=label, caption="", audio_path=f"audio/{label}-7.wav",
                                image_path="", mask_path="", source="synthetic", licence="CC0-1.0", split="test",
                                recording=f"{label}-7", scene_id=f"scene-{scene}", mix_path=mix_path))
    write_manifest(out / MANIFEST_NAME, rows)
    return out


@pytest.fixture(scope="module")
def tone_judge(tone_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("judge")
    config = JudgeTrainConfig(epochs=6, samples_per_epoch=96, batch_size=16, learning_rate=1e-2, eq_db=6.0,
                              model={"channels": (16, 16), "window_seconds": 1.0, "members": 2})
    return out, train_judge(tone_dataset, out, config)
