"""End-to-end click-network training: the pack that travels to a GPU machine, samples made from it on the fly, and a
few real training steps on the CPU (the backbone's blocks learn, the result loads as a segmenter)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from sounding.segmentation.clicknet import (TAIL_WEIGHTS, Backbone, ClickDecoder, ClickNetConfig, ClickNetSegmenter,
                                            save_decoder)
from sounding.segmentation import train_end_to_end
from sounding.segmentation.train import TrainConfig, train
from sounding.segmentation.train_end_to_end import (SAMPLE_KINDS, EndToEndConfig, SampleStream, TrainingSources,
                                                    main, pack_sources, rendered_scenes, schedule_factor)
from tests.test_segmentation_eval import write_square_cutouts

SIZE = (96, 128)


def write_renders(directory, count=2):
    """A renders folder as ``python -m sounding.segmentation.renders`` writes it: frames and object-index maps,
    two objects a scene (a large one, and one too small to be a sample)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for n in range(count):
        Image.fromarray(rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8)).save(directory / f"scene{n}.png")
        ids = np.zeros(SIZE, np.int32)
        ids[20:60, 30:90] = 3
        ids[0, 0] = 7
        np.save(directory / f"ids{n}.npy", ids)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    write_square_cutouts(root, "train")
    write_renders(root / "train-render-scenes-2-5")  # already rendered: no Blender run
    write_renders(root / "train-furniture-scenes-2-6", count=2)
    write_renders(root / "train-furniture-scenes-2-7", count=1)  # incomplete: rendered again
    rendered = []

    def render(count, seed, work_dir, timeout, models):
        rendered.append((count, seed, models))
        write_renders(work_dir, count)

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(train_end_to_end, "furniture_models", lambda split, cache: [f"{split}.obj"])
        monkeypatch.setattr(train_end_to_end, "render_samples", render)
        summary = pack_sources(root, root / "pack", (5,), (6, 7), scenes=2)
    assert rendered == [(2, 7, ["train.obj"])]
    assert summary["cutouts"] == 2 and summary["scenes"] == {"render": 2, "furniture": 4}
    return root / "pack"


def test_pack_holds_the_sources_and_the_pretrained_trunk(pack):
    sources = TrainingSources(pack)
    assert len(sources.objects) == 2 and sources.objects[0].shape == (40, 40, 4)
    assert len(sources.photos) > 10
    # the 1-pixel object is no sample
    assert sources.scene_objects == {"render": [(0, 3), (1, 3)], "furniture": [(i, 3) for i in range(2, 6)]}
    assert np.array_equal(sources.ids[0][20:60, 30:90], np.full((40, 60), 3, np.uint8))
    trunk = load_file(pack / "backbone.safetensors")
    pretrained = Backbone.pretrained().net.state_dict()
    assert torch.equal(trunk["_conv_stem.weight"], pretrained["_conv_stem.weight"])  # the stem exactly
    assert trunk["_blocks.3._depthwise_conv.weight"].dtype == torch.float16
    assert not any(name.startswith("_fc") for name in trunk)


def test_samples_of_every_kind(pack):
    sources = TrainingSources(pack)
    rng = np.random.default_rng(1)
    for kind in SAMPLE_KINDS:
        image, mask = sources.sample(rng, kind, SIZE)
        assert image.shape == (*SIZE, 3) and image.dtype == np.uint8 and mask.shape == SIZE and mask.any()
    image, mask = sources.sample(rng, "render", SIZE)
    assert mask.sum() == 40 * 60
    with pytest.raises(ValueError, match="rendered scenes"):
        sources.sample(rng, "furniture", (48, 64))
    stream = SampleStream(sources, (0.0, 0.0, 1.0, 0.0), SIZE, seed=0)
    image, mask, first = next(iter(stream))
    assert mask[int(first[1]), int(first[0])]  # the first click is on the object
    with pytest.raises(ValueError, match="mix"):
        SampleStream(sources, (0.0, 0.0, 0.0, 0.0), SIZE, seed=0)


def test_a_pack_without_renders_samples_only_composites(tmp_path):
    write_square_cutouts(tmp_path, "train")
    pack_sources(tmp_path, tmp_path / "pack")
    stream = SampleStream(TrainingSources(tmp_path / "pack"), EndToEndConfig.mix, SIZE, seed=0)
    assert stream.probabilities[2:].sum() == 0 and stream.probabilities.sum() == pytest.approx(1)


def test_a_stem_only_pack_takes_the_blocks_from_the_network_it_continues(tmp_path):
    write_square_cutouts(tmp_path, "train")
    assert main(["pack", "--data-dir", str(tmp_path), "--out", str(tmp_path / "pack"), "--render-seeds",
                 "--furniture-seeds", "--stem-only"]) == 0
    trunk = load_file(tmp_path / "pack" / "backbone.safetensors")
    assert "_conv_stem.weight" in trunk and not any(name.startswith("_blocks.") for name in trunk)
    net = ClickNetConfig(work_size=128, tuned_from_block=0)
    continued = Backbone.pretrained()
    continued.net._blocks[3]._depthwise_conv.weight.data += 0.5  # blocks that can only have come from the network
    save_decoder(ClickDecoder(net), net, tmp_path / "init", continued)
    backbone = train_end_to_end.packed_backbone(tmp_path / "pack", tmp_path / "init")
    assert all(torch.equal(value, continued.tail_state(0)[name]) for name, value in backbone.tail_state(0).items())
    config = EndToEndConfig(batch_size=2, max_steps=1, workers=0, click_workers=0, size=SIZE)
    summary = train_end_to_end.train_end_to_end(tmp_path / "pack", tmp_path / "out", config, net, tmp_path / "init")
    assert summary["steps"] == 1
    save_decoder(ClickDecoder(ClickNetConfig(work_size=128)), ClickNetConfig(work_size=128), tmp_path / "frozen")
    for init in (None, tmp_path / "frozen"):  # nothing to take the blocks from
        with pytest.raises(ValueError, match="only the stem"):
            train_end_to_end.train_end_to_end(tmp_path / "pack", tmp_path / "bad", config, net, init)


def test_bad_renders_and_missing_packs_are_clear_errors(tmp_path):
    write_square_cutouts(tmp_path, "train")
    write_renders(tmp_path / "train-render-scenes-1-3", count=1)
    np.save(tmp_path / "train-render-scenes-1-3" / "ids0.npy", np.full(SIZE, 300, np.int32))
    with pytest.raises(ValueError, match="0-255"):
        pack_sources(tmp_path, tmp_path / "pack", (3,), scenes=1)
    with pytest.raises(FileNotFoundError, match="no rendered scenes"):
        rendered_scenes(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="not a training pack"):
        TrainingSources(tmp_path)


def test_schedule_warms_up_then_decays_to_zero():
    assert schedule_factor(0.0, 0.1) == 0 and schedule_factor(0.05, 0.1) == pytest.approx(0.5)
    assert schedule_factor(0.1, 0.1) == pytest.approx(1) and schedule_factor(1.0, 0.1) == pytest.approx(0)


@pytest.mark.parametrize("workers", [0, 2])
def test_training_tunes_every_block_and_loads_as_a_segmenter(pack, tmp_path, workers):
    net = ClickNetConfig(work_size=128, previous_mask=True, click_similarity=True)
    save_decoder(ClickDecoder(net), net, tmp_path / "init")
    tuned = ClickNetConfig(work_size=128, previous_mask=True, click_similarity=True, tuned_from_block=0)
    config = EndToEndConfig(batch_size=2, max_steps=3, backbone_lr=1e-2, workers=workers, click_workers=workers,
                            size=SIZE, mix=(0.4, 0.2, 0.2, 0.2))
    summary = train_end_to_end.train_end_to_end(pack, tmp_path / "out", config, tuned, init=tmp_path / "init")
    assert summary["steps"] == 3 and np.isfinite(summary["final_loss"])
    assert json.loads((tmp_path / "out" / "config.json").read_text())["tuned_from_block"] == 0
    tail = load_file(tmp_path / "out" / TAIL_WEIGHTS)
    pretrained = Backbone.pretrained().tail_state(0)
    assert set(tail) == set(pretrained)  # every block, no stem
    assert any(not torch.allclose(value, pretrained[name], atol=1e-3) for name, value in tail.items())
    loaded = ClickNetSegmenter.from_pretrained(tmp_path / "out", refine=None)
    assert all(torch.equal(value, loaded.backbone.tail_state(0)[name]) for name, value in tail.items())
    image = np.random.default_rng(0).integers(0, 255, (*SIZE, 3), dtype=np.uint8)
    mask = loaded.segment(image, np.array([[64.0, 48.0]]), np.array([1])).mask
    assert mask.shape == SIZE and mask[48, 64]


def test_command_line_continues_a_saved_network(tmp_path):
    write_square_cutouts(tmp_path, "train")
    assert main(["pack", "--data-dir", str(tmp_path), "--out", str(tmp_path / "pack"), "--render-seeds",
                 "--furniture-seeds"]) == 0
    net = ClickNetConfig(previous_mask=True)
    save_decoder(ClickDecoder(net), net, tmp_path / "init")
    assert main(["train", "--pack", str(tmp_path / "pack"), "--out", str(tmp_path / "out"), "--init",
                 str(tmp_path / "init"), "--max-steps", "1", "--batch-size", "2", "--workers", "0",
                 "--click-workers", "0", "--device", "cpu"]) == 0
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["tuned_from_block"] == 0 and saved["previous_mask"] is True
    assert json.loads((tmp_path / "out" / "training.json").read_text())["steps"] == 1


def test_only_every_block_is_trained_end_to_end(pack, tmp_path):
    config = EndToEndConfig(max_steps=1, workers=0, click_workers=0, size=SIZE)
    with pytest.raises(ValueError, match="tuned_from_block must be 0"):
        train_end_to_end.train_end_to_end(pack, tmp_path, config, ClickNetConfig(work_size=128))
    with pytest.raises(ValueError, match="needs images"):
        train(TrainConfig(size=SIZE), ClickNetConfig(work_size=128, tuned_from_block=0), tmp_path, data_dir=tmp_path)
    assert ClickNetConfig(tuned_from_block=0).tuned_from_block == 0
