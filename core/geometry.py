"""Camera geometry shared by every recipe: intrinsics, (un)projection and rigid transforms.

Conventions (SPEC §3), stated once for the whole project:

- **Camera space is OpenCV's**: +x right, +y down, +z forward. ``z`` is the depth along the
  optical axis and is > 0 in front of the camera.
- **Pixels**: ``u`` runs along the width, ``v`` along the height, in continuous pixel units.
  The centre of pixel (row ``r``, column ``c``) is ``(u, v) = (c + 0.5, r + 0.5)``, so a point
  at ``(u, v)`` lands in pixel ``(floor(v), floor(u))``. Intrinsics ``K`` are 3×3, in pixels.
- **4×4 transforms** are named by direction (``world_to_cam``, ``cam_to_world``) and act on
  column vectors: ``p' = M @ [p, 1]``. For single-image tasks "world" is the camera space of
  frame 0.
- **Shapes**: points are ``(..., N, 3)``; tracks ``uvz`` are ``(..., N, 3)`` holding
  ``(u, v, z)``; per-frame matrices are ``(..., 4, 4)`` and broadcast against the points'
  leading dimensions. All functions are vectorised; none loops over points in Python.

Arrays keep the floating dtype they are given (float32 for clouds, float64 for matrices).
"""

from __future__ import annotations

import math

import numpy as np

from core.defaults import FOV_DEG as DEFAULT_FOV_DEG


# --------------------------------------------------------------------------------------------
# Intrinsics
# --------------------------------------------------------------------------------------------


def intrinsics_from_focal(width: int, height: int, focal_px: float, focal_y_px: float | None = None) -> np.ndarray:
    """Pinhole intrinsics with the principal point at the image centre.

    Args:
        width, height: image size in pixels.
        focal_px: horizontal focal length ``fx`` in pixels.
        focal_y_px: vertical focal length ``fy`` in pixels (defaults to ``fx``: square pixels).

    Returns:
        ``K`` (3, 3) float64: ``[[fx, 0, W/2], [0, fy, H/2], [0, 0, 1]]``.
    """
    if focal_px <= 0 or (focal_y_px is not None and focal_y_px <= 0):
        raise ValueError(f"focal length must be positive, got {focal_px}, {focal_y_px}")
    fy = focal_px if focal_y_px is None else focal_y_px
    return np.array(
        [[focal_px, 0.0, width / 2.0], [0.0, fy, height / 2.0], [0.0, 0.0, 1.0]], dtype=np.float64
    )


def intrinsics_from_fov(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """Pinhole intrinsics from a horizontal field of view (degrees), as DaS builds them.

    ``fx = fy = (W / 2) / tan(fov / 2)``, principal point at the image centre.

    Returns:
        ``K`` (3, 3) float64.
    """
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    focal = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    return intrinsics_from_focal(width, height, focal)


def fov_from_intrinsics(K: np.ndarray, width: int) -> float:
    """Horizontal field of view in degrees of intrinsics ``K`` (3, 3) for an image ``width`` px wide."""
    return math.degrees(2.0 * math.atan((width / 2.0) / float(K[0, 0])))


def scale_intrinsics(K: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """Intrinsics after resizing the image by ``scale_x`` along u and ``scale_y`` along v.

    With pixel centres at +0.5 a pure resize scales the principal point and focal lengths alike.
    """
    scaled = np.array(K, dtype=np.float64, copy=True)
    scaled[..., 0, :] *= scale_x
    scaled[..., 1, :] *= scale_y
    return scaled


# --------------------------------------------------------------------------------------------
# Pixel grids, projection and unprojection
# --------------------------------------------------------------------------------------------


def pixel_grid(height: int, width: int, dtype=np.float32) -> np.ndarray:
    """Continuous coordinates of every pixel centre.

    Returns:
        ``(H, W, 2)`` array with ``[r, c] = (c + 0.5, r + 0.5)`` i.e. ``(u, v)``.
    """
    u = np.arange(width, dtype=dtype) + 0.5
    v = np.arange(height, dtype=dtype) + 0.5
    uu, vv = np.meshgrid(u, v)
    return np.stack([uu, vv], axis=-1)


def unproject_uvz(uvz: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Lift pixel tracks back to camera space.

    Args:
        uvz: ``(..., N, 3)`` — ``u, v`` in pixels and ``z`` the camera-space depth.
        K: intrinsics ``(3, 3)`` or per-frame ``(..., 3, 3)`` broadcasting over ``uvz[..., 0, 0]``.

    Returns:
        Camera-space points ``(..., N, 3)`` with ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``.
    """
    uvz = np.asarray(uvz)
    K = np.asarray(K)
    fx, fy = K[..., 0, 0, None], K[..., 1, 1, None]
    cx, cy = K[..., 0, 2, None], K[..., 1, 2, None]
    z = uvz[..., 2]
    x = (uvz[..., 0] - cx) * z / fx
    y = (uvz[..., 1] - cy) * z / fy
    return np.stack([x, y, z], axis=-1).astype(uvz.dtype, copy=False)


def unproject_depth(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-space point of every pixel of a depth map.

    Args:
        depth: ``(..., H, W)`` camera-space depth (z, not ray length), > 0.
        K: intrinsics ``(3, 3)`` (or ``(..., 3, 3)`` matching the leading dims of ``depth``).

    Returns:
        ``(..., H, W, 3)`` points in camera space (OpenCV convention), same dtype as ``depth``.
    """
    depth = np.asarray(depth)
    height, width = depth.shape[-2:]
    dtype = depth.dtype if np.issubdtype(depth.dtype, np.floating) else np.dtype(np.float32)
    grid = pixel_grid(height, width, dtype=dtype)
    uvz = np.concatenate(
        [np.broadcast_to(grid, depth.shape + (2,)), depth[..., None].astype(grid.dtype)], axis=-1
    )
    flat = uvz.reshape(depth.shape[:-2] + (height * width, 3))
    K = np.asarray(K)
    return unproject_uvz(flat, K).reshape(depth.shape + (3,))


def project_points(points: np.ndarray, K: np.ndarray, min_depth: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Project camera-space points to pixel tracks.

    Args:
        points: ``(..., N, 3)`` camera-space points.
        K: intrinsics ``(3, 3)`` or ``(..., 3, 3)`` broadcasting over the points' leading dims.
        min_depth: points with ``z <= min_depth`` are behind (or on) the camera.

    Returns:
        ``uvz`` ``(..., N, 3)`` (pixels, pixels, depth) and ``in_front`` ``(..., N)`` bool.
        For points not in front, ``u`` and ``v`` are NaN (they have no meaningful projection).
    """
    points = np.asarray(points)
    K = np.asarray(K)
    z = points[..., 2]
    in_front = z > min_depth
    safe_z = np.where(in_front, z, np.ones_like(z))
    fx, fy = K[..., 0, 0, None], K[..., 1, 1, None]
    cx, cy = K[..., 0, 2, None], K[..., 1, 2, None]
    u = np.where(in_front, points[..., 0] * fx / safe_z + cx, np.nan)
    v = np.where(in_front, points[..., 1] * fy / safe_z + cy, np.nan)
    uvz = np.stack([u, v, z], axis=-1).astype(points.dtype, copy=False)
    return uvz, in_front


def uv_in_frame(uv: np.ndarray, height: int, width: int) -> np.ndarray:
    """Which pixel positions lie inside the image.

    Args:
        uv: ``(..., N, 2)`` positions (``(..., N, 3)`` tracks also work; ``z`` is ignored).

    Returns:
        ``(..., N)`` bool: ``0 <= u < W`` and ``0 <= v < H`` (NaN counts as outside).
    """
    uv = np.asarray(uv)
    u, v = uv[..., 0], uv[..., 1]
    with np.errstate(invalid="ignore"):
        return (u >= 0) & (u < width) & (v >= 0) & (v < height)


def in_frame(uvz: np.ndarray, height: int, width: int) -> np.ndarray:
    """Which tracks land inside the image and in front of the camera.

    Args:
        uvz: ``(..., N, 3)`` tracks.

    Returns:
        ``(..., N)`` bool: ``0 <= u < W``, ``0 <= v < H`` and ``z > 0`` (NaN counts as outside).
    """
    uvz = np.asarray(uvz)
    with np.errstate(invalid="ignore"):
        return uv_in_frame(uvz, height, width) & (uvz[..., 2] > 0)


def sample_nearest(maps: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Values of one map, or of per-frame maps, at the pixel each continuous position falls in.

    A point at ``(u, v)`` lies in pixel ``(floor(v), floor(u))`` (pixel ``(r, c)`` covers
    ``[c, c+1) × [r, r+1)``). Reading one pixel rather than interpolating keeps a depth edge
    sharp: a blend of a near and a far pixel would be a point floating between two surfaces.

    Args:
        maps: ``(H, W)`` one map, or ``(T, H, W)`` one map per frame; any dtype (depth, masks).
        uv: ``(N, 2)`` positions for one map, ``(T, N, 2)`` for per-frame maps (``(..., 3)``
            tracks also work). Positions outside the frame or non-finite are clamped to the
            border; use :func:`uv_in_frame` to leave them out instead.

    Returns:
        ``(N,)`` or ``(T, N)`` values, in the dtype of ``maps``.
    """
    maps = np.asarray(maps)
    uv = np.asarray(uv, dtype=np.float64)
    height, width = maps.shape[-2:]
    column = np.clip(np.floor(np.nan_to_num(uv[..., 0], nan=0.0)), 0, width - 1).astype(np.int64)
    row = np.clip(np.floor(np.nan_to_num(uv[..., 1], nan=0.0)), 0, height - 1).astype(np.int64)
    if maps.ndim == 2:
        return maps[row, column]
    if maps.ndim != 3 or uv.ndim != 3 or uv.shape[0] != maps.shape[0]:
        raise ValueError(f"per-frame maps (T, H, W) need positions (T, N, 2), got {maps.shape} and {uv.shape}")
    return maps[np.arange(maps.shape[0])[:, None], row, column]


# --------------------------------------------------------------------------------------------
# Rigid transforms (SE(3))
# --------------------------------------------------------------------------------------------


def make_se3(rotation: np.ndarray | None = None, translation: np.ndarray | None = None) -> np.ndarray:
    """Stack a rotation ``(..., 3, 3)`` and a translation ``(..., 3)`` into ``(..., 4, 4)`` matrices."""
    rotation = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    translation = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64)
    batch = np.broadcast_shapes(rotation.shape[:-2], translation.shape[:-1])
    out = np.zeros(batch + (4, 4), dtype=np.float64)
    out[..., :3, :3] = rotation
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1.0
    return out


def se3_inverse(transform: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms ``(..., 4, 4)``: ``[R, t]^-1 = [R^T, -R^T t]``.

    Exact for rotations; use ``np.linalg.inv`` for transforms with scale or shear.
    """
    transform = np.asarray(transform, dtype=np.float64)
    rot_t = np.swapaxes(transform[..., :3, :3], -1, -2)
    trans = -np.einsum("...ij,...j->...i", rot_t, transform[..., :3, 3])
    return make_se3(rot_t, trans)


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply 4×4 transforms to points: ``p' = R p + t``.

    Args:
        transform: ``(..., 4, 4)``; its leading dims broadcast against ``points[..., 0, 0]``
            (e.g. ``(T, 4, 4)`` with points ``(N, 3)`` gives ``(T, N, 3)``).
        points: ``(..., N, 3)``.

    Returns:
        ``(..., N, 3)`` transformed points, in the points' floating dtype.
    """
    points = np.asarray(points)
    transform = np.asarray(transform)
    dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.dtype(np.float32)
    rot_t = np.swapaxes(transform[..., :3, :3], -1, -2).astype(dtype, copy=False)  # (..., 3, 3)
    trans = transform[..., None, :3, 3].astype(dtype, copy=False)  # (..., 1, 3)
    # (N, 3) @ R^T is one BLAS product per frame, far faster than N tiny 3×3 products.
    return (np.matmul(points.astype(dtype, copy=False), rot_t) + trans).astype(dtype, copy=False)


def transform_and_project(points: np.ndarray, world_to_cam: np.ndarray, K: np.ndarray, min_depth: float = 1e-6) -> np.ndarray:
    """``uvz`` of ``p_t = M_t · p`` for every frame, computed one frame at a time.

    Equals ``project_points(transform_points(world_to_cam, points), K)[0]`` (float32 rounding
    aside) without its ``(T, N, 3)`` float64-sized intermediates: a dense cloud has a point per
    pixel (345,600 at 480×720), and 49 frames of intermediates would take ~1 GB.

    Args:
        points: ``(N, 3)`` one cloud for every frame, or ``(T, N, 3)`` per-frame points.
        world_to_cam: ``(T, 4, 4)`` rigid transforms.
        K: ``(3, 3)`` intrinsics.
        min_depth: points with ``z <= min_depth`` are behind the camera.

    Returns:
        ``(T, N, 3)`` float32 ``(u, v, z)``; ``u, v`` are NaN for points not in front.
    """
    points = np.asarray(points, dtype=np.float32)
    world_to_cam = np.asarray(world_to_cam, dtype=np.float64)
    num_frames = world_to_cam.shape[0]
    if points.ndim == 3 and points.shape[0] != num_frames:
        raise ValueError(f"points have {points.shape[0]} frames but the transforms have {num_frames}")
    fx, fy, cx, cy = (np.float32(value) for value in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
    static_rows = np.ascontiguousarray(points.T) if points.ndim == 2 else None
    uvz = np.empty((num_frames, points.shape[-2], 3), dtype=np.float32)
    for frame in range(num_frames):  # a loop over frames, not points: each step is vectorised
        rows = static_rows if static_rows is not None else np.ascontiguousarray(points[frame].T)
        moved = world_to_cam[frame, :3, :3].astype(np.float32) @ rows
        moved += world_to_cam[frame, :3, 3].astype(np.float32)[:, None]
        depth = moved[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.float32(1.0) / depth
        inverse[~(depth > min_depth)] = np.nan
        moved[0] *= inverse * fx
        moved[0] += cx
        moved[1] *= inverse * fy
        moved[1] += cy
        uvz[frame] = moved.T
    return uvz


def rotation_about_axis(axis: str, degrees: float | np.ndarray) -> np.ndarray:
    """Right-handed rotation matrices about a camera axis, ``(..., 3, 3)``.

    With OpenCV axes, a positive angle about ``y`` turns +z towards +x (rotation of points),
    the same matrices DaS's ``rot_poses`` builds.
    """
    theta = np.radians(np.asarray(degrees, dtype=np.float64))
    c, s = np.cos(theta), np.sin(theta)
    one, zero = np.ones_like(theta), np.zeros_like(theta)
    if axis == "x":
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == "y":
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    elif axis == "z":
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    else:
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def rotation_about_point(rotation: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Transforms ``(..., 4, 4)`` that rotate by ``rotation (..., 3, 3)`` about ``center (..., 3)``.

    ``p' = R (p - c) + c``, i.e. translation ``c - R c``.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    center = np.asarray(center, dtype=np.float64)
    trans = center - np.einsum("...ij,...j->...i", rotation, center)
    return make_se3(rotation, trans)


def look_at_rotation(camera_position: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 1.0, 0.0)) -> np.ndarray:
    """Rotation ``(..., 3, 3)`` whose columns are the right, up and forward axes of a camera at
    ``camera_position (..., 3)`` looking at ``target (..., 3)`` (forward = +z, OpenCV-style)."""
    forward = np.asarray(target, dtype=np.float64) - np.asarray(camera_position, dtype=np.float64)
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    up = np.broadcast_to(np.asarray(up, dtype=np.float64), forward.shape)
    right = np.cross(up, forward)
    right = right / np.linalg.norm(right, axis=-1, keepdims=True)
    true_up = np.cross(forward, right)
    return np.stack([right, true_up, forward], axis=-1)


def camera_centers(world_to_cam: np.ndarray) -> np.ndarray:
    """Camera centres in world coordinates ``(..., 3)`` of rigid ``world_to_cam (..., 4, 4)``."""
    return se3_inverse(world_to_cam)[..., :3, 3]
