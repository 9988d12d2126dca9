"""The embedded click network: shapes, the feature cache, click maps and the saved layout (random decoder weights);
the shipped weights with and without the colour refinement on a sharp-edged star."""
import numpy as np
import pytest
import torch

from sounding.segmentation import load_segmenter
from sounding.segmentation.clicknet import (Backbone, ClickDecoder, ClickNetConfig, ClickNetSegmenter, click_maps,
                                            click_similarity, keep_clicked_parts, save_decoder)
from sounding.segmentation.clicks import iou
from sounding.segmentation.refine import RefineConfig
from test_segmentation_refine import star_scene


@pytest.fixture(scope="module")
def segmenter():
    torch.manual_seed(0)
    config = ClickNetConfig(work_size=128)
    return ClickNetSegmenter(ClickDecoder(config), config, backbone=Backbone.pretrained())


def image(seed=0, h=90, w=120):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_backbone_gives_four_strides(segmenter):
    features = segmenter.backbone(torch.zeros(1, 3, 96, 128))
    assert [tuple(f.shape[1:]) for f in features] == [(24, 24, 32), (40, 12, 16), (112, 6, 8), (320, 3, 4)]


@pytest.mark.parametrize("start", [3, 5, 11])
def test_backbone_tail_from_cached_features_matches_the_full_pass(segmenter, start):
    pixels = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        full = segmenter.backbone(pixels)
        again = segmenter.backbone.forward_from([f.clone() for f in full], start)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(full, again))
    assert set(segmenter.backbone.tail_state(start)) < set(segmenter.backbone.net.state_dict())
    with pytest.raises(ValueError, match="does not follow a feature block"):
        segmenter.backbone.forward_from(full, start + 1)


def test_mask_is_full_size_and_second_click_skips_the_backbone(segmenter):
    calls = []
    hook = segmenter.backbone.register_forward_hook(lambda *_: calls.append(1))
    try:
        segmenter.cache.clear()
        first = segmenter.segment(image(), np.array([[60.0, 45.0]]), np.array([1]))
        second = segmenter.segment(image(), np.array([[60.0, 45.0], [5.0, 5.0]]), np.array([1, 0]))
    finally:
        hook.remove()
    assert len(calls) == 1
    for result in (first, second):
        assert result.mask.shape == (90, 120) and result.mask.dtype == bool and 0.0 <= result.score <= 1.0


def test_click_maps_peak_at_the_clicks():
    maps = click_maps(np.array([[11.0, 7.0], [31.0, 21.0]]), np.array([1, 0]), (12, 16), 0.5, (0.05, 0.2))
    assert maps.shape == (4, 12, 16)
    assert np.unravel_index(int(maps[0].argmax()), (12, 16)) == (3, 5)  # (7, 11) * 0.5 -> the centre of cell (3, 5)
    assert np.unravel_index(int(maps[2].argmax()), (12, 16)) == (10, 15)  # negative narrow map
    assert maps[1].sum() > maps[0].sum()  # the wide map is wider
    assert float(maps[2:].min()) >= 0 and float(maps.max()) <= 1


def test_keep_clicked_parts():
    mask = np.zeros((10, 10), bool)
    mask[1:3, 1:3] = mask[6:9, 6:9] = True
    kept = keep_clicked_parts(mask, np.array([[7.0, 7.0]]), np.array([1]))
    assert kept[7, 7] and not kept[1:3, 1:3].any()
    assert np.array_equal(keep_clicked_parts(mask, np.array([[0.0, 9.0]]), np.array([1])), mask)


def test_saved_decoder_loads_back(segmenter, tmp_path):
    save_decoder(segmenter.decoder, segmenter.config, tmp_path)
    loaded = load_segmenter(str(tmp_path))
    assert isinstance(loaded, ClickNetSegmenter) and loaded.config == segmenter.config
    points, labels = np.array([[60.0, 45.0]]), np.array([1])
    assert np.array_equal(loaded.segment(image(), points, labels).mask, segmenter.segment(image(), points, labels).mask)


def test_colour_bins_are_cached_at_the_backbone_input_size(segmenter):
    segmenter.cache.clear()
    assert segmenter.embed(image()).colours.shape == (96, 128)  # 90x120 resized to work_size 128


def test_shipped_network_refined_beats_raw_on_a_sharp_star():
    image_, star = star_scene()
    points, labels = np.array([[80.0, 60.0]]), np.array([1])
    refined, raw = load_segmenter("clicknet"), load_segmenter("clicknet-raw")
    assert refined.refine == RefineConfig() and raw.refine is None
    raw_iou = iou(raw.segment(image_, points, labels).mask, star)
    refined_iou = iou(refined.segment(image_, points, labels).mask, star)
    assert refined_iou > 0.97 and refined_iou > raw_iou



def test_refinement_maps_clicks_with_separate_x_and_y_scales(segmenter, monkeypatch):
    from sounding.segmentation import clicknet

    seen, refine_logits = [], clicknet.refine_logits

    def spy(colours, logits, points, labels, config):
        seen.append((colours.shape, points.copy()))
        return refine_logits(colours, logits, points, labels, config)

    monkeypatch.setattr(clicknet, "refine_logits", spy)
    strip = image(h=8, w=200)  # resized to 128 x 32 (the minimum side), so y is scaled by 4 and x by 0.64
    segmenter.segment(strip, np.array([[100.0, 6.0]]), np.array([1]))
    shape, points = seen[0]
    assert shape == (32, 128) and np.allclose(points, [[64.0, 24.0]])


@pytest.fixture(scope="module")
def chained():
    """A random decoder with the previous-mask input (its weights for that input are not zero)."""
    torch.manual_seed(1)
    config = ClickNetConfig(work_size=128, previous_mask=True)
    return ClickNetSegmenter(ClickDecoder(config), config, backbone=Backbone.pretrained(), refine=None)


def test_decoder_saved_without_previous_mask_loads_with_zero_weights_for_it(segmenter, tmp_path):
    save_decoder(segmenter.decoder, segmenter.config, tmp_path)
    loaded = ClickNetSegmenter.from_pretrained(tmp_path, refine=None)
    new = ClickDecoder(ClickNetConfig(work_size=128, previous_mask=True))
    new.load_weights(loaded.decoder.state_dict())
    assert float(new.fuse16[0][0].weight.detach()[:, -1].abs().max()) == 0.0
    features = segmenter.embed(image()).features
    clicks = click_maps(np.array([[15.0, 11.0]]), np.array([1]), (24, 32), 1.0, (0.02, 0.12))[None]
    with torch.inference_mode():
        before = loaded.decoder(features, clicks)
        # the extra input channel changes the convolution's summation order: equal up to float rounding
        torch.testing.assert_close(new(features, clicks, torch.rand(1, 1, 24, 32)), before, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="previous mask"):
        new(features, clicks)
    with pytest.raises(ValueError, match="previous mask"):
        loaded.decoder(features, clicks, torch.zeros(1, 1, 24, 32))


def test_click_similarity_is_one_on_the_clicked_stuff_and_zero_without_negative_clicks():
    x = torch.zeros(1, 3, 12, 16)
    x[0, 0, :, :8] = 1.0  # left half: one kind of feature
    x[0, 1, :, 8:] = 1.0  # right half: another, orthogonal to it
    x[0, 0, 2, 12] = 1.0  # a spot of the left kind on the right: a far part of the clicked object
    maps = click_similarity(x, click_maps(np.array([[3.0, 5.0]]), np.array([1]), (12, 16), 1.0, (0.05, 0.2))[None])
    assert maps.shape == (1, 2, 12, 16)
    assert torch.allclose(maps[0, 0, :, :8], torch.ones(12, 8)) and abs(float(maps[0, 0, 5, 10])) < 1e-6
    assert 0.7 < float(maps[0, 0, 2, 12]) < 0.71  # cos 45 degrees: half of each kind
    assert float(maps[0, 1].abs().max()) == 0.0  # no negative click
    both = click_similarity(x, click_maps(np.array([[3.0, 5.0], [13.0, 9.0]]), np.array([1, 0]), (12, 16), 1.0,
                                          (0.05, 0.2))[None])
    assert torch.allclose(both[0, 1, :, 8:].mean(), torch.tensor(1.0), atol=0.01)
    assert abs(float(both[0, 1, 0, 0])) < 1e-6


def _loaded_into(chained, tmp_path, config):
    """The chained decoder saved and loaded into a decoder of ``config``, which must predict what it did (up to
    float rounding: the added inputs or layers change the order of the sums); returns it and the inputs used."""
    save_decoder(chained.decoder, chained.config, tmp_path)
    new = ClickDecoder(config)
    new.load_weights(ClickNetSegmenter.from_pretrained(tmp_path, refine=None).decoder.state_dict())
    features = chained.embed(image()).features
    clicks = click_maps(np.array([[15.0, 11.0], [3.0, 4.0]]), np.array([1, 0]), (24, 32), 1.0, (0.02, 0.12))[None]
    previous = torch.rand(1, 1, 24, 32)
    with torch.inference_mode():
        torch.testing.assert_close(new(features, clicks, previous), chained.decoder(features, clicks, previous),
                                   rtol=1e-5, atol=1e-6)
    return new, features, clicks, previous


def test_decoder_saved_without_click_similarity_loads_with_zero_weights_for_it(chained, tmp_path):
    config = ClickNetConfig(work_size=128, previous_mask=True, click_similarity=True)
    new, features, clicks, previous = _loaded_into(chained, tmp_path, config)
    for fuse in (new.fuse16, new.fuse8, new.fuse4):
        assert float(fuse[0][0].weight.detach()[:, -2:].abs().max()) == 0.0
    torch.nn.init.normal_(new.fuse4[0][0].weight)  # the similarity now counts, and the saved config says so
    save_decoder(new, config, tmp_path / "similarity")
    loaded = load_segmenter(str(tmp_path / "similarity"))
    assert loaded.config.click_similarity
    with torch.inference_mode():
        assert torch.equal(loaded.decoder(features, clicks, previous), new(features, clicks, previous))


def test_decoder_saved_without_attention_loads_into_one_with_it_and_predicts_the_same(chained, tmp_path):
    config = ClickNetConfig(work_size=128, previous_mask=True, attention_layers=2)
    new, features, clicks, previous = _loaded_into(chained, tmp_path, config)
    layer = new.fuse16[-1]
    torch.nn.init.normal_(layer.attention.out_proj.weight)  # trained: positions now draw on each other
    save_decoder(new, config, tmp_path / "attention")
    loaded = load_segmenter(str(tmp_path / "attention"))
    assert loaded.config.attention_layers == 2
    with torch.inference_mode():
        trained = new(features, clicks, previous)
        # eval mode takes PyTorch's fused attention path: the same numbers up to rounding
        assert torch.allclose(loaded.decoder(features, clicks, previous), trained, atol=1e-5)
        assert (trained - chained.decoder(features, clicks, previous)).abs().max() > 1e-3
    fewer = ClickDecoder(ClickNetConfig(work_size=128, previous_mask=True, attention_layers=1))
    with pytest.raises(ValueError, match="unexpected"):
        fewer.load_weights(new.state_dict())
    with pytest.raises(ValueError, match="attention_layers"):
        ClickNetConfig(attention_layers=-1)


def test_previous_mask_feeds_the_second_click(chained):
    points, labels = np.array([[60.0, 45.0], [10.0, 80.0]]), np.array([1, 0])
    chained.cache.clear()
    embedding = chained.embed(image())
    cell = 32 / 120  # stride-4 grid cells per input pixel (120 px wide -> 128 -> 32 cells)
    maps = [click_maps(points[:n] * cell, labels[:n], (24, 32), 1.0, (0.02, 0.12))[None] for n in (1, 2)]
    with torch.inference_mode():
        first = chained.decoder(embedding.features, maps[0], torch.zeros(1, 1, 24, 32))
        second = chained.decoder(embedding.features, maps[1], torch.sigmoid(first))
        without = chained.decoder(embedding.features, maps[1], torch.zeros(1, 1, 24, 32))
        logits = chained.network_logits(embedding, points * cell, labels)
    assert torch.allclose(logits, second[0, 0], atol=1e-5)
    assert not torch.allclose(logits, without[0, 0], atol=1e-3)
    assert len(embedding.chain) == 2  # both prefixes kept for the next click


def test_click_chain_gives_the_same_mask_whether_cached_or_recomputed(chained):
    points, labels = np.array([[60.0, 45.0], [10.0, 80.0], [100.0, 20.0]]), np.array([1, 0, 1])
    chained.cache.clear()
    for n in (1, 2, 3):
        stepwise = chained.segment(image(), points[:n], labels[:n])
    chained.cache.clear()
    direct = chained.segment(image(), points, labels)
    assert np.array_equal(stepwise.mask, direct.mask) and stepwise.score == direct.score


@pytest.mark.parametrize("refine", [True, False])
def test_clicked_pixels_keep_their_labels_on_a_tiny_noisy_image(refine):
    """On a 48 x 64 noise image the network finds no object; the clicked pixel is still in the mask (a click disc at
    the backbone's size can miss it after downsampling), and a negative click's pixel is not."""
    segmenter = load_segmenter(None if refine else "clicknet-raw")
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    mask = segmenter.segment(image, np.array([[10.0, 10.0], [11.0, 10.0]]), np.array([1, 0])).mask
    assert mask.shape == (48, 64) and mask[10, 10] and not mask[10, 11]
