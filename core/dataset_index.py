"""The training-dataset layout, and reading and checking a dataset folder.

The layout (SPEC §12, the one DaS trained on)::

    DATASET/
      prompt.txt        one caption per line
      videos.txt        one path per line, relative to DATASET (videos/00000.mp4)
      trackings.txt     one path per line, relative to DATASET (tracking/00000_tracking.mp4)
      videos/00000.mp4
      tracking/00000_tracking.mp4

Line ``i`` of the three index files belongs together. This module is what the trainer
(:mod:`core.training`) and the preparation CLI (:mod:`core.dataset`) share; it depends on
neither, and on no task recipe, so training never imports the preparation code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import av

from core.errors import UserError
from core.progress import ProgressFn, report

PROMPT_INDEX = "prompt.txt"
VIDEO_INDEX = "videos.txt"
TRACKING_INDEX = "trackings.txt"
INDEX_FILES = (PROMPT_INDEX, VIDEO_INDEX, TRACKING_INDEX)
VIDEOS_DIR = "videos"
TRACKING_DIR = "tracking"
STATE_DIR = ".prepare"
"""Per-sample done/failed markers of a preparation live here; the trainer ignores the folder."""
SAMPLE_NAME_DIGITS = 5
"""Samples are named ``00000``, ``00001``, … as in DaS."""
TRACKING_SUFFIX = "_tracking"


class DatasetError(UserError):
    """A dataset or its inputs cannot be used; the message says what is wrong and what to do."""


# --------------------------------------------------------------------------------------------
# Reading and validation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetEntry:
    """One line of the index files: caption, and absolute paths of the clip and tracking video."""

    prompt: str
    video: Path
    tracking: Path


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def read_dataset_index(data_dir: str | Path) -> list[DatasetEntry]:
    """The samples listed in a dataset's index files (no file content is checked).

    Raises:
        DatasetError: an index file is missing or the three have different line counts
            (run ``python -m core.dataset validate DIR`` for the full list of problems).
    """
    root = Path(data_dir)
    missing = [name for name in INDEX_FILES if not (root / name).is_file()]
    if missing:
        raise DatasetError(
            f"{root} is not a prepared dataset: missing {', '.join(missing)} "
            f"(make one with `python -m core.dataset prepare SRC_DIR {root}`)"
        )
    prompts, videos, trackings = (_read_lines(root / name) for name in INDEX_FILES)
    if not len(prompts) == len(videos) == len(trackings):
        raise DatasetError(
            f"{root}: index files disagree: {PROMPT_INDEX} has {len(prompts)} lines, {VIDEO_INDEX} "
            f"{len(videos)}, {TRACKING_INDEX} {len(trackings)}; run `python -m core.dataset validate {root}`"
        )
    return [
        DatasetEntry(prompt=prompt, video=root / video.strip(), tracking=root / tracking.strip())
        for prompt, video, tracking in zip(prompts, videos, trackings)
    ]


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: frame count and size (pixels)."""

    num_frames: int
    height: int
    width: int


def probe_video(path: str | Path, decode: bool = True) -> VideoInfo:
    """Frame count and size of a video file.

    Args:
        path: video file.
        decode: decode every frame (proves the file is readable and counts exactly); ``False``
            trusts the container header (fast, for big datasets).

    Raises:
        DatasetError: the file cannot be opened or decoded.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DatasetError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            if not decode:
                # Some containers leave the header's frame count at 0: count packets instead.
                num_frames = int(stream.frames) or sum(1 for packet in container.demux(stream) if packet.size)
                return VideoInfo(num_frames, int(stream.height), int(stream.width))
            count, height, width = 0, int(stream.height), int(stream.width)
            for frame in container.decode(stream):
                count += 1
                height, width = int(frame.height), int(frame.width)
            return VideoInfo(count, height, width)
    except av.error.FFmpegError as error:
        raise DatasetError(f"{path}: cannot be read ({error})") from error


def _is_inside(relative: str) -> bool:
    """Whether an index path stays inside the dataset folder (relative, no ``..``); symlinked
    folders inside the dataset are fine."""
    path = Path(relative)
    return not path.is_absolute() and ".." not in path.parts


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_dataset`: every problem found, and counts."""

    num_samples: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_dataset(
    data_dir: str | Path,
    num_frames: Optional[int] = None,
    height: Optional[int] = None,
    width: Optional[int] = None,
    *,
    decode: bool = True,
    progress: Optional[ProgressFn] = None,
) -> ValidationReport:
    """Check a dataset folder and list *every* problem found.

    Checks: the three index files exist and have the same number of lines; no line is empty
    (a caption may be empty); every referenced file exists inside the dataset folder and can
    be read; each clip and tracking video has ``num_frames`` frames of ``height × width`` when
    those are given, and a clip and its tracking video agree with each other.

    Args:
        data_dir: dataset folder.
        num_frames, height, width: expected clip shape (``None``: not checked).
        decode: decode every frame (exact); ``False`` reads container headers only.

    Returns:
        A :class:`ValidationReport`; ``report.ok`` when nothing is wrong.
    """
    root = Path(data_dir)
    result = ValidationReport()
    if not root.is_dir():
        result.problems.append(f"{root}: dataset folder does not exist")
        return result
    lines: dict[str, list[str]] = {}
    for name in INDEX_FILES:
        if not (root / name).is_file():
            result.problems.append(f"{name}: missing")
        else:
            lines[name] = _read_lines(root / name)
    counts = {name: len(entries) for name, entries in lines.items()}
    if len(set(counts.values())) > 1:
        result.problems.append(
            "index files have different line counts: " + ", ".join(f"{name} {count}" for name, count in counts.items())
        )
    result.num_samples = min(counts.values()) if counts else 0
    if counts and max(counts.values()) == 0:
        result.problems.append("index files are empty: the dataset has no samples")

    expected = {"frames": num_frames, "height": height, "width": width}
    seen: dict[str, int] = {}
    for kind_index in (VIDEO_INDEX, TRACKING_INDEX):
        for line_number, relative in enumerate(lines.get(kind_index, []), start=1):
            where = f"{kind_index} line {line_number}"
            relative = relative.strip()
            if not relative:
                result.problems.append(f"{where}: empty path")
                continue
            if relative in seen:
                result.problems.append(f"{where}: {relative} is listed more than once")
            seen[relative] = line_number
            path = root / relative
            if not _is_inside(relative):
                result.problems.append(f"{where}: {relative} is not a relative path inside the dataset")
                continue
            if not path.is_file():
                result.problems.append(f"{where}: {relative} does not exist")

    total = sum(len(lines.get(name, [])) for name in (VIDEO_INDEX, TRACKING_INDEX))
    done = 0
    video_lines = lines.get(VIDEO_INDEX, [])
    tracking_lines = lines.get(TRACKING_INDEX, [])
    for line_number in range(1, max(len(video_lines), len(tracking_lines)) + 1):
        infos: dict[str, VideoInfo] = {}
        for kind_index, kind_lines in ((VIDEO_INDEX, video_lines), (TRACKING_INDEX, tracking_lines)):
            if line_number > len(kind_lines):
                continue
            done += 1
            report(progress, done / max(total, 1), f"checking {kind_lines[line_number - 1]}")
            relative = kind_lines[line_number - 1].strip()
            path = root / relative
            if not relative or not _is_inside(relative) or not path.is_file():
                continue
            where = f"{kind_index} line {line_number}: {relative}"
            try:
                info = probe_video(path, decode=decode)
            except DatasetError as error:
                result.problems.append(f"{where}: unreadable ({error})")
                continue
            infos[kind_index] = info
            actual = {"frames": info.num_frames, "height": info.height, "width": info.width}
            wrong = [
                f"{key} {actual[key]} (expected {want})"
                for key, want in expected.items()
                if want is not None and actual[key] != want
            ]
            if wrong:
                result.problems.append(f"{where}: " + ", ".join(wrong))
        if len(infos) == 2 and infos[VIDEO_INDEX] != infos[TRACKING_INDEX]:
            video, tracking = infos[VIDEO_INDEX], infos[TRACKING_INDEX]
            result.problems.append(
                f"line {line_number}: clip is {video.num_frames}×{video.height}×{video.width} but its tracking video "
                f"is {tracking.num_frames}×{tracking.height}×{tracking.width} (frames×height×width)"
            )
    return result
