"""The interactive protocol, composites with exact masks, Blender renders (primitives, furniture models) with exact
masks, and `eval segment`."""
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from sounding.engine import ObjectMask
from sounding.segmentation.clicks import interior_point, iou, next_click
from sounding.segmentation.composites import make_composite, split_of
from sounding.segmentation.evaluate import click_ious, evaluate


def box(h=40, w=60, y0=10, y1=30, x0=10, x1=40):
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_first_click_is_the_interior_point_farthest_from_the_boundary():
    click = next_click(box(), None)  # box rows 10..29, columns 10..39: the centre row is 19 or 20
    assert click.positive and 10 + 9 <= click.y <= 10 + 10 and 10 + 9 <= click.x <= 40 - 10
    x, y = interior_point(box(y0=0, y1=40, x0=0, x1=60))  # the image border counts as a boundary
    assert 19 <= y <= 20 and 19 <= x <= 40


def test_next_click_targets_the_largest_error_region():
    truth = box()
    missed = truth.copy()
    missed[10:30, 30:40] = False  # a 20x10 false negative
    click = next_click(truth, missed)
    assert click.positive and 30 <= click.x < 40 and 10 <= click.y < 30
    extra = truth | box(y0=32, y1=40, x0=0, x1=60)  # an 8x60 false positive, larger than any miss
    click = next_click(truth, extra)
    assert not click.positive and click.y >= 32
    assert next_click(truth, truth) is None
    with pytest.raises(ValueError):
        next_click(np.zeros((4, 4), bool), None)


def test_iou():
    assert iou(box(), box()) == 1.0
    assert iou(box(x1=25), box()) == pytest.approx(0.5)
    assert iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


class Oracle:
    """Returns the truth after ``needed`` clicks, an empty mask before."""

    def __init__(self, truth, needed):
        self.truth, self.needed = truth, needed

    def segment(self, image, points, labels):
        done = len(points) >= self.needed
        return ObjectMask(mask=self.truth.copy() if done else np.zeros_like(self.truth), score=1.0)


def test_click_ious_and_evaluate():
    truth = box()
    image = np.zeros((*truth.shape, 3), np.uint8)
    assert click_ious(Oracle(truth, 2), image, truth, 3) == [0.0, 1.0, 1.0]
    curve = evaluate(Oracle(truth, 1), [(image, truth), (image, truth)], "oracle", clicks=2)
    assert curve.to_dict() == {"name": "oracle", "samples": 2, "miou@1": 1.0, "miou@2": 1.0, "se@1": 0.0, "se@2": 0.0}
    # the oracle answers the first image's truth on both images: IoU 1 on the first, 0.5 on the second (whose truth
    # is half of it), so the mean is 0.75 and its standard error 0.25 (sample standard deviation 0.354, two images)
    curve = evaluate(Oracle(truth, 1), [(image, truth), (image, box(x1=25))], "mixed", clicks=2)
    assert curve.miou == pytest.approx([0.75, 0.75]) and curve.standard_error == pytest.approx([0.25, 0.25])


def test_composites_have_exact_visible_masks():
    rng = np.random.default_rng(0)
    square = np.zeros((40, 40, 4), np.uint8)
    square[..., 0] = 255
    square[5:35, 5:35, 3] = 255
    photos = [rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)]
    for _ in range(5):
        composite = make_composite(rng, [square], photos, size=(60, 80), max_distractors=2)
        assert composite.image.shape == (60, 80, 3) and composite.image.dtype == np.uint8
        assert composite.mask.shape == (60, 80) and composite.mask.mean() >= 0.005
        inside = ndimage.binary_erosion(composite.mask, iterations=2)  # away from anti-aliased edges
        assert (composite.image[inside, 0] >= 210).all() and (composite.image[inside, 1:] == 0).all()


def test_split_is_stable_and_holds_out_about_a_fifth():
    names = [f"/usr/share/x/object{i}.png" for i in range(2000)]
    held = [split_of(n) == "heldout" for n in names]
    assert 0.15 < np.mean(held) < 0.25
    assert [split_of(n) for n in names[:50]] == [split_of(n) for n in names[:50]]


def test_blender_render_gives_exact_object_masks(tmp_path):
    from sounding.segmentation.renders import render_samples

    samples = render_samples(1, seed=3, size=(60, 80), samples=1, work_dir=tmp_path)
    assert len(samples) >= 2  # the ground and at least one object
    masks = np.stack([m for _, m in samples])
    assert masks.shape[1:] == (60, 80) and not (masks.sum(0) > 1).any()  # one object per pixel
    assert samples[0][0].shape == (60, 80, 3) and samples[0][0].dtype == np.uint8


def _box_obj(x0: float, first_vertex: int) -> str:
    """OBJ text of an axis-aligned unit box from x = x0 whose vertices are numbered from ``first_vertex``."""
    corners = [(x0 + dx, dy, dz) for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)]
    faces = ((1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5), (2, 6, 8, 4))
    return "".join(f"v {x} {y} {z}\n" for x, y, z in corners) + "".join(
        "f " + " ".join(str(first_vertex - 1 + i) for i in face) + "\n" for face in faces)


def write_furniture_pack(directory, names):
    """A Sweet Home 3D-style pack (zip of model folders) whose models are two boxes each (two OBJ objects)."""
    import zipfile

    from sounding.segmentation.renders import FURNITURE_PACK

    with zipfile.ZipFile(directory / f"{FURNITURE_PACK}.sh3f", "w") as pack:
        for name in names:
            pack.writestr(f"models/{name}/{name}.obj",
                          f"o {name}-a\n{_box_obj(0.0, 1)}o {name}-b\n{_box_obj(1.5, 9)}")


def test_furniture_models_split_by_model_and_render_with_exact_masks(tmp_path, monkeypatch):
    import sounding.data.images
    import sounding.data.renders
    from sounding.segmentation.composites import split_of
    from sounding.segmentation.renders import FURNITURE_PACK, furniture_models, render_samples

    names = [f"model{i}" for i in range(12)]
    write_furniture_pack(tmp_path, names)
    monkeypatch.setattr(sounding.data.images, "SWEETHOME3D_DIR", tmp_path)
    monkeypatch.setattr(sounding.data.renders, "SWEETHOME3D_DIR", tmp_path)
    held, train = (furniture_models(split, tmp_path / "cache") for split in ("heldout", "train"))
    assert len(held) + len(train) == len(names) and not set(held) & set(train)
    assert all(split_of(f"{FURNITURE_PACK}/{Path(path).stem}") == "heldout" for path in held)
    with pytest.raises(ValueError):
        furniture_models("val", tmp_path / "cache")

    samples = render_samples(1, seed=5, size=(60, 80), samples=1, work_dir=tmp_path / "render", models=train[:2])
    assert len(samples) >= 2  # the ground and at least one model
    masks = np.stack([m for _, m in samples])
    assert not (masks.sum(0) > 1).any()
    assert len(samples) <= 6  # one sample per model (its two boxes share a pass index), not one per box
    assert max(ndimage.label(mask)[1] for _, mask in samples[1:]) == 2  # a model's two separate boxes, one mask


def test_a_staged_scene_renders_each_placed_model_where_it_stands_with_its_own_mask(tmp_path):
    from sounding.segmentation.renders import Placement, StagedScene, render_staged

    (tmp_path / "box.obj").write_text(f"o box\n{_box_obj(0.0, 1)}")
    box = str(tmp_path / "box.obj")
    staged = StagedScene((Placement(box, 1.5, 0.0, 1.5, 0.0), Placement(box, 1.0, 45.0, -1.5, -1.0)),
                         ground=(0.3, 0.5, 0.2), world=(0.6, 0.7, 0.9))
    image, masks = render_staged(staged, (60, 80), samples=1)
    assert image.shape == (60, 80, 3) and image.dtype == np.uint8
    assert len(masks) == 2 and all(mask.shape == (60, 80) and mask.any() for mask in masks)
    assert not (masks[0] & masks[1]).any()
    right, left = (np.nonzero(mask)[1].mean() for mask in masks)  # in placement order: x = 1.5 first, then -1.5
    assert left < 40 < right
    assert np.abs(image[0].astype(int) - image[-1].astype(int)).mean() > 10  # the sky is not the ground


def test_furniture_scenes_need_the_furniture_package(tmp_path, monkeypatch):
    import sounding.data.images
    from sounding.segmentation.renders import furniture_models

    monkeypatch.setattr(sounding.data.images, "SWEETHOME3D_DIR", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="sweethome3d-furniture"):
        furniture_models("heldout", tmp_path)


def write_square_cutouts(directory, split):
    """A stored cut-out set of two identical objects: a blue square with a transparent border."""
    square = np.zeros((40, 40, 4), np.uint8)
    square[..., 2] = 220
    square[5:35, 5:35, 3] = 255
    np.savez(directory / f"cutouts-{split}.npz", pixels=np.concatenate([square.ravel()] * 2),
             shapes=np.array([[40, 40]] * 2), paths=np.array(["a", "b"]))


def test_eval_segment_command_on_stored_cutouts(tmp_path):
    import json

    from tests.test_segmentation import _parser

    write_square_cutouts(tmp_path, "heldout")
    out = tmp_path / "eval.json"
    args = _parser().parse_args(["eval", "segment", "--segmenter", "superpixel", "--composites", "3", "--renders",
                                 "0", "--clicks", "2", "--data-dir", str(tmp_path), "--output", str(out)])
    assert args.func(args) == 0
    (curve,) = json.loads(out.read_text())["results"]
    assert curve["name"] == "composites-heldout" and curve["samples"] == 3
    assert 0.0 <= curve["miou@1"] <= 1.0 and "miou@2" in curve

    args = _parser().parse_args(["eval", "segment", "--segmenter", "superpixel", "--composites", "0", "--closeups",
                                 "2", "--renders", "0", "--data-dir", str(tmp_path), "--output", str(out)])
    assert args.func(args) == 0
    (curve,) = json.loads(out.read_text())["results"]
    assert curve["name"] == "closeups-heldout" and curve["samples"] == 2


def test_closeup_composites_fill_more_of_the_frame(tmp_path):
    from sounding.segmentation.composites import CLOSEUP_SCALE, composite_set

    write_square_cutouts(tmp_path, "train")
    scenes = composite_set(tmp_path, "train", 8, seed=4, size=(60, 80))
    closeups = composite_set(tmp_path, "train", 8, seed=4, size=(60, 80), target_scale=CLOSEUP_SCALE)
    assert np.mean([c.mask.mean() for c in closeups]) > 2 * np.mean([c.mask.mean() for c in scenes])
    assert [c.mask.tolist() for c in scenes] == [c.mask.tolist() for c in composite_set(tmp_path, "train", 8, seed=4,
                                                                                         size=(60, 80))]
