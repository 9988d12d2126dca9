"""The worker thread: owns the Engine, runs jobs, batches generate jobs with equal ``batch_key``.

It shares no socket with the ROUTER loop: it gets jobs from a queue and sends every progress and final reply back
over its own inproc PAIR socket (frames: event kind, job serial, message frames). The ROUTER loop decides whether a
reply still has someone to go to, so a cancelled job's late result is dropped there.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import zmq
from sounding_protocol.constants import INTERNAL, OP_SEGMENT
from sounding_protocol.errors import ProtocolError
from sounding_protocol.framing import encode_message, error_header, progress_header, result_header

from sounding.engine import Engine, GenerationCancelled, ProgressFn
from sounding.server.jobs import Job
from sounding.server.pipeline import PreparedGeneration, prepare_generation, run_generation_batch, run_segment

log = logging.getLogger(__name__)

EVENT_READY = b"ready"  # the engine loaded; frame 2 = JSON model info
EVENT_FAILED = b"failed"  # the engine failed to load; frame 2 = the reason
EVENT_PROGRESS = b"progress"
EVENT_FINAL = b"final"
#: Put on the job queue to stop the worker.
STOP = None
#: Most jobs taken from the queue in one round (one batch at most this many jobs).
MAX_BATCH_JOBS = 8


def model_fields(engine: Engine) -> dict[str, Any]:
    """``health``'s ``model`` object."""
    info = engine.info
    return {"name": info.name, "sample_rate": info.sample_rate, "max_duration": info.max_duration,
            "default_duration": info.default_duration, "default_steps": info.default_steps,
            "default_guidance": info.default_guidance, "classes": list(info.classes)}


@dataclass
class _Batch:
    key: Any
    jobs: list[Job]
    prepared: list[PreparedGeneration]


class Worker(threading.Thread):
    def __init__(self, engine_factory: Callable[[], Engine], jobs: queue.Queue, events_endpoint: str):
        super().__init__(name="sounding-worker", daemon=True)
        self._engine_factory = engine_factory
        self._jobs = jobs
        self._events_endpoint = events_endpoint
        self._events: zmq.Socket | None = None

    def run(self) -> None:
        self._events = zmq.Context.instance().socket(zmq.PAIR)
        self._events.setsockopt(zmq.SNDHWM, 0)  # never block the engine on a full pipe; the router drains it
        self._events.connect(self._events_endpoint)
        try:
            try:
                engine = self._engine_factory()
            except Exception as exc:
                log.exception("the engine failed to load")
                self._send(EVENT_FAILED, 0, [f"{type(exc).__name__}: {exc}".encode()])
                return
            self._send(EVENT_READY, 0, [json.dumps({"model": model_fields(engine), "device": engine.device}).encode()])
            while (jobs := self._next_jobs()) is not None:
                self._guarded(jobs, lambda: self._run(engine, jobs))  # a bug in batching still answers every job
        finally:
            self._events.close(linger=0)

    def _next_jobs(self) -> list[Job] | None:
        """Block for one job, then take whatever else is queued (up to ``MAX_BATCH_JOBS``); None to stop."""
        job = self._jobs.get()
        if job is STOP:
            return None
        jobs = [job]
        while len(jobs) < MAX_BATCH_JOBS:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is STOP:
                self._jobs.put(STOP)  # finish this round, stop at the next
                break
            jobs.append(job)
        return jobs

    def _run(self, engine: Engine, jobs: Sequence[Job]) -> None:
        batches: list[_Batch] = []
        for job in jobs:
            if job.cancelled.is_set():
                continue
            if job.request.op == OP_SEGMENT:
                reply = self._guarded([job], lambda: run_segment(engine, job.request, self._progress([job])))
                if reply is not None:
                    self._final(job, *reply)
                continue
            prepared = self._guarded([job], lambda: prepare_generation(engine, job.request, self._progress([job])))
            if prepared is None:
                continue
            batch = next((b for b in batches if b.key == prepared.batch_key), None)
            if batch is None:
                batches.append(_Batch(prepared.batch_key, [job], [prepared]))
            else:
                batch.jobs.append(job)
                batch.prepared.append(prepared)
        for batch in batches:
            if len(batch.jobs) > 1:
                log.info("batch of %d generate jobs: %s", len(batch.jobs), ", ".join(j.request.id for j in batch.jobs))
            replies = self._guarded(batch.jobs, lambda: run_generation_batch(engine, batch.prepared,
                                                                             self._progress(batch.jobs)))
            for job, reply in zip(batch.jobs, replies or ()):
                self._final(job, *reply)

    def _guarded(self, jobs: Sequence[Job], work: Callable[[], Any]) -> Any:
        """``work()``, or None after replying its error to ``jobs`` (a cancelled job was answered already)."""
        try:
            return work()
        except GenerationCancelled:
            return None
        except ProtocolError as exc:  # found while decoding (bad image/mask) or against the model (duration)
            for job in jobs:
                self._error(job, exc.code, exc.message)
        except Exception as exc:
            log.exception("job(s) %s failed", ", ".join(j.request.id for j in jobs))
            for job in jobs:
                self._error(job, INTERNAL, f"{type(exc).__name__}: {exc}")
        return None

    def _progress(self, jobs: Sequence[Job]) -> ProgressFn:
        """The engine's progress callback: tell the live jobs; stop the work once every job is cancelled."""
        def progress(stage: str, step: int, total: int) -> None:
            live = [job for job in jobs if not job.cancelled.is_set()]
            if not live:
                raise GenerationCancelled()
            for job in live:
                self._send(EVENT_PROGRESS, job.serial, encode_message(progress_header(job.request.id, stage, step,
                                                                                      total)))
        return progress

    def _final(self, job: Job, fields: dict[str, Any], blobs: list[bytes]) -> None:
        self._send(EVENT_FINAL, job.serial, encode_message(result_header(job.request.id, **fields), blobs))

    def _error(self, job: Job, code: str, message: str) -> None:
        self._send(EVENT_FINAL, job.serial, encode_message(error_header(job.request.id, code, message)))

    def _send(self, kind: bytes, serial: int, frames: Sequence[bytes]) -> None:
        self._events.send_multipart([kind, str(serial).encode(), *frames])
