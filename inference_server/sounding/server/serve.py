"""``sounding serve``: the server in the foreground; SIGINT/SIGTERM stop it gracefully."""
from __future__ import annotations

import argparse
import logging
import signal
import sys

import zmq
from sounding_protocol.constants import MAX_QUEUED_JOBS

from sounding.registry import load_engine
from sounding.server.config import ServerConfig
from sounding.server.router import EngineLoadError, Server
from sounding.server.security import ConfigurationError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Signals that stop the server gracefully (jobs in flight get ``cancelled``).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_server(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    queue_size = MAX_QUEUED_JOBS if args.queue is None else args.queue
    if queue_size < 1:
        print("sounding serve: --queue must be at least 1", file=sys.stderr)
        return 2
    config = ServerConfig(bind=args.bind, model=args.model, device=args.device, queue_size=queue_size,
                          curve_secret_key=args.curve_secret_key, curve_clients=args.curve_clients)
    server = Server(config, lambda: load_engine(args.model, args.device, args.segmenter))
    previous = {sig: signal.signal(sig, lambda signum, frame: server.stop()) for sig in STOP_SIGNALS}
    try:
        server.run()
    except (ConfigurationError, zmq.ZMQError) as exc:
        print(f"sounding serve: {exc}", file=sys.stderr)
        return 2
    except EngineLoadError as exc:
        print(f"sounding serve: the engine failed to load: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
