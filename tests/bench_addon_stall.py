"""Benchmark (not a test): the add-on's longest main-thread stall while a generation runs.

Installs the built extension into a private Blender user folder, starts ``sounding serve --model tiny``, captures a
frame, clicks an object and generates without blocking; a fake-clock pump stands in for Blender's timers and times
every main-thread call of the add-on (the Generate operator itself, then each drain of the worker's events), in wall
time (what the user feels: includes waits for the GIL and for a CPU on a loaded machine) and in CPU time.

    .venv/bin/python tests/bench_addon_stall.py [--steps 50] [--duration 4] [--capture 512] [--out stall.json]
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="sounding-bench-blender-"))

import bpy  # noqa: E402

from blender_support import (  # noqa: E402
    ADDON, TimerPump, build_scene, free_port, package, pixel_of, preferences, start_server, stop_server,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--capture", type=int, default=512)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="sounding-bench-")
    zip_path, = package.build(Path(work) / "dist", build_dir=Path(work) / "build",
                              targets=(package.target_for(sys.version_info),))
    bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default", enable_on_install=True)
    runtime = sys.modules[ADDON].runtime
    address = f"tcp://127.0.0.1:{free_port()}"
    server = start_server(address, Path(work) / "server.log")
    try:
        scene = build_scene(640, 480)
        settings = scene.sounding
        preferences().address, preferences().timeout = address, 120.0
        settings.capture_size, settings.steps, settings.duration = args.capture, args.steps, args.duration
        start = time.perf_counter()
        bpy.ops.sounding.capture()
        capture_s = time.perf_counter() - start  # a user-started blocking step, like F12: reported apart
        x, y = pixel_of(scene, bpy.data.objects["Sphere"], *settings.image.size)
        bpy.ops.sounding.add_point(x=x, y=y)
        with TimerPump() as pump:
            start, start_cpu = time.perf_counter(), time.thread_time()
            bpy.ops.sounding.generate(wait=False)
            submit, submit_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
            running = runtime.SESSION.generation()
            pump.run_until(lambda: running.outcome is not None, timeout=600)
            total = time.perf_counter() - start
        stalls = sorted(pump.stalls)
        report = {
            "outcome": running.message,
            "generation_s": round(total, 2),
            "generate_operator_ms": round(submit * 1e3, 2),
            "generate_operator_cpu_ms": round(submit_cpu * 1e3, 2),
            "timer_calls": len(stalls),
            "timer_max_ms": round(stalls[-1] * 1e3, 2),
            "timer_max_cpu_ms": round(max(pump.cpu) * 1e3, 2),
            "timer_p50_ms": round(stalls[len(stalls) // 2] * 1e3, 3),
            "longest_stall_ms": round(max(submit, stalls[-1]) * 1e3, 2),
            "load_average": round(os.getloadavg()[0], 1),
            "capture": list(settings.image.size), "capture_s": round(capture_s, 2),
            "steps": args.steps, "duration_s": args.duration,
        }
    finally:
        stop_server(server)
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
