"""A bounded least-recently-used cache of per-image work (SAM image embeddings, superpixel graphs), keyed by the
image's content hash, so a second click on the same image skips the expensive part."""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

import numpy as np

T = TypeVar("T")


def image_key(image: np.ndarray) -> str:
    """Content hash of an image array: equal pixels, shape and dtype give equal keys (~1 ms per megapixel)."""
    data = np.ascontiguousarray(image)
    digest = hashlib.blake2b(data.data, digest_size=16)
    digest.update(repr((data.shape, data.dtype.str)).encode())
    return digest.hexdigest()


class EmbeddingCache(Generic[T]):
    """At most ``capacity`` entries; the least recently used one is dropped first. ``hits``/``misses`` count lookups."""

    def __init__(self, capacity: int = 8):
        if capacity < 1:
            raise ValueError(f"cache capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, T] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        if key in self._entries:
            self.hits += 1
            self._entries.move_to_end(key)
            return self._entries[key]
        self.misses += 1
        value = compute()
        self._entries[key] = value
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()
