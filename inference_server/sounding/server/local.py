"""``sounding generate`` and ``sounding segment``: through a server (``--server``) or with the engine in process.

Both ways build the same protocol request and read the same reply: in process, the request is validated by
``sounding_protocol.validation`` and run by ``server.pipeline``, exactly as the worker would.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sounding_protocol.client import (
    CurveKeys, ObjectSelection, Reply, SoundingClient, generate_message, generate_result, layer_note, masks_of,
    segment_message, unsure_note,
)
from sounding_protocol.constants import OP_GENERATE, OP_SEGMENT, PROTOCOL_VERSION
from sounding_protocol.errors import ProtocolError
from sounding_protocol.framing import decode_header, encode_message, result_header
from sounding_protocol.image_header import JPEG_SOI, PNG_SIGNATURE, image_size
from sounding_protocol.validation import parse_request

from sounding.server.images import decode_mask, encode_mask


def run_generate(args: argparse.Namespace) -> int:
    image, image_format = _read_image(args.image)
    objects = _selections(args, text=args.text)
    out = Path(args.out)
    audio_format = "flac" if out.suffix.lower() == ".flac" else "wav"
    fields, blobs = generate_message(image, objects, image_format, duration=args.duration, seed=args.seed,
                                     steps=args.steps, guidance=args.guidance, variations=args.variations,
                                     audio_format=audio_format, sounds_like=args.sounds_like, stems=args.stems)
    reply = _request(args, OP_GENERATE, fields, blobs)
    if reply is None:
        return 1
    result = generate_result(reply)
    paths = [out] if len(result.audio) == 1 else [out.with_name(f"{out.stem}_{i}{out.suffix}")
                                                  for i in range(1, len(result.audio) + 1)]
    out.parent.mkdir(parents=True, exist_ok=True)
    clips = list(zip(paths, result.audio))
    for layer in result.layers:  # --stems: each object's own clip beside its variation's mix
        clips += [(path.with_name(f"{path.stem}_object{layer.object + 1}{path.suffix}"), clip)
                  for path, clip in zip(paths, layer.audio)]
    for path, clip in clips:
        path.write_bytes(clip.data)
        print(f"{path}: {clip.duration:.2f} s at {clip.sample_rate} Hz, seed {clip.seed}")
    if result.recognised:
        print("recognised as: " + ", ".join(f"{r.label} ({r.similarity:.2f})" for r in result.recognised)
              + f"; made to sound like {result.sounds_like}" + (f" ({unsure_note()})" if result.unsure else ""))
    for layer in result.layers:  # a mix: what to put after an object's --click X,Y= to change it alone
        print(f"  {layer_note(layer)}")
    return 0


def run_segment(args: argparse.Namespace) -> int:
    image, image_format = _read_image(args.image)
    fields, blobs = segment_message(image, _selections(args, text=None), image_format)
    reply = _request(args, OP_SEGMENT, fields, blobs)
    if reply is None:
        return 1
    masks = masks_of(reply)
    width, height = image_size(image, image_format)
    union = np.logical_or.reduce([decode_mask(m.png, width, height) for m in masks])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(encode_mask(union))
    print(f"{out}: {int(union.sum())} object pixels; scores {', '.join(f'{m.score:.3f}' for m in masks)}")
    return 0


def _read_image(path: str) -> tuple[bytes, str]:
    data = Path(path).read_bytes()
    if data.startswith(PNG_SIGNATURE):
        return data, "png"
    if data.startswith(JPEG_SOI):
        return data, "jpeg"
    raise SystemExit(f"{path}: not a PNG or JPEG image")


def _selections(args: argparse.Namespace, text: str | None) -> list[ObjectSelection]:
    """Each --click is one object (X,Y=CLASS: sounding like CLASS), each --mask another; a --text hint goes with the
    first (alone, it selects)."""
    objects = [_click_selection(c) for c in args.click]
    objects += [ObjectSelection(mask_png=Path(m).read_bytes()) for m in args.mask]
    if text:
        if objects:
            objects[0].text = text
        else:
            objects = [ObjectSelection(text=text)]
    if not objects:
        raise SystemExit("select at least one object: --click X,Y, --mask PNG or --text HINT")
    return objects


def _click_selection(value: str) -> ObjectSelection:
    point, _, label = value.partition("=")
    try:
        x, y = (float(v) for v in point.split(","))
    except ValueError:
        raise SystemExit(f"--click {value!r}: expected X,Y in pixels, or X,Y=CLASS") from None
    return ObjectSelection(points=[(x, y)], sounds_like=label.strip() or None)


def _request(args: argparse.Namespace, op: str, fields: dict, blobs: list[bytes]) -> Reply | None:
    """The final result (through the server or in process); None after printing the error."""
    curve = None
    if args.curve_server_key or args.curve_client_key:
        if not (args.curve_server_key and args.curve_client_key):
            raise SystemExit("CURVE needs both --curve-server-key and --curve-client-key")
        curve = CurveKeys.from_files(args.curve_server_key, args.curve_client_key)
    try:
        if args.server:
            with SoundingClient(args.server, timeout=args.timeout, curve=curve) as client:
                return client.request(op, fields, blobs, progress=_print_progress)
        return _run_in_process(args, op, fields, blobs, _print_progress)
    except (ProtocolError, TimeoutError) as exc:
        print(f"\nsounding {op}: {exc}", file=sys.stderr)
        return None
    finally:
        print(file=sys.stderr)


def _run_in_process(args: argparse.Namespace, op: str, fields: dict, blobs: list[bytes], progress) -> Reply:
    from sounding.registry import load_engine
    from sounding.server.pipeline import prepare_generation, run_generation_batch, run_segment

    frames = encode_message({"v": PROTOCOL_VERSION, "id": "local", "op": op, **fields}, blobs)
    request = parse_request(decode_header(frames[0]), frames)
    engine = load_engine(args.model, args.device, args.segmenter)
    if op == OP_SEGMENT:
        result, result_blobs = run_segment(engine, request, progress)
    else:
        [(result, result_blobs)] = run_generation_batch(engine, [prepare_generation(engine, request, progress)],
                                                        progress)
    return Reply(result_header(request.id, **result), result_blobs)


def _print_progress(stage: str, step: int, total: int) -> None:
    print(f"\r{stage} {step}/{total}   ", end="", file=sys.stderr, flush=True)
