"""The source video's own camera, estimated from its tracks and depth, and the camera modes
that use it (SPEC §6, §9; ``docs/CAMERA_MOTION.md`` "Camera modes for video sources").

Conventions (:mod:`core.geometry`): OpenCV camera axes; "world" is the camera space of frame 0;
``cam_to_world[t]`` maps camera-``t`` points to world, ``world_to_cam[t]`` the reverse. A
camera motion ``M_t`` of :mod:`core.camera` is a ``world_to_cam`` of the new camera: it maps
frame-0 camera-space points to frame ``t`` (``p_t = M_t · p_0``).

**Estimation** (:func:`estimate_source_poses`) works in two stages:

1. *Robust 3D alignment.* Each frame's tracks, lifted with their depth, are aligned to the
   same tracks in frame 0 by a similarity (Umeyama) inside RANSAC. A per-frame scale is
   allowed here because monocular video depth is only aligned over time approximately (the
   alignment in :mod:`trackers.depth` assumes a tracked point keeps its depth, which a
   camera moving forward breaks). Tracks that disagree — on a moving object, or badly
   tracked — are outliers.
2. *Refinement on the image* (a small bundle adjustment). The poses and the 3D positions of
   the static tracks are refined to minimise the reprojection error in pixels, with the
   frame-0 depth kept as a weak prior (it fixes the overall scale, and the depth of points
   seen without parallax). Only 2D positions and frame-0 depth enter, so a camera path can
   be recovered even when the depth model is rough: parallax corrects the depth. The static
   tracks are then re-selected by their reprojection error and the refinement repeated
   (:func:`core.bundle_adjustment.bundle_adjust`). When the intrinsics are only an assumed
   field of view (``focal_known=False``: the built-in depth and video depth models give
   none), the focal length is refined with the poses. How far the tracks pin it down is read
   from the refinement's information matrix; a camera that barely moves, or only
   translates, leaves it free, and then the assumed one is kept
   (:attr:`SourceCameraEstimate.focal` says which).

The returned poses are rigid and in the units of the frame-0 depth, so they compose with
:func:`core.camera.scene_scale` and the motion language. They belong to the returned
intrinsics :attr:`SourceCameraEstimate.K`: lift the tracks with those.

**Modes** (pure functions; the recipes in :mod:`core.tasks.scene` call them):

- *append* — today's behaviour, no estimate needed: ``p'_t = M_t · p_t``.
- *override* (:func:`override_camera`) — lift every frame's points to world with the
  estimated source pose, then view them from the user's path: ``p'_t = M_t · C_t · p_t``
  (``C_t`` = source ``cam_to_world``). Static points may instead take their frame-0 position
  (exactly their world position), which removes the jitter of per-frame depth.
- *stabilise* (:func:`stabilise_camera`) — override with a still camera (``M_t = I``).
- *copy* (:func:`copy_camera`) — a photo moved along a reference video's estimated path, its
  translations rescaled by the ratio of the two scenes' median frame-0 depths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from core import geometry
from core.bundle_adjustment import bundle_adjust, reprojection_errors
from core.errors import UserError

MIN_CORRESPONDENCES = 6
"""Fewest tracks seen in frame 0 and frame t needed to estimate that frame's pose."""
RANSAC_SAMPLE_SIZE = 3
"""Points per RANSAC hypothesis: the fewest that fix a similarity in 3D."""
DEPTH_SEARCH_STEPS = 25
MAX_DEPTH_LOG_STEP = 3.0
"""Depth range (± this in log depth about the given depth) searched when a track's static-ness
is judged by its reprojection error."""
FOCAL_REFINED = "refined"
FOCAL_KNOWN = "known"
FOCAL_UNCONSTRAINED = "assumed"
""":attr:`SourceCameraEstimate.focal`: refined from the tracks; given by the depth model and
kept; or assumed and kept because the camera's motion does not pin it down."""


class SourceCameraError(UserError):
    """The source camera cannot be estimated from this clip (too few tracks, or none static);
    the message suggests the ``append`` mode, which needs no estimate."""


@dataclass(frozen=True)
class SourceCameraOptions:
    """Settings of :func:`estimate_source_poses` (defaults suit 49-frame grid tracks).

    Attributes:
        ransac_iterations: hypotheses per frame in the 3D alignment.
        inlier_threshold: 3D alignment residual, as a fraction of the point's depth, below
            which a track agrees with a hypothesis.
        min_inlier_share: a track is static when it agrees in at least this share of the
            frames it is seen in (stage 1).
        refine: run the image-space refinement (stage 2).
        refine_rounds: most refinement passes; each pass starts from the previous poses and
            re-selects the static tracks by their reprojection error (a first pass seeded by
            rough depth may keep too few of them), and the passes stop once the selection
            no longer changes.
        max_refine_points: static tracks used by the refinement (an even subset of them).
        static_threshold_px: median reprojection error below which a track is static after
            refinement.
        robust_scale_px: reprojection error where the robust (soft-L1) loss turns linear.
        depth_prior_weight: residual, in pixels, charged per unit of log-depth change from the
            frame-0 depth (small: parallax decides where there is any).
        refine_focal: refine the focal length in stage 2 when the intrinsics are only assumed
            (``focal_known=False`` in :func:`estimate_source_poses`).
        fixed_focal_rounds: refinement passes that keep the assumed focal length before it is
            freed (they come on top of ``refine_rounds``): the first static selection, from the
            3D alignment, still holds some moving or badly tracked points, which a free focal
            length would partly absorb.
        focal_prior_weight: residual, in pixels, charged per unit of log-focal change from the
            assumed focal length (tiny: it only keeps the system regular).
        max_fov_std_deg: the refined field of view is kept only when its standard deviation
            (from the refinement's information matrix and the pixel noise) is at most this;
            otherwise the motion does not pin the focal length down (a nearly still camera, a
            pure translation) and the assumed one is used.
        fov_range_deg: refined fields of view outside this range are not believed either.
        seed: random seed of the RANSAC samples (estimates are deterministic).
    """

    ransac_iterations: int = 256
    inlier_threshold: float = 0.05
    min_inlier_share: float = 0.6
    refine: bool = True
    refine_rounds: int = 3
    max_refine_points: int = 400
    static_threshold_px: float = 2.0
    robust_scale_px: float = 1.0
    depth_prior_weight: float = 3.0
    refine_focal: bool = True
    fixed_focal_rounds: int = 1
    focal_prior_weight: float = 1.0
    max_fov_std_deg: float = 1.0
    fov_range_deg: tuple[float, float] = (20.0, 120.0)
    seed: int = 0


@dataclass
class SourceCameraEstimate:
    """The source video's estimated camera.

    Attributes:
        cam_to_world: ``(T, 4, 4)`` float64 rigid poses, frame 0 = identity; translations in
            the units of the frame-0 depth.
        static: ``(N,)`` bool: tracks consistent with the estimated camera (the scene, not a
            moving object or a lost track).
        residual_px: ``(T,)`` median reprojection error of the static tracks seen in each
            frame (0 for frame 0; NaN where none is seen).
        K: ``(3, 3)`` the intrinsics the poses belong to: the given ones with the refined focal
            length when :attr:`focal` is :data:`FOCAL_REFINED`, else the given ones. Lift the
            tracks with these before applying the poses (override, stabilise).
        fov_deg: horizontal field of view of :attr:`K`.
        assumed_fov_deg: horizontal field of view of the given intrinsics.
        fov_std_deg: standard deviation of the refined field of view (NaN when the focal
            length is known, or refinement is off).
        focal: :data:`FOCAL_REFINED`, :data:`FOCAL_KNOWN` or :data:`FOCAL_UNCONSTRAINED`.
    """

    cam_to_world: np.ndarray
    static: np.ndarray
    residual_px: np.ndarray
    K: np.ndarray
    fov_deg: float
    assumed_fov_deg: float
    fov_std_deg: float
    focal: str

    @property
    def world_to_cam(self) -> np.ndarray:
        """``(T, 4, 4)``: maps world (= frame-0 camera space) points into camera ``t``."""
        return geometry.se3_inverse(self.cam_to_world)

    @property
    def camera_centres(self) -> np.ndarray:
        """``(T, 3)`` camera centres in world, for plotting the path (frame 0 at the origin)."""
        return self.cam_to_world[:, :3, 3].copy()


# --------------------------------------------------------------------------------------------
# Stage 1: robust similarity alignment in 3D
# --------------------------------------------------------------------------------------------


def umeyama(source: np.ndarray, target: np.ndarray, weights: Optional[np.ndarray] = None, *, with_scale: bool = True):
    """Least-squares similarity ``target ≈ s · R · source + t``, batched (Umeyama 1991).

    Args:
        source, target: ``(..., M, 3)`` corresponding points.
        weights: ``(..., M)`` non-negative weights, or ``None`` (all 1).
        with_scale: estimate ``s``; otherwise ``s = 1`` (rigid, Kabsch).

    Returns:
        ``rotation (..., 3, 3)`` (proper, det = +1), ``translation (..., 3)``, ``scale (...)``.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    weights = np.ones(source.shape[:-1]) if weights is None else np.asarray(weights, dtype=np.float64)
    total = np.maximum(weights.sum(-1), 1e-12)[..., None]
    mean_source = (weights[..., None] * source).sum(-2) / total
    mean_target = (weights[..., None] * target).sum(-2) / total
    centred_source = source - mean_source[..., None, :]
    centred_target = target - mean_target[..., None, :]
    covariance = np.einsum("...m,...mi,...mj->...ij", weights, centred_target, centred_source) / total[..., None]
    u, singular, vt = np.linalg.svd(covariance)
    reflection = np.sign(np.linalg.det(u @ vt))
    correction = np.ones(singular.shape)
    correction[..., 2] = np.where(reflection < 0, -1.0, 1.0)
    rotation = (u * correction[..., None, :]) @ vt
    if with_scale:
        variance = (weights * (centred_source**2).sum(-1)).sum(-1) / total[..., 0]
        scale = (singular * correction).sum(-1) / np.maximum(variance, 1e-12)
    else:
        scale = np.ones(rotation.shape[:-2])
    translation = mean_target - scale[..., None] * np.einsum("...ij,...j->...i", rotation, mean_source)
    return rotation, translation, scale


def _alignment_residual(source, target, rotation, translation, scale) -> np.ndarray:
    """``|target − (s R source + t)| / target_z``: a residual independent of the scene's units."""
    predicted = scale[..., None, None] * (source @ np.swapaxes(rotation, -1, -2)) + translation[..., None, :]
    depth = np.maximum(np.abs(target[..., 2]), 1e-9)
    return np.linalg.norm(target - predicted, axis=-1) / depth


def ransac_similarity(
    source: np.ndarray, target: np.ndarray, options: SourceCameraOptions, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Robust similarity ``target ≈ s R source + t`` of ``(M, 3)`` point sets.

    All hypotheses are scored at once (a ``(iterations, M)`` residual table); the best is
    refitted on its inliers twice.

    Returns:
        ``rotation (3, 3)``, ``translation (3,)``, ``scale``, ``inliers (M,)`` bool.
    """
    count = source.shape[0]
    # Samples may repeat a point; such degenerate hypotheses simply gather little support.
    samples = rng.integers(0, count, size=(options.ransac_iterations, RANSAC_SAMPLE_SIZE))
    rotation, translation, scale = umeyama(source[samples], target[samples])
    plausible = scale > 0
    residual = _alignment_residual(source, target, rotation, translation, scale)
    support = np.where(plausible, (residual < options.inlier_threshold).sum(-1), -1)
    best = int(np.argmax(support))
    inliers = residual[best] < options.inlier_threshold
    rotation, translation, scale = rotation[best], translation[best], scale[best]
    for _ in range(2):
        if inliers.sum() < RANSAC_SAMPLE_SIZE:
            break
        rotation, translation, scale = umeyama(source[inliers], target[inliers])
        inliers = _alignment_residual(source, target, rotation, translation, scale) < options.inlier_threshold
    return rotation, translation, float(scale), inliers


def _initial_poses(
    points: np.ndarray, seen: np.ndarray, options: SourceCameraOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 1: ``world_to_cam (T, 4, 4)`` and ``agrees (T, N)`` (track is a RANSAC inlier).

    ``s R p_0 + t ≈ p_t`` with ``s`` the frame's depth-scale error: the true camera maps
    ``p_0`` to ``p_t / s``, i.e. ``world_to_cam = [R | t / s]``.
    """
    num_frames, num_points = seen.shape
    rng = np.random.default_rng(options.seed)
    world_to_cam = np.broadcast_to(np.eye(4), (num_frames, 4, 4)).copy()
    agrees = np.zeros((num_frames, num_points), dtype=bool)
    agrees[0] = seen[0]
    for frame in range(1, num_frames):  # frames, not points: each fit is vectorised
        common = np.flatnonzero(seen[0] & seen[frame])
        if common.size < MIN_CORRESPONDENCES:
            world_to_cam[frame] = world_to_cam[frame - 1]  # nothing to go on: hold the last pose
            continue
        rotation, translation, scale, inliers = ransac_similarity(points[0, common], points[frame, common], options, rng)
        world_to_cam[frame] = geometry.make_se3(rotation, translation / max(scale, 1e-9))
        agrees[frame, common[inliers]] = True
    return world_to_cam, agrees


def _even_subset(indices: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` of ``indices``, spread evenly (deterministic)."""
    if indices.size <= limit:
        return indices
    return indices[np.round(np.linspace(0, indices.size - 1, limit)).astype(np.int64)]


# --------------------------------------------------------------------------------------------
# Estimation
# --------------------------------------------------------------------------------------------


def estimate_source_poses(
    uvz: np.ndarray,
    visible: np.ndarray,
    K: np.ndarray,
    options: SourceCameraOptions = SourceCameraOptions(),
    *,
    focal_known: bool = False,
) -> SourceCameraEstimate:
    """Estimate the source video's camera (and, when only assumed, its focal length) from its
    tracks and per-frame depth.

    Args:
        uvz: ``(T, N, 3)`` tracks (``u, v`` pixels, ``z`` camera depth), e.g.
            :attr:`core.tasks.common.VideoScene.uvz`; every track starts in frame 0.
        visible: ``(T, N)`` bool, where the tracker saw the point (predicted positions of
            hidden points are not used).
        K: ``(3, 3)`` intrinsics, principal point at the image centre.
        options: :class:`SourceCameraOptions`.
        focal_known: ``K`` comes from the depth model (keep it); otherwise its focal length is
            an assumed field of view, refined with the poses when the motion constrains it.

    Returns:
        :class:`SourceCameraEstimate` (frame 0 = identity; units of the frame-0 depth).

    Raises:
        SourceCameraError: fewer than ``MIN_CORRESPONDENCES`` usable tracks, or none static.
    """
    uvz = np.asarray(uvz, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    K = np.asarray(K, dtype=np.float64)
    if uvz.ndim != 3 or uvz.shape[-1] != 3 or visible.shape != uvz.shape[:2]:
        raise ValueError(f"uvz must be (T, N, 3) and visible (T, N); got {uvz.shape} and {visible.shape}")
    num_frames, num_points = visible.shape
    seen = visible & np.isfinite(uvz).all(-1) & (uvz[..., 2] > 0)
    seen &= seen[0]  # a track without a frame-0 position has no world point to align with
    usable = seen[1:].any(0) if num_frames > 1 else seen[0]
    if usable.sum() < MIN_CORRESPONDENCES:
        raise SourceCameraError(
            f"only {int(usable.sum())} tracks are seen in frame 0 and another frame (need {MIN_CORRESPONDENCES}); "
            "the source camera cannot be estimated: use a longer or more textured clip, or the 'append' mode"
        )
    assumed_fov = _fov_deg(K)
    kept_focal = FOCAL_KNOWN if focal_known else FOCAL_UNCONSTRAINED
    if num_frames == 1:
        return SourceCameraEstimate(np.eye(4)[None], seen[0].copy(), np.zeros(1), K, assumed_fov, assumed_fov, math.nan, kept_focal)
    points = geometry.unproject_uvz(np.where(seen[..., None], uvz, 1.0), K)
    initial_world_to_cam, agrees = _initial_poses(points, seen, options)
    seen_count = seen[1:].sum(0)
    initial_static = usable & (agrees[1:].sum(0) >= options.min_inlier_share * np.maximum(seen_count, 1))
    refine_focal = options.refine and options.refine_focal and not focal_known
    stage = _refine_rounds(uvz, seen, usable, K, initial_world_to_cam, initial_static, options, refine_focal=refine_focal)
    world_to_cam, static, refined_K, depth_factor, log_focal_std = stage
    fov, fov_std, focal = assumed_fov, math.nan, kept_focal
    if refine_focal:
        fov = _fov_deg(refined_K)
        # d fov / d log f = −sin(fov) (radians), so the log-focal deviation converts to degrees.
        fov_std = math.degrees(math.sin(math.radians(fov)) * log_focal_std) if math.isfinite(log_focal_std) else math.inf
        low, high = options.fov_range_deg
        if fov_std <= options.max_fov_std_deg and low <= fov <= high:
            focal = FOCAL_REFINED
        else:  # the motion does not pin the focal length down: estimate again with the assumed one
            stage = _refine_rounds(uvz, seen, usable, K, initial_world_to_cam, initial_static, options, refine_focal=False)
            world_to_cam, static, refined_K, depth_factor, _ = stage
            fov = assumed_fov
    if not static.any():
        raise SourceCameraError(
            "no track moves consistently with a single camera (the whole picture seems to move); "
            "use the 'append' mode for this clip"
        )
    points0 = geometry.unproject_uvz(np.where(seen[0, :, None], uvz[0], 1.0), refined_K)
    errors = reprojection_errors(uvz[..., :2], seen & static, refined_K, world_to_cam, points0 * depth_factor[:, None])
    residual = _nan_median_per_frame(errors)
    residual[0] = 0.0
    return SourceCameraEstimate(
        geometry.se3_inverse(world_to_cam), static, residual, refined_K, fov, assumed_fov, fov_std, focal
    )


def _fov_deg(K: np.ndarray) -> float:
    """Horizontal field of view of ``K``, whose principal point is at the image centre."""
    return geometry.fov_from_intrinsics(K, 2.0 * float(K[0, 2]))


def _refine_rounds(uvz, seen, usable, K, world_to_cam, static, options: SourceCameraOptions, *, refine_focal: bool):
    """Stage 2: refinement passes, each re-selecting the static tracks by their reprojection
    error (see :attr:`SourceCameraOptions.refine_rounds`); with ``refine_focal``, the focal
    length is free after the first :attr:`SourceCameraOptions.fixed_focal_rounds` passes.

    Returns:
        ``world_to_cam (T, 4, 4)``, ``static (N,)``, ``K`` (with the refined focal length when
        ``refine_focal``), each track's depth ``factor (N,)`` and the last pass's log-focal
        standard deviation (NaN when the focal length was fixed or nothing was refined).
    """
    depth_factor = np.ones(static.shape)
    log_focal_std = math.nan
    if not options.refine:
        return world_to_cam, static, K, depth_factor, log_focal_std
    uv = uvz[..., :2]
    fixed_rounds = options.fixed_focal_rounds if refine_focal else 0
    for round_index in range(options.refine_rounds + fixed_rounds):
        chosen = _even_subset(np.flatnonzero(static), options.max_refine_points)
        if chosen.size < MIN_CORRESPONDENCES:
            break
        focal_now = refine_focal and round_index >= fixed_rounds
        refinement = bundle_adjust(
            uv[:, chosen],
            seen[:, chosen],
            K,
            world_to_cam,
            uvz[0, chosen, 2],
            refine_focal=focal_now,
            depth_prior_weight=options.depth_prior_weight,
            focal_prior_weight=options.focal_prior_weight,
            robust_scale_px=options.robust_scale_px,
        )
        world_to_cam, log_focal_std = refinement.world_to_cam, refinement.log_focal_std
        K = K.copy()
        K[0, 0] *= refinement.focal_scale
        K[1, 1] *= refinement.focal_scale
        points0 = geometry.unproject_uvz(np.where(seen[0, :, None], uvz[0], 1.0), K)
        depth_factor, track_error = _fit_track_depths(uv, seen, K, world_to_cam, points0)
        previous, static = static, usable & (track_error <= options.static_threshold_px)
        if np.array_equal(previous, static) and focal_now == refine_focal:
            break
    return world_to_cam, static, K, depth_factor, log_focal_std


def _fit_track_depths(uv, seen, K, world_to_cam, points0) -> tuple[np.ndarray, np.ndarray]:
    """Per track, the depth along its frame-0 ray that best explains its motion under the
    estimated cameras, and the median reprojection error there.

    The refinement moves only a subset of the tracks, and the video depth may be rough, so each
    track's depth is re-fitted before it is judged: the best of ``DEPTH_SEARCH_STEPS`` factors
    of its given depth within ``e^±MAX_DEPTH_LOG_STEP/2`` (a coarse 1D search, vectorised over
    tracks).

    Returns:
        ``factor (N,)`` (multiply ``points0`` by it) and ``median_error_px (N,)`` (inf for a
        track seen in no frame after 0).
    """
    factors = np.exp(np.linspace(-MAX_DEPTH_LOG_STEP / 2, MAX_DEPTH_LOG_STEP / 2, DEPTH_SEARCH_STEPS))
    best_error = np.full(uv.shape[1], np.inf)
    best_factor = np.ones(uv.shape[1])
    for factor in factors:
        errors = reprojection_errors(uv[1:], seen[1:], K, world_to_cam[1:], points0 * factor)
        median = _nan_median_per_track(errors)
        better = median < best_error
        best_error[better], best_factor[better] = median[better], factor
    return best_factor, best_error


def _nan_median_per_frame(errors: np.ndarray) -> np.ndarray:
    out = np.full(errors.shape[0], np.nan)
    has = np.isfinite(errors).any(1)
    out[has] = np.nanmedian(errors[has], axis=1)
    return out


def _nan_median_per_track(errors: np.ndarray) -> np.ndarray:
    out = np.full(errors.shape[1], np.inf)
    has = np.isfinite(errors).any(0)
    out[has] = np.nanmedian(errors[:, has], axis=0)
    return out


# --------------------------------------------------------------------------------------------
# Camera modes
# --------------------------------------------------------------------------------------------


def lift_to_world(
    points_cam: np.ndarray, source_cam_to_world: np.ndarray, static: Optional[np.ndarray] = None
) -> np.ndarray:
    """Each frame's camera-space points in world (= frame-0 camera space).

    Args:
        points_cam: ``(T, N, 3)`` points in the source camera of each frame.
        source_cam_to_world: ``(T, 4, 4)`` estimated source poses.
        static: optional ``(N,)`` bool; static points take their frame-0 position in every
            frame (their exact world position), free of per-frame depth noise.

    Returns:
        ``(T, N, 3)`` world points, in the points' floating dtype.
    """
    points_cam = np.asarray(points_cam)
    source_cam_to_world = np.asarray(source_cam_to_world, dtype=np.float64)
    if points_cam.ndim != 3 or points_cam.shape[-1] != 3 or source_cam_to_world.shape != (points_cam.shape[0], 4, 4):
        raise ValueError(
            f"points_cam must be (T, N, 3) and source_cam_to_world (T, 4, 4); got {points_cam.shape} and "
            f"{source_cam_to_world.shape}"
        )
    world = geometry.transform_points(source_cam_to_world, points_cam)
    if static is not None:
        static = np.asarray(static, dtype=bool)
        world[:, static] = geometry.transform_points(source_cam_to_world[0], points_cam[0, static])
    return world


def override_camera(
    points_cam: np.ndarray,
    source_cam_to_world: np.ndarray,
    new_world_to_cam: np.ndarray,
    static: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Replace the source camera by a new path: ``p'_t = W_t · C_t · p_t``.

    Args:
        points_cam: ``(T, N, 3)`` source camera-space points of each frame.
        source_cam_to_world: ``(T, 4, 4)`` estimated source poses ``C_t``.
        new_world_to_cam: ``(T, 4, 4)`` the new camera ``W_t`` — a camera motion already in the
            scene's units (``core.camera.scale_motion(parse_camera_motion(text), scene_scale)``).
        static: optional ``(N,)`` bool, see :func:`lift_to_world`.

    Returns:
        ``(T, N, 3)`` points in the new camera of each frame.
    """
    world = lift_to_world(points_cam, source_cam_to_world, static)
    return geometry.transform_points(np.asarray(new_world_to_cam, dtype=np.float64), world)


def stabilise_camera(
    points_cam: np.ndarray, source_cam_to_world: np.ndarray, static: Optional[np.ndarray] = None
) -> np.ndarray:
    """Override with a still camera (the frame-0 view): ``p'_t = C_t · p_t``. Shapes as
    :func:`override_camera`."""
    return lift_to_world(points_cam, source_cam_to_world, static)


def copy_camera(
    reference_cam_to_world: np.ndarray, reference_scene_scale: float, target_scene_scale: float
) -> np.ndarray:
    """A reference video's camera path as a camera motion for another scene (a photo).

    Rule: rotations are copied as they are; translations are multiplied by
    ``target_scene_scale / reference_scene_scale`` — the ratio of the two scenes' median
    frame-0 depths (:func:`core.camera.scene_scale`) — so the camera moves by the same fraction
    of the scene's depth as the reference camera did.

    Args:
        reference_cam_to_world: ``(T, 4, 4)`` estimated poses of the reference video.
        reference_scene_scale, target_scene_scale: median frame-0 depths (> 0).

    Returns:
        ``(T, 4, 4)`` ``world_to_cam`` motion ``M_t`` for the target, already in its units:
        apply it directly (``p_t = M_t · p_0``), do not scale it again.
    """
    for name, value in (("reference_scene_scale", reference_scene_scale), ("target_scene_scale", target_scene_scale)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    motion = geometry.se3_inverse(np.asarray(reference_cam_to_world, dtype=np.float64))
    motion[:, :3, 3] *= target_scene_scale / reference_scene_scale
    return motion
