"""Animated meshes → 3D surface tracks and a shaded first frame (SPEC §9, mesh animation).

Camera conventions are those of :mod:`core.geometry` (OpenCV: +x right, +y down, +z forward).
Meshes arrive in trimesh's world convention (glTF's: right-handed, **+y up**, a model's front
facing +z). The auto-framed camera sits on the +z side of the animation's bounding sphere and
looks down −z, so ``world_to_cam`` flips y and z: the mesh appears upright, its front towards
the viewer.

Inputs (:func:`load_mesh_sequence`):

- a folder or ``.zip`` of per-frame meshes (OBJ, PLY, GLB/glTF, STL, OFF) sharing one
  topology, ordered by natural sort of their names (``frame2`` before ``frame10``) and
  resampled to the clip's frame count by linear interpolation of vertex positions;
- one mesh file: a still sequence (give it motion with :func:`procedural_animation`).
  glTF skeletal or morph-target animations are **not** played: trimesh loads the rest pose
  only. Export such animations as one mesh per frame.

Rasterisation (first frame and occlusion) is a z-buffered scan conversion at pixel centres,
vectorised over all triangles at once in memory-bounded chunks (never a Python loop over
faces).
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from core import defaults, geometry
from core.errors import UserError
from core.progress import CancelFn, ProgressFn, check_cancel, report

MESH_EXTENSIONS = (".obj", ".ply", ".glb", ".gltf", ".stl", ".off")
"""File types read from a folder or zip (case-insensitive)."""
MAX_SEQUENCE_FILES = 5000
MAX_ZIP_UNCOMPRESSED_BYTES = 4 * 1024**3
"""Refuse archives that would expand beyond this (zip bombs)."""

DEFAULT_NUM_POINTS = 40_000
"""Surface points tracked by default: with the renderer's 3×3 px dense footprint this covers
an object filling a third of a 480×720 frame without gaps."""
FRAMING_MARGIN = 1.08
"""The bounding sphere's silhouette fills 1 / margin of the narrower half field of view."""
MAX_SPLAT_CHUNK = 2_000_000
"""Candidate pixels tested at once while rasterising (bounds memory to ~100 MB)."""
EDGE_TOLERANCE = 1e-5
"""Barycentric slack so pixel centres exactly on a shared edge are never dropped by both faces."""
NEAR_PLANE = 1e-3
"""Camera-space depth below which triangles are not drawn, relative to the largest absolute
camera-space coordinate of the mesh."""
OCCLUSION_TOLERANCE_FRACTION = 0.01
"""A point is occluded when it lies more than this fraction of the bounding radius behind the
z-buffer (plus the slope allowance below)."""
OCCLUSION_SLOPE_PX = 3.0
"""Extra depth allowance, in z-buffer pixel footprints (z / f), for surfaces seen at a grazing
angle."""
OCCLUSION_BUFFER_SCALE = 0.5
"""The occlusion z-buffer is rasterised at this fraction of the image size (4× cheaper); a
point is compared with the nearest surface in its buffer cell, so silhouettes of occluders
erode visibility by at most one buffer cell."""

CLAY_RGB = (200, 188, 172)
"""Colour of meshes without vertex colours or texture."""
BACKGROUND_RGB = (0, 0, 0)
AMBIENT = 0.3
"""Share of light that does not depend on the surface orientation."""
LIGHT_DIRECTION_CAM = (-0.35, -0.55, -1.0)
"""Direction towards the light in camera space: from the upper left, behind the viewer."""

MESH_MOTIONS: dict[str, str] = {
    "static": "no motion",
    "turntable": "turn about the vertical axis; amount = total degrees (default 360, positive is "
    "counter-clockwise seen from above)",
    "swing": "yaw back and forth once; amount = peak degrees (default 30)",
    "translate": "slide to the right; amount = distance in bounding radii (default 1)",
    "bounce": "hop up and down twice; amount = height in bounding radii (default 0.5)",
}
DEFAULT_MOTION_AMOUNTS = {"static": 0.0, "turntable": 360.0, "swing": 30.0, "translate": 1.0, "bounce": 0.5}
BOUNCES_PER_CLIP = 2


class MeshError(UserError):
    """A mesh upload or request that cannot be used; the message says which file and why."""


@dataclass
class MeshSequence:
    """An animated triangle mesh with one topology.

    Attributes:
        vertices: ``(T, V, 3)`` float32 positions, world units, trimesh's y-up convention.
        faces: ``(F, 3)`` int64 vertex indices.
        vertex_colors: ``(V, 3)`` uint8 or ``None``.
        face_colors: ``(F, 3)`` uint8 or ``None`` (used when there are no vertex colours).
        uv: ``(V, 2)`` float32 texture coordinates (origin bottom-left) or ``None``.
        texture: ``(h, w, 3)`` uint8 base-colour image or ``None``.
        frame_names: source file of each original frame (before resampling).
    """

    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: Optional[np.ndarray] = None
    face_colors: Optional[np.ndarray] = None
    uv: Optional[np.ndarray] = None
    texture: Optional[np.ndarray] = None
    frame_names: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.vertices.shape[0])


@dataclass
class MeshTracks:
    """Surface points of an animated mesh seen by the auto-framed camera.

    Attributes:
        uvz: ``(T, N, 3)`` float32 tracks (pixels, pixels, camera depth).
        visible: ``(T, N)`` bool — in front of the camera and inside the frame.
        occluded: ``(T, N)`` bool — hidden behind another part of the mesh (z-buffer test);
            draw ``visible & ~occluded`` for a surface-only tracking video.
        first_frame: ``(H, W, 3)`` uint8 shaded render of frame 0 on black.
        K: ``(3, 3)`` intrinsics.
        points: ``(T, N, 3)`` float32 camera-space points (after ``camera_motion``).
        colors_rgb: ``(N, 3)`` uint8 surface colour of each point (unshaded), for a 3D view.
        world_to_cam: ``(4, 4)`` the auto-framed camera (before ``camera_motion``).
        face_index: ``(N,)`` face each point lies on; barycentric: ``(N, 3)`` its fixed
            barycentric coordinates on that face.
        radius: bounding-sphere radius of the whole animation (world units).
    """

    uvz: np.ndarray
    visible: np.ndarray
    occluded: np.ndarray
    first_frame: np.ndarray
    K: np.ndarray
    points: np.ndarray
    colors_rgb: np.ndarray
    world_to_cam: np.ndarray
    face_index: np.ndarray
    barycentric: np.ndarray
    radius: float


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def natural_sort_key(name: str) -> list:
    """Sort key that orders embedded numbers by value: ``f2 < f10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _trimesh():
    import trimesh

    return trimesh


def _load_single(path: Path, name: str):
    """One mesh file → a non-empty ``trimesh.Trimesh`` (scenes are flattened, vertices kept in
    file order: ``process=False`` so every frame of a sequence keeps the same indexing)."""
    trimesh = _trimesh()
    file_type = path.suffix.lower().lstrip(".")
    if "." + file_type not in MESH_EXTENSIONS:
        raise MeshError(f"{name}: unsupported mesh type '.{file_type}' (use one of {', '.join(MESH_EXTENSIONS)})")
    try:
        loaded = trimesh.load(str(path), file_type=file_type, process=False, force="mesh")
    # Parsing untrusted uploads: the file parsers raise many unrelated exception types on bad
    # input, and every one of them means the same thing to the user.
    except Exception as error:  # noqa: BLE001
        reason = f"{type(error).__name__}: {error}"
        raise MeshError(f"{name}: cannot read this {file_type.upper()} file ({reason})") from error
    if not isinstance(loaded, trimesh.Trimesh):
        raise MeshError(f"{name}: the file holds no triangle mesh")
    if len(loaded.faces) == 0 or len(loaded.vertices) == 0:
        raise MeshError(f"{name}: the file holds no triangles (empty or not a {file_type.upper()} mesh)")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    if not np.isfinite(vertices).all():
        raise MeshError(f"{name}: the mesh has non-finite vertex coordinates")
    faces = np.asarray(loaded.faces)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError(f"{name}: faces refer to vertices that do not exist")
    return loaded


def _appearance(mesh) -> dict:
    """Colours or texture of a trimesh mesh as plain arrays (see :class:`MeshSequence`)."""
    visual = getattr(mesh, "visual", None)
    kind = getattr(visual, "kind", None)
    appearance: dict = {"vertex_colors": None, "face_colors": None, "uv": None, "texture": None}
    if kind == "vertex":
        appearance["vertex_colors"] = np.asarray(visual.vertex_colors)[:, :3].astype(np.uint8)
    elif kind == "face":
        appearance["face_colors"] = np.asarray(visual.face_colors)[:, :3].astype(np.uint8)
    elif kind == "texture":
        image = _texture_image(visual.material)
        uv = getattr(visual, "uv", None)
        if image is not None and uv is not None and len(uv) == len(mesh.vertices):
            appearance["uv"] = np.asarray(uv, dtype=np.float32)
            appearance["texture"] = image
        else:
            colour = _material_colour(visual.material)
            if colour is not None:
                appearance["face_colors"] = np.tile(colour, (len(mesh.faces), 1))
    return appearance


def _texture_image(material) -> Optional[np.ndarray]:
    image = getattr(material, "image", None)
    if image is None:
        image = getattr(material, "baseColorTexture", None)
    if image is None:
        return None
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _material_colour(material) -> Optional[np.ndarray]:
    for attribute in ("baseColorFactor", "diffuse"):
        value = getattr(material, attribute, None)
        if value is not None:
            colour = np.asarray(value, dtype=np.float64).ravel()[:3]
            if colour.max() <= 1.0:
                colour = colour * 255.0
            return np.clip(colour, 0, 255).astype(np.uint8)
    return None


def _sequence_files(folder: Path, label: str) -> list[Path]:
    files = [
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix.lower() in MESH_EXTENSIONS
        and not any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(folder).parts)
    ]
    if not files:
        raise MeshError(f"{label} contains no mesh files ({', '.join(MESH_EXTENSIONS)})")
    if len(files) > MAX_SEQUENCE_FILES:
        raise MeshError(f"{label} has {len(files)} mesh files; at most {MAX_SEQUENCE_FILES} are supported")
    return sorted(files, key=lambda path: natural_sort_key(str(path.relative_to(folder))))


def _extract_zip(archive: Path, destination: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            if not members:
                raise MeshError(f"{archive.name}: the zip archive is empty")
            if sum(member.file_size for member in members) > MAX_ZIP_UNCOMPRESSED_BYTES:
                raise MeshError(f"{archive.name}: the archive expands beyond {MAX_ZIP_UNCOMPRESSED_BYTES >> 30} GiB")
            root = destination.resolve()
            for member in members:
                target = (destination / member.filename).resolve()
                if root not in target.parents and target != root:
                    raise MeshError(f"{archive.name}: member {member.filename!r} points outside the archive")
            bundle.extractall(destination)
    except zipfile.BadZipFile as error:
        raise MeshError(f"{archive.name}: not a valid zip archive ({error})") from error


def _stack_frames(files: list[Path], root: Path) -> MeshSequence:
    first_name = str(files[0].relative_to(root))
    first = _load_single(files[0], first_name)
    faces = np.asarray(first.faces, dtype=np.int64)
    frames = [np.asarray(first.vertices, dtype=np.float32)]
    for path in files[1:]:
        name = str(path.relative_to(root))
        mesh = _load_single(path, name)
        if len(mesh.vertices) != len(first.vertices) or not np.array_equal(np.asarray(mesh.faces), faces):
            raise MeshError(
                f"{name}: its topology differs from {first_name} ({len(mesh.vertices)} vertices / "
                f"{len(mesh.faces)} faces vs {len(first.vertices)} / {len(faces)}, or other face indices); "
                "every frame of a sequence must share one topology"
            )
        frames.append(np.asarray(mesh.vertices, dtype=np.float32))
    return MeshSequence(
        vertices=np.stack(frames),
        faces=faces,
        frame_names=[str(path.relative_to(root)) for path in files],
        **_appearance(first),
    )


def resample_frames(vertices: np.ndarray, num_frames: int) -> np.ndarray:
    """Resample ``(K, V, 3)`` keyframes to ``(T, V, 3)`` spanning the same motion.

    Output frame ``t`` sits at keyframe position ``s = t (K - 1) / (T - 1)`` and linearly
    interpolates the two keyframes around it (exact keyframes when ``K == T``; a single
    keyframe is repeated).
    """
    if num_frames < 1:
        raise MeshError(f"the clip needs at least one frame, got {num_frames}")
    count = vertices.shape[0]
    if count == 1 or num_frames == 1:
        return np.repeat(vertices[:1], num_frames, axis=0).astype(np.float32)
    position = np.arange(num_frames, dtype=np.float64) * (count - 1) / (num_frames - 1)
    lower = np.clip(np.floor(position).astype(np.int64), 0, count - 2)
    weight = (position - lower)[:, None, None]
    return ((1.0 - weight) * vertices[lower] + weight * vertices[lower + 1]).astype(np.float32)


def load_mesh_sequence(source: Union[str, Path], num_frames: int) -> MeshSequence:
    """Load an animated mesh and resample it to ``num_frames``.

    Args:
        source: a folder or ``.zip`` of per-frame meshes with one topology (natural name
            order), or a single mesh file (a still sequence).
        num_frames: ``T`` of the clip.

    Returns:
        :class:`MeshSequence` with ``vertices (T, V, 3)``.

    Raises:
        MeshError: missing/unreadable/empty files, mismatched topology (naming the file).
    """
    path = Path(source)
    if not path.exists():
        raise MeshError(f"{path}: no such file or folder")
    if path.is_dir():
        sequence = _stack_frames(_sequence_files(path, f"folder {path.name}"), path)
    elif path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="das-mesh-") as scratch:
            _extract_zip(path, Path(scratch))
            sequence = _stack_frames(_sequence_files(Path(scratch), f"{path.name}"), Path(scratch))
    else:
        mesh = _load_single(path, path.name)
        sequence = MeshSequence(
            vertices=np.asarray(mesh.vertices, dtype=np.float32)[None],
            faces=np.asarray(mesh.faces, dtype=np.int64),
            frame_names=[path.name],
            **_appearance(mesh),
        )
    sequence.vertices = resample_frames(sequence.vertices, num_frames)
    return sequence


# --------------------------------------------------------------------------------------------
# Procedural motion
# --------------------------------------------------------------------------------------------


def _as_still_sequence(mesh) -> MeshSequence:
    trimesh = _trimesh()
    if isinstance(mesh, MeshSequence):
        return MeshSequence(
            vertices=mesh.vertices[:1].copy(),
            faces=mesh.faces,
            vertex_colors=mesh.vertex_colors,
            face_colors=mesh.face_colors,
            uv=mesh.uv,
            texture=mesh.texture,
            frame_names=mesh.frame_names[:1],
        )
    if isinstance(mesh, trimesh.Trimesh):
        if len(mesh.faces) == 0:
            raise MeshError("the mesh has no triangles")
        return MeshSequence(
            vertices=np.asarray(mesh.vertices, dtype=np.float32)[None],
            faces=np.asarray(mesh.faces, dtype=np.int64),
            frame_names=["<mesh>"],
            **_appearance(mesh),
        )
    return load_mesh_sequence(mesh, 1)


def procedural_animation(
    mesh: Union[str, Path, "MeshSequence", object],
    motion: str = "turntable",
    num_frames: int = defaults.NUM_FRAMES,
    amount: Optional[float] = None,
) -> MeshSequence:
    """Animate a still mesh with a simple rigid motion reached linearly over the clip.

    Motions are about the mesh's bounding-box centre, in its y-up world (see
    :data:`MESH_MOTIONS` for units): ``turntable`` (rotation about +y by ``amount`` degrees
    at frame ``T-1``), ``swing`` (yaw ``amount · sin(2π t/(T-1))``), ``translate`` (+x by
    ``amount`` bounding radii), ``bounce`` (``|sin|`` hops of ``amount`` radii), ``static``.

    Args:
        mesh: a mesh file path, a ``trimesh.Trimesh`` or a :class:`MeshSequence` (its first
            frame is used).

    Returns:
        :class:`MeshSequence` with ``vertices (T, V, 3)``.
    """
    if motion not in MESH_MOTIONS:
        raise MeshError(f"unknown mesh motion {motion!r}; choose one of {list(MESH_MOTIONS)}")
    if num_frames < 1:
        raise MeshError(f"the clip needs at least one frame, got {num_frames}")
    amount = DEFAULT_MOTION_AMOUNTS[motion] if amount is None else float(amount)
    sequence = _as_still_sequence(mesh)
    rest = sequence.vertices[0].astype(np.float64)
    centre = (rest.min(axis=0) + rest.max(axis=0)) / 2.0
    radius = float(np.linalg.norm(rest - centre, axis=1).max()) or 1.0
    progress = np.arange(num_frames, dtype=np.float64) / max(num_frames - 1, 1)
    if motion in ("turntable", "swing"):
        if motion == "turntable":
            angles = amount * progress
        else:
            angles = amount * np.sin(2.0 * np.pi * progress)
        # +y is up in the mesh's world: a positive angle turns +z towards +x (counter-clockwise
        # seen from above), the right-handed rotation about +y.
        transforms = geometry.rotation_about_point(geometry.rotation_about_axis("y", angles), centre)
    else:
        offsets = np.zeros((num_frames, 3))
        if motion == "translate":
            offsets[:, 0] = amount * radius * progress
        elif motion == "bounce":
            offsets[:, 1] = amount * radius * np.abs(np.sin(np.pi * BOUNCES_PER_CLIP * progress))
        transforms = geometry.make_se3(np.broadcast_to(np.eye(3), (num_frames, 3, 3)), offsets)
    sequence.vertices = geometry.transform_points(transforms, rest).astype(np.float32)
    return sequence


# --------------------------------------------------------------------------------------------
# Camera and surface sampling
# --------------------------------------------------------------------------------------------


def auto_frame_camera(vertices: np.ndarray, K: np.ndarray, height: int, width: int) -> tuple[np.ndarray, float]:
    """Camera that sees the whole animation, looking down world −z at its bounding sphere.

    Args:
        vertices: ``(T, V, 3)`` world positions (y up).
        K: intrinsics of the ``height × width`` image.

    Returns:
        ``world_to_cam (4, 4)`` — ``p_cam = diag(1, -1, -1) (p - c) + (0, 0, d)`` with ``c`` the
        centre of the animation's bounding box and ``d`` the distance at which the bounding
        sphere fits the narrower field of view with ``FRAMING_MARGIN`` — and the sphere radius.
    """
    flat = vertices.reshape(-1, 3).astype(np.float64)
    centre = (flat.min(axis=0) + flat.max(axis=0)) / 2.0
    radius = float(np.linalg.norm(flat - centre, axis=1).max())
    if not np.isfinite(radius) or radius <= 0:
        raise MeshError("the mesh is degenerate (all vertices at one point)")
    half_fov_x = np.arctan((width / 2.0) / K[0, 0])
    half_fov_y = np.arctan((height / 2.0) / K[1, 1])
    distance = FRAMING_MARGIN * radius / np.sin(min(half_fov_x, half_fov_y))
    flip = np.diag([1.0, -1.0, -1.0])
    return geometry.make_se3(flip, flip @ (-centre) + np.array([0.0, 0.0, distance])), radius


def sample_surface(
    faces: np.ndarray, vertices: np.ndarray, num_points: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``num_points`` surface points uniformly by area, as fixed (face, barycentric) pairs.

    Args:
        faces: ``(F, 3)``; vertices: ``(V, 3)`` rest positions (areas are measured there).

    Returns:
        ``face_index (N,)`` int64 and ``barycentric (N, 3)`` float32 (seeded, reproducible).
    """
    triangles = vertices[faces].astype(np.float64)
    areas = 0.5 * np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise MeshError("the mesh has no surface area (all triangles are degenerate)")
    rng = np.random.default_rng(seed)
    face_index = rng.choice(len(faces), size=num_points, p=areas / total)
    r1, r2 = rng.random(num_points), rng.random(num_points)
    outside = r1 + r2 > 1.0
    r1[outside], r2[outside] = 1.0 - r1[outside], 1.0 - r2[outside]
    barycentric = np.stack([1.0 - r1 - r2, r1, r2], axis=-1).astype(np.float32)
    return face_index.astype(np.int64), barycentric


def surface_points(
    vertices: np.ndarray, faces: np.ndarray, face_index: np.ndarray, barycentric: np.ndarray
) -> np.ndarray:
    """Positions ``(..., N, 3)`` of fixed surface points on ``vertices (..., V, 3)``."""
    corners = vertices[..., faces[face_index], :]  # (..., N, 3 corners, 3)
    return np.einsum("nk,...nkc->...nc", barycentric, corners).astype(np.float32)


def surface_colours(sequence: MeshSequence, face_index: np.ndarray, barycentric: np.ndarray) -> np.ndarray:
    """Unshaded base colour ``(N, 3)`` uint8 at surface points (texture, vertex or face colour,
    else clay)."""
    count = face_index.shape[0]
    corners = sequence.faces[face_index]
    if sequence.texture is not None and sequence.uv is not None:
        uv = np.einsum("nk,nkc->nc", barycentric, sequence.uv[corners])
        tex_h, tex_w = sequence.texture.shape[:2]
        # Texture coordinates repeat outside [0, 1]; v runs upwards from the image's bottom row.
        cols = np.floor(np.mod(uv[:, 0], 1.0) * tex_w).astype(np.int64).clip(0, tex_w - 1)
        rows = np.floor((1.0 - np.mod(uv[:, 1], 1.0)) * tex_h).astype(np.int64).clip(0, tex_h - 1)
        return sequence.texture[rows, cols]
    if sequence.vertex_colors is not None:
        colours = np.einsum("nk,nkc->nc", barycentric, sequence.vertex_colors[corners].astype(np.float32))
        return np.clip(np.rint(colours), 0, 255).astype(np.uint8)
    if sequence.face_colors is not None:
        return sequence.face_colors[face_index]
    return np.tile(np.asarray(CLAY_RGB, dtype=np.uint8), (count, 1))


# --------------------------------------------------------------------------------------------
# Splatting rasteriser
# --------------------------------------------------------------------------------------------

@dataclass
class Raster:
    """Result of :func:`rasterize_mesh`: per pixel the nearest surface's depth (``inf`` on the
    background), face (−1 on the background) and perspective-correct barycentric coordinates,
    shaped ``(H, W)``, ``(H, W)`` and ``(H, W, 3)``."""

    depth: np.ndarray
    face: np.ndarray
    barycentric: np.ndarray


def _chunks_by_budget(costs: np.ndarray, budget: int) -> list[slice]:
    """Consecutive slices of ``costs`` whose sums stay within ``budget`` (one item at least)."""
    slices, start = [], 0
    cumulative = np.cumsum(costs)
    while start < costs.size:
        offset = cumulative[start - 1] if start else 0
        stop = int(np.searchsorted(cumulative, offset + budget, side="right"))
        stop = max(stop, start + 1)
        slices.append(slice(start, stop))
        start = stop
    return slices


def rasterize_mesh(
    vertices_cam: np.ndarray, faces: np.ndarray, K: np.ndarray, height: int, width: int, *, with_faces: bool = True
) -> Raster:
    """Z-buffer of a mesh in camera space (vectorised scan conversion, pixel centres).

    Every triangle in front of the camera is tested at the pixel centres of its screen
    bounding box with edge functions, all triangles at once (in memory-bounded chunks of
    ``MAX_SPLAT_CHUNK`` candidate pixels). Depth and barycentric coordinates are
    perspective-correct (``1/z`` is affine in screen space). Triangles with a corner closer
    than ``NEAR_PLANE`` × the scene's extent are skipped rather than clipped.

    Args:
        vertices_cam: ``(V, 3)`` camera-space vertices; faces: ``(F, 3)``.
        with_faces: also resolve which face and barycentric wins each pixel.
    """
    depth = np.full(height * width, np.inf, dtype=np.float32)
    face_map = np.full(height * width, -1, dtype=np.int64)
    bary_map = np.zeros((height * width, 3), dtype=np.float32)

    def _result() -> Raster:
        return Raster(depth.reshape(height, width), face_map.reshape(height, width), bary_map.reshape(height, width, 3))

    triangles = vertices_cam[faces].astype(np.float64)  # (F, 3, 3)
    scale = float(np.abs(vertices_cam).max()) or 1.0
    in_front = (triangles[..., 2] > NEAR_PLANE * scale).all(axis=1)
    candidates = np.flatnonzero(in_front)
    if candidates.size == 0:
        return _result()
    tri = triangles[candidates]
    z = tri[..., 2]
    u = tri[..., 0] * (K[0, 0] / z) + K[0, 2]
    v = tri[..., 1] * (K[1, 1] / z) + K[1, 2]
    area2 = (u[:, 1] - u[:, 0]) * (v[:, 2] - v[:, 0]) - (u[:, 2] - u[:, 0]) * (v[:, 1] - v[:, 0])
    # Pixel (r, c) has its centre at (c + 0.5, r + 0.5): the centres inside [min, max].
    col0 = np.clip(np.ceil(u.min(axis=1) - 0.5), 0, width).astype(np.int64)
    col1 = np.clip(np.floor(u.max(axis=1) - 0.5), -1, width - 1).astype(np.int64)
    row0 = np.clip(np.ceil(v.min(axis=1) - 0.5), 0, height).astype(np.int64)
    row1 = np.clip(np.floor(v.max(axis=1) - 0.5), -1, height - 1).astype(np.int64)
    box_w = np.maximum(col1 - col0 + 1, 0)
    box_h = np.maximum(row1 - row0 + 1, 0)
    keep = (box_w > 0) & (box_h > 0) & (np.abs(area2) > 1e-12)
    if not keep.any():
        return _result()
    candidates, u, v, z, area2 = candidates[keep], u[keep], v[keep], z[keep], area2[keep]
    col0, row0, box_w, box_h = col0[keep], row0[keep], box_w[keep], box_h[keep]
    # Barycentric weights are affine in the pixel centre: w_i = a_i x + b_i y + c_i, from the
    # edge functions of the opposite edge divided by twice the signed area.
    nxt, prv = [1, 2, 0], [2, 0, 1]
    coeff_a = (v[:, nxt] - v[:, prv]) / area2[:, None]
    coeff_b = (u[:, prv] - u[:, nxt]) / area2[:, None]
    coeff_c = (u[:, nxt] * v[:, prv] - u[:, prv] * v[:, nxt]) / area2[:, None]
    per_face = np.concatenate([coeff_a, coeff_b, coeff_c, 1.0 / z], axis=1).astype(np.float32)  # (F', 12)
    costs = box_w * box_h
    pixel_chunks, depth_chunks, face_chunks, bary_chunks = [], [], [], []
    for part in _chunks_by_budget(costs, MAX_SPLAT_CHUNK):
        count = costs[part]
        local_face = np.repeat(np.arange(part.start, part.stop), count)
        offset = np.arange(local_face.size) - np.repeat(np.cumsum(count) - count, count)
        row_offset, col_offset = np.divmod(offset, np.repeat(box_w[part], count))
        cols = np.repeat(col0[part], count) + col_offset
        rows = np.repeat(row0[part], count) + row_offset
        coefficients = np.repeat(per_face[part], count, axis=0)
        x = (cols + 0.5).astype(np.float32)[:, None]
        y = (rows + 0.5).astype(np.float32)[:, None]
        weights = coefficients[:, 0:3] * x + coefficients[:, 3:6] * y + coefficients[:, 6:9]
        inside = (weights >= -EDGE_TOLERANCE).all(axis=1)
        weights, coefficients, local_face = weights[inside], coefficients[inside], local_face[inside]
        # 1/z is affine in screen space, so the barycentric blend of 1/z_i is exact.
        weighted_inverse_z = weights * coefficients[:, 9:12]
        pixel_z = 1.0 / weighted_inverse_z.sum(axis=1)
        pixel_chunks.append(rows[inside] * width + cols[inside])
        depth_chunks.append(pixel_z)
        if with_faces:
            face_chunks.append(candidates[local_face])
            bary_chunks.append(weighted_inverse_z * pixel_z[:, None])
    pixels = np.concatenate(pixel_chunks)
    depths = np.concatenate(depth_chunks)
    np.minimum.at(depth, pixels, depths)
    if with_faces and pixels.size:
        winners = depths <= depth[pixels]
        face_map[pixels[winners]] = np.concatenate(face_chunks)[winners]
        bary_map[pixels[winners]] = np.concatenate(bary_chunks)[winners]
    return _result()


def shade_raster(raster: Raster, sequence: MeshSequence, vertices_cam: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 image: base colour × two-sided Lambert shading from camera-space face
    normals, ``BACKGROUND_RGB`` where no face is."""
    height, width = raster.face.shape
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[...] = np.asarray(BACKGROUND_RGB, dtype=np.uint8)
    covered = raster.face >= 0
    if not covered.any():
        return image
    faces_hit = raster.face[covered]
    base = surface_colours(sequence, faces_hit, raster.barycentric[covered]).astype(np.float32)
    triangles = vertices_cam[sequence.faces].astype(np.float64)
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    light = np.asarray(LIGHT_DIRECTION_CAM, dtype=np.float64)
    light /= np.linalg.norm(light)
    # Two-sided: winding order of uploads is unreliable, and a back face seen is still lit.
    lambert = np.abs(normals @ light)
    shade = (AMBIENT + (1.0 - AMBIENT) * lambert[faces_hit])[:, None]
    image[covered] = np.clip(np.rint(base * shade), 0, 255).astype(np.uint8)
    return image


# --------------------------------------------------------------------------------------------
# Tracks
# --------------------------------------------------------------------------------------------


def render_mesh_tracks(
    seq: MeshSequence,
    height: int,
    width: int,
    *,
    num_points: int = DEFAULT_NUM_POINTS,
    camera_motion: Optional[np.ndarray] = None,
    fov_deg: float = defaults.FOV_DEG,
    seed: int = 0,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> MeshTracks:
    """Project fixed surface points of an animated mesh through an auto-framed camera.

    Args:
        seq: the animation, ``vertices (T, V, 3)``.
        height, width: image size in pixels.
        num_points: surface points ``N`` (sampled once, area-uniform, ``seed``-ed).
        camera_motion: optional ``(T, 4, 4)`` matrices (already scaled, from
            :mod:`core.camera`) applied on top of the framing camera: ``p_t = M_t · p``.
        fov_deg: horizontal field of view.
        progress, cancel: see :mod:`core.progress`; cancel is checked between frames.

    Returns:
        :class:`MeshTracks`.
    """
    vertices = np.asarray(seq.vertices, dtype=np.float32)
    if vertices.ndim != 3 or vertices.shape[-1] != 3 or vertices.shape[0] == 0:
        raise MeshError(f"mesh vertices must be (T, V, 3), got {vertices.shape}")
    if num_points < 1:
        raise MeshError(f"num_points must be positive, got {num_points}")
    num_frames = vertices.shape[0]
    if camera_motion is not None:
        camera_motion = np.asarray(camera_motion, dtype=np.float64)
        if camera_motion.shape != (num_frames, 4, 4):
            raise MeshError(f"camera motion must be ({num_frames}, 4, 4) for this clip, got {camera_motion.shape}")
    K = geometry.intrinsics_from_fov(width, height, fov_deg)
    world_to_cam, radius = auto_frame_camera(vertices, K, height, width)
    per_frame = np.broadcast_to(world_to_cam, (num_frames, 4, 4))
    if camera_motion is not None:
        per_frame = camera_motion @ per_frame
    face_index, barycentric = sample_surface(seq.faces, vertices[0], num_points, seed=seed)
    buffer_height = max(1, int(round(height * OCCLUSION_BUFFER_SCALE)))
    buffer_width = max(1, int(round(width * OCCLUSION_BUFFER_SCALE)))
    scale_u, scale_v = buffer_width / width, buffer_height / height
    K_buffer = geometry.scale_intrinsics(K, scale_u, scale_v)
    buffer_uvz_scale = np.array([scale_u, scale_v, 1.0], dtype=np.float32)

    uvz = np.empty((num_frames, num_points, 3), dtype=np.float32)
    points = np.empty((num_frames, num_points, 3), dtype=np.float32)
    visible = np.empty((num_frames, num_points), dtype=bool)
    occluded = np.zeros((num_frames, num_points), dtype=bool)
    first_frame = None
    for frame in range(num_frames):
        check_cancel(cancel, "mesh tracking")
        report(progress, frame / num_frames, f"mesh frame {frame + 1}/{num_frames}")
        vertices_cam = geometry.transform_points(per_frame[frame], vertices[frame])
        points[frame] = surface_points(vertices_cam, seq.faces, face_index, barycentric)
        uvz[frame], in_front = geometry.project_points(points[frame], K)
        visible[frame] = in_front & geometry.in_frame(uvz[frame], height, width)
        if frame == 0:
            first_frame = shade_raster(rasterize_mesh(vertices_cam, seq.faces, K, height, width), seq, vertices_cam)
        zbuffer = rasterize_mesh(vertices_cam, seq.faces, K_buffer, buffer_height, buffer_width, with_faces=False).depth
        occluded[frame] = _occluded(uvz[frame] * buffer_uvz_scale, visible[frame], zbuffer, K_buffer, radius)
    report(progress, 1.0, "mesh tracks done")
    return MeshTracks(
        uvz=uvz,
        visible=visible,
        occluded=occluded,
        first_frame=first_frame,
        K=K,
        points=points,
        colors_rgb=surface_colours(seq, face_index, barycentric),
        world_to_cam=world_to_cam,
        face_index=face_index,
        barycentric=barycentric,
        radius=radius,
    )


def _occluded(uvz: np.ndarray, visible: np.ndarray, zbuffer: np.ndarray, K: np.ndarray, radius: float) -> np.ndarray:
    """``(N,)`` True where a visible point lies behind the z-buffer by more than the tolerance."""
    result = np.zeros(uvz.shape[0], dtype=bool)
    index = np.flatnonzero(visible)
    if index.size == 0:
        return result
    z = uvz[index, 2]
    tolerance = OCCLUSION_TOLERANCE_FRACTION * radius + OCCLUSION_SLOPE_PX * z / K[0, 0]
    result[index] = z > geometry.sample_nearest(zbuffer, uvz[index, :2]) + tolerance
    return result
