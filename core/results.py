"""Result folders of the engine: their names, the files in them and the settings JSON that
reproduces them (SPEC §10).

A result is written into a hidden staging folder that is renamed when complete
(:func:`staged_result_folder`), so a cancelled or failed request leaves no partial folder;
:func:`remove_stale_staging` deletes the ones a killed process left behind.

Torch-free at import: the library versions recorded in ``settings.json`` are read when written.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
from PIL import Image

import core
from core.engine_types import GenerationResult, GenerationSettings
from core.media import write_video

logger = logging.getLogger(__name__)

VIDEO_NAME = "video.mp4"
TRACKING_NAME = "tracking.mp4"
FIRST_FRAME_NAME = "first_frame.png"
SETTINGS_NAME = "settings.json"
WINDOW_TRACKING_NAME = "tracking_window_{:02d}.mp4"
"""Tracking video of window k of a long video (1-based), as the model read it."""
STAGING_PREFIX = ".incomplete-"
"""Results are written under this hidden name and renamed when complete (no partial folders)."""

STALE_STAGING_AGE_S = 3600.0
"""A staging folder older than this is left over from a killed process: a result is staged only
while its files are written (seconds), never across the denoising."""


# --------------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------------


def request_folder_name(task: str, seed: Optional[int] = None) -> str:
    """A fresh, unique result-folder name: ``<date>-<time>-<task>[-s<seed>]-<random>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe_task = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in task) or "generation"
    seed_part = "" if seed is None else f"-s{seed}"
    return f"{stamp}-{safe_task}{seed_part}-{uuid.uuid4().hex[:6]}"


def result_folder(output_dir: Path, run_name: Optional[str], metadata: dict[str, Any], seed: int) -> Path:
    """Where a request's result goes: ``output_dir/run_name``, else a fresh
    :func:`request_folder_name` from the tracking video's task and the seed."""
    return output_dir / (run_name or request_folder_name(str(metadata.get("task", "generation")), seed))


@contextmanager
def staged_result_folder(final_dir: Path) -> Iterator[Path]:
    """Fill a result folder atomically: yields a hidden staging folder next to ``final_dir``
    that replaces ``final_dir`` when the block succeeds and is deleted when it fails or is
    cancelled, so no partial result folder is ever visible."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = final_dir.parent / f"{STAGING_PREFIX}{final_dir.name}-{uuid.uuid4().hex[:6]}"
    staging.mkdir()
    try:
        yield staging
        if final_dir.exists():
            shutil.rmtree(final_dir)
        os.replace(staging, final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def remove_stale_staging(output_dir: str | Path, max_age_s: float = STALE_STAGING_AGE_S) -> list[Path]:
    """Delete the ``.incomplete-*`` folders in ``output_dir`` older than ``max_age_s`` (left by a
    hard kill while a result was being written); returns those removed. Young ones may belong
    to a process writing right now and are kept."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    cutoff = time.time() - max_age_s
    removed = []
    for staging in folder.glob(f"{STAGING_PREFIX}*"):
        try:
            if staging.is_dir() and staging.stat().st_mtime < cutoff:
                shutil.rmtree(staging)
                removed.append(staging)
        except OSError as error:  # another process removed it first, or it is not ours to remove
            logger.debug("kept %s: %s", staging, error)
    return removed


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_result_files(staging: Path, video: np.ndarray, tracking_frames: np.ndarray, first_frame: np.ndarray, fps: float) -> None:
    """``video.mp4``, ``tracking.mp4`` and ``first_frame.png`` of one result."""
    write_video(video, staging / VIDEO_NAME, fps)
    write_video(tracking_frames, staging / TRACKING_NAME, fps)
    _write_png(first_frame, staging / FIRST_FRAME_NAME)


def generation_result(
    final_dir: Path, seed: int, elapsed: float, frames: np.ndarray, window_names: Sequence[str] = ()
) -> GenerationResult:
    """The :class:`GenerationResult` naming the files of the result folder ``final_dir``."""
    return GenerationResult(
        video_path=final_dir / VIDEO_NAME,
        tracking_path=final_dir / TRACKING_NAME,
        settings_path=final_dir / SETTINGS_NAME,
        first_frame_path=final_dir / FIRST_FRAME_NAME,
        seed=seed,
        output_dir=final_dir,
        elapsed_s=elapsed,
        frames=frames,
        window_tracking_paths=tuple(final_dir / name for name in window_names),
    )


def _write_png(image: np.ndarray, path: Path) -> None:
    Image.fromarray(image).save(path)


# --------------------------------------------------------------------------------------------
# The settings JSON
# --------------------------------------------------------------------------------------------


def settings_record(
    prompt: str, seed: int, settings: GenerationSettings, fps: float, metadata: dict, video: np.ndarray
) -> dict[str, Any]:
    """The settings JSON's description of one request (what reproduces it)."""
    return {
        "prompt": prompt,
        "seed": seed,
        "settings": {**settings.to_dict(), "seed": seed, "fps": fps},
        "tracking": metadata,
        "num_frames": int(video.shape[0]),
        "height": int(video.shape[1]),
        "width": int(video.shape[2]),
    }


def write_settings(
    staging: Path,
    record: dict[str, Any],
    *,
    model: dict[str, Any],
    tracking_encoding_seed: int,
    started_at: datetime,
    elapsed: float,
) -> None:
    """Complete ``record`` with the model, versions, files and timing; write ``settings.json``."""
    files = {"video": VIDEO_NAME, "tracking": TRACKING_NAME, "first_frame": FIRST_FRAME_NAME, **record.pop("files", {})}
    record.update(
        model=model,
        tracking_encoding_seed=tracking_encoding_seed,
        versions=_versions(),
        files=files,
        started_at=started_at.isoformat(),
        finished_at=datetime.now(timezone.utc).isoformat(),
        elapsed_s=round(elapsed, 3),
    )
    (staging / SETTINGS_NAME).write_text(json.dumps(record, indent=2, default=_json_default), encoding="utf-8")


def _json_default(value: Any) -> Any:
    """Make numpy scalars/arrays and paths JSON-serialisable in the settings file."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _versions() -> dict[str, str]:
    import diffusers
    import torch
    import transformers

    return {
        "app": core.__version__,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }
