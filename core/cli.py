"""Command line: ``python -m core <command>`` — the four tasks, tracking-only runs and batches.

Every task command builds a tracking video with a recipe of :mod:`core.tasks`, optionally
repaints the first frame (:mod:`core.repaint`), and sends it to the process-wide engine
(:mod:`core.engine`). ``--tracking-only`` stops after the tracking video (no checkpoint
needed). ``batch JOBS.jsonl`` runs one job per line — the same keys as the command-line
options, with ``_`` for ``-`` — and shards the jobs over processes started by
``accelerate launch`` (or ``torchrun``): job ``i`` runs on process ``i % num_processes``.
See ``docs/API.md`` for a full reference and examples.

Exit codes: 0 success; 1 unexpected error; 2 invalid input or usage (the message says what to
fix); 3 checkpoint missing or unusable; 4 a batch finished with failed jobs; 130 interrupted
or cancelled.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
import traceback
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from PIL import Image

from core import defaults
from core.checkpoints import downloads_allowed
from core.errors import UserError
from core.jobs import Shard, current_shard, read_json, single_process, write_json_atomic, write_text_atomic
from core.object_motion import OBJECT_MOTIONS
from core.options import CAMERA_MODES, SOURCE_MODES, ClipOptions, ObjectMove, TrackingOptions, WorkingSize
from core.progress import Cancelled

# The task recipes, the engine, the trackers and the media/export stacks are imported inside
# the commands that use them: `--help`, usage errors and `tiny` answer without loading them.

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHECKPOINT = 3
EXIT_BATCH_FAILURES = 4
EXIT_INTERRUPTED = 130
SINGLE_PROCESS_COMMANDS = ("status",)
"""Commands with engine options that never start --parallel processes (nothing is generated)."""

TASK_COMMANDS = {
    "motion-transfer": "motion_transfer",
    "camera-control": "camera_control",
    "object-manipulation": "object_manipulation",
    "mesh-animation": "mesh_animation",
    "from-tracking": "from_tracking_video",
}
"""Command name → task name (``TrackingResult.task``)."""

TRACKING_VIDEO_NAME = "tracking.mp4"
FIRST_FRAME_NAME = "first_frame.png"
POINT_CLOUD_NAME = "point_cloud.ply"
TRACKING_INFO_NAME = "tracking.json"
STATUS_DIR_NAME = "status"
RESULTS_NAME = "results.jsonl"
JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""Job ids name folders: letters, digits, ``.``, ``_``, ``-``; no path separators."""

PROGRESS_STEP = 0.1
"""The console prints progress every 10 % (and whenever the stage message changes)."""

logger = logging.getLogger("core.cli")


class JobError(UserError):
    """A batch job (or a command line) that cannot run as written; the message says why."""


# --------------------------------------------------------------------------------------------
# Job options: one table for the command line and for batch jobs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobOption:
    """A job key, its command-line flag(s) and ``argparse`` keyword arguments."""

    key: str
    flags: tuple[str, ...]
    kwargs: dict[str, Any]


def _option(key: str, *flags: str, **kwargs: Any) -> JobOption:
    return JobOption(key, flags or (f"--{key.replace('_', '-')}",), kwargs)


# Options every task command takes (generation, first frame, media).
COMMON_OPTIONS = (
    _option("prompt", "--prompt", "-p", help="what the generated video shows (required unless --tracking-only)"),
    _option("first_frame", "--first-frame", "--first_frame", help="image to start from instead of the source's first frame"),
    _option("repaint", action="store_true", default=None, help="repaint the first frame with FLUX.1-Depth-dev from the scene depth"),
    _option("repaint_prompt", help="prompt for --repaint (default: --prompt)"),
    _option("tracking_only", action="store_true", default=None, help="write the tracking video, first frame and point cloud, then stop"),
    _option("seed", type=int, help=f"random seed ({defaults.RANDOM_SEED} = random; default {defaults.SEED})"),
    _option("steps", "--steps", "--num-inference-steps", type=int, help=f"denoising steps (default {defaults.NUM_INFERENCE_STEPS})"),
    _option("guidance", "--guidance", "--guidance-scale", type=float, help=f"classifier-free guidance (default {defaults.GUIDANCE_SCALE:g})"),
    _option("dynamic_cfg", "--no-dynamic-cfg", action="store_false", default=None, help="constant guidance instead of CogVideoX's dynamic schedule"),
    _option("negative_prompt", help="negative prompt (default: DaS's)"),
    _option("legacy_tracking_range", action="store_true", default=None, help="feed the tracking video in [0, 1] like the DaS demo (default [-1, 1] as in training)"),
    _option("fps", type=float, help="frame rate of the written video (default: the source's)"),
    _option("windows", type=int, help="length in windows of the model's native frame count, chained end to start (default 1; see docs/API.md, Long videos)"),
    _option("seconds", type=float, help="length in seconds instead of --windows: the fewest windows that last that long"),
    _option("resize_mode", choices=defaults.RESIZE_MODES, help=f"how media is fitted to the model's size (default {defaults.DEFAULT_RESIZE_MODE}; stretch for from-tracking, whose colours encode positions)"),
)

SCENE_OPTIONS = (
    _option("start", type=float, help="start time in the source video, seconds (default 0)"),
    _option("depth_method", help="depth estimator: auto or a name from `python -m core status`"),
    _option("tracker", "--tracker", "--tracking-method", "--tracking_method", help="2D point tracker: auto, lk, cotracker3"),
    _option("grid_size", type=int, help=f"tracks per side of the grid (default {defaults.GRID_SIZE})"),
    _option("fov", type=float, help=f"horizontal field of view in degrees when depth gives no intrinsics (default {defaults.FOV_DEG:g})"),
)

TASK_OPTIONS: dict[str, tuple[JobOption, ...]] = {
    "motion_transfer": (_option("input", "input", help="source video"),) + SCENE_OPTIONS,
    "camera_control": (
        _option("input", "input", help="source image or video"),
        _option("camera_motion", "--camera-motion", "--camera_motion", help='e.g. "trans 0 0 -0.5; rot y 10" (docs/CAMERA_MOTION.md)'),
        _option("source_mode", choices=SOURCE_MODES, help="image = use only a video's first frame"),
        _option("camera_mode", choices=CAMERA_MODES, help="a video's own camera: append (default; the motion is added on top), override (replaced by the motion), stabilise (held still)"),
        _option("camera_from", "--camera-from", "--camera_from", metavar="VIDEO", help="copy this video's camera path onto the input photo (docs/CAMERA_MOTION.md); --camera-motion then applies on top"),
    )
    + SCENE_OPTIONS,
    "object_manipulation": (
        _option("input", "input", help="source image or video"),
        _option("mask", "--mask", "--object-mask", "--object_mask", help="mask image, white = object (on the first frame)"),
        _option("object_motion", "--object-motion", "--object_motion", choices=OBJECT_MOTIONS),
        _option("amount", type=float, help="fraction of the frame width / of the depth, or degrees for rot"),
        _option("camera_motion", "--camera-motion", "--camera_motion", help="optional camera motion on top"),
        _option("source_mode", choices=SOURCE_MODES),
        _option("camera_mode", choices=CAMERA_MODES, help="a video's own camera: append (default), override, stabilise"),
    )
    + SCENE_OPTIONS,
    "mesh_animation": (
        _option("input", "input", help="mesh file, or folder/zip of per-frame meshes"),
        _option("procedural", help="procedural motion of one mesh: turntable, translate, …"),
        _option("amount", type=float, help="amount of the procedural motion"),
        _option("camera_motion", "--camera-motion", "--camera_motion"),
        _option("num_points", type=int, help="surface samples"),
        _option("fov", type=float),
    ),
    "from_tracking_video": (_option("input", "input", help="tracking video rendered elsewhere (e.g. Blender)"),),
}

JOB_ONLY_KEYS = ("task", "id")


def job_keys(task: str) -> set[str]:
    """Every key a job of ``task`` may have."""
    return {option.key for option in COMMON_OPTIONS + TASK_OPTIONS[task]} | set(JOB_ONLY_KEYS)


# --------------------------------------------------------------------------------------------
# Console progress
# --------------------------------------------------------------------------------------------


class ConsoleProgress:
    """A :data:`core.progress.ProgressFn` printing ``[label] 40% message`` lines to stderr."""

    def __init__(self, label: str, stream=None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self._last_fraction = -1.0
        self._last_stage = ""

    def __call__(self, fraction: float, message: str) -> None:
        stage = message.split(" ")[0] if message else ""
        if fraction - self._last_fraction >= PROGRESS_STEP or stage != self._last_stage or fraction >= 1.0:
            if fraction != self._last_fraction or stage != self._last_stage:
                print(f"[{self.label}] {fraction:4.0%} {message}", file=self.stream, flush=True)
            self._last_fraction, self._last_stage = fraction, stage


# --------------------------------------------------------------------------------------------
# Running one job
# --------------------------------------------------------------------------------------------


def _normalise_job(job: dict[str, Any]) -> dict[str, Any]:
    """Check a job's task and keys; returns it with ``task`` as a task name (not a command)."""
    if not isinstance(job, dict):
        raise JobError(f"a job must be a JSON object, got {type(job).__name__}")
    task = str(job.get("task", "")).strip().replace("-", "_")
    task = {"from_tracking": "from_tracking_video"}.get(task, task)
    if task not in TASK_OPTIONS:
        raise JobError(f"unknown task {job.get('task')!r}; use one of {', '.join(TASK_COMMANDS)}")
    unknown = sorted(set(job) - job_keys(task))
    if unknown:
        raise JobError(f"unknown key(s) {unknown} for task {task}; allowed: {sorted(job_keys(task))}")
    if not job.get("input"):
        raise JobError(f"the job has no input (the {task.replace('_', ' ')} source file)")
    return {**job, "task": task}


SCENE_TASKS = ("motion_transfer", "camera_control", "object_manipulation")
"""Tasks that lift a photo or video into 3D (they take :data:`SCENE_OPTIONS`)."""


def _clip_options(job: dict[str, Any]) -> ClipOptions:
    """How the job's source is read (keys ``resize_mode``, ``start``, ``source_mode``, ``camera_mode``)."""
    values = {
        "resize_mode": job.get("resize_mode"),
        "start_s": job.get("start"),
        "source_mode": job.get("source_mode"),
        "camera_mode": job.get("camera_mode"),
    }
    return ClipOptions(**{name: value for name, value in values.items() if value not in (None, "")})


def _tracking_options(job: dict[str, Any], allow_download: bool) -> TrackingOptions:
    """How the job's source is lifted to 3D (keys ``depth_method``, ``tracker``, ``grid_size``, ``fov``)."""
    values = {
        "depth_method": job.get("depth_method"),
        "tracker": job.get("tracker"),
        "grid_size": job.get("grid_size"),
        "fov_deg": job.get("fov"),
    }
    return TrackingOptions(
        allow_download=allow_download, **{name: value for name, value in values.items() if value not in (None, "")}
    )


def _task_call(job: dict[str, Any], size: WorkingSize, allow_download: bool) -> tuple[Callable, list, dict]:
    """The recipe to call and its arguments for a normalised job (batch keys → typed options)."""
    from core import tasks

    task = job["task"]
    source = job["input"]
    kwargs: dict[str, Any] = {"size": size}
    if job.get("first_frame"):
        kwargs["first_frame"] = job["first_frame"]
    if task in SCENE_TASKS:
        kwargs.update(clip=_clip_options(job), tracking=_tracking_options(job, allow_download))
    if task == "motion_transfer":
        return tasks.motion_transfer, [source], kwargs
    if task == "camera_control" and job.get("camera_from"):
        return tasks.camera_from_video, [source, job["camera_from"], job.get("camera_motion") or ""], kwargs
    if task == "camera_control":
        return tasks.camera_control, [source, job.get("camera_motion") or ""], kwargs
    if task == "object_manipulation":
        missing = [name for name in ("mask", "object_motion", "amount") if job.get(name) in (None, "")]
        if missing:
            raise JobError(f"object manipulation needs {', '.join('--' + m.replace('_', '-') for m in missing)}")
        move = ObjectMove(job["mask"], job["object_motion"], job["amount"])
        return tasks.object_manipulation, [source, move], {**kwargs, "camera_motion": job.get("camera_motion")}
    if job.get("resize_mode"):
        kwargs["resize_mode"] = job["resize_mode"]
    if task == "mesh_animation":
        for key, target in (("procedural", "procedural"), ("amount", "amount"), ("camera_motion", "camera_motion"), ("num_points", "num_points"), ("fov", "fov_deg")):
            if job.get(key) is not None:
                kwargs[target] = job[key]
        return tasks.mesh_animation, [source], kwargs
    return tasks.from_tracking_video, [source], kwargs


def _settings_from_job(job: dict[str, Any]):
    from core.engine import GenerationSettings

    settings = GenerationSettings()
    mapping = {
        "seed": "seed",
        "steps": "num_inference_steps",
        "guidance": "guidance_scale",
        "dynamic_cfg": "use_dynamic_cfg",
        "negative_prompt": "negative_prompt",
        "legacy_tracking_range": "legacy_tracking_range",
        "fps": "fps",
    }
    for key, field_name in mapping.items():
        if job.get(key) is not None:
            setattr(settings, field_name, job[key])
    settings.validate()
    return settings


def job_windows(job: dict[str, Any], native_frames: int) -> int:
    """How many windows a job asks for: ``windows``, or the fewest that last ``seconds`` at the
    job's ``fps`` (default 8); 1 when neither is given.

    Raises:
        JobError: both are given. core.windows.WindowError: too many for the checkpoint.
    """
    from core.windows import check_windows, window_count_for_seconds

    windows, seconds = job.get("windows"), job.get("seconds")
    if windows is not None and seconds is not None:
        raise JobError("give the length either as --windows or as --seconds, not both")
    if seconds is not None:
        return window_count_for_seconds(seconds, native_frames, float(job.get("fps") or defaults.FPS))
    return check_windows(1 if windows is None else windows, native_frames)


def write_tracking_outputs(result, folder: Path) -> dict[str, str]:
    """Write ``tracking.mp4``, ``first_frame.png``, ``point_cloud.ply`` and ``tracking.json``
    into ``folder`` (atomically: a staging folder renamed at the end). Returns the file paths."""
    from core.engine import staged_result_folder
    from core.export import ExportError, export_point_cloud
    from core.media import write_video

    with staged_result_folder(folder) as staging:
        write_video(result.frames, staging / TRACKING_VIDEO_NAME, result.fps)
        Image.fromarray(result.first_frame).save(staging / FIRST_FRAME_NAME)
        files = {"tracking": TRACKING_VIDEO_NAME, "first_frame": FIRST_FRAME_NAME}
        if len(result.points):
            try:
                export_point_cloud(*result.preview_points(), staging / POINT_CLOUD_NAME)
                files["point_cloud"] = POINT_CLOUD_NAME
            except ExportError as error:  # e.g. no finite point: the tracking video is still useful
                logger.warning("point cloud not written: %s", error)
        info = {"metadata": result.metadata, "fps": result.fps, "files": files}
        (staging / TRACKING_INFO_NAME).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    return {name: str(folder / file) for name, file in files.items()}


def run_job(
    job: dict[str, Any],
    *,
    engine_config,
    output_dir: Path,
    run_name: Optional[str] = None,
    tracking_only: bool = False,
    allow_download: bool = False,
    flux_checkpoint: Optional[str] = None,
    progress=None,
) -> dict[str, Any]:
    """Run one job (a command line or a batch line) and describe what it produced.

    Args:
        job: task name, input and options (keys of :data:`COMMON_OPTIONS` / :data:`TASK_OPTIONS`).
        engine_config: :class:`core.engine.EngineConfig` for the process-wide engine.
        output_dir: where the result folder is created.
        run_name: result folder name (default: unique per run).
        tracking_only: stop after the tracking video (also set by ``job["tracking_only"]``).
        allow_download: let depth/FLUX models download when not on disk.
        flux_checkpoint: FLUX.1-Depth-dev folder or Hub id for ``repaint``.

    Returns:
        A JSON-ready record: ``task``, ``output_dir``, files, ``seed`` (generation) and timing.
    """
    from core.engine import GenerationInputError, get_engine, read_native_size, request_folder_name, resolve_checkpoint

    started = time.perf_counter()
    job = _normalise_job(job)
    tracking_only = tracking_only or bool(job.get("tracking_only"))
    prompt = job.get("prompt") or ""
    if not tracking_only and not prompt.strip():
        raise JobError("a prompt is required to generate (or pass --tracking-only)")
    if tracking_only:
        # Sizes from the checkpoint's config when one is given or present; never loads weights.
        size = WorkingSize.from_native(read_native_size(resolve_checkpoint(engine_config.checkpoint)))
        engine = None
    else:
        engine = get_engine(engine_config)
        size = WorkingSize.from_native(engine.native_size())
    windows = job_windows(job, size.num_frames)
    if windows > 1:
        from core.windows import long_size

        size = long_size(size, windows)
    recipe, args, kwargs = _task_call(job, size, allow_download)
    result = recipe(*args, progress=progress, **kwargs)
    if job.get("repaint"):
        result = _repaint(result, job, prompt, flux_checkpoint, allow_download, progress)
    if result.check is not None:
        # The controllability check, before the expensive step: warnings never stop the run.
        print(f"[{result.task}] check: {result.check.report_text()}", file=sys.stderr)
    record: dict[str, Any] = {"task": result.task, "tracking_metadata": result.metadata, "windows": windows}
    if tracking_only:
        folder = output_dir / (run_name or request_folder_name(result.task))
        record.update(output_dir=str(folder), files=write_tracking_outputs(result, folder))
    else:
        try:
            settings = _settings_from_job(job)
        except (TypeError, ValueError) as error:
            raise GenerationInputError(str(error)) from error
        generated = engine.generate(None, result, prompt, settings, progress=progress, run_name=run_name)
        record.update(
            output_dir=str(generated.output_dir),
            files={
                "video": str(generated.video_path),
                "tracking": str(generated.tracking_path),
                "first_frame": str(generated.first_frame_path),
                "settings": str(generated.settings_path),
                **({"window_tracking": [str(path) for path in generated.window_tracking_paths]} if generated.window_tracking_paths else {}),
            },
            seed=generated.seed,
        )
    record["elapsed_s"] = round(time.perf_counter() - started, 3)
    return record


def _repaint(result, job: dict[str, Any], prompt: str, flux_checkpoint, allow_download: bool, progress):
    from core.repaint import repaint_first_frame
    from core.tasks import FIRST_FRAME_REPAINTED

    if job.get("first_frame"):
        raise JobError("use either --first-frame or --repaint, not both")
    if result.depth is None:
        raise JobError(f"{result.task.replace('_', ' ')} has no depth map to repaint from; pass --first-frame instead")
    repaint_prompt = job.get("repaint_prompt") or prompt
    seed = job.get("seed")
    image = repaint_first_frame(
        result.depth,
        repaint_prompt,
        checkpoint=flux_checkpoint,
        allow_download=allow_download,
        progress=progress,
        **({"seed": int(seed)} if seed is not None and seed >= 0 else {}),
    )
    return result.with_first_frame(image, FIRST_FRAME_REPAINTED)


# --------------------------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------------------------


def read_jobs(path: Path) -> list[dict[str, Any]]:
    """Jobs of a JSON-lines file (blank lines and ``#`` comments skipped), each with an ``id``
    (default ``job-00001`` … by line number).

    Raises:
        JobError: unreadable file, invalid JSON, a bad or duplicate id.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise JobError(f"cannot read the jobs file {path}: {error}") from error
    jobs, seen = [], set()
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            job = json.loads(text)
        except json.JSONDecodeError as error:
            raise JobError(f"{path}:{number}: not valid JSON ({error.msg})") from error
        if not isinstance(job, dict):
            raise JobError(f"{path}:{number}: a job must be a JSON object")
        job_id = str(job.get("id") or f"job-{number:05d}")
        if not JOB_ID_PATTERN.match(job_id):
            raise JobError(f"{path}:{number}: job id {job_id!r} must be letters, digits, '.', '_' or '-'")
        if job_id in seen:
            raise JobError(f"{path}:{number}: duplicate job id {job_id!r}")
        seen.add(job_id)
        jobs.append({**job, "id": job_id})
    return jobs


def _status_path(output_dir: Path, job_id: str) -> Path:
    return output_dir / STATUS_DIR_NAME / f"{job_id}.json"


def _finished(output_dir: Path, job_id: str) -> Optional[dict[str, Any]]:
    """The status of a job that already succeeded with all its files present, else ``None``."""
    status = read_json(_status_path(output_dir, job_id))
    if status is None:
        return None
    files = status.get("files") or {}
    if status.get("status") == "ok" and files and all(Path(file).exists() for file in files.values()):
        return status
    return None


def run_batch(
    jobs_path: Path,
    *,
    engine_config,
    output_dir: Path,
    tracking_only: bool = False,
    allow_download: bool = False,
    flux_checkpoint: Optional[str] = None,
    shard: Optional[Shard] = None,
) -> int:
    """Run this process's share of a jobs file; returns an exit code.

    Job ``i`` (0-based, in file order) runs on process ``i % count`` (:class:`core.jobs.Shard`,
    from :func:`core.jobs.current_shard` by default), so every job runs exactly
    once. Each job's outcome goes to ``status/<id>.json`` (``ok`` with its files, or ``failed``
    with the error); a failing job does not stop the others. Jobs whose status is ``ok`` and
    whose files exist are skipped, so re-running a batch resumes it. When every process is done,
    process 0 writes ``results.jsonl`` (one status per job, in file order) and returns
    :data:`EXIT_BATCH_FAILURES` if any job failed; the other processes return :data:`EXIT_OK`.
    """
    jobs = read_jobs(jobs_path)
    shard = shard or current_shard()
    if shard.device is not None and engine_config.device is None:
        engine_config.device = shard.device
    engine_config.output_dir = output_dir
    for index, job in enumerate(jobs):
        if not shard.owns(index):
            continue
        job_id = job["id"]
        if _finished(output_dir, job_id) is not None:
            print(f"[{job_id}] already done, skipping", file=sys.stderr)
            continue
        spec = {key: value for key, value in job.items() if key != "id"}
        started = datetime.now().isoformat(timespec="seconds")
        try:
            record = run_job(
                spec,
                engine_config=engine_config,
                output_dir=output_dir,
                run_name=job_id,
                tracking_only=tracking_only,
                allow_download=allow_download,
                flux_checkpoint=flux_checkpoint,
                progress=ConsoleProgress(job_id),
            )
            status = {"id": job_id, "status": "ok", "process": shard.index, "started_at": started, **record}
        except (KeyboardInterrupt, Cancelled):
            raise
        except Exception as error:  # noqa: BLE001 - any failure is recorded; the batch goes on
            status = {
                "id": job_id,
                "status": "failed",
                "process": shard.index,
                "started_at": started,
                "error": str(error),
                "error_type": type(error).__name__,
                "user_error": isinstance(error, UserError),
            }
            if not isinstance(error, UserError):
                status["traceback"] = traceback.format_exc()
            print(f"[{job_id}] failed: {error}", file=sys.stderr)
        write_json_atomic(_status_path(output_dir, job_id), status)
    shard.wait()
    exit_code = EXIT_OK
    if shard.is_main:
        failures_total = _write_results(output_dir, jobs)
        print(f"{len(jobs)} job(s), {failures_total} failed; see {output_dir / RESULTS_NAME}", file=sys.stderr)
        exit_code = EXIT_BATCH_FAILURES if failures_total else EXIT_OK
    # Leave together: a launcher stops the other processes as soon as one exits with an error.
    shard.wait()
    return exit_code


def _write_results(output_dir: Path, jobs: Sequence[dict[str, Any]]) -> int:
    """Gather every job's status into ``results.jsonl``; returns how many are not ``ok``."""
    lines, failed = [], 0
    for job in jobs:
        status = read_json(_status_path(output_dir, job["id"])) or {
            "id": job["id"],
            "status": "missing",
            "error": "no status was written (the process died?)",
        }
        if status.get("status") != "ok":
            failed += 1
        lines.append(json.dumps(status, default=str))
    write_text_atomic(output_dir / RESULTS_NAME, "\n".join(lines) + "\n")
    return failed


# --------------------------------------------------------------------------------------------
# Argument parsing
# --------------------------------------------------------------------------------------------


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and device")
    group.add_argument("--checkpoint", "--checkpoint-path", "--checkpoint_path", default=None, help="DaS checkpoint folder or Hub id (default: checkpoints/Diffusion-As-Shader, else EXCAI/Diffusion-As-Shader)")
    group.add_argument("--output-dir", "--output_dir", "-o", type=Path, default=Path("outputs"), help="where result folders go (default outputs/)")
    group.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: CUDA when present)")
    group.add_argument("--offload", choices=("none", "model", "sequential", "group"), default="none", help="GPU memory mode")
    group.add_argument("--compile", action="store_true", help="torch.compile the transformer")
    group.add_argument("--quantize", choices=("none", "int8", "fp8"), default="none", help="weight-only quantisation of the transformer and T5 (torchao; fp8 needs an Ada/Hopper GPU; offload none or model)")
    group.add_argument("--step-cache", type=float, default=None, metavar="THRESHOLD", help="reuse the transformer's residual on steps whose input barely changed (0.1-0.3 typical; 0 skips nothing)")
    group.add_argument("--attention-backend", default=None, metavar="NAME", help="diffusers attention backend: native (PyTorch SDPA), flash, sage, ... (default: the model's own SDPA)")
    group.add_argument("--parallel", type=int, default=1, metavar="N", help="split each video over N GPUs (sequence parallelism; starts N processes; offload none or model)")
    group.add_argument("--no-vae-tiling", dest="vae_tiling", action="store_false", help="decode the VAE in one piece")
    group.add_argument("--no-vae-slicing", dest="vae_slicing", action="store_false")
    group.add_argument("--allow-download", action="store_true", help="accepted and ignored: missing models download on first use unless --offline")
    group.add_argument("--offline", action="store_true", help="never download: use only models on this machine (same as DAS_OFFLINE=1); by default a missing DaS checkpoint, depth model or CoTracker3 downloads on first use")
    group.add_argument("--flux-checkpoint", default=None, help="FLUX.1-Depth-dev folder or Hub id for --repaint")


def _add_job_options(parser: argparse.ArgumentParser, options: Sequence[JobOption]) -> None:
    for option in options:
        kwargs = dict(option.kwargs)
        if option.flags[0].startswith("-"):
            kwargs.setdefault("default", None)
            parser.add_argument(*option.flags, dest=option.key, **kwargs)
        else:
            parser.add_argument(option.key, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="Diffusion-as-Shader: build tracking videos and generate 3D-controlled videos.",
        epilog="Exit codes: 0 ok, 1 unexpected error, 2 invalid input, 3 checkpoint problem, 4 batch had failures, 130 interrupted.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, task in TASK_COMMANDS.items():
        sub = commands.add_parser(command, help=f"{task.replace('_', ' ')}: build the tracking video and generate")
        _add_job_options(sub, TASK_OPTIONS[task][:1])  # the positional input first
        _add_job_options(sub, COMMON_OPTIONS + TASK_OPTIONS[task][1:])
        _add_engine_options(sub)
    batch = commands.add_parser("batch", help="run the jobs of a JSON-lines file (sharded under accelerate launch)")
    batch.add_argument("jobs", type=Path, help="JSON-lines file, one job per line")
    batch.add_argument("--tracking-only", action="store_true", help="only build tracking videos for every job")
    _add_engine_options(batch)
    tiny = commands.add_parser("tiny", help="write a tiny random checkpoint for tests and demos (output is noise)")
    tiny.add_argument("out_dir", type=Path)
    tiny.add_argument("--seed", type=int, default=0)
    status = commands.add_parser("status", help="print the device, checkpoint, native size and available models")
    _add_engine_options(status)
    rerun = commands.add_parser("rerun", help="generate a result again from its settings.json (same seed and settings)")
    rerun.add_argument("--settings", type=Path, required=True, metavar="FILE",
                       help="the settings.json of a result folder (its tracking video and first frame next to it)")
    _add_engine_options(rerun)
    return parser


def _rerun_command(args: argparse.Namespace) -> int:
    """``rerun --settings FILE``: a new result folder from a recorded run (core.reproduce)."""
    from core.engine import Engine, remove_stale_staging
    from core.reproduce import rerun

    remove_stale_staging(args.output_dir)
    result = rerun(Engine(_engine_config(args)), args.settings, progress=ConsoleProgress("rerun"))
    _print_record({"video": result.video_path, "settings": result.settings_path, "seed": result.seed,
                   "output_dir": result.output_dir})
    return EXIT_OK


def _engine_config(args: argparse.Namespace):
    from core.engine import EngineConfig

    return EngineConfig(
        checkpoint=args.checkpoint,
        device=args.device,
        offload=args.offload,
        output_dir=args.output_dir,
        compile=args.compile,
        vae_tiling=args.vae_tiling,
        vae_slicing=args.vae_slicing,
        allow_download=downloads_allowed(args.offline),
        quantize=args.quantize,
        step_cache_threshold=args.step_cache,
        attention_backend=args.attention_backend,
        parallel=args.parallel,
    )


def _job_from_args(args: argparse.Namespace) -> dict[str, Any]:
    task = TASK_COMMANDS[args.command]
    job = {"task": task}
    for option in COMMON_OPTIONS + TASK_OPTIONS[task]:
        value = getattr(args, option.key, None)
        if value is not None:
            job[option.key] = value
    return job


def _print_models_used(metadata: dict[str, Any], stream=None) -> None:
    """Name the depth model and tracker a job used (stderr), and warn when the depth was the
    built-in approximation."""
    from trackers.depth import APPROXIMATE_DEPTH_ADVICE

    stream = stream or sys.stderr
    if "depth_source" in metadata:
        used = f"depth: {metadata['depth_source']}"
        if metadata.get("tracker"):
            used += f" · tracker: {metadata['tracker']}"
        print(used, file=stream)
    if metadata.get("depth_approximate"):
        print(f"warning: {APPROXIMATE_DEPTH_ADVICE}", file=stream)


def _print_record(record: dict[str, Any]) -> None:
    print(json.dumps({key: value for key, value in record.items() if key != "tracking_metadata"}, indent=2, default=str))


def _status_command(args: argparse.Namespace) -> int:
    from core.engine import Engine
    from trackers.depth import APPROXIMATE_DEPTH_ADVICE, BUILTIN_METHOD, available_depth_methods, resolve_depth_method
    from trackers.points import available_point_trackers, resolve_point_tracker

    engine = Engine(replace(_engine_config(args), parallel=1))  # a report: nothing to split
    status = engine.status()
    allow_download = downloads_allowed(args.offline)
    models = {
        "downloads_allowed": allow_download,
        "depth_for_stills": resolve_depth_method("auto", allow_download, purpose="still"),
        "depth_for_videos": resolve_depth_method("auto", allow_download, purpose="video"),
        "point_tracker": resolve_point_tracker("auto", allow_download),
    }
    warnings = list(status.warnings)
    if BUILTIN_METHOD in (models["depth_for_stills"], models["depth_for_videos"]):
        warnings.append(APPROXIMATE_DEPTH_ADVICE)
    report = {
        "device": status.device,
        "dtype": status.dtype,
        "checkpoint": status.checkpoint,
        "is_tiny": status.is_tiny,
        "native_size": dict(zip(("num_frames", "height", "width"), engine.native_size())),
        "warnings": warnings,
        **models,
        "depth_methods": available_depth_methods(allow_download),
        "point_trackers": available_point_trackers(allow_download),
    }
    print(json.dumps(report, indent=2))
    return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "tiny":
        from core.tiny import write_tiny_checkpoint

        print(write_tiny_checkpoint(args.out_dir, seed=args.seed))
        return EXIT_OK
    if args.command == "status":
        return _status_command(args)
    if args.command == "rerun":
        return _rerun_command(args)
    config = _engine_config(args)
    if args.command == "batch":
        return run_batch(
            args.jobs,
            engine_config=config,
            output_dir=args.output_dir,
            tracking_only=args.tracking_only,
            allow_download=downloads_allowed(args.offline),
            flux_checkpoint=args.flux_checkpoint,
            # All processes work on each video together, so the jobs are not shared out.
            shard=single_process() if config.parallel > 1 else None,
        )
    job = _job_from_args(args)
    record = run_job(
        job,
        engine_config=config,
        output_dir=args.output_dir,
        allow_download=downloads_allowed(args.offline),
        flux_checkpoint=args.flux_checkpoint,
        progress=ConsoleProgress(args.command),
    )
    _print_models_used(record.get("tracking_metadata") or {})
    _print_record(record)
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m core``; returns the exit code (see the module docstring)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from core.errors import UserError
    from core.progress import Cancelled

    try:
        if getattr(args, "parallel", 1) > 1 and args.command not in SINGLE_PROCESS_COMMANDS:
            return _run_parallel(args, list(sys.argv[1:] if argv is None else argv))
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Cancelled as error:
        print(f"cancelled: {error}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UserError as error:
        if _is_checkpoint_error(error):
            print(f"checkpoint problem: {error}", file=sys.stderr)
            return EXIT_CHECKPOINT
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # noqa: BLE001 - the CLI boundary: anything but a UserError is a bug
        logger.exception("unexpected error")
        print(f"unexpected error ({type(error).__name__}); the traceback is above — please report it", file=sys.stderr)
        return EXIT_ERROR


def _run_parallel(args: argparse.Namespace, argv: list[str]) -> int:
    """``--parallel N``: start N processes running this command (unless this is one of them),
    then lead (process 0) or follow (the others); see :mod:`core.acceleration.parallel`."""
    from core.acceleration import parallel
    from core.engine import Engine

    config = _engine_config(args)  # checks the options before any process starts
    if parallel.launched_world_size() == 1:
        return parallel.launch(config.parallel, parallel.relaunch_command("core", argv))
    return parallel.run_as_group(
        config.parallel, config.device, lead=lambda: _dispatch(args), make_engine=lambda: Engine(config)
    )


def _is_checkpoint_error(error: BaseException) -> bool:
    from core.errors import CheckpointError

    return isinstance(error, CheckpointError)
