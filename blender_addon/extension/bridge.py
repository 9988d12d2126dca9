"""The worker thread between Blender and the server (no bpy here).

Blender's main thread builds a :class:`Job` from plain data and ``submit``s it; the worker thread owns the
``SoundingClient`` (a ZeroMQ socket is used by one thread only), encodes PNGs, sends, reads replies, writes the
WAV files, and puts :class:`Progress`, :class:`Finished` and :class:`Failed` events on a queue that the main thread
drains from a ``bpy.app.timers`` callback (or waits on, in background mode). Each job fails on its own timeout:
seconds without any message from the server for it.
"""
from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from . import plan, pngio
from .geometry import Capture
from .sounding_protocol import constants
from .sounding_protocol.client import (
    CurveKeys, LayerResult, ObjectSelection, SoundingClient, generate_message, generate_result, masks_of,
    segment_message,
)
from .sounding_protocol.errors import ProtocolError

#: How long the worker waits for a reply before it looks at its inbox again (seconds).
POLL_INTERVAL = 0.02
#: Error codes the add-on adds to the protocol's own.
TIMEOUT = "timeout"
OFFLINE = "offline"
FILE_ERROR = "file_error"


@dataclass
class ImageData:
    """The image to sound: encoded bytes (``format`` png/jpeg), or RGB(A) uint8 ``pixels`` (row 0 = top) that the
    worker encodes as PNG."""

    data: bytes | None = None
    format: str = "png"
    pixels: np.ndarray | None = None

    def encoded(self) -> tuple[bytes, str]:
        if self.data is not None:
            return self.data, self.format
        return pngio.encode_png(self.pixels), "png"


@dataclass
class Selection:
    """One clicked object: points and labels (1 on, 0 off), or an exact boolean ``mask``, and/or a text hint; the
    class it alone sounds like (None: the one it is recognised as)."""

    points: list[tuple[float, float]] | None = None
    labels: list[int] | None = None
    mask: np.ndarray | None = None
    text: str | None = None
    sounds_like: str | None = None

    def to_protocol(self) -> ObjectSelection:
        if self.mask is not None:
            return ObjectSelection(mask_png=pngio.encode_png(self.mask), text=self.text, sounds_like=self.sounds_like)
        return ObjectSelection(points=self.points, labels=self.labels, text=self.text, sounds_like=self.sounds_like)


def selections(objects: list[tuple[list[tuple[float, float]], list[int], str]], hint: str = "",
               capture: Capture | None = None) -> list[Selection]:
    """Clicked objects -> what the server gets. ``objects``: (points, labels, text) each; objects without points
    are skipped. On a captured render an object becomes the exact mask of the objects under its positive clicks (less
    those under negative ones); elsewhere it stays clicks. ``hint`` goes with the first object; alone, it selects by
    text (the paper's text-attention mode)."""
    out = []
    for points, labels, text in objects:
        if not points:
            continue
        mask = None
        if capture is not None:
            on = {capture.object_index(x, y) for (x, y), label in zip(points, labels) if label}
            off = {capture.object_index(x, y) for (x, y), label in zip(points, labels) if not label}
            chosen = on - off - {0}
            mask = capture.mask(chosen) if chosen else None
        if mask is None:
            out.append(Selection(points=list(points), labels=list(labels), text=text.strip() or None))
        else:
            out.append(Selection(mask=mask, text=text.strip() or None))
    hint = hint.strip()
    if hint and out:
        out[0].text = f"{out[0].text}, {hint}" if out[0].text else hint
    elif hint:
        out.append(Selection(text=hint))
    return out


@dataclass
class Job:
    """One request. ``op``: health, segment or generate; ``options``: generate's duration, seed, steps, guidance,
    variations, sounds_like, stems (None leaves a value to the model). Sounds are written into ``folder``."""

    op: str
    image: ImageData | None = None
    objects: list[Selection] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    folder: str = ""
    label: str = "sound"
    timeout: float = 30.0
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])


@dataclass
class Sound:
    path: str
    seed: int
    duration: float
    sample_rate: int


@dataclass
class Progress:
    job_id: str
    stage: str
    step: int
    total: int


@dataclass
class Finished:
    """``result``: health's reply header (dict); segment: the union of the masks ((H, W) bool); generate:
    :class:`Generated`."""

    job_id: str
    result: Any


@dataclass
class Generated:
    sounds: list[Sound]
    region: np.ndarray | None  # (H, W) bool: the union of the objects' masks, as the server saw them
    sounds_like: str = ""  # the class the sounds were made as: asked for, else recognised ("" if none)
    unsure: bool = False  # recognised, but unlike every class the model knows
    alternatives: list[str] = field(default_factory=list)  # other classes it resembles, best first
    layers: list[LayerResult] = field(default_factory=list)  # a mix: each object's class and alternatives
    stems: list[list[Sound]] = field(default_factory=list)  # per layer: its own sound per variation (if sent)


@dataclass
class Failed:
    job_id: str
    code: str
    message: str


def explain(code: str, message: str, address: str) -> str:
    """A message for a person, naming what to do."""
    if code == TIMEOUT:
        return (f"No answer from the Sounding server at {address}. Is it running? Start it in the add-on's "
                f"preferences or with `sounding serve --bind {plan.bind_address(address)}`.")
    if code == constants.BUSY:
        return "The Sounding server is busy (its queue is full). Try again in a moment."
    if code in (constants.UNSUPPORTED_VERSION, constants.UNKNOWN_OP):
        return f"Protocol mismatch with the server ({message}). Update the add-on or the server."
    if code == constants.CANCELLED:
        return "Cancelled."
    if code in (OFFLINE, FILE_ERROR):
        return message
    return f"Server error ({code}): {message}"


def health_problem(header: dict[str, Any]) -> str | None:
    """Why a health reply means the add-on cannot use this server, or None."""
    if header.get("protocol") != constants.PROTOCOL_VERSION:
        return (f"Protocol mismatch: the server speaks protocol {header.get('protocol')!r}, this add-on "
                f"{constants.PROTOCOL_VERSION}. Update the add-on or the server.")
    return None


def describe_health(header: dict[str, Any]) -> str:
    """The status line; it counts the classes Sounds Like may name (none for a model without an object prior)."""
    model = header.get("model") or {}
    classes = model.get("classes") or []
    known = f", knows {len(classes)} classes" if classes else ""
    text = (f"{header.get('status', '?')}: model {model.get('name', '?')}{known} on {header.get('device', '?')}, "
            f"{header.get('queue', 0)} queued")
    return health_problem(header) or text


class Bridge:
    """A worker thread with a ``SoundingClient`` connected to ``address``."""

    def __init__(self, address: str, curve: tuple[str, str] | None = None):
        self.address = address
        self._curve = curve
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sounding-bridge", daemon=True)
        self._thread.start()

    # -- main thread ------------------------------------------------------------------------------------------------
    def submit(self, job: Job) -> str:
        self._inbox.put(("submit", job))
        return job.id

    def cancel(self, job_id: str) -> None:
        self._inbox.put(("cancel", job_id))

    def events(self) -> list:
        """Every event so far, without waiting."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def next_event(self, timeout: float):
        """The next event, or None after ``timeout`` seconds."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self, timeout: float = 2.0) -> None:
        """Stop the worker (jobs in flight are dropped) and wait for it."""
        self._inbox.put(("close", None))
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- worker thread ----------------------------------------------------------------------------------------------
    def _run(self) -> None:
        # Wait for the first command before doing anything: the thread starts without taking Python's GIL from
        # Blender's main thread while the operator that started it still runs.
        pending = [self._inbox.get()]
        client = None
        jobs: dict[str, Job] = {}  # request id (= job id) -> job
        seen: dict[str, float] = {}  # request id -> time of the last message for it
        cancels: set[str] = set()  # ids of our own cancel requests (their replies are read and dropped)
        try:
            curve = CurveKeys.from_files(*self._curve) if self._curve else None
            client = SoundingClient(self.address, curve=curve)
        except Exception as exc:  # bad key files, malformed address: every job fails with the reason
            failure = f"Cannot connect to {self.address}: {exc}"
        else:
            failure = None
        while True:
            try:
                if pending:
                    command, value = pending.pop()
                else:
                    command, value = self._inbox.get(timeout=POLL_INTERVAL) if not jobs else self._inbox.get_nowait()
            except queue.Empty:
                command, value = None, None
            if command == "close":
                break
            try:
                if command == "submit":
                    if failure:
                        self._events.put(Failed(value.id, OFFLINE, failure))
                    else:
                        self._send(client, value, jobs, seen)
                elif command == "cancel" and value in jobs:
                    cancels.add(client.send(constants.OP_CANCEL, {"target": value}))
                if jobs or cancels:
                    self._receive(client, jobs, seen, cancels)
            except Exception as exc:  # the thread must outlive any surprise: fail what is in flight, start afresh
                for request_id in list(jobs):
                    self._events.put(Failed(request_id, constants.INTERNAL, f"{type(exc).__name__}: {exc}"))
                jobs.clear()
                seen.clear()
                cancels.clear()
                client.reconnect()
        if client is not None:
            client.close()

    def _send(self, client: SoundingClient, job: Job, jobs: dict, seen: dict) -> None:
        try:
            if job.op == constants.OP_HEALTH:
                fields, blobs = {}, []
            else:
                data, fmt = job.image.encoded()
                objects = [o.to_protocol() for o in job.objects]
                if job.op == constants.OP_SEGMENT:
                    fields, blobs = segment_message(data, objects, fmt)
                else:
                    fields, blobs = generate_message(data, objects, fmt, **job.options)
            client.send(job.op, fields, blobs, request_id=job.id)
        except (ValueError, OSError, zmq.ZMQError) as exc:
            self._events.put(Failed(job.id, constants.BAD_REQUEST, str(exc)))
            return
        jobs[job.id] = job
        seen[job.id] = time.monotonic()

    def _receive(self, client: SoundingClient, jobs: dict, seen: dict, cancels: set) -> None:
        reply = client.receive(POLL_INTERVAL)
        request_id = reply.header.get("id") if reply is not None else None
        now = time.monotonic()
        if request_id in cancels and reply.type != constants.TYPE_PROGRESS:
            cancels.discard(request_id)
            try:
                client.wait(request_id)  # already buffered: drops it from the client
            except ProtocolError:
                pass  # the target had finished; its own reply tells the story
        elif request_id in jobs:
            seen[request_id] = now
            if reply.type == constants.TYPE_PROGRESS:
                h = reply.header
                self._events.put(Progress(request_id, str(h.get("stage")), int(h.get("step", 0)),
                                          int(h.get("total", 0))))
            else:
                job = jobs.pop(request_id)
                del seen[request_id]
                self._events.put(self._finish(client, job))
        late = [i for i, t in seen.items() if now - t > jobs[i].timeout]
        if late:
            client.reconnect()  # the server is gone or stuck: drop the socket and everything in flight
            for request_id in list(jobs):
                self._events.put(Failed(request_id, TIMEOUT, f"no reply within {jobs[request_id].timeout:g} s"))
            jobs.clear()
            seen.clear()
            cancels.clear()

    def _finish(self, client: SoundingClient, job: Job):
        try:
            reply = client.wait(job.id)  # the final reply is buffered: returns at once or raises ProtocolError
            if job.op == constants.OP_HEALTH:
                return Finished(job.id, reply.header)
            if job.op == constants.OP_SEGMENT:
                return Finished(job.id, decode_region(masks_of(reply)))
            result = generate_result(reply)
            os.makedirs(job.folder, exist_ok=True)
            sounds = write_sounds(job, job.label, result.audio)
            stems = [write_sounds(job, f"{job.label}_object{layer.object + 1}", layer.audio)
                     for layer in result.layers]
            return Finished(job.id, Generated(sounds, decode_region(result.masks), result.sounds_like or "",
                                              result.unsure, result.alternatives, result.layers, stems))
        except ProtocolError as exc:
            return Failed(job.id, exc.code, exc.message)
        except ValueError as exc:
            return Failed(job.id, constants.INTERNAL, f"The server sent an unreadable mask: {exc}")
        except OSError as exc:
            return Failed(job.id, FILE_ERROR, f"Cannot write the results into {job.folder}: {exc}")


def write_sounds(job: Job, label: str, clips) -> list[Sound]:
    """Each variation's clip as a WAV file in the job's folder, named after ``label``, its seed and the job."""
    sounds = []
    for index, clip in enumerate(clips):
        path = os.path.join(job.folder, plan.wav_name(label, clip.seed, index, job.id))
        with open(path, "wb") as f:
            f.write(clip.data)
        sounds.append(Sound(path, clip.seed, clip.duration, clip.sample_rate))
    return sounds


def decode_region(masks) -> np.ndarray | None:
    """The union of the server's mask PNGs, (H, W) bool, or None without masks; decoded in the worker thread, never on
    Blender's main thread."""
    region = None
    for mask in masks:
        decoded = pngio.decode_grey_png(mask.png) > 0
        region = decoded if region is None else region | decoded
    return region
