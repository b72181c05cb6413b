"""Bundle adjustment of a video's camera poses, its static tracks' 3D points and, optionally,
the focal length, on the image (stage 2 of :func:`core.source_camera.estimate_source_poses`),
with the rotation helpers it needs.

Conventions (:mod:`core.geometry`): OpenCV camera axes; "world" is the camera space of frame 0;
``world_to_cam[t]`` maps world points into camera ``t``. Rotations are updated on the left,
``R ← exp(δω) R``, with axis-angle vectors in radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core import geometry

NEAR_DEPTH_FRACTION = 1e-3
"""During refinement, depths are kept above this fraction of the median depth (no division by 0)."""
REFINE_MAX_ITERATIONS = 50
REFINE_TOLERANCE = 1e-6
"""Refinement stops when an iteration lowers the cost by less than this fraction."""
REFINE_INITIAL_DAMPING = 1e-3
REFINE_MIN_DAMPING = 1e-9
REFINE_MAX_DAMPING = 1e9
REFINE_DAMPING_FACTOR = 4.0
"""Levenberg–Marquardt damping (relative to the normal matrix's diagonal) and its schedule."""
ROBUST_SIGMA_PER_MAD = 1.4826
"""Standard deviation of a normal distribution per unit of its median absolute deviation."""


# --------------------------------------------------------------------------------------------
# Rotations
# --------------------------------------------------------------------------------------------


def rotation_from_vector(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues: axis-angle vectors ``(..., 3)`` (radians) → rotation matrices ``(..., 3, 3)``."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(rotvec, axis=-1)[..., None, None]
    skew = _skew(rotvec)
    small = angle < 1e-8
    safe = np.where(small, 1.0, angle)
    # sin(a)/a and (1 - cos a)/a² with their limits 1 and 1/2 at a = 0.
    first = np.where(small, 1.0, np.sin(safe) / safe)
    second = np.where(small, 0.5, (1.0 - np.cos(safe)) / (safe * safe))
    return np.eye(3) + first * skew + second * (skew @ skew)


def vector_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rotation_from_vector` for angles below π: ``(..., 3, 3)`` → ``(..., 3)``."""
    rotation = np.asarray(rotation, dtype=np.float64)
    cosine = np.clip((np.trace(rotation, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cosine)
    axis = np.stack(
        [rotation[..., 2, 1] - rotation[..., 1, 2], rotation[..., 0, 2] - rotation[..., 2, 0], rotation[..., 1, 0] - rotation[..., 0, 1]],
        axis=-1,
    )
    sine = np.sin(angle)
    scale = np.where(sine < 1e-8, 0.5, angle / (2.0 * np.where(sine < 1e-8, 1.0, sine)))
    return axis * scale[..., None]


def rotation_angle_deg(rotation_a: np.ndarray, rotation_b: np.ndarray) -> np.ndarray:
    """Angle in degrees ``(...,)`` of the rotation taking ``rotation_b (..., 3, 3)`` to ``rotation_a``."""
    relative = np.swapaxes(np.asarray(rotation_b), -1, -2) @ np.asarray(rotation_a)
    cosine = np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    return np.degrees(np.arccos(cosine))


# --------------------------------------------------------------------------------------------
# Stage 2: refinement on the image (bundle adjustment over poses and frame-0 depths)
# --------------------------------------------------------------------------------------------


def reprojection_errors(
    uv: np.ndarray, seen: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray, points0: np.ndarray
) -> np.ndarray:
    """Pixel distance ``(T, N)`` between tracks and their frame-0 points seen by each camera
    (NaN where not seen or behind the camera).

    Args:
        uv: ``(T, N, 2)`` tracked positions; seen: ``(T, N)`` bool; K: ``(3, 3)``;
        world_to_cam: ``(T, 4, 4)``; points0: ``(N, 3)`` world (= frame-0 camera) points.
    """
    projected, in_front = geometry.project_points(geometry.transform_points(world_to_cam, points0), K)
    error = np.linalg.norm(projected[..., :2] - uv, axis=-1)
    return np.where(seen & in_front, error, np.nan)


def _skew(vectors: np.ndarray) -> np.ndarray:
    """Cross-product matrices ``(..., 3, 3)`` of ``(..., 3)`` vectors: ``skew(a) @ b = a × b``."""
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    zero = np.zeros_like(x)
    return np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)


def _sum_by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Sums of ``values (K, ...)`` grouped by ``index (K,)`` into ``(size, ...)`` (one bincount,
    much faster than ``np.add.at``)."""
    flat = values.reshape(values.shape[0], -1)
    width = flat.shape[1]
    slots = (index[:, None] * width + np.arange(width)).ravel()
    sums = np.bincount(slots, weights=flat.ravel(), minlength=size * width)
    return sums.reshape((size,) + values.shape[1:])


@dataclass(frozen=True)
class BundleAdjustment:
    """What :func:`bundle_adjust` found: ``world_to_cam (T, 4, 4)``, ``points (M, 3)`` (world), the
    focal length as a multiple of the given one, and the standard deviation of its logarithm
    (``NaN`` when the focal length was held fixed)."""

    world_to_cam: np.ndarray
    points: np.ndarray
    focal_scale: float
    log_focal_std: float


def bundle_adjust(
    uv: np.ndarray,
    seen: np.ndarray,
    K: np.ndarray,
    world_to_cam: np.ndarray,
    depth0: np.ndarray,
    *,
    refine_focal: bool,
    depth_prior_weight: float,
    focal_prior_weight: float,
    robust_scale_px: float,
) -> BundleAdjustment:
    """Bundle adjustment of the poses of frames 1…, the 3D position of ``M`` tracks and,
    with ``refine_focal``, the focal length.

    Levenberg–Marquardt on the normal equations, with the soft-L1 loss applied by iteratively
    reweighted least squares. Unknowns: a rotation increment and a translation per frame
    (``R ← exp(δω) R``, ``t ← t + δt``), each track's world point and a common log focal
    scale ``φ`` (``fx, fy ← e^φ fx, e^φ fy``; principal point fixed). Frame 0's observations
    count like the others (pinning points to their frame-0 rays would let the refinement
    explain frame-0 tracking noise by an invented baseline), and the frame-0 depth enters as a
    prior on ``log z``; ``φ`` has a weak prior towards 0 that only keeps the system regular.
    The points are eliminated (Schur complement of their 3×3 blocks), so the solved system is
    ``6 (T−1) (+1)`` square; its inverse at the solution gives the uncertainty of ``φ``.

    Args:
        uv: ``(T, M, 2)``; seen: ``(T, M)`` (all True in frame 0); world_to_cam: ``(T, 4, 4)``
        initial poses; depth0: ``(M,)`` frame-0 depth (the prior).
        refine_focal: make the focal length an unknown (else it stays ``K``'s).
        depth_prior_weight, focal_prior_weight, robust_scale_px: see
            :class:`core.source_camera.SourceCameraOptions`.
    """
    num_frames, num_points = seen.shape
    obs_frame, obs_point = np.nonzero(seen)
    target = uv[obs_frame, obs_point]
    prior_log_depth = np.log(depth0)
    given_focal = np.array([K[0, 0], K[1, 1]])
    centre = np.array([K[0, 2], K[1, 2]])
    min_depth = NEAR_DEPTH_FRACTION * float(np.median(depth0))
    num_pose = 6 * (num_frames - 1)
    num_global = num_pose + int(refine_focal)
    prior_weight = depth_prior_weight
    robust = robust_scale_px
    pose_obs = np.flatnonzero(obs_frame > 0)  # frame 0's pose is fixed (the world)
    pose_frame = obs_frame[pose_obs] - 1
    pose_index = 6 * pose_frame[:, None] + np.arange(6)  # (obs on frames ≥ 1, 6)
    point_index = 3 * obs_point[pose_obs][:, None] + np.arange(3)  # (same, 3)

    def evaluate(rotation, translation, points, log_focal):
        rotated = (rotation[obs_frame] @ points[obs_point][:, :, None])[:, :, 0]
        moved = rotated + translation[obs_frame]
        depth = np.maximum(moved[:, 2], min_depth)
        focal_term = given_focal * math.exp(log_focal) * moved[:, :2] / depth[:, None]  # (u, v) − centre
        residual = focal_term + centre - target
        squared = (residual**2).sum(-1) / robust**2
        log_depth = np.log(np.maximum(points[:, 2], min_depth))
        cost = robust**2 * 2.0 * (np.sqrt(1.0 + squared) - 1.0).sum()
        cost += ((prior_weight * (log_depth - prior_log_depth)) ** 2).sum()
        cost += (focal_prior_weight * log_focal) ** 2
        return cost, (rotated, moved, depth, focal_term, residual, squared)

    def linearise(rotation, points, log_focal, state):
        """Normal equations: point blocks ``(M, 3, 3)`` and gradients ``(M, 3)``, the global
        (poses, focal) block and gradient, and the cross terms ``(globals, 3M)``."""
        rotated, moved, depth, focal_term, residual, squared = state
        fx, fy = given_focal * math.exp(log_focal)
        weight = 1.0 / np.sqrt(1.0 + squared)  # soft-L1 as reweighted least squares
        inverse_depth = 1.0 / depth
        zero = np.zeros_like(depth)
        # d(u, v)/d(camera point): (obs, 2, 3).
        projection_jacobian = np.stack(
            [
                np.stack([fx * inverse_depth, zero, -fx * moved[:, 0] * inverse_depth**2], -1),
                np.stack([zero, fy * inverse_depth, -fy * moved[:, 1] * inverse_depth**2], -1),
            ],
            -2,
        )
        point_jacobian = projection_jacobian @ rotation[obs_frame]  # (obs, 2, 3)
        weighted_point_t = np.swapaxes(weight[:, None, None] * point_jacobian, 1, 2)
        # Point blocks D (M, 3, 3) and gradients, including the depth prior on log z.
        point_blocks = _sum_by(obs_point, weighted_point_t @ point_jacobian, num_points)
        point_gradient = _sum_by(obs_point, (weighted_point_t @ residual[:, :, None])[:, :, 0], num_points)
        point_depth = np.maximum(points[:, 2], min_depth)
        prior_residual = prior_weight * (np.log(point_depth) - prior_log_depth)
        prior_slope = prior_weight / point_depth  # d prior_residual / d z
        point_blocks[:, 2, 2] += prior_slope**2
        point_gradient[:, 2] += prior_slope * prior_residual
        # Pose blocks A, cross terms B (poses × points) and pose gradients.
        pose_jacobian = np.concatenate(
            [-projection_jacobian[pose_obs] @ _skew(rotated[pose_obs]), projection_jacobian[pose_obs]], axis=-1
        )  # (obs, 2, 6)
        weighted_pose_t = np.swapaxes(weight[pose_obs, None, None] * pose_jacobian, 1, 2)
        pose_blocks = _sum_by(pose_frame, weighted_pose_t @ pose_jacobian, num_frames - 1)
        global_normal = np.zeros((num_global, num_global))
        for frame in range(num_frames - 1):
            global_normal[6 * frame : 6 * frame + 6, 6 * frame : 6 * frame + 6] = pose_blocks[frame]
        cross = np.zeros((num_global, 3 * num_points))
        cross[pose_index[:, :, None], point_index[:, None, :]] = weighted_pose_t @ point_jacobian[pose_obs]
        global_gradient = np.zeros(num_global)
        global_gradient[:num_pose] = _sum_by(
            pose_frame, (weighted_pose_t @ residual[pose_obs][:, :, None])[:, :, 0], num_frames - 1
        ).ravel()
        if refine_focal:
            # d(u, v)/dφ = (u, v) − centre, for every observation (frame 0's too).
            weighted_focal = weight[:, None] * focal_term
            pose_focal = _sum_by(pose_frame, (weighted_pose_t @ focal_term[pose_obs][:, :, None])[:, :, 0], num_frames - 1)
            global_normal[-1, :num_pose] = global_normal[:num_pose, -1] = pose_focal.ravel()
            global_normal[-1, -1] = (weighted_focal * focal_term).sum() + focal_prior_weight**2
            cross[-1] = _sum_by(obs_point, (weighted_focal[:, None, :] @ point_jacobian)[:, 0], num_points).ravel()
            global_gradient[-1] = (weighted_focal * residual).sum() + focal_prior_weight**2 * log_focal
        return point_blocks, point_gradient, global_normal, cross, global_gradient

    def reduce(point_blocks, global_normal, cross, damping):
        """Schur complement ``A − B D⁻¹ Bᵀ`` (damped) and ``B D⁻¹``, without forming ``D⁻¹`` densely."""
        point_diagonal = np.maximum(np.diagonal(point_blocks, axis1=1, axis2=2), 1e-12)
        inverse_points = np.linalg.inv(point_blocks + damping * point_diagonal[:, :, None] * np.eye(3))  # (M, 3, 3)
        cross_by_point = np.swapaxes(cross.reshape(num_global, num_points, 3), 0, 1)  # (M, globals, 3)
        cross_scaled = np.swapaxes(cross_by_point @ inverse_points, 0, 1).reshape(num_global, 3 * num_points)
        global_diagonal = np.maximum(np.diag(global_normal), 1e-12)
        reduced = global_normal + damping * np.diag(global_diagonal) - cross_scaled @ cross.T
        return reduced, cross_scaled, inverse_points

    rotation = world_to_cam[:, :3, :3].copy()
    translation = world_to_cam[:, :3, 3].copy()
    points = geometry.unproject_uvz(np.concatenate([uv[0], depth0[:, None]], axis=-1), K)
    log_focal = 0.0
    cost, state = evaluate(rotation, translation, points, log_focal)
    damping = REFINE_INITIAL_DAMPING
    for _ in range(REFINE_MAX_ITERATIONS):
        point_blocks, point_gradient, global_normal, cross, global_gradient = linearise(rotation, points, log_focal, state)
        while True:
            reduced, cross_scaled, inverse_points = reduce(point_blocks, global_normal, cross, damping)
            global_step = np.linalg.solve(reduced, -(global_gradient - cross_scaled @ point_gradient.ravel()))
            point_rhs = -(point_gradient.ravel() + cross.T @ global_step).reshape(num_points, 3)
            point_step = (inverse_points @ point_rhs[:, :, None])[:, :, 0]
            poses_step = global_step[:num_pose].reshape(num_frames - 1, 6)
            new_rotation = rotation.copy()
            new_rotation[1:] = rotation_from_vector(poses_step[:, :3]) @ rotation[1:]
            new_translation = translation.copy()
            new_translation[1:] += poses_step[:, 3:]
            new_points = points + point_step
            new_log_focal = log_focal + (float(global_step[-1]) if refine_focal else 0.0)
            trial_cost, trial_state = evaluate(new_rotation, new_translation, new_points, new_log_focal)
            if trial_cost < cost:
                improvement = (cost - trial_cost) / max(cost, 1e-12)
                rotation, translation, points, log_focal = new_rotation, new_translation, new_points, new_log_focal
                cost, state = trial_cost, trial_state
                damping = max(damping / REFINE_DAMPING_FACTOR, REFINE_MIN_DAMPING)
                break
            damping *= REFINE_DAMPING_FACTOR
            if damping > REFINE_MAX_DAMPING:
                improvement = 0.0
                break
        if improvement < REFINE_TOLERANCE:
            break
    log_focal_std = math.nan
    if refine_focal:
        # Marginal variance of φ: (reduced⁻¹)_φφ times the pixel noise, both at the solution.
        point_blocks, _, global_normal, cross, _ = linearise(rotation, points, log_focal, state)
        reduced, _, _ = reduce(point_blocks, global_normal, cross, 0.0)
        noise_px = ROBUST_SIGMA_PER_MAD * float(np.median(np.abs(state[4])))
        unit = np.zeros(num_global)
        unit[-1] = 1.0
        try:
            variance = float(np.linalg.solve(reduced, unit)[-1])
        except np.linalg.LinAlgError:
            variance = math.inf
        log_focal_std = noise_px * math.sqrt(variance) if variance > 0 else math.inf
    return BundleAdjustment(geometry.make_se3(rotation, translation), points, math.exp(log_focal), log_focal_std)
