"""Train the click network end to end on a GPU (``python -m sounding.segmentation.train_end_to_end pack|train``).

:mod:`sounding.segmentation.train` trains the decoder on cached features of fixed composite sets, which is what two
CPU cores afford. Here every backbone block learns with the decoder (batch norm keeps ImageNet's statistics), and
worker processes make a fresh sample for every batch element (a composite, a close-up, or one object of a rendered
scene), so no sample repeats. Clicks are simulated as there (:func:`sounding.segmentation.train.simulate_clicks`),
the corrective ones placed by a pool of processes. Saved like any click network: ``config.json`` with
``tuned_from_block`` 0, the decoder, and every backbone block in ``backbone_tail.safetensors``.

``pack`` gathers the sources into one folder small enough to travel to a GPU machine: the train split's cut-outs and
the background photos as WebP, rendered training scenes (primitives, and the train split's furniture models; rendered
here with Blender on first use) with their object-index maps, and the backbone's pretrained trunk (``--stem-only``:
its stem, when training continues a network that saved every block). Nothing of the held-out split goes in.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import multiprocessing
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from sounding.segmentation.clicknet import (DECODER_WEIGHTS, TAIL_WEIGHTS, Backbone, ClickDecoder, ClickNetConfig,
                                            normalise, save_decoder)
from sounding.segmentation.composites import (CLOSEUP_SCALE, TARGET_SCALE, background_photos, load_cutouts,
                                              make_composite)
from sounding.segmentation.renders import furniture_models, read_scene, render_samples, sample_objects
from sounding.segmentation.train import (RENDER_TIMEOUT_PER_SCENE, first_click, mask_loss, simulate_clicks,
                                         tuned_backbone)

SOURCES = "sources.npz"
TRUNK = "backbone.safetensors"
#: What a training sample is: a composite, a close-up composite, an object of a primitives render or of a furniture
#: render.
SAMPLE_KINDS = ("composite", "closeup", "render", "furniture")
#: Cut-outs, photos and frames are stored lossy (about 8 KB a cut-out); object-index maps losslessly (PNG).
WEBP_QUALITY = 85
#: The trunk's stem stays frozen and is kept in float32, so it is exactly the one inference loads; the blocks
#: are trained from it and travel in float16.
STEM_PREFIXES = ("_conv_stem.", "_bn0.")


@dataclass
class EndToEndConfig:
    batch_size: int = 32
    lr: float = 5e-4  # decoder peak learning rate
    backbone_lr: float = 1e-4  # backbone blocks' peak learning rate
    max_seconds: float = 420.0  # training stops here; the schedule runs on elapsed time
    max_steps: int | None = None  # or here, whichever comes first
    warmup: float = 0.05  # fraction of the run with a linear warm-up, then a cosine decay to zero
    max_corrections: int = 2  # corrective clicks simulated per batch (0..max)
    #: Share of each :data:`SAMPLE_KINDS` in the batches, as in the CPU chain's union of sets (12,500 composites,
    #: 2,500 close-ups, about 1,400 objects each of primitive and furniture renders); kinds the pack lacks are dropped.
    mix: tuple[float, float, float, float] = (0.70, 0.14, 0.08, 0.08)
    workers: int = 10  # processes making samples (0: in the main process)
    click_workers: int = 4  # processes placing corrective clicks (0: in the main process)
    save_every_seconds: float = 120.0
    seed: int = 0
    size: tuple[int, int] = (240, 320)  # sample (H, W); its longest side must equal the net's work_size


#: The :class:`EndToEndConfig` fields the command line sets.
SETTINGS = ("batch_size", "lr", "backbone_lr", "max_seconds", "max_steps", "max_corrections", "workers",
            "click_workers", "seed", "save_every_seconds")


def _blob(images: list[np.ndarray], image_format: str) -> tuple[np.ndarray, np.ndarray]:
    """Encoded images concatenated into one byte array, and each one's end offset."""
    encoded = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format=image_format, quality=WEBP_QUALITY)
        encoded.append(np.frombuffer(buffer.getvalue(), np.uint8))
    if not encoded:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64)
    return np.concatenate(encoded), np.cumsum([len(e) for e in encoded])


def _decoded(blob: np.ndarray, ends: np.ndarray) -> list[np.ndarray]:
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    return [np.asarray(Image.open(io.BytesIO(blob[a:b].tobytes()))) for a, b in zip(starts, ends)]


def rendered_scenes(directory: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The frames (H, W, 3) uint8 and object-index maps (H, W) uint8 of a renders folder."""
    frames = sorted(directory.glob("scene*.png"), key=lambda path: int(path.stem[len("scene"):]))
    if not frames:
        raise FileNotFoundError(f"{directory} holds no rendered scenes (scene<n>.png + ids<n>.npy)")
    images, ids = [], []
    for frame in frames:
        image, index = read_scene(directory, int(frame.stem[len("scene"):]))
        if index.min() < 0 or index.max() > 255:
            raise ValueError(f"{frame}: object indices must be 0-255, got {index.min()}-{index.max()}")
        images.append(image)
        ids.append(index.astype(np.uint8))
    return images, ids


def rendered_folder(data_dir: Path, kind: str, seed: int, count: int) -> Path:
    """``data_dir``'s folder of ``count`` training scenes of ``kind`` ("render": primitives, "furniture": the train
    split's models) rendered with ``seed``, rendered first when it is not complete; keep the seeds apart from the
    ones ``sounding eval segment`` renders with (1, 2, 3, ...)."""
    folder = data_dir / f"train-{kind}-scenes-{count}-{seed}"
    if len(list(folder.glob("scene*.png"))) < count:
        models = furniture_models("train", data_dir / "furniture") if kind == "furniture" else None
        render_samples(count, seed=seed, work_dir=folder, timeout=RENDER_TIMEOUT_PER_SCENE * count, models=models)
    return folder


def pack_sources(data_dir: Path, out: Path, render_seeds: tuple[int, ...] = (),
                 furniture_seeds: tuple[int, ...] = (), scenes: int = 300, stem_only: bool = False) -> dict:
    """Write ``out/sources.npz`` (train cut-outs, background photos, ``scenes`` rendered scenes for each seed) and
    ``out/backbone.safetensors`` (the pretrained trunk, or only its stem: training that continues a network which
    saved every block takes the blocks from it, and the pack is 6 MB smaller); returns what went in."""
    frames, ids, kinds = [], [], []
    for kind, seeds in (("render", render_seeds), ("furniture", furniture_seeds)):
        for seed in seeds:
            images, maps = rendered_scenes(rendered_folder(data_dir, kind, seed, scenes))
            frames += images
            ids += maps
            kinds += [SAMPLE_KINDS.index(kind)] * len(images)
    arrays = {"scene_kinds": np.array(kinds, np.int64)}
    for name, images, image_format in (("cutouts", load_cutouts(data_dir, "train"), "WEBP"),
                                       ("photos", background_photos(), "WEBP"),
                                       ("scenes", frames, "WEBP"), ("ids", ids, "PNG")):
        arrays[name], arrays[f"{name}_ends"] = _blob(images, image_format)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / SOURCES, **arrays)
    trunk = {name: value if name.startswith(STEM_PREFIXES) else value.half()
             for name, value in Backbone.pretrained().net.state_dict().items()
             if name.startswith(STEM_PREFIXES + (() if stem_only else ("_blocks.",)))}
    save_file({name: value.contiguous() for name, value in trunk.items()}, out / TRUNK)
    return {"cutouts": len(arrays["cutouts_ends"]), "photos": len(arrays["photos_ends"]),
            "scenes": {kind: kinds.count(SAMPLE_KINDS.index(kind)) for kind in ("render", "furniture")},
            "megabytes": round(sum(path.stat().st_size for path in out.iterdir()) / 1e6, 1)}


def packed_backbone(pack: Path, init: Path | None = None) -> Backbone:
    """The backbone with the trunk stored in a pack (its classification head, unused, stays random); a stem-only
    trunk needs ``init``, a network that saved every block, to take them from."""
    backbone = Backbone()
    state = {name: value.float() for name, value in load_file(pack / TRUNK).items()}
    missing, unexpected = backbone.net.load_state_dict(state, strict=False)
    if unexpected or any(name.startswith(STEM_PREFIXES) for name in missing):
        raise ValueError(f"{pack / TRUNK} is not an EfficientNet-Lite0 trunk")
    if any(name.startswith("_blocks.") for name in missing):
        if init is None or ClickNetConfig.load(init).tuned_from_block != 0:
            raise ValueError(f"{pack / TRUNK} holds only the stem: continue (--init) a network that saved every "
                             f"backbone block, or pack without --stem-only")
        backbone.load_tail(load_file(Path(init) / TAIL_WEIGHTS), 0)
    return backbone


class TrainingSources:
    """A pack's decoded sources, and how one sample of each kind is made from them."""

    def __init__(self, pack: Path):
        if not (pack / SOURCES).is_file() or not (pack / TRUNK).is_file():
            raise FileNotFoundError(f"{pack} is not a training pack (python -m sounding.segmentation."
                                    f"train_end_to_end pack)")
        with np.load(pack / SOURCES) as stored:
            self.objects, self.photos, self.scenes, self.ids = (
                _decoded(stored[name], stored[f"{name}_ends"]) for name in ("cutouts", "photos", "scenes", "ids"))
            scene_kinds = stored["scene_kinds"]
        if not self.objects or not self.photos:
            raise ValueError(f"{pack} holds no cut-outs or no photos")
        #: (scene, object index) of every object large enough to be a sample, by kind
        self.scene_objects = {kind: [] for kind in SAMPLE_KINDS[2:]}
        for scene, (index, kind) in enumerate(zip(self.ids, scene_kinds)):
            self.scene_objects[SAMPLE_KINDS[kind]] += [(scene, value) for value in sample_objects(index)]

    def available(self, kind: str) -> bool:
        return kind in ("composite", "closeup") or bool(self.scene_objects[kind])

    def sample(self, rng: np.random.Generator, kind: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(image (H, W, 3) uint8, mask (H, W) bool) of one fresh sample of ``kind``."""
        if kind in ("composite", "closeup"):
            composite = make_composite(rng, self.objects, self.photos, size,
                                       target_scale=CLOSEUP_SCALE if kind == "closeup" else TARGET_SCALE)
            return composite.image, composite.mask
        scene, index = self.scene_objects[kind][rng.integers(len(self.scene_objects[kind]))]
        image = self.scenes[scene]
        if image.shape[:2] != tuple(size):
            raise ValueError(f"rendered scenes are {image.shape[:2]}, samples must be {tuple(size)}")
        return image, self.ids[scene] == index


class SampleStream(torch.utils.data.IterableDataset):
    """An endless stream of (image, mask, first click) samples, each worker with its own random stream."""

    def __init__(self, sources: TrainingSources, mix: tuple[float, ...], size: tuple[int, int], seed: int):
        super().__init__()
        weights = np.array([share if sources.available(kind) else 0.0 for kind, share in zip(SAMPLE_KINDS, mix)])
        if len(mix) != len(SAMPLE_KINDS) or weights.min() < 0 or weights.sum() <= 0:
            raise ValueError(f"mix needs a share >= 0 for each of {SAMPLE_KINDS}, some of them > 0, got {mix}")
        self.sources, self.size, self.seed = sources, size, seed
        self.probabilities = weights / weights.sum()

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, worker.id if worker else 0])
        while True:
            kind = SAMPLE_KINDS[rng.choice(len(SAMPLE_KINDS), p=self.probabilities)]
            image, mask = self.sources.sample(rng, kind, self.size)
            yield torch.tensor(image), torch.from_numpy(mask), torch.tensor(first_click(mask, rng))


def schedule_factor(progress: float, warmup: float) -> float:
    """Learning-rate factor at ``progress`` (0-1) of the run: linear warm-up, then cosine decay to zero."""
    if progress < warmup:
        return progress / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def train_end_to_end(pack: Path, out: Path, config: EndToEndConfig, net: ClickNetConfig, init: Path | None = None,
                     device: str = "cpu") -> dict:
    """Train the decoder (from scratch, or from the one saved in ``init``) and every backbone block on samples made
    on the fly from ``pack``; save to ``out`` every ``save_every_seconds`` and at the end."""
    if net.tuned_from_block != 0:
        raise ValueError(f"end-to-end training tunes every backbone block: tuned_from_block must be 0, "
                         f"got {net.tuned_from_block}")
    if max(config.size) != net.work_size:
        raise ValueError(f"sample size {config.size} must have longest side work_size={net.work_size}")
    if config.max_seconds <= 0 and not config.max_steps:
        raise ValueError("give max_seconds > 0 or max_steps")
    start, cuda = time.time(), device.startswith("cuda")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    sources = TrainingSources(pack)
    stream = SampleStream(sources, config.mix, config.size, config.seed)
    print(f"{len(sources.objects)} cut-outs, {len(sources.photos)} photos, "
          f"{ {kind: len(v) for kind, v in sources.scene_objects.items()} } render objects; sample shares "
          f"{ {kind: round(float(p), 3) for kind, p in zip(SAMPLE_KINDS, stream.probabilities)} } "
          f"({time.time() - start:.0f} s)", flush=True)
    decoder = ClickDecoder(net)
    if init is not None:
        decoder.load_weights(load_file(Path(init) / DECODER_WEIGHTS))
    backbone = tuned_backbone(0, init, packed_backbone(pack, init))
    # Processes are forked before CUDA starts in this one.
    clicker = multiprocessing.get_context("fork").Pool(config.click_workers) if config.click_workers else None
    loader = torch.utils.data.DataLoader(stream, batch_size=config.batch_size, num_workers=config.workers,
                                         pin_memory=cuda, persistent_workers=config.workers > 0)
    batches = iter(loader)
    decoder.to(device)
    backbone.to(device, memory_format=torch.channels_last if cuda else torch.contiguous_format)
    if cuda:
        torch.backends.cudnn.benchmark = True  # one input shape throughout
    groups = [{"params": list(decoder.parameters()), "lr": config.lr},
              {"params": [p for p in backbone.parameters() if p.requires_grad], "lr": config.backbone_lr}]
    optimizer = torch.optim.AdamW(groups, weight_decay=1e-4)
    autocast = torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=cuda)
    map_clicks = clicker.map if clicker else map

    log, step, last_save, train_start = [], 0, time.time(), time.time()
    # seconds spent waiting for a batch, in the click rounds (backbone forward included: it runs while the first
    # round waits), and in the training pass, since the last progress line
    phases = np.zeros(3)
    try:
        while True:
            progress = (time.time() - train_start) / config.max_seconds if config.max_seconds > 0 else 0.0
            if config.max_steps:
                progress = max(progress, step / config.max_steps)
            if progress >= 1:
                break
            for group, base in zip(optimizer.param_groups, (config.lr, config.backbone_lr)):
                group["lr"] = base * schedule_factor(progress, config.warmup)
            ticks = [time.perf_counter()]
            images, masks, first = next(batches)
            ticks.append(time.perf_counter())
            target = masks.to(device, non_blocking=True)[:, None].float()
            with autocast:
                pixels = normalise(images.to(device, non_blocking=True))
                features = backbone(pixels.contiguous(memory_format=torch.channels_last) if cuda else pixels)
                maps, previous = simulate_clicks(decoder, [f.detach() for f in features], list(masks.numpy()),
                                                 first.tolist(), int(rng.integers(0, config.max_corrections + 1)),
                                                 net, config.size, map_clicks)
                ticks.append(time.perf_counter())
                decoder.train()
                coarse = decoder(features, maps, previous)
            loss = mask_loss(coarse, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            log.append(loss.item())
            ticks.append(time.perf_counter())
            phases += np.diff(ticks)
            if step % 50 == 0:
                elapsed = time.time() - train_start
                wait, clicks, train = phases * 1000 / 50
                print(f"step {step} loss {np.mean(log[-50:]):.4f} {step * config.batch_size / elapsed:.0f} "
                      f"samples/s {elapsed:.0f} s; ms a step: batch wait {wait:.0f}, click rounds {clicks:.0f}, "
                      f"training pass {train:.0f}", flush=True)
                phases[:] = 0
            if time.time() - last_save >= config.save_every_seconds:
                save_decoder(decoder, net, out, backbone)
                last_save = time.time()
    finally:
        if clicker:
            clicker.terminate()
    save_decoder(decoder, net, out, backbone)
    summary = {"train": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
               "device": device, "steps": step, "samples": step * config.batch_size,
               "final_loss": float(np.mean(log[-100:])) if log else None,
               "loss_every_50": [round(float(np.mean(log[i:i + 50])), 4) for i in range(0, len(log), 50)],
               "seconds": round(time.time() - start)}
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pack = commands.add_parser("pack", help="gather the training sources into a folder that can travel")
    pack.add_argument("--data-dir", type=Path, default=Path("data/segmentation"), help="where cutouts-train.npz is")
    pack.add_argument("--render-seeds", type=int, nargs="*", default=[101],
                      help="seeds of the rendered scene sets of primitives (rendered on first use)")
    pack.add_argument("--furniture-seeds", type=int, nargs="*", default=[201],
                      help="seeds of the rendered scene sets of the train split's furniture models")
    pack.add_argument("--scenes", type=int, default=300, help="scenes a set")
    pack.add_argument("--stem-only", action="store_true",
                      help="leave the trunk's blocks out (training will continue a network that saved every block)")
    pack.add_argument("--out", type=Path, required=True)
    train = commands.add_parser("train", help="train on a pack")
    train.add_argument("--pack", type=Path, required=True)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--init", type=Path, default=None, help="start from the click network saved here")
    train.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    defaults = EndToEndConfig()
    for name in SETTINGS:
        kind = float if isinstance(getattr(defaults, name), float) else int
        train.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    if args.command == "pack":
        print(json.dumps(pack_sources(args.data_dir, args.out, tuple(args.render_seeds), tuple(args.furniture_seeds),
                                      args.scenes, args.stem_only), indent=2))
        return 0
    config = EndToEndConfig(**{name: getattr(args, name) for name in SETTINGS})
    net = replace(ClickNetConfig.load(args.init) if args.init else ClickNetConfig(), tuned_from_block=0)
    print(json.dumps(train_end_to_end(args.pack, args.out, config, net, args.init, args.device), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
