"""The status line: device, model (loaded or not, from where, tiny or real), the depth model and
point tracker a build will use (with a warning when that is the built-in depth) and the GPU queue."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from typing import Any, Optional

from core.checkpoints import format_download_size
from core.errors import UserError
from trackers.depth import APPROXIMATE_DEPTH_ADVICE, BUILTIN_METHOD, depth_download_pending, resolve_depth_method
from trackers.points import COTRACKER3_APPROX_GB, LK_METHOD, cotracker_source, resolve_point_tracker
from ui.studio import Studio

logger = logging.getLogger(__name__)

GPU_CONCURRENCY_ID = "gpu"
"""Every event that drives a model on the GPU (generate, repaint) shares this queue slot."""
TRACKING_CONCURRENCY_ID = "tracking"
"""Tracking-video builds queue here, so they never wait behind a generation."""

@dataclass(frozen=True)
class QueueCounts:
    """Jobs in one concurrency group: ``running`` now, ``waiting`` behind them."""

    running: int
    waiting: int


def gpu_queue_counts(blocks: Any) -> Optional[QueueCounts]:
    """Running and waiting GPU jobs of the app ``blocks``, or ``None`` when unknown.

    Gradio shows each user their own position in the progress area; this adds the global view.
    It reads Gradio's queue bookkeeping, which is not a public API, so any surprise there just
    hides the count instead of breaking the status line.
    """
    queue = getattr(blocks, "_queue", None)
    per_id = getattr(queue, "event_queue_per_concurrency_id", None)
    if not isinstance(per_id, dict):
        return None
    group = per_id.get(GPU_CONCURRENCY_ID)
    if group is None:
        return QueueCounts(running=0, waiting=0)
    try:
        return QueueCounts(running=int(group.current_concurrency), waiting=len(group.queue))
    except (AttributeError, TypeError) as error:
        logger.debug("cannot read the GPU queue: %s", error)
        return None


def describe_queue(counts: Optional[QueueCounts]) -> str:
    """``"idle"``, ``"1 running"``, ``"1 running, 3 waiting"`` (or ``"unknown"``)."""
    if counts is None:
        return "unknown"
    if counts.running == 0 and counts.waiting == 0:
        return "idle"
    parts = [f"{counts.running} running"] if counts.running else []
    if counts.waiting:
        parts.append(f"{counts.waiting} waiting")
    return ", ".join(parts)


def _with_download_note(name: str, approx_gb) -> str:
    if approx_gb is None:
        return f"`{name}`"
    return f"`{name}` (downloads {format_download_size(approx_gb)} on first use)"


def tracking_models_status(allow_download: bool) -> list[str]:
    """Status-line parts naming the depth model(s) and the point tracker the next build will
    use — resolved from what is on this machine and the download policy, nothing loaded — and,
    when the depth is the built-in approximation, a warning that says how to get a real one."""
    try:
        still = resolve_depth_method("auto", allow_download, purpose="still")
        video = resolve_depth_method("auto", allow_download, purpose="video")
        tracker = resolve_point_tracker("auto", allow_download)
    except UserError as error:
        return [f"⚠️ **Depth / tracker unavailable:** {html.escape(str(error))}"]
    still_text = _with_download_note(still, depth_download_pending(still) if allow_download else None)
    video_text = _with_download_note(video, depth_download_pending(video) if allow_download else None)
    depth = still_text if still == video else f"{still_text} for photos, {video_text} for videos"
    source = cotracker_source(allow_download)
    tracker_size = COTRACKER3_APPROX_GB if source is not None and source.downloads and tracker != LK_METHOD else None
    tracker_text = _with_download_note(tracker, tracker_size) + (" (built in)" if tracker == LK_METHOD else "")
    parts = [f"**Depth:** {depth}", f"**Tracker:** {tracker_text}"]
    if BUILTIN_METHOD in (still, video):
        parts.append(f"⚠️ **Approximate depth:** {html.escape(APPROXIMATE_DEPTH_ADVICE)}")
    return parts


def studio_status(studio: Studio) -> str:
    """The status line as Markdown (HTML-escaped values), e.g.

    ``Device: cpu (float32) · Model: /ckpt (loaded) · ⚠ tiny test model — output is noise · GPU queue: idle``

    The depth-model and tracker parts come from ``studio.tracking_models`` (looked up again
    after a build or :data:`ui.studio.TRACKING_MODELS_TTL_S`), not from the disk at every refresh.
    """
    try:
        status = studio.engine.status()
    except UserError as error:  # a bad engine configuration: say so instead of failing the page
        return f"⚠️ **Engine unavailable:** {html.escape(str(error))}"
    model_state = "loaded" if status.loaded else "not loaded yet — loads on the first Generate"
    parts = [
        f"**Device:** {html.escape(status.device)} ({html.escape(status.dtype)})"
        + (f" × {status.processes} processes, each video split over them" if status.processes > 1 else ""),
        f"**Model:** `{html.escape(status.checkpoint)}` ({model_state})",
    ]
    parts += [f"⚠️ **{html.escape(warning)}**" for warning in status.warnings]
    allow_download = studio.options.allow_download
    parts += studio.tracking_models.get(allow_download, lambda: tracking_models_status(allow_download))
    parts.append(f"**GPU queue:** {describe_queue(gpu_queue_counts(studio.app))}")
    return " · ".join(parts)
