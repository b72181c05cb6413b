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

**Relative depth** (Depth Anything V2 and other DPT-style models predict affine-invariant
inverse depth, i.e. disparity up to an unknown scale and shift) becomes depth through
:func:`disparity_to_depth`: the 2nd percentile of the disparity is mapped to the assumed far
depth ``RELATIVE_FAR_DEPTH`` and the 98th percentile to the near depth ``RELATIVE_NEAR_DEPTH``,
linearly in inverse depth. The absolute scale is meaningless and does not matter downstream:
the camera language expresses translations in units of the scene's median depth (SPEC §6).

**Video depth** (:func:`estimate_video_depth`) runs the estimator per frame and aligns every
frame to frame 0 — a scale and shift in inverse depth (relative sources) or a scale (metric
sources), fitted robustly on tracked points when tracks are given, else on whole-frame
statistics — so a depth model's per-frame scale jitter does not become camera shake.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import cv2
import numpy as np

from core import checkpoints, geometry
from core.checkpoints import CHECKPOINTS_DIR, announce_download, find_in_hub_cache, is_offline
from core.errors import CheckpointError, UserError
from core.progress import CancelFn, ProgressFn, check_cancel, report

if TYPE_CHECKING:  # imported lazily at run time: tracking needs no torch.
    from trackers.points import PointTracks

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

CHECKPOINTS_ENV = "DAS_DEPTH_CHECKPOINTS"
"""Environment variable that overrides the folder holding depth checkpoints."""

DEFAULT_DEPTH_CHECKPOINTS = CHECKPOINTS_DIR / "depth"
"""``checkpoints/depth`` of this repository: one sub-folder per model (see the table above)."""

DEPTH_ANYTHING_FOLDERS = ("depth-anything-v2-large", "depth-anything-v2-base", "depth-anything-v2-small")
"""Folder names tried in this order under the depth checkpoint folder (best model first)."""
DEPTH_ANYTHING_HUB_ID = "depth-anything/Depth-Anything-V2-Small-hf"
DEPTH_PRO_FOLDER = "depth-pro"
DEPTH_PRO_HUB_ID = "apple/DepthPro-hf"
ZOEDEPTH_FOLDER = "zoedepth"
ZOEDEPTH_HUB_ID = "Intel/zoedepth-nyu-kitti"
MOGE_FOLDER = "moge"
MOGE_CHECKPOINT_FILE = "model.pt"
MOGE_HUB_ID = "Ruicheng/moge-vitl"

DEPTH_ANYTHING_SMALL_APPROX_GB = 0.1
"""Approximate download size of Depth Anything V2 Small (GB; ~25 M parameters in float32)."""
DEPTH_PRO_APPROX_GB = 1.9
"""Approximate download size of Depth Pro (GB)."""
ZOEDEPTH_APPROX_GB = 1.4
"""Approximate download size of ZoeDepth NYU+KITTI (GB)."""
MOGE_APPROX_GB = 1.3
"""Approximate download size of MoGe ViT-L (GB)."""
HUB_DOWNLOAD_PATTERNS = ("*.json", "*.safetensors", "*.txt")
"""What a depth-model download fetches: configs and safetensors weights (not the duplicate
``.bin`` / ``.pt`` copies some repositories also hold)."""

PURPOSE_STILL = "still"
PURPOSE_VIDEO = "video"
PURPOSES = (PURPOSE_STILL, PURPOSE_VIDEO)
"""What the depth is for: one photo, or every frame of a video (see the module doc)."""
FALLBACK_PRIORITY = 1000
"""Methods at or after this ``auto_priority`` are fallbacks (the built-in approximation): used
only when no real model is on this machine or downloadable."""

RELATIVE_NEAR_DEPTH = 1.0
"""Depth assigned to the 98th-percentile (near) disparity of a relative prediction."""
RELATIVE_FAR_DEPTH = 10.0
"""Depth assigned to the 2nd-percentile (far) disparity; farther disparities are clamped here.
A 10:1 range is a plausible indoor/street scene; only the ratio matters (see module doc)."""
DISPARITY_LOW_PERCENTILE = 2.0
DISPARITY_HIGH_PERCENTILE = 98.0

MIN_DEPTH = 1e-4
"""Floor for metric predictions (same clamp as the Depth Pro reference post-processing)."""
MAX_DEPTH = 1e4

BUILTIN_HORIZON_FRACTION = 0.4
"""Row of the assumed horizon, as a fraction of the height from the top: typical photos put
the horizon a little above the middle."""
BUILTIN_SHARPNESS_WEIGHT = 0.25
"""How far (± fraction of inverse depth) the defocus cue may move a region: sharp, textured
regions come nearer, blurred ones recede. Small, so the ground-plane prior dominates."""
BUILTIN_SHARPNESS_SIGMA_FRACTION = 0.05
"""Gaussian pooling radius of the sharpness cue, as a fraction of the shorter image side."""
BUILTIN_SHARPNESS_EPS = 1e-6
BUILTIN_POOLING_MIN_SIGMA_PX = 8.0
"""The sharpness cue is pooled on a grid shrunk by the largest power of two that keeps the
Gaussian at least this wide there: a wide Gaussian is smooth, so pooling a 480×720 frame at
half size (sigma 12 px there) and upsampling bilinearly moves the built-in depth by < 1 %
(at the image border, where the blur's reflection differs; ~0.02 % typically) for a quarter
of the work. Images under 320 px (sigma < 16 px) are pooled at full size, exactly as before."""

ZOEDEPTH_PADDING_FACTOR = 3
"""ZoeDepth's processor pads each side by ``int(sqrt(size / 2) * 3)`` px (reflect) before
resizing; the prediction covers the padded image and is cropped back."""

ALIGN_MODES = ("auto", "scale_shift", "scale", "none")
MIN_ALIGNMENT_POINTS = 16
"""Fewer tracked pairs than this and the per-frame fit falls back to whole-frame statistics."""
THEIL_SEN_PAIRS = 4096
"""Random point pairs whose median slope starts the robust fit."""
OUTLIER_SIGMAS = 3.0
"""Residuals beyond this many robust standard deviations are outliers in the refit."""
ROBUST_FIT_ITERATIONS = 5
MAD_TO_SIGMA = 1.4826
INVERSE_DEPTH_FLOOR_FRACTION = 0.1
"""After alignment, inverse depth is kept above this fraction of the reference frame's 1st
percentile (so an extrapolated shift can never push a pixel behind infinity)."""


APPROXIMATE_DEPTH_ADVICE = (
    "The depth is the built-in approximation (a ground plane refined by sharpness), not a real "
    "depth model, so the 3D motion is only roughly right. For real depth run "
    "`python -m core.download --models depth,tracker` on a machine that is online, or start "
    "without --offline (and without DAS_OFFLINE / HF_HUB_OFFLINE) so the models download on first use."
)
"""What the studio and the CLI say whenever the built-in depth is (or will be) used."""


class DepthError(UserError):
    """A depth request that cannot be served; the message says what to do."""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class DepthResult:
    """Depth of one image.

    Attributes:
        depth: ``(H, W)`` float32 camera-space depth, > 0 everywhere (invalid pixels hold a
            finite stand-in, the farthest valid depth).
        intrinsics: ``(3, 3)`` pixel intrinsics when the method estimates them, else ``None``
            (callers then use :func:`core.geometry.intrinsics_from_fov`).
        valid: ``(H, W)`` bool, False where the model gave no usable depth (e.g. sky).
        source: the method name that produced it (a key of :func:`available_depth_methods`).
        approximate: True for the weights-free heuristic.
        metric: True when the depth is in metres (up to the model's error), False when the
            scale is arbitrary.
        model: where the weights came from (folder or Hub id), for reproducibility.
        ambiguity: what is unknown about this depth, i.e. how frames of a video are aligned:
            ``"scale_shift"`` (relative inverse depth: scale and shift) or ``"scale"``
            (metric or scale-invariant geometry).
    """

    depth: np.ndarray
    intrinsics: Optional[np.ndarray]
    valid: np.ndarray
    source: str
    approximate: bool
    metric: bool = False
    model: str = ""
    ambiguity: str = "scale_shift"


DepthEstimator = Callable[[np.ndarray], DepthResult]
"""A loaded method: ``estimator(image (H, W, 3) uint8) -> DepthResult``."""

DepthFactory = Callable[[str, bool], DepthEstimator]
"""``factory(device, allow_download) -> estimator``: loads the weights (called once per device)."""


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
        raise DepthError(_missing_weights_message(method))
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


def _as_rgb_uint8(image: np.ndarray, what: str = "image") -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise DepthError(f"{what} must be an (H, W, 3) RGB array, got shape {array.shape}")
    if array.shape[-1] == 4:
        array = array[..., :3]
    if array.dtype != np.uint8:
        raise DepthError(f"{what} must be uint8 (0–255), got {array.dtype}")
    if min(array.shape[:2]) < 2:
        raise DepthError(f"{what} is too small: {array.shape[1]}×{array.shape[0]} px")
    return np.ascontiguousarray(array)


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
    rgb = _as_rgb_uint8(image)
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
    depth, finite = _positive_depth(depth)
    result.depth, result.valid = depth, valid & finite
    return result


def _positive_depth(depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace non-finite or non-positive depths by the farthest good one; return (depth, good)."""
    good = np.isfinite(depth) & (depth > 0)
    if good.all():
        return depth.astype(np.float32, copy=False), good
    stand_in = float(depth[good].max()) if good.any() else 1.0
    return np.where(good, depth, stand_in).astype(np.float32), good


# --------------------------------------------------------------------------------------------
# Relative → depth
# --------------------------------------------------------------------------------------------


def disparity_to_depth(
    disparity: np.ndarray,
    near: float = RELATIVE_NEAR_DEPTH,
    far: float = RELATIVE_FAR_DEPTH,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a relative (affine-invariant) inverse-depth map into positive depth.

    With ``lo`` / ``hi`` the 2nd / 98th percentiles of the positive disparities,
    ``n = max((d - lo) / (hi - lo), 0)`` and ``depth = 1 / (1/far + n · (1/near - 1/far))``:
    ``lo`` maps to ``far``, ``hi`` to ``near``, inverse depth stays affine in the disparity
    (what the model predicts), pixels beyond ``lo`` (e.g. sky) are clamped to ``far`` and the
    nearest 2% may come a little nearer than ``near``. A flat map becomes a constant
    ``sqrt(near · far)``.

    Args:
        disparity: ``(..., H, W)`` relative inverse depth (larger = nearer).

    Returns:
        ``depth`` float32 (same shape, > 0) and ``valid`` bool (finite and > 0 disparity).
    """
    if not 0 < near < far:
        raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
    disparity = np.asarray(disparity, dtype=np.float64)
    valid = np.isfinite(disparity) & (disparity > 0)
    if not valid.any():
        return np.full(disparity.shape, math.sqrt(near * far), dtype=np.float32), valid
    lo, hi = np.percentile(disparity[valid], [DISPARITY_LOW_PERCENTILE, DISPARITY_HIGH_PERCENTILE])
    if hi - lo <= 1e-12 * max(abs(hi), 1.0):
        return np.full(disparity.shape, math.sqrt(near * far), dtype=np.float32), valid
    normalised = np.maximum((np.where(np.isfinite(disparity), disparity, lo) - lo) / (hi - lo), 0.0)
    inverse = 1.0 / far + normalised * (1.0 / near - 1.0 / far)
    return (1.0 / inverse).astype(np.float32), valid


# --------------------------------------------------------------------------------------------
# Built-in, weights-free estimate
# --------------------------------------------------------------------------------------------

BUILTIN_METHOD = "builtin"


@functools.lru_cache(maxsize=8)
def _ground_plane_inverse(height: int, width: int) -> np.ndarray:
    """Read-only ``(H, W)`` float32 inverse of :func:`ground_plane_depth`, shared by the frames
    of a video (it depends on the size only)."""
    inverse = (1.0 / ground_plane_depth(height, width).astype(np.float64)).astype(np.float32)
    inverse.setflags(write=False)
    return inverse


def ground_plane_depth(
    height: int,
    width: int,
    horizon_fraction: float = BUILTIN_HORIZON_FRACTION,
    near: float = RELATIVE_NEAR_DEPTH,
    far: float = RELATIVE_FAR_DEPTH,
) -> np.ndarray:
    """Depth of a flat ground seen by a level camera, capped at ``far`` above the horizon.

    A ground plane's inverse depth grows linearly with the row below the horizon; the bottom
    pixel row's centre is at ``near``. Depth therefore never increases from top to bottom.

    Returns:
        ``(H, W)`` float32 depth in ``[near, far]``.
    """
    horizon_v = horizon_fraction * height
    rows_v = np.arange(height, dtype=np.float64) + 0.5
    bottom_v = height - 0.5
    inverse = np.maximum((rows_v - horizon_v) / max(bottom_v - horizon_v, 1e-6) / near, 1.0 / far)
    return np.broadcast_to((1.0 / inverse)[:, None], (height, width)).astype(np.float32)


def sharpness_map(image: np.ndarray) -> np.ndarray:
    """Local sharpness ``(H, W)`` float32 ≥ 0: Gaussian-pooled squared Laplacian of the grey
    image (in-focus texture is high, defocus blur and flat areas low).

    A wide pooling Gaussian is applied on an area-averaged, power-of-two smaller grid and
    upsampled bilinearly (see ``BUILTIN_POOLING_MIN_SIGMA_PX``): the full-size blur dominated
    the built-in estimate (about 18 ms of 35 per 480×720 frame).
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    laplacian = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    energy = laplacian * laplacian
    height, width = image.shape[:2]
    sigma = max(BUILTIN_SHARPNESS_SIGMA_FRACTION * min(height, width), 1.0)
    factor = 1
    while sigma / (2 * factor) >= BUILTIN_POOLING_MIN_SIGMA_PX and min(height, width) // (2 * factor) >= 2:
        factor *= 2
    if factor == 1:
        return cv2.GaussianBlur(energy, (0, 0), sigmaX=sigma, sigmaY=sigma)
    small_size = (max(width // factor, 1), max(height // factor, 1))
    small = cv2.resize(energy, small_size, interpolation=cv2.INTER_AREA)
    # Area averaging over factor × factor blocks already pools with variance (factor² − 1)/12
    # (px², full-size units); the small blur supplies the rest of sigma².
    small_sigma = math.sqrt(max(sigma * sigma - (factor * factor - 1) / 12.0, 1e-6)) / factor
    pooled = cv2.GaussianBlur(small, (0, 0), sigmaX=small_sigma, sigmaY=small_sigma)
    # Bilinear upsampling cannot undershoot a non-negative map; clamp float noise anyway.
    return np.maximum(cv2.resize(pooled, (width, height), interpolation=cv2.INTER_LINEAR), 0.0)


def builtin_depth(image: np.ndarray) -> DepthResult:
    """Weights-free approximate depth: :func:`ground_plane_depth` with its inverse depth
    scaled by ``1 + w · tanh(log(sharpness / median sharpness))``, ``w`` =
    ``BUILTIN_SHARPNESS_WEIGHT`` (a defocus cue). Deterministic; a flat image gives exactly
    the ground-plane prior.

    Args:
        image: ``(H, W, 3)`` uint8.
    """
    rgb = _as_rgb_uint8(image)
    height, width = rgb.shape[:2]
    # float32 throughout: the result is float32, and float64 maps of a 480×720 frame cost
    # more in conversions than the arithmetic itself.
    inverse_prior = _ground_plane_inverse(height, width)
    sharpness = sharpness_map(rgb)
    typical = np.float32(np.median(sharpness))
    eps = np.float32(BUILTIN_SHARPNESS_EPS)
    cue = np.tanh(np.log((sharpness + eps) / (typical + eps)))
    inverse = inverse_prior * (np.float32(1.0) + np.float32(BUILTIN_SHARPNESS_WEIGHT) * cue)
    return DepthResult(
        depth=(1.0 / inverse).astype(np.float32),
        intrinsics=None,
        valid=np.ones((height, width), dtype=bool),
        source=BUILTIN_METHOD,
        approximate=True,
        metric=False,
        model="ground-plane prior + sharpness cue",
    )


# --------------------------------------------------------------------------------------------
# Checkpoint resolution
# --------------------------------------------------------------------------------------------


def depth_checkpoints_dir() -> Path:
    """Folder holding depth checkpoints: ``$DAS_DEPTH_CHECKPOINTS`` or ``checkpoints/depth``."""
    override = os.environ.get(CHECKPOINTS_ENV)
    return Path(override) if override else DEFAULT_DEPTH_CHECKPOINTS


_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json")


def missing_model_files(folder: Path) -> list[str]:
    """What a Hugging Face depth-model folder lacks (empty list = complete)."""
    missing = []
    for required in ("config.json", "preprocessor_config.json"):
        if not (folder / required).is_file():
            missing.append(required)
    if not any(any(folder.glob(pattern)) for pattern in _WEIGHT_PATTERNS):
        missing.append("model weights (*.safetensors or pytorch_model.bin)")
    return missing


def _local_folder(folder_names: tuple[str, ...]) -> Optional[Path]:
    root = depth_checkpoints_dir()
    for name in folder_names:
        candidate = root / name
        if candidate.is_dir() and not missing_model_files(candidate):
            return candidate
    return None


_HUB_REQUIRED_FILES = ("config.json", "preprocessor_config.json")


@dataclass(frozen=True)
class _HubModelSpec:
    method: str
    folders: tuple[str, ...]
    hub_id: str
    title: str
    approx_gb: float


_HUB_MODELS = {
    "depth-anything-v2": _HubModelSpec(
        "depth-anything-v2", DEPTH_ANYTHING_FOLDERS, DEPTH_ANYTHING_HUB_ID,
        "Depth Anything V2 Small (video depth)", DEPTH_ANYTHING_SMALL_APPROX_GB,
    ),
    "depth-pro": _HubModelSpec(
        "depth-pro", (DEPTH_PRO_FOLDER,), DEPTH_PRO_HUB_ID, "Depth Pro (depth + field of view)", DEPTH_PRO_APPROX_GB
    ),
    "zoedepth": _HubModelSpec("zoedepth", (ZOEDEPTH_FOLDER,), ZOEDEPTH_HUB_ID, "ZoeDepth NYU+KITTI", ZOEDEPTH_APPROX_GB),
}


def _transformers_importable() -> bool:
    return importlib.util.find_spec("transformers") is not None and importlib.util.find_spec("torch") is not None


def _hub_model_source(spec: _HubModelSpec, allow_download: bool) -> Optional[tuple[str, bool]]:
    """``(folder or Hub id, local_only)`` to load from, or ``None`` when not usable. A model
    in the Hub cache is loaded from its snapshot folder (the cache this process looks in now,
    see :func:`core.checkpoints.hub_cache_dir`)."""
    if not _transformers_importable():
        return None
    folder = _local_folder(spec.folders)
    if folder is not None:
        return str(folder), True
    snapshot = find_in_hub_cache(spec.hub_id, required_files=_HUB_REQUIRED_FILES)
    if snapshot is not None:
        return str(snapshot), True
    if allow_download and not is_offline():
        return spec.hub_id, False
    return None


def _missing_weights_message(method: str) -> str:
    root = depth_checkpoints_dir()
    if method in _HUB_MODELS:
        spec = _HUB_MODELS[method]
        if not _transformers_importable():
            return f"depth method {method!r} needs the 'torch' and 'transformers' packages"
        details = []
        for name in spec.folders:
            folder = root / name
            if folder.is_dir():
                details.append(f"{folder} is incomplete (missing: {', '.join(missing_model_files(folder))})")
        folders = " or ".join(str(root / name) for name in spec.folders)
        hint = (
            f"depth method {method!r} has no weights here: put the Hugging Face files of "
            f"{spec.hub_id} in {folders} (e.g. `hf download {spec.hub_id} --local-dir "
            f"{root / spec.folders[-1]}`), or allow downloading from the Hub"
        )
        return hint + (f" ({'; '.join(details)})" if details else "")
    if method == MOGE_METHOD:
        if importlib.util.find_spec("moge") is None:
            return "depth method 'moge' needs the 'moge' package (pip install from its repository)"
        return (
            f"depth method 'moge' has no weights here: put the checkpoint at "
            f"{root / MOGE_FOLDER / MOGE_CHECKPOINT_FILE}, or allow downloading {MOGE_HUB_ID}"
        )
    return f"depth method {method!r} is not available on this machine"


# --------------------------------------------------------------------------------------------
# Hugging Face transformers models (Depth Anything V2, Depth Pro, ZoeDepth, any DPT-style one)
# --------------------------------------------------------------------------------------------


class _ResizeNormalizePreprocessor:
    """Stand-in for an image processor whose class needs torchvision (Depth Pro's does): the
    settings come from ``preprocessor_config.json``; rescale and normalise first, then resize
    (Depth Pro's order, which keeps negative values well interpolated)."""

    def __init__(self, settings: dict):
        size = settings.get("size") or {}
        self.height = int(size.get("height", 0)) or None
        self.width = int(size.get("width", 0)) or None
        self.do_resize = bool(settings.get("do_resize", True)) and self.height and self.width
        do_rescale = bool(settings.get("do_rescale", True))
        self.rescale_factor = float(settings.get("rescale_factor", 1.0 / 255.0)) if do_rescale else 1.0
        self.do_normalize = bool(settings.get("do_normalize", True))
        self.mean = np.asarray(settings.get("image_mean", [0.5, 0.5, 0.5]), dtype=np.float32)
        self.std = np.asarray(settings.get("image_std", [0.5, 0.5, 0.5]), dtype=np.float32)
        self.do_pad = False

    def __call__(self, images: np.ndarray, return_tensors: str = "pt") -> dict:
        import torch

        pixels = images.astype(np.float32) * self.rescale_factor
        if self.do_normalize:
            pixels = (pixels - self.mean) / self.std
        tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None]
        if self.do_resize:
            tensor = torch.nn.functional.interpolate(
                tensor, size=(self.height, self.width), mode="bilinear", align_corners=False
            )
        return {"pixel_values": tensor}


def _load_preprocessor(source: str, local_only: bool):
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(source, local_files_only=local_only)
    except (ValueError, ImportError) as error:
        # The registered processor class needs an optional backend (torchvision) we do not
        # depend on; its settings are still plain JSON.
        settings_path = _preprocessor_config_path(source, local_only)
        if settings_path is None:
            raise DepthError(f"cannot load the image processor of {source}: {error}") from error
        return _ResizeNormalizePreprocessor(json.loads(Path(settings_path).read_text()))


def _preprocessor_config_path(source: str, local_only: bool) -> Optional[str]:
    folder_file = Path(source) / "preprocessor_config.json"
    if folder_file.is_file():
        return str(folder_file)
    from huggingface_hub import hf_hub_download

    return hf_hub_download(source, "preprocessor_config.json", local_files_only=local_only)


class TransformersDepthModel:
    """A ``transformers`` depth model with our pre/post-processing.

    The output kind follows the model's config, not the method name: Depth Pro predicts a
    canonical inverse depth plus a field of view (→ metric depth and intrinsics), ZoeDepth and
    Depth Anything "metric" variants predict metric depth, every other DPT-style model
    (Depth Anything V2 "relative") predicts relative inverse depth (→ :func:`disparity_to_depth`).
    """

    def __init__(self, method: str, source: str, device: str, local_only: bool = True, label: Optional[str] = None):
        import torch
        from transformers import AutoModelForDepthEstimation

        self.method = method
        self.source = label or source  # what DepthResult.model reports (a Hub id for a cached model)
        self.device = torch.device(device)
        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(source, local_files_only=local_only)
        except OSError as error:
            raise DepthError(f"cannot load depth model {method!r} from {source}: {error}") from error
        self.model.eval().to(self.device)
        self.processor = _load_preprocessor(source, local_only)
        config = self.model.config
        if config.model_type == "depth_pro":
            self.kind = "depth_pro"
        elif config.model_type == "zoedepth" or getattr(config, "depth_estimation_type", "relative") == "metric":
            self.kind = "metric"
        else:
            self.kind = "relative"

    def predict_raw(self, image: np.ndarray) -> tuple[np.ndarray, Optional[float]]:
        """Run the network on ``image (H, W, 3)`` uint8.

        Returns:
            the raw prediction resized to ``(H, W)`` float32 (disparity, depth or canonical
            inverse depth depending on :attr:`kind`) and the predicted horizontal field of view
            in degrees (Depth Pro with its FOV head) or ``None``.
        """
        import torch

        height, width = image.shape[:2]
        inputs = self.processor(images=image, return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device, dtype=next(self.model.parameters()).dtype)
        with torch.inference_mode():
            outputs = self.model(pixel_values=pixel_values)
        raw = outputs.predicted_depth.float()
        raw = raw.reshape((-1,) + tuple(raw.shape[-2:]))[:1][None]  # (1, 1, h, w)
        if getattr(self.processor, "do_pad", False) and self.model.config.model_type == "zoedepth":
            pad_h = int(math.sqrt(height / 2) * ZOEDEPTH_PADDING_FACTOR)
            pad_w = int(math.sqrt(width / 2) * ZOEDEPTH_PADDING_FACTOR)
            raw = torch.nn.functional.interpolate(
                raw, size=(height + 2 * pad_h, width + 2 * pad_w), mode="bilinear", align_corners=False
            )
            raw = raw[..., pad_h : pad_h + height, pad_w : pad_w + width]
        raw = torch.nn.functional.interpolate(raw, size=(height, width), mode="bilinear", align_corners=False)
        fov = getattr(outputs, "field_of_view", None)
        fov_deg = float(fov.reshape(-1)[0]) if fov is not None else None
        return raw[0, 0].cpu().numpy().astype(np.float32), fov_deg

    def __call__(self, image: np.ndarray) -> DepthResult:
        height, width = image.shape[:2]
        raw, fov_deg = self.predict_raw(image)
        intrinsics = None
        if self.kind == "relative":
            depth, valid = disparity_to_depth(raw)
            metric = False
        elif self.kind == "depth_pro":
            valid = np.isfinite(raw) & (raw > 0)
            if fov_deg is not None and 0.0 < fov_deg < 180.0:
                intrinsics = geometry.intrinsics_from_fov(width, height, fov_deg)
                focal = float(intrinsics[0, 0])
                # Canonical inverse depth × (W / f) is metric inverse depth (Depth Pro paper).
                inverse = np.clip(raw * (width / focal), 1.0 / MAX_DEPTH, 1.0 / MIN_DEPTH)
                metric = True
            else:
                inverse = np.clip(raw, 1.0 / MAX_DEPTH, 1.0 / MIN_DEPTH)
                metric = False
            depth = (1.0 / inverse).astype(np.float32)
        else:
            valid = np.isfinite(raw) & (raw > 0)
            depth = np.clip(raw, MIN_DEPTH, MAX_DEPTH).astype(np.float32)
            metric = True
        depth, finite = _positive_depth(depth)
        return DepthResult(
            depth=depth,
            intrinsics=intrinsics,
            valid=valid & finite,
            source=self.method,
            approximate=False,
            metric=metric,
            model=self.source,
            ambiguity="scale_shift" if self.kind == "relative" else "scale",
        )


def _hub_model_factory(method: str) -> DepthFactory:
    def _factory(device: str, allow_download: bool) -> DepthEstimator:
        resolved = _hub_model_source(_HUB_MODELS[method], allow_download)
        if resolved is None:
            raise DepthError(_missing_weights_message(method))
        source, local_only = resolved
        spec = _HUB_MODELS[method]
        in_checkpoints = Path(source).parent == depth_checkpoints_dir()
        label = spec.hub_id if Path(source).is_dir() and not in_checkpoints else None
        return TransformersDepthModel(method, source, device, local_only=local_only, label=label)

    return _factory


def _hub_model_available(method: str) -> Callable[[bool], bool]:
    return lambda allow_download: _hub_model_source(_HUB_MODELS[method], allow_download) is not None


def _hub_model_fetch(method: str) -> Callable[[Optional[ProgressFn]], None]:
    """``fetch(progress)`` for a Hub depth model: announce, then download into the Hub cache
    (where :func:`_hub_model_source` finds it for a local-only load)."""

    def _fetch(progress: Optional[ProgressFn]) -> None:
        spec = _HUB_MODELS[method]
        announce_download(spec.title, spec.hub_id, spec.approx_gb, progress)
        checkpoints.download_snapshot(spec.hub_id, allow_patterns=HUB_DOWNLOAD_PATTERNS)

    return _fetch


# --------------------------------------------------------------------------------------------
# MoGe (optional package)
# --------------------------------------------------------------------------------------------

MOGE_METHOD = "moge"


def _moge_source(allow_download: bool) -> Optional[str]:
    if importlib.util.find_spec("moge") is None or importlib.util.find_spec("torch") is None:
        return None
    local = depth_checkpoints_dir() / MOGE_FOLDER / MOGE_CHECKPOINT_FILE
    if local.is_file():
        return str(local)
    cached = find_in_hub_cache(MOGE_HUB_ID, required_files=(MOGE_CHECKPOINT_FILE,))
    if cached is not None:
        return str(cached / MOGE_CHECKPOINT_FILE)
    return MOGE_HUB_ID if allow_download and not is_offline() else None


def _moge_fetch(progress: Optional[ProgressFn]) -> None:
    announce_download("MoGe ViT-L (geometry + intrinsics)", MOGE_HUB_ID, MOGE_APPROX_GB, progress)
    checkpoints.download_snapshot(MOGE_HUB_ID, allow_patterns=(MOGE_CHECKPOINT_FILE, "*.json"))


def _moge_factory(device: str, allow_download: bool) -> DepthEstimator:
    import torch

    source = _moge_source(allow_download)
    if source is None:
        raise DepthError(_missing_weights_message(MOGE_METHOD))
    try:
        from moge.model.v1 import MoGeModel
    except ImportError:  # older releases expose the model at the package root
        from moge.model import MoGeModel
    model = MoGeModel.from_pretrained(source).to(torch.device(device)).eval()

    def _estimate(image: np.ndarray) -> DepthResult:
        height, width = image.shape[:2]
        tensor = torch.from_numpy(image).to(torch.device(device)).permute(2, 0, 1).float() / 255.0
        with torch.inference_mode():
            output = model.infer(tensor)
        depth = output["depth"].float().cpu().numpy()
        valid = output["mask"].cpu().numpy().astype(bool) if "mask" in output else np.isfinite(depth)
        # MoGe's intrinsics are normalised by the image width (row 0) and height (row 1).
        normalised = output["intrinsics"].float().cpu().numpy().astype(np.float64)
        intrinsics = np.diag([width, height, 1.0]) @ normalised
        depth, finite = _positive_depth(np.where(valid, depth, np.nan))
        # MoGe-1 geometry is scale-invariant (one unknown scale), not metric.
        return DepthResult(
            depth,
            intrinsics,
            valid & finite,
            MOGE_METHOD,
            approximate=False,
            metric=False,
            model=source,
            ambiguity="scale",
        )

    return _estimate


# --------------------------------------------------------------------------------------------
# Built-in registry
# --------------------------------------------------------------------------------------------


def _register_builtin_methods() -> None:
    register_depth_method(
        "depth-anything-v2",
        _hub_model_factory("depth-anything-v2"),
        description="Depth Anything V2 (relative depth, sharp edges; fast per video frame)",
        is_available=_hub_model_available("depth-anything-v2"),
        auto_priority=10,
        still_priority=30,
        fetch=_hub_model_fetch("depth-anything-v2"),
        download_size_gb=DEPTH_ANYTHING_SMALL_APPROX_GB,
    )
    register_depth_method(
        "depth-pro",
        _hub_model_factory("depth-pro"),
        description="Depth Pro (metric depth and focal length)",
        is_available=_hub_model_available("depth-pro"),
        auto_priority=20,
        still_priority=10,
        fetch=_hub_model_fetch("depth-pro"),
        download_size_gb=DEPTH_PRO_APPROX_GB,
    )
    register_depth_method(
        MOGE_METHOD,
        _moge_factory,
        description="MoGe (scale-invariant geometry and intrinsics, as DaS uses)",
        is_available=lambda allow_download: _moge_source(allow_download) is not None,
        auto_priority=30,
        still_priority=20,
        fetch=_moge_fetch,
        download_size_gb=MOGE_APPROX_GB,
    )
    register_depth_method(
        "zoedepth",
        _hub_model_factory("zoedepth"),
        description="ZoeDepth NYU+KITTI (metric depth)",
        is_available=_hub_model_available("zoedepth"),
        auto_priority=40,
        fetch=_hub_model_fetch("zoedepth"),
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
# Video depth with temporal alignment
# --------------------------------------------------------------------------------------------


def robust_affine_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit ``y ≈ s · x + b`` robustly (outliers such as independently moving objects ignored).

    A Theil–Sen start (median slope over random sample pairs — immune to high-leverage
    outliers), then least squares on the inliers within ``OUTLIER_SIGMAS`` robust standard
    deviations, repeated ``ROBUST_FIT_ITERATIONS`` times.

    Args:
        x, y: ``(M,)`` paired samples.

    Returns:
        ``(s, b)``; a median ratio with ``b = 0`` when the data cannot support a line or the
        slope comes out non-positive.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.ptp(x) <= 1e-12 * max(float(np.abs(x).max()), 1e-12):
        return _median_ratio(x, y), 0.0
    rng = np.random.default_rng(0)  # deterministic: the same video aligns the same way
    first = rng.integers(0, x.size, THEIL_SEN_PAIRS)
    second = rng.integers(0, x.size, THEIL_SEN_PAIRS)
    dx = x[second] - x[first]
    usable = np.abs(dx) > 1e-12
    if not usable.any():
        return _median_ratio(x, y), 0.0
    scale = float(np.median((y[second] - y[first])[usable] / dx[usable]))
    shift = float(np.median(y - scale * x))
    for _ in range(ROBUST_FIT_ITERATIONS):
        residual = np.abs(y - (scale * x + shift))
        sigma = MAD_TO_SIGMA * float(np.median(residual))
        inliers = residual <= OUTLIER_SIGMAS * sigma + 1e-12 * max(float(np.abs(y).max()), 1.0)
        if inliers.sum() < 2 or np.ptp(x[inliers]) <= 0:
            break
        design = np.stack([x[inliers], np.ones(int(inliers.sum()))], axis=-1)
        (scale, shift), *_ = np.linalg.lstsq(design, y[inliers], rcond=None)
        scale, shift = float(scale), float(shift)
    if not (np.isfinite(scale) and np.isfinite(shift)) or scale <= 0:
        return _median_ratio(x, y), 0.0
    return scale, shift


def _median_ratio(x: np.ndarray, y: np.ndarray) -> float:
    ratio = y / np.maximum(x, 1e-12)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    return float(np.median(ratio)) if ratio.size else 1.0


def _whole_frame_fit(x_values: np.ndarray, y_values: np.ndarray, mode: str) -> tuple[float, float]:
    """Unpaired fit: match the median (scale) or the median and interquartile range (scale + shift)."""
    x_q1, x_median, x_q3 = np.percentile(x_values, [25, 50, 75])
    y_q1, y_median, y_q3 = np.percentile(y_values, [25, 50, 75])
    if mode == "scale" or x_q3 - x_q1 <= 1e-12:
        return float(y_median / max(x_median, 1e-12)), 0.0
    scale = float((y_q3 - y_q1) / (x_q3 - x_q1))
    return scale, float(y_median - scale * x_median)


def align_video_depth(
    depth: np.ndarray,
    valid: Optional[np.ndarray] = None,
    *,
    tracks: Optional["PointTracks"] = None,
    mode: str = "scale_shift",
) -> np.ndarray:
    """Align every frame's depth to frame 0 so the scene keeps one scale over time.

    Works on inverse depth ``w = 1/z``: frame ``t`` becomes ``s_t · w_t + b_t`` (``mode=
    "scale_shift"``, right for relative predictions) or ``s_t · w_t`` (``"scale"``, right for
    metric ones); ``"none"`` returns the input. With ``tracks``, ``(s_t, b_t)`` is a robust
    fit (:func:`robust_affine_fit`) on the points visible in frames ``t`` and 0 (their inverse
    depths at their own positions), falling back to the previous, already aligned frame when fewer than
    ``MIN_ALIGNMENT_POINTS`` points survive from frame 0, and to whole-frame statistics
    (median, and the interquartile range for the shift) when tracks are missing or too few.

    Args:
        depth: ``(T, H, W)`` positive depth.
        valid: ``(T, H, W)`` bool or ``None`` (all valid).
        tracks: :class:`trackers.points.PointTracks` with ``uv (T, N, 2)`` on these frames.

    Returns:
        ``(T, H, W)`` float32 aligned depth (frame 0 unchanged).
    """
    if mode not in ALIGN_MODES:
        raise ValueError(f"align mode must be one of {ALIGN_MODES}, got {mode!r}")
    depth = np.asarray(depth, dtype=np.float32)
    if mode == "none" or depth.shape[0] < 2:
        return depth
    valid = np.ones(depth.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if tracks is not None and tracks.uv.shape[0] != depth.shape[0]:
        raise DepthError(f"tracks cover {tracks.uv.shape[0]} frames but the depth has {depth.shape[0]}")
    # Frame by frame in float64: whole-video (T, H, W) float64 stacks (135 MB each at
    # 49×480×720) cost more in allocation and memory traffic than the fits themselves. Only
    # frame 0 (the reference) and the previous aligned frame (the fallback) are kept.
    inverse_first = 1.0 / depth[0].astype(np.float64)
    reference_values = inverse_first[valid[0]] if valid[0].any() else inverse_first.ravel()
    floor = INVERSE_DEPTH_FLOOR_FRACTION * float(np.percentile(reference_values, 1))
    result = np.empty(depth.shape, dtype=np.float32)
    result[0] = 1.0 / inverse_first
    aligned_previous = inverse_first
    for frame in range(1, depth.shape[0]):
        inverse = 1.0 / depth[frame].astype(np.float64)
        fit = None
        if tracks is not None:
            for reference, inverse_reference in ((0, inverse_first), (frame - 1, aligned_previous)):
                x, y = _pairs_between(
                    tracks, inverse, inverse_reference, valid[frame], valid[reference], frame, reference
                )
                if x.size >= MIN_ALIGNMENT_POINTS:
                    fit = robust_affine_fit(x, y) if mode == "scale_shift" else (_median_ratio(x, y), 0.0)
                    break
        if fit is None:
            x_values = inverse[valid[frame]] if valid[frame].any() else inverse.ravel()
            fit = _whole_frame_fit(x_values, reference_values, mode)
        scale, shift = fit
        inverse *= scale
        inverse += shift
        aligned_previous = np.maximum(inverse, floor, out=inverse)
        result[frame] = 1.0 / aligned_previous
    return result


def _pairs_between(
    tracks: "PointTracks",
    inverse_frame: np.ndarray,
    inverse_reference: np.ndarray,
    valid_frame: np.ndarray,
    valid_reference: np.ndarray,
    frame: int,
    reference: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse depth of the points visible in both frames: at their positions in ``frame`` (x)
    and in ``reference`` (y)."""
    height, width = inverse_frame.shape
    uv_frame, uv_reference = tracks.uv[frame], tracks.uv[reference]
    both = tracks.visible[frame] & tracks.visible[reference]
    both &= geometry.uv_in_frame(uv_frame, height, width) & geometry.uv_in_frame(uv_reference, height, width)
    uv_frame, uv_reference = uv_frame[both], uv_reference[both]
    keep = geometry.sample_nearest(valid_frame, uv_frame) & geometry.sample_nearest(valid_reference, uv_reference)
    return geometry.sample_nearest(inverse_frame, uv_frame[keep]), geometry.sample_nearest(inverse_reference, uv_reference[keep])


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
        rgb = _as_rgb_uint8(frames[frame], what=f"frame {frame}")
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
