"""The embedded segmenter, the embedding cache, input checks and the segmentation commands."""
import argparse
import json

import numpy as np
import pytest

from sounding.segmentation import EmbeddingCache, image_key, load_segmenter


def disc_image(h=120, w=160, cx=70, cy=60, r=30):
    yy, xx = np.mgrid[:h, :w]
    mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(90, 8, (h, w, 3)), 0, 255)
    image[mask] = (200, 60, 40)
    return image.astype(np.uint8), mask


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_superpixel_segmenter_one_click_finds_the_disc():
    image, truth = disc_image()
    result = load_segmenter("superpixel").segment(image, np.array([[70.0, 60.0]]), np.array([1]))
    assert result.mask.shape == truth.shape and result.mask.dtype == bool
    assert iou(result.mask, truth) > 0.9
    assert 0.0 <= result.score <= 1.0


def test_default_is_the_shipped_click_network():
    from sounding.segmentation.clicknet import ClickNetSegmenter

    image, truth = disc_image()
    segmenter = load_segmenter(None)
    assert isinstance(segmenter, ClickNetSegmenter) and segmenter.learned_refiner is not None
    assert iou(segmenter.segment(image, np.array([[70.0, 60.0]]), np.array([1])).mask, truth) > 0.8


def test_second_click_on_same_image_reuses_the_graph():
    image, _ = disc_image()
    segmenter = load_segmenter("superpixel")
    segmenter.segment(image, np.array([[70.0, 60.0]]), np.array([1]))
    segmenter.segment(image.copy(), np.array([[70.0, 60.0], [5.0, 5.0]]), np.array([1, 0]))
    assert (segmenter.cache.hits, segmenter.cache.misses) == (1, 1)


def test_cache_is_bounded_lru():
    cache = EmbeddingCache(capacity=2)
    for key in "abac":  # the hit on "a" makes "b" the least recently used
        cache.get_or_compute(key, lambda: key.upper())
    assert "a" in cache and "c" in cache and "b" not in cache and len(cache) == 2
    assert cache.get_or_compute("a", lambda: "x") == "A"
    assert (cache.hits, cache.misses) == (2, 3)
    with pytest.raises(ValueError):
        EmbeddingCache(0)


def test_image_key_depends_on_pixels_and_shape():
    image, _ = disc_image()
    assert image_key(image) == image_key(image.copy())
    other = image.copy()
    other[0, 0, 0] ^= 1
    assert image_key(other) != image_key(image)
    assert image_key(image.reshape(160, 120, 3)) != image_key(image)


@pytest.mark.parametrize("points, labels, message", [
    (np.zeros((0, 2)), np.zeros(0), "at least one click"),
    (np.array([[1.0, 1.0]]), np.array([1, 0]), "1 points but 2 labels"),
    (np.array([[1.0, 1.0]]), np.array([2]), "labels must be"),
    (np.array([[1.0, 1.0]]), np.array([0]), "positive click"),
    (np.array([[500.0, 1.0]]), np.array([1]), "inside"),
])
def test_bad_prompts_raise_clear_errors(points, labels, message):
    image, _ = disc_image()
    with pytest.raises(ValueError, match=message):
        load_segmenter("superpixel").segment(image, points, labels)


def test_bad_image_raises():
    with pytest.raises(ValueError, match="uint8"):
        load_segmenter("superpixel").segment(np.zeros((10, 10, 3), np.float32), np.array([[1.0, 1.0]]), np.array([1]))


def test_load_segmenter_rejects_unknown_directories(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_segmenter(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="bert"):
        load_segmenter(str(tmp_path))


def _parser():
    from sounding.cli import CommandGroups
    from sounding.segmentation import commands as segmentation_commands

    parser = argparse.ArgumentParser()
    top = parser.add_subparsers(dest="command")
    groups = CommandGroups(top=top)
    for group in ("eval", "bench"):
        groups[group] = top.add_parser(group).add_subparsers(dest=f"{group}_command")
    segmentation_commands.register(groups)
    return parser


def test_segment_commands_take_the_shared_threads_option():
    for command in (["eval", "segment"], ["bench", "segment"]):
        assert _parser().parse_args([*command, "--threads", "3"]).threads == 3
        assert _parser().parse_args(command).threads is None  # cli.main leaves torch's default


def test_segmenter_help_names_every_builtin():
    from sounding.segmentation import BUILTIN_SEGMENTERS, DEFAULT_SEGMENTER
    from sounding.segmentation.commands import SEGMENTER_HELP

    assert all(f"'{name}'" in SEGMENTER_HELP for name in BUILTIN_SEGMENTERS)
    assert f"(default: {DEFAULT_SEGMENTER})" in SEGMENTER_HELP


def test_bench_segment_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = _parser().parse_args(["bench", "segment", "--size", "160x120", "--clicks", "2", "--output", str(out)])
    assert args.func(args) == 0
    result = json.loads(out.read_text())
    assert result["images"] == 4 and result["image_size"] == [120, 160]
    assert result["cached_click_ms"] < result["first_click_ms"]
    assert 0 < result["interactive_click_ms"] <= result["interactive_click_p90_ms"]


def test_interactive_bench_clicks_extend_the_clicks_before():
    from sounding.engine import ObjectMask
    from sounding.segmentation.benchmark import INTERACTIVE_CLICKS, measure_latency

    class Recorder:
        def __init__(self):
            self.calls = []

        def segment(self, image, points, labels):
            self.calls.append((points.copy(), labels.copy()))
            return ObjectMask(mask=np.zeros(image.shape[:2], bool), score=0.0)

    clicks, recorder = INTERACTIVE_CLICKS + 1, Recorder()
    measure_latency(recorder, [np.zeros((20, 30, 3), np.uint8)], clicks_per_image=clicks)
    interactive = recorder.calls[-clicks:]  # after the cold click and the random sets
    assert [len(points) for points, _ in interactive] == [*range(1, INTERACTIVE_CLICKS + 1), 1]
    for (before, before_labels), (after, after_labels) in zip(interactive[:-2], interactive[1:-1]):
        assert np.array_equal(after[:-1], before) and np.array_equal(after_labels[:-1], before_labels)
    assert all(labels[0] == 1 for _, labels in interactive)
