"""Test-time mask substitution: the softmax attention weights are replaced by the selected region's mask (the union
of the selected objects, ``Engine.region``), area-averaged onto the patch grid, normalised, and rescaled to the
attention weights' statistics.

Which statistics: the mean of softmax weights over N patches is always 1/N, so matching it is the normalisation
(the weights sum to 1). The variance carries the information (how concentrated the attention is), and is taken
from the attention the model itself would produce for this image:
- with a text hint: the per-sample, per-head attention of the same image with the text query;
- without one: the running std of the attention recorded in training (``ObjectAwareConditioner.attention_std``),
  i.e. how peaked the model's attention is on average (a conditioner never trained has none: the normalised mask
  is used as it is).
The rescaling is affine, ``w = 1/N + (m - 1/N) * std_attention / std_m``, exactly the paper's "match mean and
variance"; when the attention is more concentrated than the mask, patches outside the mask get slightly negative
weights, which is that rule's consequence. A mask covering the whole grid (std 0) gives uniform weights.
"""
from __future__ import annotations

import numpy as np
import torch

#: Test-time modes: the mask alone (default), the mask restricted by the text hint's attention, or the text
#: attention alone (the paper's ablation (iv), no mask).
MODES = ("mask", "mask+text", "text")


def _area_matrix(size: int, cells: int) -> np.ndarray:
    """(cells, size): the fraction of each grid cell [i * size / cells, (i + 1) * size / cells) each pixel covers."""
    edges = np.arange(size + 1, dtype=np.float64)
    cell_edges = np.linspace(0.0, size, cells + 1)
    low = np.maximum(edges[None, :-1], cell_edges[:-1, None])
    high = np.minimum(edges[None, 1:], cell_edges[1:, None])
    return np.clip(high - low, 0.0, None) * cells / size


def mask_to_grid(mask: np.ndarray, grid_size: int) -> np.ndarray:
    """(H, W) bool -> (grid_size ** 2,) float: the exact fraction of each patch covered, row-major."""
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    rows, cols = _area_matrix(mask.shape[0], grid_size), _area_matrix(mask.shape[1], grid_size)
    return (rows @ mask.astype(np.float64) @ cols.T).reshape(-1).astype(np.float32)


def substitute(grid: torch.Tensor, std: torch.Tensor | None) -> torch.Tensor:
    """Region weights (B, heads, N) or (B, N) >= 0 -> weights with mean 1/N and standard deviation ``std``
    (broadcast over the patch axis); ``std`` None (no attention statistics recorded yet, an untrained
    conditioner) keeps the normalised mask."""
    total = grid.sum(dim=-1, keepdim=True)
    if (total <= 0).any():
        raise ValueError("the selected region covers no patch of the image")
    normalised = grid / total  # mean 1/N: the softmax weights' mean
    if std is None:
        return normalised
    mean = 1.0 / grid.shape[-1]
    spread = normalised.std(dim=-1, unbiased=False, keepdim=True)
    scale = torch.where(spread > 0, std.unsqueeze(-1) / spread.clamp(min=1e-12), torch.zeros_like(spread))
    return mean + (normalised - mean) * scale
