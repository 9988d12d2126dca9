"""Request headers -> dataclasses, with every field checked; anything wrong raises ``ProtocolError(code, message)``.

Blob references are resolved here, so a parsed request carries its image and mask bytes and needs no frames.
Sizes come from the image headers (``image_header``): limits and point/mask checks happen before any pixel decoding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Union

from .constants import (
    AUDIO_FORMATS, BAD_REQUEST, DEFAULT_LIMITS, IMAGE_FORMATS, MASK_FORMATS, MAX_CLASS_CHARS, MAX_ID_CHARS, MAX_SEED,
    OP_CANCEL, OP_GENERATE, OP_HEALTH, OP_SEGMENT, OPS, PROTOCOL_VERSION, TOO_LARGE, UNKNOWN_OP, UNSUPPORTED_VERSION,
    Limits,
)
from .errors import ProtocolError
from .framing import Frames, check_message_size, is_finite_number
from .image_header import image_size


@dataclass
class ImageInput:
    data: bytes
    format: str  # "png" or "jpeg"
    width: int
    height: int


@dataclass
class ObjectInput:
    """One selected object: ``points`` (+ ``labels``) OR an exact ``mask`` (PNG bytes), and/or a ``text`` hint;
    in ``generate``, optionally the class this object alone sounds like (``sounds_like``, extension)."""

    points: list[tuple[float, float]] | None = None
    labels: list[int] | None = None
    mask: bytes | None = None
    text: str | None = None
    sounds_like: str | None = None


@dataclass
class HealthRequest:
    op: ClassVar[str] = OP_HEALTH
    id: str


@dataclass
class CancelRequest:
    op: ClassVar[str] = OP_CANCEL
    id: str
    target: str


@dataclass
class SegmentRequest:
    op: ClassVar[str] = OP_SEGMENT
    id: str
    image: ImageInput
    objects: list[ObjectInput]


@dataclass
class GenerateRequest:
    """``None`` for duration/steps/guidance means the model's default; ``None`` seed means the server picks one."""

    op: ClassVar[str] = OP_GENERATE
    id: str
    image: ImageInput
    objects: list[ObjectInput]
    duration: float | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    variations: int = 1
    format: str = "wav"
    sounds_like: str | None = None  # a class of the model's to sound like; None: the class it recognises
    stems: bool = False  # also each object's own clips, where several objects are made apart


Request = Union[HealthRequest, CancelRequest, SegmentRequest, GenerateRequest]


def readable_id(header: dict[str, Any]) -> str | None:
    """The request id to put in an error reply: the header's id when it is a valid one, else None."""
    value = header.get("id")
    return value if _is_valid_id(value) else None


def parse_request(header: dict[str, Any], frames: Frames, limits: Limits = DEFAULT_LIMITS) -> Request:
    """A decoded header (``framing.decode_header``) and all frames of the message -> a request dataclass.

    Checks in the order an error reply is most useful: version, id, total size, op, then the op's fields.
    """
    version = header.get("v")
    if "v" not in header:
        raise ProtocolError(BAD_REQUEST, "missing field 'v' (the protocol version, 1)")
    if not _is_int(version) or version != PROTOCOL_VERSION:
        raise ProtocolError(UNSUPPORTED_VERSION, f"protocol version {version!r} is not supported; "
                                                 f"this server speaks v{PROTOCOL_VERSION}")
    request_id = _id_field(header, "id")
    check_message_size(frames, limits)
    op = header.get("op")
    if not isinstance(op, str):
        raise ProtocolError(BAD_REQUEST, "field 'op' must be a string")
    if op not in OPS:
        raise ProtocolError(UNKNOWN_OP, f"unknown op {op!r}; supported: {', '.join(OPS)}")
    if op == OP_HEALTH:
        return HealthRequest(id=request_id)
    if op == OP_CANCEL:
        return CancelRequest(id=request_id, target=_id_field(header, "target"))
    image = _image_field(header, frames, limits)
    objects = _objects_field(header, frames, image, limits, for_generate=op == OP_GENERATE)
    if op == OP_SEGMENT:
        return SegmentRequest(id=request_id, image=image, objects=objects)
    return _generate_request(header, request_id, image, objects, limits)


def _generate_request(header, request_id, image, objects, limits: Limits) -> GenerateRequest:
    duration = _optional(header, "duration", is_finite_number, "a number of seconds")
    if duration is not None and duration <= 0:
        raise ProtocolError(BAD_REQUEST, "field 'duration' must be positive")
    seed = _optional(header, "seed", _is_int, "an integer")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ProtocolError(BAD_REQUEST, f"field 'seed' must be in [0, {MAX_SEED}]")
    steps = _optional(header, "steps", _is_int, "an integer")
    if steps is not None and steps < 1:
        raise ProtocolError(BAD_REQUEST, "field 'steps' must be at least 1")
    if steps is not None and steps > limits.steps:
        raise ProtocolError(TOO_LARGE, f"steps={steps} is above the limit of {limits.steps}")
    guidance = _optional(header, "guidance", is_finite_number, "a number")
    if guidance is not None and guidance < 0:
        raise ProtocolError(BAD_REQUEST, "field 'guidance' must not be negative")
    variations = _optional(header, "variations", _is_int, "an integer")
    variations = 1 if variations is None else variations
    if variations < 1:
        raise ProtocolError(BAD_REQUEST, "field 'variations' must be at least 1")
    if variations > limits.variations:
        raise ProtocolError(TOO_LARGE, f"variations={variations} is above the limit of {limits.variations}")
    if seed is not None and seed + variations - 1 > MAX_SEED:
        raise ProtocolError(BAD_REQUEST, "seed + variations - 1 must not pass the largest seed")
    fmt = _optional(header, "format", lambda v: isinstance(v, str), "a string")
    fmt = "wav" if fmt is None else fmt
    if fmt not in AUDIO_FORMATS:
        raise ProtocolError(BAD_REQUEST, f"audio format {fmt!r} is not one of {', '.join(AUDIO_FORMATS)}")
    sounds_like = _class_name(header, "sounds_like")
    if sounds_like is not None and any(obj.sounds_like is not None for obj in objects):
        raise ProtocolError(BAD_REQUEST, "give 'sounds_like' for the whole request or for single objects, not both")
    stems = _optional(header, "stems", lambda v: isinstance(v, bool), "true or false")
    return GenerateRequest(id=request_id, image=image, objects=objects, duration=None if duration is None
                           else float(duration), seed=seed, steps=steps, guidance=None if guidance is None
                           else float(guidance), variations=variations, format=fmt, sounds_like=sounds_like,
                           stems=stems is True)


def _class_name(fields: dict, name: str, where: str = "") -> str | None:
    """An optional class name (``sounds_like``): a non-blank string of at most ``MAX_CLASS_CHARS`` characters."""
    label = fields.get(name)
    if label is not None and not (isinstance(label, str) and label.strip()):
        raise ProtocolError(BAD_REQUEST, f"field '{where}{name}' must be a class name (see health's model.classes), "
                                         f"got {label!r:.40}")
    if label is not None and len(label) > MAX_CLASS_CHARS:
        raise ProtocolError(TOO_LARGE, f"field '{where}{name}' has {len(label)} characters, the limit is "
                                       f"{MAX_CLASS_CHARS}")
    return label


def _image_field(header, frames: Frames, limits: Limits) -> ImageInput:
    data, fmt = _blob_field(header.get("image"), frames, IMAGE_FORMATS, "image")
    width, height = image_size(data, fmt)
    if width > limits.image_side or height > limits.image_side:
        raise ProtocolError(TOO_LARGE, f"image is {width}x{height}, the limit is "
                                       f"{limits.image_side}x{limits.image_side}")
    return ImageInput(data=data, format=fmt, width=width, height=height)


def _objects_field(header, frames: Frames, image: ImageInput, limits: Limits,
                   for_generate: bool) -> list[ObjectInput]:
    objects = header.get("objects")
    if not isinstance(objects, list) or not objects:
        raise ProtocolError(BAD_REQUEST, "field 'objects' must be a non-empty list")
    if len(objects) > limits.objects:
        raise ProtocolError(TOO_LARGE, f"{len(objects)} objects, the limit is {limits.objects}")
    return [_object(obj, i, frames, image, limits, for_generate) for i, obj in enumerate(objects)]


def _object(obj, index: int, frames: Frames, image: ImageInput, limits: Limits, for_generate: bool) -> ObjectInput:
    """``segment`` ignores ``sounds_like``; ``generate`` takes it, and objects of a text hint alone."""
    where = f"objects[{index}]"
    if not isinstance(obj, dict):
        raise ProtocolError(BAD_REQUEST, f"{where} must be an object")
    text = obj.get("text")
    if text is not None:
        if not isinstance(text, str):
            raise ProtocolError(BAD_REQUEST, f"{where}.text must be a string")
        if len(text) > limits.text_chars:
            raise ProtocolError(TOO_LARGE, f"{where}.text has {len(text)} characters, the limit is "
                                           f"{limits.text_chars}")
    sounds_like = _class_name(obj, "sounds_like", f"{where}.") if for_generate else None
    has_points, has_mask = obj.get("points") is not None, obj.get("mask") is not None
    if has_points and has_mask:
        raise ProtocolError(BAD_REQUEST, f"{where} has both points and a mask; give one of them")
    if has_mask:
        if obj.get("labels") is not None:
            raise ProtocolError(BAD_REQUEST, f"{where}.labels only go with points")
        mask, _ = _blob_field(obj["mask"], frames, MASK_FORMATS, f"{where}.mask")
        size = image_size(mask, "png")
        if size != (image.width, image.height):
            raise ProtocolError(BAD_REQUEST, f"{where}.mask is {size[0]}x{size[1]} but the image is "
                                             f"{image.width}x{image.height}")
        return ObjectInput(mask=mask, text=text, sounds_like=sounds_like)
    if has_points:
        points, labels = _points(obj, where, image, limits)
        return ObjectInput(points=points, labels=labels, text=text, sounds_like=sounds_like)
    if not for_generate:
        raise ProtocolError(BAD_REQUEST, f"{where} needs points or a mask")
    if text is None or not text.strip():
        raise ProtocolError(BAD_REQUEST, f"{where} needs points, a mask or a text hint")
    if sounds_like is not None:
        raise ProtocolError(BAD_REQUEST, f"{where}.sounds_like needs points or a mask: a text hint alone selects "
                                         "no object to make a sound of")
    return ObjectInput(text=text)


def _points(obj, where: str, image: ImageInput, limits: Limits) -> tuple[list[tuple[float, float]], list[int]]:
    points = obj["points"]
    if not isinstance(points, list) or not points:
        raise ProtocolError(BAD_REQUEST, f"{where}.points must be a non-empty list of [x, y]")
    if len(points) > limits.points_per_object:
        raise ProtocolError(TOO_LARGE, f"{where} has {len(points)} points, the limit is {limits.points_per_object}")
    parsed = []
    for point in points:
        if not (isinstance(point, list) and len(point) == 2 and all(is_finite_number(c) for c in point)):
            raise ProtocolError(BAD_REQUEST, f"{where}.points must hold [x, y] pairs of numbers, got {point!r:.80}")
        x, y = float(point[0]), float(point[1])
        if not (0 <= x <= image.width and 0 <= y <= image.height):
            raise ProtocolError(BAD_REQUEST, f"{where}: point ({x:g}, {y:g}) is outside the "
                                             f"{image.width}x{image.height} image")
        parsed.append((x, y))
    labels = obj.get("labels")
    if labels is None:
        return parsed, [1] * len(parsed)
    if not isinstance(labels, list) or len(labels) != len(parsed) or any(
            not _is_int(label) or label not in (0, 1) for label in labels):
        raise ProtocolError(BAD_REQUEST, f"{where}.labels must be a list of 0/1, one per point")
    return parsed, list(labels)


def _blob_field(ref, frames: Frames, formats: tuple[str, ...], name: str) -> tuple[bytes, str]:
    if not isinstance(ref, dict):
        raise ProtocolError(BAD_REQUEST, f"field '{name}' must be an object {{\"blob\": k, \"format\": ...}}")
    index, fmt = ref.get("blob"), ref.get("format")
    if not _is_int(index):
        raise ProtocolError(BAD_REQUEST, f"{name}.blob must be an integer frame index")
    if not 1 <= index < len(frames):
        raise ProtocolError(BAD_REQUEST, f"{name}.blob={index} is out of range: the message has "
                                         f"{len(frames) - 1} blob(s), numbered from 1")
    if fmt not in formats:
        raise ProtocolError(BAD_REQUEST, f"{name}.format must be one of {', '.join(formats)}, got {fmt!r:.40}")
    return bytes(frames[index]), fmt


def _id_field(header, name: str) -> str:
    value = header.get(name)
    if not _is_valid_id(value):
        raise ProtocolError(BAD_REQUEST, f"field '{name}' must be a string of 1-{MAX_ID_CHARS} characters")
    return value


def _optional(header, name: str, check, what: str):
    value = header.get(name)
    if value is not None and not check(value):
        raise ProtocolError(BAD_REQUEST, f"field '{name}' must be {what}, got {value!r:.40}")
    return value


def _is_valid_id(value) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_ID_CHARS


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
