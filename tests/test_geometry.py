"""Geometry: round trips on random shapes and synthetic scenes with known answers."""

import math

import numpy as np
import pytest

from core import geometry as geo

RNG_SEED = 1234


@pytest.fixture
def rng():
    return np.random.default_rng(RNG_SEED)


def random_rotation(rng, batch=()):
    q = rng.normal(size=batch + (4,))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def test_intrinsics_from_fov_matches_das_formula():
    K = geo.intrinsics_from_fov(720, 480, 55.0)
    expected_f = 360.0 / math.tan(math.radians(27.5))
    assert K[0, 0] == pytest.approx(expected_f)
    assert K[1, 1] == pytest.approx(expected_f)
    assert (K[0, 2], K[1, 2]) == (360.0, 240.0)
    assert geo.fov_from_intrinsics(K, 720) == pytest.approx(55.0)


@pytest.mark.parametrize("bad_fov", [0.0, -5.0, 180.0])
def test_intrinsics_reject_bad_fov(bad_fov):
    with pytest.raises(ValueError):
        geo.intrinsics_from_fov(64, 48, bad_fov)


def test_pixel_grid_uses_pixel_centres():
    grid = geo.pixel_grid(2, 3)
    assert grid.shape == (2, 3, 2)
    np.testing.assert_array_equal(grid[0, 0], [0.5, 0.5])
    np.testing.assert_array_equal(grid[1, 2], [2.5, 1.5])


@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
def test_unproject_then_project_is_identity(rng, batch):
    K = geo.intrinsics_from_fov(96, 64, 60.0)
    n = 50
    uvz = np.concatenate(
        [rng.uniform(0, 96, batch + (n, 1)), rng.uniform(0, 64, batch + (n, 1)), rng.uniform(0.1, 20, batch + (n, 1))],
        axis=-1,
    )
    points = geo.unproject_uvz(uvz, K)
    back, in_front = geo.project_points(points, K)
    assert in_front.all()
    np.testing.assert_allclose(back, uvz, rtol=1e-10, atol=1e-9)


def test_unproject_depth_of_fronto_parallel_plane():
    """A plane at z = 2 seen through K: every point has z = 2 and x, y on the known rays."""
    K = geo.intrinsics_from_focal(8, 6, focal_px=4.0)
    depth = np.full((6, 8), 2.0, dtype=np.float32)
    points = geo.unproject_depth(depth, K)
    assert points.shape == (6, 8, 3) and points.dtype == np.float32
    np.testing.assert_allclose(points[..., 2], 2.0)
    # pixel (row 0, col 0) centre (0.5, 0.5); cx, cy = 4, 3 -> x = (0.5-4)*2/4, y = (0.5-3)*2/4
    np.testing.assert_allclose(points[0, 0], [-1.75, -1.25, 2.0])
    # the centre column/row straddle the principal point symmetrically
    np.testing.assert_allclose(points[:, 3, 0], -points[:, 4, 0])


def test_project_marks_points_behind_camera(rng):
    K = geo.intrinsics_from_fov(64, 48)
    points = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    uvz, in_front = geo.project_points(points, K)
    np.testing.assert_array_equal(in_front, [True, False, False])
    np.testing.assert_allclose(uvz[0], [32.0, 24.0, 1.0])
    assert np.isnan(uvz[1, 0]) and not geo.in_frame(uvz, 48, 64)[1]


def test_in_frame_bounds():
    uvz = np.array([[0.0, 0.0, 1.0], [63.99, 47.99, 1.0], [64.0, 10.0, 1.0], [-0.01, 10.0, 1.0], [5.0, 5.0, -1.0]])
    np.testing.assert_array_equal(geo.in_frame(uvz, 48, 64), [True, True, False, False, False])


def test_uv_in_frame_ignores_depth_and_rejects_nan():
    uv = np.array([[0.0, 0.0], [63.99, 47.99], [64.0, 10.0], [10.0, -0.01], [np.nan, 5.0]])
    np.testing.assert_array_equal(geo.uv_in_frame(uv, 48, 64), [True, True, False, False, False])
    behind = np.array([[5.0, 5.0, -1.0]])
    assert geo.uv_in_frame(behind, 48, 64).tolist() == [True] and geo.in_frame(behind, 48, 64).tolist() == [False]


def test_sample_nearest_reads_the_pixel_a_position_falls_in():
    image = np.arange(12, dtype=np.int32).reshape(3, 4)  # value = 4·row + column
    # (u, v) = (2.0, 1.0) is the corner of pixel (row 1, col 2); 1.99 still lies in column 1.
    uv = np.array([[0.5, 0.5], [2.0, 1.0], [1.99, 2.5], [3.5, 2.99], [-3.0, 9.0], [np.nan, 1.5]])
    np.testing.assert_array_equal(geo.sample_nearest(image, uv), [0, 6, 9, 11, 8, 4])
    assert geo.sample_nearest(image, uv).dtype == np.int32
    mask = image % 2 == 0
    np.testing.assert_array_equal(geo.sample_nearest(mask, uv[:2]), [True, True])


def test_sample_nearest_per_frame_maps():
    maps = np.stack([np.zeros((3, 4)), np.full((3, 4), 7.0)])
    maps[1, 2, 3] = 9.0
    uv = np.array([[[3.5, 2.5]], [[3.5, 2.5]]])
    np.testing.assert_array_equal(geo.sample_nearest(maps, uv), [[0.0], [9.0]])
    with pytest.raises(ValueError):
        geo.sample_nearest(maps, uv[0])


@pytest.mark.parametrize("batch", [(), (5,), (2, 3)])
def test_se3_inverse_times_pose_is_identity(rng, batch):
    pose = geo.make_se3(random_rotation(rng, batch), rng.normal(size=batch + (3,)))
    np.testing.assert_allclose(geo.se3_inverse(pose) @ pose, np.broadcast_to(np.eye(4), batch + (4, 4)), atol=1e-12)
    np.testing.assert_allclose(pose @ geo.se3_inverse(pose), np.broadcast_to(np.eye(4), batch + (4, 4)), atol=1e-12)


def test_transform_points_broadcasts_frames_over_cloud(rng):
    frames = geo.make_se3(random_rotation(rng, (7,)), rng.normal(size=(7, 3)))
    cloud = rng.normal(size=(11, 3)).astype(np.float32)
    moved = geo.transform_points(frames, cloud)
    assert moved.shape == (7, 11, 3) and moved.dtype == np.float32
    expected = np.einsum("tij,nj->tni", frames[:, :3, :3], cloud) + frames[:, None, :3, 3]
    np.testing.assert_allclose(moved, expected, rtol=1e-5, atol=1e-5)
    back = geo.transform_points(geo.se3_inverse(frames), moved)
    np.testing.assert_allclose(back, np.broadcast_to(cloud, back.shape), atol=1e-5)


def test_rotation_about_y_turns_forward_to_right():
    rot = geo.rotation_about_axis("y", 90.0)
    np.testing.assert_allclose(rot @ [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], atol=1e-12)
    batch = geo.rotation_about_axis("z", np.array([0.0, 90.0]))
    np.testing.assert_allclose(batch[1] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError):
        geo.rotation_about_axis("w", 1.0)


def test_rotation_about_point_fixes_the_centre(rng):
    center = np.array([0.3, -0.2, 4.0])
    transform = geo.rotation_about_point(random_rotation(rng), center)
    np.testing.assert_allclose(geo.transform_points(transform, center[None]), center[None], atol=1e-12)


def test_look_at_points_forward_axis_at_target():
    rot = geo.look_at_rotation(np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(rot[:, 2], np.array([-1.0, 0.0, 1.0]) / math.sqrt(2), atol=1e-12)
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)


def test_camera_centers_of_translated_camera():
    world_to_cam = geo.make_se3(translation=np.array([0.0, 0.0, -2.0]))
    np.testing.assert_allclose(geo.camera_centers(world_to_cam), [0.0, 0.0, 2.0])


def test_scale_intrinsics_keeps_centre_at_image_centre():
    K = geo.intrinsics_from_fov(100, 50)
    half = geo.scale_intrinsics(K, 0.5, 0.5)
    assert (half[0, 2], half[1, 2]) == (25.0, 12.5)
    assert half[0, 0] == pytest.approx(K[0, 0] / 2)


@pytest.mark.parametrize("per_frame_points", [False, True])
def test_transform_and_project_equals_transform_then_project(rng, per_frame_points):
    K = geo.intrinsics_from_fov(96, 64)
    frames = geo.make_se3(random_rotation(rng, (5,)), rng.normal(scale=0.3, size=(5, 3)))
    shape = (5, 40, 3) if per_frame_points else (40, 3)
    points = (rng.normal(size=shape) + [0.0, 0.0, 3.0]).astype(np.float32)
    points[..., 0, 2] = -2.0  # one point behind every camera
    fused = geo.transform_and_project(points, frames, K)
    expected, in_front = geo.project_points(geo.transform_points(frames, points), K)
    assert fused.shape == (5, 40, 3) and fused.dtype == np.float32
    np.testing.assert_allclose(fused[in_front], expected[in_front], rtol=1e-5, atol=1e-4)
    assert np.isnan(fused[~in_front][:, 0]).all()
