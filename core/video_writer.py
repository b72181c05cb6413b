"""Videos out: frames → an H.264 (yuv420p) MP4 written atomically (SPEC §8).
Re-exported by :mod:`core.media`.
"""

from __future__ import annotations

import math
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.media_checks import AV_ERRORS, MediaError, PathLike

H264_CRF = 12
"""Constant rate factor of written videos: visually lossless, so colours of tracking videos
survive for display (the model itself always gets the raw frames, SPEC §5)."""
H264_PRESET = "fast"
H264_PIXEL_FORMAT = "yuv420p"
MAX_FPS_DENOMINATOR = 1001
"""Output frame rates are stored as fractions; this bounds their denominator (NTSC-style)."""

_WRITE_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}


def _even_frames(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: repeat the last row/column when a side is odd (invisible)."""
    pad_rows = frames.shape[1] % 2
    pad_cols = frames.shape[2] % 2
    if not (pad_rows or pad_cols):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_rows), (0, pad_cols), (0, 0)), mode="edge")


def write_video(frames: np.ndarray, path: PathLike, fps: float) -> Path:
    """Encode frames as an H.264 (yuv420p) MP4, atomically.

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB, ``T >= 1``. An odd ``H`` or ``W`` is padded by
            repeating the last row/column (yuv420p needs even sizes), so the file is then one
            pixel larger on that side.
        path: destination ``.mp4`` (or ``.m4v``/``.mov``); parent folders are created.
        fps: frames per second (stored as a fraction with denominator ≤ 1001).

    Returns:
        The destination path. The file is written to a temporary name in the same folder and
        renamed into place, so on any error no file (partial or temporary) is left behind and an
        existing file at ``path`` is untouched.
    """
    path = Path(path)
    container_format = _WRITE_FORMATS.get(path.suffix.lower())
    if container_format is None:
        raise MediaError(f"videos are written as MP4: use a .mp4 file name, got {path.name!r}")
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise MediaError(f"frames must have shape (T>=1, H, W, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise MediaError(f"frames must be uint8, got {frames.dtype}")
    if frames.shape[1] < 1 or frames.shape[2] < 1:
        raise MediaError(f"frames have no pixels: {frames.shape}")
    if not (fps > 0 and math.isfinite(fps)):
        raise MediaError(f"fps must be positive, got {fps}")
    frames = _even_frames(frames)
    rate = Fraction(fps).limit_denominator(MAX_FPS_DENOMINATOR)

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(handle)
    try:
        with av.open(temp_name, mode="w", format=container_format) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = H264_PIXEL_FORMAT
            stream.options = {"crf": str(H264_CRF), "preset": H264_PRESET}
            for image in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())  # flush delayed frames
        os.replace(temp_name, path)
    except BaseException as error:
        Path(temp_name).unlink(missing_ok=True)
        if isinstance(error, AV_ERRORS):
            raise MediaError(f"could not write {path.name}: {error}") from error
        raise
    return path
