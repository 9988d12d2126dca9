"""SoundingClient against the real server (and against a silent ROUTER for timeouts)."""
import time

import numpy as np
import pytest
import zmq
from sounding_protocol.client import ObjectSelection, RequestTimeout, SoundingClient
from sounding_protocol.constants import OP_GENERATE, OP_HEALTH, OP_SEGMENT
from sounding_protocol.errors import ProtocolError
from server_harness import (
    HEIGHT, WIDTH, GatedGenerator, engine_with, mask_png, png, read_mask, running_server, tiny_engine,
    wait_until_ready,
)

CLICK = [ObjectSelection(points=[(20, 20)])]


@pytest.fixture(scope="module")
def client():
    with running_server() as server, SoundingClient(server.endpoint, timeout=60) as client:
        wait_until_ready(client.health)
        yield client


def test_operations_return_typed_results(client):
    health = client.health()
    assert health["model"]["name"] == "tiny" and health["protocol"] == 1
    exact = np.zeros((HEIGHT, WIDTH), bool)
    exact[:10, :10] = True
    masks = client.segment(png(), [ObjectSelection(points=[(5, 5), (50, 40)], labels=[1, 0]),
                                   ObjectSelection(mask_png=mask_png(exact))])
    assert len(masks) == 2 and np.array_equal(read_mask(masks[1].png), exact) and masks[1].score == 1.0
    seen = []
    result = client.generate(png(), CLICK, seed=3, steps=2, variations=2, audio_format="wav",
                             progress=lambda *update: seen.append(update))
    assert [clip.seed for clip in result.audio] == [3, 4]
    assert all(clip.data[:4] == b"RIFF" and clip.sample_rate == 16000 for clip in result.audio)
    assert ("denoise", 2, 2) in seen and seen[0][0] == "segment"
    assert len(result.masks) == 1


def test_several_requests_in_flight_are_matched_by_id(client):
    fields = {"image": {"blob": 1, "format": "png"}, "objects": [{"points": [[1, 1]]}], "steps": 2, "seed": 11}
    generate_id = client.send(OP_GENERATE, fields, [png()])
    segment_id = client.send(OP_SEGMENT, {k: fields[k] for k in ("image", "objects")}, [png()])
    health_id = client.send(OP_HEALTH)
    assert len({generate_id, segment_id, health_id}) == 3
    assert client.wait(health_id).header["status"] == "ok"
    assert client.wait(segment_id).header["masks"]
    seen = []
    reply = client.wait(generate_id, progress=lambda *update: seen.append(update))
    assert reply.header["audio"][0]["seed"] == 11 and reply.header["id"] == generate_id
    assert seen and seen[-1][0] == "vocode"  # progress that arrived while waiting on the others was kept
    with pytest.raises(KeyError):
        client.wait(generate_id)  # answered already


def test_error_replies_raise_protocol_error(client):
    with pytest.raises(ProtocolError) as info:
        client.generate(png(), [ObjectSelection(points=[(5000, 5)])])
    assert info.value.code == "bad_request" and "outside" in info.value.message
    with pytest.raises(ProtocolError) as info:
        client.request("dance")
    assert info.value.code == "unknown_op"


def test_cancel_through_the_client():
    gated = GatedGenerator(tiny_engine().generator)
    with running_server(lambda: engine_with(gated)) as server, SoundingClient(server.endpoint, timeout=60) as client:
        fields = {"image": {"blob": 1, "format": "png"}, "objects": [{"text": "bell"}], "steps": 2}
        job = client.send(OP_GENERATE, fields, [png()])
        assert gated.entered.wait(60)
        assert client.cancel(job) is True
        with pytest.raises(ProtocolError) as info:
            client.wait(job)
        assert info.value.code == "cancelled"
        assert client.cancel("unknown") is False
        gated.release.set()
        assert gated.stopped.wait(60)


def test_timeout_reconnects_with_a_fresh_socket():
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind("tcp://127.0.0.1:*")
    try:
        with SoundingClient(router.getsockopt_string(zmq.LAST_ENDPOINT), timeout=0.3) as client:
            started = time.monotonic()
            with pytest.raises(RequestTimeout):
                client.health()
            assert 0.25 <= time.monotonic() - started < 5
            first_identity = router.recv_multipart()[0]
            request_id = client.send(OP_HEALTH)
            assert router.poll(5000)
            identity, header = router.recv_multipart()
            assert identity != first_identity  # the timed-out socket was replaced
            router.send_multipart([identity, b'{"v": 1, "type": "result", "id": "%s", "status": "ok"}'
                                   % request_id.encode()])
            assert client.wait(request_id).header["status"] == "ok"
    finally:
        router.close(linger=0)


def test_recognised_classes_are_parsed_and_a_malformed_field_is_an_error():
    from sounding_protocol.client import Reply, generate_result

    header = {"type": "result", "id": "g", "audio": [], "masks": [],
              "recognised": [{"label": "dog", "similarity": 0.8}, {"label": "cow", "similarity": 0.5}]}
    assert [(r.label, r.similarity) for r in generate_result(Reply(header, [])).recognised] == [("dog", 0.8),
                                                                                                ("cow", 0.5)]
    assert generate_result(Reply({**header, "recognised": []}, [])).recognised == []
    assert generate_result(Reply({**header, "sounds_like": "dog"}, [])).sounds_like == "dog"
    del header["recognised"]  # a server from before the fields
    assert generate_result(Reply(header, [])).recognised == [] and generate_result(Reply(header, [])).sounds_like is None
    for bad in ([{"label": "dog"}], [{"label": "dog", "similarity": "high"}], 3):
        with pytest.raises(ProtocolError, match="recognised"):
            generate_result(Reply({**header, "recognised": bad}, []))


def test_alternatives_are_the_recognised_classes_but_the_one_made():
    from sounding_protocol.client import Reply, generate_result

    recognised = [{"label": "dog", "similarity": 0.8}, {"label": "cow", "similarity": 0.5},
                  {"label": "pig", "similarity": 0.4}]
    header = {"type": "result", "id": "g", "audio": [], "masks": [], "recognised": recognised}

    def alternatives(**fields):
        return generate_result(Reply({**header, **fields}, [])).alternatives

    assert alternatives(sounds_like="dog") == ["cow", "pig"]
    assert alternatives(sounds_like="cow") == ["dog", "pig"]  # asked for by name: the best guess is offered
    assert alternatives(sounds_like="bell") == ["dog", "cow", "pig"]
    assert alternatives(sounds_like="dog + cow", recognised=recognised[:2]) == []  # one class per object: no choice
    assert alternatives() == []  # a model without classes


def test_a_mix_offers_each_object_its_own_alternatives():
    from sounding_protocol.client import ObjectSelection, Reply, generate_message, generate_result, layer_note

    piano = [{"label": "piano", "similarity": 0.9}, {"label": "guitar", "similarity": 0.5}]
    drum = [{"label": "drum", "similarity": 0.4}, {"label": "guitar", "similarity": 0.35}]
    layers = [{"object": 0, "recognised": piano, "sounds_like": "piano", "unsure": False},
              {"object": 2, "recognised": drum, "sounds_like": "guitar", "unsure": False}]
    header = {"type": "result", "id": "g", "audio": [], "masks": [], "recognised": [piano[0], drum[0]],
              "sounds_like": "piano + guitar", "layers": layers}
    result = generate_result(Reply(header, []))
    assert result.alternatives == []  # several objects: each has its own
    assert [(layer.object, layer.sounds_like, layer.alternatives) for layer in result.layers] == \
        [(0, "piano", ["guitar"]), (2, "guitar", ["drum"])]  # asked for by name: the recognised class is offered
    assert layer_note(result.layers[1]) == "object 3: guitar, or like drum"
    layers[0]["unsure"], layers[0]["recognised"] = True, piano[:1]
    assert layer_note(generate_result(Reply(header, [])).layers[0]) == "object 1: piano (unsure)"
    assert generate_result(Reply({**header, "layers": []}, [])).layers == []
    for bad in ([{"object": 0}], [{"object": "x", "recognised": [], "sounds_like": "a"}], 3, [3],
                [{**layers[0], "audio": [{"blob": 1}]}]):
        with pytest.raises(ProtocolError, match="layers"):
            generate_result(Reply({**header, "layers": bad}, [b"wav"]))
    clip = {"blob": 2, "format": "wav", "sample_rate": 16000, "duration": 1.0, "seed": 7}  # stems: after the mix
    stems = generate_result(Reply({**header, "layers": [{**layers[0], "audio": [clip]}]}, [b"mix", b"piano"]))
    assert [(c.data, c.seed, c.duration) for c in stems.layers[0].audio] == [(b"piano", 7, 1.0)]
    with pytest.raises(ProtocolError, match="blob 2"):
        generate_result(Reply({**header, "layers": [{**layers[0], "audio": [clip]}]}, [b"mix"]))

    fields, _ = generate_message(b"png", [ObjectSelection(points=[(1, 2)], sounds_like="guitar"),
                                          ObjectSelection(points=[(3, 4)])])
    assert [o.get("sounds_like") for o in fields["objects"]] == ["guitar", None] and "sounds_like" not in fields
    assert "stems" not in fields and generate_message(b"png", [], stems=True)[0]["stems"] is True
