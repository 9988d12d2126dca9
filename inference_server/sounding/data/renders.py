"""Sweet Home 3D furniture models (CC0 / CC-BY OBJ files from ``sweethome3d-furniture``) rendered headless in
Blender from several viewpoints on a transparent film: extra pictures for the class pools whose masks are exact (the
render's alpha, binarised like every cut-out). Rendering runs in a child process (``python -m
sounding.data.renders JOBS.json``) so that bpy never loads into the build process; finished views are cached."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sounding.data.images import SWEETHOME3D_DIR

#: (furniture pack, model folder) -> class.
MODELS = {
    ("BlendSwap-CC-0", "pianoAQueue"): "piano", ("BlendSwap-CC-0", "electricGuitar"): "guitar",
    ("BlendSwap-CC-0", "chicken"): "chicken", ("BlendSwap-CC-0", "horse2"): "horse",
    ("BlendSwap-CC-0", "cartoon_biplane"): "airplane", ("BlendSwap-CC-0", "motorbike"): "car",
    ("BlendSwap-CC-0", "tableFan"): "machine", ("BlendSwap-CC-0", "cuckooClock"): "bell",
    ("BlendSwap-CC-BY", "piano"): "piano",
    ("BlendSwap-CC-BY", "bulldog"): "dog", ("BlendSwap-CC-BY", "rowboat"): "ship",
    ("BlendSwap-CC-BY", "toyTrain"): "train", ("BlendSwap-CC-BY", "washing_machine"): "machine",
    ("BlendSwap-CC-BY", "horse"): "horse", ("KatorLegaz", "exterior-door-01"): "door",
    ("KatorLegaz", "exterior-door-03"): "door", ("Scopia", "door"): "door", ("Scopia", "dog"): "dog",
    ("Scopia", "smart-car"): "car",
}
#: Camera azimuths (degrees around the model) and elevations of the rendered views.
VIEWS = ((30.0, 15.0), (-40.0, 25.0), (150.0, 10.0))
RESOLUTION = 256
#: The world's light (linear RGB) around the sun: Blender 5's default world, under which foley-mini's pictures were
#: rendered (the film is transparent, so it only lights the model).
WORLD_COLOUR = (0.05, 0.05, 0.05)


@dataclass
class RenderJob:
    obj_path: str
    out_paths: list[str]


def extract_model(pack: str, model: str, cache_dir: Path) -> Path:
    """Unpack one model folder (OBJ, MTL, textures) from its ``.sh3f`` zip; -> the OBJ path."""
    target = cache_dir / pack / model
    obj = target / f"{model}.obj"
    if obj.exists():
        return obj
    with zipfile.ZipFile(SWEETHOME3D_DIR / f"{pack}.sh3f") as bundle:
        for name in bundle.namelist():
            parts = name.split("/")
            if len(parts) == 3 and parts[1] == model and parts[2]:
                (target / parts[2]).parent.mkdir(parents=True, exist_ok=True)
                (target / parts[2]).write_bytes(bundle.read(name))
    if not obj.exists():
        raise FileNotFoundError(f"{pack}.sh3f has no model {model}")
    return obj


def render_dir(out: Path) -> Path:
    return out / "cache" / "renders"


def view_paths(out: Path, pack: str, model: str) -> list[Path]:
    return [render_dir(out) / pack / model / f"view{index}.png" for index in range(len(VIEWS))]


def render_models(out: Path) -> dict[str, list[Path]]:
    """Render every view that is not cached yet; -> {class: views that show the model}."""
    jobs = []
    for (pack, model), _ in MODELS.items():
        paths = view_paths(out, pack, model)
        if not all(path.exists() for path in paths):
            obj = extract_model(pack, model, out / "cache" / "models")
            jobs.append(RenderJob(str(obj), [str(path) for path in paths]))
    if jobs:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump([asdict(job) for job in jobs], handle)
        environment = {**os.environ, "BLENDER_USER_RESOURCES": str(out / "cache" / "blender-user")}
        log_path = render_dir(out) / "blender.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        print(f"rendering {len(jobs)} models x {len(VIEWS)} views in Blender (log: {log_path}) ...", flush=True)
        try:
            with open(log_path, "w") as log:
                subprocess.run([sys.executable, "-m", "sounding.data.renders", handle.name], check=True,
                               env=environment, timeout=1800, stdout=log, stderr=subprocess.STDOUT)
        finally:
            os.unlink(handle.name)
    views: dict[str, list[Path]] = {}
    for (pack, model), label in MODELS.items():
        views.setdefault(label, []).extend(path for path in view_paths(out, pack, model) if shows_object(path))
    return views


def shows_object(path: Path, minimum_share: float = 0.01) -> bool:
    """A view is usable when at least ``minimum_share`` of its pixels are opaque (a bad import renders nothing)."""
    with Image.open(path) as image:
        return float(np.mean(np.asarray(image.convert("RGBA"))[..., 3] >= 128)) >= minimum_share


def plain_world(bpy, name: str, colour: tuple[float, float, float]):
    """A new world of one colour in Blender 4.2-5.x: a world with nodes (every world in Blender 5) renders its
    Background node, not its ``color``."""
    world = bpy.data.worlds.new(name)
    world.color = colour
    if world.node_tree is not None:
        world.node_tree.nodes["Background"].inputs["Color"].default_value = (*colour, 1.0)
    return world


def _render_job(job: RenderJob) -> None:
    """Inside the child process: import the OBJ, frame it, render each view with Cycles on a transparent film."""
    import bpy
    from mathutils import Vector

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.obj_import(filepath=job.obj_path)
    meshes = [obj for obj in bpy.data.objects if obj.type == "MESH"]
    corners = [obj.matrix_world @ Vector(corner) for obj in meshes for corner in obj.bound_box]
    low = Vector([min(c[axis] for c in corners) for axis in range(3)])
    high = Vector([max(c[axis] for c in corners) for axis in range(3)])
    centre, size = (low + high) / 2, max(high - low)
    scene = bpy.context.scene
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = 3.0
    sun.rotation_euler = (0.8, 0.2, 0.5)
    scene.collection.objects.link(sun)
    scene.world = plain_world(bpy, "world", WORLD_COLOUR)
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 8
    scene.cycles.device = "CPU"
    scene.render.film_transparent = True
    scene.render.resolution_x = scene.render.resolution_y = RESOLUTION
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    for (azimuth, elevation), out_path in zip(VIEWS, job.out_paths):
        azimuth, elevation, distance = math.radians(azimuth), math.radians(elevation), 2.2 * size
        camera.location = centre + Vector((distance * math.cos(elevation) * math.sin(azimuth),
                                           -distance * math.cos(elevation) * math.cos(azimuth),
                                           distance * math.sin(elevation)))
        camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        scene.render.filepath = out_path
        bpy.ops.render.render(write_still=True)


def main(jobs_path: str) -> None:
    for raw in json.loads(Path(jobs_path).read_text()):
        _render_job(RenderJob(**raw))


if __name__ == "__main__":
    main(sys.argv[1])
