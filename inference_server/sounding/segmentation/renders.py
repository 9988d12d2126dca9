"""Blender renders with exact object masks, for ``sounding eval segment``, for training the click network and for
the demo's 3D frames.

Procedural scenes (primitives and Suzanne with random sizes, poses and materials on a ground plane), or the same
scenes with modelled objects in place of the primitives (Sweet Home 3D's public-domain furniture pack: sofas, lamps,
instruments, animals, with their own materials), or staged scenes of models placed by hand (``StagedScene``), are
rendered with Cycles on the CPU; a second one-sample render
routes the Object Index pass to a 32-bit EXR, which gives every pixel's object exactly (not anti-aliased). Needs
``bpy`` (5.0 or 4.2-4.5 LTS). Blender runs in a child process (``python -m sounding.segmentation.renders``) so it
never resets the scene of a process that uses bpy itself and its log stays out of the caller's output.
"""
from __future__ import annotations

import argparse
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

PRIMITIVES = ("cube", "uv_sphere", "ico_sphere", "cylinder", "cone", "torus", "monkey")
#: The furniture pack of furniture scenes (``sweethome3d-furniture``, public domain: 175 models).
FURNITURE_PACK = "BlendSwap-CC-0"
#: Objects covering less than this fraction of the frame are not evaluated.
MIN_AREA = 0.003
#: A staged scene's camera (location, tilt in degrees) and sun (energy, angles in degrees): the middle of the
#: random scenes' ranges.
STAGE_CAMERA, STAGE_TILT = (0.0, -9.0, 4.0), 70.0
STAGE_SUN_ENERGY, STAGE_SUN = 3.5, (40.0, 0.0)


@dataclass(frozen=True)
class Placement:
    """One model of a staged scene: its OBJ file, its largest side (units), its turn about the vertical (degrees)
    and where it stands (x, y; the camera looks along +y from y = -9)."""

    obj_path: str
    side: float
    turn: float
    x: float
    y: float


@dataclass(frozen=True)
class StagedScene:
    """Models placed by hand on a ground of one colour under a plain sky, seen by the fixed stage camera."""

    placements: tuple[Placement, ...]
    ground: tuple[float, float, float]
    world: tuple[float, float, float]


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


def _add_primitive(bpy, rng: np.random.Generator, i: int) -> list:
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
    return [obj]


def _add_model(bpy, obj_path: str, i: int, side: float, turn: float, location: tuple[float, float]) -> list:
    """An OBJ model standing on the ground at ``location`` (x, y), its largest side ``side`` units, turned ``turn``
    radians about the vertical; -> its meshes (one object for the masks: they share a pass index)."""
    from mathutils import Vector

    before = set(bpy.data.objects)
    bpy.ops.wm.obj_import(filepath=obj_path)
    parts = [obj for obj in bpy.data.objects if obj not in before and obj.type == "MESH"]
    if not parts:
        raise RuntimeError(f"{obj_path} imported no mesh")
    corners = [obj.matrix_world @ Vector(corner) for obj in parts for corner in obj.bound_box]
    low = Vector([min(c[axis] for c in corners) for axis in range(3)])
    high = Vector([max(c[axis] for c in corners) for axis in range(3)])
    # The inner empty moves the model's bottom centre to its origin; the outer one scales, turns and places it.
    inner, outer = bpy.data.objects.new(f"model{i}-origin", None), bpy.data.objects.new(f"model{i}", None)
    for empty in (inner, outer):
        bpy.context.scene.collection.objects.link(empty)
    inner.location = (-(low.x + high.x) / 2, -(low.y + high.y) / 2, -low.z)
    inner.parent = outer
    for obj in parts:
        obj.parent = inner
    outer.scale = (side / max(max(high - low), 1e-6),) * 3
    outer.rotation_euler = (0.0, 0.0, turn)
    outer.location = (*location, 0.0)
    return parts


def _ground(bpy, material) -> list:
    bpy.ops.mesh.primitive_plane_add(size=30, location=(0, 0, 0))
    ground = bpy.context.active_object
    ground.data.materials.append(material)
    return [ground]


def _camera_light_world(bpy, size: tuple[int, int], camera: tuple[float, float, float], tilt: float,
                        sun_energy: float, sun: tuple[float, float], world: tuple[float, float, float]) -> None:
    """The camera at ``camera`` looking along +y, tilted ``tilt`` degrees up from straight down; a sun of
    ``sun_energy`` turned ``sun`` degrees about x and y; a plain world colour; Cycles on the CPU at ``size`` (H, W)."""
    from sounding.data.renders import plain_world

    scene = bpy.context.scene
    camera_object = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera_object)
    camera_object.location = camera
    camera_object.rotation_euler = (math.radians(tilt), 0.0, 0.0)
    scene.camera = camera_object
    light = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    light.data.energy = sun_energy
    light.rotation_euler = (math.radians(sun[0]), math.radians(sun[1]), 0)
    scene.collection.objects.link(light)
    scene.world = plain_world(bpy, "World", world)
    scene.render.resolution_y, scene.render.resolution_x = size
    scene.render.resolution_percentage = 100
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.use_denoising = False


def _number(objects: list[list]) -> None:
    """Every mesh of the n-th object (a list of meshes) gets pass index n + 1."""
    for index, meshes in enumerate(objects, start=1):
        for obj in meshes:
            obj.pass_index = index


def build_scene(bpy, rng: np.random.Generator, size: tuple[int, int], models: list[str] | None = None) -> None:
    """A random scene in a fresh file: 3-5 primitives, or models drawn from ``models`` (OBJ paths); every mesh of
    the n-th object gets pass index n + 1 (1 = the ground)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    objects = [_ground(bpy, _material(bpy, "ground", (*rng.uniform(0.1, 0.9, 3), 1.0), rng))]
    for i in range(int(rng.integers(3, 6))):
        if models:
            path = models[rng.integers(len(models))]
            side, turn = 2 * float(rng.uniform(0.4, 1.0)), float(rng.uniform(0, 2 * math.pi))
            objects.append(_add_model(bpy, path, i, side, turn,
                                      (float(rng.uniform(-2.5, 2.5)), float(rng.uniform(-1.5, 2.5)))))
        else:
            objects.append(_add_primitive(bpy, rng, i))
    _number(objects)
    _camera_light_world(bpy, size, camera=(float(rng.uniform(-1.5, 1.5)), -9.0, float(rng.uniform(3.0, 5.0))),
                        tilt=float(rng.uniform(65, 75)), sun_energy=float(rng.uniform(2, 5)),
                        sun=(float(rng.uniform(20, 60)), float(rng.uniform(-40, 40))),
                        world=tuple(float(c) for c in rng.uniform(0.05, 0.5, 3)))


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


def build_staged_scene(bpy, size: tuple[int, int], staged: StagedScene) -> None:
    """``staged`` in a fresh file; the n-th placement's meshes get pass index n + 2 (1 = the ground)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rng = np.random.default_rng(0)  # the ground's roughness and metal, as in a random scene
    objects = [_ground(bpy, _material(bpy, "ground", (*staged.ground, 1.0), rng))]
    objects += [_add_model(bpy, p.obj_path, i, p.side, math.radians(p.turn), (p.x, p.y))
                for i, p in enumerate(staged.placements)]
    _number(objects)
    _camera_light_world(bpy, size, STAGE_CAMERA, STAGE_TILT, STAGE_SUN_ENERGY, STAGE_SUN, staged.world)


def _render_frame_and_ids(bpy, out_dir: Path, n: int, samples: int) -> None:
    bpy.context.scene.cycles.samples = samples
    bpy.context.scene.render.image_settings.file_format = "PNG"
    _render(bpy, out_dir / f"scene{n}.png")
    np.save(out_dir / f"ids{n}.npy", object_index_map(bpy, out_dir / f"ids{n}.exr"))


def render_scenes(out_dir: Path, count: int, seed: int, size: tuple[int, int], samples: int,
                  models: list[str] | None = None) -> None:
    """In this process: ``scene<n>.png`` (the frame) and ``ids<n>.npy`` (pass indices) for ``count`` scenes."""
    bpy = _bpy()
    rng = np.random.default_rng(seed)
    for n in range(count):
        build_scene(bpy, rng, size, models)
        _render_frame_and_ids(bpy, out_dir, n, samples)


def _run_child(arguments: list[str], timeout: float) -> None:
    done = subprocess.run([sys.executable, "-m", "sounding.segmentation.renders", *arguments], capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"Blender renders failed ({done.returncode}):\n{done.stderr[-2000:]}")


def render_staged(staged: StagedScene, size: tuple[int, int], samples: int,
                  timeout: float = 600) -> tuple[np.ndarray, list[np.ndarray]]:
    """The frame (H, W, 3) uint8 of ``staged`` and each placement's exact mask (H, W) bool, in placement order,
    rendered by a child process."""
    with tempfile.TemporaryDirectory(prefix="sounding-staged-") as temporary:
        work_dir = Path(temporary)
        (work_dir / "staged.json").write_text(json.dumps(asdict(staged)))
        _run_child([str(work_dir), "--staged", str(work_dir / "staged.json"), "--size", f"{size[0]}x{size[1]}",
                    "--samples", str(samples)], timeout)
        image, ids = read_scene(work_dir, 0)
    return image, [ids == index for index in range(2, len(staged.placements) + 2)]


def furniture_pack() -> Path:
    """The furniture pack's bundle; a FileNotFoundError that names the package installing it when it is missing."""
    from sounding.data.images import SWEETHOME3D_DIR

    bundle = SWEETHOME3D_DIR / f"{FURNITURE_PACK}.sh3f"
    if not bundle.is_file():
        raise FileNotFoundError(f"{bundle} is missing: furniture scenes need `apt-get install sweethome3d-furniture`")
    return bundle


def furniture_models(split: str, cache_dir: Path) -> list[str]:
    """OBJ paths of the furniture pack's models in ``split`` ("train" or "heldout", the composites' stable hash of
    ``pack/model``, so held-out models are never trained on), unpacked into ``cache_dir`` on first use."""
    from sounding.data.renders import extract_model
    from sounding.segmentation.composites import SPLITS, split_of

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    with zipfile.ZipFile(furniture_pack()) as pack:
        models = sorted({name.split("/")[1] for name in pack.namelist()
                         if name.count("/") == 2 and name.endswith(".obj")})
    return [str(extract_model(FURNITURE_PACK, model, cache_dir)) for model in models
            if split_of(f"{FURNITURE_PACK}/{model}") == split]


def render_samples(count: int, seed: int = 0, size: tuple[int, int] = (240, 320), samples: int = 16,
                   work_dir: Path | None = None, timeout: float = 1800,
                   models: list[str] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image (H, W, 3) uint8, object mask (H, W) bool) for every visible object of ``count`` random scenes
    (of primitives, or of ``models``: OBJ paths), rendered by a child process; without ``work_dir`` the frames go
    to a temporary folder that is removed afterwards."""
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="sounding-renders-") as temporary:
            return render_samples(count, seed, size, samples, Path(temporary), timeout, models)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    arguments = [str(work_dir), "--count", str(count), "--seed", str(seed), "--size", f"{size[0]}x{size[1]}",
                 "--samples", str(samples)]
    if models:
        (work_dir / "models.txt").write_text("\n".join(models) + "\n")
        arguments += ["--models", str(work_dir / "models.txt")]
    _run_child(arguments, timeout)
    out = []
    for n in range(count):
        image, ids = read_scene(work_dir, n)
        out += [(image, ids == index) for index in sample_objects(ids)]
    return out


def read_scene(directory: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Scene ``n`` of a renders folder: the frame (H, W, 3) uint8 and its object-index map (H, W)."""
    return np.asarray(Image.open(directory / f"scene{n}.png").convert("RGB")), np.load(directory / f"ids{n}.npy")


def sample_objects(ids: np.ndarray) -> list[int]:
    """The indices of a scene's objects that cover at least :data:`MIN_AREA` of the frame (the ground included)."""
    values, counts = np.unique(ids[ids > 0], return_counts=True)
    return [int(value) for value, count in zip(values, counts) if count / ids.size >= MIN_AREA]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render random scenes with exact object index maps")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="240x320", help="HxW")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples of the colour render")
    parser.add_argument("--models", type=Path, default=None, help="a file of OBJ paths, one a line: furniture "
                                                                    "scenes instead of primitives")
    parser.add_argument("--staged", type=Path, default=None, help="a StagedScene as JSON: render it (as scene 0) "
                                                                    "instead of random scenes")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))
    if args.staged:
        raw = json.loads(args.staged.read_text())
        staged = StagedScene(tuple(Placement(**p) for p in raw["placements"]), tuple(raw["ground"]),
                             tuple(raw["world"]))
        bpy = _bpy()
        build_staged_scene(bpy, (height, width), staged)
        _render_frame_and_ids(bpy, args.out_dir, 0, args.samples)
        return 0
    models = args.models.read_text().splitlines() if args.models else None
    render_scenes(args.out_dir, args.count, args.seed, (height, width), args.samples, models)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
