"""``sounding bench protocol``: health round trips on loopback and the decode time of a 4096x4096 PNG request."""
from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sounding_protocol.client import ObjectSelection, SoundingClient, generate_message
from sounding_protocol.constants import MAX_IMAGE_SIDE, OP_GENERATE, PROTOCOL_VERSION, STATUS_OK
from sounding_protocol.framing import decode_header, encode_message
from sounding_protocol.validation import parse_request

from sounding.registry import DEFAULT_MODEL, load_engine
from sounding.server.config import ServerConfig
from sounding.server.images import decode_image
from sounding.server.router import Server

TARGET_HEALTH_P50_MS = 1.0
TARGET_HEALTH_P99_MS = 5.0
TARGET_DECODE_MS = 300.0
WARMUP_REQUESTS = 50
DECODE_REPEATS = 5
#: How long the benchmark waits for the engine before timing (health answers while it loads; timing waits anyway).
ENGINE_READY_TIMEOUT_S = 120.0


def render_like_image(side: int = MAX_IMAGE_SIDE, seed: int = 0) -> np.ndarray:
    """A smooth image with mild noise, like a render: PNG-compressible but not trivially so."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    base = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * np.pi * x * y)], axis=-1) * 200
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def decode_request(frames: list[bytes]) -> np.ndarray:
    """What the server does to a request before the engine sees it: header, validation, pixel decoding."""
    request = parse_request(decode_header(frames[0]), frames)
    return decode_image(request.image)


def time_decode(side: int = MAX_IMAGE_SIDE) -> dict:
    buffer = io.BytesIO()
    Image.fromarray(render_like_image(side)).save(buffer, format="PNG")
    png = buffer.getvalue()
    fields, blobs = generate_message(png, [ObjectSelection(points=[(side / 2, side / 2)])])
    frames = encode_message({"v": PROTOCOL_VERSION, "id": "bench", "op": OP_GENERATE, **fields}, blobs)
    wall, cpu = [], []
    for _ in range(DECODE_REPEATS):
        started, started_cpu = time.perf_counter(), time.thread_time()
        decode_request(frames)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    # CPU time is what the decode costs on an idle core; wall time also counts other processes on a busy machine.
    return {"image": f"{side}x{side}", "png_bytes": len(png), "decode_ms_median": statistics.median(wall),
            "decode_ms_min": min(wall), "decode_cpu_ms_median": statistics.median(cpu)}


def time_health(endpoint: str, requests: int) -> dict:
    with SoundingClient(endpoint, timeout=10.0) as client:
        deadline = time.monotonic() + ENGINE_READY_TIMEOUT_S
        while client.health()["status"] != STATUS_OK and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(WARMUP_REQUESTS):
            client.health()
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            client.health()
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"requests": requests, "p50_ms": times[len(times) // 2], "p99_ms": times[min(len(times) - 1,
                                                                                     int(len(times) * 0.99))],
            "mean_ms": statistics.fmean(times), "max_ms": times[-1]}


def run_benchmark(args: argparse.Namespace) -> int:
    logging.getLogger("sounding.server").setLevel(logging.WARNING)  # one log line per request would be timed too
    server = Server(ServerConfig(bind="tcp://127.0.0.1:*"), lambda: load_engine(DEFAULT_MODEL, "cpu"))
    thread = threading.Thread(target=server.run, name="sounding-server")
    thread.start()
    try:
        health = time_health(server.wait_bound(30.0), args.requests)
    finally:
        server.stop()
        thread.join()
    decode = time_decode(args.image_side)
    passed = {"health_p50": health["p50_ms"] <= TARGET_HEALTH_P50_MS,
              "health_p99": health["p99_ms"] <= TARGET_HEALTH_P99_MS,
              "decode_png": decode["decode_ms_median"] <= TARGET_DECODE_MS}
    result = {"transport": "tcp loopback", "health": health, "decode": decode,
              "targets_ms": {"health_p50": TARGET_HEALTH_P50_MS, "health_p99": TARGET_HEALTH_P99_MS,
                             "decode_png": TARGET_DECODE_MS}, "passed": passed}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0 if all(passed.values()) or not args.strict else 1
