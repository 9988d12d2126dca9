"""The classical embedded segmenter: a random walker on a superpixel graph.

The "image embedding" is the graph: SLIC superpixels of a downscaled copy (longest side ``work_size``), their mean
CIELAB colours and the colour-weighted adjacency Laplacian. It is cached per image, so a further click only solves one
small sparse linear system (Grady, "Random Walks for Image Segmentation", 2006, on superpixels instead of pixels).

Seeds: superpixels under positive clicks are 1, superpixels under negative clicks and on the image border are 0
(a positive click wins over the border). A node's value is the probability that a random walk from it reaches a
positive seed first; the mask is where the upsampled probability exceeds 0.5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from PIL import Image
from skimage.color import rgb2lab
from skimage.segmentation import slic

from sounding.engine import ObjectMask
from sounding.segmentation.cache import EmbeddingCache, image_key
from sounding.segmentation.prompts import check_image, check_prompts


@dataclass
class SuperpixelConfig:
    work_size: int = 256  # longest side of the working copy, pixels
    n_segments: int = 600  # SLIC target count
    compactness: float = 10.0  # SLIC colour/space trade-off (Lab units)
    beta: float = 4.0  # edge weight exp(-beta * d^2 / mean(d^2)), d = Lab distance of adjacent superpixels
    cache_size: int = 8


@dataclass
class SuperpixelGraph:
    """Per-image work reused by every click on that image."""

    labels: np.ndarray  # (h, w) int superpixel id at working size
    laplacian: sp.csr_matrix  # (n, n) graph Laplacian D - W
    border: np.ndarray  # (k,) ids of superpixels touching the image border
    scale: float  # working size / original size


def resize_longest(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8 -> (h, w, 3) uint8 with max(h, w) == size (area filter), and the scale h / H."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale == 1.0:
        return image, 1.0
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(new, Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR)), scale


def build_graph(image: np.ndarray, config: SuperpixelConfig) -> SuperpixelGraph:
    """(H, W, 3) uint8 -> the superpixel graph of its downscaled copy."""
    small, scale = resize_longest(image, config.work_size)
    lab = rgb2lab(small)
    labels = slic(lab, n_segments=config.n_segments, compactness=config.compactness, convert2lab=False, start_label=0)
    n = int(labels.max()) + 1
    counts = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    mean = np.stack([np.bincount(labels.ravel(), lab[..., c].ravel(), minlength=n) for c in range(3)], 1)
    mean /= np.maximum(counts, 1)[:, None]
    pairs = np.concatenate([
        np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
        np.stack([labels[:-1].ravel(), labels[1:].ravel()], 1),
    ])
    pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1), axis=0)
    dist2 = ((mean[pairs[:, 0]] - mean[pairs[:, 1]]) ** 2).sum(1)
    weight = np.exp(-config.beta * dist2 / max(dist2.mean(), 1e-6)) + 1e-6
    adjacency = sp.coo_matrix((np.concatenate([weight, weight]), (np.concatenate([pairs[:, 0], pairs[:, 1]]),
                                                                  np.concatenate([pairs[:, 1], pairs[:, 0]]))),
                              shape=(n, n)).tocsr()
    laplacian = (sp.diags(np.asarray(adjacency.sum(1)).ravel()) - adjacency).tocsr()
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return SuperpixelGraph(labels=labels, laplacian=laplacian, border=border, scale=scale)


def random_walk(graph: SuperpixelGraph, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """(n,) probability of reaching a positive seed first; seeds keep their value (1 positive, 0 negative)."""
    n = graph.laplacian.shape[0]
    value = np.full(n, np.nan)
    value[negative] = 0.0
    value[positive] = 1.0
    seeded = ~np.isnan(value)
    free = np.flatnonzero(~seeded)
    if len(free) and seeded.any() and value[seeded].max() > 0:
        lap = graph.laplacian
        rhs = -lap[free][:, np.flatnonzero(seeded)] @ value[seeded]
        value[free] = spla.spsolve(lap[free][:, free].tocsc(), rhs)
    value[np.isnan(value)] = 0.0
    return np.clip(value, 0.0, 1.0)


class SuperpixelSegmenter:
    """Click -> mask with no weights: random walker on a cached SLIC superpixel graph."""

    def __init__(self, config: SuperpixelConfig | None = None):
        self.config = config or SuperpixelConfig()
        self.cache: EmbeddingCache[SuperpixelGraph] = EmbeddingCache(self.config.cache_size)

    def graph(self, image: np.ndarray) -> SuperpixelGraph:
        return self.cache.get_or_compute(image_key(image), lambda: build_graph(image, self.config))

    def segment(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray) -> ObjectMask:
        """image (H, W, 3) uint8; points (N, 2) x, y pixels; labels (N,) 1 = object, 0 = not -> (H, W) bool mask."""
        check_image(image)
        points, labels = check_prompts(points, labels, image.shape[:2])
        graph = self.graph(image)
        h, w = graph.labels.shape
        xs = np.clip((points[:, 0] * graph.scale).astype(int), 0, w - 1)
        ys = np.clip((points[:, 1] * graph.scale).astype(int), 0, h - 1)
        clicked = graph.labels[ys, xs]
        positive = np.unique(clicked[labels == 1])
        negative = np.setdiff1d(np.union1d(graph.border, clicked[labels == 0]), positive)
        prob = random_walk(graph, positive, negative)[graph.labels].astype(np.float32)
        full = np.asarray(Image.fromarray(prob, mode="F").resize(image.shape[1::-1], Image.Resampling.BILINEAR))
        mask = full > 0.5
        inside = prob[prob > 0.5]
        score = float(2 * inside.mean() - 1) if inside.size else 0.0
        return ObjectMask(mask=mask, score=score)
