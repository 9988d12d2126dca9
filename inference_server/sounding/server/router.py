"""The ROUTER loop: reads requests, answers health and cancel, queues jobs, forwards the worker's replies.

It never runs model work and never blocks on it (zguide: the socket loop apart from the work). It is the single
owner of the table of pending jobs, so it alone guarantees that every request gets exactly one final reply.
"""
from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import time
import uuid
from typing import Any, Callable

import zmq
from sounding_protocol.constants import (
    BAD_REQUEST, BUSY, CANCELLED, INTERNAL, OP_CANCEL, OP_HEALTH, OPS, PROTOCOL_VERSION, STATUS_LOADING, STATUS_OK,
    TYPE_ERROR,
)
from sounding_protocol.errors import ProtocolError
from sounding_protocol.framing import decode_header, encode_message, error_header, result_header
from sounding_protocol.validation import CancelRequest, Request, parse_request, readable_id

from sounding.engine import Engine
from sounding.server.config import HARD_FRAME_BYTES, POLL_INTERVAL_MS, SHUTDOWN_LINGER_MS, WORKER_JOIN_S, ServerConfig
from sounding.server.jobs import Job
from sounding.server.security import secure_socket
from sounding.server.worker import EVENT_FAILED, EVENT_FINAL, EVENT_PROGRESS, EVENT_READY, STOP, Worker

log = logging.getLogger("sounding.server")


class EngineLoadError(RuntimeError):
    """The worker could not load the engine; the server stopped."""


class Server:
    """``run()`` binds, serves until ``stop()`` (any thread, or a signal handler), then shuts down gracefully."""

    def __init__(self, config: ServerConfig, engine_factory: Callable[[], Engine]):
        self.config = config
        self._engine_factory = engine_factory
        self._stop = threading.Event()
        self._bound = threading.Event()
        self.endpoint: str | None = None  # the bound endpoint (a "*" port resolved), once bound
        self._jobs: dict[int, Job] = {}
        self._job_keys: dict[tuple[bytes, str], int] = {}
        self._serials = itertools.count(1)
        self._queue: queue.Queue = queue.Queue()
        self._model: dict[str, Any] = {"name": config.model, "sample_rate": None, "max_duration": None}
        self._device = config.device
        self._status = STATUS_LOADING
        self._load_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def wait_bound(self, timeout: float) -> str:
        """The bound endpoint, once ``run()`` (on another thread) has bound it."""
        if not self._bound.wait(timeout):
            raise TimeoutError(f"the server did not bind {self.config.bind} within {timeout:g} s")
        if self.endpoint is None:
            raise RuntimeError(f"the server failed to bind {self.config.bind} (its run() raised the reason)")
        return self.endpoint

    def run(self) -> None:
        context = zmq.Context.instance()
        router = context.socket(zmq.ROUTER)
        router.setsockopt(zmq.MAXMSGSIZE, HARD_FRAME_BYTES)
        router.setsockopt(zmq.ROUTER_MANDATORY, 0)  # a reply to a client that left is dropped, not an error
        events = context.socket(zmq.PAIR)
        events.setsockopt(zmq.RCVHWM, 0)
        authenticator = None
        worker = None
        try:
            authenticator = secure_socket(router, self.config)
            router.bind(self.config.bind)
            self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
            events_endpoint = f"inproc://sounding-worker-{uuid.uuid4().hex}"  # one per server
            events.bind(events_endpoint)
            worker = Worker(self._engine_factory, self._queue, events_endpoint)
            worker.start()
            log.info("listening on %s (model %s, device %s, queue %d)", self.endpoint, self.config.model,
                     self.config.device, self.config.queue_size)
            self._bound.set()
            self._loop(router, events)
        finally:
            self._bound.set()
            self._shutdown(router, worker)
            events.close(linger=0)
            router.close(linger=SHUTDOWN_LINGER_MS)
            if authenticator is not None:
                authenticator.stop()
        if self._load_error is not None:
            raise EngineLoadError(self._load_error)

    def _loop(self, router: zmq.Socket, events: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(events, zmq.POLLIN)
        while not self._stop.is_set():
            for socket, _ in poller.poll(POLL_INTERVAL_MS):
                if socket is events:
                    self._on_event(router, events.recv_multipart())
                else:
                    frames = router.recv_multipart()
                    self._on_request(router, frames[0], frames[1:])

    def _shutdown(self, router: zmq.Socket, worker: Worker | None) -> None:
        """Every pending job gets ``cancelled``; the worker abandons its batch at the engine's next step."""
        for job in list(self._jobs.values()):
            job.cancelled.set()
            self._finish(router, job, encode_message(error_header(job.request.id, CANCELLED,
                                                                  "the server is shutting down")))
        if worker is not None:
            self._queue.put(STOP)
            worker.join(WORKER_JOIN_S)
            if worker.is_alive():
                log.warning("the worker did not stop within %g s; leaving it behind", WORKER_JOIN_S)
        log.info("stopped")

    # -- requests -------------------------------------------------------------------------------------------------
    def _on_request(self, router: zmq.Socket, identity: bytes, message: list[bytes]) -> None:
        started = time.perf_counter()
        request_id, op = None, None
        try:
            if not message:
                raise ProtocolError(BAD_REQUEST, "empty message (frame 0 must be the JSON header)")
            header = decode_header(message[0], self.config.limits)
            request_id = readable_id(header)
            op = header.get("op") if isinstance(header.get("op"), str) else None
            request = parse_request(header, message, self.config.limits)
            self._dispatch(router, identity, request, started)
        except ProtocolError as exc:
            self._reply(router, identity, error_header(request_id, exc.code, exc.message), started, op)
        except Exception as exc:  # a bug of ours, never the client's: answer and keep serving
            log.exception("request %s failed", request_id)
            self._reply(router, identity, error_header(request_id, INTERNAL, f"{type(exc).__name__}: {exc}"),
                        started, op)

    def _dispatch(self, router: zmq.Socket, identity: bytes, request: Request, started: float) -> None:
        if request.op == OP_HEALTH:
            self._reply(router, identity, result_header(
                request.id, status=self._status, protocol=PROTOCOL_VERSION, ops=list(OPS), model=self._model,
                device=self._device, queue=len(self._jobs)), started, request.op)
        elif request.op == OP_CANCEL:
            self._cancel(router, identity, request, started)
        else:
            self._enqueue(router, identity, request, started)

    def _enqueue(self, router: zmq.Socket, identity: bytes, request: Request, started: float) -> None:
        if (identity, request.id) in self._job_keys:
            raise ProtocolError(BAD_REQUEST, f"request id {request.id!r} is already in flight")
        if self._load_error is not None:
            raise ProtocolError(INTERNAL, f"the engine failed to load: {self._load_error}")
        if len(self._jobs) >= self.config.queue_size:
            raise ProtocolError(BUSY, f"the queue is full ({self.config.queue_size} jobs); try again later")
        job = Job(serial=next(self._serials), identity=identity, request=request, received=started)
        self._jobs[job.serial] = job
        self._job_keys[job.key] = job.serial
        self._queue.put(job)

    def _cancel(self, router: zmq.Socket, identity: bytes, request: CancelRequest, started: float) -> None:
        serial = self._job_keys.get((identity, request.target))
        job = self._jobs.get(serial) if serial is not None else None
        if job is not None:
            job.cancelled.set()
            self._finish(router, job, encode_message(error_header(job.request.id, CANCELLED,
                                                                  f"cancelled by request {request.id!r}")))
        self._reply(router, identity, result_header(request.id, cancelled=job is not None), started, request.op)

    def _reply(self, router: zmq.Socket, identity: bytes, header: dict[str, Any], started: float,
               op: str | None) -> None:
        router.send_multipart([identity, *encode_message(header)])
        _log_request(header, op, started)

    # -- worker events --------------------------------------------------------------------------------------------
    def _on_event(self, router: zmq.Socket, frames: list[bytes]) -> None:
        kind, serial, message = frames[0], int(frames[1]), frames[2:]
        if kind == EVENT_READY:
            ready = json.loads(message[0])
            self._model, self._device, self._status = ready["model"], ready["device"], STATUS_OK
            log.info("engine ready: %s on %s", self._model["name"], self._device)
        elif kind == EVENT_FAILED:
            self._load_error = message[0].decode()
            log.error("the engine failed to load (%s); stopping", self._load_error)
            for job in list(self._jobs.values()):
                self._finish(router, job, encode_message(error_header(job.request.id, INTERNAL,
                                                                      f"the engine failed to load: "
                                                                      f"{self._load_error}")))
            self._stop.set()
        elif kind == EVENT_PROGRESS:
            job = self._jobs.get(serial)
            if job is not None:
                router.send_multipart([job.identity, *message])
        elif kind == EVENT_FINAL:
            job = self._jobs.get(serial)
            if job is not None:  # None: cancelled (and answered) before the worker finished it
                self._finish(router, job, message)

    def _finish(self, router: zmq.Socket, job: Job, message: list[bytes]) -> None:
        """Send a job's one final reply and forget the job."""
        del self._jobs[job.serial]
        del self._job_keys[job.key]
        router.send_multipart([job.identity, *message])
        _log_request(json.loads(message[0]), job.request.op, job.received)


def _log_request(header: dict[str, Any], op: str | None, started: float) -> None:
    outcome = header.get("code", "error") if header.get("type") == TYPE_ERROR else "ok"
    log.info("request id=%s op=%s outcome=%s ms=%.1f", header.get("id"), op, outcome,
             (time.perf_counter() - started) * 1000)
