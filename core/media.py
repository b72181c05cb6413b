"""Media in and out: images, videos, resizing and H.264 writing (SPEC §8).

Reading
    - :func:`load_video` samples ``T`` frames at a fixed rate (8 fps) from a start time, by
      presentation timestamps, so variable-frame-rate sources keep their real timing. A clip
      whose remaining length is shorter than ``T / fps`` is resampled uniformly over all of
      that length and the output fps is raised to match (see :func:`load_video`).
    - :func:`load_image` reads a still (path, array or PIL image), honours EXIF orientation.
    - :func:`load_media` dispatches on the kind of input; an image becomes ``T`` equal frames.
    - :func:`sample_video_frames` picks ``T`` frames spread uniformly over a whole video (an
      uploaded tracking video) at the working size.
    - :func:`read_video_frames` reads every frame of a video as is (bounded by
      :data:`MAX_READ_FRAMES` and :data:`MAX_READ_BYTES`).

    Decoding streams: the frames to keep are chosen before decoding, each kept frame is
    converted and resized to the working size as soon as it is decoded, and every other frame
    is dropped, so memory grows with the working clip, not with the source (a 600-frame
    1024×1024 upload holds ``T`` working-size frames, never 600 full-size ones).

    Limits are checked from the header before anything is decoded (named constants below);
    every problem with the user's file raises :class:`MediaError`, a ``ValueError`` whose
    message names the file and says what to do.

Writing
    :func:`write_video` encodes H.264 (yuv420p, CRF :data:`H264_CRF`) into a temporary file next
    to the destination and renames it into place, so a failed write never leaves a partial file.

Video decoding and :func:`load_media` live here; the other parts live next to this module and
are re-exported here, where callers import them from: :mod:`core.media_checks` (``MediaError``,
size limit, file checks), :mod:`core.resize` (crop / stretch / pad), :mod:`core.images`
(``load_image``) and :mod:`core.video_writer` (``write_video``).
"""

from __future__ import annotations

import math
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

import av

from core.defaults import FPS as DEFAULT_FPS
from core.defaults import HEIGHT as DEFAULT_HEIGHT
from core.defaults import NUM_FRAMES as DEFAULT_NUM_FRAMES
from core.defaults import RESIZE_MODES
from core.defaults import WIDTH as DEFAULT_WIDTH
from core.images import ALPHA_BACKGROUND_RGB, load_image
from core.media_checks import (
    AV_ERRORS,
    MAX_IMAGE_PIXELS,
    MAX_SIDE_PX,
    ImageSource,
    MediaError,
    PathLike,
    _check_size,
    _existing_file,
    check_file_size,
)
from core.resize import RESIZE_CONTENTS, _check_resize_request, crop_box, pad_box, resize_frames
from core.video_writer import H264_CRF, H264_PIXEL_FORMAT, H264_PRESET, MAX_FPS_DENOMINATOR, write_video

__all__ = [
    "ALPHA_BACKGROUND_RGB",
    "DEFAULT_FPS",
    "DEFAULT_HEIGHT",
    "DEFAULT_NUM_FRAMES",
    "DEFAULT_WIDTH",
    "H264_CRF",
    "H264_PIXEL_FORMAT",
    "H264_PRESET",
    "IMAGE_EXTENSIONS",
    "MAX_DURATION_S",
    "MAX_FPS_DENOMINATOR",
    "MAX_IMAGE_PIXELS",
    "MAX_READ_BYTES",
    "MAX_READ_FRAMES",
    "MAX_SIDE_PX",
    "RESIZE_CONTENTS",
    "RESIZE_MODES",
    "TIMESTAMP_TOLERANCE_S",
    "VIDEO_EXTENSIONS",
    "ImageSource",
    "MediaError",
    "PathLike",
    "SampledVideo",
    "VideoClip",
    "check_file_size",
    "crop_box",
    "load_image",
    "load_media",
    "load_video",
    "pad_box",
    "read_video_frames",
    "resize_frames",
    "sample_video_frames",
    "uniform_indices",
    "write_video",
]

MAX_DURATION_S = 600.0
"""Longest accepted input video (10 minutes)."""
MAX_READ_FRAMES = 1200
"""Most frames :func:`read_video_frames` and :func:`sample_video_frames` accept in a video
(when no ``max_frames`` is given): 50 s at 24 fps, far more than a 49-frame clip needs, and it
bounds the decoding time of an upload."""
MAX_READ_BYTES = 2 * 2**30
"""Most bytes of RGB frames :func:`read_video_frames` returns (it keeps every frame at full
size): 2 GiB is 1200 frames of 720×480, or 43 s of 1080p at 24 fps."""

TIMESTAMP_TOLERANCE_S = 1e-4
"""A frame stamped up to this much after a sample time still counts as shown at that time
(absorbs rounding of rational time bases to float seconds)."""

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif", ".mpg", ".mpeg"})
# Demuxers that "succeed" on things that are not videos: FFmpeg renders any text file as ANSI
# art through `tty`, and stills come through the image demuxers.
_NON_VIDEO_FORMATS = frozenset({"tty"})
_STILL_IMAGE_FORMATS = frozenset({"image2"})
_STILL_IMAGE_FORMAT_SUFFIX = "_pipe"  # png_pipe, jpeg_pipe, webp_pipe… (animated GIF is "gif")
_QUARTER_TURN_DEG = 90.0

_DECODE_ERRORS = AV_ERRORS


@dataclass(frozen=True)
class VideoClip:
    """Frames ready for the tracking recipes.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 RGB.
        fps: frame rate of the output; ``T / fps`` seconds = the source time covered.
        source_fps: the source's nominal frame rate (``None`` for an image or when unknown).
        start_s: where sampling started in the source, seconds from its beginning.
        duration_s: source time covered by the output, seconds (``T / fps``).
        source_duration_s: length of the whole source if known, seconds.
        is_image: the input was a still image repeated ``T`` times.
    """

    frames: np.ndarray
    fps: float
    source_fps: Optional[float]
    start_s: float
    duration_s: float
    source_duration_s: Optional[float] = None
    is_image: bool = False



# --------------------------------------------------------------------------------------------
# Videos: opening, metadata, decoding by timestamps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StreamInfo:
    width: int
    height: int
    nominal_fps: Optional[float]
    duration_s: Optional[float]
    frame_count: Optional[int]


def _open_video(path: Path) -> tuple[Any, Any]:
    """Open ``path`` and return ``(container, video stream)``; header checks only, no decoding."""
    try:
        container = av.open(str(path), mode="r")
    except _DECODE_ERRORS as error:
        raise MediaError(
            f"{path.name} is not a video this app can read (or it is damaged). "
            "Use an MP4 (H.264), MOV or WebM file."
        ) from error
    try:
        format_name = container.format.name or ""
        if format_name in _NON_VIDEO_FORMATS:
            raise MediaError(f"{path.name} is not a video. Use an MP4 (H.264), MOV or WebM file.")
        if format_name in _STILL_IMAGE_FORMATS or format_name.endswith(_STILL_IMAGE_FORMAT_SUFFIX):
            raise MediaError(f"{path.name} is a still image, not a video. Load it as an image instead.")
        if not container.streams.video:
            raise MediaError(f"{path.name} has no video track. Use a file with video in it.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: several times faster on H.264
        return container, stream
    except BaseException:
        container.close()
        raise


def _stream_info(container: Any, stream: Any, name: str) -> _StreamInfo:
    width, height = stream.codec_context.width, stream.codec_context.height
    _check_size(width, height, name)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    nominal_fps = float(rate) if rate else None
    duration_s = None
    if stream.duration is not None and stream.time_base is not None:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration_s = container.duration / av.time_base
    if duration_s is not None and duration_s > MAX_DURATION_S:
        raise MediaError(
            f"{name} lasts {duration_s / 60:.1f} min; at most {MAX_DURATION_S / 60:.0f} min are accepted. "
            "Trim it to the part you need first."
        )
    return _StreamInfo(width, height, nominal_fps, duration_s, stream.frames or None)


def _rotate_upright(rgb: np.ndarray, rotation_deg: float) -> np.ndarray:
    """Apply a display-matrix rotation (counter-clockwise degrees, as PyAV reports it)."""
    quarter_turns = int(round(rotation_deg / _QUARTER_TURN_DEG)) % 4
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def _frame_to_rgb(frame: Any) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    rotation = getattr(frame, "rotation", 0) or 0
    return _rotate_upright(rgb, rotation)


@dataclass
class _TimedFrame:
    time_s: float
    duration_s: float
    frame: Any


def _timed_frames(container: Any, stream: Any, start_s: float, name: str) -> Iterator[_TimedFrame]:
    """Decoded frames with times in seconds from the start of the stream, from about ``start_s``.

    Seeks to the key frame at or before ``start_s`` (so a late start does not decode the whole
    prefix); frames before ``start_s`` may still come out, which is what sampling needs (the
    frame shown at ``start_s`` may have started earlier).
    """
    time_base = stream.time_base
    stream_start = stream.start_time if stream.start_time is not None else 0
    rate = stream.average_rate or stream.guessed_rate
    fallback_duration = 1.0 / float(rate) if rate else 0.0
    if start_s > 0 and time_base is not None:
        try:
            container.seek(stream_start + int(start_s / time_base), stream=stream, backward=True)
        except _DECODE_ERRORS:
            container.seek(0)  # not seekable: decode from the beginning instead
    index = 0
    try:
        for frame in container.decode(stream):
            if frame.pts is not None and time_base is not None:
                time_s = float((frame.pts - stream_start) * time_base)
            else:  # no timestamps (rare raw streams): assume the nominal rate
                time_s = index * fallback_duration
            frame_duration = float(frame.duration * time_base) if frame.duration and time_base else 0.0
            yield _TimedFrame(time_s, frame_duration or fallback_duration, frame)
            index += 1
    except _DECODE_ERRORS as error:
        if index == 0:
            raise MediaError(f"{name} could not be decoded ({error}). Re-export it as MP4 (H.264).") from error
        # A damaged tail: keep what decoded (the end time then comes from the last good frame).


@dataclass
class _Sampling:
    frames: list  # converted frame per target (shared where targets repeat), or None where the stream ended first
    end_s: Optional[float]  # end of the last decoded frame; None if decoding stopped early
    decoded_any: bool


FrameConverter = Callable[[Any], np.ndarray]
"""Turns one decoded PyAV frame into the array to keep (RGB, resized to the working size)."""


def _sample_at_times(
    path: Path, targets_s: np.ndarray, stop_s: float, start_s: float, convert: FrameConverter
) -> _Sampling:
    """The frame shown at each time of ``targets_s`` (ascending, seconds), through ``convert``.

    The frame shown at ``t`` is the last one whose timestamp is ≤ ``t`` (+ tolerance); a target
    before the first frame gets the first frame. Decoding stops at the first frame stamped at or
    after ``stop_s`` once every target is served. Only frames that serve a target are converted,
    each once, as soon as it is known to be needed; every other decoded frame is dropped.
    """
    container, stream = _open_video(path)
    chosen: list = [None] * len(targets_s)
    next_target = 0
    previous: Optional[_TimedFrame] = None
    previous_rgb: Optional[np.ndarray] = None
    try:
        for timed in _timed_frames(container, stream, start_s, path.name):
            if previous is None:
                previous = timed
            while next_target < len(targets_s) and targets_s[next_target] < timed.time_s - TIMESTAMP_TOLERANCE_S:
                if previous_rgb is None:
                    previous_rgb = convert(previous.frame)
                chosen[next_target] = previous_rgb
                next_target += 1
            if timed is not previous:
                previous, previous_rgb = timed, None
            if next_target == len(targets_s) and timed.time_s >= stop_s - TIMESTAMP_TOLERANCE_S:
                return _Sampling(chosen, None, True)
        if previous is None:
            return _Sampling(chosen, None, False)
        end_s = previous.time_s + previous.duration_s
        last_rgb = previous_rgb
        while next_target < len(targets_s) and targets_s[next_target] < end_s - TIMESTAMP_TOLERANCE_S:
            last_rgb = convert(previous.frame) if last_rgb is None else last_rgb
            chosen[next_target] = last_rgb
            next_target += 1
        return _Sampling(chosen, end_s, True)
    finally:
        container.close()


def _probe_video(path: Path) -> _StreamInfo:
    container, stream = _open_video(path)
    try:
        return _stream_info(container, stream, path.name)
    finally:
        container.close()


def load_video(
    path: PathLike,
    num_frames: int = DEFAULT_NUM_FRAMES,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    *,
    fps: float = DEFAULT_FPS,
    start_s: float = 0.0,
    resize_mode: str = "crop",
) -> VideoClip:
    """Sample ``num_frames`` frames at ``fps`` from ``start_s`` and resize them (SPEC §8).

    Sampling: output frame ``i`` is the source frame shown at ``start_s + i / fps`` (the last
    frame whose timestamp is not after that time), so the output plays at the source's speed
    and covers ``T / fps`` seconds. If less than ``T / fps`` seconds remain after ``start_s``
    (``remaining = end of the last frame − start_s``), frame ``i`` is the one shown at
    ``start_s + i · remaining / T`` instead and the output fps becomes ``T / remaining``: the
    ``T`` frames are spread over the whole remaining clip and the output still lasts exactly
    as long as the source time it covers (frames repeat if the source has fewer than ``T``).

    Only the frames from the key frame before ``start_s`` to ``start_s + T / fps`` are decoded,
    and only the sampled ones are converted, each resized to the working size as soon as it is
    decoded (a short clip is decoded twice — once to find its end, once to sample it). Memory
    is the output clip plus one source frame at a time. Display rotation (phone videos) is
    applied.

    Args:
        path: video file.
        num_frames: ``T``.
        height, width: working size in pixels.
        fps: sampling rate in frames per second of source time.
        start_s: where to start, in seconds from the beginning of the video.
        resize_mode: one of :data:`RESIZE_MODES`.

    Returns:
        :class:`VideoClip` with ``frames (T, height, width, 3)`` uint8.

    Raises:
        MediaError: not a readable video, no frames, more than :data:`MAX_SIDE_PX` a side, longer
            than :data:`MAX_DURATION_S`, ``start_s`` at or after the end.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be positive, got {fps}")
    if not (start_s >= 0 and math.isfinite(start_s)):
        raise MediaError(f"The start time must be 0 s or later, got {start_s}.")
    _check_resize_request(resize_mode, "photo", height, width)
    path = _existing_file(path)
    info = _probe_video(path)
    if info.duration_s is not None and start_s >= info.duration_s:
        raise MediaError(
            f"The start time {start_s:.2f} s is at or after the end of {path.name} "
            f"({info.duration_s:.2f} s). Choose an earlier start."
        )

    wanted_s = num_frames / fps
    targets = start_s + np.arange(num_frames) / fps
    if info.duration_s is not None and start_s + wanted_s > info.duration_s + TIMESTAMP_TOLERANCE_S:
        # The header says the clip is short: the first pass only needs to find where it ends.
        targets = targets[:0]
    def convert(frame: Any) -> np.ndarray:
        return resize_frames(_frame_to_rgb(frame), height, width, resize_mode)

    sampling = _sample_at_times(path, targets, start_s + wanted_s, start_s, convert)
    if not sampling.decoded_any:
        raise MediaError(f"{path.name} contains no video frames. Use another file.")
    output_fps = fps
    remaining_s = None if sampling.end_s is None else sampling.end_s - start_s
    if remaining_s is not None and remaining_s <= TIMESTAMP_TOLERANCE_S:
        raise MediaError(
            f"The start time {start_s:.2f} s is at or after the end of {path.name} "
            f"({sampling.end_s:.2f} s). Choose an earlier start."
        )
    if remaining_s is not None and remaining_s < wanted_s - TIMESTAMP_TOLERANCE_S:
        # Short clip: spread the T samples over everything that is left.
        targets = start_s + np.arange(num_frames) * (remaining_s / num_frames)
        sampling = _sample_at_times(path, targets, sampling.end_s, start_s, convert)
        output_fps = num_frames / remaining_s
    elif len(targets) == 0:
        # The header said "short" but the stream goes on: sample normally after all.
        targets = start_s + np.arange(num_frames) / fps
        sampling = _sample_at_times(path, targets, start_s + wanted_s, start_s, convert)
    if any(frame is None for frame in sampling.frames):
        raise MediaError(f"{path.name} ended unexpectedly while reading it. Re-export it as MP4 (H.264).")

    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for index, resized in enumerate(sampling.frames):
        frames[index] = resized
    return VideoClip(
        frames=frames,
        fps=float(output_fps),
        source_fps=info.nominal_fps,
        start_s=float(start_s),
        duration_s=num_frames / float(output_fps),
        source_duration_s=info.duration_s if info.duration_s is not None else sampling.end_s,
        is_image=False,
    )


def read_video_frames(path: PathLike, max_frames: Optional[int] = None) -> tuple[np.ndarray, float]:
    """Read every frame of a video as is (no resampling, no resizing), e.g. a prepared dataset
    clip. To pick ``T`` frames of an upload at the working size use :func:`sample_video_frames`,
    which never holds the whole video.

    Args:
        path: video file.
        max_frames: keep only the first ``max_frames`` frames. Without it, a video of more than
            :data:`MAX_READ_FRAMES` frames is refused.

    Returns:
        ``(frames (T, H, W, 3) uint8, fps)`` — ``fps`` is the stream's nominal rate, or the rate
        implied by the timestamps when the header has none.

    Raises:
        MediaError: unreadable, no frames, too many frames, or more than :data:`MAX_READ_BYTES`
            of decoded frames (checked from the header first, then while decoding).
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    path = _existing_file(path)
    limit = MAX_READ_FRAMES if max_frames is None else max_frames
    container, stream = _open_video(path)
    try:
        info = _stream_info(container, stream, path.name)
        if max_frames is None and info.frame_count is not None and info.frame_count > MAX_READ_FRAMES:
            raise _too_many_frames(path.name, info.frame_count)
        frame_bytes = info.width * info.height * 3
        expected_count = min(limit, info.frame_count) if info.frame_count else None
        if expected_count is not None and expected_count * frame_bytes > MAX_READ_BYTES:
            raise _too_many_bytes(path.name, expected_count, info.width, info.height)
        frames, times, total_bytes = [], [], 0
        for timed in _timed_frames(container, stream, 0.0, path.name):
            if len(frames) == limit:
                if max_frames is None:
                    raise _too_many_frames(path.name, None)
                break
            rgb = _frame_to_rgb(timed.frame)
            total_bytes += rgb.nbytes
            if total_bytes > MAX_READ_BYTES:
                raise _too_many_bytes(path.name, len(frames) + 1, rgb.shape[1], rgb.shape[0])
            frames.append(rgb)
            times.append(timed.time_s)
    finally:
        container.close()
    if not frames:
        raise MediaError(f"{path.name} contains no video frames. Use another file.")
    return np.stack(frames), _frame_rate(info, times[0], times[-1], len(times))


def _frame_rate(info: _StreamInfo, first_time_s: float, last_time_s: float, count: int) -> float:
    """The nominal rate, else the one implied by the timestamps, else :data:`DEFAULT_FPS`."""
    fps = info.nominal_fps
    if not fps and count > 1 and last_time_s > first_time_s:
        fps = (count - 1) / (last_time_s - first_time_s)
    return float(fps or DEFAULT_FPS)


def _too_many_frames(name: str, count: Optional[int]) -> MediaError:
    has = f"has {count} frames" if count else f"has more than {MAX_READ_FRAMES} frames"
    return MediaError(f"{name} {has}; at most {MAX_READ_FRAMES} can be read at once. Trim it first.")


def _too_many_bytes(name: str, count: int, width: int, height: int) -> MediaError:
    return MediaError(
        f"{name}: {count} frames of {width}×{height} would take more than "
        f"{MAX_READ_BYTES / 2**30:.0f} GiB once decoded. Trim or downscale it first."
    )


def uniform_indices(source_count: int, num_frames: int) -> np.ndarray:
    """``num_frames`` source-frame indices spread uniformly over ``source_count`` frames, first
    and last kept (repeats when the source is shorter): ``round(linspace(0, count − 1, T))``."""
    if source_count < 1 or num_frames < 1:
        raise ValueError(f"need at least one frame, got {source_count} source and {num_frames} wanted")
    return np.round(np.linspace(0, source_count - 1, num_frames)).astype(np.int64)


@dataclass(frozen=True)
class SampledVideo:
    """``T`` frames picked uniformly over a whole video (see :func:`sample_video_frames`).

    Attributes:
        frames: ``(T, height, width, 3)`` uint8 RGB at the working size.
        source_fps: the stream's nominal rate, or the rate implied by its timestamps
            (:data:`DEFAULT_FPS` when neither is known), as :func:`read_video_frames` reports it.
        source_frame_count: frames decoded from the source.
        source_size: ``(height, width)`` of the source frames, upright.
        indices: the source frame behind each output frame (``(T,)`` int64).
    """

    frames: np.ndarray
    source_fps: float
    source_frame_count: int
    source_size: tuple[int, int]
    indices: np.ndarray


@dataclass
class _IndexPass:
    count: int  # frames decoded
    kept: dict  # source index → converted frame, for the wanted indices that exist
    source_size: Optional[tuple[int, int]]
    first_time_s: float
    last_time_s: float


def _keep_indices(path: Path, wanted: frozenset, convert: Callable[[np.ndarray], np.ndarray]) -> _IndexPass:
    """Decode the whole video once; only the frames whose index is in ``wanted`` are converted to
    RGB and passed through ``convert`` (e.g. resized), the others are dropped as decoded."""
    container, stream = _open_video(path)
    kept: dict[int, np.ndarray] = {}
    source_size: Optional[tuple[int, int]] = None
    first_time_s = last_time_s = 0.0
    count = 0
    try:
        _stream_info(container, stream, path.name)
        for count, timed in enumerate(_timed_frames(container, stream, 0.0, path.name), start=1):
            if count > MAX_READ_FRAMES:
                raise _too_many_frames(path.name, None)
            if count == 1:
                first_time_s = timed.time_s
            last_time_s = timed.time_s
            if count - 1 in wanted:
                rgb = _frame_to_rgb(timed.frame)
                source_size = source_size or (int(rgb.shape[0]), int(rgb.shape[1]))
                kept[count - 1] = convert(rgb)
    finally:
        container.close()
    return _IndexPass(count, kept, source_size, first_time_s, last_time_s)


def sample_video_frames(
    path: PathLike,
    num_frames: int,
    height: int,
    width: int,
    resize_mode: str = "stretch",
    *,
    content: str = "tracking",
) -> SampledVideo:
    """``num_frames`` frames spread uniformly over a whole video, at the working size.

    This is what an uploaded tracking video needs: output frame ``i`` is source frame
    ``uniform_indices(count, T)[i]``, resized with :func:`resize_frames` (``content`` picks the
    interpolation; ``"tracking"`` never invents colours). The result equals resizing those
    frames of :func:`read_video_frames`, but decoding streams: the wanted indices are chosen
    from the header's frame count before decoding, each wanted frame is resized as soon as it
    is decoded and every other frame is dropped, so memory is the output clip plus one source
    frame. When the header has no frame count, or a wrong one, a second pass decodes the video
    again (decoding twice costs time, never memory).

    Raises:
        MediaError: unreadable, no frames, more than :data:`MAX_READ_FRAMES` frames, more than
            :data:`MAX_SIDE_PX` a side or longer than :data:`MAX_DURATION_S`.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    _check_resize_request(resize_mode, content, height, width)
    path = _existing_file(path)
    info = _probe_video(path)
    if info.frame_count is not None and info.frame_count > MAX_READ_FRAMES:
        raise _too_many_frames(path.name, info.frame_count)

    def convert(rgb: np.ndarray) -> np.ndarray:
        return resize_frames(rgb, height, width, resize_mode, content=content)

    guess = info.frame_count
    wanted = frozenset(uniform_indices(guess, num_frames).tolist()) if guess else frozenset()
    decoded = _keep_indices(path, wanted, convert)
    if decoded.count == 0:
        raise MediaError(f"{path.name} contains no video frames. Use another file.")
    indices = uniform_indices(decoded.count, num_frames)
    if not set(indices.tolist()) <= decoded.kept.keys():
        # The header's count was missing or wrong: decode again, now knowing the count.
        decoded = _keep_indices(path, frozenset(indices.tolist()), convert)
        if decoded.count < int(indices.max()) + 1:
            raise MediaError(f"{path.name} ended unexpectedly while reading it. Re-export it as MP4 (H.264).")
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for position, index in enumerate(indices.tolist()):
        frames[position] = decoded.kept[index]
    return SampledVideo(
        frames=frames,
        source_fps=_frame_rate(info, decoded.first_time_s, decoded.last_time_s, decoded.count),
        source_frame_count=decoded.count,
        source_size=decoded.source_size,
        indices=indices,
    )


# --------------------------------------------------------------------------------------------
# Images or videos
# --------------------------------------------------------------------------------------------


def _is_image_file(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return True
    if suffix in VIDEO_EXTENSIONS:
        return False
    try:  # unknown extension: PIL reads only the header to identify an image
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path):
                return True
    except Image.DecompressionBombError:
        return True  # an image, refused with its own message by load_image
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error):
        return False


def load_media(
    path_or_array: ImageSource,
    num_frames: int = DEFAULT_NUM_FRAMES,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    *,
    resize_mode: str = "crop",
    start_s: float = 0.0,
    fps: float = DEFAULT_FPS,
) -> VideoClip:
    """Load an image or a video as a clip of ``num_frames`` frames at the working size.

    An image (array, PIL image, or image file) becomes ``num_frames`` copies of itself at
    ``fps`` (``is_image=True``, ``start_s`` ignored); a video goes through :func:`load_video`.

    Returns:
        :class:`VideoClip` with ``frames (T, height, width, 3)`` uint8.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if isinstance(path_or_array, (str, os.PathLike)):
        path = _existing_file(path_or_array)
        if not _is_image_file(path):
            return load_video(
                path, num_frames, height, width, fps=fps, start_s=start_s, resize_mode=resize_mode
            )
    image = load_image(path_or_array, height, width, resize_mode)
    frames = np.repeat(image[None], num_frames, axis=0)
    return VideoClip(
        frames=frames,
        fps=float(fps),
        source_fps=None,
        start_s=0.0,
        duration_s=num_frames / float(fps),
        source_duration_s=None,
        is_image=True,
    )
