"""Blender renders of furniture models: a synthetic OBJ cube through the real child-process renderer."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sounding.data import renders
from sounding.data.classes import CLASSES
from sounding.data.images import image_group, image_licence, to_cutout

CUBE = """o cube
v -1 -1 -1\nv 1 -1 -1\nv 1 1 -1\nv -1 1 -1\nv -1 -1 1\nv 1 -1 1\nv 1 1 1\nv -1 1 1
f 1 2 3 4\nf 5 8 7 6\nf 1 5 6 2\nf 2 6 7 3\nf 3 7 8 4\nf 5 1 4 8
"""


@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy is not installed")
def test_child_process_renders_every_view_on_a_transparent_film(tmp_path):
    (tmp_path / "cube.obj").write_text(CUBE)
    outs = [str(tmp_path / f"view{index}.png") for index in range(len(renders.VIEWS))]
    (tmp_path / "jobs.json").write_text(json.dumps([{"obj_path": str(tmp_path / "cube.obj"), "out_paths": outs}]))
    environment = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender")}
    subprocess.run([sys.executable, "-m", "sounding.data.renders", str(tmp_path / "jobs.json")], check=True,
                   env=environment, capture_output=True, timeout=300)
    for out in outs:
        rgba = np.asarray(Image.open(out))
        assert rgba.shape == (renders.RESOLUTION, renders.RESOLUTION, 4)
        assert rgba[0, 0, 3] == 0 and rgba[renders.RESOLUTION // 2, renders.RESOLUTION // 2, 3] == 255
        cutout = np.asarray(to_cutout(Image.open(out)))
        assert set(np.unique(cutout[..., 3])) <= {0, 255}


WORLD_RENDER = """
import sys
import bpy
from sounding.data.renders import plain_world

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.world = plain_world(bpy, "world", (0.5, 0.2, 0.05))
camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
scene.collection.objects.link(camera)
scene.camera = camera
scene.render.engine, scene.cycles.samples, scene.cycles.device = "CYCLES", 1, "CPU"
scene.render.resolution_x = scene.render.resolution_y = 8
scene.view_settings.view_transform = "Standard"
scene.render.filepath = sys.argv[1]
bpy.ops.render.render(write_still=True)
"""


@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy is not installed")
def test_a_plain_world_renders_its_colour(tmp_path):
    # Blender 5 renders a world's Background node and ignores its colour: the renders' light must be the one named.
    environment = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender")}
    subprocess.run([sys.executable, "-c", WORLD_RENDER, str(tmp_path / "world.png")], check=True, env=environment,
                   capture_output=True, timeout=300)
    srgb = np.asarray(Image.open(tmp_path / "world.png").convert("RGB")).reshape(-1, 3).mean(axis=0)
    linear = ((srgb / 255 + 0.055) / 1.055) ** 2.4
    assert np.allclose(linear, (0.5, 0.2, 0.05), atol=0.02)


def test_views_of_one_model_share_a_split_group_and_licence(tmp_path):
    first, second = renders.view_paths(tmp_path, "BlendSwap-CC-0", "chicken")[:2]
    root = renders.render_dir(tmp_path)
    assert image_group("render", first.relative_to(root)) == image_group("render", second.relative_to(root))
    assert image_group("render", first.relative_to(root)) == "render:BlendSwap-CC-0/chicken"
    assert image_licence("render", first) == "CC0-1.0"
    assert set(renders.MODELS.values()) <= set(CLASSES)
