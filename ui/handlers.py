"""Event handlers of the studio: plain module-level functions of plain values.

Each handler takes what the widgets hold (file paths, numbers, strings, the tracking result
kept in ``gr.State``) and returns what the widgets show, so tests call them directly without a
browser. They never do tensor math or load a model: they call the task recipes in
``core.tasks``, the engine in ``core.engine`` and the helpers of ``core.media``/``core.camera``.
Failures become ``gr.Error`` messages through :func:`ui.errors.user_errors`.

Gradio passes ``request: gr.Request`` (for the per-session Cancel) and
``progress: gr.Progress`` (for the progress bars) itself; direct callers may leave both out.
"""

from __future__ import annotations

import hashlib
import html
import logging
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import gradio as gr
import numpy as np

from core.engine import RANDOM_SEED, GenerationResult, GenerationSettings, get_engine
from core.progress import Cancelled, ProgressFn
from core.tasks import TrackingResult
from ui.errors import user_error, user_errors
from ui.session import CANCELS, session_id

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Options set once by build_app
# --------------------------------------------------------------------------------------------

DEFAULT_MAX_FILE_MB = 200.0
PREVIEW_MAX_AGE_S = 6 * 3600
"""Preview folders (tracking/source mp4, point cloud) older than this are removed."""

SOURCE_IMAGE = "image"
SOURCE_VIDEO = "video"
SOURCE_MODES = (SOURCE_IMAGE, SOURCE_VIDEO)

MESH_SEQUENCE = "mesh sequence"
MESH_PROCEDURAL = "one mesh + procedural motion"
MESH_TRACKING_VIDEO = "tracking video made elsewhere"
MESH_MODES = (MESH_SEQUENCE, MESH_PROCEDURAL, MESH_TRACKING_VIDEO)

BUILDER_TRANSLATION = "translation"
BUILDER_ROTATION = "rotation"
BUILDER_ORBIT = "orbit"
BUILDER_SPIRAL = "spiral"
BUILDER_KINDS = (BUILDER_TRANSLATION, BUILDER_ROTATION, BUILDER_ORBIT, BUILDER_SPIRAL)

PLOT_LOOK_DISTANCE = 0.25
"""Length of the view-direction ticks in the camera-path plot, in scene units."""
PLOT_TICKS = 8
"""How many view-direction ticks the camera-path plot draws along the path."""


@dataclass
class StudioOptions:
    """Settings of the running studio that handlers need (set by ``build_app``)."""

    max_file_bytes: Optional[int] = int(DEFAULT_MAX_FILE_MB * 2**20)
    preview_root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "das-studio-previews")
    allow_download: bool = False
    """Let depth models download from the Hub on first use (never in tests)."""
    default_steps: int = 50


_options = StudioOptions()


def configure(**changes: Any) -> StudioOptions:
    """Change the studio options (``build_app`` calls this); returns the new options."""
    global _options
    unknown = set(changes) - set(StudioOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown studio option(s): {sorted(unknown)}")
    current = {name: getattr(_options, name) for name in StudioOptions.__dataclass_fields__}
    _options = StudioOptions(**{**current, **changes})
    return _options


def options() -> StudioOptions:
    return _options


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _core_progress(progress: Any) -> Optional[ProgressFn]:
    """Adapt a ``gr.Progress`` to the core's ``progress(fraction, message)`` callback."""
    if progress is None:
        return None

    def report(fraction: float, message: str) -> None:
        progress(fraction, desc=message)

    return report


def _path_of(value: Any) -> Optional[str]:
    """A file path from what a Gradio file/image/video widget gives (path, dict or ``None``)."""
    if value is None:
        return None
    if isinstance(value, dict):  # FileData-like dicts from API clients
        value = value.get("path") or value.get("name") or value.get("video")
        if isinstance(value, dict):
            value = value.get("path")
    if isinstance(value, (list, tuple)):  # a multi-file widget: take the first
        value = value[0] if value else None
    if value is None or str(value).strip() == "":
        return None
    return str(value)


def checked_upload(value: Any, what: str, *, required: bool = True) -> Optional[str]:
    """The uploaded file's path after checking it exists, is not empty and not too large.

    Raises:
        gr.Error: nothing uploaded (when ``required``).
        MediaError: empty or too large (turned into a message by :func:`user_errors`).
    """
    from core.media import check_file_size

    path = _path_of(value)
    if path is None:
        if required:
            raise user_error(f"No {what} yet: upload one (or click an example below) first.", title="Missing input")
        return None
    limit = _options.max_file_bytes
    check_file_size(path, limit if limit else 2**62)
    return path


def _new_preview_dir() -> Path:
    """A fresh folder for one build's preview files; old ones are pruned on the way."""
    root = _options.preview_root
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


def working_size() -> tuple[int, int, int]:
    """``(num_frames, height, width)`` of the loaded (or configured) checkpoint."""
    return get_engine().native_size()


def _seed_value(seed: Any) -> int:
    """The seed box's value as an int (−1 = random); blank means random."""
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return RANDOM_SEED
    try:
        value = int(float(seed))
    except (TypeError, ValueError):
        raise user_error(f"The seed must be a whole number (or -1 for a random one), not {seed!r}.") from None
    if value < RANDOM_SEED:
        raise user_error("The seed must be 0 or more, or -1 for a random one.")
    return value


def _tracking_info(tracking: TrackingResult) -> str:
    """A short Markdown summary of how the tracking video was made."""
    meta = tracking.metadata or {}
    frames, (height, width) = tracking.num_frames, tracking.size
    lines = [f"**{frames} frames · {width}×{height} px · {tracking.fps:.3g} fps** ({frames / tracking.fps:.1f} s)"]
    facts = []
    if meta.get("depth_source"):
        depth = f"depth: {meta['depth_source']}"
        if meta.get("depth_approximate"):
            depth += " (approximate — install a depth model for better geometry, see README)"
        facts.append(depth)
    if meta.get("tracker"):
        facts.append(f"tracker: {meta['tracker']}")
    if meta.get("num_tracks"):
        facts.append(f"{meta['num_tracks']} tracks")
    if meta.get("num_points"):
        facts.append(f"{meta['num_points']} points")
    if meta.get("first_frame"):
        facts.append(f"first frame: {meta['first_frame']}")
    if facts:
        lines.append(" · ".join(str(fact) for fact in facts))
    if meta.get("object_motion"):
        lines.append(f"object: {meta['object_motion']} {meta.get('object_amount', '')} ({meta.get('object_points', '?')} points)")
    description = meta.get("camera_description")
    if description and description != "static camera":
        lines.append("camera: " + description.replace("\n", "; "))
    return "\n\n".join(lines)


@dataclass(frozen=True)
class TrackingPreview:
    """What a build shows: files for the preview widgets and a summary."""

    tracking_video: str
    source_video: Optional[str]
    first_frame: np.ndarray
    point_cloud: Optional[str]
    info: str


def tracking_preview(tracking: TrackingResult) -> TrackingPreview:
    """Write the preview files of a tracking result (mp4s and a ``.glb`` point cloud)."""
    from core.export import ExportError, export_point_cloud
    from core.media import write_video

    folder = _new_preview_dir()
    tracking_video = write_video(tracking.frames, folder / "tracking.mp4", tracking.fps)
    source_video = None
    if tracking.source_frames is not None:
        source_video = str(write_video(tracking.source_frames, folder / "source.mp4", tracking.fps))
    point_cloud = None
    if len(tracking.points):
        try:
            point_cloud = str(export_point_cloud(tracking.points, tracking.point_colors, folder / "point_cloud.glb"))
        except ExportError as error:  # a preview nicety: the tracking video is still usable
            logger.warning("no point-cloud preview: %s", error)
    return TrackingPreview(
        tracking_video=str(tracking_video),
        source_video=source_video,
        first_frame=tracking.first_frame,
        point_cloud=point_cloud,
        info=_tracking_info(tracking),
    )


def _build_outputs(tracking: TrackingResult) -> tuple:
    """Outputs of every build handler, in the order the tabs wire them."""
    preview = tracking_preview(tracking)
    return (
        tracking,
        preview.tracking_video,
        preview.source_video,
        preview.first_frame,
        preview.point_cloud,
        preview.info,
    )


def _tracking_options(depth_method: Any, tracker: Any, grid_size: Any, start_s: Any) -> dict[str, Any]:
    """Keyword arguments of the video-based recipes from the 'Tracking settings' widgets."""
    return {
        "depth_method": str(depth_method or "auto"),
        "tracker": str(tracker or "auto"),
        "grid_size": int(grid_size or 70),
        "start_s": float(start_s or 0.0),
        "allow_download": _options.allow_download,
    }


def _source_path(source_mode: Any, image: Any, video: Any) -> str:
    """The image or video to start from, following the source selector."""
    if source_mode == SOURCE_VIDEO:
        return checked_upload(video, "source video")
    if source_mode == SOURCE_IMAGE:
        return checked_upload(image, "source image")
    raise user_error(f"Unknown source {source_mode!r}: choose 'image' or 'video'.")


# --------------------------------------------------------------------------------------------
# Build handlers (one per tab)
# --------------------------------------------------------------------------------------------

BUILD_ACTION = "Building the tracking video"


def build_motion_transfer(
    video: Any,
    resize_mode: str = "crop",
    first_frame: Any = None,
    depth_method: str = "auto",
    tracker: str = "auto",
    grid_size: int = 70,
    start_s: float = 0.0,
    scope: str = "motion_transfer",
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
) -> tuple:
    """Motion Transfer: a source video → its tracking video.

    Returns:
        ``(tracking_state, tracking_video, source_video, first_frame, point_cloud, info)``.
    """
    from core.tasks import motion_transfer

    with user_errors(BUILD_ACTION), CANCELS.running(session_id(request), scope) as cancel:
        source = checked_upload(video, "source video")
        first = checked_upload(first_frame, "first-frame image", required=False)
        num_frames, height, width = working_size()
        tracking = motion_transfer(
            source,
            num_frames=num_frames,
            height=height,
            width=width,
            resize_mode=resize_mode,
            first_frame=first,
            progress=_core_progress(progress),
            cancel=cancel,
            **_tracking_options(depth_method, tracker, grid_size, start_s),
        )
        return _build_outputs(tracking)


def build_camera_control(
    source_mode: str,
    image: Any,
    video: Any,
    camera_motion: str,
    resize_mode: str = "crop",
    first_frame: Any = None,
    depth_method: str = "auto",
    tracker: str = "auto",
    grid_size: int = 70,
    start_s: float = 0.0,
    scope: str = "camera_control",
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
) -> tuple:
    """Camera Control: an image or video + a camera-motion string → tracking video.

    Returns:
        As :func:`build_motion_transfer`.
    """
    from core.tasks import camera_control

    with user_errors(BUILD_ACTION), CANCELS.running(session_id(request), scope) as cancel:
        source = _source_path(source_mode, image, video)
        first = checked_upload(first_frame, "first-frame image", required=False)
        num_frames, height, width = working_size()
        tracking = camera_control(
            source,
            camera_motion or "",
            num_frames=num_frames,
            height=height,
            width=width,
            resize_mode=resize_mode,
            first_frame=first,
            progress=_core_progress(progress),
            cancel=cancel,
            **_tracking_options(depth_method, tracker, grid_size, start_s),
        )
        return _build_outputs(tracking)


def mask_from_inputs(mask_editor: Any, mask_upload: Any) -> Any:
    """The object mask the user gave: an uploaded mask wins over the painted one.

    Args:
        mask_editor: the ``gr.ImageEditor`` value (``{"background", "layers", "composite"}``);
            its single paint layer (RGBA, painted = opaque) is the mask.
        mask_upload: path of an uploaded mask image (white = object), or ``None``.

    Returns:
        A path or an ``(H, W, 4)`` array for ``core.tasks.load_mask``.

    Raises:
        gr.Error: neither was given.
    """
    upload = checked_upload(mask_upload, "mask image", required=False)
    if upload is not None:
        return upload
    layer = _paint_layer(mask_editor)
    if layer is not None:
        return _path_of(layer) if isinstance(layer, (str, dict)) else np.asarray(layer)
    raise user_error(
        "No object mask: paint over the object in the mask editor (use the brush), or upload a mask "
        "image (white = object, black = background).",
        title="Missing mask",
    )


def _paint_layer(mask_editor: Any) -> Any:
    """The ``gr.ImageEditor`` value's paint layer (an array, or a path / FileData from an API
    client), or ``None``."""
    layers = mask_editor.get("layers") if isinstance(mask_editor, dict) else None
    painted = [layer for layer in (layers or []) if layer is not None]
    return painted[0] if painted else None


def painted_mask_digest(mask_editor: Any) -> Optional[str]:
    """A fingerprint of the mask painted in the editor, as a build reads it
    (:func:`core.object_motion.mask_to_bool` of the paint layer): SHA-1 of the selected pixels
    and the layer size, or ``None`` when nothing is painted.

    It tells a user's edit from the app reloading the editor's background, which Gradio also
    reports as an input.
    """
    from core.object_motion import mask_to_bool

    layer = _paint_layer(mask_editor)
    if isinstance(layer, (str, dict)):
        from PIL import Image

        path = _path_of(layer)
        if path is None:
            return None
        with Image.open(path) as opened:
            layer = np.asarray(opened.convert("RGBA"))
    if layer is None:
        return None
    selected = mask_to_bool(np.asarray(layer))
    if not selected.any():
        return None
    digest = hashlib.sha1(np.packbits(selected).tobytes())
    digest.update(str(selected.shape).encode())
    return digest.hexdigest()


def mask_editor_frame(
    source_mode: str, image: Any, video: Any, resize_mode: str = "crop", start_s: float = 0.0
) -> Any:
    """The first frame at the working size, as the mask editor's background (``None`` = no source)."""
    from core.media import load_media

    if _path_of(image if source_mode == SOURCE_IMAGE else video) is None:
        return None
    with user_errors("Loading the first frame"):
        source = _source_path(source_mode, image, video)
        _, height, width = working_size()
        clip = load_media(source, 1, height, width, resize_mode=resize_mode, start_s=float(start_s or 0.0))
        return clip.frames[0]


def build_object_manipulation(
    source_mode: str,
    image: Any,
    video: Any,
    mask_editor: Any,
    mask_upload: Any,
    motion: str,
    amount: float,
    camera_motion: str = "",
    resize_mode: str = "crop",
    first_frame: Any = None,
    depth_method: str = "auto",
    tracker: str = "auto",
    grid_size: int = 70,
    start_s: float = 0.0,
    scope: str = "object_manipulation",
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
) -> tuple:
    """Object Manipulation: a masked object moved rigidly (plus an optional camera motion).

    Returns:
        As :func:`build_motion_transfer`.
    """
    from core.tasks import object_manipulation

    with user_errors(BUILD_ACTION), CANCELS.running(session_id(request), scope) as cancel:
        source = _source_path(source_mode, image, video)
        mask = mask_from_inputs(mask_editor, mask_upload)
        first = checked_upload(first_frame, "first-frame image", required=False)
        num_frames, height, width = working_size()
        tracking = object_manipulation(
            source,
            mask,
            motion,
            amount,
            camera_motion=camera_motion or None,
            num_frames=num_frames,
            height=height,
            width=width,
            resize_mode=resize_mode,
            first_frame=first,
            progress=_core_progress(progress),
            cancel=cancel,
            **_tracking_options(depth_method, tracker, grid_size, start_s),
        )
        return _build_outputs(tracking)


def procedural_motions() -> dict[str, str]:
    """Procedural mesh motions (name → what ``amount`` means) of ``trackers.mesh``."""
    from trackers.mesh import MESH_MOTIONS

    return dict(MESH_MOTIONS)


def build_mesh_animation(
    mode: str,
    mesh_file: Any,
    procedural: str,
    amount: float,
    camera_motion: str,
    tracking_video: Any,
    tracking_first_frame: Any,
    resize_mode: str = "crop",
    first_frame: Any = None,
    scope: str = "mesh_animation",
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
) -> tuple:
    """Mesh Animation: a mesh sequence, one mesh + procedural motion, or an uploaded tracking video.

    Returns:
        As :func:`build_motion_transfer`; the first frame is the mesh's own render (or the
        uploaded first frame).
    """
    from core.tasks import from_tracking_video, mesh_animation

    with user_errors(BUILD_ACTION), CANCELS.running(session_id(request), scope) as cancel:
        num_frames, height, width = working_size()
        size = {"num_frames": num_frames, "height": height, "width": width, "resize_mode": resize_mode}
        override = checked_upload(first_frame, "first-frame image", required=False)
        if mode == MESH_TRACKING_VIDEO:
            video = checked_upload(tracking_video, "tracking video")
            first = checked_upload(tracking_first_frame, "first frame for the tracking video", required=False)
            if (override or first) is None:
                raise user_error(
                    "A tracking video made elsewhere needs the first frame of the video you want (e.g. your "
                    "textured render): upload it under 'First frame of that video'.",
                    title="Missing first frame",
                )
            # Its colours encode positions relative to the frame: always stretched (as DaS did),
            # whatever the tab's resize setting, so the code stays exact.
            tracking = from_tracking_video(
                video,
                first_frame=override or first,
                progress=_core_progress(progress),
                cancel=cancel,
                **{**size, "resize_mode": "stretch"},
            )
            if tracking.metadata.get("aspect_changed"):
                source_height, source_width = tracking.metadata["source_size"]
                gr.Warning(
                    f"The tracking video is {source_width}×{source_height}, another aspect than the model's "
                    f"{width}×{height}: it and the first frame were stretched to fit (its colours encode "
                    f"positions in the frame, so it is not cropped). Render at {width}×{height} to avoid "
                    "the distortion."
                )
        elif mode in (MESH_SEQUENCE, MESH_PROCEDURAL):
            what = "mesh sequence (.zip of meshes)" if mode == MESH_SEQUENCE else "mesh file"
            mesh = checked_upload(mesh_file, what)
            tracking = mesh_animation(
                mesh,
                procedural=procedural if mode == MESH_PROCEDURAL else None,
                # A blank amount means the motion's own default (e.g. 360° for a turntable).
                amount=float(amount) if mode == MESH_PROCEDURAL and amount not in (None, "") else None,
                camera_motion=camera_motion or None,
                first_frame=override,
                progress=_core_progress(progress),
                cancel=cancel,
                **size,
            )
        else:
            raise user_error(f"Unknown mesh input {mode!r}: choose one of {', '.join(MESH_MODES)}.")
        return _build_outputs(tracking)


# --------------------------------------------------------------------------------------------
# Generation (GPU)
# --------------------------------------------------------------------------------------------

GENERATE_ACTION = "Generating the video"
CANCELLED_INFO = "**Cancelled** — nothing was generated or saved."
REPAINT_ACTION = "Repainting the first frame"


def _require_tracking(tracking: Any) -> TrackingResult:
    if not isinstance(tracking, TrackingResult):
        raise user_error(
            "There is no tracking video yet: set the inputs and click 'Build tracking video' first.",
            title="Nothing to generate from",
        )
    return tracking


def _result_info(result: GenerationResult) -> str:
    status = get_engine().status()
    # The folder's name only: a full server path means nothing to a remote user (--share, a
    # Space) and tells them about the server's file system.
    lines = [f"**Seed {result.seed}** · {result.elapsed_s:.1f} s · saved as `{result.output_dir.name}`"]
    if status.is_tiny:
        lines.append("⚠️ Generated by the tiny test model — the output is noise by design.")
    return "\n\n".join(lines)


def generate_video(
    tracking: Any,
    prompt: str,
    seed: Any = RANDOM_SEED,
    steps: Any = 50,
    guidance: Any = 6.0,
    dynamic_cfg: bool = True,
    negative_prompt: Optional[str] = None,
    resize_mode: str = "crop",
    first_frame: Any = None,
    scope: str = "studio",
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
) -> tuple:
    """Generate the video from the tab's tracking video, a first frame and the prompt.

    Args:
        tracking: the :class:`TrackingResult` kept in the tab's state.
        first_frame: optional image (path) replacing the tracking's first frame — how users
            change the appearance while keeping the motion.

    Returns:
        ``(video_path, [video, tracking video, settings JSON], seed_used, info)``.
    """
    from core.engine import DEFAULT_NEGATIVE_PROMPT
    from core.media import load_image

    with user_errors(GENERATE_ACTION), CANCELS.running(session_id(request), scope) as cancel:
        tracking = _require_tracking(tracking)
        if not isinstance(prompt, str) or not prompt.strip():
            raise user_error("The prompt is empty: describe the video you want, e.g. 'a red ball rolling on a meadow'.")
        override = checked_upload(first_frame, "first-frame image", required=False)
        if override is not None:
            height, width = tracking.size
            tracking = tracking.with_first_frame(load_image(override, height, width, resize_mode), "user image")
        settings = GenerationSettings(
            seed=_seed_value(seed),
            num_inference_steps=int(steps if steps is not None else _options.default_steps),
            guidance_scale=float(guidance if guidance is not None else 6.0),
            use_dynamic_cfg=bool(dynamic_cfg),
            negative_prompt=DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else str(negative_prompt),
        )
        try:
            result = get_engine().generate(
                tracking.first_frame,
                tracking,
                prompt.strip(),
                settings,
                progress=_core_progress(progress),
                cancel=cancel,
            )
        except Cancelled:
            # A cancel is what the user asked for, not a failure: clear the previous result's
            # video, downloads and seed (they are not this request's) and say so.
            return None, None, gr.update(value=None, visible=False), CANCELLED_INFO
        downloads = [str(result.video_path), str(result.tracking_path), str(result.settings_path)]
        return str(result.video_path), downloads, result.seed, _result_info(result)


def repaint_first_frame(
    tracking: Any,
    prompt: str,
    seed: Any = RANDOM_SEED,
    scope: str = "studio",
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
) -> np.ndarray:
    """Paint a new first frame from the prompt that follows the tracking video's depth.

    Returns:
        ``(H, W, 3)`` uint8 image for the first-frame widget (then used by Generate).
    """
    from core import repaint

    with user_errors(REPAINT_ACTION), CANCELS.running(session_id(request), scope) as cancel:
        tracking = _require_tracking(tracking)
        if tracking.depth is None:
            raise user_error(
                "This tracking video carries no depth (it was made elsewhere), so the first frame cannot be "
                "repainted to fit it: upload a first frame instead.",
                title="Cannot repaint",
            )
        if not isinstance(prompt, str) or not prompt.strip():
            raise user_error("The prompt is empty: describe the first frame you want.")
        seed_value = _seed_value(seed)
        return repaint.repaint_first_frame(
            tracking.depth,
            prompt.strip(),
            seed=repaint.DEFAULT_REPAINT_SEED if seed_value == RANDOM_SEED else seed_value,
            device=get_engine().device,
            allow_download=_options.allow_download,
            progress=_core_progress(progress),
            cancel=cancel,
        )


def cancel_jobs(scope: str = "studio", request: gr.Request = None) -> str:
    """Ask this session's running jobs of ``scope`` (a tab) to stop; returns a short notice.

    With nothing running yet, a job of this tab starting in the next moment is stopped too
    (see :data:`ui.session.PENDING_CANCEL_WINDOW_S`); queued ones are dropped by Gradio.
    """
    stopped = CANCELS.cancel(session_id(request), scope)
    if stopped:
        message = f"Cancelling {stopped} running job(s)…"
        gr.Info(message)
        return message
    return "Cancelling: nothing was running here (a job about to start is stopped too)."


def reveal_seed(seed: Any) -> dict:
    """Show the "seed used" box once there is a seed (it stays hidden after a cancel)."""
    return gr.update(visible=seed is not None)


def clear_notice() -> str:
    """An empty Cancel notice (a new request starts, or the last one ended)."""
    return ""


INPUTS_CHANGED_INFO = (
    "⚠️ **The inputs changed** since this tracking video was built: click **Build tracking video** "
    "again before generating."
)
BUILD_FAILED_INFO = "⚠️ **The build failed** (see the message): fix the inputs and build again."


def _fingerprint_part(value: Any) -> str:
    """What of one input value a build depends on, as text (see :func:`inputs_fingerprint`)."""
    if isinstance(value, dict) and "layers" in value:  # a gr.ImageEditor: only the strokes count
        return f"strokes:{painted_mask_digest(value)}"
    if isinstance(value, np.ndarray):
        return f"array:{value.shape}:{hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()}"
    if isinstance(value, dict):
        path = _path_of(value)
        return f"file:{path}" if path is not None else repr(sorted((str(k), _fingerprint_part(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_fingerprint_part(item) for item in value) + "]"
    return repr(value)


def inputs_fingerprint(*values: Any) -> str:
    """A digest of the build inputs as a build reads them: two calls agree exactly when a build
    from either would read the same inputs (the same uploaded file, motion, settings, strokes).

    The mask editor counts by its painted strokes only, since the app reloads its background
    from the source whenever that changes.
    """
    return hashlib.sha1("\x1f".join(_fingerprint_part(value) for value in values).encode()).hexdigest()


_KEEP_TRACKING = (gr.skip(), gr.skip(), gr.skip(), gr.skip())
"""What :func:`retire_if_inputs_changed` returns when nothing changes: state, buttons and info."""


def retire_tracking(tracking: Any = None) -> tuple:
    """Drop the tracking video so Generate cannot use a stale one, and say so under the preview.

    Returns ``(state, generate update, repaint update, preview info update)``; with no tracking
    video, everything stays as it is.
    """
    if not isinstance(tracking, TrackingResult):
        return _KEEP_TRACKING
    update = gr.update(interactive=False)
    return None, update, update, INPUTS_CHANGED_INFO


def retire_if_inputs_changed(tracking: Any, built_from: Optional[str], *values: Any) -> tuple:
    """A build input reported a change: retire the tracking video if the inputs now differ from
    those it was built from (``built_from``, an :func:`inputs_fingerprint`).

    Comparing values rather than trusting the event matters: Gradio also reports changes that
    change nothing (an example resetting a hidden input, the app reloading the mask editor's
    background), sometimes after a build has finished.

    Returns as :func:`retire_tracking`.
    """
    if isinstance(tracking, TrackingResult) and inputs_fingerprint(*values) == built_from:
        return _KEEP_TRACKING
    return retire_tracking(tracking)


def retire_if_first_frame_removed(tracking: Any, first_frame: Any) -> tuple:
    """The *first frame to start from* changed. A new image needs no rebuild (Generate applies
    it), but removing the one the tracking video was built with must not leave that image in use:
    then the tracking video is retired, to be built again from the source's own first frame.

    Returns as :func:`retire_tracking`.
    """
    built_with_image = isinstance(tracking, TrackingResult) and tracking.metadata.get("first_frame") == "user image"
    if built_with_image and _path_of(first_frame) is None:
        return retire_tracking(tracking)
    return _KEEP_TRACKING


def build_succeeded(tracking: Any, built_from: Optional[str], *values: Any) -> tuple:
    """A build finished: enable Generate and Repaint, unless the inputs changed while it ran (its
    tracking video was built from ``built_from``), in which case it is already stale.

    Returns as :func:`retire_tracking`.
    """
    if isinstance(tracking, TrackingResult) and inputs_fingerprint(*values) != built_from:
        return retire_tracking(tracking)
    ready = gr.update(interactive=isinstance(tracking, TrackingResult))
    return gr.skip(), ready, ready, gr.skip()


def build_failed() -> tuple:
    """A build failed: nothing from an earlier build may stay usable or on screen.

    Returns ``(state, generate update, repaint update, tracking video, source video, first
    frame, point cloud, preview info)``.
    """
    update = gr.update(interactive=False)
    return None, update, update, None, None, None, None, BUILD_FAILED_INFO


# --------------------------------------------------------------------------------------------
# Camera motion: validation, plot, presets and the step builder
# --------------------------------------------------------------------------------------------


def camera_motion_message(text: Optional[str]) -> tuple[str, bool]:
    """``(message, ok)``: a description of a valid motion string, or the parser's error."""
    from core.camera import CameraMotionError, describe_camera_motion

    num_frames, _, _ = working_size()
    try:
        return describe_camera_motion(text or "", num_frames), True
    except CameraMotionError as error:
        # Markdown would take the grammar's placeholders (<dz>, <degrees>) for HTML tags.
        return f"❌ {html.escape(str(error), quote=False)}", False


def camera_path_figure(text: Optional[str]):
    """A matplotlib figure of the camera path of a motion string: top view and 3D view.

    The data come from :func:`core.camera.camera_path` (camera centres in frame-0 space, in
    units of the scene's median depth). Short ticks show where the camera looks: they are the
    path of the point :data:`PLOT_LOOK_DISTANCE` in front of each camera, obtained by
    prepending an instant forward step to the motion (``M'_t = T · M_t``, whose centres are
    ``M_t⁻¹ · (0, 0, d)``). Returns ``None`` for an invalid string.
    """
    from matplotlib.figure import Figure

    from core.camera import CameraMotionError, camera_path, parse_camera_motion

    num_frames, _, _ = working_size()
    try:
        centres = camera_path(parse_camera_motion(text or "", num_frames))
        looking = camera_path(parse_camera_motion(f"trans 0 0 {-PLOT_LOOK_DISTANCE:g} 0 0; {text or ''}", num_frames))
    except CameraMotionError:
        return None
    # Plot axes: x right, z forward (depth), and "up" = −y (OpenCV's y points down).
    x, z, up = centres[:, 0], centres[:, 2], -centres[:, 1]
    look_x, look_z, look_up = looking[:, 0], looking[:, 2], -looking[:, 1]
    ticks = np.unique(np.linspace(0, num_frames - 1, min(PLOT_TICKS, num_frames)).round().astype(int))

    figure = Figure(figsize=(7.5, 3.4), dpi=90, layout="constrained")
    top = figure.add_subplot(1, 2, 1)
    top.plot(x, z, "-", color="#4f46e5", lw=2, label="camera path")
    for t in ticks:
        top.plot([x[t], look_x[t]], [z[t], look_z[t]], "-", color="#f59e0b", lw=1)
    top.plot(x[0], z[0], "o", color="#16a34a", label="start")
    top.plot(x[-1], z[-1], "s", color="#dc2626", label="end")
    top.plot(0, 1, "*", color="#111827", ms=10, label="scene (median depth)")
    top.set_title("camera path — top view")
    top.set_xlabel("x (right)")
    top.set_ylabel("z (forward)")
    top.set_aspect("equal", adjustable="datalim")
    top.grid(alpha=0.3)
    top.legend(fontsize=7, loc="best")

    view = figure.add_subplot(1, 2, 2, projection="3d")
    view.plot(x, z, up, "-", color="#4f46e5", lw=2)
    for t in ticks:
        view.plot([x[t], look_x[t]], [z[t], look_z[t]], [up[t], look_up[t]], "-", color="#f59e0b", lw=1)
    view.scatter([x[0]], [z[0]], [up[0]], color="#16a34a")
    view.scatter([x[-1]], [z[-1]], [up[-1]], color="#dc2626", marker="s")
    view.scatter([0], [1], [0], color="#111827", marker="*", s=60)
    view.set_title("camera path — 3D")
    view.set_xlabel("x")
    view.set_ylabel("z")
    view.set_zlabel("up")
    return figure


def check_camera_motion(text: Optional[str]) -> tuple:
    """Validate a motion string as it is typed: ``(message, plot)`` for the widgets.

    The message is the step-by-step description, or (starting with ``❌``) the parser's error
    naming the step and token; the plot is kept as it was while the string is invalid.
    """
    message, ok = camera_motion_message(text)
    return message, camera_path_figure(text) if ok else gr.skip()


def camera_motion_error_text(text: Optional[str]) -> str:
    """Inline validation for the secondary motion fields (no plot)."""
    return camera_motion_message(text)[0]


def camera_preset(name: str) -> str:
    """The motion string of a preset from :data:`core.camera.CAMERA_PRESETS`."""
    from core.camera import CAMERA_PRESETS

    if name not in CAMERA_PRESETS:
        raise user_error(f"Unknown camera preset {name!r}; choose one of: {', '.join(CAMERA_PRESETS)}.")
    return CAMERA_PRESETS[name]


def _number(value: Any, name: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise user_error(f"{name} is empty: enter a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise user_error(f"{name} must be a number, not {value!r}.") from None
    if not np.isfinite(number):
        raise user_error(f"{name} must be a finite number.")
    return number


def builder_step(
    kind: str, dx: Any, dy: Any, dz: Any, axis: str, degrees: Any, radius: Any, start: Any, end: Any
) -> str:
    """The motion-language text of one builder step, e.g. ``"rot y 15 0 24"``."""
    first, last = int(_number(start, "Start frame")), int(_number(end, "End frame"))
    frames = f"{first} {last}"
    if kind == BUILDER_TRANSLATION:
        values = (_number(dx, "dx"), _number(dy, "dy"), _number(dz, "dz"))
        return f"trans {values[0]:g} {values[1]:g} {values[2]:g} {frames}"
    if kind == BUILDER_ROTATION:
        return f"rot {axis} {_number(degrees, 'Degrees'):g} {frames}"
    if kind == BUILDER_ORBIT:
        return f"orbit {axis} {_number(degrees, 'Degrees'):g} {frames}"
    if kind == BUILDER_SPIRAL:
        return f"spiral {_number(radius, 'Radius'):g} {frames}"
    raise user_error(f"Unknown step kind {kind!r}; choose one of {', '.join(BUILDER_KINDS)}.")


def _steps_of(text: Optional[str]) -> list[str]:
    return [step.strip() for step in (text or "").split(";") if step.strip()]


def builder_add(
    text: Optional[str], kind: str, dx: Any, dy: Any, dz: Any, axis: str, degrees: Any, radius: Any, start: Any, end: Any
) -> str:
    """Append the builder's step to the motion string (refused, with the reason, if invalid)."""
    from core.camera import CameraMotionError, parse_camera_motion

    step = builder_step(kind, dx, dy, dz, axis, degrees, radius, start, end)
    new_text = "; ".join(_steps_of(text) + [step])
    num_frames, _, _ = working_size()
    try:
        parse_camera_motion(new_text, num_frames)
    except CameraMotionError as error:
        raise user_error(f"Not added: {error}", title="Invalid step") from error
    return new_text


def builder_undo(text: Optional[str]) -> str:
    """Remove the last step of the motion string."""
    return "; ".join(_steps_of(text)[:-1])


def builder_clear() -> str:
    """An empty motion string (a static camera)."""
    return ""


def builder_visibility(kind: str) -> tuple:
    """Show only the builder fields the chosen step kind uses: (translation row, axis, degrees, radius)."""
    axis_choices = ["x", "y"] if kind == BUILDER_ORBIT else ["x", "y", "z"]
    return (
        gr.update(visible=kind == BUILDER_TRANSLATION),
        gr.update(visible=kind in (BUILDER_ROTATION, BUILDER_ORBIT), choices=axis_choices, value="y"),
        gr.update(visible=kind in (BUILDER_ROTATION, BUILDER_ORBIT)),
        gr.update(visible=kind == BUILDER_SPIRAL),
    )


def source_visibility(source_mode: str) -> tuple:
    """Show the image or the video input, following the source selector."""
    return gr.update(visible=source_mode == SOURCE_IMAGE), gr.update(visible=source_mode == SOURCE_VIDEO)


def mesh_mode_visibility(mode: str) -> tuple:
    """(mesh file, procedural group, camera motion group, tracking-video group) visibility."""
    uses_mesh = mode in (MESH_SEQUENCE, MESH_PROCEDURAL)
    return (
        gr.update(visible=uses_mesh, label="Mesh sequence (.zip of per-frame meshes)" if mode == MESH_SEQUENCE else "Mesh file"),
        gr.update(visible=mode == MESH_PROCEDURAL),
        gr.update(visible=uses_mesh),
        gr.update(visible=mode == MESH_TRACKING_VIDEO),
    )
