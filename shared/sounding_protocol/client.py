"""SoundingClient: one DEALER socket to a Sounding server (protocol v1).

zguide rules: one zmq context per process, the socket is used by one thread only, every wait polls with a timeout
(never blocks forever), and after a timeout the socket is closed with LINGER 0 and reopened (the lazy pirate
pattern, without resending: a long job is followed by its id, its progress and one final reply).

Several requests may be in flight: ``send`` returns an id, ``wait(id)`` keeps replies for other ids until they are
asked for. Imports only pyzmq and the standard library, so the Blender add-on vendors this package as-is.
"""
from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import zmq

from .constants import (
    DEFAULT_ENDPOINT, INTERNAL, LAYER_SEPARATOR, OP_CANCEL, OP_GENERATE, OP_HEALTH, OP_SEGMENT, PROTOCOL_VERSION,
    TYPE_ERROR, TYPE_PROGRESS, TYPE_RESULT,
)
from .errors import ProtocolError
from .framing import decode_header, encode_message

#: Seconds a request may go without any message (progress or final) before the client gives up on it.
DEFAULT_TIMEOUT = 30.0
#: (stage, step, total), as in ``progress`` messages.
ProgressFn = Callable[[str, int, int], None]


class RequestTimeout(TimeoutError):
    """No message for a request within the timeout; the client has reconnected and forgotten its requests."""


@dataclass
class ObjectSelection:
    """One object to select: clicks (``points`` + optional ``labels``) OR an exact ``mask_png``, and/or ``text``;
    ``sounds_like``: the class this object alone sounds like (``generate``; not beside a request-wide one)."""

    points: Sequence[Sequence[float]] | None = None
    labels: Sequence[int] | None = None
    mask_png: bytes | None = None
    text: str | None = None
    sounds_like: str | None = None


@dataclass
class Reply:
    """One message from the server: its header and the blobs (frames 1..n)."""

    header: dict[str, Any]
    blobs: list[bytes]

    @property
    def type(self) -> str | None:
        return self.header.get("type")

    def blob(self, ref: dict[str, Any]) -> bytes:
        index = ref.get("blob")
        if not isinstance(index, int) or not 1 <= index <= len(self.blobs):
            raise ProtocolError(INTERNAL, f"reply refers to blob {index!r} but carries {len(self.blobs)} blob(s)")
        return self.blobs[index - 1]


@dataclass
class MaskResult:
    png: bytes  # 8-bit grey PNG, the image's size, nonzero = object
    score: float


@dataclass
class AudioClip:
    data: bytes  # WAV (16-bit PCM mono) or FLAC
    format: str
    sample_rate: int
    duration: float
    seed: int


def unsure_note(option: str = "sounds-like") -> str:
    """What a result's ``unsure`` means, worded for people, naming the client's own ``option`` for a class (the
    add-on's "Sounds Like"; ``sounding generate`` and the demo say "sounds-like")."""
    return f"unsure: a clicked object is unlike every class the model knows; name one with {option} to choose"


@dataclass
class RecognisedClass:
    """A class the model recognised the selection as (an optional result field; docs/protocol-extensions.md)."""

    label: str
    similarity: float


def _others(recognised: Sequence[RecognisedClass], made: str | None) -> list[str]:
    return [] if made is None else [entry.label for entry in recognised if entry.label != made]


@dataclass
class LayerResult:
    """One object of a mix of objects made apart (an optional result field; docs/protocol-extensions.md)."""

    #: The object's place in the request's ``objects``.
    object: int
    #: Best first: the classes this object resembles.
    recognised: list[RecognisedClass]
    #: The class this object's layer was made as (asked for, else recognised).
    sounds_like: str
    unsure: bool = False
    #: This object's own clips, one per variation, where the request asked for ``stems``; the result's audio mixes
    #: them.
    audio: list[AudioClip] = field(default_factory=list)

    @property
    def alternatives(self) -> list[str]:
        """Other classes this object resembles, best first: what to offer as its own ``sounds_like``."""
        return _others(self.recognised, self.sounds_like)


def layer_note(layer: LayerResult) -> str:
    """One object of a mix, worded for people: "object 2: drum (unsure), or like guitar, bell"."""
    others = f", or like {', '.join(layer.alternatives)}" if layer.alternatives else ""
    return f"object {layer.object + 1}: {layer.sounds_like}{' (unsure)' if layer.unsure else ''}{others}"


@dataclass
class GenerateResult:
    audio: list[AudioClip]
    masks: list[MaskResult]
    header: dict[str, Any]
    #: Best first; empty when the server's model recognises no classes (or the server predates the field).
    recognised: list[RecognisedClass]
    #: The class whose typical sound the clips were made as (asked for, else recognised); None without one.
    sounds_like: str | None = None
    #: The recognised class scored too low to trust: the picture is unlike every class the model knows.
    unsure: bool = False
    #: Each object of a mix of objects made apart, with its own alternatives; empty otherwise.
    layers: list[LayerResult] = field(default_factory=list)

    @property
    def alternatives(self) -> list[str]:
        """Other classes the selection resembles, best first: what to offer as ``sounds_like`` when the clips sound
        wrong. The recognised classes but the one made; none for a mix of several objects (``recognised`` then
        holds one class per object, and ``sounds_like`` joins them: see ``layers``)."""
        if self.layers or (self.sounds_like is not None and LAYER_SEPARATOR in self.sounds_like):
            return []
        return _others(self.recognised, self.sounds_like)


@dataclass
class CurveKeys:
    """CURVE keys for a server bound beyond loopback: the server's public key and this client's key pair."""

    server_public: bytes
    client_public: bytes
    client_secret: bytes

    @classmethod
    def from_files(cls, server_public_file: str, client_secret_file: str) -> "CurveKeys":
        """Key files as written by ``zmq.auth.create_certificates`` (``sounding keys``)."""
        import zmq.auth

        server_public, _ = zmq.auth.load_certificate(server_public_file)
        client_public, client_secret = zmq.auth.load_certificate(client_secret_file)
        if client_secret is None:
            raise ValueError(f"{client_secret_file} holds no secret key (use the .key_secret file)")
        return cls(server_public, client_public, client_secret)


def segment_message(image: bytes, objects: Sequence[ObjectSelection],
                    image_format: str = "png") -> tuple[dict[str, Any], list[bytes]]:
    """Fields and blobs of a ``segment`` request."""
    blobs = [image]
    fields = {"image": {"blob": 1, "format": image_format}, "objects": [_object_fields(o, blobs) for o in objects]}
    return fields, blobs


def generate_message(image: bytes, objects: Sequence[ObjectSelection], image_format: str = "png", *,
                     duration: float | None = None, seed: int | None = None, steps: int | None = None,
                     guidance: float | None = None, variations: int = 1, audio_format: str = "wav",
                     sounds_like: str | None = None, stems: bool = False) -> tuple[dict[str, Any], list[bytes]]:
    """Fields and blobs of a ``generate`` request; ``None`` leaves a value to the server (the model's default; for
    ``sounds_like``, the class the model recognises). ``stems``: where several objects are made apart, also each
    object's own clips (``LayerResult.audio``)."""
    fields, blobs = segment_message(image, objects, image_format)
    options = {"duration": duration, "seed": seed, "steps": steps, "guidance": guidance, "variations": variations,
               "format": audio_format, "sounds_like": sounds_like, "stems": stems or None}
    fields.update({k: v for k, v in options.items() if v is not None})
    return fields, blobs


def masks_of(reply: Reply) -> list[MaskResult]:
    return [MaskResult(png=reply.blob(m), score=float(m["score"])) for m in reply.header.get("masks", [])]


def audio_of(reply: Reply, refs: Sequence[dict[str, Any]]) -> list[AudioClip]:
    return [AudioClip(data=reply.blob(a), format=a["format"], sample_rate=int(a["sample_rate"]),
                      duration=float(a["duration"]), seed=int(a["seed"])) for a in refs]


def generate_result(reply: Reply) -> GenerateResult:
    audio = audio_of(reply, reply.header.get("audio", []))
    sounds_like = reply.header.get("sounds_like")
    return GenerateResult(audio=audio, masks=masks_of(reply), header=reply.header, recognised=recognised_of(reply),
                          sounds_like=None if sounds_like is None else str(sounds_like),
                          unsure=reply.header.get("unsure") is True, layers=layers_of(reply))


def recognised_of(reply: Reply) -> list[RecognisedClass]:
    return _recognised(reply.header.get("recognised", []), "recognised")


def layers_of(reply: Reply) -> list[LayerResult]:
    entries = reply.header.get("layers", [])
    try:
        return [LayerResult(object=int(entry["object"]), recognised=_recognised(entry["recognised"], "layers"),
                            sounds_like=str(entry["sounds_like"]), unsure=entry.get("unsure") is True,
                            audio=audio_of(reply, entry.get("audio", []))) for entry in entries]
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise ProtocolError(INTERNAL, f"the server sent a malformed 'layers' field: {entries!r:.200}") from exc


def _recognised(entries, name: str) -> list[RecognisedClass]:
    try:
        return [RecognisedClass(label=str(entry["label"]), similarity=float(entry["similarity"])) for entry in entries]
    except (TypeError, KeyError, ValueError) as exc:
        raise ProtocolError(INTERNAL, f"the server sent a malformed '{name}' field: {entries!r:.200}") from exc


def raise_for_error(reply: Reply) -> Reply:
    """The reply itself if it is a result; ``ProtocolError(code, message)`` if it is an error."""
    if reply.type == TYPE_ERROR:
        raise ProtocolError(str(reply.header.get("code")), str(reply.header.get("message")))
    if reply.type != TYPE_RESULT:
        raise ProtocolError(INTERNAL, f"unexpected reply type {reply.type!r}")
    return reply


def _object_fields(obj: ObjectSelection, blobs: list[bytes]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if obj.points is not None:
        fields["points"] = [[float(x), float(y)] for x, y in obj.points]
        if obj.labels is not None:
            fields["labels"] = [int(label) for label in obj.labels]
    if obj.mask_png is not None:
        blobs.append(obj.mask_png)
        fields["mask"] = {"blob": len(blobs), "format": "png"}
    if obj.text:
        fields["text"] = obj.text
    if obj.sounds_like:
        fields["sounds_like"] = obj.sounds_like
    return fields


class SoundingClient:
    """Talks protocol v1 to one server. Not thread-safe: use it from one thread (the add-on's worker thread)."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = DEFAULT_TIMEOUT,
                 curve: CurveKeys | None = None):
        self.endpoint = endpoint
        self.timeout = timeout
        self._curve = curve
        self._context = zmq.Context.instance()
        self._prefix = uuid.uuid4().hex[:8]
        self._counter = itertools.count(1)
        self._socket: zmq.Socket | None = None
        self._in_flight: set[str] = set()
        self._finals: dict[str, Reply] = {}
        self._progress: dict[str, Reply] = {}  # latest progress of requests nobody is waiting on yet
        self._connect()

    # -- sockets --------------------------------------------------------------------------------------------------
    def _connect(self) -> None:
        socket = self._context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        if self._curve is not None:
            socket.curve_serverkey = self._curve.server_public
            socket.curve_publickey = self._curve.client_public
            socket.curve_secretkey = self._curve.client_secret
        socket.connect(self.endpoint)
        self._socket = socket

    def reconnect(self) -> None:
        """Drop the socket (LINGER 0) and every request in flight, and connect afresh."""
        if self._socket is not None:
            self._socket.close(linger=0)
        self._in_flight.clear()
        self._finals.clear()
        self._progress.clear()
        self._connect()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def __enter__(self) -> "SoundingClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- messages -------------------------------------------------------------------------------------------------
    def send(self, op: str, fields: dict[str, Any] | None = None, blobs: Sequence[bytes] = (),
             request_id: str | None = None) -> str:
        """Send one request without waiting; returns its id."""
        if self._socket is None:
            raise RuntimeError("the client is closed")
        request_id = request_id or f"{self._prefix}-{next(self._counter)}"
        header = {"v": PROTOCOL_VERSION, "id": request_id, "op": op, **(fields or {})}
        self._socket.send_multipart(encode_message(header, blobs), copy=len(blobs) == 0)
        self._in_flight.add(request_id)
        return request_id

    def receive(self, timeout: float) -> Reply | None:
        """Read at most one message (within ``timeout`` seconds) into the per-id buffers; returns it, or None."""
        if self._socket is None:
            raise RuntimeError("the client is closed")
        if not self._socket.poll(max(0, int(timeout * 1000)), zmq.POLLIN):
            return None
        frames = self._socket.recv_multipart()
        try:
            reply = Reply(header=decode_header(frames[0]), blobs=frames[1:])
        except ProtocolError:
            return None  # not a v1 message; nothing to route it to
        request_id = reply.header.get("id")
        if request_id not in self._in_flight:
            return reply  # a reply to a request this client has forgotten (or an unreadable one)
        if reply.type == TYPE_PROGRESS:
            self._progress[request_id] = reply
        else:
            self._finals[request_id] = reply
        return reply

    def wait(self, request_id: str, timeout: float | None = None, progress: ProgressFn | None = None) -> Reply:
        """The final reply of ``request_id`` (a result; an error raises ``ProtocolError``).

        ``timeout`` counts from the last message of this request, so progress keeps a long job alive. On timeout the
        client reconnects and raises :class:`RequestTimeout`.
        """
        if request_id not in self._in_flight:
            raise KeyError(f"request {request_id!r} is not in flight")
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            update = self._progress.pop(request_id, None)
            if update is not None:
                deadline = time.monotonic() + timeout
                if progress is not None:
                    h = update.header
                    progress(str(h.get("stage")), int(h.get("step", 0)), int(h.get("total", 0)))
            final = self._finals.pop(request_id, None)
            if final is not None:
                self._in_flight.discard(request_id)
                return raise_for_error(final)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.reconnect()
                raise RequestTimeout(f"no reply to {request_id!r} from {self.endpoint} within {timeout:g} s")
            self.receive(remaining)

    def request(self, op: str, fields: dict[str, Any] | None = None, blobs: Sequence[bytes] = (),
                timeout: float | None = None, progress: ProgressFn | None = None) -> Reply:
        return self.wait(self.send(op, fields, blobs), timeout, progress)

    # -- operations -----------------------------------------------------------------------------------------------
    def health(self, timeout: float | None = None) -> dict[str, Any]:
        return self.request(OP_HEALTH, timeout=timeout).header

    def segment(self, image: bytes, objects: Sequence[ObjectSelection], image_format: str = "png",
                timeout: float | None = None) -> list[MaskResult]:
        fields, blobs = segment_message(image, objects, image_format)
        return masks_of(self.request(OP_SEGMENT, fields, blobs, timeout))

    def generate(self, image: bytes, objects: Sequence[ObjectSelection], image_format: str = "png", *,
                 progress: ProgressFn | None = None, timeout: float | None = None, **options) -> GenerateResult:
        """``options``: duration, seed, steps, guidance, variations, audio_format, sounds_like, stems (see
        :func:`generate_message`)."""
        fields, blobs = generate_message(image, objects, image_format, **options)
        return generate_result(self.request(OP_GENERATE, fields, blobs, timeout, progress))

    def cancel(self, target: str, timeout: float | None = None) -> bool:
        """Cancel request ``target``; True if it was still pending (its ``wait`` then raises code ``cancelled``)."""
        return bool(self.request(OP_CANCEL, {"target": target}, timeout=timeout).header.get("cancelled"))
