"""Export a frame-0 point cloud for 3D viewers (``gr.Model3D``, Blender, MeshLab).

Points are written in the viewers' convention (glTF / PLY: +y up, the camera looking down
−z), i.e. our OpenCV camera space (+y down, +z forward, SPEC §3) with y and z negated, so the
scene appears upright and seen from the front.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import UserError

MAX_EXPORT_POINTS = 200_000
"""Clouds larger than this are subsampled: browsers' 3D viewers stay responsive below it."""
EXPORT_FORMATS = (".glb", ".ply")
OPENCV_TO_VIEWER = np.array([1.0, -1.0, -1.0], dtype=np.float32)
"""Per-axis sign flip from OpenCV camera axes to glTF/PLY viewer axes."""
SUBSAMPLE_SEED = 0
"""Fixed so exporting the same cloud twice writes the same file."""


class ExportError(UserError):
    """The cloud or the path cannot be exported; the message says why."""


def subsample(
    points: np.ndarray, colors: np.ndarray, max_points: int = MAX_EXPORT_POINTS, seed: int = SUBSAMPLE_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` finite points ``(M, 3)`` with their colours ``(M, 3)``, chosen
    uniformly at random (reproducibly), keeping their original order."""
    points = np.asarray(points, dtype=np.float32)
    colors = np.asarray(colors, dtype=np.uint8)
    finite = np.isfinite(points).all(axis=1)
    points, colors = points[finite], colors[finite]
    if len(points) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(points), size=max_points, replace=False))
        points, colors = points[keep], colors[keep]
    return points, colors


def export_point_cloud(points: np.ndarray, colors: np.ndarray, path: str | Path, *, max_points: int = MAX_EXPORT_POINTS) -> Path:
    """Write a coloured point cloud as ``.glb`` (for ``gr.Model3D``) or ``.ply``.

    Args:
        points: ``(N, 3)`` camera-space points (OpenCV axes).
        colors: ``(N, 3)`` uint8 RGB.
        path: output file; the suffix picks the format (:data:`EXPORT_FORMATS`).
        max_points: subsample above this many points (see :func:`subsample`).

    Returns:
        The written path.

    Raises:
        ExportError: unknown suffix, mismatched shapes, or no finite point.
    """
    import trimesh

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ExportError(f"point clouds are exported as {' or '.join(EXPORT_FORMATS)}, not {suffix or 'no suffix'!r}")
    points = np.asarray(points)
    colors = np.asarray(colors)
    if points.ndim != 2 or points.shape[1] != 3 or colors.shape != points.shape:
        raise ExportError(f"need points (N, 3) and colours (N, 3); got {points.shape} and {colors.shape}")
    points, colors = subsample(points, colors, max_points)
    if len(points) == 0:
        raise ExportError("the point cloud has no finite point to export")
    alpha = np.full((len(colors), 1), 255, dtype=np.uint8)
    cloud = trimesh.PointCloud(points * OPENCV_TO_VIEWER, colors=np.concatenate([colors, alpha], axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    data = cloud.export(file_type=suffix.lstrip("."))
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path
