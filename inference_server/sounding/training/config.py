"""Training configs: one dataclass, named presets, JSON files (``sounding train --config NAME_OR_JSON``)."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The paper's optimiser and classifier-free guidance dropout.
PAPER_LR = 1e-4
PAPER_BETAS = (0.95, 0.999)
PAPER_WEIGHT_DECAY = 1e-3
PAPER_CONDITION_DROPOUT = 0.1
PAPER_BATCH_SIZE = 64
#: Components that can be trained; anything not listed in ``TrainConfig.train`` stays frozen.
COMPONENTS = ("image_encoder", "text_encoder", "conditioner", "unet", "vae", "vae_decoder")
STAGES = ("diffusion", "vae")
#: What the "vae" stage can train: the whole autoencoder, or only its decoder ("vae_decoder": the encoder, and with it
#: the latent space a trained UNet works in, stays fixed). The stage trains the whole VAE unless ``train`` names one.
VAE_COMPONENTS = ("vae", "vae_decoder")
#: What a click's condition is made by: while these stay frozen, an object prior (class means of the image features,
#: typical conditions) and its clip ranker stay valid through a diffusion training and are kept.
CONDITION_COMPONENTS = ("image_encoder", "conditioner")
#: Whole modules ``TrainConfig.warm_start`` can copy from another model.
WARM_START_COMPONENTS = ("image_encoder", "text_encoder", "conditioner", "unet", "vae")


@dataclass
class ViewAugmentConfig:
    """Ranges of the random views ``TrainConfig.image_views`` adds (``sounding.training.views``): factors are drawn
    uniformly from (low, high); ``crop_scale`` multiplies the model's region-crop scale (a larger factor shows the
    object smaller in its view)."""

    flip: float = 0.5
    brightness: tuple[float, float] = (0.75, 1.25)
    saturation: tuple[float, float] = (0.5, 1.5)
    contrast: tuple[float, float] = (0.75, 1.25)
    crop_scale: tuple[float, float] = (0.85, 1.35)
    rotation_degrees: float = 15.0

    def __post_init__(self):
        for name in ("brightness", "saturation", "contrast", "crop_scale"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"view_augment.{name} must be a range 0 < low <= high, got {(low, high)}")
            setattr(self, name, (float(low), float(high)))
        if not 0.0 <= self.flip <= 1.0 or self.rotation_degrees < 0:
            raise ValueError(f"view_augment needs 0 <= flip <= 1 and rotation_degrees >= 0, got {self.flip} "
                             f"and {self.rotation_degrees}")


@dataclass
class TrainConfig:
    #: The model to start from: a named model config or a model directory (e.g. a "vae" stage's output).
    model: str = "tiny"
    #: ModelConfig fields replaced before building (e.g. {"vocoder": "griffin-lim"}); only for named configs.
    model_overrides: dict[str, Any] = field(default_factory=dict)
    #: CSV or JSONL with image, audio, caption [, mask] (or image_path, audio_path, mask_path) and optional split.
    manifest: str = ""
    split: str = "train"
    output: str = "runs/tiny"
    #: "diffusion": noise-prediction MSE of UNet + conditioner (the paper); "vae": mel autoencoder reconstruction
    #: (only needed when no pretrained AudioLDM VAE is used).
    stage: str = "diffusion"
    #: Trainable components; the paper trains the conditioner and the diffusion UNet with frozen CLIP / CLAP / VAE.
    #: Ablation (i) "freeze the diffusion model": ["conditioner"]. The "vae" stage reads only VAE_COMPONENTS here.
    train: tuple[str, ...] = ("conditioner", "unet")
    #: Share of the rows with a mask whose attention weights are replaced by their mask (by the rule a click without
    #: text follows at test time), so the UNet also learns the conditions a click produces. 0 is the
    #: paper's training; 1 is its hard-mask ablation (found worse there). foley-mini uses FOLEY_MINI_MASK_PROBABILITY.
    mask_probability: float = 0.0
    #: Weight of KL(normalised mask || text attention) added to the loss for rows with a mask. Not in the paper
    #: (its attention learns only through the diffusion loss); it makes the text attention cover the object as a
    #: clicked mask does, so both give the same condition. foley-mini uses FOLEY_MINI_ATTENTION_MASK_WEIGHT.
    attention_mask_weight: float = 0.0
    #: Weight of the caption alignment: the condition (before dropout) must predict its caption's sentence embedding
    #: (1 - cosine, through a linear head trained with it and kept beside the run, not in the model). Not in the
    #: paper, whose CLIP image features are aligned with text by their own training; ImageNet features are not, and
    #: a conditioner trained by the diffusion loss alone kept little of what tells a new picture's class
    #: (docs/method.md, "Caption alignment").
    caption_alignment_weight: float = 0.0
    #: Components taken from other trained model directories before the first step, {component: model directory}
    #: (shapes must match; the VAE brings its latent scale). E.g. a new conditioner over a trained UNet and VAE.
    warm_start: dict[str, str] = field(default_factory=dict)
    #: Also train on one row per multi-object scene of the manifest: the union of its objects' masks, its mixed
    #: audio and its caption (``training.data.read_rows``). Not in the paper's recipe, where clicking several objects
    #: is only a union at test time. foley-mini does not use it (measured worse, docs/method.md "Scene mixes").
    scene_mixes: bool = False
    #: Encodings cached per row: the row's own view, then ``image_views - 1`` random views of its picture
    #: (``view_augment``); each step takes one of them per row. 1 is the paper's training (one view). Needs a frozen
    #: image encoder (the cache holds its features).
    image_views: int = 1
    #: With a model that crops clicks (``ModelConfig.region_crop``), the text attention of the rows not drawn for
    #: mask substitution attends over the whole picture, as a caption without a click does at inference; the crop
    #: view (``False``, stage 7's recipe) taught it only pictures already cut to the object (docs/method.md,
    #: "Captions see the whole picture"). Its spread, the one a click is rescaled to, stays the crop view's.
    whole_picture_captions: bool = True
    view_augment: ViewAugmentConfig = field(default_factory=ViewAugmentConfig)
    #: After the last step of a diffusion stage, fit the model's object prior on the labelled single-object rows
    #: at this strength (``sounding.training.object_prior``); None: no prior (a diffusion stage drops the one it
    #: started with, which described the old conditions). Not in the paper.
    object_prior_strength: float | None = None
    #: Share of the labelled rows whose condition is replaced by their class's typical condition in the object prior
    #: the run starts with: the one condition per class that a prior of strength 1 gives the UNet at inference, which
    #: training otherwise never shows it. Needs a model with a prior, and the CONDITION_COMPONENTS frozen (so that the
    #: prior stays valid and is kept). 0: every row's own condition (the paper's training). Not in the paper; 0.5
    #: measured worse for foley-mini (docs/method.md, "The UNet trained on the typical conditions").
    typical_condition_probability: float = 0.0
    #: With an object prior, also fit a clip ranker of this many candidates on the labelled single-object recordings
    #: (``sounding.training.clip_ranker``); None: no ranker. Not in the paper.
    clip_ranker_candidates: int | None = None
    clip_seconds: float = 10.24
    batch_size: int = PAPER_BATCH_SIZE
    max_steps: int = 100_000
    lr: float = PAPER_LR
    betas: tuple[float, float] = PAPER_BETAS
    weight_decay: float = PAPER_WEIGHT_DECAY
    condition_dropout: float = PAPER_CONDITION_DROPOUT
    #: KL weight of the "vae" stage (LDM's autoencoders use ~1e-6 relative to the reconstruction loss).
    kl_weight: float = 1e-6
    seed: int = 0
    save_every: int = 1000
    #: Cache VAE latents (and frozen encoders' features) of the whole dataset once, before the first step.
    precompute: bool = True
    mixed_precision: str = "no"  # accelerate: "no" | "fp16" | "bf16"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig keys: {sorted(unknown)}")
        data = {k: tuple(v) if k in ("train", "betas") else v for k, v in data.items()}
        if isinstance(data.get("view_augment"), dict):
            unknown = set(data["view_augment"]) - {f.name for f in dataclasses.fields(ViewAugmentConfig)}
            if unknown:
                raise ValueError(f"unknown view_augment keys: {sorted(unknown)}")
            data["view_augment"] = ViewAugmentConfig(**data["view_augment"])
        config = cls(**data)
        config.validate()
        return config

    def validate(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        unknown = set(self.train) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown components to train: {sorted(unknown)}; choose from {COMPONENTS}")
        if not 0.0 <= self.mask_probability <= 1.0:
            raise ValueError(f"mask_probability must be in [0, 1], got {self.mask_probability}")
        if self.object_prior_strength is not None and not 0.0 <= self.object_prior_strength <= 1.0:
            raise ValueError(f"object_prior_strength must be in [0, 1] or null, got {self.object_prior_strength}")
        if self.clip_ranker_candidates is not None and (self.object_prior_strength is None
                                                        or self.clip_ranker_candidates < 1):
            raise ValueError("clip_ranker_candidates must be null or >= 1, and a clip ranker needs an object prior "
                             f"(object_prior_strength); got {self.clip_ranker_candidates}")
        if not 0.0 <= self.typical_condition_probability <= 1.0:
            raise ValueError(f"typical_condition_probability must be in [0, 1], got "
                             f"{self.typical_condition_probability}")
        if self.typical_condition_probability > 0 and set(CONDITION_COMPONENTS) & set(self.train):
            raise ValueError("typical_condition_probability needs a frozen conditioner and image encoder: the object "
                             "prior's typical conditions are theirs, and would go stale as they train")
        if self.caption_alignment_weight < 0:
            raise ValueError(f"caption_alignment_weight must be >= 0, got {self.caption_alignment_weight}")
        unknown = set(self.warm_start) - set(WARM_START_COMPONENTS)
        if unknown:
            raise ValueError(f"cannot warm-start {sorted(unknown)}; choose from {WARM_START_COMPONENTS}")
        if self.attention_mask_weight < 0:
            raise ValueError(f"attention_mask_weight must be >= 0, got {self.attention_mask_weight}")
        vae_parts = set(self.train) & set(VAE_COMPONENTS)
        if self.stage == "diffusion" and vae_parts:
            raise ValueError("the diffusion stage keeps the VAE frozen (its latents are precomputed); "
                             "train it in the 'vae' stage")
        if len(vae_parts) > 1:
            raise ValueError(f"train either the whole VAE or its decoder, not both: {sorted(vae_parts)}")
        if self.image_views < 1:
            raise ValueError(f"image_views must be >= 1, got {self.image_views}")
        if self.image_views > 1 and "image_encoder" in self.trained_components():
            raise ValueError("image_views > 1 caches the frozen image encoder's features; it cannot train the "
                             "image encoder")
        if not self.manifest:
            raise ValueError("the training config needs a manifest (CSV or JSONL)")

    def trained_components(self) -> tuple[str, ...]:
        """What this run trains: ``train`` in the diffusion stage; the VAE (or only its decoder) in the vae stage."""
        if self.stage == "vae":
            return tuple(part for part in self.train if part in VAE_COMPONENTS) or ("vae",)
        return self.train

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


def paper_train_config() -> dict[str, Any]:
    """The paper's recipe on the `paper` model (AudioLDM-S + CLIP + CLAP); point ``manifest`` at your data."""
    return dict(model="paper", output="runs/paper", clip_seconds=10.24, batch_size=PAPER_BATCH_SIZE)


def tiny_train_config() -> dict[str, Any]:
    """A smoke run of the tiny model on CPU."""
    return dict(model="tiny", output="runs/tiny", clip_seconds=1.0, batch_size=4, max_steps=20, save_every=10)


#: Foley-Mini: 4 s clips (latents 8 x 52 x 8), the dataset `sounding data build` writes.
FOLEY_MINI_MANIFEST = "data/foley-mini/manifest.csv"
FOLEY_MINI_SECONDS = 4.0
#: The VAE is fully convolutional: stage 1 trains on each clip's first two seconds (half the cost of 4 s per step).
#: 2 s and 3,000 steps (~22 min on one thread of a 2-core CPU) is the shipped VAE's recipe (the model card's stage
#: 6): 1 s and 1,500 steps, the first recipe, left the judge 59 % of the train recordings against 70 % now.
FOLEY_MINI_VAE_SECONDS = 2.0
FOLEY_MINI_VAE_LR = 2e-3
FOLEY_MINI_VAE_BATCH = 8
FOLEY_MINI_VAE_STEPS = 3000
FOLEY_MINI_LR = 5e-4
FOLEY_MINI_BATCH = 16
#: Stage 2's length (about 3 h on two threads of a 2-core CPU). From scratch, mask ACC on val / test was 43 / 51 %
#: at 21,600 steps and 71 / 59 % at 40,000, against the shipped weights' 67 / 62 % (the model card's "The recipe
#: from scratch, measured").
FOLEY_MINI_TRAIN_STEPS = 40_000
FOLEY_MINI_SAVE_EVERY = 100
#: Half of the masked rows train on the condition a click produces (mask substitution), half on text attention:
#: trained on text attention only, foley-mini's mask-mode ACC on its own train rows was 2 % against 15 % in text mode.
FOLEY_MINI_MASK_PROBABILITY = 0.5
#: The attention is pulled onto the captioned object's mask, so that text attention and a click give one condition
#: (without it the text attention put ~45 % of its mass on the object, and the two conditions had cosine 0.2).
FOLEY_MINI_ATTENTION_MASK_WEIGHT = 1.0
#: The condition must also predict its caption's sentence embedding (docs/method.md, "Caption alignment"): 0.25 gave
#: the shipped weights' stage 5 (click condition's nearest class mean 32 % of the test rows against 24 % without).
FOLEY_MINI_CAPTION_ALIGNMENT_WEIGHT = 0.25
#: Encoded views of each row (the plain one and three augmented ones), as in the shipped weights' stage 7
#: (docs/method.md, "Augmented views").
FOLEY_MINI_IMAGE_VIEWS = 4
#: The condition goes all the way to the recognised class's typical condition (docs/method.md, "The object prior").
FOLEY_MINI_OBJECT_PRIOR_STRENGTH = 1.0
#: Weight of the ImageNet classifier's probability of a class's categories beside the cosine to its mean features.
#: Chosen leaving each train picture out of the means in turn (single objects: 53.5 % at 0, 56.9 % at 0.5, 56.7 % at
#: 1; scene objects 40.0 / 44.5 / 44.4 %) and on the val rows (70 / 74 / 76 %; docs/method.md, "What ImageNet knows").
OBJECT_PRIOR_IMAGENET_WEIGHT = 0.5
#: A recognised class scoring under this (cosine + the ImageNet term at the weight above) is reported as unsure. On
#: the val rows 0.5 flags 11 of 50 single objects, 9 of them recognised wrong (0.6: 16, 12 wrong; 0.4: 1, 1 wrong);
#: on test 27 of 176, 16 wrong (docs/method.md, "When the prior is unsure"). The rule below gives it too.
OBJECT_PRIOR_UNSURE_BELOW = 0.5
#: How often a flag should be right: ``sounding eval recognition`` suggests the highest threshold whose flagged train
#: single objects, each with its picture left out of the class means, are recognised wrong at least this often (for
#: foley-mini 0.5 flags 114, 80.7 % wrong; 0.6 flags 192, 76.0 % wrong).
UNSURE_FLAGS_WRONG = 0.8
#: Clips the clip ranker chooses among for each clip kept. Asked for each class by name, in groups of 2, 3, 4 or 6
#: of 12 clip seeds, the judge named the group's first clip right 74-79 % of the time and the one the ranker kept
#: 82.9, 81.5, 85.7 and 81.0 % (docs/method.md, "The clip ranker"). Each candidate costs a UNet and a VAE pass.
CLIP_RANKER_CANDIDATES = 4


def foley_mini_vae_config() -> dict[str, Any]:
    """Stage 1 of the embedded model: its mel VAE."""
    return dict(model="foley-mini", stage="vae", manifest=FOLEY_MINI_MANIFEST, output="runs/foley-mini-vae",
                clip_seconds=FOLEY_MINI_VAE_SECONDS, batch_size=FOLEY_MINI_VAE_BATCH, lr=FOLEY_MINI_VAE_LR,
                max_steps=FOLEY_MINI_VAE_STEPS, save_every=FOLEY_MINI_SAVE_EVERY)


def foley_mini_config() -> dict[str, Any]:
    """Stage 2: the paper's objective from the stage-1 model (conditioner + UNet; encoders and VAE frozen)."""
    return dict(model="runs/foley-mini-vae/model", manifest=FOLEY_MINI_MANIFEST, output="runs/foley-mini",
                clip_seconds=FOLEY_MINI_SECONDS, batch_size=FOLEY_MINI_BATCH, lr=FOLEY_MINI_LR,
                max_steps=FOLEY_MINI_TRAIN_STEPS, save_every=FOLEY_MINI_SAVE_EVERY,
                mask_probability=FOLEY_MINI_MASK_PROBABILITY, attention_mask_weight=FOLEY_MINI_ATTENTION_MASK_WEIGHT,
                caption_alignment_weight=FOLEY_MINI_CAPTION_ALIGNMENT_WEIGHT, image_views=FOLEY_MINI_IMAGE_VIEWS,
                object_prior_strength=FOLEY_MINI_OBJECT_PRIOR_STRENGTH, clip_ranker_candidates=CLIP_RANKER_CANDIDATES)


#: The embedded model's directory (relative to the repository root, like the manifest).
FOLEY_MINI_WEIGHTS = "inference_server/sounding/weights/foley-mini"
#: Decoder fine-tuning on whole 4 s clips: the stage-1 VAE saw only 1 s crops. A lower rate than stage 1's, as it
#: starts from a trained decoder; a small batch, as a 4 s clip costs four times a 1 s one. 600 steps: test-split
#: reconstruction L1 went 0.751 -> 0.330 by step 600 and was 0.335 at step 1,200 (measured, model card).
FOLEY_MINI_DECODER_LR = 5e-4
FOLEY_MINI_DECODER_BATCH = 4
FOLEY_MINI_DECODER_STEPS = 600


def foley_mini_vae_decoder_config() -> dict[str, Any]:
    """Fine-tunes the decoder of a trained model (default: the embedded one) on 4 s clips. The encoder, the latent
    scaling and the UNet stay as they are, so the output directory is a complete model with a new decoder."""
    return dict(model=FOLEY_MINI_WEIGHTS, stage="vae", train=("vae_decoder",), manifest=FOLEY_MINI_MANIFEST,
                output="runs/foley-mini-vae-decoder", clip_seconds=FOLEY_MINI_SECONDS,
                batch_size=FOLEY_MINI_DECODER_BATCH, lr=FOLEY_MINI_DECODER_LR, max_steps=FOLEY_MINI_DECODER_STEPS,
                save_every=FOLEY_MINI_SAVE_EVERY)


NAMED_TRAIN_CONFIGS = {"paper": paper_train_config, "tiny": tiny_train_config,
                       "foley-mini-vae": foley_mini_vae_config, "foley-mini": foley_mini_config,
                       "foley-mini-vae-decoder": foley_mini_vae_decoder_config}


def load_train_config(name_or_path: str, **overrides: Any) -> TrainConfig:
    """A named preset or a JSON file; ``overrides`` (e.g. from the command line) win."""
    if name_or_path in NAMED_TRAIN_CONFIGS:
        data = NAMED_TRAIN_CONFIGS[name_or_path]()
    elif Path(name_or_path).is_file():
        data = json.loads(Path(name_or_path).read_text())
    else:
        raise FileNotFoundError(f"{name_or_path!r} is neither a named training config "
                                f"{sorted(NAMED_TRAIN_CONFIGS)} nor a JSON file")
    data.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(data)
