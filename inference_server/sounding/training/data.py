"""Training data: manifest rows -> images, log-mels, captions, masks; and the tensors precomputed from them once
(VAE latent moments, frozen encoders' features) and cached beside the run.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from sounding.audio.io import read_audio
from sounding.audio.mel import LogMel, normalize_waveform
from sounding.model.config import RegionCropConfig
from sounding.model.generator import ObjectAwareGenerator
from sounding.model.masking import mask_to_grid
from sounding.model.region_crop import crop_to_region
from sounding.training.config import ViewAugmentConfig
from sounding.training.views import augmented_view

#: Accepted column names: the short ones, or the Foley-Mini manifest's (sounding.data.manifest).
COLUMNS = {"image": ("image", "image_path"), "audio": ("audio", "audio_path"), "caption": ("caption",),
           "mask": ("mask", "mask_path"), "label": ("label",), "scene_id": ("scene_id",)}
#: Optional columns of a multi-object scene's rows (one row per object): the scene, its caption and its mixed audio.
SCENE_COLUMNS = ("scene_id", "scene_caption", "mix_path")
#: Background that transparent pixels (RGBA cut-outs) are composited onto.
BACKGROUND = (255, 255, 255)
#: Images are encoded in chunks of this many when precomputing features.
CHUNK = 64


@dataclass
class Row:
    image: Path
    audio: Path
    caption: str
    #: The clicked region: no mask (the whole picture), one object's mask, or the union of several (a scene's mix).
    masks: tuple[Path, ...] = ()
    #: The sound's class and the multi-object scene the row's object is in (optional columns; "" without).
    label: str = ""
    scene_id: str = ""


def _field(row: dict, name: str, required: bool = True) -> str:
    for column in COLUMNS[name]:
        if row.get(column):
            return row[column]
    if required:
        raise ValueError(f"manifest row {row} has no {' / '.join(COLUMNS[name])} column")
    return ""


def read_rows(manifest: str | Path, split: str | None = None, scene_mixes: bool = False) -> list[Row]:
    """CSV (header) or JSONL manifest; relative paths are relative to the manifest's folder; a ``split`` column,
    when present, selects the rows of ``split``. ``scene_mixes`` adds one row per multi-object scene: its picture,
    the union of its objects' masks, its mixed audio and its caption (what clicking every object should give)."""
    manifest = Path(manifest)
    if manifest.suffix == ".jsonl":
        records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    else:
        with open(manifest, newline="") as handle:
            records = list(csv.DictReader(handle))
    rows, scenes = [], {}
    for record in records:
        if split and record.get("split", split) != split:
            continue
        mask = _field(record, "mask", required=False)
        row = Row(image=manifest.parent / _field(record, "image"), audio=manifest.parent / _field(record, "audio"),
                  caption=_field(record, "caption"), masks=(manifest.parent / mask,) if mask else (),
                  label=_field(record, "label", required=False), scene_id=_field(record, "scene_id", required=False))
        rows.append(row)
        if scene_mixes and record.get("scene_id"):
            scenes.setdefault(record["scene_id"], (record, []))[1].append(row)
    for scene_id, (record, objects) in scenes.items():
        missing = [name for name in SCENE_COLUMNS if not record.get(name)]
        if missing or any(not row.masks for row in objects):
            raise ValueError(f"{manifest}: scene {scene_id} lacks {missing or 'object masks'} for its mixed row")
        rows.append(Row(image=objects[0].image, audio=manifest.parent / record["mix_path"],
                        caption=record["scene_caption"], masks=tuple(row.masks[0] for row in objects),
                        scene_id=scene_id))
    if not rows:
        raise ValueError(f"{manifest} has no rows for split {split!r}")
    return rows


def load_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; transparent pixels composited onto white."""
    image = Image.open(path)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, BACKGROUND + (255,))
        image = Image.alpha_composite(background, image)
    return np.asarray(image.convert("RGB"))


def load_mask(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L")) > 127


def load_masks(paths: tuple[Path, ...]) -> np.ndarray:
    """The union of the masks (the region clicking all of them selects)."""
    return np.logical_or.reduce([load_mask(path) for path in paths])


def row_view(row: Row, crop: RegionCropConfig | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The picture the encoder sees for a row and its region (None without a mask): cut to the region's box when
    the model crops (``ModelConfig.region_crop``), as :meth:`ObjectAwareGenerator.condition` does for a click."""
    image = load_image(row.image)
    if not row.masks:
        return image, None
    region = load_masks(row.masks)
    return crop_to_region(image, region, crop) if crop is not None else (image, region)


def row_views(row: Row, crop: RegionCropConfig | None, views: int, augment: ViewAugmentConfig,
              rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The row's own view (:func:`row_view`) followed by ``views - 1`` random views of its picture."""
    image = load_image(row.image)
    region = load_masks(row.masks) if row.masks else None
    return [row_view(row, crop)] + [augmented_view(image, region, crop, augment, rng) for _ in range(views - 1)]


def clip_log_mel(path: Path, log_mel: LogMel, frames: int) -> torch.Tensor:
    """Audio file -> AudioLDM-normalised waveform, padded / cut to ``frames`` -> log-mel (frames, n_mels)."""
    wav = normalize_waveform(read_audio(path, log_mel.config.sample_rate))
    samples = frames * log_mel.config.hop_length
    wav = np.pad(wav, (0, max(samples - len(wav), 0)))[:samples]
    return log_mel(torch.from_numpy(wav)[None])[0, :frames]


def weights_digest(*modules: torch.nn.Module) -> str:
    """Identifies the weights of the modules whose outputs are cached (a retrained VAE must not reuse old latents)."""
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def fingerprint(rows: list[Row], *parts: object) -> str:
    """Identifies the cached features: the files (with their modification times) and what encoded them."""
    digest = hashlib.sha256(repr(parts).encode())
    for row in rows:
        for path in (row.image, row.audio, *row.masks):
            digest.update(f"{path}:{path.stat().st_mtime_ns}".encode())
        digest.update(row.caption.encode())
    return digest.hexdigest()[:16]


@torch.no_grad()
def precompute(generator: ObjectAwareGenerator, rows: list[Row], frames: int, stage: str,
               trained: tuple[str, ...], cache: Path | None, views: int = 1,
               augment: ViewAugmentConfig | None = None, seed: int = 0,
               whole_picture_captions: bool = False, show_progress: bool = False) -> dict[str, torch.Tensor]:
    """Tensors for every row, on the CPU, floats in float16. Always "mel" (vae stage) or the VAE posterior's
    "latent_mean" and "latent_std" (diffusion stage); "patches" when the image encoder is frozen, else "pixels";
    "query" when the text encoder is frozen; "mask_grid" and "has_mask" for rows with masks. With ``views`` > 1,
    "patches" and "mask_grid" gain a view axis after the row's (:func:`row_views`; row ``i``'s random views drawn
    from ``seed`` and ``i``). With ``whole_picture_captions`` and a model that crops clicks, "caption_patches" and
    "caption_mask_grid" hold the same views of the whole picture, uncropped (what a caption alone attends over)."""
    if views > 1 and "image_encoder" in trained:
        raise ValueError("several views per row need a frozen image encoder (their features are cached)")
    augment = augment or ViewAugmentConfig()
    encoders = [generator.vae] + [getattr(generator, part) for part in ("image_encoder", "text_encoder")
                                  if part not in trained]
    crop = generator.config.region_crop
    # The crop view always; the whole picture too where captions should see it and differs from a click's view.
    croppings = {"": crop} | ({"caption_": None} if whole_picture_captions and crop is not None else {})
    key = fingerprint(rows, frames, stage, sorted(trained), generator.config.name, crop, weights_digest(*encoders),
                      *((views, augment, seed) if views > 1 else ()), *(("caption",) if len(croppings) > 1 else ()))
    if cache is not None and cache.is_file():
        from safetensors import safe_open

        with safe_open(str(cache), "pt") as handle:
            if handle.metadata().get("fingerprint") == key:
                return load_file(str(cache))
    log_mel = LogMel(generator.config.mel)
    mels = torch.stack([clip_log_mel(row.audio, log_mel, frames) for row in rows])
    if stage == "vae":
        tensors = {"mel": mels}
    else:
        device = generator.device
        tensors = {"latent_mean": [], "latent_std": []}
        # Minutes on a CPU with several views per row: a bar says the run is not stuck before its first step.
        for start in tqdm(range(0, len(rows), CHUNK), desc="encode rows", unit="chunk", disable=not show_progress):
            chunk = rows[start:start + CHUNK]
            posterior = generator.vae.encode(mels[start:start + CHUNK, None].to(device)).latent_dist
            tensors["latent_mean"].append(posterior.mean.cpu())
            tensors["latent_std"].append(posterior.std.cpu())
            for prefix, cropping in croppings.items():
                if views > 1:
                    seen = [view for i, row in enumerate(chunk, start)
                            for view in row_views(row, cropping, views, augment, np.random.default_rng([seed, i]))]
                else:
                    seen = [row_view(row, cropping) for row in chunk]
                for name, value in _encode_views(generator, seen, "image_encoder" in trained).items():
                    value = value.unflatten(0, (len(chunk), views)) if views > 1 else value
                    tensors.setdefault(prefix + name, []).append(value)
        tensors = {k: torch.cat(v) for k, v in tensors.items()}
        if "text_encoder" not in trained:
            tensors["query"] = torch.cat([generator.text_encoder([row.caption for row in rows[s:s + CHUNK]]).cpu()
                                          for s in range(0, len(rows), CHUNK)])
        tensors["has_mask"] = torch.tensor([bool(row.masks) for row in rows])
    # Half precision on disk and in memory (plenty for latents and features): the cache of 1,000 4 s clips is
    # ~100 MB instead of ~200 MB. Batches are cast back to float32.
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(cache), metadata={"fingerprint": key})
    return tensors


def _encode_views(generator: ObjectAwareGenerator, seen: list[tuple[np.ndarray, np.ndarray | None]],
                  train_image_encoder: bool) -> dict[str, torch.Tensor]:
    """Views (picture, region or None) -> their "pixels" (a trained image encoder) or frozen "patches", and their
    "mask_grid" (all ones without a region)."""
    pixels = generator.image_encoder.preprocess([image for image, _ in seen])
    grid = generator.image_encoder.grid_size
    if train_image_encoder:
        encoded = {"pixels": pixels.cpu()}
    else:
        encoded = {"patches": torch.cat([generator.image_encoder(pixels[s:s + CHUNK]).cpu()
                                         for s in range(0, len(pixels), CHUNK)])}
    encoded["mask_grid"] = torch.stack([
        torch.from_numpy(mask_to_grid(region, grid)) if region is not None else torch.ones(grid * grid)
        for _, region in seen])
    return encoded
