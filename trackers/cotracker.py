"""CoTracker3 (Meta's offline point tracker): where it comes from, loading, and tracking
(:func:`track_points_cotracker`); :mod:`trackers.points` is the public entry point.

It is taken from the first of: the ``cotracker`` package with a checkpoint at
``checkpoints/cotracker/scaled_offline.pth`` (``cotracker2.pth`` also works); the
``torch.hub`` cache (``$TORCH_HOME/hub/facebookresearch_co-tracker_main`` and its weights in
``hub/checkpoints/scaled_offline.pth``), usable offline; or, when downloads are allowed,
``torch.hub.load("facebookresearch/co-tracker", "cotracker3_offline")`` as DaS does (code
from GitHub, ~100 MB of weights, once). CoTracker reports occlusion frame by frame in
``visible``, its ``uv`` being its estimate throughout.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from core.checkpoints import announce_download, is_offline
from core.progress import CancelFn, ProgressFn, check_cancel, report
from trackers.tracks import COTRACKER_METHOD, PointTrackingError, PointTracks

CHECKPOINTS_ENV = "DAS_TRACKER_CHECKPOINTS"
DEFAULT_TRACKER_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints" / "cotracker"
COTRACKER_CHECKPOINT_FILES = ("scaled_offline.pth", "cotracker2.pth")
"""Checkpoint files tried in this order under ``checkpoints/cotracker``."""

COTRACKER_HUB_REPO = "facebookresearch/co-tracker"
"""The GitHub repository ``torch.hub`` loads CoTracker from (DaS does the same)."""
COTRACKER_HUB_ENTRY = "cotracker3_offline"
"""Its ``hubconf.py`` entry point: CoTracker3, offline model (whole clip at once)."""
COTRACKER_HUB_FOLDER = "facebookresearch_co-tracker_main"
"""Folder ``torch.hub`` keeps that repository's code in, under its hub directory."""
COTRACKER_HUB_WEIGHTS = "scaled_offline.pth"
"""File the hub entry point caches its weights as, under ``<hub dir>/checkpoints``."""
COTRACKER3_APPROX_GB = 0.1
"""Approximate download size of CoTracker3's code and weights (GB)."""

COTRACKER_VISIBILITY_THRESHOLD = 0.9
"""Score above which a CoTracker point counts as visible, when the model returns scores rather
than booleans (CoTracker's own predictor thresholds at 0.9)."""


def tracker_checkpoints_dir() -> Path:
    """Folder holding tracker checkpoints: ``$DAS_TRACKER_CHECKPOINTS`` or ``checkpoints/cotracker``."""
    override = os.environ.get(CHECKPOINTS_ENV)
    return Path(override) if override else DEFAULT_TRACKER_CHECKPOINTS


def torch_hub_dir() -> Path:
    """``torch.hub``'s folder, found the way torch finds it (``$TORCH_HOME/hub``, else
    ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``) without importing torch."""
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(xdg, "torch")
    return Path(torch_home).expanduser() / "hub"


def cotracker_hub_code_dir() -> Path:
    """Where ``torch.hub`` keeps CoTracker's code (``hubconf.py``)."""
    return torch_hub_dir() / COTRACKER_HUB_FOLDER


def _cotracker_checkpoint() -> Optional[Path]:
    if importlib.util.find_spec("cotracker") is None or importlib.util.find_spec("torch") is None:
        return None
    for name in COTRACKER_CHECKPOINT_FILES:
        candidate = tracker_checkpoints_dir() / name
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class CoTrackerSource:
    """Where CoTracker3 would be loaded from.

    Attributes:
        kind: ``"checkpoint"`` (the ``cotracker`` package + a local ``.pth``), ``"hub-cache"``
            (``torch.hub``'s cached code and weights; no network) or ``"hub-download"`` (fetch
            code and weights with ``torch.hub``).
        location: the ``.pth`` file, the cached code folder, or the GitHub repository.
    """

    kind: str
    location: str

    @property
    def downloads(self) -> bool:
        """Whether loading from here downloads something."""
        return self.kind == "hub-download"


def cotracker_source(allow_download: bool = False) -> Optional[CoTrackerSource]:
    """Where CoTracker3 would come from (see the module doc), or ``None`` when it is not usable
    here; never touches the network or loads anything.

    Args:
        allow_download: may it be fetched with ``torch.hub`` (ignored when offline).
    """
    checkpoint = _cotracker_checkpoint()
    if checkpoint is not None:
        return CoTrackerSource("checkpoint", str(checkpoint))
    if importlib.util.find_spec("torch") is None:
        return None
    code = cotracker_hub_code_dir()
    weights = torch_hub_dir() / "checkpoints" / COTRACKER_HUB_WEIGHTS
    if (code / "hubconf.py").is_file() and weights.is_file():
        return CoTrackerSource("hub-cache", str(code))
    if allow_download and not is_offline():
        return CoTrackerSource("hub-download", COTRACKER_HUB_REPO)
    return None


def load_cotracker(source: CoTrackerSource, device: str, progress: Optional[ProgressFn] = None):
    """Load CoTracker3 from ``source`` onto ``device``, in eval mode.

    A ``"hub-download"`` source is announced first (what and about how big) through
    ``progress`` and the log; ``torch.hub`` shows its own download bars on the console. The
    repository is trusted explicitly (it is the one DaS loads). A ``"hub-cache"`` source loads
    the cached code as a local ``torch.hub`` repository (a ``github`` load would ask GitHub for
    the default branch first).

    Returns:
        The model: ``model(video (1, T, 3, H, W) float 0–255, queries=(1, N, 3) [t, x, y])``
        → ``(tracks (1, T, N, 2), visibility (1, T, N))``.
    """
    import torch

    if source.kind == "checkpoint":
        from cotracker.predictor import CoTrackerPredictor

        model = CoTrackerPredictor(checkpoint=source.location)
    elif source.kind == "hub-cache":
        model = torch.hub.load(source.location, COTRACKER_HUB_ENTRY, source="local")
    else:
        announce_download(
            "CoTracker3 (offline point tracker)", f"github.com/{COTRACKER_HUB_REPO}", COTRACKER3_APPROX_GB, progress
        )
        try:
            model = torch.hub.load(COTRACKER_HUB_REPO, COTRACKER_HUB_ENTRY, trust_repo=True)
        except (OSError, RuntimeError, ValueError, ImportError) as error:  # no connection, refused, broken code
            raise CoTrackerDownloadError(
                f"CoTracker3 could not be downloaded from {COTRACKER_HUB_REPO} ({type(error).__name__}: {error}). "
                "Run `python -m core.download --models tracker` on a machine that is online and copy the torch.hub "
                "cache, or use the built-in tracker (lk) / --offline."
            ) from error
    return model.to(device).eval()


class CoTrackerDownloadError(PointTrackingError):
    """CoTracker3 was to be downloaded and could not be (``"auto"`` then uses the built-in tracker)."""


def prefetch_cotracker(progress: Optional[ProgressFn] = None) -> str:
    """Download CoTracker3's code and weights into the ``torch.hub`` cache unless a usable copy
    is here (``python -m core.download``); returns where it is.

    Raises:
        PointTrackingError: torch is missing, or offline with no copy here.
    """
    source = cotracker_source(allow_download=True)
    if source is None:
        raise PointTrackingError("CoTracker3 cannot be fetched: torch is not installed, or this machine is offline")
    if source.downloads:
        load_cotracker(source, "cpu", progress)
        return str(cotracker_hub_code_dir())
    return source.location


_COTRACKER_MODELS: dict[str, object] = {}
_COTRACKER_LOCK = threading.Lock()

CoTrackerLoader = Callable[[CoTrackerSource, str, Optional[ProgressFn]], object]
"""``loader(source, device, progress) -> model``; :func:`load_cotracker` by default."""


def track_points_cotracker(
    frames: np.ndarray,
    query_uv: np.ndarray,
    *,
    device: Optional[str] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
    allow_download: bool = False,
    loader: Optional[CoTrackerLoader] = None,
) -> PointTracks:
    """Track frame-0 points with CoTracker3 (offline model, whole clip at once).

    Args:
        frames: ``(T, H, W, 3)`` uint8; query_uv: ``(N, 2)`` frame-0 positions.
        allow_download: may the model be fetched with ``torch.hub`` when not here.
        loader: how to load it (default :func:`load_cotracker`); loaded models are cached per
            source and device for the process.

    Returns:
        :class:`PointTracks` with CoTracker's positions for every frame (hidden ones
        included) and its per-frame visibility: a point hidden for a while is visible again
        when it reappears (see the module doc).
    """
    import torch

    source = cotracker_source(allow_download)
    if source is None:
        raise PointTrackingError(
            f"CoTracker3 is not on this machine: put the 'cotracker' package and a checkpoint in "
            f"{tracker_checkpoints_dir()} (one of {', '.join(COTRACKER_CHECKPOINT_FILES)}), run "
            "`python -m core.download --models tracker` on a machine that is online, or allow downloads"
        )
    device_name = device or ("cuda" if torch.cuda.is_available() else "cpu")
    check_cancel(cancel, "point tracking")
    report(progress, 0.0, "loading CoTracker3")
    with _COTRACKER_LOCK:
        key = f"{source.kind}:{source.location}:{device_name}"
        if key not in _COTRACKER_MODELS:
            _COTRACKER_MODELS[key] = (loader or load_cotracker)(source, device_name, progress)
        model = _COTRACKER_MODELS[key]
        report(progress, 0.1, "tracking points (CoTracker3)")
        video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)[None].float().to(device_name)
        # CoTracker puts pixel centres at integer coordinates (align_corners sampling).
        queries = np.concatenate([np.zeros((query_uv.shape[0], 1), np.float32), query_uv - 0.5], axis=1)
        with torch.inference_mode():
            tracks, visibility = model(video, queries=torch.from_numpy(queries.astype(np.float32))[None].to(device_name))
    uv = tracks[0].float().cpu().numpy() + 0.5
    scores = visibility[0].cpu().numpy().reshape(uv.shape[:2])
    # The predictor thresholds visibility itself; a raw score is thresholded as it would be.
    visible = scores if scores.dtype == bool else scores > COTRACKER_VISIBILITY_THRESHOLD
    visible[0] = True  # the queries are frame-0 points
    if not np.isfinite(uv).all():
        raise PointTrackingError("CoTracker returned non-finite positions; try the built-in tracker (lk)")
    report(progress, 1.0, "tracking done")
    return PointTracks(uv=uv.astype(np.float32), visible=visible, method=COTRACKER_METHOD)
