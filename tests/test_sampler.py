"""The denoising loop: equal to diffusers' AudioLDMPipeline, seeded, batched, cancellable."""
import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from sounding.engine import GenerationCancelled, GenerationRequest
from sounding.model.loading import load_generator
from sounding.model.sampler import latent_shape, make_scheduler, sample

DURATION = 0.96  # 96 mel frames: a multiple of the tiny VAE's and UNet's downsampling (8)


@pytest.fixture(scope="module")
def generator():
    return load_generator("tiny")


def request(seed=0, variations=1, region=True, text=None, steps=4, guidance=2.0):
    image = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[8:30, 10:40] = True
    return GenerationRequest(image=image, region=mask if region else None, text=text, duration=DURATION, seed=seed,
                             steps=steps, guidance=guidance, variations=variations)


def no_progress(stage, step, total):
    pass


def test_loop_matches_audioldm_pipeline(generator):
    try:
        from diffusers import AudioLDMPipeline
    except ImportError:
        from diffusers.pipelines.deprecated import AudioLDMPipeline
    g = generator
    pipe = AudioLDMPipeline(vae=g.vae, text_encoder=g.text_encoder.model, tokenizer=g.text_encoder.tokenizer,
                            unet=g.unet, scheduler=DDIMScheduler.from_config(g.scheduler_config), vocoder=g.vocoder)
    pipe.set_progress_bar_config(disable=True)
    gen = torch.Generator().manual_seed(0)
    condition = torch.nn.functional.normalize(torch.randn(2, 32, generator=gen), dim=-1)
    uncondition = torch.nn.functional.normalize(torch.randn(2, 32, generator=gen), dim=-1)
    latents = torch.randn(latent_shape(2, 96, 64, g.unet, g.vae), generator=gen)
    expected = pipe(prompt_embeds=condition, negative_prompt_embeds=uncondition, latents=latents.clone(),
                    num_inference_steps=5, guidance_scale=2.0, audio_length_in_s=DURATION).audios
    ours = sample(g.unet, make_scheduler("ddim", g.scheduler_config), g.vae, g.vocoder, condition, uncondition,
                  latents.clone(), steps=5, guidance=2.0)
    ours = ours[:, : int(DURATION * 16000)].numpy()
    assert expected.shape == ours.shape == (2, 15360)
    scale = np.abs(expected).max()  # random tiny HiFi-GAN: small output, so compare relative to it
    assert scale > 0
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5 * scale)


def test_seed_gives_identical_audio(generator):
    a = generator.generate([request(seed=3)], no_progress)[0].clips[0]
    b = generator.generate([request(seed=3)], no_progress)[0].clips[0]
    c = generator.generate([request(seed=4)], no_progress)[0].clips[0]
    assert a.shape == (int(DURATION * 16000),) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_variations_and_requests_batch(generator):
    batch = generator.generate([request(seed=5, variations=2), request(seed=9, text="a dog", region=False)],
                               no_progress)
    assert [len(r.clips) for r in batch] == [2, 1]
    alone = generator.generate([request(seed=6)], no_progress)[0].clips[0]  # variation 1 of seed 5 = seed 6
    np.testing.assert_allclose(batch[0].clips[1], alone, rtol=0, atol=1e-4 * np.abs(alone).max())
    text_alone = generator.generate([request(seed=9, text="a dog", region=False)], no_progress)[0].clips[0]
    np.testing.assert_allclose(batch[1].clips[0], text_alone, rtol=0, atol=1e-4 * np.abs(text_alone).max())


def test_batch_key_separates_incompatible_requests(generator):
    assert generator.batch_key(request(steps=4)) == generator.batch_key(request(steps=4, seed=8))
    assert generator.batch_key(request(steps=4)) != generator.batch_key(request(steps=5))
    with pytest.raises(ValueError, match="share"):
        generator.generate([request(steps=4), request(steps=5)], no_progress)


def test_progress_stages_and_cancellation(generator):
    seen = []
    generator.generate([request(steps=3)], lambda stage, step, total: seen.append((stage, step, total)))
    assert [s for s in seen if s[0] == "denoise"] == [("denoise", i, 3) for i in (1, 2, 3)]
    assert {s[0] for s in seen} == {"encode", "denoise", "decode", "vocode"}

    def cancel(stage, step, total):
        if stage == "denoise" and step == 2:
            raise GenerationCancelled()

    with pytest.raises(GenerationCancelled):
        generator.generate([request(steps=3)], cancel)


def test_request_needs_region_or_text_and_a_matching_region(generator):
    with pytest.raises(ValueError, match="region .* or a text hint"):
        generator.generate([request(region=False, text=None)], no_progress)
    wrong = request()
    wrong.region = wrong.region[:, :10]
    with pytest.raises(ValueError, match="differ in size"):
        generator.generate([wrong], no_progress)


def test_any_diffusers_scheduler_and_unknown_name(generator):
    assert type(make_scheduler("EulerDiscreteScheduler", generator.scheduler_config)).__name__ == \
        "EulerDiscreteScheduler"
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler("nope", generator.scheduler_config)


def test_bench_generate_writes_json(tmp_path, capsys):
    import json

    from sounding.cli import main

    assert main(["bench", "generate", "--duration", "0.5", "--repeats", "1", "--threads", "1",
                 "--output", str(tmp_path / "bench.json")]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    assert result["model"] == "tiny" and result["steps"] == 10 and result["generate_s"]["median"] > 0
    assert set(result["last_run_stages_s"]) == {"encode", "denoise", "decode", "vocode"}
    assert main(["bench", "generate", "--duration", "0.5", "--repeats", "1", "--threads", "1", "--objects", "2",
                 "--output", str(tmp_path / "two.json")]) == 0
    assert json.loads((tmp_path / "two.json").read_text())["objects"] == 2
    with pytest.raises(SystemExit, match="--objects must be at least 1"):
        main(["bench", "generate", "--objects", "0"])
