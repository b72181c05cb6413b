"""The four tracking-video builds, one per tab, and the preview they show.

Every call of a ``core.tasks`` recipe in the studio is in this module, one per build handler
(``_run_motion_transfer`` … ``_run_from_tracking_video``): the handlers check the widgets'
values, these functions pass them to the recipe.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import gradio as gr
import numpy as np

from core.defaults import DEFAULT_RESIZE_MODE, GRID_SIZE
from core.options import AUTO, CAMERA_APPEND
from core.progress import Cancelled
from core.windows import long_size
from core.tasks import (
    ClipOptions,
    ObjectMove,
    TrackingOptions,
    TrackingResult,
    WorkingSize,
    camera_control,
    camera_from_video,
    from_tracking_video,
    mesh_animation,
    motion_transfer,
    object_manipulation,
)
from ui.errors import user_error
from ui.handlers.camera_modes import effective_camera_mode, effective_camera_motion
from ui.handlers.inputs import SOURCE_IMAGE, checked_upload, mask_from_inputs, source_path
from ui.handlers.jobs import core_progress, studio_job
from ui.handlers.outputs import NamedOutputs
from ui.session import session_id
from ui.studio import Studio

logger = logging.getLogger(__name__)

BUILD_ACTION = "Building the tracking video"
BUILD_JOB = "build"
"""The kind under which builds register for Cancel (``ui.session.CancelRegistry``)."""
BUILD_CANCELLED_INFO = "**Cancelled** — the tracking video was not built; build it again when you are ready."
PREVIEW_MAX_AGE_S = 6 * 3600
"""Preview folders (tracking/source mp4, point cloud) older than this are removed."""

MESH_SEQUENCE = "mesh sequence"
MESH_PROCEDURAL = "one mesh + procedural motion"
MESH_TRACKING_VIDEO = "tracking video made elsewhere"
MESH_MODES = (MESH_SEQUENCE, MESH_PROCEDURAL, MESH_TRACKING_VIDEO)
TRACKING_VIDEO_RESIZE_MODE = "stretch"
"""A tracking video made elsewhere is always stretched (as DaS did): its colours encode
positions in the frame, so cropping or padding would break the code."""


@dataclass(frozen=True, kw_only=True)
class BuildResult(NamedOutputs):
    """What a build shows, in its outputs' order.

    Attributes:
        tracking: the tracking result (kept in the tab's ``gr.State``).
        built_from: the fingerprint of the inputs it was built from (filled in by the tab's
            wiring, :func:`ui.tabs.common.wire_tab`; ``None`` from the handler).
        tracking_video / source_video: mp4 paths (``source_video`` is ``None`` for meshes).
        first_frame: ``(H, W, 3)`` uint8.
        point_cloud: ``.glb`` path of the frame-0 points, or ``None``.
        info: a Markdown summary of how the tracking video was made.
    """

    tracking: TrackingResult
    built_from: Optional[str] = None
    tracking_video: str
    source_video: Optional[str]
    first_frame: np.ndarray
    point_cloud: Optional[str]
    info: str


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass
class MaskedTracking(TrackingResult):
    """A tracking result of Object Manipulation that keeps the object mask it was built with
    (``(H, W)`` bool at the working size), so Generate can store it next to the result
    (``core.reproduce.MASK_NAME``) and the manipulation can be rebuilt from the same selection."""

    object_mask: Optional[np.ndarray] = None


def with_object_mask(tracking: TrackingResult, mask: Any, resize_mode: str) -> TrackingResult:
    """``tracking`` carrying the object mask as the recipe read it (unchanged if it cannot be read)."""
    from core.errors import UserError
    from core.tasks import load_mask

    height, width = tracking.size
    try:
        selected, _ = load_mask(mask, height, width, resize_mode=resize_mode)
    except UserError as error:  # the recipe read it, so this is not expected; the result stays usable
        logger.warning("the object mask is not stored with the result: %s", error)
        return tracking
    values = {item.name: getattr(tracking, item.name) for item in dataclasses.fields(TrackingResult)}
    return MaskedTracking(**values, object_mask=np.asarray(selected, dtype=bool))


def procedural_motions() -> dict[str, str]:
    """Procedural mesh motions (name → what ``amount`` means) of ``trackers.mesh``."""
    from trackers.mesh import MESH_MOTIONS

    return dict(MESH_MOTIONS)


# --------------------------------------------------------------------------------------------
# The preview
# --------------------------------------------------------------------------------------------


def _new_preview_dir(studio: Studio) -> Path:
    """A fresh folder for one build's preview files; old ones are pruned on the way."""
    root = studio.options.preview_root
    root.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - PREVIEW_MAX_AGE_S
    for old in root.iterdir():
        try:
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # another worker removed it first
            continue
    folder = root / uuid.uuid4().hex[:12]
    folder.mkdir()
    return folder


def tracking_info(tracking: TrackingResult) -> str:
    """A short Markdown summary of how the tracking video was made, with the controllability
    check's figures and warnings (:mod:`core.quality`): warnings never block Generate."""
    meta = tracking.metadata or {}
    frames, (height, width) = tracking.num_frames, tracking.size
    lines = [f"**{frames} frames · {width}×{height} px · {tracking.fps:.3g} fps** ({frames / tracking.fps:.1f} s)"]
    facts = []
    if tracking.depth_source:
        depth = f"depth: {tracking.depth_source}"
        if tracking.approximate_depth:
            depth += " (approximate — install a depth model for better geometry, see README)"
        facts.append(depth)
    if tracking.tracker:
        facts.append(f"tracker: {tracking.tracker}")
    if meta.get("num_tracks"):
        facts.append(f"{meta['num_tracks']} tracks")
    if meta.get("num_points"):
        facts.append(f"{meta['num_points']} points")
    facts.append(f"first frame: {tracking.first_frame_origin}")
    lines.append(" · ".join(str(fact) for fact in facts))
    if meta.get("object_motion"):
        lines.append(f"object: {meta['object_motion']} {meta.get('object_amount', '')} ({meta.get('object_points', '?')} points)")
    description = meta.get("camera_description")
    if description and description != "static camera":
        lines.append("camera: " + description.replace("\n", "; "))
    if tracking.check is not None:
        lines.append("check: " + tracking.check.figures_text())
        lines.extend(f"⚠ {warning}" for warning in tracking.check.warnings)
    return "\n\n".join(lines)


def build_result(studio: Studio, tracking: TrackingResult) -> BuildResult:
    """Write the preview files of a tracking result (mp4s and a ``.glb`` point cloud)."""
    from core.export import ExportError, export_point_cloud
    from core.media import write_video

    folder = _new_preview_dir(studio)
    tracking_video = write_video(tracking.frames, folder / "tracking.mp4", tracking.fps)
    source_video = None
    if tracking.source_frames is not None:
        source_video = str(write_video(tracking.source_frames, folder / "source.mp4", tracking.fps))
    point_cloud = None
    if len(tracking.points):
        # With the camera path (estimated source camera, copied camera) drawn into the cloud.
        points, colors = tracking.preview_points()
        try:
            point_cloud = str(export_point_cloud(points, colors, folder / "point_cloud.glb"))
        except ExportError as error:  # a preview nicety: the tracking video is still usable
            logger.warning("no point-cloud preview: %s", error)
    return BuildResult(
        tracking=tracking,
        tracking_video=str(tracking_video),
        source_video=source_video,
        first_frame=tracking.first_frame,
        point_cloud=point_cloud,
        info=tracking_info(tracking),
    )


# --------------------------------------------------------------------------------------------
# The recipe calls (core.tasks), one per build
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackingWidgets:
    """The 'Tracking settings' widgets' values, as the video-based recipes read them."""

    depth_method: Any = AUTO
    tracker: Any = AUTO
    grid_size: Any = GRID_SIZE
    start_s: Any = 0.0

    def tracking_options(self, studio: Studio) -> TrackingOptions:
        return TrackingOptions(
            depth_method=str(self.depth_method or AUTO),
            tracker=str(self.tracker or AUTO),
            grid_size=self.grid_size if self.grid_size not in (None, "") else GRID_SIZE,
            allow_download=studio.options.allow_download,
        )

    def clip_options(self, resize_mode: str, camera_mode: str = CAMERA_APPEND) -> ClipOptions:
        return ClipOptions(
            resize_mode=resize_mode, start_s=self.start_s if self.start_s not in (None, "") else 0.0, camera_mode=camera_mode
        )


@dataclass(frozen=True)
class BuildJob:
    """What every recipe call shares: the working size, resize mode, progress and cancel."""

    size: WorkingSize
    resize_mode: str
    progress: Any
    cancel: Callable[[], bool]


def _run_motion_transfer(
    studio: Studio, job: BuildJob, source: str, first_frame: Optional[str], tracking: TrackingWidgets
) -> TrackingResult:
    return motion_transfer(
        source,
        size=job.size,
        clip=tracking.clip_options(job.resize_mode),
        tracking=tracking.tracking_options(studio),
        first_frame=first_frame,
        progress=core_progress(job.progress),
        cancel=job.cancel,
    )


def _run_camera_control(
    studio: Studio, job: BuildJob, source: str, camera_motion: str, first_frame: Optional[str],
    tracking: TrackingWidgets, camera_mode: str = CAMERA_APPEND,
) -> TrackingResult:
    return camera_control(
        source,
        camera_motion,
        size=job.size,
        clip=tracking.clip_options(job.resize_mode, camera_mode),
        tracking=tracking.tracking_options(studio),
        first_frame=first_frame,
        progress=core_progress(job.progress),
        cancel=job.cancel,
    )


def _run_camera_from_video(
    studio: Studio, job: BuildJob, photo: str, reference: str, camera_motion: str, first_frame: Optional[str],
    tracking: TrackingWidgets,
) -> TrackingResult:
    return camera_from_video(
        photo,
        reference,
        camera_motion,
        size=job.size,
        clip=tracking.clip_options(job.resize_mode),
        tracking=tracking.tracking_options(studio),
        first_frame=first_frame,
        progress=core_progress(job.progress),
        cancel=job.cancel,
    )


def _run_object_manipulation(
    studio: Studio, job: BuildJob, source: str, mask: Any, motion: str, amount: float,
    camera_motion: Optional[str], first_frame: Optional[str], tracking: TrackingWidgets,
    camera_mode: str = CAMERA_APPEND,
) -> TrackingResult:
    return object_manipulation(
        source,
        ObjectMove(mask, motion, amount),
        camera_motion=camera_motion,
        size=job.size,
        clip=tracking.clip_options(job.resize_mode, camera_mode),
        tracking=tracking.tracking_options(studio),
        first_frame=first_frame,
        progress=core_progress(job.progress),
        cancel=job.cancel,
    )


def _run_mesh_animation(
    job: BuildJob, mesh: str, procedural: Optional[str], amount: Optional[float], camera_motion: Optional[str],
    first_frame: Optional[str],
) -> TrackingResult:
    return mesh_animation(
        mesh,
        procedural=procedural,
        amount=amount,
        camera_motion=camera_motion,
        first_frame=first_frame,
        size=job.size,
        resize_mode=job.resize_mode,
        progress=core_progress(job.progress),
        cancel=job.cancel,
    )


def _run_from_tracking_video(job: BuildJob, video: str, first_frame: str) -> TrackingResult:
    return from_tracking_video(
        video,
        first_frame=first_frame,
        size=job.size,
        resize_mode=TRACKING_VIDEO_RESIZE_MODE,
        progress=core_progress(job.progress),
        cancel=job.cancel,
    )


def _build_job(studio: Studio, resize_mode: str, progress: Any, cancel: Callable[[], bool], windows: Any = 1) -> BuildJob:
    """``windows`` > 1: a long clip of that many chained model windows (:func:`core.windows.long_size`)."""
    size = WorkingSize.from_native(studio.working_size())
    if windows not in (None, 1):
        size = long_size(size, windows)
    return BuildJob(size, resize_mode, progress, cancel)


# --------------------------------------------------------------------------------------------
# Build handlers (one per tab)
# --------------------------------------------------------------------------------------------


def cancelled_build() -> BuildResult:
    """What a cancelled build shows: no tracking video, an empty preview, and why."""
    return BuildResult(
        tracking=None, tracking_video=None, source_video=None, first_frame=None, point_cloud=None,
        info=BUILD_CANCELLED_INFO,
    )


def _caused_by_cancel(error: BaseException) -> bool:
    """Whether a cancel is anywhere in ``error``'s chain of causes (a tracker may wrap it)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, Cancelled):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def build_handler(fn: Callable) -> Callable:
    """Make ``fn`` (a build handler taking ``studio`` first and ``scope``/``request``) keep
    the studio's :class:`ui.session.BuildLedger`: the session's tracking video of that tab is
    retired when the build starts and restored only when it succeeds, within this one event,
    so Generate refuses after a failed or cancelled build even for API callers. A cancelled
    build returns :func:`cancelled_build` instead of an error. Every build, even a failed one,
    makes the status line look up the depth models and the tracker again (it may have downloaded one)."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def build(studio: Studio, *args: Any, **kwargs: Any) -> BuildResult:
        bound = signature.bind(studio, *args, **kwargs)
        bound.apply_defaults()
        session, scope = session_id(bound.arguments["request"]), str(bound.arguments["scope"])
        studio.builds.retire(session, scope)
        try:
            result = fn(studio, *args, **kwargs)
        except gr.Error as error:
            if _caused_by_cancel(error):
                return cancelled_build()
            raise
        finally:  # the build may have downloaded a depth model or the tracker: show it
            studio.tracking_models.forget()
        studio.builds.restore(session, scope)
        return result

    return build



@build_handler
def build_motion_transfer(
    studio: Studio,
    video: Any,
    resize_mode: str = DEFAULT_RESIZE_MODE,
    first_frame: Any = None,
    depth_method: str = "auto",
    tracker: str = "auto",
    grid_size: int = GRID_SIZE,
    start_s: float = 0.0,
    scope: str = "motion_transfer",
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
    windows: Any = 1,
) -> BuildResult:
    """Motion Transfer: a source video → its tracking video."""
    with studio_job(studio, BUILD_ACTION, scope, request, BUILD_JOB) as cancel:
        source = checked_upload(studio, video, "source video")
        first = checked_upload(studio, first_frame, "first-frame image", required=False)
        tracking = _run_motion_transfer(
            studio, _build_job(studio, resize_mode, progress, cancel, windows), source, first,
            TrackingWidgets(depth_method, tracker, grid_size, start_s),
        )
        return build_result(studio, tracking)


@build_handler
def build_camera_control(
    studio: Studio,
    source_mode: str,
    image: Any,
    video: Any,
    camera_motion: str,
    resize_mode: str = DEFAULT_RESIZE_MODE,
    first_frame: Any = None,
    depth_method: str = "auto",
    tracker: str = "auto",
    grid_size: int = GRID_SIZE,
    start_s: float = 0.0,
    camera_mode: str = CAMERA_APPEND,
    reference_video: Any = None,
    scope: str = "camera_control",
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
    windows: Any = 1,
) -> BuildResult:
    """Camera Control: an image or video + a camera-motion string → tracking video.

    ``camera_mode`` (append / override / stabilise) applies to a video source (a photo is
    always ``append``; ``stabilise`` does not use the motion text). A photo with a
    ``reference_video`` copies that video's camera (the motion text applies on top)."""
    with studio_job(studio, BUILD_ACTION, scope, request, BUILD_JOB) as cancel:
        source = source_path(studio, source_mode, image, video)
        first = checked_upload(studio, first_frame, "first-frame image", required=False)
        job = _build_job(studio, resize_mode, progress, cancel, windows)
        widgets = TrackingWidgets(depth_method, tracker, grid_size, start_s)
        reference = None
        if source_mode == SOURCE_IMAGE:
            reference = checked_upload(studio, reference_video, "reference video (camera to copy)", required=False)
        if reference is not None:
            tracking = _run_camera_from_video(studio, job, source, reference, camera_motion or "", first, widgets)
        else:
            tracking = _run_camera_control(
                studio, job, source, effective_camera_motion(source_mode, camera_mode, camera_motion), first, widgets,
                effective_camera_mode(source_mode, camera_mode),
            )
        return build_result(studio, tracking)


@build_handler
def build_object_manipulation(
    studio: Studio,
    source_mode: str,
    image: Any,
    video: Any,
    mask_editor: Any,
    mask_upload: Any,
    motion: str,
    amount: float,
    camera_motion: str = "",
    resize_mode: str = DEFAULT_RESIZE_MODE,
    first_frame: Any = None,
    depth_method: str = "auto",
    tracker: str = "auto",
    grid_size: int = GRID_SIZE,
    start_s: float = 0.0,
    camera_mode: str = CAMERA_APPEND,
    scope: str = "object_manipulation",
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
    windows: Any = 1,
) -> BuildResult:
    """Object Manipulation: a masked object moved rigidly (plus an optional camera motion;
    ``camera_mode`` for a video source as in :func:`build_camera_control`)."""
    with studio_job(studio, BUILD_ACTION, scope, request, BUILD_JOB) as cancel:
        source = source_path(studio, source_mode, image, video)
        mask = mask_from_inputs(studio, mask_editor, mask_upload)
        first = checked_upload(studio, first_frame, "first-frame image", required=False)
        tracking = _run_object_manipulation(
            studio, _build_job(studio, resize_mode, progress, cancel, windows), source, mask, motion, amount,
            effective_camera_motion(source_mode, camera_mode, camera_motion) or None, first,
            TrackingWidgets(depth_method, tracker, grid_size, start_s), effective_camera_mode(source_mode, camera_mode),
        )
        tracking = with_object_mask(tracking, mask, resize_mode)
        return build_result(studio, tracking)


@build_handler
def build_mesh_animation(
    studio: Studio,
    mode: str,
    mesh_file: Any,
    procedural: str,
    amount: float,
    camera_motion: str,
    tracking_video: Any,
    tracking_first_frame: Any,
    resize_mode: str = DEFAULT_RESIZE_MODE,
    first_frame: Any = None,
    scope: str = "mesh_animation",
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
    windows: Any = 1,
) -> BuildResult:
    """Mesh Animation: a mesh sequence, one mesh + procedural motion, or an uploaded tracking video.

    Returns:
        A :class:`BuildResult` whose first frame is the mesh's own render (or the uploaded first frame).
    """
    with studio_job(studio, BUILD_ACTION, scope, request, BUILD_JOB) as cancel:
        job = _build_job(studio, resize_mode, progress, cancel, windows)
        override = checked_upload(studio, first_frame, "first-frame image", required=False)
        if mode == MESH_TRACKING_VIDEO:
            video = checked_upload(studio, tracking_video, "tracking video")
            first = checked_upload(studio, tracking_first_frame, "first frame for the tracking video", required=False)
            if (override or first) is None:
                raise user_error(
                    "A tracking video made elsewhere needs the first frame of the video you want (e.g. your "
                    "textured render): upload it under 'First frame of that video'.",
                    title="Missing first frame",
                )
            tracking = _run_from_tracking_video(job, video, override or first)
            if tracking.metadata.get("aspect_changed"):
                source_height, source_width = tracking.metadata["source_size"]
                gr.Warning(
                    f"The tracking video is {source_width}×{source_height}, another aspect than the model's "
                    f"{job.size.width}×{job.size.height}: it and the first frame were stretched to fit (its colours encode "
                    f"positions in the frame, so it is not cropped). Render at {job.size.width}×{job.size.height} to avoid "
                    "the distortion."
                )
        elif mode in (MESH_SEQUENCE, MESH_PROCEDURAL):
            what = "mesh sequence (.zip of meshes)" if mode == MESH_SEQUENCE else "mesh file"
            mesh = checked_upload(studio, mesh_file, what)
            tracking = _run_mesh_animation(
                job,
                mesh,
                procedural=procedural if mode == MESH_PROCEDURAL else None,
                # A blank amount means the motion's own default (e.g. 360° for a turntable); any
                # other value goes to core.validation.mesh_amount as sent.
                amount=amount if mode == MESH_PROCEDURAL and not _blank(amount) else None,
                camera_motion=camera_motion or None,
                first_frame=override,
            )
        else:
            raise user_error(f"Unknown mesh input {mode!r}: choose one of {', '.join(MESH_MODES)}.")
        return build_result(studio, tracking)
