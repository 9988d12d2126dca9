"""Training and comparing the HiFi-GAN vocoder: real packs of the tone dataset's files, a tiny generator and narrow
discriminators built from configs, real training steps, the saved folder loaded the way a model directory loads it."""
import json

import numpy as np
import pytest
import torch
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from sounding.audio.mel import LogMel
from sounding.model.config import FOLEY_MINI_HIFIGAN, HOP_LENGTH, MelConfig
from sounding.training.hifigan_discriminators import (PERIODS, SCALES, HifiGanDiscriminator, discriminator_loss,
                                                      feature_matching_loss, generator_loss)
from sounding.training.vocoder import (CONFIG_NAME, LOG_NAME, VOCODER_FOLDER, VocoderTrainConfig, WavePack,
                                       evaluate_vocoders, main, pack_split, plain_generator, train_vocoder, validate,
                                       _weight_norm_convolutions)
from tone_data import RATE, tone_dataset, tone_judge  # noqa: F401  (fixtures)

#: A generator of a few thousand parameters with foley-mini's upsampling (x160).
TINY_HIFIGAN = dict(FOLEY_MINI_HIFIGAN, upsample_initial_channel=32, resblock_kernel_sizes=[3],
                    resblock_dilation_sizes=[[1, 3]])
TINY_DISCRIMINATOR = dict(periods=[2, 3], scales=2, divisor=32)


@pytest.fixture(scope="module")
def packs(tone_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("packs")
    summaries = {split: pack_split(tone_dataset, split, out / f"{split}.npz", max_clip_seconds=0.75,
                                   sample_rate=RATE) for split in ("train", "val")}
    return out, summaries


def test_a_pack_holds_each_recording_once_normalised_and_capped(packs):
    out, summaries = packs
    assert summaries["train"]["clips"] == 18 and summaries["val"]["clips"] == 3  # scene mixes are left out
    pack = WavePack.load(out / "train.npz")
    assert len(pack) == 18 and int(pack.lengths.max()) == int(0.75 * RATE)
    peak = max(float(pack.clip(i).abs().max()) for i in range(len(pack)))
    assert abs(peak - 0.5) < 1e-3  # AudioLDM's peak, as the VAE's training mels have it
    assert not list(out.glob("*.partial*"))


def test_pack_refuses_a_split_without_recordings(tone_dataset, tmp_path):
    with pytest.raises(ValueError, match="no single-object rows"):
        pack_split(tone_dataset, "holdout", tmp_path / "x.npz", 1.0, RATE)
    assert not (tmp_path / "x.npz").exists()


def test_segments_are_slices_of_one_clip_zero_padded_at_the_end():
    clips = [np.arange(1, 101, dtype=np.float32), np.arange(1001, 1031, dtype=np.float32)]
    pack = WavePack(torch.from_numpy(np.concatenate(clips)), torch.tensor([0, 100]), torch.tensor([100, 30]), RATE)
    segments = pack.segments(64, 40, torch.Generator().manual_seed(0))
    assert segments.shape == (64, 40)
    for segment in segments:
        if segment[0] > 1000:  # the 30-sample clip: all of it, then zeros
            assert torch.equal(segment[:30], torch.from_numpy(clips[1])) and not segment[30:].any()
        else:
            assert torch.equal(segment, torch.arange(segment[0], segment[0] + 40))


def test_discriminators_score_each_period_and_scale():
    discriminator = HifiGanDiscriminator(divisor=32)
    with torch.no_grad():
        scored = discriminator(torch.randn(2, 1000))
    assert len(scored) == len(PERIODS) + SCALES
    assert all(score.shape[0] == 2 and len(maps) >= 5 for score, maps in scored)
    perfect_real = [(torch.ones(2, 3), []) for _ in range(2)]
    perfect_fake = [(torch.zeros(2, 3), []) for _ in range(2)]
    assert float(discriminator_loss(perfect_real, perfect_fake)) == 0.0
    assert float(generator_loss(perfect_fake)) == 2.0  # each sub-discriminator: mean (1 - 0)^2
    assert float(feature_matching_loss(scored, scored)) == 0.0


def test_the_plain_generator_matches_the_weight_normed_one():
    torch.manual_seed(0)
    generator = SpeechT5HifiGan(SpeechT5HifiGanConfig(**TINY_HIFIGAN))
    _weight_norm_convolutions(generator)
    with torch.no_grad():
        for parameter in generator.parameters():  # move away from the initial weights
            parameter.add_(0.01 * torch.randn_like(parameter))
    mel = torch.randn(1, 12, 64)
    plain = plain_generator(generator)
    assert not any(".parametrizations." in name for name in plain.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(plain(mel), generator.eval()(mel), rtol=1e-4, atol=1e-6)
        assert plain(mel).shape == (1, 12 * HOP_LENGTH)  # exactly the hop per frame


def test_training_lowers_the_mel_error_and_saves_a_loadable_vocoder(packs, tmp_path):
    out, _ = packs
    # 120 steps at 2e-3: seeds 0, 1 and 3 end at 0.53-0.68 of the untrained error. 60 steps at 5e-3 ended at 0.74
    # (seed 0), too near the bound: a GAN this small moves by chance, and one full-suite run failed it.
    config = VocoderTrainConfig(hifigan=TINY_HIFIGAN, discriminator=TINY_DISCRIMINATOR, segment_frames=16,
                                batch_size=4, learning_rate=2e-3, max_steps=120, log_every=20,
                                checkpoint_seconds=1e9, validation_clips=3)
    torch.manual_seed(config.seed)  # the initial weights training starts from
    untrained = SpeechT5HifiGan(SpeechT5HifiGanConfig(**TINY_HIFIGAN))
    log_mel = LogMel(MelConfig())
    before = validate(untrained, WavePack.load(out / "val.npz"), log_mel, clips=3)
    result = train_vocoder(out / "train.npz", tmp_path / "run", config, validation_pack=out / "val.npz")
    assert result["step"] == 120 and result["val_mel_l1"] < 0.8 * before
    saved = json.loads((tmp_path / "run" / CONFIG_NAME).read_text())
    assert saved["max_steps"] == 120 and saved["hifigan"]["upsample_initial_channel"] == 32
    assert json.loads((tmp_path / "run" / LOG_NAME).read_text())[-1] == result
    vocoder = SpeechT5HifiGan.from_pretrained(tmp_path / "run" / VOCODER_FOLDER, local_files_only=True)
    assert validate(vocoder, WavePack.load(out / "val.npz"), log_mel, clips=3) == pytest.approx(
        result["val_mel_l1"], abs=1e-4)


def test_training_can_start_from_a_saved_generator(packs, tmp_path):
    out, _ = packs
    torch.manual_seed(5)
    SpeechT5HifiGan(SpeechT5HifiGanConfig(**TINY_HIFIGAN)).save_pretrained(tmp_path / "start")
    start = SpeechT5HifiGan.from_pretrained(tmp_path / "start", local_files_only=True)
    config = VocoderTrainConfig(init_generator=str(tmp_path / "start"), discriminator=TINY_DISCRIMINATOR,
                                max_steps=0, validation_clips=3)  # hifigan: the default, replaced by the start's
    result = train_vocoder(out / "train.npz", tmp_path / "run", config, validation_pack=out / "val.npz")
    log_mel = LogMel(MelConfig())
    assert result["val_mel_l1"] == pytest.approx(validate(start, WavePack.load(out / "val.npz"), log_mel, 3),
                                                 abs=1e-4)
    saved = json.loads((tmp_path / "run" / CONFIG_NAME).read_text())
    assert saved["hifigan"]["upsample_initial_channel"] == 32 and saved["init_generator"] == str(tmp_path / "start")


def test_a_wall_clock_budget_stops_training(packs, tmp_path):
    out, _ = packs
    config = VocoderTrainConfig(hifigan=TINY_HIFIGAN, discriminator=TINY_DISCRIMINATOR, segment_frames=8,
                                batch_size=2, max_seconds=0.0)
    assert train_vocoder(out / "train.npz", tmp_path, config)["step"] == 0
    assert (tmp_path / VOCODER_FOLDER / "config.json").is_file()


def test_evaluate_compares_vocoders_on_the_recordings(tone_dataset, tone_judge, tmp_path):
    torch.manual_seed(0)
    SpeechT5HifiGan(SpeechT5HifiGanConfig(**TINY_HIFIGAN)).save_pretrained(tmp_path / "untrained")
    results = evaluate_vocoders(tone_dataset, "test", ["griffin-lim", str(tmp_path / "untrained")],
                                tone_judge[0], max_clip_seconds=1.0)
    assert results["recordings"]["clips"] == 6 and results["recordings"]["judge_top1"] >= 0.8
    griffin_lim, untrained = results["griffin-lim"], results[str(tmp_path / "untrained")]
    assert griffin_lim["mel_l1"] < untrained["mel_l1"]  # an untrained generator gives near-silence
    assert griffin_lim["judge_top1"] >= 0.5 and untrained["judge_top1"] <= griffin_lim["judge_top1"]


def test_the_command_line_packs_and_trains(tone_dataset, tmp_path, capsys):
    assert main(["pack", "--data", str(tone_dataset), "--out", str(tmp_path / "p.npz"),
                 "--max-clip-seconds", "0.5"]) == 0
    assert json.loads(capsys.readouterr().out)["clips"] == 18
    (tmp_path / "tiny.json").write_text(json.dumps({"hifigan": TINY_HIFIGAN, "discriminator": TINY_DISCRIMINATOR,
                                                    "segment_frames": 8, "batch_size": 2}))
    assert main(["train", "--pack", str(tmp_path / "p.npz"), "--out", str(tmp_path / "run"), "--device", "cpu",
                 "--config", str(tmp_path / "tiny.json"), "--max-steps", "2"]) == 0
    assert json.loads((tmp_path / "run" / LOG_NAME).read_text())[-1]["step"] == 2
    assert json.loads((tmp_path / "run" / CONFIG_NAME).read_text())["segment_frames"] == 8


def test_bad_input_is_a_clear_error_and_writes_nothing(packs, tmp_path, capsys):
    out, _ = packs
    with pytest.raises(SystemExit) as exited:
        main(["train", "--pack", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "run")])
    assert exited.value.code == 2 and "missing.npz" in capsys.readouterr().err
    (tmp_path / "typo.json").write_text(json.dumps({"lr": 1e-3}))
    with pytest.raises(SystemExit):
        main(["train", "--pack", str(out / "train.npz"), "--out", str(tmp_path / "run"),
              "--config", str(tmp_path / "typo.json")])
    assert "unknown VocoderTrainConfig fields ['lr']" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
