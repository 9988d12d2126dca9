"""Fits a model's clip ranker (:class:`sounding.model.clip_ranker.ClipRanker`) on the labelled training recordings.

It is fitted on the recordings of the rows the object prior is fitted on (labelled single objects), each recording
once, as the log-mel the model's VAE learned to reconstruct: normalised like AudioLDM's data and cut or padded to the
model's default clip length, the length a candidate has when the ranker reads it.
"""
from __future__ import annotations

import torch

from sounding.audio.mel import LogMel
from sounding.model.clip_ranker import ClipRanker, check_candidates
from sounding.model.generator import ObjectAwareGenerator
from sounding.training.config import CLIP_RANKER_CANDIDATES
from sounding.training.data import Row, clip_log_mel
from sounding.training.object_prior import prior_rows


@torch.no_grad()
def fit_clip_ranker(generator: ObjectAwareGenerator, rows: list[Row],
                    candidates: int = CLIP_RANKER_CANDIDATES) -> ClipRanker:
    check_candidates(candidates)  # before reading any audio, not after
    recordings = {row.audio: row.label for row in prior_rows(rows)}
    log_mel = LogMel(generator.config.mel)
    frames = generator.frames(generator.config.default_duration)
    ranker = ClipRanker.fit(list(recordings.values()), [clip_log_mel(audio, log_mel, frames) for audio in recordings],
                            candidates)
    return ranker.to(generator.device)
