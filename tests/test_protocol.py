"""Protocol v1 without sockets: framing, image headers, and every validation rule with its error code."""
import io
import json

import pytest
from PIL import Image
from sounding_protocol.constants import (
    BAD_REQUEST, MAX_HEADER_BYTES, MAX_OBJECTS, MAX_POINTS_PER_OBJECT, MAX_VARIATIONS, TOO_LARGE, UNKNOWN_OP,
    UNSUPPORTED_VERSION, Limits,
)
from sounding_protocol.errors import ProtocolError
from sounding_protocol.framing import decode_header, encode_message
from sounding_protocol.image_header import image_size
from sounding_protocol.validation import (
    CancelRequest, GenerateRequest, HealthRequest, SegmentRequest, parse_request, readable_id,
)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


PNG = encoded(Image.new("RGB", (40, 30), "red"), "PNG")
JPEG = encoded(Image.new("RGB", (41, 29), "blue"), "JPEG")
MASK = encoded(Image.new("L", (40, 30), 255), "PNG")


def parse(header: dict, *blobs: bytes, limits: Limits = Limits()):
    frames = encode_message(header, blobs)
    return parse_request(decode_header(frames[0], limits), frames, limits)


def generate(**fields) -> dict:
    return {"v": 1, "id": "g", "op": "generate", "image": {"blob": 1, "format": "png"},
            "objects": [{"points": [[10, 10]]}], **fields}


def code_of(header: dict, *blobs: bytes, limits: Limits = Limits()) -> str:
    with pytest.raises(ProtocolError) as info:
        parse(header, *blobs, limits=limits)
    return info.value.code


def test_image_size_reads_png_and_jpeg_headers():
    assert image_size(PNG, "png") == (40, 30)
    assert image_size(JPEG, "jpeg") == (41, 29)
    progressive = encoded(Image.new("RGB", (17, 9)), "JPEG", progressive=True)
    assert image_size(progressive, "jpeg") == (17, 9)
    for data, fmt in ((b"hello", "png"), (PNG, "jpeg"), (JPEG, "png"), (b"\xff\xd8\xff", "jpeg")):
        with pytest.raises(ProtocolError) as info:
            image_size(data, fmt)
        assert info.value.code == BAD_REQUEST


def test_framing_round_trip_and_header_limits():
    frames = encode_message({"v": 1, "id": "x", "op": "health", "text": "sirène"}, [b"\x00\x01"])
    assert decode_header(frames[0])["text"] == "sirène" and frames[1] == b"\x00\x01"
    with pytest.raises(ProtocolError) as info:
        decode_header(b" " * (MAX_HEADER_BYTES + 1))
    assert info.value.code == TOO_LARGE
    for bad in (b"not json", b'{"v": 1, "id": "x"', b"[1, 2]", b"\xff\xfe", b'{"v": NaN}', b"[" * 50000, b""):
        with pytest.raises(ProtocolError) as info:
            decode_header(bad)
        assert info.value.code == BAD_REQUEST
    with pytest.raises(ValueError):
        encode_message({"x": float("nan")})


def test_every_op_parses_into_its_dataclass():
    assert parse({"v": 1, "id": "h", "op": "health"}) == HealthRequest(id="h")
    assert parse({"v": 1, "id": "c", "op": "cancel", "target": "g"}) == CancelRequest(id="c", target="g")
    segment = parse({"v": 1, "id": "s", "op": "segment", "image": {"blob": 1, "format": "jpeg"},
                     "objects": [{"points": [[1.5, 2], [41, 29]], "labels": [1, 0]}]}, JPEG)
    assert isinstance(segment, SegmentRequest) and (segment.image.width, segment.image.height) == (41, 29)
    assert segment.objects[0].points == [(1.5, 2.0), (41.0, 29.0)] and segment.objects[0].labels == [1, 0]
    request = parse(generate(objects=[{"points": [[3, 4]], "text": "dog"}, {"mask": {"blob": 2, "format": "png"}},
                                      {"text": "rain"}], duration=2.5, seed=9, steps=4, guidance=3, variations=3,
                             format="flac", sounds_like="dog", stems=True), PNG, MASK)
    assert isinstance(request, GenerateRequest)
    assert (request.duration, request.seed, request.steps, request.guidance, request.variations, request.format,
            request.sounds_like, request.stems) == (2.5, 9, 4, 3.0, 3, "flac", "dog", True)
    assert request.objects[0].labels == [1] and request.objects[1].mask == MASK
    assert request.objects[2].text == "rain" and request.objects[2].points is None  # the text-only extension
    defaults = parse(generate(), PNG)
    assert (defaults.duration, defaults.seed, defaults.variations, defaults.format, defaults.sounds_like,
            defaults.stems) == (None, None, 1, "wav", None, False)


@pytest.mark.parametrize("header, code", [
    ({"id": "x", "op": "health"}, BAD_REQUEST),  # no version
    ({"v": 2, "id": "x", "op": "health"}, UNSUPPORTED_VERSION),
    ({"v": "1", "id": "x", "op": "health"}, UNSUPPORTED_VERSION),
    ({"v": True, "id": "x", "op": "health"}, UNSUPPORTED_VERSION),
    ({"v": 1, "op": "health"}, BAD_REQUEST),
    ({"v": 1, "id": 5, "op": "health"}, BAD_REQUEST),
    ({"v": 1, "id": "", "op": "health"}, BAD_REQUEST),
    ({"v": 1, "id": "x" * 65, "op": "health"}, BAD_REQUEST),
    ({"v": 1, "id": "x"}, BAD_REQUEST),
    ({"v": 1, "id": "x", "op": ["health"]}, BAD_REQUEST),
    ({"v": 1, "id": "x", "op": "explode"}, UNKNOWN_OP),
    ({"v": 1, "id": "x", "op": "cancel"}, BAD_REQUEST),
    ({"v": 1, "id": "x", "op": "cancel", "target": 3}, BAD_REQUEST),
])
def test_common_fields(header, code):
    assert code_of(header) == code


@pytest.mark.parametrize("fields, code", [
    ({"image": None}, BAD_REQUEST),
    ({"image": {"blob": 2, "format": "png"}}, BAD_REQUEST),  # out of range
    ({"image": {"blob": 0, "format": "png"}}, BAD_REQUEST),  # frame 0 is the header
    ({"image": {"blob": True, "format": "png"}}, BAD_REQUEST),
    ({"image": {"blob": 1, "format": "gif"}}, BAD_REQUEST),
    ({"image": {"blob": 1, "format": "jpeg"}}, BAD_REQUEST),  # PNG bytes declared as JPEG
    ({"objects": []}, BAD_REQUEST),
    ({"objects": {"points": [[1, 1]]}}, BAD_REQUEST),
    ({"objects": [{}]}, BAD_REQUEST),
    ({"objects": ["dog"]}, BAD_REQUEST),
    ({"objects": [{"points": []}]}, BAD_REQUEST),
    ({"objects": [{"points": [[1]]}]}, BAD_REQUEST),
    ({"objects": [{"points": [["1", 2]]}]}, BAD_REQUEST),
    ({"objects": [{"points": [[41, 2]]}]}, BAD_REQUEST),  # outside the 40x30 image
    ({"objects": [{"points": [[-1, 2]]}]}, BAD_REQUEST),
    ({"objects": [{"points": [[1, 2]], "labels": [2]}]}, BAD_REQUEST),
    ({"objects": [{"points": [[1, 2]], "labels": [1, 1]}]}, BAD_REQUEST),
    ({"objects": [{"points": [[1, 2]], "mask": {"blob": 1, "format": "png"}}]}, BAD_REQUEST),
    ({"objects": [{"mask": {"blob": 1, "format": "jpeg"}}]}, BAD_REQUEST),
    ({"objects": [{"text": 5}]}, BAD_REQUEST),
    ({"objects": [{"text": "  "}]}, BAD_REQUEST),
    ({"objects": [{"text": "x" * 257}]}, TOO_LARGE),
    ({"objects": [{"points": [[1, 1]]}] * (MAX_OBJECTS + 1)}, TOO_LARGE),
    ({"objects": [{"points": [[1, 1]] * (MAX_POINTS_PER_OBJECT + 1)}]}, TOO_LARGE),
    ({"duration": 0}, BAD_REQUEST),
    ({"duration": "2"}, BAD_REQUEST),
    ({"seed": -1}, BAD_REQUEST),
    ({"seed": 1.5}, BAD_REQUEST),
    ({"steps": 0}, BAD_REQUEST),
    ({"steps": 10**6}, TOO_LARGE),
    ({"guidance": -1}, BAD_REQUEST),
    ({"guidance": "high"}, BAD_REQUEST),
    ({"variations": 0}, BAD_REQUEST),
    ({"variations": MAX_VARIATIONS + 1}, TOO_LARGE),
    ({"format": "mp3"}, BAD_REQUEST),
    ({"sounds_like": 3}, BAD_REQUEST),
    ({"sounds_like": " "}, BAD_REQUEST),
    ({"sounds_like": "x" * 65}, TOO_LARGE),
    ({"objects": [{"points": [[1, 1]], "sounds_like": 3}]}, BAD_REQUEST),
    ({"objects": [{"points": [[1, 1]], "sounds_like": ""}]}, BAD_REQUEST),
    ({"objects": [{"points": [[1, 1]], "sounds_like": "x" * 65}]}, TOO_LARGE),
    ({"objects": [{"text": "rain", "sounds_like": "rain"}]}, BAD_REQUEST),  # selects nothing to make a sound of
    ({"objects": [{"points": [[1, 1]], "sounds_like": "dog"}], "sounds_like": "cat"}, BAD_REQUEST),  # both levels
    ({"stems": 1}, BAD_REQUEST),
    ({"stems": "yes"}, BAD_REQUEST),
])
def test_generate_fields(fields, code):
    assert code_of(generate(**fields), PNG) == code


def test_masks_must_match_the_image_size():
    small_mask = encoded(Image.new("L", (20, 30)), "PNG")
    header = generate(objects=[{"mask": {"blob": 2, "format": "png"}}])
    assert code_of(header, PNG, small_mask) == BAD_REQUEST
    assert code_of(header, PNG, b"garbage") == BAD_REQUEST


def test_an_object_may_name_its_own_class_in_generate_and_segment_ignores_it():
    objects = [{"points": [[3, 4]], "sounds_like": "guitar"}, {"mask": {"blob": 2, "format": "png"}}]
    request = parse(generate(objects=objects), PNG, MASK)
    assert [o.sounds_like for o in request.objects] == ["guitar", None] and request.sounds_like is None
    segment = parse({"v": 1, "id": "s", "op": "segment", "image": {"blob": 1, "format": "png"},
                     "objects": [{"points": [[3, 4]], "sounds_like": 3}]}, PNG)
    assert segment.objects[0].sounds_like is None


def test_segment_refuses_text_only_objects():
    header = {"v": 1, "id": "s", "op": "segment", "image": {"blob": 1, "format": "png"}, "objects": [{"text": "x"}]}
    assert code_of(header, PNG) == BAD_REQUEST


def test_size_limits_are_checked_from_headers():
    wide = encoded(Image.new("L", (4097, 1)), "PNG")
    assert code_of(generate(objects=[{"text": "x"}]), wide) == TOO_LARGE
    tight = Limits(message_bytes=len(PNG) + 100)
    assert code_of(generate(), PNG, b"x" * 200, limits=tight) == TOO_LARGE


def test_readable_id_is_none_for_invalid_ids():
    assert readable_id({"id": "abc"}) == "abc"
    assert readable_id({"id": 3}) is None and readable_id({}) is None and readable_id({"id": "x" * 65}) is None


def test_header_is_json_object_text():
    frames = encode_message({"v": 1, "id": "x", "op": "health"})
    assert json.loads(frames[0]) == {"v": 1, "id": "x", "op": "health"} and len(frames) == 1
