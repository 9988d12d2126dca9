"""The main job, end to end: start a server, click objects in licence-clean pictures, hear them.

`python3 build.py demo` runs this. It starts ``sounding serve`` as a separate process (as the Blender add-on does),
talks to it only through protocol v1, and writes ``demo_out/``: the WAVs, a mask overlay and a spectrogram per sound,
and ``index.html`` that shows each picture with its masks and plays each sound.
"""
from __future__ import annotations

import argparse
import html
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sounding.audio.io import decode_audio
from sounding.data.renders import extract_model
from sounding.registry import DEFAULT_MODEL
from sounding.segmentation.clicks import interior_point
from sounding.segmentation.renders import FURNITURE_PACK, Placement, StagedScene, furniture_pack, render_staged
from sounding_protocol.client import ObjectSelection, SoundingClient, layer_note, unsure_note

#: Seconds to wait for the server to load its model and answer ``health`` with status "ok".
STARTUP_TIMEOUT = 300.0
#: Seconds a request may go without progress before the demo gives up.
REQUEST_TIMEOUT = 300.0
#: Colours of the object masks in the overlays (one per object).
MASK_COLOURS = ((255, 64, 64), (64, 160, 255), (80, 220, 80))
#: The rendered 3D frames: models of Sweet Home 3D's public-domain pack (``FURNITURE_PACK``), each (model, largest
#: side, turn in degrees, x, y) on the stage of :mod:`sounding.segmentation.renders`, a ground and a sky colour.
STAGED = {
    "music_room": ((("pianoAQueue", 3.0, -20.0, -1.3, 0.0), ("electricGuitar", 1.6, 10.0, 1.8, -2.0)),
                   (0.45, 0.3, 0.18), (0.85, 0.82, 0.75)),
    "field": ((("horse2", 3.0, -60.0, 0.0, 0.0),), (0.35, 0.5, 0.25), (0.55, 0.7, 0.9)),
}
#: A rendered frame's size (H, W) and Cycles samples.
RENDER_SIZE, RENDER_SAMPLES = (320, 480), 16


@dataclass(frozen=True)
class Picture:
    """A demo picture: where it comes from, its licence, and how to make it (at run time, never committed)."""

    name: str
    credit: str
    loader: str  # scikit-image data function, "side_by_side:a,b", or "staged:NAME" (a Blender render of STAGED)


@dataclass(frozen=True)
class Frame:
    """A demo picture's pixels and, for a rendered frame, each model's exact mask by model name."""

    image: Image.Image
    masks: dict[str, np.ndarray]


@dataclass(frozen=True)
class Scene:
    """One generation: a picture and the clicked objects, each given by its clicks (x, y), all on the object, or
    for a rendered frame by its models' names (each clicked once, inside it); a text hint, and a class to sound like
    instead of the recognised one (as a sound designer corrects a wrong guess), for the whole selection or, in
    ``object_classes``, for each clicked object (None: recognise it)."""

    title: str
    picture: str
    objects: tuple[tuple[tuple[float, float], ...], ...] = ()
    text: str | None = None
    sounds_like: str | None = None
    models: tuple[str, ...] = ()
    object_classes: tuple[str | None, ...] = ()

    def clicked(self, frame: Frame) -> list[tuple[tuple[float, float], ...]]:
        """Each object's clicks on ``frame``."""
        return list(self.objects) + [(interior_point(frame.masks[name]),) for name in self.models]

    def asked(self) -> list[str]:
        """The classes this scene names."""
        return [label for label in (self.sounds_like, *self.object_classes) if label]


PICTURES = {
    p.name: p for p in (
        Picture("cat", "scikit-image `chelsea`: Stefan van der Walt, CC0", "chelsea"),
        Picture("rocket", "scikit-image `rocket`: SpaceX, public domain (CC0)", "rocket"),
        Picture("coffee", "scikit-image `coffee`: Rachel Michetti, CC0", "coffee"),
        Picture("cat_and_rocket", "composite of scikit-image `chelsea` and `rocket` (CC0)", "side_by_side:chelsea,rocket"),
        Picture("music_room", "Blender render of the piano and the electric guitar of Sweet Home 3D's BlendSwap-CC-0 "
                "pack (public domain); other views of both are among foley-mini's train pictures",
                "staged:music_room"),
        Picture("field", "Blender render of the horse of Sweet Home 3D's BlendSwap-CC-0 pack (public domain); other "
                "views of it are among foley-mini's val pictures, never trained on", "staged:field"),
    )
}

#: A close-up is ambiguous to one click (a patch of fur, or the cat?); the user adds clicks until the mask is the cat.
CAT_CLICKS = ((230.0, 150.0), (150.0, 220.0), (260.0, 40.0), (90.0, 120.0), (330.0, 230.0))
ROCKET_IN_PAIR = ((451.0 + 322.0 * 300 / 427, 260.0 * 300 / 427),)

SCENES = (
    Scene("A rendered 3D frame, clicking the piano", "music_room", models=("pianoAQueue",)),
    Scene("A rendered 3D frame, clicking the guitar", "music_room", models=("electricGuitar",)),
    Scene("A rendered 3D frame, clicking both", "music_room", models=("pianoAQueue", "electricGuitar")),
    Scene("A rendered 3D frame: a horse in a field", "field", models=("horse2",)),
    Scene("One object: the cat (a close-up: five clicks)", "cat", (CAT_CLICKS,)),
    Scene("One object: the rocket", "rocket", (((322.0, 260.0),),)),
    Scene("One object: the cup, with a text hint", "coffee", (((290.0, 140.0),),), text="a spoon clinking in a cup"),
    Scene("Two-object scene, clicking the cat", "cat_and_rocket", (CAT_CLICKS,)),
    Scene("Two-object scene, clicking the rocket", "cat_and_rocket", (ROCKET_IN_PAIR,)),
    Scene("Two-object scene, clicking both", "cat_and_rocket", (CAT_CLICKS, ROCKET_IN_PAIR)),
    Scene("Two-object scene, clicking both, the cat asked to sound like a dog", "cat_and_rocket",
          (CAT_CLICKS, ROCKET_IN_PAIR), object_classes=("dog", None)),
    Scene("One object: the rocket, asked to sound like fireworks", "rocket", (((322.0, 260.0),),),
          sounds_like="fireworks"),
)


def prepare_frame(picture: Picture) -> tuple[Frame | None, str | None]:
    """``picture`` made, or None and why it cannot be made on this machine (its scenes are then skipped)."""
    try:
        return load_picture(picture), None
    except FileNotFoundError as error:  # a rendered frame without the furniture pack: the message says what installs it
        return None, str(error)
    except RuntimeError as error:  # from the Blender child: missing system libraries, a model that fails to load
        return None, f"Blender could not render it: {str(error).strip().splitlines()[-1]}"


def render_frame(name: str) -> Frame:
    """``STAGED[name]`` rendered headless in Blender (a child process), with each model's exact mask."""
    models, ground, sky = STAGED[name]
    furniture_pack()
    with tempfile.TemporaryDirectory(prefix="sounding-demo-") as cache:
        placements = tuple(Placement(str(extract_model(FURNITURE_PACK, model, Path(cache))), side, turn, x, y)
                           for model, side, turn, x, y in models)
        image, masks = render_staged(StagedScene(placements, ground, sky), RENDER_SIZE, RENDER_SAMPLES)
    return Frame(Image.fromarray(image), {model[0]: mask for model, mask in zip(models, masks)})


def load_picture(picture: Picture) -> Frame:
    from skimage import data

    if picture.loader.startswith("staged:"):
        return render_frame(picture.loader.split(":", 1)[1])
    if picture.loader.startswith("side_by_side:"):
        parts = [Image.fromarray(getattr(data, n)()) for n in picture.loader.split(":", 1)[1].split(",")]
        height = min(p.height for p in parts)
        parts = [p.resize((round(p.width * height / p.height), height), Image.LANCZOS) for p in parts]
        canvas = Image.new("RGB", (sum(p.width for p in parts), height))
        x = 0
        for part in parts:
            canvas.paste(part, (x, 0))
            x += part.width
        return Frame(canvas, {})
    return Frame(Image.fromarray(getattr(data, picture.loader)()).convert("RGB"), {})


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mask_overlay(image: Image.Image, masks: list[np.ndarray], clicks) -> Image.Image:
    """The picture with each object's mask tinted and its click marked."""
    rgb = np.asarray(image, dtype=np.float32).copy()
    for mask, colour in zip(masks, MASK_COLOURS * 8):
        rgb[mask] = 0.45 * rgb[mask] + 0.55 * np.asarray(colour, np.float32)
    out = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(out)
    for x, y in clicks:
        draw.ellipse((x - 6, y - 6, x + 6, y + 6), outline=(255, 255, 255), width=3)
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(0, 0, 0))
    return out


def spectrogram_image(audio: np.ndarray, sample_rate: int) -> Image.Image:
    """Log-mel spectrogram (the model's own front end), low frequencies at the bottom, in a dark-to-bright ramp."""
    import torch

    from sounding.audio.io import resample
    from sounding.audio.mel import LogMel
    from sounding.model.config import MelConfig

    config = MelConfig()
    audio = resample(audio, sample_rate, config.sample_rate)
    mel = LogMel(config)(torch.from_numpy(audio)[None])[0].numpy().T[::-1]  # (mels, frames), low at the bottom
    lo, hi = np.percentile(mel, 2), np.percentile(mel, 99.5)
    level = np.clip((mel - lo) / max(hi - lo, 1e-6), 0, 1)
    ramp = np.stack([level ** 0.6, level ** 1.4, 0.35 * (1 - level) + level ** 3], axis=-1)
    image = Image.fromarray((ramp * 255).astype(np.uint8))
    return image.resize((max(image.width, 400), 160), Image.NEAREST)


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def start_server(model: str, endpoint: str, log_path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "sounding.cli", "serve", "--bind", endpoint, "--model", model]
    log = open(log_path, "w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def wait_until_ready(client: SoundingClient, server: subprocess.Popen, log_path: Path) -> dict:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode}; see {log_path}")
        try:
            health = client.health(timeout=2.0)
        except TimeoutError:
            continue
        if health.get("status") == "ok":
            return health
        time.sleep(0.5)
    raise RuntimeError(f"the server did not become ready within {STARTUP_TIMEOUT:.0f} s; see {log_path}")


def run_scene(client: SoundingClient, scene: Scene, frame: Frame, index: int, out: Path, args) -> dict:
    image = frame.image
    image_png = png_bytes(image)
    clicked = scene.clicked(frame)
    clicks = [click for object_clicks in clicked for click in object_clicks]
    classes = scene.object_classes + (None,) * (len(clicked) - len(scene.object_classes))
    objects = [ObjectSelection(points=list(object_clicks), text=scene.text, sounds_like=label)
               for object_clicks, label in zip(clicked, classes)]
    started = time.monotonic()
    result = client.generate(image_png, objects, duration=args.duration, seed=args.seed + index * args.variations,
                             steps=args.steps, variations=args.variations, timeout=REQUEST_TIMEOUT,
                             sounds_like=scene.sounds_like, stems=True)
    seconds = time.monotonic() - started
    masks = [np.asarray(Image.open(io.BytesIO(m.png))) > 0 for m in result.masks]
    stem = f"{index:02d}_{scene.picture}"
    mask_overlay(image, masks, clicks).save(out / f"{stem}_mask.png")
    clips = []
    for k, clip in enumerate(result.audio):
        wav_name = f"{stem}_v{k + 1}.{clip.format}"
        (out / wav_name).write_bytes(clip.data)
        audio, rate = decode_audio(clip.data)
        spectrogram_image(audio, rate).save(out / f"{stem}_v{k + 1}_spec.png")
        clips.append({"file": wav_name, "spec": f"{stem}_v{k + 1}_spec.png", "seed": clip.seed,
                      "duration": clip.duration, "rms": float(np.sqrt(np.mean(audio ** 2))), "objects": []})
        print(f"  {wav_name}: {clip.duration:.2f} s, seed {clip.seed}, rms {clips[-1]['rms']:.3f}")
    for layer in result.layers:  # a mix: each object's own sound too, as the add-on puts it on that object
        for k, clip in enumerate(layer.audio):
            wav_name = f"{stem}_v{k + 1}_object{layer.object + 1}.{clip.format}"
            (out / wav_name).write_bytes(clip.data)
            clips[k]["objects"].append({"file": wav_name, "label": f"object {layer.object + 1}: {layer.sounds_like}"})
    if result.recognised:
        print("  recognised as: " + ", ".join(f"{r.label} ({r.similarity:.2f})" for r in result.recognised))
    if result.sounds_like:
        print(f"  made to sound like: {result.sounds_like}" + (" (asked for by name)" if scene.sounds_like else "")
              + (f" ({unsure_note()})" if result.unsure else ""))
    layers = [layer_note(layer) for layer in result.layers]  # a mix: each object's class and what else it may be
    for note in layers:
        print(f"    {note}")
    return {"scene": scene, "picture": PICTURES[scene.picture], "mask": f"{stem}_mask.png", "clips": clips,
            "seconds": seconds, "scores": [m.score for m in result.masks], "objects": len(clicked),
            "clicks": len(clicks), "recognised": [r.label for r in result.recognised],
            "sounds_like": result.sounds_like, "unsure": result.unsure, "layers": layers}


def write_index(out: Path, health: dict, results: list[dict]) -> Path:
    model = health.get("model", {})
    name = html.escape(str(model.get("name")))
    warning = ""
    if model.get("name") == "tiny":
        warning = ("<p class=warn>This run used the <b>tiny random model</b> (untrained weights): the sounds are noise. "
                   "It shows the whole path (clicks, masks, the object-aware diffusion, the protocol), not the "
                   "quality of a trained model.</p>")
    classes = model.get("classes") or []
    known = (f"<p>It knows {len(classes)} classes of sound: {html.escape(', '.join(classes))}. An object of another "
             "kind sounds like the class it looks most like.</p>" if classes else "")
    rows = []
    for r in results:
        scene = r["scene"]
        clips = "".join(
            f"<div class=clip><audio controls src='{html.escape(c['file'])}'></audio>"
            f"<img src='{html.escape(c['spec'])}' alt='spectrogram'><br><small>seed {c['seed']}, "
            f"{c['duration']:.2f} s</small>"
            + "".join(f"<br><small>{html.escape(o['label'])} alone</small><br>"
                      f"<audio controls src='{html.escape(o['file'])}'></audio>" for o in c["objects"])
            + "</div>" for c in r["clips"])
        hint = f" &middot; text hint: <i>{html.escape(scene.text)}</i>" if scene.text else ""
        if r["recognised"]:
            hint += f" &middot; recognised as {html.escape(', '.join(r['recognised']))} (the model's object prior)"
        if r["sounds_like"]:
            asked = " (asked for by name)" if scene.sounds_like else f" ({unsure_note()})" if r["unsure"] else ""
            hint += f" &middot; made to sound like <b>{html.escape(r['sounds_like'])}</b>{asked}"
        if r["layers"]:
            hint += f" ({html.escape('; '.join(r['layers']))})"
        rows.append(
            f"<section><h2>{html.escape(scene.title)}</h2><img class=pic src='{html.escape(r['mask'])}' "
            f"alt='{html.escape(scene.title)}'><p>{r['objects']} object(s), {r['clicks']} click(s); "
            f"mask scores "
            f"{', '.join(f'{s:.2f}' for s in r['scores'])}{hint}; generated in {r['seconds']:.1f} s<br>"
            f"<small>{html.escape(r['picture'].credit)}</small></p>{clips}</section>")
    page = f"""<!doctype html><meta charset=utf-8><title>Sounding demo</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:auto}}img.pic{{max-width:100%}}
.clip{{display:inline-block;margin:4px 12px 12px 0}}.clip img{{display:block;width:400px}}
.warn{{background:#fff3cd;padding:8px}}</style>
<h1>Sounding: click an object, hear it</h1>
<p>Model <b>{name}</b> (sample rate {model.get('sample_rate')} Hz) on {html.escape(str(health.get('device')))},
through protocol v{health.get('protocol')}.</p>{warning}{known}
{''.join(rows)}
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", default="demo_out")
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: the model's)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    parser.add_argument("--variations", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("[0-9][0-9]_*"):  # an earlier run's sounds and pictures: the page shows this run's only
        if stale.is_file() and stale.suffix in (".wav", ".flac", ".png"):
            stale.unlink()
    endpoint = free_endpoint()
    log_path = out / "server.log"
    print(f"Starting `sounding serve --model {args.model}` on {endpoint} (log: {log_path})")
    server = start_server(args.model, endpoint, log_path)
    client = SoundingClient(endpoint, timeout=REQUEST_TIMEOUT)
    try:
        health = wait_until_ready(client, server, log_path)
        print(f"Server ready: model {health['model']['name']} on {health['device']}")
        results, frames = [], {}
        for index, scene in enumerate(SCENES):
            print(f"[{index + 1}/{len(SCENES)}] {scene.title}")
            unknown = [label for label in scene.asked() if label not in health["model"].get("classes", [])]
            if unknown:
                print(f"  skipped: the model knows no class {unknown[0]!r}")
                continue
            if scene.picture not in frames:
                frames[scene.picture] = prepare_frame(PICTURES[scene.picture])
            frame, missing = frames[scene.picture]
            if missing:
                print(f"  skipped: {missing}")
                continue
            results.append(run_scene(client, scene, frame, index, out, args))
        page = write_index(out, health, results)
    finally:
        client.close()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"Open {page.resolve()} to look and listen.")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
