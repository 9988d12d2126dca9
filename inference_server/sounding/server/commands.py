"""``sounding serve``, ``sounding generate``, ``sounding segment`` and ``sounding bench protocol``.

Heavy imports (torch, the models) happen inside the command functions so that ``sounding --help`` stays fast.
"""
from __future__ import annotations

import argparse

from sounding_protocol.constants import DEFAULT_ENDPOINT, MAX_IMAGE_SIDE


def serve(args: argparse.Namespace) -> int:
    from sounding.server.serve import run_server

    return run_server(args)


def generate(args: argparse.Namespace) -> int:
    from sounding.server.local import run_generate

    return run_generate(args)


def segment(args: argparse.Namespace) -> int:
    from sounding.server.local import run_segment

    return run_segment(args)


def keys(args: argparse.Namespace) -> int:
    from sounding.server.security import create_keys

    server_public, client_public = create_keys(args.out)
    print(f"server: {server_public}_secret (serve --curve-secret-key), {server_public} (clients' --curve-server-key)")
    print(f"client: {client_public}_secret (--curve-client-key); "
          f"copy {client_public.name} into serve's --curve-clients DIR")
    return 0


def bench_protocol(args: argparse.Namespace) -> int:
    from sounding.server.benchmark import run_benchmark

    return run_benchmark(args)


def register(commands) -> None:
    from sounding.registry import DEFAULT_MODEL

    top = commands["top"]
    p = top.add_parser("serve", help="run the inference server (ZeroMQ ROUTER, protocol v1)")
    p.add_argument("--bind", default=DEFAULT_ENDPOINT, help=f"endpoint to bind (default {DEFAULT_ENDPOINT})")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model name or directory")
    p.add_argument("--segmenter", default=None, help="SAM checkpoint directory (default: the embedded segmenter)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--queue", type=int, default=None, help="maximum queued jobs before replying busy")
    p.add_argument("--curve-secret-key", default=None, metavar="FILE",
                   help="server secret key file (zmq.auth); required for non-loopback binds")
    p.add_argument("--curve-clients", default=None, metavar="DIR",
                   help="directory of authorised client public key files; required for non-loopback binds")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=serve)

    p = top.add_parser("keys", help="create CURVE key pairs for a server bound beyond loopback and one client")
    p.add_argument("--out", required=True, help="directory for server.key(_secret) and client.key(_secret)")
    p.set_defaults(func=keys)

    for name, help_text in (("generate", "generate the sound of the selected objects (in-process or via --server)"),
                            ("segment", "click -> object mask PNG (in-process or via --server)")):
        p = top.add_parser(name, help=help_text)
        p.add_argument("--image", required=True, help="PNG or JPEG image")
        p.add_argument("--click", action="append", default=[], metavar="X,Y=CLASS" if name == "generate" else "X,Y",
                       help="pixel coordinates of one object (repeat to select several objects)" + (
                           "; =CLASS (optional) makes this object alone sound like a class of the model's"
                           if name == "generate" else ""))
        p.add_argument("--mask", action="append", default=[], metavar="PNG",
                       help="exact mask of one object, the image's size (repeatable)")
        p.add_argument("--out", required=True, help="output file (.wav or .flac for generate, .png for segment)")
        _add_client_arguments(p)
        if name == "generate":
            p.add_argument("--text", default=None, help="text hint such as 'siren'; alone it selects by text")
            p.add_argument("--duration", type=float, default=None, help="seconds (default: the model's)")
            p.add_argument("--seed", type=int, default=0)
            p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
            p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
            p.add_argument("--variations", type=int, default=1, help="several -> OUT_1.wav, OUT_2.wav, ...")
            p.add_argument("--sounds-like", default=None, metavar="CLASS",
                           help="make the sound of this class of the model's, not the one it recognises")
            p.add_argument("--stems", action="store_true",
                           help="several objects made apart: also each object's own sound -> OUT_object1.wav, ...")
            p.set_defaults(func=generate)
        else:
            p.set_defaults(func=segment)

    p = commands["bench"].add_parser("protocol", help="health round trip and 4096x4096 PNG request decode time")
    p.add_argument("--requests", type=int, default=1000, help="health round trips to time")
    p.add_argument("--image-side", type=int, default=MAX_IMAGE_SIDE,
                   help=f"side of the square PNG whose request decoding is timed (default {MAX_IMAGE_SIDE})")
    p.add_argument("--out", default=None, help="also write the JSON result here")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.set_defaults(func=bench_protocol)


def _add_client_arguments(p: argparse.ArgumentParser) -> None:
    from sounding.registry import DEFAULT_MODEL

    p.add_argument("--server", default=None, help="server endpoint; without it the model runs in this process")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds without any reply before giving up")
    p.add_argument("--curve-server-key", default=None, metavar="FILE", help="server public key file (CURVE)")
    p.add_argument("--curve-client-key", default=None, metavar="FILE", help="client secret key file (CURVE)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model name or directory (in-process only)")
    p.add_argument("--segmenter", default=None, help="SAM checkpoint directory (in-process only)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (in-process only)")
