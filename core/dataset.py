"""Training data for the tracking branch: prepare a DaS-layout dataset and validate one.

The layout, and reading and validating a dataset, live in :mod:`core.dataset_index` (shared
with the trainer, which does not import this module); their names are re-exported here.
Preparation takes a folder of videos,
cuts each into a ``T``-frame ``H×W`` clip with :func:`core.media.load_video` (8 fps sampling,
SPEC §8) and renders its tracking video with our motion-transfer recipe
(:func:`core.tasks.motion_transfer`), so training sees exactly what the app feeds the model.

Command line::

    python -m core.dataset prepare SRC_DIR OUT_DIR [--captions captions.jsonl] \\
        [--num-frames 49 --height 480 --width 720]
    accelerate launch --multi_gpu --num_processes N -m core.dataset prepare SRC_DIR OUT_DIR ...  # sharded
    python -m core.dataset validate DATASET [--num-frames 49 --height 480 --width 720]

Preparation is resumable: each finished sample leaves a marker under ``OUT_DIR/.prepare/``
and a rerun skips it. Under ``accelerate launch`` process ``p`` of ``P`` takes samples
``p, p+P, p+2P, …``; the main process writes the index files after every process finished,
in sorted source order, so the result does not depend on the number of processes.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from core import defaults
from core.dataset_index import (
    INDEX_FILES,
    PROMPT_INDEX,
    SAMPLE_NAME_DIGITS,
    STATE_DIR,
    TRACKING_DIR,
    TRACKING_INDEX,
    TRACKING_SUFFIX,
    VIDEO_INDEX,
    VIDEOS_DIR,
    DatasetEntry,
    DatasetError,
    ValidationReport,
    VideoInfo,
    probe_video,
    read_dataset_index,
    validate_dataset,
)
from core.jobs import Shard, current_shard, read_json, single_process, write_json_atomic, write_text_atomic
from core.media import load_video, write_video
from core.options import ClipOptions, TrackingOptions, WorkingSize
from core.progress import CancelFn, Cancelled, ProgressFn, check_cancel, report

__all__ = [
    "INDEX_FILES",
    "PROMPT_INDEX",
    "STATE_DIR",
    "TRACKING_DIR",
    "TRACKING_INDEX",
    "VIDEO_INDEX",
    "VIDEOS_DIR",
    "DatasetEntry",
    "DatasetError",
    "PrepareConfig",
    "PrepareReport",
    "SourceSample",
    "ValidationReport",
    "VideoInfo",
    "caption_from_filename",
    "find_source_videos",
    "main",
    "motion_transfer_tracking",
    "plan_samples",
    "prepare_dataset",
    "prepare_samples",
    "probe_video",
    "read_captions",
    "read_dataset_index",
    "validate_dataset",
    "write_index_files",
]

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")

CAPTION_DEFAULTS = ("filename", "empty")
CAPTION_VIDEO_KEYS = ("video", "file", "path", "name", "filename")
CAPTION_TEXT_KEYS = ("caption", "prompt", "text")

MARKER_VERSION = 1
"""Bump when the meaning of a finished sample changes, so old markers are redone."""

TrackingFn = Callable[[np.ndarray, float], np.ndarray]
"""``(frames (T,H,W,3) uint8, fps) -> tracking frames (T,H,W,3) uint8``."""


# --------------------------------------------------------------------------------------------
# Planning: which source becomes which sample, with which caption
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSample:
    """One planned sample: source video (relative to the source folder) and its caption."""

    index: int
    source: str
    caption: str

    @property
    def name(self) -> str:
        return f"{self.index:0{SAMPLE_NAME_DIGITS}d}"

    @property
    def video_path(self) -> str:
        """Path of the clip, relative to the dataset folder (POSIX separators)."""
        return f"{VIDEOS_DIR}/{self.name}.mp4"

    @property
    def tracking_path(self) -> str:
        """Path of the tracking video, relative to the dataset folder (POSIX separators)."""
        return f"{TRACKING_DIR}/{self.name}{TRACKING_SUFFIX}.mp4"


def find_source_videos(src_dir: str | Path) -> list[str]:
    """Video files under ``src_dir`` (recursively), as sorted POSIX paths relative to it.

    Hidden files and folders (``.name``) are skipped. Sorting is by the relative path, so the
    order (and so the sample numbering) is the same on every machine and process.
    """
    root = Path(src_dir)
    if not root.is_dir():
        raise DatasetError(f"source folder {root} does not exist or is not a folder")
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
            found.append(relative.as_posix())
    return sorted(found)


def caption_from_filename(source: str) -> str:
    """A caption made from a file name: ``a_red-car.driving.mp4`` → ``a red car driving``."""
    stem = Path(source).stem
    return re.sub(r"\s+", " ", re.sub(r"[_\-.]+", " ", stem)).strip()


def clean_caption(caption: str) -> str:
    """One-line caption: ``prompt.txt`` holds one caption per line, so newlines become spaces."""
    return re.sub(r"\s+", " ", str(caption)).strip()


def read_captions(path: str | Path, sources: Sequence[str]) -> dict[str, str]:
    """Captions for ``sources`` from a captions file.

    Formats:
      - ``.jsonl``: one JSON object per line with the video under one of the keys
        ``video``/``file``/``path``/``name``/``filename`` and the text under
        ``caption``/``prompt``/``text``. The video is matched by relative path, file name or stem.
      - ``.json``: an object ``{video: caption}`` matched the same way.
      - ``.txt`` (or anything else): if every non-empty line has a tab, ``video<TAB>caption``;
        otherwise one caption per line in sorted source order (the counts must match).

    Args:
        path: the captions file.
        sources: the relative source paths from :func:`find_source_videos`.

    Returns:
        ``{source: caption}`` for the sources that have one (others are left out).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"captions file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    pairs: list[tuple[str, str]] = []
    if suffix == ".jsonl":
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{path}:{line_number}: not valid JSON ({error.msg})") from error
            if not isinstance(record, dict):
                raise DatasetError(f"{path}:{line_number}: expected a JSON object per line")
            video_key = next((key for key in CAPTION_VIDEO_KEYS if key in record), None)
            text_key = next((key for key in CAPTION_TEXT_KEYS if key in record), None)
            if video_key is None or text_key is None:
                raise DatasetError(
                    f"{path}:{line_number}: needs a video key ({'/'.join(CAPTION_VIDEO_KEYS)}) and a caption key "
                    f"({'/'.join(CAPTION_TEXT_KEYS)}), got keys {sorted(record)}"
                )
            pairs.append((str(record[video_key]), str(record[text_key])))
    elif suffix == ".json":
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}: not valid JSON ({error.msg})") from error
        if not isinstance(mapping, dict):
            raise DatasetError(f"{path}: expected a JSON object {{video: caption}}")
        pairs = [(str(key), str(value)) for key, value in mapping.items()]
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        if lines and all("\t" in line for line in lines):
            pairs = [tuple(line.split("\t", 1)) for line in lines]  # type: ignore[misc]
        else:
            if len(lines) != len(sources):
                raise DatasetError(
                    f"{path} has {len(lines)} caption lines but the source folder has {len(sources)} videos; "
                    "a plain caption file needs one line per video in sorted file-name order, or use "
                    "'video<TAB>caption' lines or a .jsonl file"
                )
            return {source: clean_caption(line) for source, line in zip(sources, lines)}

    lookup: dict[str, str] = {}
    for source in sources:
        for key in (source, Path(source).name, Path(source).stem):
            lookup.setdefault(key, source)
    captions: dict[str, str] = {}
    unmatched = []
    for video, caption in pairs:
        video = video.strip().replace("\\", "/")
        source = lookup.get(video) or lookup.get(Path(video).name) or lookup.get(Path(video).stem)
        if source is None:
            unmatched.append(video)
            continue
        captions[source] = clean_caption(caption)
    if unmatched:
        logger.warning("%d caption(s) in %s match no source video, e.g. %s", len(unmatched), path, unmatched[:3])
    return captions


def plan_samples(
    src_dir: str | Path, captions: str | Path | None = None, default_caption: str = "filename"
) -> tuple[list[SourceSample], list[str]]:
    """Number the source videos in sorted order and attach captions.

    Args:
        src_dir: folder of videos.
        captions: optional captions file (see :func:`read_captions`).
        default_caption: for videos without a caption: ``"filename"`` (words of the file name)
            or ``"empty"``.

    Returns:
        ``(samples, warnings)``; ``warnings`` says which videos got a default caption.
    """
    if default_caption not in CAPTION_DEFAULTS:
        raise DatasetError(f"default caption must be one of {CAPTION_DEFAULTS}, got {default_caption!r}")
    sources = find_source_videos(src_dir)
    if not sources:
        raise DatasetError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) found under {src_dir}")
    known = read_captions(captions, sources) if captions is not None else {}
    samples, defaulted = [], []
    for index, source in enumerate(sources):
        caption = known.get(source)
        if caption is None:
            defaulted.append(source)
            caption = caption_from_filename(source) if default_caption == "filename" else ""
        samples.append(SourceSample(index=index, source=source, caption=caption))
    warnings = []
    if defaulted:
        how = "captions made from file names" if default_caption == "filename" else "empty captions"
        where = "no --captions file was given" if captions is None else f"{captions} has no caption for them"
        warnings.append(
            f"{len(defaulted)} of {len(sources)} video(s) get {how} because {where} "
            f"(e.g. {', '.join(defaulted[:3])}); DaS trained on real captions — prefer a captions file"
        )
    return samples, warnings


# --------------------------------------------------------------------------------------------
# Preparation
# --------------------------------------------------------------------------------------------


@dataclass
class PrepareConfig:
    """How clips and tracking videos are made.

    Attributes:
        num_frames: ``T`` frames per clip.
        height, width: clip size in pixels.
        fps: sampling rate of the source (SPEC §8: 8 fps).
        start_s: where in each source video the clip starts, in seconds.
        resize_mode: ``crop`` (centre crop, default), ``stretch`` (what DaS did) or ``pad``.
        grid_size: tracks per side of the grid (motion-transfer recipe).
        tracker: 2D point tracker method (``trackers.points``; ``auto`` picks the best available).
        depth_method: depth method (``trackers.depth``; ``auto`` picks the best available).
        default_caption: ``filename`` or ``empty`` for videos without a caption.
    """

    num_frames: int = defaults.NUM_FRAMES
    height: int = defaults.HEIGHT
    width: int = defaults.WIDTH
    fps: float = defaults.FPS
    start_s: float = 0.0
    resize_mode: str = defaults.DEFAULT_RESIZE_MODE
    grid_size: int = defaults.GRID_SIZE
    tracker: str = "auto"
    depth_method: str = "auto"
    default_caption: str = "filename"

    @property
    def size(self) -> WorkingSize:
        return WorkingSize(self.num_frames, self.height, self.width)

    @property
    def clip(self) -> ClipOptions:
        return ClipOptions(resize_mode=self.resize_mode, start_s=self.start_s)

    def tracking(self, device: Optional[str] = None) -> TrackingOptions:
        """The recipe's tracking options (``device``: this process's GPU, if any)."""
        return TrackingOptions(
            depth_method=self.depth_method, tracker=self.tracker, grid_size=self.grid_size, device=device
        )

    def marker_settings(self) -> dict[str, Any]:
        """The settings a finished sample depends on (a change redoes the sample)."""
        return {
            "version": MARKER_VERSION,
            "num_frames": self.num_frames,
            "height": self.height,
            "width": self.width,
            "fps": self.fps,
            "start_s": self.start_s,
            "resize_mode": self.resize_mode,
            "grid_size": self.grid_size,
            "tracker": self.tracker,
            "depth_method": self.depth_method,
        }


@dataclass
class PrepareReport:
    """What a preparation run did (for this process, or merged on the main process)."""

    planned: int = 0
    made: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    indexed: Optional[int] = None
    """Samples written to the index files (main process only, after merging)."""


def motion_transfer_tracking(
    config: PrepareConfig, device: Optional[str] = None
) -> TrackingFn:
    """The default tracking recipe: :func:`core.tasks.motion_transfer` on the clip's frames.

    Args:
        config: grid size, tracker and depth method.
        device: torch device for the trackers (under ``accelerate`` each process its own GPU).

    Returns:
        A function ``(frames (T,H,W,3) uint8, fps) -> tracking (T,H,W,3) uint8``.
    """

    tracking = config.tracking(device)

    def render(frames: np.ndarray, fps: float) -> np.ndarray:
        # The recipes pull in the depth and tracker stacks: loaded when a sample is made.
        from core.tasks import motion_transfer

        result = motion_transfer(frames, size=WorkingSize.from_native(frames.shape[:3]), tracking=tracking)
        return np.asarray(result.frames, dtype=np.uint8)

    return render


def _marker_path(out_dir: Path, sample: SourceSample, kind: str) -> Path:
    return out_dir / STATE_DIR / f"{sample.name}.{kind}.json"


def sample_is_done(out_dir: str | Path, sample: SourceSample, config: PrepareConfig) -> bool:
    """Whether a previous run finished ``sample`` with the same source and settings."""
    out_dir = Path(out_dir)
    marker = read_json(_marker_path(out_dir, sample, "done"))
    if marker is None:
        return False
    return (
        marker.get("source") == sample.source
        and marker.get("settings") == config.marker_settings()
        and (out_dir / sample.video_path).is_file()
        and (out_dir / sample.tracking_path).is_file()
    )


def prepare_sample(
    sample: SourceSample,
    src_dir: str | Path,
    out_dir: str | Path,
    config: PrepareConfig,
    tracking_fn: TrackingFn,
) -> None:
    """Make one sample's clip and tracking video and mark it done.

    The clip is ``config.num_frames`` frames of ``config.height × config.width`` (H.264); the
    tracking video is rendered from the *decoded clip frames before compression*, so tracks line
    up with the pixels the model sees.
    """
    out_dir = Path(out_dir)
    clip = load_video(
        Path(src_dir) / sample.source,
        num_frames=config.num_frames,
        height=config.height,
        width=config.width,
        fps=config.fps,
        start_s=config.start_s,
        resize_mode=config.resize_mode,
    )
    frames = np.asarray(clip.frames, dtype=np.uint8)
    tracking = np.asarray(tracking_fn(frames, float(clip.fps)), dtype=np.uint8)
    if tracking.shape != frames.shape:
        raise DatasetError(
            f"tracking video has shape {tracking.shape}, expected the clip's shape {frames.shape}"
        )
    (out_dir / VIDEOS_DIR).mkdir(parents=True, exist_ok=True)
    (out_dir / TRACKING_DIR).mkdir(parents=True, exist_ok=True)
    write_video(frames, out_dir / sample.video_path, fps=float(clip.fps))
    write_video(tracking, out_dir / sample.tracking_path, fps=float(clip.fps))
    _marker_path(out_dir, sample, "failed").unlink(missing_ok=True)
    write_json_atomic(
        _marker_path(out_dir, sample, "done"),
        {
            "source": sample.source,
            "caption": sample.caption,
            "video": sample.video_path,
            "tracking": sample.tracking_path,
            "fps": float(clip.fps),
            "settings": config.marker_settings(),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )


def prepare_samples(
    samples: Sequence[SourceSample],
    src_dir: str | Path,
    out_dir: str | Path,
    config: PrepareConfig,
    tracking_fn: TrackingFn,
    *,
    overwrite: bool = False,
    fail_fast: bool = False,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> PrepareReport:
    """Make every sample in ``samples`` (one process's share), skipping finished ones.

    A sample that fails (unreadable video, tracker error) is recorded in a ``.failed.json``
    marker and left out of the index; the others go on unless ``fail_fast``.
    """
    out_dir = Path(out_dir)
    result = PrepareReport(planned=len(samples))
    for position, sample in enumerate(samples):
        check_cancel(cancel, "dataset preparation")
        report(progress, position / max(len(samples), 1), f"sample {sample.name} ({sample.source})")
        if not overwrite and sample_is_done(out_dir, sample, config):
            result.skipped.append(sample.name)
            continue
        try:
            prepare_sample(sample, src_dir, out_dir, config, tracking_fn)
        except Cancelled:
            raise
        except Exception as error:  # one bad video must not stop a long job; it is recorded below
            if fail_fast:
                raise
            message = f"{type(error).__name__}: {error}"
            logger.warning("sample %s (%s) failed: %s", sample.name, sample.source, message)
            write_json_atomic(_marker_path(out_dir, sample, "failed"), {"source": sample.source, "error": message})
            result.failed[sample.name] = message
            continue
        result.made.append(sample.name)
    report(progress, 1.0, "done")
    return result


def write_index_files(out_dir: str | Path, samples: Sequence[SourceSample], config: PrepareConfig) -> int:
    """Write ``prompt.txt``, ``videos.txt``, ``trackings.txt`` for the finished samples.

    Lines follow ``samples`` (sorted source order); samples that are not done are left out.
    Files are replaced atomically, so a reader never sees a half-written index.

    Returns:
        The number of samples indexed.
    """
    out_dir = Path(out_dir)
    finished = [sample for sample in samples if sample_is_done(out_dir, sample, config)]
    write_text_atomic(out_dir / PROMPT_INDEX, "".join(f"{sample.caption}\n" for sample in finished))
    write_text_atomic(out_dir / VIDEO_INDEX, "".join(f"{sample.video_path}\n" for sample in finished))
    write_text_atomic(out_dir / TRACKING_INDEX, "".join(f"{sample.tracking_path}\n" for sample in finished))
    return len(finished)


def prepare_dataset(
    src_dir: str | Path,
    out_dir: str | Path,
    *,
    captions: str | Path | None = None,
    config: Optional[PrepareConfig] = None,
    tracking_fn: Optional[TrackingFn] = None,
    shard: Optional[Shard] = None,
    overwrite: bool = False,
    fail_fast: bool = False,
    write_index: bool = True,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> PrepareReport:
    """Build (or resume) a training dataset from a folder of videos, in one process.

    Args:
        src_dir: folder of source videos (searched recursively).
        out_dir: dataset folder to create or complete.
        captions: optional captions file (see :func:`read_captions`).
        config: clip size and tracking settings (defaults: 49 × 480 × 720 at 8 fps).
        tracking_fn: ``(frames (T,H,W,3) uint8, fps) -> (T,H,W,3) uint8``; default: the
            motion-transfer recipe (:func:`motion_transfer_tracking`).
        shard: this process's share of the samples (:func:`core.jobs.current_shard`);
            default: a single process making every sample.
        overwrite: redo samples even when finished.
        fail_fast: stop at the first failing sample instead of recording it.
        write_index: write the index files at the end (the multi-process CLI lets only the
            main process do it, after all processes finished).

    Returns:
        A :class:`PrepareReport`.
    """
    config = config or PrepareConfig()
    samples, warnings = plan_samples(src_dir, captions, config.default_caption)
    for warning in warnings:
        logger.warning(warning)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    shard = shard or single_process()
    result = prepare_samples(
        shard.share(samples),
        src_dir,
        out_dir,
        config,
        tracking_fn or motion_transfer_tracking(config),
        overwrite=overwrite,
        fail_fast=fail_fast,
        progress=progress,
        cancel=cancel,
    )
    result.warnings = warnings
    if write_index:
        result.indexed = write_index_files(out_dir, samples, config)
    return result


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _add_shape_arguments(parser: argparse.ArgumentParser, with_defaults: bool) -> None:
    def default(value: int) -> Optional[int]:
        return value if with_defaults else None

    parser.add_argument("--num-frames", type=int, default=default(defaults.NUM_FRAMES), help="frames per clip (T)")
    parser.add_argument("--height", type=int, default=default(defaults.HEIGHT), help="clip height in pixels")
    parser.add_argument("--width", type=int, default=default(defaults.WIDTH), help="clip width in pixels")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.dataset", description="Prepare or validate a tracking-branch training dataset."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    prepare = commands.add_parser(
        "prepare", help="build a dataset from a folder of videos (resumable; shards under accelerate launch)"
    )
    prepare.add_argument("src_dir", type=Path, help="folder of source videos (searched recursively)")
    prepare.add_argument("out_dir", type=Path, help="dataset folder to create or complete")
    prepare.add_argument("--captions", type=Path, default=None, help="captions file: .jsonl, .json or .txt")
    prepare.add_argument(
        "--default-caption", choices=CAPTION_DEFAULTS, default="filename", help="caption for videos without one"
    )
    _add_shape_arguments(prepare, with_defaults=True)
    prepare.add_argument("--fps", type=float, default=defaults.FPS, help="source sampling rate (frames per second)")
    prepare.add_argument("--start", type=float, default=0.0, help="clip start in each source video, seconds")
    prepare.add_argument("--resize-mode", choices=defaults.RESIZE_MODES, default=defaults.DEFAULT_RESIZE_MODE)
    prepare.add_argument("--grid-size", type=int, default=defaults.GRID_SIZE, help="tracks per side of the grid")
    prepare.add_argument("--tracker", default="auto", help="2D point tracker (see trackers.points)")
    prepare.add_argument("--depth-method", default="auto", help="depth estimator (see trackers.depth)")
    prepare.add_argument("--overwrite", action="store_true", help="redo finished samples")
    prepare.add_argument("--fail-fast", action="store_true", help="stop at the first failing video")

    validate = commands.add_parser("validate", help="check a dataset folder and list every problem")
    validate.add_argument("data_dir", type=Path)
    _add_shape_arguments(validate, with_defaults=False)
    validate.add_argument("--quick", action="store_true", help="read container headers instead of decoding every frame")
    return parser


def _run_prepare(args: argparse.Namespace) -> int:
    shard = current_shard()
    config = PrepareConfig(
        num_frames=args.num_frames,
        height=args.height,
        width=args.width,
        fps=args.fps,
        start_s=args.start,
        resize_mode=args.resize_mode,
        grid_size=args.grid_size,
        tracker=args.tracker,
        depth_method=args.depth_method,
        default_caption=args.default_caption,
    )
    try:
        result = prepare_dataset(
            args.src_dir,
            args.out_dir,
            captions=args.captions,
            config=config,
            tracking_fn=motion_transfer_tracking(config, device=shard.device),
            shard=shard,
            overwrite=args.overwrite,
            fail_fast=args.fail_fast,
            write_index=False,
        )
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    prefix = f"[process {shard.index}/{shard.count}] " if shard.count > 1 else ""
    print(
        f"{prefix}made {len(result.made)}, skipped {len(result.skipped)} already done, "
        f"failed {len(result.failed)} of {result.planned} sample(s)"
    )
    for name, message in result.failed.items():
        print(f"{prefix}  failed {name}: {message}", file=sys.stderr)
    shard.wait()
    exit_code = 0
    if shard.is_main:
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        samples, _ = plan_samples(args.src_dir, args.captions, config.default_caption)
        indexed = write_index_files(args.out_dir, samples, config)
        missing = len(samples) - indexed
        print(f"wrote {PROMPT_INDEX}, {VIDEO_INDEX}, {TRACKING_INDEX} with {indexed} sample(s) to {args.out_dir}")
        if missing:
            print(
                f"{missing} sample(s) failed and are not in the index (see {args.out_dir / STATE_DIR}/*.failed.json); "
                "rerun the same command to retry them",
                file=sys.stderr,
            )
            exit_code = 1
    shard.wait()
    return exit_code


def _run_validate(args: argparse.Namespace) -> int:
    result = validate_dataset(args.data_dir, args.num_frames, args.height, args.width, decode=not args.quick)
    if result.ok:
        shape = "×".join(
            str(value) for value in (args.num_frames, args.height, args.width) if value is not None
        )
        print(f"OK: {result.num_samples} sample(s) in {args.data_dir}" + (f" ({shape})" if shape else ""))
        return 0
    print(f"{args.data_dir}: {len(result.problems)} problem(s) in {result.num_samples} sample(s):", file=sys.stderr)
    for problem in result.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m core.dataset``; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.command == "prepare":
        return _run_prepare(args)
    return _run_validate(args)


if __name__ == "__main__":
    sys.exit(main())
