"""Training data: reading the DaS layout, a deterministic sample order, precomputed latents.

The sample order is a pure function of ``(seed, epoch, process)``, and a micro-batch is
addressed by its global index, so a resumed run continues with exactly the batches an
uninterrupted run would have seen (no sampler state to save).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from core.dataset_index import DatasetEntry, DatasetError
from core.media import MediaError, read_video_frames
from core.training.objective import latent_moments

PIXEL_SCALE = 127.5
"""uint8 → [-1, 1]: ``x / 127.5 − 1`` (DaS normalises with mean 0.5, std 0.5)."""

PRECOMPUTED_DIR = "precomputed"
PRECOMPUTED_META = "meta.json"


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 → ``(T, 3, H, W)`` float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / PIXEL_SCALE - 1.0


def read_clip(path: Path, num_frames: int, height: int, width: int, what: str) -> np.ndarray:
    """Read a dataset clip and check its shape.

    Returns:
        ``(T, H, W, 3)`` uint8.

    Raises:
        DatasetError: unreadable, or not ``num_frames × height × width``.
    """
    try:
        frames, _ = read_video_frames(path)
    except MediaError as error:
        raise DatasetError(f"{what} {path}: cannot be read ({error})") from error
    expected = (num_frames, height, width, 3)
    if frames.shape != expected:
        raise DatasetError(
            f"{what} {path} is {frames.shape[0]} frames of {frames.shape[1]}×{frames.shape[2]}, expected "
            f"{num_frames} frames of {height}×{width}; prepare the dataset with "
            f"`python -m core.dataset prepare … --num-frames {num_frames} --height {height} --width {width}`"
        )
    return frames


class TrackingVideoDataset(Dataset):
    """The DaS layout as tensors: ``{"video", "tracking": (T, 3, H, W) in [-1, 1], "prompt": str, "index": int}``."""

    def __init__(self, entries: Sequence[DatasetEntry], num_frames: int, height: int, width: int) -> None:
        self.entries = list(entries)
        self.num_frames, self.height, self.width = num_frames, height, width

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.entries[index]
        shape = (self.num_frames, self.height, self.width)
        return {
            "video": frames_to_tensor(read_clip(entry.video, *shape, what="video")),
            "tracking": frames_to_tensor(read_clip(entry.tracking, *shape, what="tracking video")),
            "prompt": entry.prompt,
            "index": index,
        }


class PrecomputedDataset(Dataset):
    """Samples encoded once by :func:`precompute`: posterior moments, first frame and prompt embedding.

    Items: ``video_moments``/``tracking_moments`` ``(2C, F, h, w)``, ``tracking_first_moments``
    ``(2C, 1, h, w)``, ``first_frame`` ``(1, 3, H, W)`` in [-1, 1], ``prompt_embeds`` ``(L, D)``,
    ``index``.
    """

    def __init__(self, cache_dir: Path, num_samples: int) -> None:
        self.cache_dir = Path(cache_dir)
        self.num_samples = num_samples

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = torch.load(sample_cache_path(self.cache_dir, index), map_location="cpu", weights_only=True)
        item["first_frame"] = item["first_frame"].float() / PIXEL_SCALE - 1.0
        item["index"] = index
        return item


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors along a new batch dimension; lists for everything else."""
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        batch[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return batch


@dataclass(frozen=True)
class SampleOrder:
    """Which samples form micro-batch ``m`` of process ``p`` — a pure function of its arguments.

    Each epoch is a fresh permutation of the dataset (seeded by ``(seed, epoch)``), padded by
    wrapping around so every process gets the same number of micro-batches; micro-batch ``k`` of
    an epoch for process ``p`` is the ``(k·P + p)``-th slice of ``batch_size`` samples.
    """

    num_samples: int
    batch_size: int
    num_processes: int
    process_index: int
    seed: int

    @property
    def batches_per_epoch(self) -> int:
        """Micro-batches each process runs per epoch."""
        return max(1, math.ceil(self.num_samples / (self.batch_size * self.num_processes)))

    def permutation(self, epoch: int) -> np.ndarray:
        """``(N,)`` the dataset order of ``epoch`` (the same on every process)."""
        return np.random.default_rng([int(self.seed), int(epoch)]).permutation(self.num_samples)

    def batch(self, micro_step: int) -> list[int]:
        """Dataset indices of this process's micro-batch number ``micro_step`` (0-based, global)."""
        epoch, position = divmod(micro_step, self.batches_per_epoch)
        order = self.permutation(epoch)
        slice_index = position * self.num_processes + self.process_index
        start = slice_index * self.batch_size
        return [int(order[(start + offset) % self.num_samples]) for offset in range(self.batch_size)]


class MicroBatchSampler(Sampler[list[int]]):
    """An endless batch sampler over :class:`SampleOrder`, starting at micro-batch ``start``."""

    def __init__(self, order: SampleOrder, start: int = 0) -> None:
        self.order = order
        self.start = start

    def __iter__(self) -> Iterator[list[int]]:
        micro_step = self.start
        while True:
            yield self.order.batch(micro_step)
            micro_step += 1


# --------------------------------------------------------------------------------------------
# Precomputed latents and prompt embeddings
# --------------------------------------------------------------------------------------------


def sample_cache_path(cache_dir: Path, index: int) -> Path:
    return Path(cache_dir) / f"{index:05d}.pt"


def cache_fingerprint(entries: Sequence[DatasetEntry], settings: dict[str, Any]) -> str:
    """Identifies what a cache was made from: the samples (paths, captions, file sizes and
    modification times) and the encoding settings; a different fingerprint rebuilds the cache."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for entry in entries:
        for path in (entry.video, entry.tracking):
            stat = path.stat()
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        digest.update(entry.prompt.encode())
    return digest.hexdigest()


def cache_is_current(cache_dir: Path, fingerprint: str) -> bool:
    meta_path = Path(cache_dir) / PRECOMPUTED_META
    try:
        return json.loads(meta_path.read_text())["fingerprint"] == fingerprint
    except (OSError, ValueError, KeyError):
        return False


@torch.no_grad()
def precompute_sample(
    dataset: TrackingVideoDataset,
    index: int,
    vae: Any,
    encode_prompt: Any,
    storage_dtype: torch.dtype,
) -> dict[str, torch.Tensor]:
    """Encode one sample for :class:`PrecomputedDataset`.

    Args:
        encode_prompt: ``list[str] -> (B, L, D)`` prompt embeddings.
        storage_dtype: dtype of the stored moments and embeddings (bf16 halves the disk use).
    """
    item = dataset[index]
    video = item["video"].unsqueeze(0)
    tracking = item["tracking"].unsqueeze(0)
    first_frame = ((video[:, :1] + 1.0) * PIXEL_SCALE).round().clamp(0, 255).to(torch.uint8)
    return {
        "video_moments": latent_moments(vae, video)[0].to("cpu", storage_dtype),
        "tracking_moments": latent_moments(vae, tracking)[0].to("cpu", storage_dtype),
        "tracking_first_moments": latent_moments(vae, tracking[:, :1])[0].to("cpu", storage_dtype),
        "first_frame": first_frame[0].cpu(),
        "prompt_embeds": encode_prompt([item["prompt"]])[0].to("cpu", storage_dtype),
    }


def precompute(
    dataset: TrackingVideoDataset,
    cache_dir: Path,
    indices: Sequence[int],
    vae: Any,
    encode_prompt: Any,
    storage_dtype: torch.dtype,
    progress: Optional[Any] = None,
) -> int:
    """Encode ``indices`` (this process's share) into ``cache_dir``, skipping finished ones.

    Returns:
        How many samples were encoded now.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    made = 0
    for position, index in enumerate(indices):
        path = sample_cache_path(cache_dir, index)
        if path.is_file():
            continue
        item = precompute_sample(dataset, index, vae, encode_prompt, storage_dtype)
        temporary = path.with_name(f".{path.name}.tmp")
        torch.save(item, temporary)
        temporary.replace(path)
        made += 1
        if progress is not None:
            progress((position + 1) / max(len(indices), 1), f"precomputed sample {index}")
    return made
