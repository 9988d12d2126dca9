"""The clip ranker on real audio files and tiny seeded models: fitting on labelled recordings, choosing among
candidates, the generator keeping the chosen candidate, saving, the ``sounding fit-ranker`` command and the fit at the
end of a diffusion training."""
import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from test_object_prior import COLOURS, picture
from tone_data import RATE, tone

from sounding.audio.mel import LogMel
from sounding.cli import main
from sounding.engine import GenerationRequest
from sounding.model.clip_ranker import ClipRanker
from sounding.model.loading import CLIP_RANKER_DIR, load_generator, save_generator
from sounding.training.clip_ranker import fit_clip_ranker
from sounding.training.config import TrainConfig
from sounding.training.data import clip_log_mel, read_rows
from sounding.training.loop import train
from sounding.training.object_prior import fit_object_prior

#: The sound of each picture class: a mid tone pulsing (bell) and bursts of high noise (drum), from tone_data.
SOUNDS = {"bell": "dog", "drum": "bird"}


def write_manifest(root: Path, labelled: bool = True) -> Path:
    """Four train rows per class, each its own recording, and one val row each."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "audio", "caption", "mask", "label", "split"])
        for label, colour in COLOURS.items():
            for n, (top, left, split) in enumerate([(2, 2, "train"), (16, 4, "train"), (8, 15, "train"),
                                                    (4, 12, "train"), (10, 10, "val")]):
                image, mask = picture(colour, top, left)
                Image.fromarray(image).save(root / f"{label}{n}.png")
                Image.fromarray(mask).save(root / f"{label}{n}-mask.png")
                soundfile.write(root / f"{label}{n}.wav", tone(SOUNDS[label], n), RATE)
                writer.writerow([f"{label}{n}.png", f"{label}{n}.wav", f"a {label}", f"{label}{n}-mask.png",
                                 label if labelled else "", split])
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A tiny generator with an object prior and a clip ranker of two candidates, and its manifest."""
    manifest = write_manifest(tmp_path_factory.mktemp("ranker"))
    generator = load_generator("tiny")
    rows = read_rows(manifest, "train")
    generator.object_prior = fit_object_prior(generator, rows, strength=1.0)
    generator.clip_ranker = fit_clip_ranker(generator, rows, candidates=2)
    return generator, manifest


def log_mels(generator, manifest: Path, label: str, n: int = 4) -> torch.Tensor:
    """Recording ``n`` of ``label`` (4: the val one, unseen by the fit) as the ranker reads it, (1, frames, n_mels)."""
    frames = generator.frames(generator.config.default_duration)
    return clip_log_mel(manifest.parent / f"{label}{n}.wav", LogMel(generator.config.mel), frames)[None]


def test_a_ranker_fitted_on_recordings_names_the_class_of_an_unseen_one(fitted):
    generator, manifest = fitted
    ranker = generator.clip_ranker
    assert ranker.config.labels == ["bell", "drum"] and ranker.config.candidates == 2
    assert bool((ranker.scale > 0).all())
    for k, label in enumerate(ranker.config.labels):
        probabilities = ranker.log_probabilities(log_mels(generator, manifest, label)).exp()[0]
        assert int(probabilities.argmax()) == k and float(probabilities[k]) > 0.5
        torch.testing.assert_close(probabilities.sum(), torch.tensor(1.0))


def test_choose_picks_the_candidate_that_sounds_most_like_each_target(fitted):
    generator, manifest = fitted
    bell, drum = log_mels(generator, manifest, "bell"), log_mels(generator, manifest, "drum")
    batch = torch.cat([drum, bell, bell, drum, drum, bell, bell, drum])
    assert generator.clip_ranker.choose(batch, ["bell", "bell", "drum", None]) == [1, 0, 0, 0]
    assert generator.clip_ranker.choose(torch.cat([drum, bell]), ["tuba"]) == [0]  # a class it does not know
    bells = torch.cat([bell, log_mels(generator, manifest, "bell", 0)])
    bells = bells[generator.clip_ranker.log_probabilities(bells)[:, 0].argsort()]
    assert generator.clip_ranker.choose(bells, ["bell"]) == [0]  # both heard as bells: the first, not the likeliest
    drums = torch.cat([drum, log_mels(generator, manifest, "drum", 0)])
    likeliest = int(generator.clip_ranker.log_probabilities(drums)[:, 0].argmax())
    assert generator.clip_ranker.choose(drums, ["bell"]) == [likeliest]  # none heard as a bell: the likeliest
    with pytest.raises(ValueError, match="3 log-mels for 2 targets of 2 candidates each"):
        generator.clip_ranker.choose(batch[:3], ["bell", "drum"])
    with pytest.raises(ValueError, match="log-mels"):
        generator.clip_ranker.log_probabilities(batch[:, :, :5])


def test_the_generator_keeps_the_chosen_candidate_and_one_candidate_is_the_plain_clip(fitted):
    generator, _ = fitted
    image, mask = picture(COLOURS["drum"], 12, 6)
    request = GenerationRequest(image=image, region=mask, text=None, duration=0.5, seed=3, steps=2, guidance=2.0,
                                variations=2)
    ranker, seen = generator.clip_ranker, {}

    def choose(log_mel, targets):
        seen["log_mel"], seen["targets"] = log_mel, targets
        seen["picks"] = ClipRanker.choose(ranker, log_mel, targets)
        return seen["picks"]

    ranker.choose = choose
    try:
        ranked = generator.generate([request], lambda *_: None)[0]
    finally:
        del ranker.choose
    assert seen["targets"] == ["drum", "drum"] and len(seen["log_mel"]) == 4  # 2 variations x 2 candidates
    kept = seen["log_mel"][torch.tensor([2 * i + pick for i, pick in enumerate(seen["picks"])])]
    with torch.no_grad():
        expected = generator.vocoder(kept).float().clamp(-1, 1).numpy()[:, :len(ranked.clips[0])]
    np.testing.assert_allclose(np.stack(ranked.clips), expected, atol=1e-5)
    generator.clip_ranker = None
    try:
        plain = generator.generate([request], lambda *_: None)[0]
        generator.clip_ranker = ClipRanker.fit(["bell", "drum"], [seen["log_mel"][0], seen["log_mel"][1]],
                                               candidates=1)
        single = generator.generate([request], lambda *_: None)[0]
    finally:
        generator.clip_ranker = ranker
    for a, b in zip(plain.clips, single.clips):  # the first candidate is the noise of a model without a ranker
        np.testing.assert_array_equal(a, b)
    for n, pick in enumerate(seen["picks"]):
        if pick == 0:
            np.testing.assert_allclose(ranked.clips[n], plain.clips[n], atol=1e-5)


def test_a_saved_ranker_round_trips_and_bad_rankers_are_refused(fitted, tmp_path):
    generator, manifest = fitted
    save_generator(generator, tmp_path / "model")
    loaded = load_generator(str(tmp_path / "model"))
    assert loaded.candidates == 2
    torch.testing.assert_close(loaded.clip_ranker.weight, generator.clip_ranker.weight)
    assert load_generator(str(tmp_path / "model"), fitted_parts=False).clip_ranker is None
    unfitted = ClipRanker(["bell", "drum"], generator.config.mel.n_mels, candidates=2)
    unfitted.save_pretrained(tmp_path / "model" / CLIP_RANKER_DIR)
    with pytest.raises(ValueError, match="not fitted"):
        load_generator(str(tmp_path / "model"))
    other = ClipRanker.fit(["bell", "drum"], [torch.randn(8, 5), torch.randn(8, 5)], candidates=2)
    with pytest.raises(ValueError, match="log-mels of 5 bins"):
        type(generator)(generator.config, generator.image_encoder, generator.text_encoder, generator.conditioner,
                        generator.unet, generator.vae, generator.vocoder, generator.scheduler_config,
                        generator.object_prior, other)
    for bad in (dict(labels=["bell", "bell"], n_mels=4, candidates=2), dict(labels=["bell"], n_mels=4, candidates=0),
                dict(labels=["bell"], n_mels=0, candidates=2)):
        with pytest.raises(ValueError):
            ClipRanker(**bad)
    without = load_generator("tiny")
    without.clip_ranker = generator.clip_ranker
    assert without.candidates == 1  # nothing to rank by without an object prior
    save_generator(without, tmp_path / "model")
    without.clip_ranker = None
    save_generator(without, tmp_path / "model")
    assert not (tmp_path / "model" / CLIP_RANKER_DIR).exists()


def test_fit_ranker_command_writes_the_ranker_and_bad_input_changes_nothing(tmp_path, capsys):
    save_generator(load_generator("tiny"), tmp_path / "model")
    before = sorted(p.name for p in (tmp_path / "model").iterdir())
    manifest = write_manifest(tmp_path / "data")
    unlabelled = write_manifest(tmp_path / "unlabelled", labelled=False)
    for bad, error in (([str(unlabelled)], "label"), ([str(manifest), "--candidates", "0"], "candidates")):
        with pytest.raises(ValueError, match=error):
            main(["fit-ranker", "--model", str(tmp_path / "model"), "--manifest", *bad])
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == before
    assert main(["fit-ranker", "--model", str(tmp_path / "model"), "--manifest", str(manifest),
                 "--candidates", "3"]) == 0
    assert '"classes": 2, "candidates": 3' in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == sorted(before + [CLIP_RANKER_DIR])
    assert load_generator(str(tmp_path / "model")).clip_ranker.config.candidates == 3
    with pytest.raises(FileNotFoundError, match="model directory"):
        main(["fit-ranker", "--model", str(tmp_path), "--manifest", str(manifest)])


def test_a_diffusion_training_fits_the_ranker_with_the_prior(tmp_path):
    manifest = write_manifest(tmp_path / "data")
    common = dict(model="tiny", model_overrides={"vocoder": "griffin-lim"}, manifest=str(manifest),
                  clip_seconds=0.32, batch_size=2, max_steps=1, save_every=10)
    with pytest.raises(ValueError, match="needs an object prior"):
        TrainConfig(**common, output=str(tmp_path / "run"), clip_ranker_candidates=2).validate()
    result = train(TrainConfig(**common, output=str(tmp_path / "run"), object_prior_strength=1.0,
                               clip_ranker_candidates=2), show_progress=False)
    ranker = load_generator(str(result.model_dir)).clip_ranker
    assert ranker.config.labels == ["bell", "drum"] and ranker.config.candidates == 2
