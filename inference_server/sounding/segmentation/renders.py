"""Blender renders with exact object masks, for ``sounding eval segment``.

Procedural scenes (primitives and Suzanne with random sizes, poses and materials on a ground plane) are rendered
with Cycles on the CPU; a second one-sample render routes the Object Index pass to a 32-bit EXR, which gives every
pixel's object exactly (not anti-aliased). Needs ``bpy`` (5.0 or 4.2-4.5 LTS). Blender runs in a child process
(``python -m sounding.segmentation.renders``) so it never resets the scene of a process that uses bpy itself and
its log stays out of the caller's output.
"""
from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

PRIMITIVES = ("cube", "uv_sphere", "ico_sphere", "cylinder", "cone", "torus", "monkey")
#: Objects covering less than this fraction of the frame are not evaluated.
MIN_AREA = 0.003


def _bpy():
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="sounding-blender-"))
    import bpy

    return bpy


def _material(bpy, name: str, rgba: tuple, rng: np.random.Generator):
    material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    bsdf = material.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = rgba
    bsdf.inputs["Roughness"].default_value = float(rng.uniform(0.2, 0.9))
    bsdf.inputs["Metallic"].default_value = float(rng.random() < 0.2)
    return material


def build_scene(bpy, rng: np.random.Generator, size: tuple[int, int]) -> None:
    """A random scene in a fresh file; mesh objects get pass indices 1..n (1 = the ground)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=30, location=(0, 0, 0))
    ground = bpy.context.active_object
    ground.data.materials.append(_material(bpy, "ground", (*rng.uniform(0.1, 0.9, 3), 1.0), rng))
    objects = [ground]
    for i in range(int(rng.integers(3, 6))):
        kind = PRIMITIVES[rng.integers(len(PRIMITIVES))]
        radius = float(rng.uniform(0.4, 1.0))
        location = (float(rng.uniform(-2.5, 2.5)), float(rng.uniform(-1.5, 2.5)), radius)
        add = getattr(bpy.ops.mesh, f"primitive_{kind}_add")
        add(**({"size": 2 * radius} if kind in ("cube", "monkey") else {"radius": radius} if kind in
               ("uv_sphere", "ico_sphere") else {"major_radius": radius, "minor_radius": radius / 3} if kind == "torus"
               else {"radius": radius, "depth": 2 * radius} if kind == "cylinder" else {"radius1": radius, "depth": 2 * radius}),
            location=location, rotation=tuple(float(a) for a in rng.uniform(0, math.pi, 3)))
        obj = bpy.context.active_object
        if kind in ("uv_sphere", "monkey", "torus"):
            bpy.ops.object.shade_smooth()
        obj.data.materials.append(_material(bpy, f"m{i}", (*rng.uniform(0, 1, 3), 1.0), rng))
        objects.append(obj)
    for index, obj in enumerate(objects, start=1):
        obj.pass_index = index
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    camera.location = (float(rng.uniform(-1.5, 1.5)), -9.0, float(rng.uniform(3.0, 5.0)))
    camera.rotation_euler = (math.radians(float(rng.uniform(65, 75))), 0.0, 0.0)
    scene.camera = camera
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = float(rng.uniform(2, 5))
    sun.rotation_euler = (math.radians(float(rng.uniform(20, 60))), math.radians(float(rng.uniform(-40, 40))), 0)
    scene.collection.objects.link(sun)
    scene.world = bpy.data.worlds.new("World")
    scene.world.color = tuple(float(c) for c in rng.uniform(0.05, 0.5, 3))
    scene.render.resolution_y, scene.render.resolution_x = size
    scene.render.resolution_percentage = 100
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.use_denoising = False


def _render(bpy, path: Path) -> None:
    bpy.context.scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def object_index_map(bpy, path: Path) -> np.ndarray:
    """(H, W) int32 pass index of the object seen at each pixel (0 = none), from a one-sample Cycles render."""
    scene = bpy.context.scene
    scene.cycles.samples = 1
    scene.view_layers[0].use_pass_object_index = True
    if bpy.app.version >= (5, 0, 0):
        tree = bpy.data.node_groups.new("ObjectIndex", "CompositorNodeTree")
        scene.compositing_node_group = tree
        tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        output, socket = tree.nodes.new("NodeGroupOutput"), "Object Index"
    else:
        scene.use_nodes = True
        tree = scene.node_tree
        tree.nodes.clear()
        output, socket = tree.nodes.new("CompositorNodeComposite"), "IndexOB"
    layers = tree.nodes.new("CompositorNodeRLayers")
    tree.links.new(layers.outputs[socket], output.inputs[0])
    settings = scene.render.image_settings
    settings.file_format = "OPEN_EXR"
    settings.color_depth = "32"
    _render(bpy, path)
    image = bpy.data.images.load(str(path), check_existing=False)
    w, h = image.size
    pixels = np.empty(w * h * image.channels, np.float32)
    image.pixels.foreach_get(pixels)
    bpy.data.images.remove(image)
    return np.rint(pixels.reshape(h, w, -1)[::-1, :, 0]).astype(np.int32)


def render_scenes(out_dir: Path, count: int, seed: int, size: tuple[int, int], samples: int) -> None:
    """In this process: ``scene<n>.png`` (the frame) and ``ids<n>.npy`` (pass indices) for ``count`` scenes."""
    bpy = _bpy()
    rng = np.random.default_rng(seed)
    for n in range(count):
        build_scene(bpy, rng, size)
        bpy.context.scene.cycles.samples = samples
        bpy.context.scene.render.image_settings.file_format = "PNG"
        _render(bpy, out_dir / f"scene{n}.png")
        np.save(out_dir / f"ids{n}.npy", object_index_map(bpy, out_dir / f"ids{n}.exr"))


def render_samples(count: int, seed: int = 0, size: tuple[int, int] = (240, 320), samples: int = 16,
                   work_dir: Path | None = None, timeout: float = 1800) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image (H, W, 3) uint8, object mask (H, W) bool) for every visible object of ``count`` random scenes,
    rendered by a child process."""
    work_dir = Path(work_dir or tempfile.mkdtemp(prefix="sounding-renders-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "sounding.segmentation.renders", str(work_dir), "--count", str(count),
               "--seed", str(seed), "--size", f"{size[0]}x{size[1]}", "--samples", str(samples)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"Blender renders failed ({done.returncode}):\n{done.stderr[-2000:]}")
    out = []
    for n in range(count):
        image = np.asarray(Image.open(work_dir / f"scene{n}.png").convert("RGB"))
        ids = np.load(work_dir / f"ids{n}.npy")
        for index in np.unique(ids[ids > 0]):
            mask = ids == index
            if mask.mean() >= MIN_AREA:
                out.append((image, mask))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render random scenes with exact object index maps")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="240x320", help="HxW")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples of the colour render")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))
    render_scenes(args.out_dir, args.count, args.seed, (height, width), args.samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
