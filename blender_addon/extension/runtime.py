"""The main-thread side of the bridge and the session state that is never saved in the blend file: the worker
connection, running jobs and their progress, the server's status line, captures' id maps, mask previews, the
preview sound and a locally started server."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

import bpy
import numpy as np

from . import bridge as bridge_mod
from . import placement, plan
from .geometry import Capture
from .sounding_protocol import constants
from .sounding_protocol.client import unsure_note
from .sounding_protocol.endpoints import is_loopback

#: Seconds between two drains of the event queue while a job runs (the timer returns None when none does).
DRAIN_INTERVAL = 0.05
#: A health check should answer at once; a busy model still answers health from the server's socket loop.
HEALTH_TIMEOUT = 5.0


class UserError(Exception):
    """A known problem the operators report to the user as it is."""


@dataclass
class Running:
    """A submitted job as the main thread sees it."""

    job: bridge_mod.Job
    scene: str
    image: str = ""  # name of the image it is about (mask previews)
    target: str = ""  # name of the 3D object that gets the Speaker
    targets: list[str] = field(default_factory=list)  # each sent object's 3D object ("" for none), in order
    place: bool = False  # put the first variation into the scene as soon as it arrives
    selection: str = ""  # what was clicked (plan.selection_key), kept on each result
    stage: str = "queued"
    step: int = 0
    total: int = 0
    outcome: object = None  # bridge.Finished or bridge.Failed
    message: str = ""  # for the user, once it ended

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


@dataclass
class Session:
    bridge: bridge_mod.Bridge | None = None
    curve: tuple[str, str] | None = None
    jobs: dict[str, Running] = field(default_factory=dict)
    status: str = "Not checked"
    notice: str = ""  # the last job's outcome
    captures: dict[str, Capture] = field(default_factory=dict)  # capture key -> id map
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # image name -> the server's last region, previews
    server: object = None  # subprocess.Popen of a server this add-on started
    preview: object = None  # aud.Handle of the preview sound
    scratch_dir: str = ""

    def scratch(self) -> str:
        """A folder for captures and the sounds of unsaved blend files (never saved with them)."""
        if not self.scratch_dir or not os.path.isdir(self.scratch_dir):
            self.scratch_dir = tempfile.mkdtemp(prefix="sounding-")
        return self.scratch_dir

    def generation(self) -> Running | None:
        """The generation in progress, if any (one at a time)."""
        return next((r for r in self.jobs.values() if r.job.op == constants.OP_GENERATE), None)


SESSION = Session()


def preferences(context=None):
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences


def sound_folder() -> str:
    """``//sounding/`` next to the blend file, or the scratch folder for an unsaved file (sounds get packed)."""
    if bpy.data.filepath:
        return bpy.path.abspath("//sounding")
    return os.path.join(SESSION.scratch(), "sounds")


def connect(context) -> bridge_mod.Bridge:
    """The bridge to the server in the preferences; a new one when the address or keys changed."""
    prefs = preferences(context)
    address = prefs.address.strip()
    if not is_loopback(address) and not bpy.app.online_access:
        raise UserError(f"{address} is not on this computer and Online Access is off "
                        "(Preferences > System > Network). Allow it, or use a local server.")
    curve = (bpy.path.abspath(prefs.server_key), bpy.path.abspath(prefs.client_key)) \
        if prefs.server_key and prefs.client_key else None
    bridge = SESSION.bridge
    if bridge is None or not bridge.alive or bridge.address != address or SESSION.curve != curve:
        disconnect("Reconnected to another server.")
        SESSION.bridge = bridge_mod.Bridge(address, curve)
        SESSION.curve = curve
    return SESSION.bridge


def disconnect(reason: str) -> None:
    """Stop the worker; jobs in flight end as failed with ``reason``."""
    if SESSION.bridge is not None:
        SESSION.bridge.close()
        SESSION.bridge = None
    for running in list(SESSION.jobs.values()):
        _handle(bridge_mod.Failed(running.job.id, bridge_mod.OFFLINE, reason))


def submit(context, running: Running, wait: bool) -> Running:
    """Send ``running.job``; with ``wait`` block until it ends (background mode), else drain from a timer."""
    bridge = connect(context)
    SESSION.jobs[running.job.id] = running
    bridge.submit(running.job)
    if wait:
        while running.outcome is None:
            event = bridge.next_event(timeout=0.1)
            if event is not None:
                _handle(event)
            elif not bridge.alive:
                disconnect("The connection to the server stopped.")
    elif not bpy.app.timers.is_registered(drain):
        bpy.app.timers.register(drain, first_interval=DRAIN_INTERVAL)
    return running


def cancel(job_id: str) -> None:
    if SESSION.bridge is not None and job_id in SESSION.jobs:
        SESSION.bridge.cancel(job_id)
        SESSION.jobs[job_id].stage = "cancelling"


def drain() -> float | None:
    """Timer callback: handle the worker's events; stops itself when no job is left."""
    if SESSION.bridge is not None:
        for event in SESSION.bridge.events():
            _handle(event)
        if SESSION.jobs and not SESSION.bridge.alive:
            disconnect("The connection to the server stopped.")
    redraw()
    return DRAIN_INTERVAL if SESSION.jobs else None


def redraw() -> None:
    window_manager = bpy.context.window_manager
    for window in window_manager.windows if window_manager else ():
        for area in window.screen.areas:
            if area.type in ("IMAGE_EDITOR", "VIEW_3D"):
                area.tag_redraw()


def _handle(event) -> None:
    running = SESSION.jobs.get(event.job_id)
    if running is None:
        return
    if isinstance(event, bridge_mod.Progress):
        running.stage, running.step, running.total = event.stage, event.step, event.total
        return
    del SESSION.jobs[event.job_id]
    running.outcome = event
    address = SESSION.bridge.address if SESSION.bridge else preferences().address
    if isinstance(event, bridge_mod.Failed):
        running.message = bridge_mod.explain(event.code, event.message, address)
        if running.job.op == constants.OP_HEALTH or event.code == bridge_mod.TIMEOUT:
            SESSION.status = running.message
    elif running.job.op == constants.OP_HEALTH:
        SESSION.status = running.message = bridge_mod.describe_health(event.result)
        _remember_classes((event.result.get("model") or {}).get("classes") or [])
    elif running.job.op == constants.OP_SEGMENT:
        if event.result is not None:
            SESSION.masks[running.image] = event.result
        running.message = "Segmented."
    else:
        _generated(running, event.result)
    if running.job.op != constants.OP_SEGMENT:
        SESSION.notice = running.message


def _remember_classes(names: list[str]) -> None:
    """The classes the server's model knows, for Sounds Like's search list."""
    known = bpy.context.window_manager.sounding_classes
    known.clear()
    for name in names:
        known.add().name = str(name)


def _generated(running: Running, generated: bridge_mod.Generated) -> None:
    """Record the results on the scene; place the first one if asked."""
    if generated.region is not None:
        SESSION.masks[running.image] = generated.region
    scene = bpy.data.scenes.get(running.scene)
    if scene is None:
        running.message = f"The scene {running.scene!r} is gone; the sounds are in {running.job.folder}."
        return
    settings = scene.sounding
    target = bpy.data.objects.get(running.target) if running.target else None
    like = generated.sounds_like
    for variation, sound in enumerate(generated.sounds):
        result = settings.results.add()
        result.filepath, result.seed, result.duration = sound.path, sound.seed, sound.duration
        result.target, result.sounds_like, result.unsure = target, like, generated.unsure
        result.selection = running.selection
        for label in generated.alternatives:
            result.alternatives.add().name = label
        for k, made in enumerate(generated.layers):
            layer = result.layers.add()
            layer.object_index, layer.sounds_like, layer.unsure = made.object, made.sounds_like, made.unsure
            stems = generated.stems[k] if k < len(generated.stems) else []
            layer.filepath = stems[variation].path if variation < len(stems) else ""
            name = running.targets[made.object] if made.object < len(running.targets) else ""
            layer.target = bpy.data.objects.get(name) if name else None
            for label in made.alternatives:
                layer.alternatives.add().name = label
    settings.active_result = len(settings.results) - len(generated.sounds)
    unsure = f" ({unsure_note('Sounds Like')})" if generated.unsure else ""
    running.message = f"{len(generated.sounds)} sound(s) generated" + (f", sounding like {like}{unsure}." if like
                                                                      else ".")
    if running.place and generated.sounds:
        try:
            place(scene, settings.results[settings.active_result])
        except (RuntimeError, ValueError, UserError) as exc:
            running.message = f"Generated, but could not add it to the scene: {exc}"


def place(scene: bpy.types.Scene, result) -> list[placement.Placed]:
    """Put a result into the scene with the scene's settings: with Per Object, a mix's own sound of each object on
    that object (where the server sent them), else the result's sound on its object; all or nothing."""
    settings = scene.sounding
    if settings.per_object and result.layers and all(layer.filepath for layer in result.layers):
        files = [placement.SoundFile(layer.filepath, result.duration, layer.target,
                                     sound_name(layer.target, layer.filepath, layer.sounds_like))
                 for layer in result.layers]
    else:
        files = [placement.SoundFile(result.filepath, result.duration, result.target,
                                     sound_name(result.target, result.filepath, result.sounds_like))]
    for file in files:
        if not os.path.isfile(file.filepath):
            raise UserError(f"The sound file {file.filepath} is missing")
    return placement.place(scene, files, speaker=settings.add_speaker, strip=settings.add_strip)


def sound_name(target: bpy.types.Object | None, filepath: str, sounds_like: str = "") -> str:
    """Name of the Sound, Speaker and strip made from a result: its object (or file), and the class it sounds like."""
    return plan.sound_name(target.name if target else os.path.splitext(os.path.basename(filepath))[0], sounds_like)


def start_server(executable: str, address: str, model: str) -> subprocess.Popen:
    """Start ``sounding serve`` (never a model inside Blender's Python); its log goes to the scratch folder."""
    stop_server()
    program = shutil.which(bpy.path.abspath(executable)) if executable else None
    if not program:
        raise UserError(f"The sounding executable {executable!r} was not found. Set its path in the add-on's "
                        "preferences (pip install sounding puts it in the environment's bin/ or Scripts/).")
    command = [program, "serve", "--bind", plan.bind_address(address)]
    if model.strip():
        command += ["--model", model.strip()]
    log_path = os.path.join(SESSION.scratch(), "server.log")
    with open(log_path, "ab") as log:
        SESSION.server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    SESSION.status = f"Starting the local server (log: {log_path})"
    return SESSION.server


def stop_server() -> None:
    if SESSION.server is not None:
        SESSION.server.terminate()
        try:
            SESSION.server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            SESSION.server.kill()
            SESSION.server.wait()
        SESSION.server = None


def stop_preview() -> None:
    if SESSION.preview is not None:
        SESSION.preview.stop()
        SESSION.preview = None


def reset() -> None:
    """Unregister: stop the timer, the worker, the preview and a server this add-on started; forget everything."""
    if bpy.app.timers.is_registered(drain):
        bpy.app.timers.unregister(drain)
    if SESSION.bridge is not None:
        SESSION.bridge.close()
    stop_preview()
    stop_server()
    SESSION.__init__()
