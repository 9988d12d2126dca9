"""Helpers and fixtures for the add-on tests: the built extension installed into the private Blender user folder
(tests/conftest.py sets BLENDER_USER_RESOURCES before bpy is imported), a small Cycles scene, a fake-clock pump for
``bpy.app.timers`` (timers never fire in the bpy module), and a real ``sounding serve`` process."""
from __future__ import annotations

import heapq
import itertools
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

import bpy
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
ADDON = "bl_ext.user_default.sounding"
SERVER_START_TIMEOUT = 120.0

sys.path.insert(0, str(ROOT / "blender_addon"))
import package  # noqa: E402  (blender_addon/package.py)


#: Built and installed once per process, though each test module imports these fixtures (its own definitions).
_ONCE: dict = {}


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory) -> Path:
    if "zip" not in _ONCE:
        _ONCE["zip"], = package.build(tmp_path_factory.mktemp("dist"), build_dir=tmp_path_factory.mktemp("addon-build"),
                                      targets=(package.target_for(sys.version_info),))
    return _ONCE["zip"]


@pytest.fixture(scope="session")
def installed(addon_zip) -> None:
    if "installed" not in _ONCE:
        result = bpy.ops.extensions.package_install_files(filepath=str(addon_zip), repo="user_default",
                                                          enable_on_install=True)
        assert result == {"FINISHED"}
        _ONCE["installed"] = True


@pytest.fixture
def addon(installed):
    """The enabled extension module."""
    return sys.modules[ADDON]


def enable():
    import addon_utils

    addon_utils.enable(ADDON, default_set=True)
    return sys.modules[ADDON]


def disable() -> None:
    import addon_utils

    addon_utils.disable(ADDON, default_set=True)


def preferences():
    return bpy.context.preferences.addons[ADDON].preferences


# -- scene ------------------------------------------------------------------------------------------------------------
def build_scene(width: int = 128, height: int = 96):
    """Red cube (left), blue sphere (right), ground, camera, sun; Cycles CPU with 2 samples."""
    bpy.ops.wm.read_homefile(use_empty=True)  # keeps the add-on enabled (factory settings would not)
    scene = bpy.context.scene
    for name, add, kwargs, colour in (
        ("Cube", bpy.ops.mesh.primitive_cube_add, dict(size=1.5, location=(-1.2, 0, 0)), (0.8, 0.1, 0.1, 1)),
        ("Sphere", bpy.ops.mesh.primitive_uv_sphere_add, dict(radius=0.8, location=(1.2, 0, 0)), (0.1, 0.2, 0.8, 1)),
        ("Ground", bpy.ops.mesh.primitive_plane_add, dict(size=10, location=(0, 0, -0.8)), (0.5, 0.5, 0.5, 1)),
    ):
        add(**kwargs)
        ob = bpy.context.active_object
        ob.name = name
        material = bpy.data.materials.new(name)
        material.diffuse_color = colour
        ob.data.materials.append(material)
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    camera.location, camera.rotation_euler = (0, -6, 2), (math.radians(75), 0, 0)
    scene.camera = camera
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    scene.collection.objects.link(sun)
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 2, False
    scene.frame_start, scene.frame_end, scene.frame_current = 1, 96, 1
    return scene


def pixel_of(scene, ob, width: int, height: int) -> tuple[float, float]:
    """Image pixel (origin top-left) where the camera sees ``ob``'s origin, in a ``width`` x ``height`` capture."""
    from bpy_extras.object_utils import world_to_camera_view

    ndc = world_to_camera_view(scene, scene.camera, ob.matrix_world.translation)
    return ndc.x * width, (1.0 - ndc.y) * height


def scene_state(scene) -> dict:
    """What the add-on may add to a scene, counted."""
    editor = scene.sequence_editor
    strips = len(editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all) if editor else 0
    return {"objects": len(bpy.data.objects), "speakers": len(bpy.data.speakers), "sounds": len(bpy.data.sounds),
            "strips": strips, "results": len(scene.sounding.results)}


def write_sine(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    samples = (0.5 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(samples.tobytes())
    return path


def mixdown(scene, path: Path) -> np.ndarray:
    """The scene's audio as float samples (frames, channels)."""
    bpy.ops.sound.mixdown(filepath=str(path), container="WAV", codec="PCM", format="S16", mixrate=48000)
    with wave.open(str(path)) as f:
        data = np.frombuffer(f.readframes(f.getnframes()), "<i2").reshape(-1, f.getnchannels())
    return data / 32768.0


# -- timers -----------------------------------------------------------------------------------------------------------
class TimerPump:
    """Stands in for ``bpy.app.timers`` on a fake clock; ``run`` calls what is due, honouring the callbacks' return
    values (seconds until the next call, or None to stop); records each callback's wall and CPU time."""

    def __init__(self):
        self.now = 0.0
        self._queue: list = []
        self._seq = itertools.count()
        self._live: dict = {}
        self._saved: dict = {}
        self.stalls: list[float] = []  # wall time of each callback (scheduling and GIL waits included)
        self.cpu: list[float] = []  # the main thread's CPU time in each callback

    def register(self, function, first_interval=0.0, persistent=False):
        token = next(self._seq)
        self._live[function] = token
        heapq.heappush(self._queue, (self.now + first_interval, token, function))

    def unregister(self, function):
        if function not in self._live:
            raise ValueError("Error: function is not registered")
        del self._live[function]

    def is_registered(self, function):
        return function in self._live

    def __enter__(self):
        for name in ("register", "unregister", "is_registered"):
            self._saved[name] = getattr(bpy.app.timers, name)
            setattr(bpy.app.timers, name, getattr(self, name))
        return self

    def __exit__(self, *exc):
        for name, function in self._saved.items():
            setattr(bpy.app.timers, name, function)

    def step(self) -> bool:
        """Call the next due callback at its fake time, sleeping the real time in between; False when none left."""
        while self._queue and self._live.get(self._queue[0][2]) != self._queue[0][1]:
            heapq.heappop(self._queue)
        if not self._queue:
            return False
        due, token, function = heapq.heappop(self._queue)
        if due > self.now:
            time.sleep(due - self.now)
            self.now = due
        start, start_cpu = time.perf_counter(), time.thread_time()
        interval = function()
        self.stalls.append(time.perf_counter() - start)
        self.cpu.append(time.thread_time() - start_cpu)
        if interval is None:
            self._live.pop(function, None)
        else:
            heapq.heappush(self._queue, (self.now + interval, token, function))
        return True

    def run_until(self, condition, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not condition() and time.monotonic() < end:
            if not self.step():
                time.sleep(0.01)
        return condition()


# -- server -----------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sounding_executable() -> str:
    """The venv's ``sounding`` beside this Python, else the one on PATH (a second venv testing another bpy)."""
    beside = Path(sys.executable).parent / "sounding"
    return str(beside) if beside.exists() else shutil.which("sounding") or str(beside)


#: A tiny model whose object prior knows "bell" and "drum", with random class means and conditions and an
#: ``unsure_below`` no cosine reaches (every recognition is a guess); written to argv[1].
TWO_CLASS_MODEL = """
import sys
import torch
from sounding.model.loading import load_generator, save_generator
from sounding.model.object_prior import ObjectPrior

generator = load_generator("tiny")
prior = ObjectPrior(["bell", "drum"], generator.image_encoder.feature_dim, generator.conditioner.config.condition_dim,
                    unsure_below=2.0)
prior.feature_means.copy_(torch.nn.functional.normalize(torch.randn(prior.feature_means.shape), dim=-1))
prior.typical_conditions.copy_(torch.nn.functional.normalize(torch.randn(prior.typical_conditions.shape), dim=-1))
generator.object_prior = prior
save_generator(generator, sys.argv[1])
"""


def save_two_class_model(path: Path) -> Path:
    """TWO_CLASS_MODEL run by the server's Python (this Blender's may be another venv, without torch)."""
    python = Path(sounding_executable()).with_name("python")
    subprocess.run([str(python), "-c", TWO_CLASS_MODEL, str(path)], check=True,
                   env=dict(os.environ, OMP_NUM_THREADS="1"))
    return path


def start_server(address: str, log: Path, model: str = "tiny") -> subprocess.Popen:
    """``sounding serve --model MODEL`` on ``address``, once it answers health."""
    from sounding_protocol.client import RequestTimeout, SoundingClient

    with open(log, "wb") as out:
        process = subprocess.Popen([sounding_executable(), "serve", "--bind", address, "--model", model],
                                   stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    with SoundingClient(address, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"sounding serve exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if client.health()["status"] == "ok":
                    return process
            except RequestTimeout:
                continue
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"sounding serve did not become healthy: {log.read_text()[-2000:]}")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
