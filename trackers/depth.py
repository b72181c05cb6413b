"""Monocular depth for camera control and motion transfer (SPEC §9), per image and per video.

Conventions (camera space, pixels, shapes) are those of :mod:`core.geometry`. Depth is the
camera-space ``z`` (not the ray length), float32, strictly positive.

Methods are kept in a small registry (:func:`register_depth_method`); ``"auto"`` picks one
for the purpose (:data:`PURPOSES`) in three steps: a real model already on this machine
(``checkpoints/depth`` or the Hugging Face cache), else — when downloads are allowed — the
purpose's preferred model, downloaded on first use, else the built-in approximation:

- **stills** prefer Depth Pro: it estimates the field of view with the depth, and the
  parallax of camera control depends on the focal length (DaS itself used MoGe's intrinsics);
  then MoGe, Depth Anything V2, ZoeDepth.
- **videos** prefer Depth Anything V2 (Small when downloaded, ~100 MB): it runs per frame in a
  fraction of Depth Pro's time (49 frames per clip), and :func:`estimate_video_depth` aligns
  every frame to frame 0 along the point tracks, which makes the per-frame depth consistent
  over time (``transformers``, which loads our depth models, has no video-depth network);
  then Depth Pro, MoGe, ZoeDepth.

===================== ================================================ ===============
name                  weights                                          output
===================== ================================================ ===============
``depth-anything-v2`` ``checkpoints/depth/depth-anything-v2-{large,     relative → depth
                      base,small}`` or Hub ``depth-anything/Depth-     (documented map)
                      Anything-V2-Small-hf`` (download on request)
``depth-pro``         ``checkpoints/depth/depth-pro`` or Hub            metric + focal
                      ``apple/DepthPro-hf``
``moge``              ``checkpoints/depth/moge/model.pt`` (MoGe-1)      scale-invariant
                      with the ``moge`` package, or its Hub id on       + intrinsics
                      request
``zoedepth``          ``checkpoints/depth/zoedepth`` or Hub             metric
                      ``Intel/zoedepth-nyu-kitti``
``builtin``           none — a ground-plane prior refined by a          approximate
                      sharpness cue, always available
===================== ================================================ ===============

A Hub model already in the local Hugging Face cache counts as usable offline; anything else
is fetched (into the Hub cache, through :func:`core.checkpoints.download_snapshot`, announced
with its approximate size) only when the caller passes ``allow_download=True`` and the
machine is not offline. Nothing downloads at import.

Where things live: the registry and the public API here; the model adapters, where their
weights are found and how they download in :mod:`trackers.depth_models` (relative depth →
depth: :func:`disparity_to_depth`); the built-in estimate in :mod:`trackers.depth_builtin`;
the alignment of video frames over time in :mod:`trackers.depth_video`; the shared types in
:mod:`trackers.depth_result`. Every public name is importable from here.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

import cv2
import numpy as np

from core.checkpoints import is_offline
from core.errors import CheckpointError
from core import geometry
from core.progress import CancelFn, ProgressFn, check_cancel, report
from trackers.depth_builtin import (
    BUILTIN_HORIZON_FRACTION,
    BUILTIN_METHOD,
    BUILTIN_POOLING_MIN_SIGMA_PX,
    BUILTIN_SHARPNESS_EPS,
    BUILTIN_SHARPNESS_SIGMA_FRACTION,
    BUILTIN_SHARPNESS_WEIGHT,
    builtin_depth,
    ground_plane_depth,
    sharpness_map,
)
from trackers.depth_models import (
    CHECKPOINTS_ENV,
    DEFAULT_DEPTH_CHECKPOINTS,
    DEPTH_ANYTHING_FOLDERS,
    DEPTH_ANYTHING_HUB_ID,
    DEPTH_ANYTHING_SMALL_APPROX_GB,
    DEPTH_PRO_APPROX_GB,
    DEPTH_PRO_FOLDER,
    DEPTH_PRO_HUB_ID,
    DISPARITY_HIGH_PERCENTILE,
    DISPARITY_LOW_PERCENTILE,
    HUB_DOWNLOAD_PATTERNS,
    MAX_DEPTH,
    MIN_DEPTH,
    MOGE_APPROX_GB,
    MOGE_CHECKPOINT_FILE,
    MOGE_FOLDER,
    MOGE_HUB_ID,
    MOGE_METHOD,
    ZOEDEPTH_APPROX_GB,
    ZOEDEPTH_FOLDER,
    ZOEDEPTH_HUB_ID,
    ZOEDEPTH_PADDING_FACTOR,
    TransformersDepthModel,
    depth_checkpoints_dir,
    disparity_to_depth,
    hub_model_available,
    hub_model_factory,
    hub_model_fetch,
    missing_model_files,
    missing_weights_message,
    moge_factory,
    moge_fetch,
    moge_source,
)
from trackers.depth_result import RELATIVE_FAR_DEPTH, RELATIVE_NEAR_DEPTH, DepthError, DepthEstimator
from trackers.depth_result import DepthFactory, DepthResult, as_rgb_uint8, positive_depth
from trackers.depth_video import (
    ALIGN_MODES,
    INVERSE_DEPTH_FLOOR_FRACTION,
    MAD_TO_SIGMA,
    MIN_ALIGNMENT_POINTS,
    OUTLIER_SIGMAS,
    ROBUST_FIT_ITERATIONS,
    THEIL_SEN_PAIRS,
    align_video_depth,
    robust_affine_fit,
)

if TYPE_CHECKING:  # imported lazily at run time: tracking needs no torch.
    from trackers.points import PointTracks

logger = logging.getLogger(__name__)

# Public API; the names from the trackers.depth_* modules are re-exported here.
__all__ = [
    "ALIGN_MODES",
    "APPROXIMATE_DEPTH_ADVICE",
    "BUILTIN_HORIZON_FRACTION",
    "BUILTIN_METHOD",
    "BUILTIN_POOLING_MIN_SIGMA_PX",
    "BUILTIN_SHARPNESS_EPS",
    "BUILTIN_SHARPNESS_SIGMA_FRACTION",
    "BUILTIN_SHARPNESS_WEIGHT",
    "CHECKPOINTS_ENV",
    "DEFAULT_DEPTH_CHECKPOINTS",
    "DEPTH_ANYTHING_FOLDERS",
    "DEPTH_ANYTHING_HUB_ID",
    "DEPTH_ANYTHING_SMALL_APPROX_GB",
    "DEPTH_PRO_APPROX_GB",
    "DEPTH_PRO_FOLDER",
    "DEPTH_PRO_HUB_ID",
    "DISPARITY_HIGH_PERCENTILE",
    "DISPARITY_LOW_PERCENTILE",
    "DepthError",
    "DepthEstimator",
    "DepthFactory",
    "DepthMethod",
    "DepthResult",
    "FALLBACK_PRIORITY",
    "HUB_DOWNLOAD_PATTERNS",
    "INVERSE_DEPTH_FLOOR_FRACTION",
    "LockedEstimator",
    "MAD_TO_SIGMA",
    "MAX_DEPTH",
    "MIN_ALIGNMENT_POINTS",
    "MIN_DEPTH",
    "MOGE_APPROX_GB",
    "MOGE_CHECKPOINT_FILE",
    "MOGE_FOLDER",
    "MOGE_HUB_ID",
    "MOGE_METHOD",
    "OUTLIER_SIGMAS",
    "PURPOSES",
    "PURPOSE_STILL",
    "PURPOSE_VIDEO",
    "RELATIVE_FAR_DEPTH",
    "RELATIVE_NEAR_DEPTH",
    "ROBUST_FIT_ITERATIONS",
    "THEIL_SEN_PAIRS",
    "TransformersDepthModel",
    "ZOEDEPTH_APPROX_GB",
    "ZOEDEPTH_FOLDER",
    "ZOEDEPTH_HUB_ID",
    "ZOEDEPTH_PADDING_FACTOR",
    "align_video_depth",
    "available_depth_methods",
    "builtin_depth",
    "depth_checkpoints_dir",
    "depth_download_pending",
    "disparity_to_depth",
    "estimate_depth",
    "estimate_video_depth",
    "get_depth_estimator",
    "ground_plane_depth",
    "missing_model_files",
    "register_depth_method",
    "resolve_depth_method",
    "robust_affine_fit",
    "sharpness_map",
]

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

PURPOSE_STILL = "still"
PURPOSE_VIDEO = "video"
PURPOSES = (PURPOSE_STILL, PURPOSE_VIDEO)
"""What the depth is for: one photo, or every frame of a video (see the module doc)."""
FALLBACK_PRIORITY = 1000
"""Methods at or after this ``auto_priority`` are fallbacks (the built-in approximation): used
only when no real model is on this machine or downloadable."""

APPROXIMATE_DEPTH_ADVICE = (
    "The depth is the built-in approximation (a ground plane refined by sharpness), not a real "
    "depth model, so the 3D motion is only roughly right. For real depth run "
    "`python -m core.download --models depth,tracker` on a machine that is online, or start "
    "without --offline (and without DAS_OFFLINE / HF_HUB_OFFLINE) so the models download on first use."
)
"""What the studio and the CLI say whenever the built-in depth is (or will be) used."""


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepthMethod:
    """A registry entry.

    Attributes:
        name: the method's key (``method=`` of :func:`estimate_depth`).
        description: one line for the UI.
        factory: loads the method, see :data:`DepthFactory`.
        is_available: ``is_available(allow_download) -> bool``; must be cheap and never touch
            the network (check files and importable packages only).
        auto_priority: order for ``method="auto"`` (lower first); ``None`` = never automatic.
            Used for videos and when no purpose is given.
        still_priority: order for ``method="auto"`` on a still (``None`` = ``auto_priority``).
        fetch: ``fetch(progress)`` downloads the weights into the Hub cache when they are not
            on this machine (announcing what and how big), so the factory then loads them
            locally; ``None`` for methods that need no download.
        download_size_gb: approximate size of that download (``None`` = nothing to download).
    """

    name: str
    description: str
    factory: DepthFactory
    is_available: Callable[[bool], bool]
    auto_priority: Optional[int] = None
    still_priority: Optional[int] = None
    fetch: Optional[Callable[[Optional[ProgressFn]], None]] = None
    download_size_gb: Optional[float] = None

    def priority(self, purpose: Optional[str]) -> Optional[int]:
        """``auto`` order for ``purpose`` (lower first; ``None`` = never automatic)."""
        if self.auto_priority is None:
            return None
        if purpose == PURPOSE_STILL and self.still_priority is not None:
            return self.still_priority
        return self.auto_priority


_REGISTRY: dict[str, DepthMethod] = {}
_ESTIMATORS: dict[tuple[str, str], "LockedEstimator"] = {}
_ESTIMATORS_LOCK = threading.Lock()


def register_depth_method(
    name: str,
    factory: DepthFactory,
    *,
    description: str = "",
    is_available: Optional[Callable[[bool], bool]] = None,
    auto_priority: Optional[int] = None,
    still_priority: Optional[int] = None,
    fetch: Optional[Callable[[Optional[ProgressFn]], None]] = None,
    download_size_gb: Optional[float] = None,
    replace: bool = False,
) -> None:
    """Add a depth method to the registry.

    Args:
        name: key for ``method=``; ``"auto"`` is reserved.
        factory: ``factory(device: str, allow_download: bool) -> estimator`` where
            ``estimator(image (H, W, 3) uint8) -> DepthResult``. Called once per device; the
            estimator is cached for the process and called under a lock.
        description: one line shown in the UI.
        is_available: ``is_available(allow_download: bool) -> bool`` (files present, package
            importable); defaults to always available.
        auto_priority: position for ``method="auto"`` (lower first); ``None`` keeps the method
            out of the automatic choice. The built-in heuristic sits at ``FALLBACK_PRIORITY``.
        still_priority: position for ``"auto"`` on a still (default: ``auto_priority``).
        fetch, download_size_gb: see :class:`DepthMethod`.
        replace: allow overwriting an existing entry (and drop its cached estimators).
    """
    if not name or name == "auto":
        raise ValueError(f"invalid depth method name {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"depth method {name!r} is already registered (pass replace=True)")
    _REGISTRY[name] = DepthMethod(
        name=name,
        description=description or name,
        factory=factory,
        is_available=is_available or (lambda _allow_download: True),
        auto_priority=auto_priority,
        still_priority=still_priority,
        fetch=fetch,
        download_size_gb=download_size_gb,
    )
    with _ESTIMATORS_LOCK:
        for key in [key for key in _ESTIMATORS if key[0] == name]:
            del _ESTIMATORS[key]


def _ordered_methods(purpose: Optional[str] = None) -> list[DepthMethod]:
    automatic = sorted(
        (m for m in _REGISTRY.values() if m.priority(purpose) is not None), key=lambda m: m.priority(purpose)
    )
    manual = [m for m in _REGISTRY.values() if m.auto_priority is None]
    return automatic + manual


def _check_purpose(purpose: Optional[str]) -> None:
    if purpose is not None and purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES} or None, got {purpose!r}")


def available_depth_methods(allow_download: bool = False, purpose: Optional[str] = None) -> dict[str, str]:
    """Usable depth methods, name → description, in ``"auto"`` priority order.

    Args:
        allow_download: also list Hub models that would have to be downloaded.
        purpose: order for a ``"still"`` or a ``"video"`` (default: the video order).
    """
    _check_purpose(purpose)
    return {m.name: m.description for m in _ordered_methods(purpose) if m.is_available(allow_download)}


def resolve_depth_method(method: str = "auto", allow_download: bool = False, *, purpose: Optional[str] = None) -> str:
    """The registry name ``method`` stands for, without loading anything.

    ``"auto"`` is, in order: the first real (non-fallback) method in ``purpose``'s order whose
    weights are on this machine; else, with ``allow_download`` (and not offline), the first one
    that can be downloaded; else the built-in fallback.

    Args:
        method: a registry name or ``"auto"``.
        allow_download: may the choice need a download.
        purpose: ``"still"``, ``"video"`` or ``None`` (the video order); see the module doc.

    Raises:
        DepthError: unknown method, or a known one whose weights are not here.
    """
    _check_purpose(purpose)
    if method == "auto":
        ordered = [m for m in _ordered_methods(purpose) if m.auto_priority is not None]
        real = [m for m in ordered if m.priority(purpose) < FALLBACK_PRIORITY]
        for candidate in real:
            if candidate.is_available(False):
                return candidate.name
        if allow_download and not is_offline():
            for candidate in real:
                if candidate.is_available(True):
                    return candidate.name
        for candidate in ordered:
            if candidate.priority(purpose) >= FALLBACK_PRIORITY and candidate.is_available(allow_download):
                return candidate.name
        raise DepthError("no depth method is available (the built-in one was unregistered)")
    if method not in _REGISTRY:
        raise DepthError(f"unknown depth method {method!r}; choose one of {sorted(_REGISTRY)} or 'auto'")
    if not _REGISTRY[method].is_available(allow_download):
        raise DepthError(missing_weights_message(method))
    return method


def _resolve_device(device: Optional[str]) -> str:
    if device is not None:
        return str(device)
    if importlib.util.find_spec("torch") is None:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def depth_download_pending(method: str) -> Optional[float]:
    """Approximate size (GB) of the download ``method`` needs before it can run, or ``None``
    when its weights are on this machine (or it needs none). Never touches the network."""
    entry = _REGISTRY.get(method)
    if entry is None or entry.fetch is None or entry.is_available(False):
        return None
    return entry.download_size_gb


def get_depth_estimator(
    method: str = "auto",
    *,
    device: Optional[str] = None,
    allow_download: bool = False,
    progress: Optional[ProgressFn] = None,
    purpose: Optional[str] = None,
) -> "LockedEstimator":
    """The cached estimator for ``method`` (loaded on first use, then reused by every caller).

    A method whose weights are not on this machine is downloaded first (only with
    ``allow_download``), with one message through ``progress`` and the log saying what and
    how big.

    Returns:
        ``estimator(image (H, W, 3) uint8) -> DepthResult``, safe to call from several threads.
    """
    name = resolve_depth_method(method, allow_download, purpose=purpose)
    device_name = _resolve_device(device) if name != BUILTIN_METHOD else "cpu"
    key = (name, device_name)
    with _ESTIMATORS_LOCK:
        estimator = _ESTIMATORS.get(key)
        if estimator is None:
            # Loading under the lock: two requests must never load (or download) the same
            # weights twice.
            entry = _REGISTRY[name]
            if allow_download and entry.fetch is not None and not entry.is_available(False):
                entry.fetch(progress)
            estimator = LockedEstimator(entry.factory(device_name, allow_download))
            _ESTIMATORS[key] = estimator
    return estimator


class LockedEstimator:
    """A loaded estimator shared by the process, called under its own lock (one image at a
    time per model); ``estimator`` is the wrapped callable (e.g. a
    :class:`TransformersDepthModel`)."""

    def __init__(self, estimator: DepthEstimator):
        self.estimator = estimator
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray) -> DepthResult:
        with self._lock:
            return self.estimator(image)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def _load_estimator(
    method: str,
    purpose: str,
    *,
    device: Optional[str],
    allow_download: bool,
    progress: Optional[ProgressFn],
) -> tuple[str, "LockedEstimator"]:
    """``(name, estimator)`` for ``method``. When ``"auto"`` chose a model that then could not
    be downloaded (no connection, Hub refused), the built-in estimate is used instead and the
    failure is logged and reported; the result then says ``approximate``. A model asked for
    by name is never replaced: its failure is the caller's error."""
    name = resolve_depth_method(method, allow_download, purpose=purpose)
    try:
        return name, get_depth_estimator(name, device=device, allow_download=allow_download, progress=progress)
    except CheckpointError as error:
        if method != "auto" or name == BUILTIN_METHOD:
            raise
        logger.warning("depth model %s could not be downloaded, using the built-in approximate depth: %s", name, error)
        report(progress, 0.0, f"{name} could not be downloaded; using the built-in approximate depth")
        return BUILTIN_METHOD, get_depth_estimator(BUILTIN_METHOD)



def estimate_depth(
    image: np.ndarray,
    method: str = "auto",
    *,
    device: Optional[str] = None,
    allow_download: bool = False,
    progress: Optional[ProgressFn] = None,
) -> DepthResult:
    """Depth of one RGB image (a still: ``"auto"`` prefers a model that also estimates the
    field of view, see the module doc).

    Args:
        image: ``(H, W, 3)`` uint8 RGB (grey ``(H, W)`` and RGBA are accepted too).
        method: a key of :func:`available_depth_methods` or ``"auto"``.
        device: torch device for model-based methods (default CUDA when present, else CPU).
        allow_download: let a Hub model download when it is neither in ``checkpoints/depth``
            nor in the local Hugging Face cache.
        progress: receives the one message announcing a download (see :mod:`core.progress`).

    Returns:
        :class:`DepthResult` at the input's size.
    """
    rgb = as_rgb_uint8(image)
    _, estimator = _load_estimator(
        method, PURPOSE_STILL, device=device, allow_download=allow_download, progress=progress
    )
    result = estimator(rgb)
    return _checked(result, rgb.shape[:2])


def _checked(result: DepthResult, size: tuple[int, int]) -> DepthResult:
    """Enforce the DepthResult contract whatever a (possibly user-registered) method returned."""
    depth = np.asarray(result.depth, dtype=np.float32)
    if depth.shape != size:
        depth = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    valid = np.asarray(result.valid, dtype=bool)
    if valid.shape != size:
        valid = cv2.resize(valid.astype(np.uint8), (size[1], size[0]), interpolation=cv2.INTER_NEAREST) > 0
    depth, finite = positive_depth(depth)
    result.depth, result.valid = depth, valid & finite
    return result



# --------------------------------------------------------------------------------------------
# Built-in registry
# --------------------------------------------------------------------------------------------


def _register_builtin_methods() -> None:
    register_depth_method(
        "depth-anything-v2",
        hub_model_factory("depth-anything-v2"),
        description="Depth Anything V2 (relative depth, sharp edges; fast per video frame)",
        is_available=hub_model_available("depth-anything-v2"),
        auto_priority=10,
        still_priority=30,
        fetch=hub_model_fetch("depth-anything-v2"),
        download_size_gb=DEPTH_ANYTHING_SMALL_APPROX_GB,
    )
    register_depth_method(
        "depth-pro",
        hub_model_factory("depth-pro"),
        description="Depth Pro (metric depth and focal length)",
        is_available=hub_model_available("depth-pro"),
        auto_priority=20,
        still_priority=10,
        fetch=hub_model_fetch("depth-pro"),
        download_size_gb=DEPTH_PRO_APPROX_GB,
    )
    register_depth_method(
        MOGE_METHOD,
        moge_factory,
        description="MoGe (scale-invariant geometry and intrinsics, as DaS uses)",
        is_available=lambda allow_download: moge_source(allow_download) is not None,
        auto_priority=30,
        still_priority=20,
        fetch=moge_fetch,
        download_size_gb=MOGE_APPROX_GB,
    )
    register_depth_method(
        "zoedepth",
        hub_model_factory("zoedepth"),
        description="ZoeDepth NYU+KITTI (metric depth)",
        is_available=hub_model_available("zoedepth"),
        auto_priority=40,
        fetch=hub_model_fetch("zoedepth"),
        download_size_gb=ZOEDEPTH_APPROX_GB,
    )
    register_depth_method(
        BUILTIN_METHOD,
        lambda _device, _allow_download: builtin_depth,
        description="Built-in approximation (ground plane + sharpness; no weights)",
        auto_priority=FALLBACK_PRIORITY,
    )


_register_builtin_methods()


# --------------------------------------------------------------------------------------------
# Video depth
# --------------------------------------------------------------------------------------------


def estimate_video_depth(
    frames: np.ndarray,
    method: str = "auto",
    *,
    tracks: Optional["PointTracks"] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
    device: Optional[str] = None,
    allow_download: bool = False,
    align: str = "auto",
) -> tuple[np.ndarray, Optional[np.ndarray], str]:
    """Per-frame depth of a video, aligned over time (see :func:`align_video_depth`).

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB.
        method: a key of :func:`available_depth_methods` or ``"auto"`` (the video order, see
            the module doc).
        tracks: optional :class:`trackers.points.PointTracks` on these frames; makes the
            alignment follow the same surface points instead of whole-frame statistics.
        progress, cancel: see :mod:`core.progress`; cancel is checked before every frame.
        device, allow_download: as for :func:`estimate_depth`.
        align: ``"auto"`` (what the method declares in :attr:`DepthResult.ambiguity`: scale +
            shift in inverse depth for relative or approximate methods, scale only for metric
            or scale-invariant ones), ``"scale_shift"``, ``"scale"`` or ``"none"``.

    Returns:
        ``depth (T, H, W)`` float32 > 0, ``intrinsics (3, 3)`` (median focal over the frames
        of the methods that estimate one) or ``None``, and the method name used.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise DepthError(f"frames must be a (T, H, W, 3) array, got shape {frames.shape}")
    if frames.shape[0] == 0:
        raise DepthError("the video has no frames")
    if align not in ALIGN_MODES:
        raise DepthError(f"align must be one of {ALIGN_MODES}, got {align!r}")
    num_frames, height, width = frames.shape[:3]
    name, estimator = _load_estimator(
        method, PURPOSE_VIDEO, device=device, allow_download=allow_download, progress=progress
    )
    depth = np.empty((num_frames, height, width), dtype=np.float32)
    valid = np.empty((num_frames, height, width), dtype=bool)
    focals: list[float] = []
    ambiguity = "scale_shift"
    previous: Optional[DepthResult] = None
    for frame in range(num_frames):
        check_cancel(cancel, "depth estimation")
        report(progress, frame / num_frames, f"depth {frame + 1}/{num_frames}")
        rgb = as_rgb_uint8(frames[frame], what=f"frame {frame}")
        if previous is not None and np.array_equal(rgb, frames[frame - 1]):
            result = previous  # a still image repeated: one estimate serves every frame
        else:
            result = _checked(estimator(rgb), (height, width))
        depth[frame], valid[frame] = result.depth, result.valid
        if result.intrinsics is not None:
            focals.append(float(result.intrinsics[0, 0]))
        ambiguity = result.ambiguity
        previous = result
    report(progress, 1.0, "depth done")
    mode = align if align != "auto" else ambiguity
    aligned = align_video_depth(depth, valid, tracks=tracks, mode=mode)
    intrinsics = geometry.intrinsics_from_focal(width, height, float(np.median(focals))) if focals else None
    return aligned, intrinsics, name
