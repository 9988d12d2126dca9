"""What the server, client and CLI tests share: a server on a thread, a raw DEALER, images, two test doubles.

The engine is the real tiny one (``load_engine("tiny")``). The two doubles wrap its generator only to force what the
real engine cannot do on demand: hold a job mid-generation (busy, cancel, batching, shutdown) and fail (``internal``).
"""
from __future__ import annotations

import functools
import io
import json
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import zmq
from PIL import Image

from sounding.engine import Engine
from sounding.registry import load_engine
from sounding.server.config import ServerConfig
from sounding.server.router import Server

#: Seconds any test waits for one reply before failing (generous: five engineers share two cores).
REPLY_TIMEOUT_S = 60.0
WIDTH, HEIGHT = 64, 48


@functools.cache
def tiny_engine() -> Engine:
    return load_engine("tiny", "cpu")


def png(width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def read_mask(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.mode == "L"
    return np.asarray(image) > 0


@contextmanager
def running_server(engine_factory=tiny_engine, **config) -> Iterator[Server]:
    """A server on a loopback port chosen by the OS, on its own thread; stopped and joined afterwards."""
    server = Server(ServerConfig(bind="tcp://127.0.0.1:*", **config), engine_factory)
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    server.wait_bound(REPLY_TIMEOUT_S)
    try:
        yield server
    finally:
        server.stop()
        thread.join(REPLY_TIMEOUT_S)
        assert not thread.is_alive(), "the server did not stop"


class RawDealer:
    """A client written from PROTOCOL.md alone: a DEALER, a JSON header frame, blob frames. No project code."""

    def __init__(self, endpoint: str):
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def send(self, header: dict, *blobs: bytes) -> None:
        self.send_frames(json.dumps(header).encode(), *blobs)

    def send_frames(self, *frames: bytes) -> None:
        self.socket.send_multipart(list(frames))

    def receive(self, timeout: float = REPLY_TIMEOUT_S) -> tuple[dict, list[bytes]]:
        if not self.socket.poll(int(timeout * 1000)):
            raise TimeoutError(f"no reply within {timeout} s")
        frames = self.socket.recv_multipart()
        return json.loads(frames[0]), frames[1:]

    def final(self, timeout: float = REPLY_TIMEOUT_S) -> tuple[dict, list[bytes], list[dict]]:
        """The next final reply (result or error), with the progress messages before it."""
        progress = []
        while True:
            header, blobs = self.receive(timeout)
            if header["type"] != "progress":
                return header, blobs, progress
            progress.append(header)

    def health(self, request_id: str = "h") -> dict:
        self.send({"v": 1, "id": request_id, "op": "health"})
        return self.final()[0]

    def wait_until_ready(self) -> dict:
        return wait_until_ready(self.health)

    def close(self) -> None:
        self.socket.close(linger=0)


def wait_until_ready(health, timeout: float = REPLY_TIMEOUT_S) -> dict:
    """Poll ``health()`` until the engine has loaded; fail (never hang) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (reply := health())["status"] != "ok":
        assert time.monotonic() < deadline, "the engine did not load"
        time.sleep(0.05)
    return reply


@contextmanager
def raw_dealer(server: Server) -> Iterator[RawDealer]:
    dealer = RawDealer(server.endpoint)
    try:
        yield dealer
    finally:
        dealer.close()


class GatedGenerator:
    """Test double: the real tiny generator, held after its first progress step until ``release`` is set.

    Records each batch's size and whether the worker stopped the work (``GenerationCancelled`` out of progress).
    """

    def __init__(self, inner):
        self.inner = inner
        self.info = inner.info
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batch_sizes: list[int] = []
        self.stopped = threading.Event()

    def batch_key(self, request):
        return self.inner.batch_key(request)

    def generate(self, requests, progress):
        self.batch_sizes.append(len(requests))
        first = [True]

        def gated(stage, step, total):
            try:
                progress(stage, step, total)
            except BaseException:
                self.stopped.set()
                raise
            if first[0]:
                first[0] = False
                self.entered.set()
                self.release.wait(REPLY_TIMEOUT_S)

        return self.inner.generate(requests, gated)


class FailingGenerator:
    """Test double: the real tiny generator's info and keys, but ``generate`` raises (for ``internal``)."""

    def __init__(self, inner):
        self.info = inner.info
        self.batch_key = inner.batch_key

    def generate(self, requests, progress):
        raise RuntimeError("the GPU caught fire")


def engine_with(generator) -> Engine:
    real = tiny_engine()
    return Engine(generator=generator, segmenter=real.segmenter, device=real.device)
