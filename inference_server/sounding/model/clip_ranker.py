"""The clip ranker (not in the paper): of several candidate clips made for one clip of a request, keep one that
sounds like the class the object prior moved the condition toward.

AudioLDM makes several waveforms per prompt and keeps the one its CLAP model scores highest against the text. Without
a CLAP model, foley-mini's ranker is a linear classifier over a summary of the log-mel the VAE decodes: per mel bin,
the mean and the spread over the loud frames and the mean frame-to-frame change. It is fitted on the training
recordings of the prior's classes (``sounding.training.clip_ranker``) and reads a candidate before vocoding, so the
candidates it drops cost the UNet and the VAE only. It keeps the first candidate it hears as the class, so a request's
variations stay apart, and the most probable one when it hears none so.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

#: Frames whose mean log-mel lies within this many natural-log units of the loudest frame's count as loud.
LOUD_RANGE = 4.0
#: Summary statistics per mel bin: loud frames' mean and spread, mean absolute change between frames.
STATISTICS = 3
#: The fit's L2 penalty on the weights (of standardised summaries) and its L-BFGS iterations.
FIT_L2 = 1e-3
FIT_ITERATIONS = 300


class ClipRanker(ModelMixin, ConfigMixin):
    """Per class, a linear score of a log-mel's standardised summary; ``candidates`` clips are made per clip kept."""

    @register_to_config
    def __init__(self, labels: list[str], n_mels: int, candidates: int, loud_range: float = LOUD_RANGE):
        super().__init__()
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"the clip ranker needs distinct class labels, got {labels}")
        check_candidates(candidates)
        if n_mels < 1 or loud_range <= 0:
            raise ValueError(f"the clip ranker needs n_mels >= 1 and loud_range > 0, got {n_mels} and {loud_range}")
        width = STATISTICS * n_mels
        self.register_buffer("centre", torch.zeros(width))
        self.register_buffer("scale", torch.zeros(width))
        self.register_buffer("weight", torch.zeros(len(labels), width))
        self.register_buffer("bias", torch.zeros(len(labels)))

    def summary(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, frames, n_mels) log-mels -> (B, STATISTICS * n_mels): over the loud frames, each bin's mean and
        standard deviation, and its mean absolute change from the frame before."""
        if log_mel.ndim != 3 or log_mel.shape[-1] != self.config.n_mels or log_mel.shape[1] < 2:
            raise ValueError(f"the clip ranker reads log-mels (batch, frames >= 2, {self.config.n_mels}), "
                             f"got {tuple(log_mel.shape)}")
        log_mel = log_mel.float()
        level = log_mel.mean(-1)
        loud = (level >= level.amax(1, keepdim=True) - self.config.loud_range).float().unsqueeze(-1)
        count = loud.sum(1)
        mean = (log_mel * loud).sum(1) / count
        spread = (((log_mel - mean.unsqueeze(1)) ** 2 * loud).sum(1) / count).sqrt()
        change = ((log_mel[:, 1:] - log_mel[:, :-1]).abs() * loud[:, 1:]).sum(1) / loud[:, 1:].sum(1).clamp(min=1)
        return torch.cat([mean, spread, change], dim=-1)

    def log_probabilities(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, frames, n_mels) -> (B, classes) log-probabilities of the classes."""
        standard = (self.summary(log_mel) - self.centre) / self.scale
        return F.log_softmax(standard @ self.weight.T + self.bias, dim=-1)

    def choose(self, log_mel: torch.Tensor, targets: Sequence[str | None]) -> list[int]:
        """(len(targets) * candidates, frames, n_mels), each target's candidates in a row -> per target, the first
        candidate (0 .. candidates - 1) whose most probable class is the target, else the one the target is most
        probable for; 0 for a target that is None or a class the ranker does not know. Taking the first that
        passes rather than the best keeps the variations of a request apart (docs/method.md, "The clip ranker")."""
        candidates = self.config.candidates
        if len(log_mel) != len(targets) * candidates:
            raise ValueError(f"{len(log_mel)} log-mels for {len(targets)} targets of {candidates} candidates each")
        scores = self.log_probabilities(log_mel).view(len(targets), candidates, -1)
        picks = []
        for i, target in enumerate(targets):
            if target not in self.config.labels:
                picks.append(0)
                continue
            k = self.config.labels.index(target)
            named = (scores[i].argmax(-1) == k).nonzero()
            picks.append(int(named[0, 0]) if len(named) else int(scores[i, :, k].argmax()))
        return picks

    @classmethod
    def fit(cls, labels: Sequence[str], log_mels: Sequence[torch.Tensor], candidates: int, l2: float = FIT_L2,
            iterations: int = FIT_ITERATIONS) -> "ClipRanker":
        """From recordings: each one's class label and log-mel (frames, n_mels). Classes count equally (a class of
        many recordings does not outvote one of few); ``l2`` penalises the weights."""
        if len(labels) != len(log_mels) or not log_mels:
            raise ValueError(f"{len(labels)} labels for {len(log_mels)} log-mels")
        classes = sorted(set(labels))
        ranker = cls(classes, log_mels[0].shape[-1], candidates)
        summaries = torch.cat([ranker.summary(m[None]) for m in log_mels])
        ranker.centre.copy_(summaries.mean(0))
        ranker.scale.copy_(summaries.std(0).clamp(min=1e-6))
        standard = (summaries - ranker.centre) / ranker.scale
        index = torch.tensor([classes.index(label) for label in labels])
        balance = (1.0 / torch.bincount(index, minlength=len(classes)).float())[index]
        balance = balance / balance.sum()
        weight = torch.zeros_like(ranker.weight, requires_grad=True)
        bias = torch.zeros_like(ranker.bias, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")

        def loss() -> torch.Tensor:
            optimizer.zero_grad()
            value = (F.cross_entropy(standard @ weight.T + bias, index, reduction="none") * balance).sum() \
                + l2 * weight.pow(2).sum()
            value.backward()
            return value

        with torch.enable_grad():
            optimizer.step(loss)
        ranker.weight.copy_(weight.detach())
        ranker.bias.copy_(bias.detach())
        return ranker

    def check_fitted(self, where: str) -> None:
        """An error unless the summary's scale is fitted (a ranker saved under other buffer names loads zeros)."""
        if not bool((self.scale > 0).all()):
            raise ValueError(f"the clip ranker in {where} is not fitted (saved by an older version?): refit it with "
                             "`sounding fit-ranker`")


def check_candidates(candidates: int) -> None:
    if not isinstance(candidates, int) or candidates < 1:
        raise ValueError(f"the clip ranker's candidates must be a whole number >= 1, got {candidates!r}")
