"""The server over real ZeroMQ sockets on loopback, with the real tiny engine, spoken to by a raw DEALER client
written from PROTOCOL.md (no project code on the client side)."""
import io
import json
import threading
import wave

import numpy as np
import pytest
from server_harness import (
    HEIGHT, WIDTH, FailingGenerator, GatedGenerator, engine_with, mask_png, png, raw_dealer, read_mask,
    running_server, tiny_engine,
)

IMAGE = {"blob": 1, "format": "png"}


def pcm16(wav_bytes: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.int32)


def request(op: str, request_id: str = "r", **fields) -> dict:
    return {"v": 1, "id": request_id, "op": op, **fields}


def generate(request_id: str = "g", objects=None, image=IMAGE, **fields) -> dict:
    return request("generate", request_id, image=image, objects=objects or [{"points": [[20, 20]]}], steps=2,
                   **fields)


@pytest.fixture(scope="module")
def server():
    with running_server() as server:
        yield server


@pytest.fixture
def dealer(server):
    with raw_dealer(server) as dealer:
        dealer.wait_until_ready()
        yield dealer


def test_health_is_loading_until_the_engine_is_ready():
    loaded = threading.Event()

    def slow_factory():
        loaded.wait(60)
        return tiny_engine()

    with running_server(slow_factory, model="tiny") as server, raw_dealer(server) as dealer:
        reply = dealer.health("first")
        assert (reply["type"], reply["id"], reply["status"]) == ("result", "first", "loading")
        assert reply["model"]["name"] == "tiny" and reply["protocol"] == 1
        assert sorted(reply["ops"]) == ["cancel", "generate", "health", "segment"]
        loaded.set()
        ready = dealer.wait_until_ready()
        assert ready["model"]["sample_rate"] == 16000 and ready["model"]["max_duration"] > 0
        assert ready["device"] == "cpu" and ready["queue"] == 0


def test_segment_returns_one_mask_per_object(dealer):
    exact = np.zeros((HEIGHT, WIDTH), bool)
    exact[5:15, 30:50] = True
    dealer.send(request("segment", "s", image=IMAGE, objects=[{"points": [[10, 12], [40, 30]], "labels": [1, 0]},
                                                              {"mask": {"blob": 2, "format": "png"}}]),
                png(), mask_png(exact))
    header, blobs, progress = dealer.final()
    assert header["type"] == "result" and header["id"] == "s"
    clicked, given = header["masks"]
    assert read_mask(blobs[clicked["blob"] - 1]).shape == (HEIGHT, WIDTH)
    assert 0 <= clicked["score"] <= 1
    assert given["score"] == 1.0 and np.array_equal(read_mask(blobs[given["blob"] - 1]), exact)
    assert [p["stage"] for p in progress] == ["segment", "segment"]


def test_generate_returns_wav_variations_with_seeds_and_progress(dealer):
    dealer.send(generate(seed=7, variations=2, duration=0.5, objects=[{"points": [[20, 20]], "text": "dog"}]), png())
    header, blobs, progress = dealer.final()
    assert header["type"] == "result"
    assert [a["seed"] for a in header["audio"]] == [7, 8]
    for clip in header["audio"]:
        assert clip["format"] == "wav" and clip["sample_rate"] == 16000
        with wave.open(io.BytesIO(blobs[clip["blob"] - 1])) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
            assert wav.getnframes() == round(clip["duration"] * 16000)
    assert len(header["masks"]) == 1 and header["steps"] == 2
    stages = [p["stage"] for p in progress]
    assert stages[0] == "segment" and "denoise" in stages
    denoise = [p for p in progress if p["stage"] == "denoise"]
    assert [p["step"] for p in denoise] == [1, 2] and all(p["total"] == 2 for p in denoise)
    assert all(p["id"] == "g" for p in progress)


def test_a_variation_is_reproducible_alone_from_its_seed(dealer):
    dealer.send(generate("pair", seed=40, variations=2), png())
    pair, pair_blobs, _ = dealer.final()
    dealer.send(generate("alone", seed=41), png())
    alone, alone_blobs, _ = dealer.final()
    assert alone["audio"][0]["seed"] == 41
    in_pair = pcm16(pair_blobs[pair["audio"][1]["blob"] - 1])
    by_itself = pcm16(alone_blobs[alone["audio"][0]["blob"] - 1])
    assert np.abs(in_pair - by_itself).max() <= 2  # batched and single float32 kernels agree to an LSB or two


def test_generate_flac_text_only_and_exact_mask(dealer):
    import soundfile

    everything = np.ones((HEIGHT, WIDTH), bool)
    dealer.send(generate(format="flac", objects=[{"text": "rain"}, {"mask": {"blob": 2, "format": "png"}}]),
                png(), mask_png(everything))
    header, blobs, _ = dealer.final()
    audio, rate = soundfile.read(io.BytesIO(blobs[header["audio"][0]["blob"] - 1]))
    assert header["audio"][0]["format"] == "flac" and rate == 16000 and audio.ndim == 1
    assert [m["score"] for m in header["masks"]] == [0.0, 1.0]  # a text-only object selects no region


def test_raw_client_gets_replies_for_all_four_ops(dealer):
    dealer.send(request("health", "op-h"))
    dealer.send(request("segment", "op-s", image=IMAGE, objects=[{"points": [[3, 3]]}]), png())
    dealer.send(generate("op-g"), png())
    dealer.send(request("cancel", "op-c", target="nothing-by-that-id"))
    finals = {}
    while len(finals) < 4:
        header, _, _ = dealer.final()
        finals[header["id"]] = header
    assert all(h["type"] == "result" and h["v"] == 1 for h in finals.values())
    assert finals["op-c"]["cancelled"] is False
    assert finals["op-h"]["status"] == "ok" and finals["op-s"]["masks"] and finals["op-g"]["audio"]


BAD_FRAMES = [
    ([b"not json"], None, "bad_request"),
    ([b'{"v": 1, "id": "t", "op": "health"'], None, "bad_request"),  # truncated JSON
    ([b"[1, 2, 3]"], None, "bad_request"),
    ([b"\xff\x00\xfe"], None, "bad_request"),
    ([b""], None, "bad_request"),
    ([b"{" * 40000], None, "bad_request"),
    ([b" " * (64 * 1024 + 1)], None, "too_large"),
    ([json.dumps({"v": 1, "id": 42, "op": "health"}).encode()], None, "bad_request"),
    ([json.dumps({"v": 2, "id": "old", "op": "health"}).encode()], "old", "unsupported_version"),
    ([json.dumps({"v": 1, "id": "u", "op": "explode"}).encode()], "u", "unknown_op"),
    ([json.dumps({"v": 1, "id": "x", "op": "generate", "image": {"blob": 3, "format": "png"},
                  "objects": [{"points": [[1, 1]]}]}).encode(), b"junk"], "x", "bad_request"),
    ([json.dumps({"v": 1, "id": "t", "op": "generate", "image": IMAGE, "objects": [{"points": [[1, 1]]}],
                  "seed": "seven"}).encode(), png()], "t", "bad_request"),
    ([json.dumps({"v": 1, "id": "p", "op": "segment", "image": IMAGE, "objects": [{"points": [[500, 1]]}]}).encode(),
      png()], "p", "bad_request"),
    ([json.dumps({"v": 1, "id": "m", "op": "segment", "image": IMAGE,
                  "objects": [{"mask": {"blob": 2, "format": "png"}}]}).encode(), png(), png(10, 10)],
     "m", "bad_request"),
    ([json.dumps({"v": 1, "id": "n", "op": "segment", "image": IMAGE, "objects": [{"points": [[1, 1]]}] * 17})
      .encode(), png()], "n", "too_large"),
    ([json.dumps({"v": 1, "id": "k", "op": "segment", "image": IMAGE, "objects": [{"points": [[1, 1]] * 65}]})
      .encode(), png()], "k", "too_large"),
    ([json.dumps({"v": 1, "id": "var", "op": "generate", "image": IMAGE, "objects": [{"points": [[1, 1]]}],
                  "variations": 9}).encode(), png()], "var", "too_large"),
    ([json.dumps({"v": 1, "id": "big", "op": "segment", "image": IMAGE, "objects": [{"points": [[1, 1]]}]})
      .encode(), png(4097, 1)], "big", "too_large"),
]


@pytest.mark.parametrize("frames, reply_id, code", BAD_FRAMES)
def test_bad_input_gets_its_error_and_the_server_keeps_serving(dealer, frames, reply_id, code):
    dealer.send_frames(*frames)
    header, _, _ = dealer.final()
    assert (header["type"], header["id"], header["code"]) == ("error", reply_id, code)
    assert header["message"]
    assert dealer.health()["status"] == "ok"


def test_undecodable_images_and_masks_are_bad_requests(dealer):
    valid = png()
    corrupt = valid[:40] + bytes(len(valid) - 40)  # a real PNG header, then zeros
    jpeg_header_only = b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03" + bytes(20)
    dealer.send(generate("corrupt"), corrupt)
    dealer.send(generate("jpeg", image={"blob": 1, "format": "jpeg"}), jpeg_header_only)
    dealer.send(generate("mask", objects=[{"mask": {"blob": 2, "format": "png"}}]), valid,
                png(WIDTH, HEIGHT)[:60] + bytes(100))
    replies = {h["id"]: h for h, _, _ in (dealer.final() for _ in range(3))}
    assert {k: (h["type"], h["code"]) for k, h in replies.items()} == {
        "corrupt": ("error", "bad_request"), "jpeg": ("error", "bad_request"), "mask": ("error", "bad_request")}
    assert "undecodable" in replies["corrupt"]["message"]
    assert dealer.health()["status"] == "ok"


def test_duration_above_the_model_maximum_is_too_large(dealer):
    dealer.send(generate("long", duration=1000.0), png())
    header, _, _ = dealer.final()
    assert (header["id"], header["code"]) == ("long", "too_large")


def test_oversize_message_is_too_large(dealer):
    dealer.send(request("health", "huge"), bytes(64 * 1024 * 1024 + 1))
    header, _, _ = dealer.final()
    assert (header["id"], header["code"]) == ("huge", "too_large")


def test_eight_concurrent_clients(server):
    results, errors = {}, []

    def client(n: int):
        try:
            with raw_dealer(server) as dealer:
                dealer.send(request("health", f"h{n}"))
                dealer.send(generate(f"g{n}", seed=n), png(seed=n))
                replies = {h["id"]: h for h, _, _ in (dealer.final() for _ in range(2))}
                results[n] = replies
        except Exception as exc:  # reported below, with the client's number
            errors.append((n, exc))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert sorted(results) == list(range(8))
    for n, replies in results.items():
        assert replies[f"h{n}"]["type"] == "result"
        assert replies[f"g{n}"]["type"] == "result" and replies[f"g{n}"]["audio"][0]["seed"] == n


def test_busy_batching_cancel_and_duplicate_ids_with_a_held_job():
    gated = GatedGenerator(tiny_engine().generator)
    with running_server(lambda: engine_with(gated), queue_size=3) as server, raw_dealer(server) as dealer:
        dealer.wait_until_ready()
        dealer.send(generate("held"), png())
        assert gated.entered.wait(60)
        dealer.send(generate("held"), png())  # same id while the first is in flight
        header, _, _ = dealer.final()
        assert (header["id"], header["code"]) == ("held", "bad_request")
        dealer.send(generate("b1", seed=1), png())
        dealer.send(generate("b2", seed=2), png())
        dealer.send(generate("over"), png())
        header, _, _ = dealer.final()
        assert (header["id"], header["code"]) == ("over", "busy")
        assert dealer.health()["queue"] == 3
        dealer.send(request("cancel", "c", target="held"))
        first, second = dealer.final(), dealer.final()
        replies = {first[0]["id"]: first[0], second[0]["id"]: second[0]}
        assert replies["held"]["code"] == "cancelled"  # at once: the job is still held
        assert replies["c"]["type"] == "result" and replies["c"]["cancelled"] is True
        gated.release.set()
        assert gated.stopped.wait(60)  # the worker stopped the cancelled job at its next step
        finals = {h["id"]: h for h, _, _ in (dealer.final() for _ in range(2))}
        assert {k: h["type"] for k, h in finals.items()} == {"b1": "result", "b2": "result"}
        assert gated.batch_sizes == [1, 2]  # b1 and b2 queued together ran as one batch
        assert dealer.health()["queue"] == 0


def test_engine_failure_is_internal_and_the_server_keeps_serving():
    with running_server(lambda: engine_with(FailingGenerator(tiny_engine().generator))) as server, \
            raw_dealer(server) as dealer:
        dealer.wait_until_ready()
        dealer.send(generate("boom"), png())
        header, _, _ = dealer.final()
        assert (header["id"], header["code"]) == ("boom", "internal") and "fire" in header["message"]
        dealer.send(request("segment", "after", image=IMAGE, objects=[{"points": [[3, 3]]}]), png())
        assert dealer.final()[0]["type"] == "result"


def test_shutdown_cancels_the_job_in_flight():
    gated = GatedGenerator(tiny_engine().generator)
    with running_server(lambda: engine_with(gated)) as server, raw_dealer(server) as dealer:
        dealer.wait_until_ready()
        dealer.send(generate("inflight"), png())
        assert gated.entered.wait(60)
        server.stop()
        header, _, _ = dealer.final()
        assert (header["id"], header["code"]) == ("inflight", "cancelled")
        gated.release.set()
        assert gated.stopped.wait(60)


def test_an_engine_that_fails_to_load_answers_queued_jobs_and_stops_the_server():
    from sounding.server.config import ServerConfig
    from sounding.server.router import EngineLoadError, Server

    may_fail = threading.Event()

    def broken_factory():
        may_fail.wait(60)
        raise FileNotFoundError("no weights at /nowhere")

    server = Server(ServerConfig(bind="tcp://127.0.0.1:*"), broken_factory)
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(_run_and_catch(server)), daemon=True)
    thread.start()
    server.wait_bound(60)
    with raw_dealer(server) as dealer:
        dealer.send(generate("queued"), png())
        assert dealer.health()["status"] == "loading"  # the job was queued before this reply
        may_fail.set()
        header, _, _ = dealer.final()
        assert (header["id"], header["code"]) == ("queued", "internal") and "/nowhere" in header["message"]
    thread.join(60)
    assert isinstance(outcome[0], EngineLoadError)


def _run_and_catch(server) -> Exception | None:
    try:
        server.run()
    except Exception as exc:  # the test inspects it
        return exc
    return None


def test_mutated_requests_each_get_exactly_one_final_reply(dealer):
    import random

    rng = random.Random(1234)
    values = [None, "x", -1, 0, 1, 1.5, [], {}, True, "9" * 100, [[1, 2]], {"blob": 1}, {"blob": 2, "format": "png"}]
    sent = 0
    for n in range(60):
        header = generate(f"m{n}", objects=[{"points": [[5, 5]], "labels": [1], "text": "t"}], duration=0.2)
        for _ in range(rng.randint(1, 3)):
            objects = header.get("objects")
            first = objects[0] if isinstance(objects, list) and objects and isinstance(objects[0], dict) else {}
            target = first if first and rng.random() < 0.4 else header
            key = rng.choice(sorted(target))
            if rng.random() < 0.3:
                del target[key]
            else:
                target[key] = rng.choice(values)
        frames = [json.dumps(header).encode(), png()][:rng.randint(1, 2)]
        if rng.random() < 0.2:
            frames[0] = frames[0][:rng.randint(0, len(frames[0]))]
        dealer.send_frames(*frames)
        sent += 1
    finals = [dealer.final()[0] for _ in range(sent)]
    assert {h["type"] for h in finals} == {"result", "error"}  # some mutations stay valid
    answered = [h["id"] for h in finals if h["id"] is not None]
    assert len(answered) == len(set(answered))  # never two final replies for one id
    with pytest.raises(TimeoutError):
        dealer.receive(timeout=0.3)  # and nothing more
    assert dealer.health()["status"] == "ok"
