"""The paper's text-guided visual object localisation, which produces the diffusion condition.

    keys = patches + P, values = patches (P: learnable position encoding, one vector per patch)
    w = softmax(q K^T / sqrt(d))         (q: the projected text embedding, ONE head)
    c = norm(W_c (w V))                   (the condition: unit length like AudioLDM's CLAP embedding, fed to the
                                           UNet as ``class_labels``, so AudioLDM's UNet takes it unchanged)

At test time ``w`` may be replaced by a mask (:mod:`sounding.model.masking`). ``attention="additive"`` and
``num_heads > 1`` exist only for the paper's ablations (both hurt: additive attention collapses, heads diverge).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

ATTENTION_KINDS = ("dot", "additive")
#: Std of the initial position encoding and null condition (ViT's convention).
INIT_STD = 0.02
#: Momentum of the running attention std recorded in training (used when a mask comes without a text query).
STD_MOMENTUM = 0.01


class ObjectAwareConditioner(ModelMixin, ConfigMixin):
    """patches (B, N, Dimg) + text (B, Dtxt) -> condition (B, condition_dim) and weights (B, heads, N)."""

    @register_to_config
    def __init__(self, image_dim: int, text_dim: int, num_patches: int, attention_dim: int = 512,
                 condition_dim: int = 512, attention: str = "dot", num_heads: int = 1,
                 match_attention_spread: bool = True):
        """``match_attention_spread``: a clicked mask (no text) is rescaled to the attention's recorded spread, the
        paper's rule for a model trained on attention only. False keeps the normalised mask (the mean over the
        object, no negative weights elsewhere) for a model that is also trained on masks (docs/method.md)."""
        super().__init__()
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
        if attention_dim % num_heads:
            raise ValueError(f"attention_dim {attention_dim} is not divisible by num_heads {num_heads}")
        self.position = nn.Parameter(torch.randn(1, num_patches, image_dim) * INIT_STD)
        self.to_query = nn.Linear(text_dim, attention_dim)
        self.to_key = nn.Linear(image_dim, attention_dim)
        # Values and output carry no bias: the condition is linear in the attended features, so a constant offset
        # cannot drown the part that depends on the image.
        self.to_value = nn.Linear(image_dim, attention_dim, bias=False)
        if attention == "additive":
            self.to_score = nn.Linear(attention_dim // num_heads, 1)
        self.to_condition = nn.Linear(attention_dim, condition_dim, bias=False)
        #: The condition used for classifier-free guidance's unconditional branch (and dropped training samples).
        self.null_condition = nn.Parameter(torch.randn(condition_dim) * INIT_STD)
        self.register_buffer("attention_std", torch.zeros(num_heads))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, heads, N, D / heads)."""
        return x.unflatten(-1, (self.config.num_heads, -1)).transpose(1, 2)

    def attention(self, patches: torch.Tensor, text: torch.Tensor, record_spread: bool = True) -> torch.Tensor:
        """Softmax weights of the text query over the patches, (B, heads, N); each row sums to 1. In training their
        spread is recorded for :meth:`mask_spread` unless ``record_spread`` is False (patches of a view that a click
        never sees, such as the whole picture when the model crops clicks)."""
        keys = self._heads(self.to_key(patches + self.position))
        query = self._heads(self.to_query(text)[:, None])  # (B, heads, 1, d)
        if self.config.attention == "dot":
            scores = (query @ keys.transpose(-1, -2))[:, :, 0] / keys.shape[-1] ** 0.5
        else:  # Bahdanau: v^T tanh(q + k)
            scores = self.to_score(torch.tanh(query + keys))[..., 0]
        weights = scores.softmax(dim=-1)
        if self.training and record_spread:
            with torch.no_grad():
                std = weights.std(dim=-1, unbiased=False).mean(0)
                self.attention_std.lerp_(std, STD_MOMENTUM if self.attention_std.any() else 1.0)
        return weights

    def pool(self, patches: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Attention-weighted sum of the values, projected: the condition (B, condition_dim)."""
        # No position in the values: the condition must say what the attended object is. With P in the values a
        # text query learned to encode its class by *where* it attends (off the object), a code that a clicked mask
        # cannot reproduce (docs/method.md, "Position only in the keys").
        values = self._heads(self.to_value(patches))  # (B, heads, N, d)
        pooled = (weights.unsqueeze(-2) @ values)[:, :, 0]  # (B, heads, d)
        return F.normalize(self.to_condition(pooled.flatten(1)), dim=-1)

    def forward(self, patches: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = self.attention(patches, text)
        return self.pool(patches, weights), weights

    def mask_spread(self) -> torch.Tensor | None:
        """The spread a mask without text is rescaled to (``masking.substitute``): the attention std recorded in
        training, or None (keep the normalised mask) when not matching or when nothing was recorded yet."""
        recorded = self.attention_std
        return recorded if self.config.match_attention_spread and recorded.any() else None

    def unconditional(self, batch_size: int) -> torch.Tensor:
        return F.normalize(self.null_condition, dim=-1).expand(batch_size, -1)

    def drop(self, condition: torch.Tensor, probability: float, generator: torch.Generator | None = None):
        """Classifier-free guidance training: replace each sample's condition by the null one with ``probability``."""
        keep = torch.rand(condition.shape[0], 1, generator=generator, device="cpu").to(condition.device) >= probability
        return torch.where(keep, condition, self.unconditional(condition.shape[0]))
