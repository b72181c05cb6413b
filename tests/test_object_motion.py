"""Object motion: masked rigid moves measured on screen, masks in every encoding, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import camera as cam
from core import geometry as geo
from core import object_motion as om

HEIGHT, WIDTH = 48, 72
K = geo.intrinsics_from_fov(WIDTH, HEIGHT, 55.0)
NUM_FRAMES = 13
BACKGROUND_DEPTH = 4.0
OBJECT_DEPTH = 2.0
# The object: a block of pixels right of centre, so depth moves change its projection too.
OBJECT_ROWS = slice(14, 30)
OBJECT_COLS = slice(40, 60)


@pytest.fixture(scope="module")
def scene():
    """A dense cloud (one point per pixel): a background wall with a nearer block on it."""
    depth = np.full((HEIGHT, WIDTH), BACKGROUND_DEPTH)
    depth[OBJECT_ROWS, OBJECT_COLS] = OBJECT_DEPTH
    points0 = geo.unproject_depth(depth, K).reshape(-1, 3)
    uv0 = geo.pixel_grid(HEIGHT, WIDTH, dtype=np.float64).reshape(-1, 2)
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[OBJECT_ROWS, OBJECT_COLS] = 255
    return points0, uv0, mask


def project(points):
    uvz, _ = geo.project_points(points, K)
    return uvz


def moved_cloud(scene, motion, amount, num_frames=NUM_FRAMES):
    points0, uv0, mask = scene
    selected = om.select_points(mask, uv0, HEIGHT, WIDTH)
    transforms = om.object_motion_transforms(points0, selected, motion, amount, num_frames, K)
    return selected, transforms, om.apply_object_motion(points0, selected, transforms)


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------


def test_select_points_picks_exactly_the_masked_pixels(scene):
    points0, uv0, mask = scene
    selected = om.select_points(mask, uv0, HEIGHT, WIDTH)
    expected = np.zeros((HEIGHT, WIDTH), dtype=bool)
    expected[OBJECT_ROWS, OBJECT_COLS] = True
    np.testing.assert_array_equal(selected, expected.reshape(-1))


def test_select_points_uses_floor_of_pixel_coordinates():
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 2] = True
    uv = np.array([[2.0, 1.0], [2.99, 1.99], [1.99, 1.5], [2.5, 2.0], [np.nan, 1.5], [-0.5, 1.5], [4.0, 1.0]])
    np.testing.assert_array_equal(
        om.select_points(mask, uv, 4, 4), [True, True, False, False, False, False, False]
    )


ON = (slice(1, 3), slice(1, 3))


def encodings():
    base = np.zeros((4, 5), dtype=bool)
    base[ON] = True
    noisy = np.where(base, 250, 3).astype(np.uint8)  # JPEG-like noise in the black background
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[ON] = (255, 0, 0)  # a red stroke counts
    layer = np.zeros((4, 5, 4), dtype=np.uint8)
    layer[ON] = (0, 0, 0, 255)  # black brush on a transparent layer: alpha decides
    opaque = np.concatenate(
        [np.repeat(noisy[..., None], 3, axis=-1), np.full((4, 5, 1), 255, np.uint8)], axis=-1
    )
    return {
        "bool": base,
        "uint8 0/255": base.astype(np.uint8) * 255,
        "uint8 0/1 labels": base.astype(np.uint8),
        "int64 0/255": base.astype(np.int64) * 255,
        "uint16": base.astype(np.uint16) * 65535,
        "float 0/1": base.astype(np.float32),
        # A uint8 photo of a mask converted to float: 0–255 with JPEG noise around 0 and 255.
        "float 0/255 with noise": noisy.astype(np.float32),
        "uint8 with noise": noisy,
        "rgb": rgb,
        "rgba layer": layer,
        "opaque rgba": opaque,
        "single channel": base[..., None].astype(np.uint8) * 255,
    }


@pytest.mark.parametrize("name", sorted(encodings()))
def test_mask_encodings(name):
    expected = np.zeros((4, 5), dtype=bool)
    expected[ON] = True
    np.testing.assert_array_equal(om.mask_to_bool(encodings()[name]), expected)


def test_wrong_size_mask_is_a_clear_error_and_resize_fixes_it(scene):
    points0, uv0, mask = scene
    half = mask[::2, ::2]
    with pytest.raises(om.ObjectMotionError) as info:
        om.select_points(half, uv0, HEIGHT, WIDTH)
    message = str(info.value)
    assert (
        f"{HEIGHT // 2}×{WIDTH // 2}" in message
        and f"{HEIGHT}×{WIDTH}" in message
        and "resize_mask" in message
    )
    resized = om.resize_mask(half, HEIGHT, WIDTH)
    assert resized.shape == (HEIGHT, WIDTH) and resized.dtype == mask.dtype
    np.testing.assert_array_equal(
        om.select_points(resized, uv0, HEIGHT, WIDTH), om.select_points(mask, uv0, HEIGHT, WIDTH)
    )


def test_resize_mask_is_nearest_neighbour():
    small = np.array([[0, 255], [255, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(om.resize_mask(small, 4, 4), np.kron(small, np.ones((2, 2), np.uint8)))
    rgba = np.zeros((6, 6, 4), dtype=np.uint8)
    rgba[:3, :3, 3] = 255
    shrunk = om.resize_mask(rgba, 2, 2)
    assert shrunk.shape == (2, 2, 4)
    np.testing.assert_array_equal(shrunk[..., 3], [[255, 0], [0, 0]])


def test_empty_mask_is_a_clear_error(scene):
    _, uv0, mask = scene
    with pytest.raises(om.ObjectMotionError, match="empty"):
        om.select_points(np.zeros_like(mask), uv0, HEIGHT, WIDTH)
    with pytest.raises(om.ObjectMotionError, match="empty"):
        om.select_points(np.zeros((HEIGHT, WIDTH, 4), np.uint8), uv0, HEIGHT, WIDTH)


def test_mask_between_sparse_points_is_a_clear_error():
    mask = np.zeros((10, 10), dtype=bool)
    mask[4, 4] = True
    sparse_uv = np.array([[0.5, 0.5], [9.5, 9.5]])
    with pytest.raises(om.ObjectMotionError, match="no tracked point"):
        om.select_points(mask, sparse_uv, 10, 10)


def test_bad_mask_shape_is_a_clear_error(scene):
    _, uv0, _ = scene
    with pytest.raises(om.ObjectMotionError, match="shape"):
        om.select_points(np.zeros((HEIGHT, WIDTH, 2)), uv0, HEIGHT, WIDTH)


# --------------------------------------------------------------------------------------------
# Motions, measured on screen
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("motion", "direction"), [("right", (1, 0)), ("left", (-1, 0)), ("down", (0, 1)), ("up", (0, -1))]
)
@pytest.mark.parametrize("amount", [0.25, 0.1])
def test_image_plane_moves_are_a_fraction_of_the_frame_width(scene, motion, direction, amount):
    points0, _, _ = scene
    selected, transforms, moved = moved_cloud(scene, motion, amount)
    assert transforms.shape == (NUM_FRAMES, 4, 4)
    np.testing.assert_array_equal(transforms[0], np.eye(4))
    centroid = points0[selected].mean(axis=0)
    centroid_px = project(centroid[None])[0, :2]
    for frame, fraction in ((NUM_FRAMES - 1, 1.0), ((NUM_FRAMES - 1) // 2, 0.5)):
        moved_centroid = geo.transform_points(transforms[frame], centroid[None])
        shift = project(moved_centroid)[0, :2] - centroid_px
        np.testing.assert_allclose(shift, np.array(direction) * amount * WIDTH * fraction, atol=1e-9)
        # Every object point moves by the same pixel amount (it is a fronto-parallel block).
        point_shift = project(moved[frame, selected])[:, :2] - project(points0[selected])[:, :2]
        np.testing.assert_allclose(
            point_shift,
            np.broadcast_to(np.array(direction) * amount * WIDTH * fraction, point_shift.shape),
            atol=1e-9,
        )
    # Everything else is untouched, bit for bit.
    np.testing.assert_array_equal(
        moved[:, ~selected], np.broadcast_to(points0[~selected], moved[:, ~selected].shape)
    )


def test_explicit_width_overrides_the_principal_point(scene):
    points0, uv0, mask = scene
    selected = om.select_points(mask, uv0, HEIGHT, WIDTH)
    off_centre_K = K.copy()
    off_centre_K[0, 2] += 5
    transforms = om.object_motion_transforms(
        points0, selected, "right", 0.5, NUM_FRAMES, off_centre_K, width=WIDTH
    )
    depth = points0[selected, 2].mean()
    np.testing.assert_allclose(transforms[-1, 0, 3], 0.5 * WIDTH * depth / K[0, 0])


@pytest.mark.parametrize(
    ("motion", "amount", "depth_factor"), [("front", 0.5, 0.5), ("back", 0.5, 1.5), ("front", -0.25, 1.25)]
)
def test_depth_moves_are_a_fraction_of_the_object_depth(scene, motion, amount, depth_factor):
    points0, _, _ = scene
    selected, transforms, moved = moved_cloud(scene, motion, amount)
    centroid = points0[selected].mean(axis=0)
    end_centroid = moved[-1, selected].mean(axis=0)
    np.testing.assert_allclose(
        end_centroid, [centroid[0], centroid[1], centroid[2] * depth_factor], atol=1e-9
    )
    # Along the optical axis: the apparent size scales by 1 / depth_factor.
    width_before = np.ptp(project(points0[selected])[:, 0])
    width_after = np.ptp(project(moved[-1, selected])[:, 0])
    np.testing.assert_allclose(width_after, width_before / depth_factor, rtol=1e-9)
    np.testing.assert_array_equal(
        moved[:, ~selected], np.broadcast_to(points0[~selected], moved[:, ~selected].shape)
    )


@pytest.mark.parametrize("degrees", [90.0, -30.0, 45.0])
def test_rot_turns_about_the_centroid(scene, degrees):
    points0, _, _ = scene
    selected, transforms, moved = moved_cloud(scene, "rot", degrees)
    centroid = points0[selected].mean(axis=0)
    for frame in range(NUM_FRAMES):
        np.testing.assert_allclose(moved[frame, selected].mean(axis=0), centroid, atol=1e-9)
        np.testing.assert_allclose(
            moved[frame, selected, 1], points0[selected, 1], atol=1e-12
        )  # yaw keeps height
    before = points0[selected] - centroid
    far_from_axis = np.linalg.norm(before[:, [0, 2]], axis=-1) > 0.1
    for frame, fraction in ((NUM_FRAMES - 1, 1.0), ((NUM_FRAMES - 1) // 2, 0.5)):
        after = moved[frame, selected] - centroid
        turned = yaw_degrees(after[far_from_axis]) - yaw_degrees(before[far_from_axis])
        np.testing.assert_allclose((turned + 180.0) % 360.0 - 180.0, degrees * fraction, atol=1e-9)


def yaw_degrees(offsets):
    """Heading of offsets (M, 3) in the x–z plane, measured as R_y turns: from +z towards +x."""
    return np.degrees(np.arctan2(offsets[:, 0], offsets[:, 2]))


def test_positive_rot_turns_the_camera_facing_side_left():
    front_point = np.array([[0.0, 0.0, 1.9], [0.0, 0.0, 2.1]])  # centroid at depth 2
    transforms = om.object_motion_transforms(front_point, np.array([True, True]), "rot", 30, 5, K)
    moved = om.apply_object_motion(front_point, np.array([True, True]), transforms)
    assert project(moved[-1, :1])[0, 0] < K[0, 2]


def test_object_motion_then_camera_motion(scene):
    points0, _, _ = scene
    selected, transforms, moved = moved_cloud(scene, "left", 0.2)
    camera_motion = cam.parse_camera_motion("rot y 10", NUM_FRAMES)
    final = cam.apply_camera_motion(moved, camera_motion, cam.scene_scale(points0))
    explicit = geo.transform_points(camera_motion @ transforms, points0[selected])
    np.testing.assert_allclose(final[:, selected], explicit, atol=1e-12)
    np.testing.assert_allclose(
        final[:, ~selected], geo.transform_points(camera_motion, points0[~selected]), atol=1e-12
    )


def test_per_frame_points_are_moved_frame_by_frame(scene):
    points0, uv0, mask = scene
    selected = om.select_points(mask, uv0, HEIGHT, WIDTH)
    drifting = points0[None] + np.arange(NUM_FRAMES)[:, None, None] * np.array([0.01, 0.0, 0.0])
    transforms = om.object_motion_transforms(points0, selected, "down", 0.1, NUM_FRAMES, K)
    moved = om.apply_object_motion(drifting, selected, transforms)
    np.testing.assert_allclose(moved[:, selected], geo.transform_points(transforms, drifting[:, selected]))
    np.testing.assert_array_equal(moved[:, ~selected], drifting[:, ~selected])


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_unknown_motion_lists_the_valid_ones(scene):
    points0, uv0, mask = scene
    selected = om.select_points(mask, uv0, HEIGHT, WIDTH)
    with pytest.raises(om.ObjectMotionError) as info:
        om.object_motion_transforms(points0, selected, "sideways", 1.0, NUM_FRAMES, K)
    for name in om.OBJECT_MOTIONS:
        assert name in str(info.value)
    # Names are case-insensitive.
    om.object_motion_transforms(points0, selected, " Right ", 0.1, NUM_FRAMES, K)


@pytest.mark.parametrize("amount", [float("nan"), float("inf"), "lots"])
def test_bad_amount(scene, amount):
    points0, uv0, mask = scene
    selected = om.select_points(mask, uv0, HEIGHT, WIDTH)
    with pytest.raises(om.ObjectMotionError, match="amount"):
        om.object_motion_transforms(points0, selected, "up", amount, NUM_FRAMES, K)


def test_front_by_the_whole_depth_is_refused(scene):
    points0, uv0, mask = scene
    selected = om.select_points(mask, uv0, HEIGHT, WIDTH)
    with pytest.raises(om.ObjectMotionError, match="behind the camera"):
        om.object_motion_transforms(points0, selected, "front", 1.0, NUM_FRAMES, K)


def test_nothing_selected_is_refused(scene):
    points0, _, _ = scene
    with pytest.raises(om.ObjectMotionError, match="no point is selected"):
        om.object_motion_transforms(points0, np.zeros(len(points0), bool), "up", 0.1, NUM_FRAMES, K)


# --------------------------------------------------------------------------------------------
# Property: any motion moves the centroid's projection as promised and nothing else
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    motion=st.sampled_from(("up", "down", "left", "right")),
    amount=st.floats(-0.8, 0.8, allow_nan=False),
    num_frames=st.integers(2, 30),
    seed=st.integers(0, 2**16),
)
def test_image_plane_property(motion, amount, num_frames, seed):
    rng = np.random.default_rng(seed)
    points0 = np.concatenate([rng.uniform(-1, 1, (40, 2)), rng.uniform(0.5, 6, (40, 1))], axis=-1)
    selected = rng.random(40) < 0.5
    selected[0] = True
    transforms = om.object_motion_transforms(points0, selected, motion, amount, num_frames, K)
    moved = om.apply_object_motion(points0, selected, transforms)
    centroid = points0[selected].mean(axis=0)
    shift = (
        project(geo.transform_points(transforms[-1], centroid[None]))[0, :2] - project(centroid[None])[0, :2]
    )
    step = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[motion]
    np.testing.assert_allclose(shift, np.array(step) * amount * WIDTH, atol=1e-7)
    np.testing.assert_array_equal(
        moved[:, ~selected], np.broadcast_to(points0[~selected], (num_frames, (~selected).sum(), 3))
    )
    np.testing.assert_array_equal(transforms[0], np.eye(4))
