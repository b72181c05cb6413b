"""Re-running a result from its ``settings.json``: the studio's *Load settings* and
``python -m core rerun --settings FILE``.

A result folder (:meth:`core.engine.Engine.generate`) holds the generated video, the tracking
video, the first frame and ``settings.json`` (prompt, seed, sampling settings, the tracking
video's metadata). Generating again from the same tracking frames, first frame, prompt, seed
and settings on the same checkpoint and device gives the same video. The tracking video is
stored as H.264 (lossy), so results written by the studio also keep the exact frames
(:data:`EXACT_TRACKING_NAME`); a re-run uses them when present and says when it had to fall
back to the mp4. An object mask painted in the studio is stored as :data:`MASK_NAME`, so the
object manipulation can be rebuilt from the same selection.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from core import validation
from core.engine import FIRST_FRAME_NAME, SETTINGS_NAME, TRACKING_NAME, GenerationSettings
from core.errors import UserError
from core.tasks import FIRST_FRAME_SOURCE, TrackingResult

EXACT_TRACKING_NAME = "tracking_frames.npz"
"""The tracking frames as written to the model, uint8, losslessly compressed."""
MASK_NAME = "object_mask.png"
"""The object mask of an Object Manipulation result (white = object)."""
MAX_SETTINGS_BYTES = 10 * 2**20
"""A settings JSON is a few kilobytes; anything this large is not one."""


class SettingsFileError(UserError):
    """A settings JSON that cannot be re-run; the message names the file and what is missing."""


@dataclass(frozen=True)
class RecordedRun:
    """Everything needed to generate a result again.

    Attributes:
        prompt: the prompt used.
        settings: the sampling settings, with the seed actually used (never -1).
        tracking: the tracking video and first frame (metadata as recorded).
        folder: the result folder the files were read from.
        exact_tracking: whether the tracking frames are the exact ones (:data:`EXACT_TRACKING_NAME`)
            rather than decoded from the H.264 tracking video.
    """

    prompt: str
    settings: GenerationSettings
    tracking: TrackingResult
    folder: Path
    exact_tracking: bool


def read_record(path: str | Path) -> dict[str, Any]:
    """The JSON object of a settings file.

    Raises:
        SettingsFileError: missing, too large, not JSON, or not a result's settings.
    """
    path = Path(path)
    if not path.is_file():
        raise SettingsFileError(f"{path}: no such settings file (pick the settings.json of a result folder).")
    if path.stat().st_size > MAX_SETTINGS_BYTES:
        raise SettingsFileError(f"{path.name}: too large for a settings JSON; pick the settings.json of a result folder.")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SettingsFileError(f"{path.name} is not a settings JSON ({error}); pick the settings.json of a result folder.") from None
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict) or "prompt" not in record:
        raise SettingsFileError(f"{path.name} is not the settings.json of a result: it has no prompt and settings.")
    return record


def recorded_settings(record: dict[str, Any], name: str = SETTINGS_NAME) -> GenerationSettings:
    """The sampling settings of a record, checked as the studio and CLI check them."""
    values = dict(record["settings"])
    try:
        values["seed"] = validation.seed(values.get("seed", record.get("seed")))
        values["num_inference_steps"] = validation.steps(values.get("num_inference_steps"))
        values["guidance_scale"] = validation.guidance(values.get("guidance_scale"))
        values["negative_prompt"] = validation.negative_prompt(values.get("negative_prompt"))
        values["fps"] = validation.fps(values.get("fps"), blank_means_default=True)
        return GenerationSettings.from_dict(values)
    except (UserError, TypeError, ValueError) as error:
        raise SettingsFileError(f"{name}: {error}") from None


def find_result_folder(settings_path: str | Path, output_dir: str | Path) -> Optional[Path]:
    """The folder under ``output_dir`` whose ``settings.json`` has the same bytes as
    ``settings_path`` (an uploaded copy of it), or ``None``."""
    digest = hashlib.sha256(Path(settings_path).read_bytes()).hexdigest()
    root = Path(output_dir)
    if not root.is_dir():
        return None
    for candidate in sorted(root.glob(f"*/{SETTINGS_NAME}"), reverse=True):
        try:
            if hashlib.sha256(candidate.read_bytes()).hexdigest() == digest:
                return candidate.parent
        except OSError:
            continue
    return None


def read_recorded_run(settings_path: str | Path, folder: Optional[str | Path] = None) -> RecordedRun:
    """A result's run, read from its ``settings.json`` and the files next to it (or in ``folder``).

    Raises:
        SettingsFileError: the JSON is not a result's settings, or the tracking video or first
            frame it names is missing.
        MediaError: those files cannot be read.
    """
    from core.media import load_image, load_media

    settings_path = Path(settings_path)
    record = read_record(settings_path)
    folder = Path(folder) if folder is not None else settings_path.parent
    name = settings_path.name
    prompt = validation.prompt(record.get("prompt"))
    settings = recorded_settings(record, name)
    files = record.get("files") if isinstance(record.get("files"), dict) else {}
    try:
        num_frames = validation.num_frames(record.get("num_frames"))
        height = validation.whole_number(record.get("height"), "height", 8, 8192)
        width = validation.whole_number(record.get("width"), "width", 8, 8192)
    except UserError as error:
        raise SettingsFileError(f"{name}: {error}") from None
    tracking_file = folder / str(files.get("tracking", TRACKING_NAME))
    first_frame_file = folder / str(files.get("first_frame", FIRST_FRAME_NAME))
    exact_file = folder / EXACT_TRACKING_NAME
    for needed in (first_frame_file,) if exact_file.is_file() else (tracking_file, first_frame_file):
        if not needed.is_file():
            raise SettingsFileError(
                f"{name}: {needed.name} is not in {folder}; a re-run needs the result folder's files next to its "
                "settings.json (keep the folder together)."
            )
    exact = exact_file.is_file()
    if exact:
        with np.load(exact_file) as stored:
            frames = np.asarray(stored["frames"])
        if frames.dtype != np.uint8 or frames.shape != (num_frames, height, width, 3):
            raise SettingsFileError(f"{exact_file.name} does not hold {num_frames} frames of {width}×{height}.")
    else:
        frames = load_media(str(tracking_file), num_frames, height, width, resize_mode="stretch").frames
    first_frame = load_image(str(first_frame_file), height, width, "stretch")
    metadata = record.get("tracking") if isinstance(record.get("tracking"), dict) else {}
    empty = np.zeros((0, 3), dtype=np.float32)
    tracking = TrackingResult(
        frames=frames,
        first_frame=first_frame,
        source_frames=None,
        uvz=np.zeros((num_frames, 0, 3), dtype=np.float32),
        visible=np.zeros((num_frames, 0), dtype=bool),
        colors=np.zeros((0, 3), dtype=np.uint8),
        fps=float(settings.fps or metadata.get("fps") or 8.0),
        points=empty,
        point_colors=np.zeros((0, 3), dtype=np.uint8),
        metadata={**metadata, "rerun_of": folder.name},
        task=str(metadata.get("task", "")),
        first_frame_origin=str(metadata.get("first_frame", FIRST_FRAME_SOURCE)),
    )
    return RecordedRun(prompt, settings, tracking, folder, exact)


def save_exact_tracking(result_dir: str | Path, frames: np.ndarray) -> Path:
    """Keep the exact tracking frames next to a result (see :data:`EXACT_TRACKING_NAME`)."""
    path = Path(result_dir) / EXACT_TRACKING_NAME
    np.savez_compressed(path, frames=np.asarray(frames, dtype=np.uint8))
    return path


def save_mask(result_dir: str | Path, mask: np.ndarray) -> Path:
    """Keep an ``(H, W)`` bool object mask next to a result as a black-and-white PNG."""
    from PIL import Image

    path = Path(result_dir) / MASK_NAME
    Image.fromarray(np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8)).save(path)
    return path


def rerun(
    engine: Any,
    settings_path: str | Path,
    *,
    folder: Optional[str | Path] = None,
    progress: Optional[Callable[[float, str], None]] = None,
    cancel: Optional[Callable[[], bool]] = None,
):
    """Generate a result again from its ``settings.json``; returns the new
    :class:`core.engine.GenerationResult` (a new result folder, with the exact tracking kept)."""
    run = read_recorded_run(settings_path, folder)
    result = engine.generate(run.tracking.first_frame, run.tracking, run.prompt, run.settings, progress=progress, cancel=cancel)
    save_exact_tracking(result.output_dir, run.tracking.frames)
    mask = run.folder / MASK_NAME
    if mask.is_file():
        (result.output_dir / MASK_NAME).write_bytes(mask.read_bytes())
    return result
