"""The engine's cache of tracking-video VAE encodings: another seed or prompt on the same
tracking video skips that encoding (SPEC §10).

Torch is imported only when a tracking video is encoded.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np

from core import defaults

TRACKING_CACHE_SIZE = 4
"""How many tracking-video VAE encodings the engine keeps (least recently used goes first)."""
TRACKING_ENCODING_SEED = defaults.SEED
"""Seed of the VAE posterior sample of every tracking video. With the default request seed (42)
this is exactly the sample an uncached pipeline call with that seed draws."""


class TrackingEncodingCache:
    """The :data:`TRACKING_CACHE_SIZE` most recently used tracking-video encodings."""

    def __init__(self) -> None:
        self._entries: "OrderedDict[str, dict[str, Any]]" = OrderedDict()
        self.encode_count = 0
        """How many tracking videos were VAE-encoded (cache misses)."""

    def conditioning(self, pipe, frames: np.ndarray, legacy_range: bool, dtype: str, device: str) -> dict[str, Any]:
        """Keyword arguments for the pipeline carrying the (cached) encoding of ``frames``;
        ``dtype`` and ``device`` name where ``pipe`` runs (part of what the encoding depends on)."""
        key = _tracking_key(frames, legacy_range, dtype, device)
        cached = self._entries.get(key)
        if cached is not None:
            self._entries.move_to_end(key)
            return cached
        import torch

        # A fixed seed for the VAE posterior sample (not the request's): the cached encoding
        # then equals a fresh one, so a seed gives the same video whether the cache hit or not.
        generator = torch.Generator(device="cpu").manual_seed(TRACKING_ENCODING_SEED)
        latents = pipe.encode_tracking_video(frames, generator=generator, legacy_tracking_range=legacy_range)
        # A copy: a view of frame 0 would keep the whole tracking video alive in the cache.
        conditioning = {"tracking_latents": latents, "tracking_image": frames[0].copy()}
        self.encode_count += 1
        self._entries[key] = conditioning
        while len(self._entries) > TRACKING_CACHE_SIZE:
            self._entries.popitem(last=False)
        return conditioning

    def clear(self) -> None:
        """Drop every encoding (the pipeline that made them is gone)."""
        self._entries.clear()


def _tracking_key(frames: np.ndarray, legacy_range: bool, dtype: str, device: str) -> str:
    """Cache key of a tracking video's VAE encoding: content hash + everything the encoding depends on."""
    digest = hashlib.blake2b(np.ascontiguousarray(frames).data, digest_size=16)
    digest.update(repr((frames.shape, legacy_range, dtype, device)).encode())
    return digest.hexdigest()
