"""``sounding data build``: Debian packages -> Foley-Mini (16 kHz clips, cut-out scenes with exact masks, one
manifest). Every output file is cached by name, so a second run only re-reads the sources' listings and rewrites the
manifest."""
from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image
from tqdm import tqdm

from sounding.data import audio_prep, renders
from sounding.data.classes import CLASSES
from sounding.data.compose import ComposeConfig, compose_scene
from sounding.data.images import (IMAGE_PACKAGES, class_image_pool, extract_sweethome3d_icons, image_group,
                                  image_key, image_licence, image_pool, image_roots, load_cutout, to_cutout)
from sounding.data.manifest import ClipRow, check_rows, write_manifest
from sounding.data.packages import ensure_packages
from sounding.data.reserved import is_reserved
from sounding.data.sources import OPTIONAL_SOURCES, SOURCE_MODULES, SourceClip, hash_text, load_source
from sounding.data.splits import SplitConfig, assign_splits

MANIFEST_NAME = "manifest.csv"
STATS_NAME = "stats.json"


@dataclass
class BuildConfig:
    out: Path
    #: Source names (see :data:`sounding.data.sources.SOURCE_MODULES`); None: all (0 A.D. only with ``with_0ad``).
    sources: list[str] | None = None
    #: Include the 0 A.D. source (a 1.4 GB download, 72 s to fetch and unpack here) when ``sources`` is None.
    with_0ad: bool = True
    install: bool = True
    #: Classes with fewer distinct recordings are left out (they could not be both trained on and tested).
    min_recordings_per_class: int = 2
    #: Render the Sweet Home 3D models in Blender for the class pools (needs bpy; cached).
    render_models: bool = True
    #: Multi-object scenes (2-3 objects) per single-object clip of the split.
    scenes_per_clip: float = 1.0
    split: SplitConfig = field(default_factory=SplitConfig)
    compose: ComposeConfig = field(default_factory=ComposeConfig)
    audio: audio_prep.AudioPrepConfig = field(default_factory=audio_prep.AudioPrepConfig)
    #: Gain range (dB) of each object in a scene mix.
    mix_gain_db: tuple[float, float] = (-6.0, 0.0)
    #: Class -> ``"root:glob"`` pictures shown with train recordings only (:func:`picture_variants`); off by default:
    #: a fine-tune with :data:`sounding.data.classes.TRAIN_ONLY_IMAGES` gained nothing (docs/data.md).
    train_only_images: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def source_names(self) -> list[str]:
        if self.sources is not None:
            return list(self.sources)
        return [name for name in SOURCE_MODULES if name not in OPTIONAL_SOURCES or self.with_0ad]


@dataclass
class PreparedClip:
    clip: SourceClip
    split: str
    audio_path: str
    duration_s: float
    cutout_path: str = ""
    image_source: str = ""
    image_licence: str = ""


def _rng(key: str) -> np.random.Generator:
    return np.random.default_rng(abs(hash_text(key)))


def _digest(*parts) -> str:
    """Names cached outputs after their inputs, so a changed source list or picture never reuses a stale file."""
    return f"{abs(hash_text(repr(parts))) % 16 ** 8:08x}"


def collect_clips(modules: list) -> list[SourceClip]:
    """Every clip the source modules offer, minus anything from a reserved evaluation source."""
    clips = []
    for module in modules:
        for clip in module.clips():
            if is_reserved(clip.source, clip.recording, clip.image_source):
                continue
            if clip.label not in CLASSES:
                raise ValueError(f"{clip.recording}: label {clip.label!r} is not a Foley-Mini class")
            clips.append(clip)
    return clips


def keep_trainable_classes(clips: list[SourceClip], minimum: int) -> list[SourceClip]:
    recordings = defaultdict(set)
    for clip in clips:
        recordings[clip.label].add(clip.recording)
    return [clip for clip in clips if len(recordings[clip.label]) >= minimum]


def prepare_audio(clips: list[SourceClip], split_of: dict[str, str], out: Path,
                  config: audio_prep.AudioPrepConfig) -> list[PreparedClip]:
    """Decode, resample, trim and normalise each clip once; the index remembers rejected (silent) clips too."""
    index_path = out / "cache" / "audio_index.json"
    index: dict[str, float | None] = json.loads(index_path.read_text()) if index_path.exists() else {}
    prepared = []
    for clip in tqdm(clips, desc="audio", unit="clip"):
        relative = f"audio/{clip.id}.wav"
        if clip.id not in index or (index[clip.id] is not None and not (out / relative).exists()):
            samples, rate = clip.load_audio()
            audio = audio_prep.prepare(samples, rate, config)
            if audio is not None:
                audio_prep.write_wav(out / relative, audio, config.sample_rate)
            index[clip.id] = None if audio is None else len(audio) / config.sample_rate
            index_path.parent.mkdir(parents=True, exist_ok=True)
            index_path.write_text(json.dumps(index, indent=0, sort_keys=True))
        if index[clip.id] is not None:
            prepared.append(PreparedClip(clip, split_of[clip.recording], relative, round(index[clip.id], 3)))
    return prepared


def attach_cutouts(prepared: list[PreparedClip], out: Path, config: BuildConfig) -> None:
    """Each clip gets a cut-out: its source's own picture, or one from its class's image pool. The pool is split
    like the recordings, so a test clip is shown with a picture no train clip uses (when the class has enough)."""
    roots = {**image_roots(out / "cache" / "sweethome3d"), "render": (renders.render_dir(out), "")}
    needs_pool = sorted({item.clip.label for item in prepared if item.clip.load_image is None})
    rendered: dict[str, list[Path]] = {}
    if needs_pool:
        extract_sweethome3d_icons(roots["sweethome3d"][0])
        if config.render_models:
            rendered = renders.render_models(out)
    pools: dict[tuple[str, str], list[tuple[str, Path]]] = defaultdict(list)
    for label in needs_pool:
        pool = class_image_pool(label, roots) + [("render", path) for path in rendered.get(label, [])]
        if not pool:
            raise FileNotFoundError(f"no picture installed for class {label!r}")
        group_of = {path: image_group(root_name, path.relative_to(roots[root_name][0])) for root_name, path in pool}
        pool_split = assign_splits({group: label for group in group_of.values()}, config.split)
        for root_name, path in pool:
            pools[label, pool_split[group_of[path]]].append((root_name, path))
        for split in ("val", "test"):
            pools[label, split] = pools[label, split] or pools[label, "train"] or pool
        pools[label, "train"] = pools[label, "train"] or pool
    for item in tqdm(prepared, desc="cut-outs", unit="clip"):
        clip = item.clip
        if clip.load_image is not None:
            item.cutout_path = f"cutouts/own/{clip.id}.png"
            item.image_source, item.image_licence = clip.image_source, clip.licence
            if not (out / item.cutout_path).exists():
                _save(to_cutout(clip.load_image()), out / item.cutout_path)
            continue
        pool = pools[clip.label, item.split]
        root_name, path = pool[abs(hash_text(clip.id)) % len(pool)]
        item.cutout_path = f"cutouts/pool/{clip.label}-{image_key(path.relative_to(roots[root_name][0]))}.png"
        item.image_source = f"{root_name}:{path.relative_to(roots[root_name][0])}"
        item.image_licence = image_licence(root_name, path)
        if not (out / item.cutout_path).exists():
            _save(load_cutout(path), out / item.cutout_path)


def picture_variants(prepared: list[PreparedClip], out: Path, config: BuildConfig) -> list[PreparedClip]:
    """One more train clip for each train-only picture (``config.train_only_images``): the picture with the audio of
    a train clip of its class, picked by the picture's hash, and the class's caption (the clip's own may name
    another object: "A blackbird." under an owl). With few pictures per class the generator learns the pictures
    rather than the object; these add pictures without moving any recording, picture or scene of the splits
    (scenes are composed from the other clips). A variant shares its clip's recording and audio file."""
    roots = image_roots(out / "cache" / "sweethome3d")
    if any(entry.startswith("sweethome3d:") for entries in config.train_only_images.values() for entry in entries):
        extract_sweethome3d_icons(roots["sweethome3d"][0])
    train_clips: dict[str, list[PreparedClip]] = defaultdict(list)
    for item in prepared:
        if item.split == "train":
            train_clips[item.clip.label].append(item)
    variants = []
    for label, entries in sorted(config.train_only_images.items()):
        pictures = image_pool(entries, roots)
        if len(pictures) < len(entries):
            raise FileNotFoundError(f"train-only pictures of {label!r}: {len(entries)} listed, {len(pictures)} "
                                    "installed (each entry names one file)")
        if not train_clips[label]:
            continue
        for root_name, path in pictures:
            relative = path.relative_to(roots[root_name][0])
            key = image_key(relative)
            base = train_clips[label][abs(hash_text(key)) % len(train_clips[label])]
            variant = "-".join(part for part in (base.clip.variant, f"p{key[:8]}") if part)
            clip = dataclasses.replace(base.clip, variant=variant, caption=scene_caption([label]))
            item = PreparedClip(clip, "train", base.audio_path, base.duration_s,
                                cutout_path=f"cutouts/pool/{label}-{key}.png",
                                image_source=f"{root_name}:{relative}", image_licence=image_licence(root_name, path))
            if not (out / item.cutout_path).exists():
                _save(load_cutout(path), out / item.cutout_path)
            variants.append(item)
    return variants


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _save_mask(mask: np.ndarray, path: Path) -> None:
    _save(Image.fromarray(mask.astype(np.uint8) * 255, "L"), path)


def single_object_rows(prepared: list[PreparedClip], out: Path, config: BuildConfig) -> list[ClipRow]:
    rows = []
    for item in tqdm(prepared, desc="single-object images", unit="clip"):
        clip = item.clip
        key = f"{clip.id}-{_digest(item.cutout_path, config.compose)}"
        image_path, mask_path = f"images/{key}.png", f"masks/{key}.png"
        if not (out / image_path).exists() or not (out / mask_path).exists():
            with Image.open(out / item.cutout_path) as cutout:
                scene, (mask,) = compose_scene([cutout.copy()], _rng(clip.id), config.compose)
            _save_mask(mask, out / mask_path)
            _save(scene, out / image_path)
        rows.append(ClipRow(
            id=clip.id, label=clip.label, caption=clip.caption, audio_path=item.audio_path, image_path=image_path,
            mask_path=mask_path, source=clip.source, licence=clip.licence, split=item.split,
            recording=clip.recording, image_source=item.image_source, image_licence=item.image_licence,
            duration_s=item.duration_s,
        ))
    return rows


def scene_caption(labels: list[str]) -> str:
    phrases = [CLASSES[label].caption for label in labels]
    text = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return text[0].upper() + text[1:] + "."


def mix(out: Path, audio_paths: list[str], rng: np.random.Generator, gain_db: tuple[float, float]) -> np.ndarray:
    """Sum the objects' clips (each at a random gain), then bring the peak back to the clips' ceiling."""
    tracks = [soundfile.read(str(out / path), dtype="float32")[0] for path in audio_paths]
    mixed = np.zeros(max(len(track) for track in tracks), dtype=np.float32)
    for track in tracks:
        mixed[: len(track)] += track * 10.0 ** (rng.uniform(*gain_db) / 20.0)
    ceiling = max(float(np.max(np.abs(track))) for track in tracks)
    return mixed * min(1.0, ceiling / max(float(np.max(np.abs(mixed))), 1e-9))


def scene_rows(prepared: list[PreparedClip], out: Path, config: BuildConfig) -> list[ClipRow]:
    """Multi-object scenes, composed within each split from that split's clips only (no leak through the mix)."""
    rows = []
    by_split: dict[str, list[PreparedClip]] = defaultdict(list)
    for item in prepared:
        by_split[item.split].append(item)
    for split, items in sorted(by_split.items()):
        labels = sorted({item.clip.label for item in items})
        if len(labels) < 2:
            continue
        by_label = defaultdict(list)
        for item in items:
            by_label[item.clip.label].append(item)
        count = round(config.scenes_per_clip * len(items))
        for number in tqdm(range(count), desc=f"scenes ({split})", unit="scene"):
            rng = _rng(f"scene-{split}-{number}")
            chosen_labels = rng.choice(labels, size=min(len(labels), int(rng.integers(2, 4))), replace=False)
            objects = [by_label[label][rng.integers(len(by_label[label]))] for label in chosen_labels]
            scene_id = f"scene-{split}-{number:05d}-" + _digest(
                [(item.clip.id, item.cutout_path) for item in objects], config.compose, config.mix_gain_db)
            image_path, mix_path = f"scenes/{scene_id}/image.png", f"scenes/{scene_id}/mix.wav"
            mask_paths = [f"scenes/{scene_id}/mask_{index}.png" for index in range(len(objects))]
            if not all((out / path).exists() for path in [image_path, mix_path, *mask_paths]):
                cutouts = []
                for item in objects:
                    with Image.open(out / item.cutout_path) as cutout:
                        cutouts.append(cutout.copy())
                scene, masks = compose_scene(cutouts, rng, config.compose)
                for mask, path in zip(masks, mask_paths):
                    _save_mask(mask, out / path)
                audio_prep.write_wav(out / mix_path, mix(out, [item.audio_path for item in objects], rng,
                                                         config.mix_gain_db), config.audio.sample_rate)
                _save(scene, out / image_path)
            caption = scene_caption([item.clip.label for item in objects])
            for index, (item, mask_path) in enumerate(zip(objects, mask_paths)):
                clip = item.clip
                rows.append(ClipRow(
                    id=f"{scene_id}-o{index}", label=clip.label, caption=clip.caption, audio_path=item.audio_path,
                    image_path=image_path, mask_path=mask_path, source=clip.source, licence=clip.licence,
                    split=split, recording=clip.recording, image_source=item.image_source,
                    image_licence=item.image_licence, duration_s=item.duration_s, scene_id=scene_id,
                    scene_caption=caption, mix_path=mix_path,
                ))
    return rows


def dataset_stats(rows: list[ClipRow], seconds: float) -> dict:
    singles = [row for row in rows if not row.scene_id]
    recordings = defaultdict(lambda: defaultdict(set))
    clips = defaultdict(Counter)
    for row in singles:
        recordings[row.label][row.split].add(row.recording)
        clips[row.label][row.split] += 1
    licences = defaultdict(Counter)
    for row in singles:
        licences[row.source][row.licence] += 1
    return {
        "build_seconds": round(seconds, 1),
        "single_object_clips": len(singles),
        "scenes": len({row.scene_id for row in rows if row.scene_id}),
        "scene_object_rows": len(rows) - len(singles),
        "recordings": len({row.recording for row in singles}),
        "classes": {label: {"recordings": {split: len(ids) for split, ids in sorted(by_split.items())},
                            "clips": dict(sorted(clips[label].items()))}
                    for label, by_split in sorted(recordings.items())},
        "clips_per_split": dict(Counter(row.split for row in singles)),
        "audio_hours": round(sum(row.duration_s for row in singles) / 3600, 3),
        "licences_by_source": {source: dict(counter) for source, counter in sorted(licences.items())},
    }


def build_dataset(config: BuildConfig, modules: list | None = None) -> Path:
    """``modules``: source modules (anything with ``PACKAGES`` and ``clips()``); default: ``config.source_names()``."""
    started = time.monotonic()
    out = config.out
    modules = modules if modules is not None else [load_source(name) for name in config.source_names()]
    ensure_packages([package for module in modules for package in module.PACKAGES], install=config.install)
    clips = keep_trainable_classes(collect_clips(modules), config.min_recordings_per_class)
    if not clips:
        raise ValueError("the sources offered no clips of a class with enough recordings")
    if any(clip.load_image is None for clip in clips) or config.train_only_images:
        ensure_packages(list(IMAGE_PACKAGES), install=config.install)
    split_of = assign_splits({clip.recording: clip.label for clip in clips}, config.split,
                             {clip.recording: clip.generation for clip in clips})
    prepared = prepare_audio(clips, split_of, out, config.audio)
    attach_cutouts(prepared, out, config)
    variants = picture_variants(prepared, out, config)
    rows = single_object_rows(prepared + variants, out, config) + scene_rows(prepared, out, config)
    check_rows(rows)
    manifest = out / MANIFEST_NAME
    write_manifest(manifest, rows)
    stats = dataset_stats(rows, time.monotonic() - started)
    (out / STATS_NAME).write_text(json.dumps(stats, indent=2) + "\n")
    print(f"{stats['single_object_clips']} clips from {stats['recordings']} recordings in {len(stats['classes'])} "
          f"classes, {stats['scenes']} scenes, {stats['build_seconds']} s")
    return manifest
