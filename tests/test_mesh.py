"""Animated meshes: analytic tracks of a turning cube, sequence loading and upload errors."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from core import geometry
from core.progress import Cancelled
from trackers import mesh as mesh_mod
from trackers.mesh import MeshError

HEIGHT, WIDTH = 96, 128
FOV_DEG = 55.0
HALF_SIDE = 1.0


def cube() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(2 * HALF_SIDE,) * 3)


def rotation_y(degrees: float) -> np.ndarray:
    """Right-handed rotation about +y (y up): +z turns towards +x."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def expected_camera() -> tuple[np.ndarray, np.ndarray]:
    """The framing the module documents, derived independently for a cube at the origin."""
    focal = (WIDTH / 2) / math.tan(math.radians(FOV_DEG / 2))
    K = np.array([[focal, 0, WIDTH / 2], [0, focal, HEIGHT / 2], [0, 0, 1.0]])
    half_fov = min(math.atan(WIDTH / 2 / focal), math.atan(HEIGHT / 2 / focal))
    distance = mesh_mod.FRAMING_MARGIN * math.sqrt(3) * HALF_SIDE / math.sin(half_fov)
    # Camera on the +z side looking down -z: x stays, y flips (up → down), z = distance - z.
    world_to_cam = np.array([[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, distance], [0, 0, 0, 1.0]])
    return K, world_to_cam


def test_turntable_cube_tracks_match_the_analytic_projection():
    num_frames = 5
    box = cube()
    sequence = mesh_mod.procedural_animation(box, "turntable", num_frames, amount=90)
    tracks = mesh_mod.render_mesh_tracks(sequence, HEIGHT, WIDTH, num_points=600, fov_deg=FOV_DEG)
    K, world_to_cam = expected_camera()
    np.testing.assert_allclose(tracks.K, K)
    np.testing.assert_allclose(tracks.world_to_cam, world_to_cam, atol=1e-9)

    corners = np.asarray(box.vertices)[np.asarray(box.faces)[tracks.face_index]]  # (N, 3, 3)
    rest = np.einsum("nk,nkc->nc", tracks.barycentric.astype(np.float64), corners)
    for frame in range(num_frames):
        world = rest @ rotation_y(90.0 * frame / (num_frames - 1)).T
        camera = world @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
        u = K[0, 0] * camera[:, 0] / camera[:, 2] + K[0, 2]
        v = K[1, 1] * camera[:, 1] / camera[:, 2] + K[1, 2]
        np.testing.assert_allclose(tracks.uvz[frame], np.stack([u, v, camera[:, 2]], -1), atol=1e-3)
        np.testing.assert_allclose(tracks.points[frame], camera, atol=1e-4)
    assert tracks.uvz.shape == (num_frames, 600, 3) and tracks.uvz.dtype == np.float32
    assert tracks.visible.all(), "auto-framing keeps the whole animation in view"

    # Upright: the top face (+y) projects above the bottom face.
    normals = np.asarray(box.face_normals)[tracks.face_index]
    top, bottom = normals[:, 1] > 0.9, normals[:, 1] < -0.9
    assert tracks.uvz[0, top, 1].max() < tracks.uvz[0, bottom, 1].min()
    # Occlusion: at frame 0 the +z face looks at the camera and -z is hidden; after 90° the
    # old -x face has turned to the front and the old +x face to the back.
    front, back = normals[:, 2] > 0.9, normals[:, 2] < -0.9
    left, right = normals[:, 0] < -0.9, normals[:, 0] > 0.9
    assert not tracks.occluded[0, front].any() and tracks.occluded[0, back].all()
    assert not tracks.occluded[-1, left].any() and tracks.occluded[-1, right].all()


def test_camera_motion_is_applied_on_top_of_the_framing():
    sequence = mesh_mod.procedural_animation(cube(), "static", 3)
    base = mesh_mod.render_mesh_tracks(sequence, HEIGHT, WIDTH, num_points=200)
    shift = geometry.make_se3(translation=np.array([[0.0, 0, 0], [0.3, 0, 0], [0.6, 0, 0]]))
    moved = mesh_mod.render_mesh_tracks(sequence, HEIGHT, WIDTH, num_points=200, camera_motion=shift)
    np.testing.assert_allclose(moved.points, base.points + shift[:, None, :3, 3], atol=1e-5)
    assert (moved.uvz[2, :, 0] > base.uvz[2, :, 0]).all()
    with pytest.raises(MeshError, match="camera motion"):
        mesh_mod.render_mesh_tracks(sequence, HEIGHT, WIDTH, camera_motion=np.eye(4)[None])


def test_first_frame_is_shaded_where_the_mesh_is_and_black_elsewhere():
    box = cube()
    box.visual.vertex_colors = np.tile([30, 200, 60, 255], (len(box.vertices), 1))
    sequence = mesh_mod.procedural_animation(box, "static", 1)
    tracks = mesh_mod.render_mesh_tracks(sequence, HEIGHT, WIDTH, num_points=100)
    image = tracks.first_frame
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
    lit = image.max(axis=-1) > 0
    _, world_to_cam = expected_camera()
    K = tracks.K
    # The cube's front face, seen head-on, is the square between its projected corners.
    front_corner = world_to_cam[:3, :3] @ np.array([HALF_SIDE, HALF_SIDE, HALF_SIDE]) + world_to_cam[:3, 3]
    half_extent = K[0, 0] * front_corner[0] / front_corner[2]
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH] + 0.5
    inside = (np.abs(cols - K[0, 2]) < half_extent - 1) & (np.abs(rows - K[1, 2]) < half_extent - 1)
    outside = (np.abs(cols - K[0, 2]) > half_extent + 1) | (np.abs(rows - K[1, 2]) > half_extent + 1)
    assert lit[inside].all(), "the mesh must render solid, without holes"
    assert not lit[outside].any(), "the background must stay black"
    green = image[inside]
    assert (green[:, 1] > green[:, 0]).all() and (green[:, 1] > green[:, 2]).all()
    np.testing.assert_array_equal(tracks.colors_rgb, np.tile([30, 200, 60], (100, 1)))


def _write_sequence(folder: Path, offsets: dict[str, float], ext: str = "obj") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, offset in offsets.items():
        box = cube()
        box.apply_translation([offset, 0.0, 0.0])
        box.export(folder / f"{name}.{ext}")


@pytest.mark.parametrize("ext", ["obj", "ply", "glb"])
def test_folder_sequence_is_ordered_naturally_and_interpolated(tmp_path, ext):
    _write_sequence(tmp_path / "seq", {"frame1": 0.0, "frame2": 1.0, "frame10": 2.0}, ext)
    sequence = mesh_mod.load_mesh_sequence(tmp_path / "seq", 5)
    assert sequence.frame_names == [f"frame1.{ext}", f"frame2.{ext}", f"frame10.{ext}"]
    assert sequence.vertices.shape == (5, 8, 3) and sequence.vertices.dtype == np.float32
    np.testing.assert_allclose(sequence.vertices[:, :, 0].mean(axis=1), [0.0, 0.5, 1.0, 1.5, 2.0], atol=1e-6)


def test_zip_sequence_loads_like_a_folder(tmp_path):
    _write_sequence(tmp_path / "seq", {"a_001": 0.0, "a_002": 1.0})
    archive = tmp_path / "seq.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted((tmp_path / "seq").iterdir()):
            bundle.write(path, f"inner/{path.name}")
    sequence = mesh_mod.load_mesh_sequence(archive, 3)
    np.testing.assert_allclose(sequence.vertices[:, :, 0].mean(axis=1), [0.0, 0.5, 1.0], atol=1e-6)


def test_mismatched_topology_names_the_file(tmp_path):
    _write_sequence(tmp_path / "seq", {"f1": 0.0, "f2": 0.5})
    trimesh.creation.icosphere(subdivisions=1).export(tmp_path / "seq" / "f3.obj")
    with pytest.raises(MeshError, match="f3.obj.*topology"):
        mesh_mod.load_mesh_sequence(tmp_path / "seq", 4)


@pytest.mark.parametrize("name", ["junk.obj", "junk.glb", "junk.ply", "junk.stl"])
def test_unreadable_uploads_raise_mesh_errors(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).bytes(600))
    with pytest.raises(MeshError, match=name):
        mesh_mod.load_mesh_sequence(path, 4)


def test_empty_or_broken_archives_and_folders_raise_mesh_errors(tmp_path):
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(MeshError, match="empty"):
        mesh_mod.load_mesh_sequence(empty, 4)
    not_zip = tmp_path / "fake.zip"
    not_zip.write_bytes(b"definitely not a zip")
    with pytest.raises(MeshError, match="zip"):
        mesh_mod.load_mesh_sequence(not_zip, 4)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(MeshError, match="no mesh files"):
        mesh_mod.load_mesh_sequence(tmp_path / "nothing", 4)
    with pytest.raises(MeshError, match="no such"):
        mesh_mod.load_mesh_sequence(tmp_path / "missing.obj", 4)
    with pytest.raises(MeshError, match="unsupported"):
        (tmp_path / "notes.txt").write_text("hello")
        mesh_mod.load_mesh_sequence(tmp_path / "notes.txt", 4)


def test_procedural_motions_move_as_documented():
    box = cube()
    assert set(mesh_mod.MESH_MOTIONS) >= {"turntable", "translate", "bounce", "swing", "static"}
    translate = mesh_mod.procedural_animation(box, "translate", 3, amount=1.0)
    radius = math.sqrt(3) * HALF_SIDE
    np.testing.assert_allclose(translate.vertices[:, :, 0].mean(axis=1), [0, radius / 2, radius], atol=1e-5)
    bounce = mesh_mod.procedural_animation(box, "bounce", 9, amount=0.5)
    heights = bounce.vertices[:, :, 1].mean(axis=1)
    assert heights.min() == pytest.approx(0.0, abs=1e-6) and heights.max() == pytest.approx(0.5 * radius, rel=1e-5)
    with pytest.raises(MeshError, match="unknown mesh motion"):
        mesh_mod.procedural_animation(box, "teleport", 3)


def test_mesh_tracks_progress_and_cancel():
    sequence = mesh_mod.procedural_animation(cube(), "turntable", 3)
    seen = []
    mesh_mod.render_mesh_tracks(sequence, HEIGHT, WIDTH, num_points=50, progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(Cancelled):
        mesh_mod.render_mesh_tracks(sequence, HEIGHT, WIDTH, num_points=50, cancel=lambda: True)


def test_texture_colours_the_first_frame_and_the_points():
    from PIL import Image

    texture = np.zeros((8, 8, 3), dtype=np.uint8)
    texture[:, :4] = (255, 0, 0)  # left half of the texture red
    texture[:, 4:] = (0, 0, 255)  # right half blue
    quad = trimesh.Trimesh(
        vertices=[[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]],
        faces=[[0, 1, 2], [0, 2, 3]],
        visual=trimesh.visual.TextureVisuals(
            uv=[[0, 0], [1, 0], [1, 1], [0, 1]], image=Image.fromarray(texture)
        ),
        process=False,
    )
    sequence = mesh_mod.procedural_animation(quad, "static", 1)
    tracks = mesh_mod.render_mesh_tracks(sequence, HEIGHT, WIDTH, num_points=300)
    centre_u, centre_v = tracks.K[0, 2], tracks.K[1, 2]
    row = int(centre_v)
    left, right = tracks.first_frame[row, int(centre_u) - 10], tracks.first_frame[row, int(centre_u) + 10]
    assert left[0] > 100 and left[2] == 0
    assert right[2] > 100 and right[0] == 0
    on_left = tracks.uvz[0, :, 0] < centre_u - 1
    on_right = tracks.uvz[0, :, 0] > centre_u + 1
    assert (tracks.colors_rgb[on_left] == [255, 0, 0]).all()
    assert (tracks.colors_rgb[on_right] == [0, 0, 255]).all()
