"""A textured 3D scene with known geometry, rendered to video along a known camera path.

Used to measure source-camera estimation (``core.source_camera``): every frame comes with its
true depth, the true ``cam_to_world`` pose and the mask of an independently moving object, so
estimated poses and tracks can be compared with exact answers.

The scene (world = the camera space of frame 0, OpenCV axes: +x right, +y down, +z forward):
a ground plane below the camera, a back wall and a side wall, three static boxes, a thin pole
close to the camera that occludes the background as the camera moves, and one box that slides
and turns on its own. Surfaces are textured with photographs from ``skimage.data`` so a point
tracker finds texture everywhere.

Rendering is per-pixel ray casting against rectangles, vectorised with numpy (a loop over
frames and faces, never over pixels). Colour is supersampled (``supersample²`` rays a pixel,
box-filtered) to avoid texture aliasing; depth, object ids and masks are exact at pixel centres.

Usage from the repository root::

    from bench.synthetic_scene import render_synthetic_video
    video = render_synthetic_video(num_frames=49, height=96, width=144)
    video.frames, video.depth, video.K, video.cam_to_world, video.moving_mask

    python -m bench.synthetic_scene --height 480 --width 720   # timing at the working size

Speed (measured 2026-11-29 on the 2-core container shared with other jobs, supersample 2):
49×96×144 in 3–7 s; 480×720 about 6 s a frame (about 5 min for 49 frames; ``--supersample 1``
is about four times faster).
"""

from __future__ import annotations

import argparse
import functools
import time
from dataclasses import dataclass

import numpy as np

from core import geometry

DEFAULT_NUM_FRAMES = 49
DEFAULT_HEIGHT = 96
DEFAULT_WIDTH = 144
DEFAULT_FOV_DEG = 60.0
DEFAULT_SUPERSAMPLE = 2
NEAR_PLANE = 1e-3
"""Ray parameters (camera depths) below this are behind or at the camera."""
TEXTURE_TILE_METRES = 1.5
"""World size of one copy of a texture photo on a surface (smaller = finer texture)."""
BACKGROUND_RGB = (40, 40, 40)
"""Colour of rays that hit nothing (kept out of view by the walls for the default paths)."""
VISIBILITY_DEPTH_TOLERANCE = 0.02
"""A track is visible when its depth is within this fraction of the rendered depth there."""
STATIC_OBJECT_ID = 0
MOVING_OBJECT_ID = 1
NO_HIT_ID = -1

# Scene layout, in metres (frame-0 camera at the origin, looking along +z; +y is down).
GROUND_Y = 1.5
WALL_Z = 12.0
SIDE_WALL_X = -6.0
SCENE_HALF_WIDTH = 12.0
SCENE_TOP_Y = -8.0
STATIC_BOXES = (  # (centre xyz, size xyz, texture index)
    ((-1.6, 0.9, 6.0), (1.2, 1.2, 1.2), 1),
    ((2.2, 0.5, 8.0), (2.0, 2.0, 2.0), 2),
    ((-0.2, 1.1, 9.5), (1.6, 0.8, 1.6), 3),
)
POLE = ((0.9, -0.5, 3.5), (0.18, 4.0, 0.18), 3)
"""A thin pole near the camera: it occludes the background differently as the camera moves."""
MOVING_BOX_SIZE = (0.9, 0.9, 0.9)
MOVING_BOX_START = np.array([-1.0, 1.05, 4.8])
MOVING_BOX_TRAVEL = np.array([2.2, 0.0, 0.6])
"""How far the moving box slides over the clip (metres), on top of its start position."""
MOVING_BOX_TURN_DEG = 60.0
"""How far the moving box turns about the vertical axis over the clip."""

# The default camera path: a smooth curve moving right, forward and slightly up while yawing
# and pitching (a hand-held-like dolly). Values are reached at the last frame.
PATH_TRANSLATION = np.array([0.9, -0.25, 1.1])
PATH_CURVE = np.array([-0.3, 0.15, 0.0])
"""A lateral bow added mid-path (sin(π s)) so the translation direction changes over time."""
PATH_YAW_DEG = -10.0
PATH_PITCH_DEG = 4.0
PATH_ROLL_DEG = 2.0

TRACK_NOISE_PX = 0.3
DEPTH_NOISE = 0.01
"""Noise :func:`noisy_tracks` adds: pixels (normal) and a fraction of the depth (normal)."""
DIRECTION_MIN_TRAVEL = 0.25
"""Translation direction is scored on frames whose camera has travelled at least this share of
its largest distance from frame 0 (the direction of a near-zero translation is noise)."""


def _texture_bank() -> tuple[np.ndarray, ...]:
    """Photographs used as textures, as float32 ``(h, w, 3)`` arrays in [0, 255]."""
    from skimage import data

    images = (data.astronaut(), data.coffee(), data.chelsea(), data.rocket())
    return tuple(np.asarray(image, dtype=np.float32)[..., :3] for image in images)


@functools.lru_cache(maxsize=1)
def _textures() -> tuple[np.ndarray, ...]:
    return _texture_bank()


@dataclass(frozen=True)
class Face:
    """A textured rectangle ``origin + s · edge_s + r · edge_r`` for ``s, r ∈ [0, 1]``."""

    origin: np.ndarray
    edge_s: np.ndarray
    edge_r: np.ndarray
    texture: int
    object_id: int

    def transformed(self, transform: np.ndarray) -> "Face":
        """The face moved by a rigid ``(4, 4)`` transform."""
        rotation, translation = transform[:3, :3], transform[:3, 3]
        return Face(
            rotation @ self.origin + translation, rotation @ self.edge_s, rotation @ self.edge_r, self.texture, self.object_id
        )


def _rectangle(origin, edge_s, edge_r, texture: int, object_id: int = STATIC_OBJECT_ID) -> Face:
    return Face(np.asarray(origin, float), np.asarray(edge_s, float), np.asarray(edge_r, float), texture, object_id)


def box_faces(center, size, texture: int, object_id: int = STATIC_OBJECT_ID) -> list[Face]:
    """The six faces of an axis-aligned box of ``size`` (x, y, z) about ``center``."""
    center, size = np.asarray(center, float), np.asarray(size, float)
    low = center - size / 2
    ex, ey, ez = np.diag(size)
    faces = []
    for axis, (edge_s, edge_r) in enumerate(((ey, ez), (ex, ez), (ex, ey))):
        offset = np.diag(size)[axis]
        faces.append(_rectangle(low, edge_s, edge_r, texture, object_id))
        faces.append(_rectangle(low + offset, edge_s, edge_r, texture, object_id))
    return faces


def static_faces() -> list[Face]:
    """Ground, back wall, side wall, static boxes and the pole."""
    width = 2 * SCENE_HALF_WIDTH
    faces = [
        _rectangle((-SCENE_HALF_WIDTH, GROUND_Y, -2.0), (width, 0, 0), (0, 0, WALL_Z + 2.0), 0),
        _rectangle((-SCENE_HALF_WIDTH, SCENE_TOP_Y, WALL_Z), (width, 0, 0), (0, GROUND_Y - SCENE_TOP_Y, 0), 2),
        _rectangle((SIDE_WALL_X, SCENE_TOP_Y, -2.0), (0, 0, WALL_Z + 2.0), (0, GROUND_Y - SCENE_TOP_Y, 0), 1),
    ]
    for center, size, texture in STATIC_BOXES + (POLE,):
        faces.extend(box_faces(center, size, texture))
    return faces


def on_pole(points_world: np.ndarray, tolerance: float = 1e-3) -> np.ndarray:
    """``(..., N)`` bool: which world points (``(..., N, 3)``) lie on the pole (:data:`POLE`),
    the thin static occluder near the camera, within ``tolerance`` metres."""
    centre, size, _ = POLE
    offset = np.abs(np.asarray(points_world, dtype=np.float64) - np.asarray(centre))
    return np.all(offset <= np.asarray(size) / 2 + tolerance, axis=-1)


def moving_object_to_world(num_frames: int) -> np.ndarray:
    """``(T, 4, 4)`` pose of the moving box: it slides along ``MOVING_BOX_TRAVEL`` and turns."""
    progress = np.linspace(0.0, 1.0, num_frames)
    rotation = geometry.rotation_about_axis("y", MOVING_BOX_TURN_DEG * progress)
    translation = MOVING_BOX_START + progress[:, None] * MOVING_BOX_TRAVEL
    return geometry.make_se3(rotation, translation)


def default_camera_path(num_frames: int) -> np.ndarray:
    """``(T, 4, 4)`` ``cam_to_world`` of the default path (frame 0 = identity)."""
    progress = np.linspace(0.0, 1.0, num_frames)
    centres = progress[:, None] * PATH_TRANSLATION + np.sin(np.pi * progress)[:, None] * PATH_CURVE
    rotation = (
        geometry.rotation_about_axis("y", PATH_YAW_DEG * progress)
        @ geometry.rotation_about_axis("x", PATH_PITCH_DEG * progress)
        @ geometry.rotation_about_axis("z", PATH_ROLL_DEG * progress)
    )
    return geometry.make_se3(rotation, centres)


def rotation_camera_path(num_frames: int, yaw_deg: float = 12.0, pitch_deg: float = -3.0) -> np.ndarray:
    """``(T, 4, 4)`` ``cam_to_world`` of a camera that only turns (pan and tilt, no travel)."""
    progress = np.linspace(0.0, 1.0, num_frames)
    rotation = geometry.rotation_about_axis("y", yaw_deg * progress) @ geometry.rotation_about_axis("x", pitch_deg * progress)
    return geometry.make_se3(rotation, None)


@dataclass
class SyntheticVideo:
    """A rendered clip and its exact answers.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8.
        depth: ``(T, H, W)`` float32 camera-space depth at pixel centres.
        object_id: ``(T, H, W)`` int8: 0 static, 1 the moving box, -1 nothing hit.
        K: ``(3, 3)`` intrinsics.
        cam_to_world: ``(T, 4, 4)`` true camera poses (OpenCV axes; frame 0 = identity).
        object_to_world: ``(T, 4, 4)`` pose of the moving box (its local frame → world).
    """

    frames: np.ndarray
    depth: np.ndarray
    object_id: np.ndarray
    K: np.ndarray
    cam_to_world: np.ndarray
    object_to_world: np.ndarray

    @property
    def moving_mask(self) -> np.ndarray:
        """``(T, H, W)`` bool: pixels showing the moving box."""
        return self.object_id == MOVING_OBJECT_ID

    @property
    def world_to_cam(self) -> np.ndarray:
        return geometry.se3_inverse(self.cam_to_world)

    def true_tracks(self, uv0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact tracks of frame-0 pixel positions.

        Args:
            uv0: ``(N, 2)`` positions in frame 0 (pixels, SPEC §3).

        Returns:
            ``uvz (T, N, 3)`` float32 (the true position and camera depth in every frame, also
            where hidden), ``visible (T, N)`` bool (in frame and not occluded), ``moving (N,)``
            bool (on the moving box).
        """
        uv0 = np.asarray(uv0, dtype=np.float64)
        height, width = self.depth.shape[1:]
        column = np.clip(np.floor(uv0[:, 0]).astype(int), 0, width - 1)
        row = np.clip(np.floor(uv0[:, 1]).astype(int), 0, height - 1)
        z0 = self.depth[0, row, column].astype(np.float64)
        moving = self.object_id[0, row, column] == MOVING_OBJECT_ID
        world0 = geometry.transform_points(self.cam_to_world[0], geometry.unproject_uvz(np.column_stack([uv0, z0]), self.K))
        # A point on the box keeps its box coordinates: world_t = object_to_world_t · local.
        local = geometry.transform_points(geometry.se3_inverse(self.object_to_world[0]), world0)
        world = np.broadcast_to(world0, (len(self.depth),) + world0.shape).copy()
        world[:, moving] = geometry.transform_points(self.object_to_world, local[moving])
        uvz, _ = geometry.project_points(geometry.transform_points(self.world_to_cam, world), self.K)
        inside = geometry.in_frame(uvz, height, width)
        frames = np.arange(len(self.depth))[:, None]
        seen_column = np.clip(np.floor(np.nan_to_num(uvz[..., 0])).astype(int), 0, width - 1)
        seen_row = np.clip(np.floor(np.nan_to_num(uvz[..., 1])).astype(int), 0, height - 1)
        rendered = self.depth[frames, seen_row, seen_column]
        unoccluded = np.abs(uvz[..., 2] - rendered) <= VISIBILITY_DEPTH_TOLERANCE * rendered
        return uvz.astype(np.float32), inside & unoccluded, moving


def _cast(
    ray_origin: np.ndarray, ray_dirs: np.ndarray, faces: list[Face]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nearest hit of rays ``origin + λ · dir`` (``dir`` with camera-z = 1, so λ is the depth).

    Args:
        ray_origin: ``(3,)`` camera centre in world; ray_dirs: ``(P, 3)`` world directions.

    Returns:
        ``depth (P,)`` (inf where nothing is hit), ``face (P,)`` index (-1 none), ``s, r (P,)``.
    """
    count = ray_dirs.shape[0]
    best = np.full(count, np.inf)
    best_face = np.full(count, -1, dtype=np.int64)
    best_s = np.zeros(count)
    best_r = np.zeros(count)
    for index, face in enumerate(faces):
        normal = np.cross(face.edge_s, face.edge_r)
        denominator = ray_dirs @ normal
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = ((face.origin - ray_origin) @ normal) / denominator
        hit_point_offset = ray_origin - face.origin  # + depth · dir, expanded below
        offset_s = hit_point_offset @ face.edge_s / (face.edge_s @ face.edge_s)
        offset_r = hit_point_offset @ face.edge_r / (face.edge_r @ face.edge_r)
        s = offset_s + depth * (ray_dirs @ face.edge_s) / (face.edge_s @ face.edge_s)
        r = offset_r + depth * (ray_dirs @ face.edge_r) / (face.edge_r @ face.edge_r)
        with np.errstate(invalid="ignore"):
            hit = (depth > NEAR_PLANE) & (depth < best) & (s >= 0) & (s <= 1) & (r >= 0) & (r <= 1)
        best[hit], best_face[hit], best_s[hit], best_r[hit] = depth[hit], index, s[hit], r[hit]
    return best, best_face, best_s, best_r


def _shade(faces: list[Face], face_index: np.ndarray, s: np.ndarray, r: np.ndarray) -> np.ndarray:
    """RGB float ``(P, 3)`` of hits: each face tiles its photo every ``TEXTURE_TILE_METRES``."""
    textures = _textures()
    colour = np.empty((face_index.size, 3), dtype=np.float32)
    colour[:] = BACKGROUND_RGB
    for index, face in enumerate(faces):
        hit = face_index == index
        if not hit.any():
            continue
        texture = textures[face.texture]
        tex_h, tex_w = texture.shape[:2]
        repeats_s = np.linalg.norm(face.edge_s) / TEXTURE_TILE_METRES
        repeats_r = np.linalg.norm(face.edge_r) / TEXTURE_TILE_METRES
        column = np.floor(s[hit] * repeats_s * tex_w).astype(np.int64) % tex_w
        row = np.floor(r[hit] * repeats_r * tex_h).astype(np.int64) % tex_h
        colour[hit] = texture[row, column]
    return colour


def _ray_directions(K: np.ndarray, height: int, width: int, supersample: int) -> np.ndarray:
    """Camera-space ray directions ``(H·s, W·s, 3)`` (z = 1) of ``supersample²`` sub-pixel rays
    a pixel, at sub-pixel centres."""
    step = 1.0 / supersample
    u = (np.arange(width * supersample) + 0.5) * step
    v = (np.arange(height * supersample) + 0.5) * step
    uu, vv = np.meshgrid(u, v)
    uvz = np.stack([uu, vv, np.ones_like(uu)], axis=-1).reshape(-1, 3)
    return geometry.unproject_uvz(uvz, K).reshape(height * supersample, width * supersample, 3)


def render_frame(
    faces: list[Face], cam_to_world: np.ndarray, K: np.ndarray, height: int, width: int, supersample: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame: ``rgb (H, W, 3)`` uint8, ``depth (H, W)`` float32, ``object_id (H, W)`` int8."""
    rotation, centre = cam_to_world[:3, :3], cam_to_world[:3, 3]
    fine = _ray_directions(K, height, width, supersample).reshape(-1, 3) @ rotation.T
    depth, face_index, s, r = _cast(centre, fine, faces)
    colour = _shade(faces, face_index, s, r).reshape(height, supersample, width, supersample, 3).mean(axis=(1, 3))
    centres = _ray_directions(K, height, width, 1).reshape(-1, 3) @ rotation.T
    centre_depth, centre_face, _, _ = _cast(centre, centres, faces)
    ids = np.array([face.object_id for face in faces] + [NO_HIT_ID], dtype=np.int8)[centre_face]
    rgb = np.clip(np.round(colour), 0, 255).astype(np.uint8)
    return rgb, centre_depth.reshape(height, width).astype(np.float32), ids.reshape(height, width)


def render_synthetic_video(
    num_frames: int = DEFAULT_NUM_FRAMES,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    *,
    cam_to_world: np.ndarray | None = None,
    fov_deg: float = DEFAULT_FOV_DEG,
    supersample: int = DEFAULT_SUPERSAMPLE,
    with_moving_object: bool = True,
) -> SyntheticVideo:
    """Render the synthetic scene along a camera path.

    Args:
        num_frames, height, width: clip size.
        cam_to_world: ``(T, 4, 4)`` camera poses (OpenCV axes, frame 0 = identity); default
            :func:`default_camera_path`.
        fov_deg: horizontal field of view.
        supersample: colour rays per pixel side (1 = one ray at each pixel centre).
        with_moving_object: include the independently moving box.

    Returns:
        :class:`SyntheticVideo`.
    """
    if cam_to_world is None:
        cam_to_world = default_camera_path(num_frames)
    cam_to_world = np.asarray(cam_to_world, dtype=np.float64)
    if cam_to_world.shape != (num_frames, 4, 4):
        raise ValueError(f"cam_to_world must have shape ({num_frames}, 4, 4), got {cam_to_world.shape}")
    K = geometry.intrinsics_from_fov(width, height, fov_deg)
    scenery = static_faces()
    object_to_world = moving_object_to_world(num_frames)
    moving_local = box_faces((0.0, 0.0, 0.0), MOVING_BOX_SIZE, 0, MOVING_OBJECT_ID)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    depth = np.empty((num_frames, height, width), dtype=np.float32)
    object_id = np.empty((num_frames, height, width), dtype=np.int8)
    for frame in range(num_frames):
        faces = list(scenery)
        if with_moving_object:
            faces += [face.transformed(object_to_world[frame]) for face in moving_local]
        frames[frame], depth[frame], object_id[frame] = render_frame(
            faces, cam_to_world[frame], K, height, width, supersample
        )
    return SyntheticVideo(frames, depth, object_id, K, cam_to_world, object_to_world)


def noisy_tracks(
    uvz: np.ndarray, seed: int = 0, *, track_noise_px: float = TRACK_NOISE_PX, depth_noise: float = DEPTH_NOISE
) -> np.ndarray:
    """Exact tracks ``(T, N, 3)`` with normal noise on ``u, v`` (pixels) and on the depth (relative)."""
    rng = np.random.default_rng(seed)
    out = np.array(uvz, dtype=np.float64)
    out[..., :2] += rng.normal(0.0, track_noise_px, out[..., :2].shape)
    out[..., 2] *= 1.0 + rng.normal(0.0, depth_noise, out[..., 2].shape)
    return out


def camera_path_errors(estimated_cam_to_world: np.ndarray, true_cam_to_world: np.ndarray) -> tuple[float, float, float]:
    """An estimated camera path against the truth, both ``(T, 4, 4)`` with frame 0 = world.

    Returns:
        worst rotation error (degrees), worst translation-direction error (degrees, over the
        frames at least :data:`DIRECTION_MIN_TRAVEL` of the largest travel from frame 0) and
        the ratio of the final travelled distances (estimated / true).
    """
    relative = np.swapaxes(true_cam_to_world[:, :3, :3], -1, -2) @ estimated_cam_to_world[:, :3, :3]
    cosine = np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    rotation = np.degrees(np.arccos(cosine)).max()
    estimated, true = estimated_cam_to_world[:, :3, 3], true_cam_to_world[:, :3, 3]
    travel = np.linalg.norm(true, axis=1)
    scored = travel >= DIRECTION_MIN_TRAVEL * travel.max()
    cosine = (estimated[scored] * true[scored]).sum(1) / (np.linalg.norm(estimated[scored], axis=1) * travel[scored])
    direction = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))).max()
    return float(rotation), float(direction), float(np.linalg.norm(estimated[-1]) / travel[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="Render the synthetic scene and report the time it takes.")
    parser.add_argument("--frames", type=int, default=DEFAULT_NUM_FRAMES)
    parser.add_argument("--height", type=int, default=DEFAULT_HEIGHT)
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH)
    parser.add_argument("--supersample", type=int, default=DEFAULT_SUPERSAMPLE)
    parser.add_argument("--save", help="write the clip to this mp4 path")
    args = parser.parse_args()
    start = time.perf_counter()
    video = render_synthetic_video(args.frames, args.height, args.width, supersample=args.supersample)
    elapsed = time.perf_counter() - start
    print(f"rendered {args.frames}×{args.height}×{args.width} (supersample {args.supersample}) in {elapsed:.2f} s")
    print(f"moving object covers {video.moving_mask.mean():.1%} of the pixels; depth {video.depth.min():.2f}–{video.depth.max():.2f}")
    if args.save:
        from core.media import write_video

        write_video(video.frames, args.save, 8.0)


if __name__ == "__main__":
    main()
