"""The object prior on tiny seeded models and real picture files: fitting, recognising, moving the condition,
saving, the ``sounding fit-prior`` command, the refit at the end of a diffusion training and the classes a generate
reply names."""
import csv
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torch.nn.functional as F
from PIL import Image

from server_harness import engine_with, mask_png, running_server, wait_until_ready
from sounding_protocol.client import ObjectSelection, SoundingClient
from sounding_protocol.errors import ProtocolError

from sounding.cli import main
from sounding.data.classes import IMAGENET_CATEGORIES
from sounding.model.config import EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD, ImageEncoderConfig, tiny_config
from sounding.model.loading import OBJECT_PRIOR_DIR, build_generator, load_generator, save_generator
from sounding.model.object_prior import ObjectPrior
from sounding.training.config import OBJECT_PRIOR_IMAGENET_WEIGHT, TrainConfig
from sounding.training.data import Row, read_rows
from sounding.training.loop import train
from sounding.training.object_prior import fit_object_prior, prior_rows

SIZE = 32
COLOURS = {"bell": (220, 30, 30), "drum": (30, 30, 220)}


def picture(colour, top: int, left: int, side: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """A coloured square on grey noise, and its mask."""
    rng = np.random.default_rng(top * SIZE + left)
    image = rng.integers(100, 156, (SIZE, SIZE, 3), dtype=np.uint8)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[top:top + side, left:left + side] = True
    image[mask] = colour
    return image, mask


def write_manifest(root: Path, labelled: bool = True) -> Path:
    """Three train pictures per class, one val picture each, and a train scene row that the prior must skip."""
    root.mkdir(parents=True, exist_ok=True)
    soundfile.write(root / "clip.wav", np.zeros(1600, np.float32), 16000)
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "audio", "caption", "mask", "label", "split", "scene_id"])
        for label, colour in COLOURS.items():
            for n, (top, left, split) in enumerate([(2, 2, "train"), (16, 4, "train"), (8, 15, "train"),
                                                    (10, 10, "val")]):
                image, mask = picture(colour, top, left)
                Image.fromarray(image).save(root / f"{label}{n}.png")
                Image.fromarray(mask).save(root / f"{label}{n}-mask.png")
                writer.writerow([f"{label}{n}.png", "clip.wav", f"a {label}", f"{label}{n}-mask.png",
                                 label if labelled else "", split, ""])
        writer.writerow(["bell0.png", "clip.wav", "a bell", "bell0-mask.png", "drum", "train", "scene-1"])
    return root / "manifest.csv"


def test_fit_recognises_a_new_picture_and_moves_its_condition(tmp_path):
    generator = load_generator("tiny")
    rows = read_rows(write_manifest(tmp_path), "train")
    prior = fit_object_prior(generator, rows, strength=1.0)
    assert prior.config.labels == ["bell", "drum"]
    torch.testing.assert_close(prior.feature_means.norm(dim=-1), torch.ones(2))
    for label, colour in COLOURS.items():
        image, mask = picture(colour, 12, 6)  # a place no train picture has
        own = generator.condition([image], [None], [mask])  # no prior yet: the conditioner's condition
        assert prior.config.labels[int(prior.recognise(own.features))] == label
        generator.object_prior = prior
        moved = generator.condition([image], [None], [mask])
        torch.testing.assert_close(moved.condition[0], prior.typical_conditions[prior.config.labels.index(label)])
        torch.testing.assert_close(generator.condition([image], [None], [mask], object_prior=False).condition,
                                   own.condition)
        generator.object_prior = None


def test_a_class_s_typical_condition_is_its_training_condition_nearest_the_class_mean():
    conditions = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 1.0, 0.0],  # "a": mean points between
                               [0.0, 0.0, 2.0], [0.0, 0.6, 0.8]])  # "b": unnormalised rows count by direction
    prior = ObjectPrior.fit(["a", "a", "a", "b", "b"], torch.eye(5, 4), conditions)
    torch.testing.assert_close(prior.typical_conditions, torch.tensor([[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]))


def test_strength_interpolates_between_the_condition_and_the_typical_one():
    prior = ObjectPrior(["a", "b"], image_dim=3, condition_dim=2, strength=0.5)
    prior.feature_means.copy_(torch.eye(3)[:2])
    prior.typical_conditions.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    condition = torch.tensor([[1.0, 0.0]])
    moved = prior(condition, prior.similarities(torch.tensor([[0.1, 0.9, 0.0]])))  # looks like "b"
    torch.testing.assert_close(moved, F.normalize(torch.tensor([[0.5, 0.5]]), dim=-1))
    prior.register_to_config(strength=0.0)
    torch.testing.assert_close(prior(condition, prior.similarities(torch.tensor([[0.0, 1.0, 0.0]]))), condition)


def test_imagenet_probabilities_add_to_the_picture_similarity():
    prior = ObjectPrior(["a", "b", "c"], image_dim=2, condition_dim=2, imagenet_categories=[[0], [1, 2], []],
                        imagenet_weight=0.5)
    prior.feature_means.copy_(torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]))
    features = torch.tensor([[2.0, 0.0]])  # by its picture alone: "a" (cosine 1 against 0.8)
    imagenet = torch.tensor([[0.1, 0.3, 0.4, 0.2]])  # the classifier: categories 1 and 2, both "b"'s
    torch.testing.assert_close(prior.similarities(features, imagenet), torch.tensor([[1.05, 1.15, 0.0]]))
    assert int(prior.recognise(features, imagenet)) == 1
    with pytest.raises(ValueError, match="give the image encoder's ImageNet probabilities"):
        prior.recognise(features)
    with pytest.raises(ValueError, match="category 2 of 'b' is not one of the classifier's 2 classes"):
        prior.recognise(features, imagenet[:, :2])
    prior.register_to_config(imagenet_weight=0.0)  # the class means alone
    assert not prior.uses_imagenet and int(prior.recognise(features)) == 0


def test_a_prior_over_an_imagenet_classifier_keeps_its_classes_categories(tmp_path):
    """Fitted over an EfficientNet-Lite0 head (random weights), the prior records the categories of its classes
    and recognises with them; over CLIP patches it has none. A prior that uses them needs a model that has them."""
    config = dataclasses.replace(tiny_config(), name="tiny-efficientnet", image_encoder=ImageEncoderConfig(
        kind="efficientnet-lite0", image_size=64, mean=EFFICIENTNET_LITE_MEAN, std=EFFICIENTNET_LITE_STD,
        arch={"feature_stage": "head"}))
    torch.manual_seed(0)
    generator = build_generator(config)
    rows = read_rows(write_manifest(tmp_path / "data"), "train")
    prior = fit_object_prior(generator, rows, 1.0)
    assert prior.config.imagenet_categories == [sorted(IMAGENET_CATEGORIES[label]) for label in ("bell", "drum")]
    assert prior.config.imagenet_weight == OBJECT_PRIOR_IMAGENET_WEIGHT and prior.uses_imagenet
    generator.object_prior = prior
    image, mask = picture(COLOURS["drum"], 12, 6)
    encoded = generator.condition([image], [None], [mask])
    assert encoded.imagenet.shape == (1, 1000)
    similarity = prior.similarities(encoded.features, encoded.imagenet)[0]
    torch.testing.assert_close(encoded.similarities[0], similarity)
    recognised = generator.recognised(encoded)[0]
    assert [r.label for r in recognised] == [prior.config.labels[k] for k in similarity.argsort(descending=True)]
    torch.testing.assert_close(encoded.condition[0], prior.typical_conditions[int(similarity.argmax())])

    tiny = load_generator("tiny")
    assert fit_object_prior(tiny, rows, 1.0).config.imagenet_categories is None
    save_generator(tiny, tmp_path / "model")
    misfit = ObjectPrior(["bell", "drum"], image_dim=32, condition_dim=32, imagenet_categories=[[0], [1]],
                         imagenet_weight=0.5)
    misfit.feature_means.copy_(torch.eye(2, 32))
    misfit.typical_conditions.copy_(torch.eye(2, 32))
    misfit.save_pretrained(tmp_path / "model" / OBJECT_PRIOR_DIR)
    with pytest.raises(ValueError, match="no ImageNet classifier: refit it"):
        load_generator(str(tmp_path / "model"))


def test_bad_prior_input_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="distinct"):
        ObjectPrior(["a", "a"], 3, 2)
    with pytest.raises(ValueError, match="strength"):
        ObjectPrior(["a", "b"], 3, 2, strength=1.5)
    with pytest.raises(ValueError, match="differ"):
        ObjectPrior.fit(["a", "b"], torch.zeros(2, 3), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="imagenet_weight must not be negative"):
        ObjectPrior(["a", "b"], 3, 2, imagenet_categories=[[0], [1]], imagenet_weight=-1.0)
    with pytest.raises(ValueError, match="unsure_below must not be negative"):
        ObjectPrior(["a", "b"], 3, 2, unsure_below=-0.1)
    with pytest.raises(ValueError, match="1 lists of ImageNet categories for 2 classes"):
        ObjectPrior(["a", "b"], 3, 2, imagenet_categories=[[0]], imagenet_weight=0.5)
    rows = [Row(tmp_path / "p.png", tmp_path / "a.wav", "a bell", label="bell"),
            Row(tmp_path / "q.png", tmp_path / "a.wav", "a drum", label="drum", scene_id="s")]
    with pytest.raises(ValueError, match="at least 2 classes"):
        prior_rows(rows)
    with pytest.raises(ValueError, match="object_prior_strength"):
        TrainConfig(object_prior_strength=2.0).validate()
    with pytest.raises(ValueError, match="strength"):
        fit_object_prior(load_generator("tiny"), rows, strength=-0.1)
    with pytest.raises(ValueError, match="imagenet_weight"):
        fit_object_prior(load_generator("tiny"), rows, strength=1.0, imagenet_weight=-0.5)
    with pytest.raises(ValueError, match="unsure_below"):
        fit_object_prior(load_generator("tiny"), rows, strength=1.0, unsure_below=-0.5)


def test_an_unfitted_prior_is_refused_when_loading(tmp_path):
    """What a prior saved by a version with other table names loads as: zeros."""
    generator = load_generator("tiny")
    generator.object_prior = ObjectPrior(["bell", "drum"], generator.image_encoder.feature_dim,
                                         generator.conditioner.config.condition_dim)
    save_generator(generator, tmp_path / "model")
    with pytest.raises(ValueError, match="no fitted feature_means .*refit it"):
        load_generator(str(tmp_path / "model"))
    manifest = write_manifest(tmp_path / "data")
    assert main(["fit-prior", "--model", str(tmp_path / "model"), "--manifest", str(manifest)]) == 0  # as it says
    assert load_generator(str(tmp_path / "model")).object_prior.config.labels == ["bell", "drum"]


def test_a_prior_of_other_sizes_is_refused_when_loading(tmp_path):
    save_generator(load_generator("tiny"), tmp_path / "model")
    ObjectPrior(["a", "b"], image_dim=7, condition_dim=5).save_pretrained(tmp_path / "model" / OBJECT_PRIOR_DIR)
    with pytest.raises(ValueError, match="refit"):
        load_generator(str(tmp_path / "model"))


def test_prior_rows_are_labelled_single_objects(tmp_path):
    rows = read_rows(write_manifest(tmp_path), "train")
    chosen = prior_rows(rows)
    assert len(rows) == 7 and len(chosen) == 6
    assert all(row.label and not row.scene_id for row in chosen)


def test_a_saved_prior_round_trips_and_saving_without_one_removes_it(tmp_path):
    generator = load_generator("tiny")
    generator.object_prior = fit_object_prior(generator, read_rows(write_manifest(tmp_path), "train"), 0.75)
    save_generator(generator, tmp_path / "model")
    loaded = load_generator(str(tmp_path / "model"))
    assert loaded.object_prior.config.strength == 0.75
    torch.testing.assert_close(loaded.object_prior.typical_conditions, generator.object_prior.typical_conditions)
    image, mask = picture(COLOURS["bell"], 12, 6)
    torch.testing.assert_close(loaded.condition([image], [None], [mask]).condition,
                               generator.condition([image], [None], [mask]).condition)
    generator.object_prior = None  # e.g. retrained conditions: the old prior must not survive in the directory
    save_generator(generator, tmp_path / "model")
    assert not (tmp_path / "model" / OBJECT_PRIOR_DIR).exists()
    assert load_generator(str(tmp_path / "model")).object_prior is None


def test_fit_prior_command_writes_the_prior_and_bad_input_changes_nothing(tmp_path, capsys):
    save_generator(load_generator("tiny"), tmp_path / "model")
    before = sorted(p.name for p in (tmp_path / "model").iterdir())
    unlabelled = write_manifest(tmp_path, labelled=False)
    with pytest.raises(ValueError, match="label"):
        main(["fit-prior", "--model", str(tmp_path / "model"), "--manifest", str(unlabelled)])
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == before
    manifest = write_manifest(tmp_path)
    assert main(["fit-prior", "--model", str(tmp_path / "model"), "--manifest", str(manifest),
                 "--strength", "0.5"]) == 0
    assert '"classes": 2' in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == sorted(before + [OBJECT_PRIOR_DIR])
    assert load_generator(str(tmp_path / "model")).object_prior.config.labels == ["bell", "drum"]
    with pytest.raises(FileNotFoundError, match="model directory"):
        main(["fit-prior", "--model", str(tmp_path), "--manifest", str(manifest)])


def test_a_diffusion_training_refits_the_prior_or_drops_it(tmp_path):
    manifest = write_manifest(tmp_path)
    common = dict(model="tiny", model_overrides={"vocoder": "griffin-lim"}, manifest=str(manifest),
                  clip_seconds=0.32, batch_size=2, max_steps=2, save_every=10)
    fitted = train(TrainConfig(**common, output=str(tmp_path / "fitted"), object_prior_strength=1.0),
                   show_progress=False)
    assert load_generator(str(fitted.model_dir)).object_prior.config.labels == ["bell", "drum"]
    common.update(model=str(fitted.model_dir), model_overrides={})
    dropped = train(TrainConfig(**common, output=str(tmp_path / "dropped")), show_progress=False)
    assert not (dropped.model_dir / OBJECT_PRIOR_DIR).exists()
    common["manifest"] = str(write_manifest(tmp_path / "unlabelled", labelled=False))
    with pytest.raises(ValueError, match="label"):  # before the first step, not after the last
        train(TrainConfig(**common, output=str(tmp_path / "unlabelled-run"), object_prior_strength=1.0),
              show_progress=False)
    assert not (tmp_path / "unlabelled-run").exists()


def test_sounds_like_picks_the_class_instead_of_recognising_it(tmp_path):
    generator = load_generator("tiny")
    image, mask = picture(COLOURS["drum"], 12, 6)
    with pytest.raises(ValueError, match="no object prior"):
        generator.condition([image], [None], [mask], sounds_like=["bell"])
    generator.object_prior = fit_object_prior(generator, read_rows(write_manifest(tmp_path), "train"), strength=1.0)
    bell = generator.object_prior.typical_conditions[0]
    chosen = generator.condition([image, image], [None, None], [mask, mask], sounds_like=[" Bell", None])
    torch.testing.assert_close(chosen.condition[0], bell)  # asked for: the bell's typical condition
    torch.testing.assert_close(chosen.condition[1], generator.object_prior.typical_conditions[1])  # recognised: drum
    with pytest.raises(ValueError, match="'tuba' is not one of the model's classes: bell, drum"):
        generator.condition([image], [None], [mask], sounds_like=["tuba"])


def test_a_generate_reply_names_the_recognised_classes_and_takes_a_class_to_sound_like(tmp_path):
    generator = load_generator("tiny")
    generator.object_prior = fit_object_prior(generator, read_rows(write_manifest(tmp_path), "train"), strength=1.0)
    image, mask = picture(COLOURS["drum"], 12, 6)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    drum = [ObjectSelection(mask_png=mask_png(mask))]
    with running_server(lambda: engine_with(generator)) as server, \
            SoundingClient(server.endpoint, timeout=60) as client:
        assert wait_until_ready(client.health)["model"]["classes"] == ["bell", "drum"]
        result = client.generate(buffer.getvalue(), drum, steps=2, seed=1)
        as_bell = client.generate(buffer.getvalue(), drum, steps=2, seed=1, sounds_like="Bell")
        with pytest.raises(ProtocolError, match="'tuba' is not one of the model's classes: bell, drum"):
            client.generate(buffer.getvalue(), drum, steps=2, sounds_like="tuba")
        score = result.recognised[0].similarity
        generator.object_prior = fit_object_prior(generator, read_rows(write_manifest(tmp_path), "train"),
                                                  strength=1.0, unsure_below=score + 0.01)
        guessed = client.generate(buffer.getvalue(), drum, steps=2, seed=1)
        named = client.generate(buffer.getvalue(), drum, steps=2, seed=1, sounds_like="drum")
        generator.object_prior = None
        without = client.generate(buffer.getvalue(), drum, steps=2)
        assert without.recognised == [] and without.sounds_like is None and not without.unsure
        with pytest.raises(ProtocolError, match="no object prior"):
            client.generate(buffer.getvalue(), drum, steps=2, sounds_like="bell")
    assert [r.label for r in result.recognised] == ["drum", "bell"]  # both classes: fewer than RECOGNISED_CLASSES
    assert 1.0 >= result.recognised[0].similarity > result.recognised[1].similarity
    assert as_bell.recognised == result.recognised  # still what the picture looks like
    assert (result.sounds_like, as_bell.sounds_like) == ("drum", "bell")  # made as: recognised, asked for
    assert as_bell.audio[0].data != result.audio[0].data  # another condition, the same seed
    assert not result.unsure and not as_bell.unsure  # a drum much like the drums it was fitted on
    assert guessed.unsure and guessed.sounds_like == "drum" and not named.unsure  # asked for by name: no guess


def test_a_generate_reply_for_several_objects_names_each_object_s_class(tmp_path):
    from sounding.audio.loudness import normalise_loudness

    generator = load_generator("tiny")
    generator.object_prior = fit_object_prior(generator, read_rows(write_manifest(tmp_path), "train"), strength=1.0)
    image, bell, drum = two_objects()
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    selection = [ObjectSelection(mask_png=mask_png(bell)), ObjectSelection(mask_png=mask_png(drum))]
    drum_as_bell = [selection[0], ObjectSelection(mask_png=mask_png(drum), sounds_like="Bell")]
    with running_server(lambda: engine_with(generator)) as server, \
            SoundingClient(server.endpoint, timeout=60) as client:
        wait_until_ready(client.health)
        result = client.generate(buffer.getvalue(), selection, steps=2, seed=1)
        stems = client.generate(buffer.getvalue(), selection, steps=2, seed=1, variations=2, stems=True)
        remade = client.generate(buffer.getvalue(), drum_as_bell, steps=2, seed=1)
        one = client.generate(buffer.getvalue(), drum_as_bell[1:], steps=2, seed=1)  # one object: the request's class
        with pytest.raises(ProtocolError, match="'tuba' is not one of the model's classes"):
            client.generate(buffer.getvalue(), [selection[0], ObjectSelection(mask_png=mask_png(drum),
                                                                              sounds_like="tuba")], steps=2)
        with pytest.raises(ProtocolError, match="not both"):
            client.generate(buffer.getvalue(), drum_as_bell, steps=2, sounds_like="drum")
    assert [r.label for r in result.recognised] == ["bell", "drum"] and result.sounds_like == "bell + drum"
    assert len(result.masks) == 2 and len(result.audio) == 1
    assert [(layer.object, layer.sounds_like, layer.alternatives) for layer in result.layers] == \
        [(0, "bell", ["drum"]), (1, "drum", ["bell"])]
    assert all(layer.audio == [] for layer in result.layers)  # each object's own clips only when asked for
    # With stems each object's part of the mix comes too, at the mix's gain: the parts sum to the delivered mix.
    assert stems.audio[0].data == result.audio[0].data and [len(layer.audio) for layer in stems.layers] == [2, 2]
    for variation, mix in enumerate(stems.audio):
        own = [soundfile.read(io.BytesIO(layer.audio[variation].data))[0] for layer in stems.layers]
        assert [layer.audio[variation].seed for layer in stems.layers] == [mix.seed] * 2 == [1 + variation] * 2
        assert not np.allclose(own[0], own[1], atol=1e-3) and min(np.abs(o).max() for o in own) > 0.01
        mixed = soundfile.read(io.BytesIO(mix.data))[0]
        np.testing.assert_allclose(own[0] + own[1], mixed, atol=1e-4)  # 16-bit rounding
        np.testing.assert_allclose(normalise_loudness(mixed.astype(np.float32), 16000), mixed, atol=1e-3)
    assert remade.sounds_like == "bell + bell"
    assert [layer.alternatives for layer in remade.layers] == [["drum"], ["drum"]]
    assert remade.audio[0].data != result.audio[0].data
    assert one.sounds_like == "bell" and one.layers == [] and one.alternatives == ["drum"]


def two_objects() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bell (top left) and a drum (bottom right) in one picture, and their masks."""
    image, bell = picture(COLOURS["bell"], 2, 2, side=10)
    drum = np.zeros_like(bell)
    drum[18:28, 18:28] = True
    image[drum] = COLOURS["drum"]
    return image, bell, drum


def test_several_objects_under_a_prior_are_made_apart_and_mixed_at_one_loudness(tmp_path):
    from sounding.audio.loudness import normalise_loudness
    from sounding.engine import GenerationRequest, ObjectLayer, layers_of

    generator = load_generator("tiny")
    image, bell, drum = two_objects()

    def request(region, objects=(), sounds_like=None):
        return GenerationRequest(image=image, region=region, text=None, duration=0.5, seed=3, steps=2, guidance=2.0,
                                 variations=2, sounds_like=sounds_like, objects=objects)

    union = request(bell | drum, layers_of((bell, drum)))
    paper = generator.generate([union], lambda *a: None)[0]  # no prior: the union is the condition, as in the paper
    plain = generator.generate([request(bell | drum)], lambda *a: None)[0]
    np.testing.assert_array_equal(paper.clips[0], plain.clips[0])
    generator.object_prior = fit_object_prior(generator, read_rows(write_manifest(tmp_path), "train"), strength=1.0)
    alone = generator.generate([request(bell), request(drum)], lambda *a: None)
    both, asked = generator.generate([union, request(bell | drum, layers_of((bell, drum)), sounds_like="drum")],
                                     lambda *a: None)
    assert [r.label for r in both.recognised] == ["bell", "drum"] and both.sounds_like == "bell + drum"
    assert [(layer.index, layer.sounds_like, layer.recognised[0].label) for layer in both.layers] == \
        [(0, "bell", "bell"), (1, "drum", "drum")]
    for variation in range(2):
        layers = [normalise_loudness(output.clips[variation], 16000) for output in alone]
        np.testing.assert_allclose(both.clips[variation], np.mean(layers, axis=0), atol=1e-6)
        for layer, own in zip(both.layers, layers):  # each layer's part of the mix, as made alone: they sum to it
            np.testing.assert_allclose(layer.clips[variation], own / 2, atol=1e-6)
        np.testing.assert_allclose(sum(layer.clips[variation] for layer in both.layers), both.clips[variation],
                                   atol=1e-6)
    assert asked.sounds_like == "drum" and len(asked.recognised) == 2  # asked for by name: one class, the union
    assert not np.allclose(asked.clips[0], both.clips[0])
    assert not both.unsure
    bell_score, drum_score = (r.similarity for r in both.recognised)
    generator.object_prior = fit_object_prior(generator, read_rows(write_manifest(tmp_path), "train"), strength=1.0,
                                              unsure_below=(bell_score + drum_score) / 2)
    assert generator.generate([union], lambda *a: None)[0].unsure  # one layer is a guess: the mix is

    # One object named: its layer is made as that class, the other is still recognised, and only the named one
    # changes (the same seeds).
    named = request(bell | drum, (ObjectLayer(bell, None, 0), ObjectLayer(drum, "bell", 1)))
    remade = generator.generate([named], lambda *a: None)[0]
    assert remade.sounds_like == "bell + bell" and [layer.sounds_like for layer in remade.layers] == ["bell", "bell"]
    assert remade.layers[1].recognised[0].label == "drum" and not remade.layers[1].unsure
    bell_alone, drum_as_bell = generator.generate([request(bell), request(drum, sounds_like="bell")], lambda *a: None)
    for variation in range(2):
        layers = [normalise_loudness(c.clips[variation], 16000) for c in (bell_alone, drum_as_bell)]
        np.testing.assert_allclose(remade.clips[variation], np.mean(layers, axis=0), atol=1e-6)


def test_sounding_generate_prints_what_it_recognised_and_takes_a_class(tmp_path, capsys):
    generator = load_generator("tiny")
    generator.object_prior = fit_object_prior(generator, read_rows(write_manifest(tmp_path / "data"), "train"), 1.0)
    save_generator(generator, tmp_path / "model")
    image, mask = picture(COLOURS["drum"], 12, 6)
    Image.fromarray(image).save(tmp_path / "drum.png")
    Image.fromarray(mask).save(tmp_path / "drum-mask.png")
    command = ["generate", "--model", str(tmp_path / "model"), "--image", str(tmp_path / "drum.png"),
               "--mask", str(tmp_path / "drum-mask.png"), "--out", str(tmp_path / "out.wav"), "--steps", "2"]
    assert main(command) == 0
    assert "recognised as: drum (" in capsys.readouterr().out
    assert main(command + ["--sounds-like", "BELL"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("; made to sound like bell")
    (tmp_path / "out.wav").unlink()
    assert main(command + ["--sounds-like", "tuba"]) == 1
    assert "'tuba' is not one of the model's classes: bell, drum" in capsys.readouterr().err
    assert not (tmp_path / "out.wav").exists()

    image, bell, drum = two_objects()  # a click on each: a mix, and what each object is, with what else it may be
    Image.fromarray(image).save(tmp_path / "both.png")
    command[command.index("--image") + 1] = str(tmp_path / "both.png")
    del command[command.index("--mask"):command.index("--mask") + 2]
    assert main(command + ["--click", "7,7", "--click", "23,23=Bell"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3].endswith("; made to sound like bell + bell")
    assert lines[-2:] == ["  object 1: bell, or like drum", "  object 2: bell, or like drum"]
    assert main(command + ["--click", "7,7", "--click", "23,23", "--stems"]) == 0  # each object's sound beside the mix
    printed = capsys.readouterr().out
    for name in ("out.wav", "out_object1.wav", "out_object2.wav"):
        assert f"{tmp_path / name}: 1.00 s at 16000 Hz, seed 0" in printed
        assert soundfile.info(str(tmp_path / name)).frames == 16000


def test_a_unet_only_training_keeps_the_prior_and_can_train_on_its_typical_conditions(tmp_path):
    """With the conditioner and image encoder frozen the prior stays valid, so it is kept; with
    typical_condition_probability 1 every labelled row is trained on its class's typical condition, so the loss
    is that of the same batch conditioned by hand."""
    manifest = write_manifest(tmp_path)
    common = dict(model="tiny", model_overrides={"vocoder": "griffin-lim"}, manifest=str(manifest),
                  clip_seconds=0.32, batch_size=2, max_steps=1, save_every=10)
    fitted = train(TrainConfig(**common, output=str(tmp_path / "fitted"), object_prior_strength=1.0),
                   show_progress=False)
    common.update(model=str(fitted.model_dir), model_overrides={}, train=("unet",))
    kept = train(TrainConfig(**common, output=str(tmp_path / "kept"), typical_condition_probability=1.0),
                 show_progress=False)
    before, after = load_generator(str(fitted.model_dir)), load_generator(str(kept.model_dir))
    torch.testing.assert_close(after.object_prior.typical_conditions, before.object_prior.typical_conditions)
    assert any(not torch.equal(a, b) for a, b in zip(after.unet.parameters(), before.unet.parameters()))

    from sounding.training.loop import DiffusionObjective

    config = TrainConfig(**common, output=str(tmp_path / "x"), typical_condition_probability=1.0)
    objective = DiffusionObjective(before, config)
    batch = {"latent_mean": torch.zeros(2, 8, 4, 2), "latent_std": torch.zeros(2, 8, 4, 2),
             "patches": torch.randn(2, before.image_encoder.grid_size ** 2, before.image_encoder.feature_dim),
             "mask_grid": torch.ones(2, before.image_encoder.grid_size ** 2), "has_mask": torch.tensor([True, True]),
             "class_index": torch.tensor([1, 0])}
    objective.config = dataclasses.replace(config, condition_dropout=0.0)
    seen = []
    hook = before.unet.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["class_labels"]),
                                             with_kwargs=True)
    objective(batch, ["a bell", "a drum"], torch.Generator().manual_seed(0))
    hook.remove()
    torch.testing.assert_close(seen[0], before.object_prior.typical_conditions[[1, 0]])
    with pytest.raises(ValueError, match="frozen conditioner"):
        TrainConfig(typical_condition_probability=0.5).validate()  # the default trains the conditioner
