"""The controllability check: figures about a tracking video that say whether the model can
follow it, and plain-words warnings with a fix, computed before Generate (docs/CHECKS.md).

DaS generates what the tracking video shows. A video that is mostly black gives the model
nothing to follow; one where nothing moves tends to give a static result; a camera that flies
through or out of the scene leaves black frames. None of these stop a generation — the check
only informs — but each is cheap to see here and expensive to discover after a generation.

Figures (all from the rendered frames and the projected tracks, see :func:`check_tracking`):

- **coverage**: the fraction of each frame's pixels that are drawn (not black); its minimum
  and median over the clip, and the frame where the camera leaves the scene, if it does;
- **motion**: how far the content moves, the median over tracks of the farthest each track
  gets from its frame-0 position (pixels), and the share of tracks that move visibly;
- **parallax**: the median motion of the nearest quarter of the tracks (by frame-0 depth)
  minus that of the farthest quarter, in pixels: how much depth the motion reveals;
- **approximate depth**: whether the depth was the built-in estimate;
- **lost share** (video sources): the fraction of the frame-0 tracks' later positions that are
  in view (inside the frame, in front of the camera) but not drawn — points a tracker dropped;
- **predicted share** (video sources): the fraction of drawn track positions that the tracker
  predicted rather than saw.

This module also holds :func:`object_rigidity`, the measure of how rigidly a moved object's
pixels move together (used by the object-depth tests and the benchmark).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

from core import geometry

DRAWN_LEVEL = 8
"""A pixel is drawn when one of its channels exceeds 8 (of 255): the ringing H.264 leaves
around black in an uploaded tracking video stays below, and so does only the colour of the far
top-left corner's points (all three channels under 8/255 of their range)."""
MOSTLY_BLACK_COVERAGE = 0.25
"""Warn when the median frame draws less than a quarter of its pixels. A dense cloud covers
~100 % of frame 0 and a sparse 70×70 grid about half of it (50 % measured at 480×720), so a
quarter means most of what the model was trained to see is missing."""
LEAVES_SCENE_SHARE = 0.1
"""The camera has left the scene when a later frame draws under a tenth of what frame 0 drew:
the content is behind the camera or outside the frame, not just partly cut off."""
STILL_MOTION_FRACTION = 0.01
"""A track "moves" when it gets at least 1 % of the frame width away from where it started
(7 px at 720 px wide): less, over a whole clip, reads as a still shot."""
MIN_MOVING_SHARE = 0.01
"""Warn of almost no motion when under 1 % of the tracks move (a small moved object or a
person walking through a static shot is more than that)."""
LOST_SHARE_WARNING = 0.25
"""Warn when over a quarter of the frame-0 tracks' later positions are missing although they are
in view: the tracker dropped them, leaving black holes where the model expects colour."""
PREDICTED_SHARE_WARNING = 0.5
"""Warn when more than half of the drawn track positions are the tracker's guesses."""
DEPTH_QUANTILE = 0.25
"""Parallax compares the nearest and farthest quarter of the tracks (by frame-0 depth)."""
MAX_CHECKED_TRACKS = 50_000
"""Motion figures use at most this many tracks (an even stride through a dense cloud of
345,600 points): the medians change by well under a pixel, the work by 7×."""
FRACTION_DECIMALS = 4
"""Shares are written to JSON to 0.01 %, pixel figures to 0.01 px: finer is noise."""
PIXEL_DECIMALS = 2

WARNING_CODES = (
    "mostly_black",
    "camera_leaves_scene",
    "tracks_lost",
    "almost_no_motion",
    "mostly_predicted",
    "approximate_depth",
)
"""Stable identifiers of the warnings, in the order they are listed (most serious first)."""


@dataclass(frozen=True)
class ControlCheck:
    """Figures about a tracking video and the warnings they raise (see the module docstring).

    Attributes:
        coverage: per-frame fraction of pixels drawn (not black), ``T`` values in [0, 1].
        coverage_min, coverage_median: over the clip.
        motion_median_px: median over tracks of the farthest each track gets from its frame-0
            position, in pixels (tracks drawn in frame 0 and in a later frame); ``None`` when
            the tracks are unknown (an uploaded tracking video).
        moving_share: fraction of those tracks that move at least :data:`STILL_MOTION_FRACTION`
            of the frame width; ``None`` when the tracks are unknown.
        parallax_px: median motion of the nearest quarter of the tracks minus that of the
            farthest quarter (frame-0 depth), in pixels; ``None`` when the tracks are unknown.
        lost_share: fraction of ``(frame ≥ 1, track drawn in frame 0)`` pairs where the track is
            in view (:func:`core.geometry.in_frame`) but not drawn; ``None`` without a tracker
            (``seen`` not given: a still, a mesh, whose hidden points are hidden on purpose).
        approximate_depth: the depth was the built-in estimate.
        predicted_share: fraction of drawn ``(frame, track)`` positions that the tracker did
            not see (predicted); ``None`` for a still source.
        camera_leaves_scene: some frame after frame 0 draws under :data:`LEAVES_SCENE_SHARE`
            of what frame 0 drew, and most of the missing frame-0 tracks there are out of view
            (outside the frame or behind the camera) rather than dropped by a tracker.
        leaves_scene_frame: the first such frame, or ``None``.
        warning_codes: identifiers from :data:`WARNING_CODES`, one per warning.
        warnings: plain-words warnings, each with a suggested fix, same order as the codes.
    """

    coverage: tuple[float, ...]
    coverage_min: float
    coverage_median: float
    motion_median_px: Optional[float]
    moving_share: Optional[float]
    parallax_px: Optional[float]
    lost_share: Optional[float]
    approximate_depth: bool
    predicted_share: Optional[float]
    camera_leaves_scene: bool
    leaves_scene_frame: Optional[int]
    warning_codes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No warning at all."""
        return not self.warnings

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures and warnings (lists instead of tuples, rounded), for the settings JSON."""
        figures = {
            name: round(value, PIXEL_DECIMALS if name.endswith("_px") else FRACTION_DECIMALS)
            if isinstance(value, float)
            else value
            for name, value in asdict(self).items()
        }
        figures["coverage"] = [round(value, FRACTION_DECIMALS) for value in self.coverage]
        figures["warning_codes"] = list(self.warning_codes)
        figures["warnings"] = list(self.warnings)
        return figures

    def figures_text(self) -> str:
        """The figures in one short paragraph for the studio and the CLI."""
        parts = [f"drawn: {_percent(self.coverage_min)} of the frame at least, {_percent(self.coverage_median)} typically"]
        if self.motion_median_px is None:
            parts.append("motion: unknown (no tracks)")
        else:
            parts += [
                f"motion: {self.motion_median_px:.1f} px median, {_percent(self.moving_share)} of the points move",
                f"parallax: {self.parallax_px:.1f} px",
            ]
        if self.lost_share:
            parts.append(f"lost while in view: {_percent(self.lost_share)}")
        if self.approximate_depth:
            parts.append("depth: approximate (built-in estimate)")
        if self.predicted_share is not None:
            parts.append(f"predicted by the tracker: {_percent(self.predicted_share)} of the drawn points")
        return "; ".join(parts) + "."

    def report_text(self) -> str:
        """Figures, then one line per warning (``"⚠ ..."``), or ``"No problems found."``."""
        lines = [self.figures_text()]
        lines += [f"⚠ {warning}" for warning in self.warnings] or ["No problems found."]
        return "\n".join(lines)


def _percent(fraction: float) -> str:
    value = 100.0 * fraction
    return f"{value:.0f} %" if value >= 10 or value == 0 else f"{value:.1f} %"


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def frame_coverage(frames: np.ndarray) -> np.ndarray:
    """``(T,)`` float64 fraction of each frame's pixels that are drawn (a channel > :data:`DRAWN_LEVEL`).

    Args:
        frames: ``(T, H, W, 3)`` uint8 tracking video.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must have shape (T, H, W, C), got {frames.shape}")
    brightest = frames[..., 0]
    for channel in range(1, frames.shape[-1]):  # 4× faster than max(axis=-1) over a 3-wide axis
        brightest = np.maximum(brightest, frames[..., channel])
    return np.count_nonzero(brightest > DRAWN_LEVEL, axis=(1, 2)) / float(frames.shape[1] * frames.shape[2])


def track_motion(uvz: np.ndarray, drawn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far each track gets from its frame-0 position while it is drawn.

    Args:
        uvz: ``(T, N, 3)`` projected tracks; drawn: ``(T, N)`` bool.

    Returns:
        ``motion (M,)`` float64 pixels and ``depth0 (M,)`` frame-0 depth, for the ``M`` tracks
        drawn in frame 0 and in at least one later frame.
    """
    drawn = np.asarray(drawn, dtype=bool)
    followed = drawn[0] & drawn[1:].any(axis=0)
    uv = np.asarray(uvz[:, followed, :2], dtype=np.float64)
    distance = np.linalg.norm(uv - uv[:1], axis=-1)
    motion = np.where(drawn[:, followed], distance, 0.0).max(axis=0, initial=0.0)
    return motion, np.asarray(uvz[0, followed, 2], dtype=np.float64)


def missing_tracks(uvz: np.ndarray, drawn: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Why frame 0's tracks are missing later: out of view, or dropped while in view.

    Args:
        uvz: ``(T, N, 3)`` projected tracks; drawn: ``(T, N)`` bool; height, width: frame size.

    Returns:
        ``out_of_view (T,)`` and ``lost (T,)`` float64: per frame, the fraction of the tracks
        drawn in frame 0 that are not drawn and outside the frame or behind the camera
        (:func:`core.geometry.in_frame`), resp. not drawn although in view. Both are 0 at frame 0.
    """
    drawn = np.asarray(drawn, dtype=bool)
    first = drawn[0]
    if not first.any():
        return np.zeros(len(drawn)), np.zeros(len(drawn))
    in_view = geometry.in_frame(uvz[:, first], height, width)
    missing = ~drawn[:, first]
    return (missing & ~in_view).mean(axis=1), (missing & in_view).mean(axis=1)


def parallax(motion: np.ndarray, depth0: np.ndarray) -> float:
    """Median motion of the nearest :data:`DEPTH_QUANTILE` of the tracks minus that of the
    farthest, in pixels (0 when fewer than two tracks)."""
    if motion.size < 2:
        return 0.0
    near_limit, far_limit = np.quantile(depth0, [DEPTH_QUANTILE, 1.0 - DEPTH_QUANTILE])
    return float(np.median(motion[depth0 <= near_limit]) - np.median(motion[depth0 >= far_limit]))


def object_rigidity(uv0: np.ndarray, uv_t: np.ndarray) -> float:
    """How far a moved object's pixels are from moving together: 0 for a rigid shift.

    With ``d_i = uv_t[i] − uv0[i]`` and ``m`` the component-wise median displacement, this is
    ``median_i |d_i − m| / |m|``: the typical deviation of a point's displacement as a fraction
    of the object's displacement (a sheared object spreads, a rigid one does not).

    Args:
        uv0, uv_t: ``(N, 2)`` pixel positions of the same points (``(N, 3)`` uvz works too).

    Returns:
        The ratio, or ``nan`` when the median displacement is zero (nothing moved).
    """
    uv0 = np.asarray(uv0, dtype=np.float64)[:, :2]
    uv_t = np.asarray(uv_t, dtype=np.float64)[:, :2]
    displacement = uv_t - uv0
    typical = np.median(displacement, axis=0)
    size = float(np.linalg.norm(typical))
    if size == 0.0:
        return math.nan
    return float(np.median(np.linalg.norm(displacement - typical, axis=-1)) / size)


# --------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------


def check_tracking(
    frames: np.ndarray,
    uvz: np.ndarray,
    drawn: np.ndarray,
    *,
    seen: Optional[np.ndarray] = None,
    approximate_depth: bool,
    black_background: bool = False,
) -> ControlCheck:
    """Figures and warnings for a tracking video (see the module docstring and docs/CHECKS.md).

    Args:
        frames: ``(T, H, W, 3)`` uint8 tracking video (``TrackingResult.frames``).
        uvz: ``(T, N, 3)`` projected tracks (``TrackingResult.uvz``); ``N = 0`` (an uploaded
            tracking video) leaves the motion figures unknown (``None``) and unchecked.
        drawn: ``(T, N)`` bool, which tracks were drawn (``TrackingResult.visible``).
        seen: ``(T, N)`` bool, which positions the tracker saw (a video source's raw tracker
            visibility); ``None`` for a still image.
        approximate_depth: the depth was the built-in estimate.
        black_background: the scene is an object on an empty background (a mesh, a tracking
            video rendered elsewhere), where a mostly black frame is expected: the *mostly
            black* warning is not raised (the coverage figures and the other warnings are).

    Returns:
        :class:`ControlCheck`; warnings never stop a generation.
    """
    frames = np.asarray(frames)
    uvz = np.asarray(uvz)
    drawn = np.asarray(drawn, dtype=bool)
    if uvz.ndim != 3 or uvz.shape[-1] != 3 or drawn.shape != uvz.shape[:2] or frames.shape[0] != uvz.shape[0]:
        raise ValueError(
            f"need frames (T, H, W, 3), uvz (T, N, 3) and drawn (T, N) with one T; got {frames.shape}, "
            f"{uvz.shape}, {drawn.shape}"
        )
    width = frames.shape[2]
    coverage = frame_coverage(frames)

    predicted_share = None
    if seen is not None:
        seen = np.asarray(seen, dtype=bool)
        if seen.shape != drawn.shape:
            raise ValueError(f"seen must have the shape of drawn {drawn.shape}, got {seen.shape}")
        drawn_count = int(drawn.sum())
        predicted_share = float((drawn & ~seen).sum() / drawn_count) if drawn_count else 0.0

    still_limit = STILL_MOTION_FRACTION * width
    motion_median = moving_share = parallax_px = lost_share = None
    out_of_view = lost = np.zeros(len(coverage))
    if uvz.shape[1]:
        stride = max(1, math.ceil(uvz.shape[1] / MAX_CHECKED_TRACKS))
        out_of_view, lost = missing_tracks(uvz[:, ::stride], drawn[:, ::stride], frames.shape[1], width)
        if seen is None:
            # No tracker: points not drawn in view are hidden on purpose (a mesh's far side).
            lost = np.zeros_like(lost)
        else:
            lost_share = float(lost[1:].mean()) if len(lost) > 1 else 0.0
        motion, depth0 = track_motion(uvz[:, ::stride], drawn[:, ::stride])
        # No track followed past frame 0 (all left the frame): nothing measurable moved.
        motion_median = float(np.median(motion)) if motion.size else 0.0
        moving_share = float(np.mean(motion >= still_limit)) if motion.size else 0.0
        parallax_px = parallax(motion, depth0)

    # Frames that lost most of frame 0's drawing because the content went out of view (a
    # tracker dropping points is reported as lost tracks instead).
    emptied = (coverage[1:] < LEAVES_SCENE_SHARE * coverage[0]) & (out_of_view[1:] >= lost[1:])
    leaving = np.flatnonzero(emptied) + 1 if coverage[0] > 0 else np.array([], dtype=np.int64)
    leaves_frame = int(leaving[0]) if leaving.size else None

    figures = dict(
        coverage=tuple(float(value) for value in coverage),
        coverage_min=float(coverage.min()),
        coverage_median=float(np.median(coverage)),
        motion_median_px=motion_median,
        moving_share=moving_share,
        parallax_px=parallax_px,
        lost_share=lost_share,
        approximate_depth=bool(approximate_depth),
        predicted_share=predicted_share,
        camera_leaves_scene=leaves_frame is not None,
        leaves_scene_frame=leaves_frame,
    )
    codes, warnings = _warnings(
        figures,
        coverage,
        still_limit,
        tracker_cause=float(lost.sum()) > float(out_of_view.sum()),
        black_background=black_background,
    )
    return ControlCheck(**figures, warning_codes=codes, warnings=warnings)


def _warnings(
    figures: dict[str, Any], coverage: np.ndarray, still_limit: float, *, tracker_cause: bool, black_background: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Plain-words warnings with a fix each, in :data:`WARNING_CODES` order. ``tracker_cause``:
    more of frame 0's tracks are missing later because a tracker dropped them than because they
    went out of view, which changes the fix for a mostly black video."""
    found: dict[str, str] = {}
    if figures["coverage_median"] < MOSTLY_BLACK_COVERAGE and not black_background:
        fix = (
            "Use a shorter or calmer part of the video (a later start), or a learned point tracker (docs/TRACKERS.md)."
            if tracker_cause
            else "Use a smaller camera move, keep the object inside the frame, or for a video use a denser grid of points."
        )
        found["mostly_black"] = (
            f"The tracking video is mostly black: a typical frame draws only {_percent(figures['coverage_median'])} of "
            f"its pixels (the emptiest {_percent(figures['coverage_min'])}), so the model has little to follow. " + fix
        )
    if figures["camera_leaves_scene"]:
        frame = figures["leaves_scene_frame"]
        found["camera_leaves_scene"] = (
            f"The camera leaves the scene: at frame {frame} the video draws under "
            f"{_percent(LEAVES_SCENE_SHARE)} of what frame 0 drew ({_percent(float(coverage[frame]))} of the "
            "pixels) — the content is behind the camera or outside the frame. Use a smaller move (translations "
            "are in units of the scene's median depth: trans 0 0 -0.5 moves halfway to it) or end it later."
        )
    if figures["lost_share"] is not None and figures["lost_share"] > LOST_SHARE_WARNING:
        found["tracks_lost"] = (
            f"Points were lost: {_percent(figures['lost_share'])} of the later positions of the first frame's points "
            "are missing although they are still in view, which leaves black holes where the model expects colour. "
            "Use a shorter or calmer part of the video (a later start), or a learned point tracker (docs/TRACKERS.md)."
        )
    moving = figures["moving_share"]
    # Points out of view or lost cannot show motion: those warnings already say why.
    if not found.keys() & {"camera_leaves_scene", "tracks_lost"} and moving is not None and moving < MIN_MOVING_SHARE:
        found["almost_no_motion"] = (
            f"There is almost no motion: {_percent(figures['moving_share'])} of the points move {still_limit:.0f} px "
            f"or more over the clip (median {figures['motion_median_px']:.1f} px), and results of such clips are "
            "often static. Use a larger camera or object move, or for a video a later start where something moves."
        )
    predicted = figures["predicted_share"]
    if predicted is not None and predicted > PREDICTED_SHARE_WARNING:
        found["mostly_predicted"] = (
            f"Most of the motion is guessed: the tracker predicted {_percent(predicted)} of the drawn point "
            "positions instead of seeing them (occlusions, fast motion or blur). Use a shorter or calmer part of "
            "the video (a later start), or a learned point tracker (docs/TRACKERS.md)."
        )
    if figures["approximate_depth"]:
        found["approximate_depth"] = (
            "Depth is approximate: it comes from the built-in estimate (a ground-plane guess), not a depth model, "
            "so parallax and what is near or far may be wrong. For real depth, let the models download (run "
            "without --offline) or fetch them with `python -m core.download --models depth,tracker` (docs/TRACKERS.md)."
        )
    codes = tuple(code for code in WARNING_CODES if code in found)
    return codes, tuple(found[code] for code in codes)
