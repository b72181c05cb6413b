"""Task recipes (core.tasks), point-cloud export and first-frame repainting.

Scenes are synthetic with known answers: a texture sliding a known number of pixels per frame,
a camera translation whose on-screen direction SPEC §6 fixes, a masked object moved by a known
fraction of the frame width. Sizes are small (9 frames of 64×96, the tiny checkpoint's) so the
whole file runs in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from core import geometry
from core.camera import CameraMotionError
from core.errors import UserError
from core.export import ExportError, export_point_cloud
from core.media import MediaError, read_video_frames, write_video
from core.object_motion import ObjectMotionError
from core.progress import Cancelled
from core.render import track_colors
from core.tasks import (
    ClipOptions,
    ObjectMove,
    OptionError,
    TaskInputError,
    TrackingOptions,
    TrackingResult,
    WorkingSize,
    camera_control,
    from_tracking_video,
    load_mask,
    mesh_animation,
    motion_transfer,
    object_manipulation,
)
from core.media import uniform_indices as resample_indices
from core.tasks.animation import depth_from_tracks, sample_footprint
from core.geometry import transform_and_project
from core.tasks.common import sample_nearest, transform_and_project_object
from trackers.points import PointTracks

T, H, W = 9, 64, 96
SIZE = WorkingSize(T, H, W)
SLIDE_PX_PER_FRAME = 2  # at the working size
SOURCE_SCALE = 2  # the source video is twice the working size


# --------------------------------------------------------------------------------------------
# Fixtures: synthetic media
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 128×192 RGB photo (2:3, like the working size)."""
    return np.asarray(Image.fromarray(data.astronaut()).resize((192, 128), Image.BICUBIC))


@pytest.fixture(scope="module")
def sliding_video(tmp_path_factory) -> Path:
    """A textured picture sliding right by SLIDE_PX_PER_FRAME working pixels per frame (8 fps)."""
    texture = np.asarray(Image.fromarray(data.coffee()).resize((320, 160), Image.BICUBIC))
    step = SLIDE_PX_PER_FRAME * SOURCE_SCALE
    width = W * SOURCE_SCALE
    # Content moving right = the crop window moving left over the texture.
    start = step * (T - 1)
    frames = np.stack([texture[16 : 16 + H * SOURCE_SCALE, start - step * t : start - step * t + width] for t in range(T)])
    path = tmp_path_factory.mktemp("media") / "slide.mp4"
    write_video(frames, path, fps=8)
    return path


@pytest.fixture(scope="module")
def box_mesh(tmp_path_factory) -> Path:
    import trimesh

    path = tmp_path_factory.mktemp("mesh") / "box.obj"
    trimesh.creation.box(extents=(1.0, 0.6, 0.8)).export(path)
    return path


def check_result(result: TrackingResult, task: str, num_points: int | None = None) -> None:
    """Shapes, dtypes and invariants every TrackingResult keeps."""
    assert result.frames.shape == (T, H, W, 3) and result.frames.dtype == np.uint8
    assert result.first_frame.shape == (H, W, 3) and result.first_frame.dtype == np.uint8
    n = result.uvz.shape[1]
    assert result.uvz.shape == (T, n, 3) and result.uvz.dtype == np.float32
    assert result.visible.shape == (T, n) and result.visible.dtype == bool
    assert result.colors.shape == (n, 3) and result.colors.dtype == np.uint8
    assert result.points.ndim == 2 and result.points.shape[1] == 3
    assert result.point_colors.shape == result.points.shape and result.point_colors.dtype == np.uint8
    assert result.task == task and result.metadata["task"] == task
    assert result.metadata["first_frame"] == result.first_frame_origin
    assert result.fps > 0
    json.dumps(result.metadata)  # goes into the settings JSON as is
    if num_points is not None:
        assert n == num_points
    if n:
        # One colour per track for the whole clip, from its frame-0 position and depth (SPEC §5),
        # with the depth range set by the points drawn on frame 0.
        np.testing.assert_array_equal(result.colors, track_colors(result.uvz[0], H, W, range_from=result.visible[0]))
        assert result.frames.any(), "the tracking video is black"


# --------------------------------------------------------------------------------------------
# Helpers of the recipes
# --------------------------------------------------------------------------------------------


def test_sample_nearest_reads_the_pixel_under_each_position():
    maps = np.arange(12, dtype=np.float32).reshape(1, 3, 4)  # value = 4·row + column
    uv = np.array([[[0.5, 0.5], [1.0, 0.5], [1.99, 1.5], [3.9, 2.1], [-5.0, 99.0], [np.nan, 0.2]]], dtype=np.float32)
    # Pixel (r, c) covers [c, c+1) × [r, r+1): no value between two pixels is ever invented.
    np.testing.assert_array_equal(sample_nearest(maps, uv)[0], [0.0, 1.0, 5.0, 11.0, 8.0, 0.0])
    # At a depth edge a track takes one side's depth, never a mix floating between them.
    edge = np.where(np.arange(4) < 2, 1.0, 10.0).astype(np.float32)[None, None, :].repeat(3, axis=1)
    assert set(sample_nearest(edge, np.array([[[1.9, 1.5], [2.0, 1.5], [2.1, 1.5]]]))[0]) <= {1.0, 10.0}


def test_every_video_track_is_drawn_wherever_it_is_inside_the_frame(sliding_video, monkeypatch):
    """DaS draws every frame-0 grid track in every frame where it lands inside the frame: the
    tracker's visibility (an occluded or "lost" track) does not decide what is drawn; it is
    kept as ``tracked_visible`` for diagnostics."""
    import trackers.depth
    import trackers.points

    # Track 0 stays at the centre but the tracker loses it from frame 2 on; track 1 walks
    # right by 20 px a frame and leaves the frame at u = W; track 2 is seen throughout, and
    # track 3 goes behind nothing but to a non-finite position on frame 4 (a tracker failure).
    uv = np.zeros((T, 4, 2), dtype=np.float32)
    uv[:, 0] = (W / 2, H / 2)
    uv[:, 1, 0] = 10.5 + 20.0 * np.arange(T)
    uv[:, 1, 1] = 20.5
    uv[:, 2] = (5.5, 5.5)
    uv[:, 3] = (30.5, 40.5)
    uv[4, 3] = np.nan
    seen = np.ones((T, 4), dtype=bool)
    seen[2:, 0] = False
    seen[5:, 1] = False
    monkeypatch.setattr(trackers.points, "track_points", lambda frames, grid, **kwargs: PointTracks(uv, seen, "test"))
    depth = np.full((T, H, W), 2.0, dtype=np.float32)
    monkeypatch.setattr(trackers.depth, "estimate_video_depth", lambda frames, method, **kwargs: (depth, None, "test"))

    result = motion_transfer(sliding_video, size=SIZE)
    inside_u = 10.5 + 20.0 * np.arange(T) < W  # frames 0–4 (u = 10.5 … 90.5); 110.5 is outside
    expected = np.ones((T, 4), dtype=bool)
    expected[:, 1] = inside_u
    expected[4, 3] = False
    np.testing.assert_array_equal(result.visible, expected)
    np.testing.assert_array_equal(result.tracked_visible, seen)
    assert result.tracker == "test" and result.depth_source == "test"
    np.testing.assert_allclose(result.uvz[:, 0, 2], 2.0)  # the depth under the track
    # The same rule for a video under camera control (no camera motion: the tracks as they are).
    video = camera_control(sliding_video, "", size=SIZE)
    np.testing.assert_array_equal(video.visible, expected)
    np.testing.assert_array_equal(video.tracked_visible, seen)


def test_transform_and_project_matches_the_geometry_module():
    rng = np.random.default_rng(0)
    points = rng.uniform([-1, -1, 2], [1, 1, 6], size=(500, 3)).astype(np.float32)
    motion = geometry.make_se3(geometry.rotation_about_axis("y", np.linspace(0, 30, T)), np.linspace([0, 0, 0], [0.5, 0, -1.0], T))
    K = geometry.intrinsics_from_fov(W, H)
    expected, _ = geometry.project_points(geometry.transform_points(motion, points), K)
    np.testing.assert_allclose(transform_and_project(points, motion, K), expected, rtol=1e-4, atol=1e-3)
    per_frame = geometry.transform_points(motion, points)  # (T, N, 3) input, identity motion on top
    identity = np.broadcast_to(np.eye(4), (T, 4, 4))
    np.testing.assert_allclose(transform_and_project(per_frame, identity, K), expected, rtol=1e-4, atol=1e-3)


def test_projecting_a_moving_object_equals_moving_it_first():
    from core.object_motion import apply_object_motion

    rng = np.random.default_rng(2)
    points = rng.uniform([-1, -1, 2], [1, 1, 6], size=(400, 3)).astype(np.float32)
    selected = rng.random(400) < 0.3
    camera = geometry.make_se3(geometry.rotation_about_axis("y", np.linspace(0, 10, T)))
    lift = geometry.make_se3(None, np.linspace([0, 0, 0], [0.3, -0.2, 0.5], T))
    K = geometry.intrinsics_from_fov(W, H)
    expected = transform_and_project(apply_object_motion(points, selected, lift), camera, K)
    np.testing.assert_allclose(transform_and_project_object(points, selected, camera, lift, K), expected, rtol=1e-4, atol=1e-3)


def test_points_behind_the_camera_are_not_projected():
    points = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, -1.0]], dtype=np.float32)
    uvz = transform_and_project(points, np.eye(4)[None], geometry.intrinsics_from_fov(W, H))
    assert np.isfinite(uvz[0, 0]).all() and np.isnan(uvz[0, 1, :2]).all()


def test_resample_indices_spread_over_the_whole_clip():
    np.testing.assert_array_equal(resample_indices(17, 9), np.arange(0, 17, 2))
    assert resample_indices(3, 5).tolist() == [0, 0, 1, 2, 2]


def test_sample_footprint_grows_with_the_spacing():
    rng = np.random.default_rng(0)

    def scattered(per_pixel: float) -> np.ndarray:
        count = int(per_pixel * 100 * 100)
        uv = rng.uniform(0, 100, size=(count, 2))
        return np.concatenate([uv, np.ones((count, 1))], 1)[None].astype(np.float32)

    dense = scattered(2.0)
    assert sample_footprint(dense, np.ones(dense.shape[:2], dtype=bool)) == "dense"
    sparse = scattered(1 / 16)  # one sample per 4×4 px on average
    side = sample_footprint(sparse, np.ones(sparse.shape[:2], dtype=bool))
    assert isinstance(side, int) and 6 <= side <= 12
    squares = np.zeros((100, 100), dtype=bool)
    for u, v in sparse[0, :, :2].astype(int):
        squares[max(v - side // 2, 0) : v - side // 2 + side, max(u - side // 2, 0) : u - side // 2 + side] = True
    assert squares[10:90, 10:90].mean() > 0.95  # the surface reads as solid


def test_depth_from_tracks_keeps_the_nearest_point_per_pixel():
    uvz0 = np.array([[1.5, 1.5, 5.0], [1.2, 1.7, 2.0], [3.5, 0.5, 9.0]], dtype=np.float32)
    depth = depth_from_tracks(uvz0, np.ones(3, dtype=bool), 3, 4)
    assert depth[1, 1] == 2.0 and depth[0, 3] == 9.0 and depth[2, 0] == 9.0  # empty pixels: farthest


# --------------------------------------------------------------------------------------------
# Motion transfer
# --------------------------------------------------------------------------------------------


def test_motion_transfer_follows_the_sliding_texture(sliding_video):
    result = motion_transfer(sliding_video, tracking=TrackingOptions(grid_size=12), size=SIZE)
    check_result(result, "motion_transfer", num_points=144)
    assert result.source_frames.shape == (T, H, W, 3)
    assert result.fps == pytest.approx(8.0)
    assert result.metadata["tracker"] and result.metadata["depth_source"]
    assert result.points.shape == (H * W, 3)  # the dense frame-0 cloud for the 3D view
    np.testing.assert_array_equal(result.point_colors.reshape(H, W, 3), result.source_frames[0])
    assert result.depth.shape == (H, W)
    # Tracks the tracker followed inside the frame move right by SLIDE_PX_PER_FRAME per frame.
    tracked = (result.visible & result.tracked_visible).all(axis=0)
    assert tracked.sum() > 20
    shift = result.uvz[-1, tracked, 0] - result.uvz[0, tracked, 0]
    assert np.median(shift) == pytest.approx(SLIDE_PX_PER_FRAME * (T - 1), abs=1.0)
    np.testing.assert_array_equal(result.first_frame, result.source_frames[0])


def test_motion_transfer_uses_an_edited_first_frame(sliding_video, photo, tmp_path):
    edited = tmp_path / "edited.png"
    Image.fromarray(photo).save(edited)
    result = motion_transfer(sliding_video, tracking=TrackingOptions(grid_size=8), first_frame=edited, size=SIZE)
    assert result.metadata["first_frame"] == "user image"
    assert result.first_frame.shape == (H, W, 3)
    assert not np.array_equal(result.first_frame, result.source_frames[0])


def test_motion_transfer_of_a_still_image_is_refused(photo):
    with pytest.raises(TaskInputError, match="needs a video"):
        motion_transfer(photo, size=SIZE)


def test_motion_transfer_of_a_one_frame_video_is_refused(photo, tmp_path):
    one_frame = write_video(photo[None], tmp_path / "one-frame.mp4", fps=8.0)
    with pytest.raises(TaskInputError, match="no motion to transfer"):
        motion_transfer(one_frame, size=SIZE)


def test_motion_transfer_of_a_missing_file_is_a_media_error(tmp_path):
    with pytest.raises(MediaError):
        motion_transfer(tmp_path / "nope.mp4", size=SIZE)


def test_motion_transfer_accepts_an_in_memory_video(sliding_video):
    from core.media import read_video_frames

    frames, _ = read_video_frames(sliding_video)
    result = motion_transfer(frames, tracking=TrackingOptions(grid_size=8), size=SIZE)
    check_result(result, "motion_transfer", num_points=64)


# --------------------------------------------------------------------------------------------
# Camera control
# --------------------------------------------------------------------------------------------


def test_camera_control_image_is_a_dense_cloud_and_trans_x_moves_content_right(photo):
    result = camera_control(photo, "trans 0.1 0 0", size=SIZE)
    check_result(result, "camera_control", num_points=H * W)
    assert result.metadata["mode"] == "image" and result.metadata["camera_motion"] == "trans 0.1 0 0"
    assert result.fps == pytest.approx(8.0)
    # Frame 0 is the undisturbed cloud: every pixel has its point exactly at its centre.
    np.testing.assert_allclose(result.uvz[0, :, :2], geometry.pixel_grid(H, W).reshape(-1, 2), atol=1e-3)
    # SPEC §6: trans x > 0 moves image content to the right.
    in_front = np.isfinite(result.uvz[-1, :, 0])
    assert np.all(result.uvz[-1, in_front, 0] > result.uvz[0, in_front, 0])


def test_camera_control_translations_are_in_units_of_the_median_depth(photo):
    result = camera_control(photo, "trans 0 0 -0.5", size=SIZE)  # halfway towards the median depth
    depth_ratio = result.uvz[-1, :, 2] / result.uvz[0, :, 2]
    median_depth = result.metadata["scene_scale"]
    expected = (result.uvz[0, :, 2] - 0.5 * median_depth) / result.uvz[0, :, 2]
    np.testing.assert_allclose(depth_ratio, expected, rtol=1e-4)


def test_camera_control_of_a_video_appends_the_motion_to_its_tracks(sliding_video):
    still = camera_control(sliding_video, "", tracking=TrackingOptions(grid_size=10), size=SIZE)
    assert still.metadata["mode"] == "video" and still.metadata["camera_mode"] == "append"
    check_result(still, "camera_control", num_points=100)
    moved = camera_control(sliding_video, "trans 0.1 0 0", tracking=TrackingOptions(grid_size=10), size=SIZE)
    np.testing.assert_allclose(moved.uvz[0], still.uvz[0], atol=1e-3)  # no motion yet at frame 0
    both = still.visible[-1] & moved.visible[-1]
    assert np.all(moved.uvz[-1, both, 0] > still.uvz[-1, both, 0])


def test_camera_control_image_mode_uses_only_the_first_frame(sliding_video):
    result = camera_control(sliding_video, "rot y 5", clip=ClipOptions(source_mode="image"), size=SIZE)
    assert result.metadata["mode"] == "image" and result.uvz.shape[1] == H * W


def test_invalid_camera_motion_fails_before_any_work(photo, monkeypatch):
    import trackers.depth

    def no_depth(*args, **kwargs):
        raise AssertionError("depth was estimated for an invalid motion string")

    monkeypatch.setattr(trackers.depth, "estimate_depth", no_depth)
    with pytest.raises(CameraMotionError, match="wobble"):
        camera_control(photo, "trans 0 0 1; wobble 3", size=SIZE)


def test_pixels_without_depth_are_never_drawn(photo, monkeypatch):
    """A sky the estimator could not measure stays black (as in DaS), instead of becoming a
    wall at the farthest depth that moves with the camera."""
    import trackers.depth

    real_estimate = trackers.depth.estimate_depth

    def estimate_with_sky(image, *args, **kwargs):
        result = real_estimate(image, *args, **kwargs)
        result.valid = result.valid.copy()
        result.valid[: image.shape[0] // 3] = False
        return result

    monkeypatch.setattr(trackers.depth, "estimate_depth", estimate_with_sky)
    result = camera_control(photo, "trans 0.1 0 0", size=SIZE)
    sky = np.zeros((H, W), dtype=bool)
    sky[: H // 3] = True
    sky = sky.reshape(-1)
    assert not result.visible[:, sky].any()
    assert result.visible[0, ~sky].all()
    assert result.metadata["pixels_without_depth"] == int(sky.sum())
    assert len(result.points) == int((~sky).sum())  # the 3D preview leaves them out too
    # Only the sky's own rows are black on frame 0 (the drawn points' 3×3 squares reach one row in).
    assert not result.frames[0, : H // 3 - 1].any() and result.frames[0, H // 3 :].any(axis=-1).all()

    def estimate_nothing(image, *args, **kwargs):
        result = real_estimate(image, *args, **kwargs)
        result.valid = np.zeros_like(result.valid)
        return result

    monkeypatch.setattr(trackers.depth, "estimate_depth", estimate_nothing)
    with pytest.raises(TaskInputError, match="no usable depth"):
        camera_control(photo, "", size=SIZE)


def test_source_mode_is_checked(photo):
    with pytest.raises(TaskInputError, match="needs a video"):
        camera_control(photo, "", clip=ClipOptions(source_mode="video"), size=SIZE)
    with pytest.raises(OptionError, match="source_mode"):
        ClipOptions(source_mode="sideways")


def test_cancelling_a_recipe_raises_cancelled(photo):
    with pytest.raises(Cancelled):
        camera_control(photo, "rot y 10", cancel=lambda: True, size=SIZE)


def test_progress_reaches_one(photo):
    reports = []
    camera_control(photo, "rot y 10", progress=lambda fraction, message: reports.append(fraction), size=SIZE)
    assert reports[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in reports)
    assert reports == sorted(reports)


# --------------------------------------------------------------------------------------------
# Object manipulation
# --------------------------------------------------------------------------------------------


def box_mask(height: int = H, width: int = W) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height // 4 : height // 2, width // 4 : width // 2] = 255
    return mask


def test_object_manipulation_moves_only_the_masked_points(photo):
    result = object_manipulation(photo, ObjectMove(box_mask(), "right", 0.25), size=SIZE)
    check_result(result, "object_manipulation", num_points=H * W)
    selected = box_mask().reshape(-1) > 0
    assert result.metadata["object_points"] == int(selected.sum())
    shift = result.uvz[-1, :, 0] - result.uvz[0, :, 0]
    # The object moves a quarter of the frame width at its depth; the rest of the scene stays.
    assert np.median(shift[selected]) == pytest.approx(0.25 * W, rel=0.15)
    np.testing.assert_allclose(shift[~selected], 0.0, atol=1e-3)


def test_object_manipulation_with_a_camera_motion_on_top(photo):
    result = object_manipulation(photo, ObjectMove(box_mask(), "up", 0.1), camera_motion="trans 0.1 0 0", size=SIZE)
    unselected = box_mask().reshape(-1) == 0
    in_front = np.isfinite(result.uvz[-1, :, 0]) & unselected
    assert np.all(result.uvz[-1, in_front, 0] > result.uvz[0, in_front, 0])  # the camera moved too
    assert result.metadata["camera_motion"] == "trans 0.1 0 0" and result.metadata["object_motion"] == "up"


def test_a_mask_at_the_source_size_is_resized_like_the_source(photo):
    mask = box_mask(*photo.shape[:2])
    result = object_manipulation(photo, ObjectMove(mask, "left", 0.1), size=SIZE)
    assert result.metadata["mask_resized_from"] == list(photo.shape[:2])
    assert result.metadata["object_points"] == int((box_mask() > 0).sum())


def test_a_mask_drawn_on_an_upright_phone_photo_fits_it(photo, tmp_path):
    """A photo stored sideways with an EXIF rotation is shown (and loaded) upright; a mask
    drawn on it has the upright size and must be accepted and resized like the photo."""
    stored_sideways = np.ascontiguousarray(np.rot90(photo, k=1))  # what the camera wrote
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored_sideways).save(path, exif=exif, quality=95)
    upright_height, upright_width = photo.shape[:2]
    mask = box_mask(upright_height, upright_width)
    result = object_manipulation(path, ObjectMove(mask, "left", 0.1), size=SIZE)
    assert result.metadata["mask_resized_from"] == [upright_height, upright_width]
    assert result.metadata["object_points"] == int((box_mask() > 0).sum())


def test_mask_files_with_alpha_are_read(tmp_path):
    rgba = np.zeros((H, W, 4), dtype=np.uint8)
    rgba[10:20, 10:30, 3] = 255  # a transparent layer with an opaque stroke
    path = tmp_path / "mask.png"
    Image.fromarray(rgba).save(path)
    mask, resized_from = load_mask(path, H, W)
    assert resized_from is None and mask.sum() == 10 * 20


@pytest.mark.parametrize(
    ("mask", "motion", "amount", "message"),
    [
        (np.zeros((H, W), np.uint8), "right", 0.1, "empty"),
        (None, "right", 0.1, "needs a mask"),
        (box_mask(), "sideways", 0.1, "unknown object motion"),
        (box_mask(), "right", "lots", "must be a number"),
        (box_mask(), "right", float("nan"), "finite"),
        (box_mask(50, 50), "right", 0.1, "draw the mask on the image"),
    ],
)
def test_object_manipulation_input_errors(photo, mask, motion, amount, message):
    with pytest.raises(UserError, match=message):
        object_manipulation(photo, ObjectMove(mask, motion, amount), size=SIZE)


# --------------------------------------------------------------------------------------------
# Mesh animation and tracking videos made elsewhere
# --------------------------------------------------------------------------------------------


def test_mesh_animation_turntable(box_mesh):
    result = mesh_animation(box_mesh, procedural="turntable", amount=90, camera_motion="trans 0 0 -0.1", num_points=3000, size=SIZE)
    check_result(result, "mesh_animation", num_points=3000)
    assert result.source_frames is None
    assert result.first_frame.any() and result.metadata["first_frame"] == "mesh render"
    assert result.metadata["procedural"] == "turntable" and result.metadata["scene_scale"] > 0
    assert result.depth.shape == (H, W)
    # The back of the box is not drawn on frame 0, so the blue (depth) channel spans the
    # visible surface, as in DaS's training videos (whose tracks were all visible on frame 0).
    drawn_blue = result.colors[result.visible[0], 2]
    assert (~result.visible[0]).sum() > 1000
    assert np.percentile(drawn_blue, 2) <= 5 and np.percentile(drawn_blue, 98) >= 250
    # The box turns: the tracks move between the first and the last frame.
    both = result.visible[0] & result.visible[-1]
    assert np.abs(result.uvz[-1, both, :2] - result.uvz[0, both, :2]).max() > 2.0


def test_mesh_animation_errors(box_mesh, tmp_path):
    from trackers.mesh import MeshError

    with pytest.raises(MeshError):
        mesh_animation(box_mesh, procedural="wiggle", size=SIZE)
    with pytest.raises(CameraMotionError):
        mesh_animation(box_mesh, procedural="turntable", camera_motion="zoom", size=SIZE)


def test_from_tracking_video_resamples_and_needs_a_first_frame(tmp_path, photo):
    frames = np.zeros((17, 120, 180, 3), dtype=np.uint8)
    for index in range(17):
        frames[index, :, index * 10 : index * 10 + 20] = 255  # a bar sweeping right
    path = tmp_path / "blender_tracking.mp4"
    write_video(frames, path, fps=16)
    with pytest.raises(TaskInputError, match="first-frame image"):
        from_tracking_video(path, size=SIZE)
    result = from_tracking_video(path, first_frame=photo, size=SIZE)
    check_result(result, "from_tracking_video", num_points=0)
    # 17 frames at 16 fps last 1.0625 s; 9 frames spread over it play at 9 / 1.0625 fps.
    assert result.fps == pytest.approx(9 / (17 / 16))
    bar_columns = [np.flatnonzero(frame[H // 2, :, 0] > 128).mean() for frame in result.frames]
    assert bar_columns == sorted(bar_columns)


def test_uploaded_tracking_videos_keep_their_position_code(tmp_path, photo):
    """R encodes u/W (SPEC §5): a 16:9 render is stretched, not cropped, so its left and right
    edges keep R ≈ 0 and ≈ 255; enlarging never overshoots into colours the render lacked."""
    source_h, source_w = 36, 64  # 16:9 and smaller than the working size: enlarged
    ramp = np.zeros((5, source_h, source_w, 3), dtype=np.uint8)
    ramp[..., 0] = np.round(255 * (np.arange(source_w) + 0.5) / source_w).astype(np.uint8)
    ramp[:, :, ::8] = 0  # black gaps between "points", where bicubic would ring
    path = tmp_path / "wide_tracking.mp4"
    write_video(ramp, path, fps=8)
    result = from_tracking_video(path, first_frame=photo, size=SIZE)
    assert result.metadata["resize_mode"] == "stretch" and result.metadata["aspect_changed"]
    assert result.metadata["source_size"] == [source_h, source_w]
    red = result.frames[0, H // 2, :, 0].astype(int)
    assert red[:3].max() <= 20 and red[-3:].min() >= 215  # both edges keep their code
    # Enlarging is bilinear: a flat colour with black gaps (points on black) never overshoots
    # into brighter values, as bicubic does (243 for this pattern).
    flat = np.zeros((5, source_h, source_w, 3), dtype=np.uint8)
    flat[..., 0] = 200
    flat[:, :, ::8] = 0
    flat[:, ::8] = 0
    flat_path = tmp_path / "flat_tracking.mp4"
    write_video(flat, flat_path, fps=8)
    decoded_max = int(read_video_frames(flat_path)[0][..., 0].max())  # H.264 moves values a little
    enlarged = from_tracking_video(flat_path, first_frame=photo, size=SIZE)
    assert enlarged.frames[..., 0].max() <= decoded_max
    same_aspect = from_tracking_video(path, first_frame=photo, size=SIZE, resize_mode="crop")
    assert same_aspect.metadata["resize_mode"] == "crop"


# --------------------------------------------------------------------------------------------
# TrackingResult and export
# --------------------------------------------------------------------------------------------


def test_with_first_frame_checks_the_size(photo):
    result = camera_control(photo, "", size=SIZE)
    assert result.task == "camera_control" and result.first_frame_origin == "source"
    replaced = result.with_first_frame(np.zeros((H, W, 3), np.uint8), "repainted")
    assert replaced.metadata["first_frame"] == "repainted" and result.metadata["first_frame"] == "source"
    assert replaced.first_frame_origin == "repainted" and replaced.task == "camera_control"
    with pytest.raises(TaskInputError, match="load_image"):
        result.with_first_frame(np.zeros((10, 10, 3), np.uint8), "bad")


@pytest.mark.parametrize("suffix", [".glb", ".ply"])
def test_export_point_cloud_round_trips(tmp_path, suffix):
    import trimesh

    rng = np.random.default_rng(1)
    points = rng.normal(size=(1000, 3)).astype(np.float32)
    points[0] = np.nan  # dropped
    colors = rng.integers(0, 255, size=(1000, 3), dtype=np.uint8)
    path = export_point_cloud(points, colors, tmp_path / f"cloud{suffix}", max_points=500)
    loaded = trimesh.load(path)
    cloud = next(iter(loaded.geometry.values())) if hasattr(loaded, "geometry") else loaded
    assert len(cloud.vertices) == 500
    # y and z are flipped to the viewers' y-up convention.
    finite = np.isfinite(points).all(axis=1)
    original = {tuple(np.round(p * [1, -1, -1], 4)) for p in points[finite]}
    assert all(tuple(np.round(v, 4)) in original for v in np.asarray(cloud.vertices)[:20])


def test_export_point_cloud_errors(tmp_path):
    with pytest.raises(ExportError, match=".glb or .ply"):
        export_point_cloud(np.zeros((2, 3)), np.zeros((2, 3), np.uint8), tmp_path / "cloud.obj")
    with pytest.raises(ExportError, match="no finite point"):
        export_point_cloud(np.full((2, 3), np.nan), np.zeros((2, 3), np.uint8), tmp_path / "cloud.ply")


# --------------------------------------------------------------------------------------------
# Repainting the first frame (tiny random FLUX components, built offline)
# --------------------------------------------------------------------------------------------


def test_depth_control_image_is_near_white():
    from core.repaint import depth_control_image

    depth = np.tile(np.linspace(1.0, 10.0, W, dtype=np.float32), (H, 1))
    control = depth_control_image(depth)
    assert control.shape == (H, W, 3) and control.dtype == np.uint8
    assert control[0, 0, 0] == 255 and control[0, -1, 0] == 0
    assert (control[..., 0] == control[..., 2]).all()


def test_repaint_without_weights_explains_how_to_get_them(monkeypatch, tmp_path):
    from core import repaint

    monkeypatch.setattr(repaint, "flux_checkpoint_dir", lambda: tmp_path / "absent")
    with pytest.raises(repaint.RepaintError, match="hf download"):
        repaint.repaint_first_frame(np.ones((H, W), np.float32), "a cat")


def _write_tiny_flux(folder: Path) -> Path:
    """A FluxControlPipeline with random tiny components and tokenizers built from generated vocabularies."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxControlPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5Tokenizer

    torch.manual_seed(0)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    clip_vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in letters:  # single characters, word-final or not: every lower-case word encodes
        clip_vocab[letter] = len(clip_vocab)
        clip_vocab[f"{letter}</w>"] = len(clip_vocab)
    clip_tokenizer = CLIPTokenizer(vocab=clip_vocab, merges=[], model_max_length=77)
    clip = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
            num_attention_heads=4, num_hidden_layers=2, vocab_size=len(clip_vocab), projection_dim=32,
            max_position_embeddings=77,
        )
    )
    t5_vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    t5_vocab += [(letter, -3.0) for letter in letters] + [(f"▁{letter}", -3.0) for letter in letters]
    t5_tokenizer = T5Tokenizer(vocab=t5_vocab, extra_ids=0, model_max_length=32)
    t5 = T5EncoderModel(
        T5Config(vocab_size=len(t5_vocab), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8)
    )
    # Latent channels 1, packed 2×2 → 4; the control latents double that → in_channels 8.
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=8, out_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
    )
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1, latent_channels=1,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035,
    )
    pipe = FluxControlPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=clip, tokenizer=clip_tokenizer,
        text_encoder_2=t5, tokenizer_2=t5_tokenizer, transformer=transformer,
    )
    pipe.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_repaint_first_frame_with_a_tiny_flux(tmp_path, monkeypatch):
    from diffusers import FluxControlPipeline

    from core.repaint import repaint_first_frame

    folder = _write_tiny_flux(tmp_path / "tiny-flux")
    seen = {}
    original_call = FluxControlPipeline.__call__

    def spy(self, *args, **kwargs):
        seen["control"] = np.asarray(kwargs["control_image"])
        seen["size"] = (kwargs["height"], kwargs["width"])
        return original_call(self, *args, **kwargs)

    monkeypatch.setattr(FluxControlPipeline, "__call__", spy)
    depth = np.tile(np.linspace(1.0, 4.0, 47, dtype=np.float32)[:, None], (1, 70))  # odd sizes on purpose
    steps = []
    image = repaint_first_frame(depth, "a red car", checkpoint=folder, num_inference_steps=2, progress=lambda f, m: steps.append(f))
    assert image.shape == (47, 70, 3) and image.dtype == np.uint8
    assert seen["size"][0] % 2 == 0 and seen["size"][1] % 2 == 0  # rounded to the latent packing
    assert seen["control"][0, 0, 0] > seen["control"][-1, 0, 0]  # near (top rows) is bright
    assert steps[-1] == 1.0
    again = repaint_first_frame(depth, "a red car", checkpoint=folder, num_inference_steps=2)
    np.testing.assert_array_equal(image, again)  # seeded
    with pytest.raises(Cancelled):
        repaint_first_frame(depth, "a red car", checkpoint=folder, num_inference_steps=2, cancel=lambda: True)


# --------------------------------------------------------------------------------------------
# Typed options (core.options)
# --------------------------------------------------------------------------------------------


def test_options_default_to_the_das_values_and_refuse_bad_ones():
    assert WorkingSize() == WorkingSize(49, 480, 720)
    assert WorkingSize.from_native((9, 64, 96)) == SIZE and SIZE.frame_shape == (H, W)
    assert TrackingOptions().grid_size == 70 and TrackingOptions().fov_deg == 55.0
    assert ClipOptions() == ClipOptions(resize_mode="crop", start_s=0.0, source_mode="auto")
    for build, message in [
        (lambda: WorkingSize(0, H, W), "frames"),
        (lambda: WorkingSize(T, 64.5, W), "height"),
        (lambda: ClipOptions(resize_mode="zoom"), "resize_mode"),
        (lambda: ClipOptions(start_s=-1.0), "start time"),
        (lambda: TrackingOptions(grid_size=1), "grid size"),
        (lambda: TrackingOptions(fov_deg=180), "field of view"),
    ]:
        with pytest.raises(OptionError, match=message):
            build()


def test_object_move_is_checked_and_normalised_when_built():
    move = ObjectMove(box_mask(), " Right ", "0.25")
    assert move.motion == "right" and move.amount == 0.25
    with pytest.raises(ObjectMotionError, match="empty"):
        ObjectMove(box_mask(), "up", " ")
