"""`sounding generate`, `segment`, `bench protocol` and `serve`, in process and through a real `sounding serve`
subprocess (SIGTERM with a job in flight)."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import wave

import numpy as np
import pytest
import soundfile
from sounding_protocol.client import RequestTimeout, SoundingClient
from sounding_protocol.constants import OP_GENERATE
from sounding_protocol.errors import ProtocolError
from server_harness import HEIGHT, WIDTH, mask_png, png, read_mask, running_server, wait_until_ready

from sounding.cli import main

SUBPROCESS_START_TIMEOUT_S = 120.0


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "scene.png"
    path.write_bytes(png())
    return path


@pytest.fixture(scope="module")
def server():
    with running_server() as server:
        yield server


def test_generate_in_process_writes_numbered_variations(image, tmp_path, capsys):
    out = tmp_path / "out" / "dog.wav"
    assert main(["generate", "--image", str(image), "--click", "20,20", "--click", "40,30", "--text", "dog",
                 "--out", str(out), "--steps", "2", "--seed", "5", "--variations", "2", "--duration", "0.5"]) == 0
    printed = capsys.readouterr().out
    for n, seed in ((1, 5), (2, 6)):
        with wave.open(str(tmp_path / "out" / f"dog_{n}.wav")) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (1, 2, 16000,
                                                                                                       8000)
        assert f"dog_{n}.wav: 0.50 s at 16000 Hz, seed {seed}" in printed
    assert not out.exists()


def test_generate_through_a_server_with_a_mask_to_flac(server, image, tmp_path):
    mask = tmp_path / "mask.png"
    region = np.zeros((HEIGHT, WIDTH), bool)
    region[10:30, 10:30] = True
    mask.write_bytes(mask_png(region))
    out = tmp_path / "siren.flac"
    assert main(["generate", "--server", server.endpoint, "--image", str(image), "--mask", str(mask), "--text",
                 "siren", "--out", str(out), "--steps", "2"]) == 0
    audio, rate = soundfile.read(out)
    assert rate == 16000 and audio.ndim == 1 and len(audio) > 0


@pytest.mark.parametrize("through_server", [False, True])
def test_segment_writes_the_union_mask(server, image, tmp_path, through_server):
    out = tmp_path / "mask.png"
    args = ["segment", "--image", str(image), "--click", "10,10", "--out", str(out)]
    assert main(args + (["--server", server.endpoint] if through_server else [])) == 0
    mask = read_mask(out.read_bytes())
    assert mask.shape == (HEIGHT, WIDTH) and mask[10, 10]


def test_generate_reports_a_bad_click(image, tmp_path, capsys):
    assert main(["generate", "--image", str(image), "--click", "900,10", "--out", str(tmp_path / "x.wav")]) == 1
    assert "bad_request" in capsys.readouterr().err


def test_bench_protocol_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "protocol", "--requests", "200", "--image-side", "256", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["health"]["requests"] == 200
    assert 0 < result["health"]["p50_ms"] <= result["health"]["p99_ms"]
    assert result["decode"]["image"] == "256x256" and result["decode"]["decode_ms_median"] > 0
    assert set(result["passed"]) == {"health_p50", "health_p99", "decode_png"}


def test_serve_refuses_a_public_bind_without_keys(capsys):
    assert main(["serve", "--bind", "tcp://0.0.0.0:5999"]) == 2
    assert "CURVE" in capsys.readouterr().err


def test_serve_subprocess_answers_and_stops_gracefully_on_sigterm():
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "sounding.cli", "serve", "--bind", "tcp://127.0.0.1:*"],
                               stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    try:
        endpoint = _wait_for_endpoint(lines)
        with SoundingClient(endpoint, timeout=60) as client:
            wait_until_ready(client.health, SUBPROCESS_START_TIMEOUT_S)
            fields = {"image": {"blob": 1, "format": "png"}, "objects": [{"points": [[5, 5]]}], "steps": 1000}
            job = client.send(OP_GENERATE, fields, [png()])
            stages = []

            def terminate_while_denoising(stage: str, step: int, total: int) -> None:
                if stage == "denoise" and "denoise" not in stages:
                    process.send_signal(signal.SIGTERM)
                stages.append(stage)

            with pytest.raises(ProtocolError) as info:
                client.wait(job, progress=terminate_while_denoising)
            assert info.value.code == "cancelled" and "denoise" in stages
        assert process.wait(60) == 0
        reader.join(10)
        log = "".join(lines)
        assert re.search(r"request id=\S+ op=health outcome=ok ms=", log)
        assert re.search(rf"request id={job} op=generate outcome=cancelled", log)
        assert "stopped" in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_for_endpoint(lines: list[str]) -> str:
    deadline = time.monotonic() + SUBPROCESS_START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in list(lines):
            found = re.search(r"listening on (tcp://\S+)", line)
            if found:
                return found.group(1)
        time.sleep(0.05)
    raise RequestTimeout(f"`sounding serve` did not start: {''.join(lines)[-2000:]}")
