"""Camera modes for video sources (append / override / stabilise) and copying a camera, from
Python, the command line and the studio, on synthetic videos whose camera is known
(:mod:`bench.synthetic_scene`); tracks and depth from the weights-free built-in methods."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.synthetic_scene import default_camera_path, render_synthetic_video, rotation_camera_path
from core import defaults, geometry
from core.camera import parse_camera_motion, scale_motion
from core.cli import _job_from_args, _normalise_job, _task_call, build_parser
from core import tasks
from core.options import CAMERA_MODES, ClipOptions, OptionError, TrackingOptions, WorkingSize
from core.tasks import TaskInputError, camera_control, camera_from_video, object_manipulation
from core.tasks.common import preview_cloud
from core.tasks.result import CAMERA_PATH_SAMPLES_PER_FRAME, camera_path_points

NUM_FRAMES, HEIGHT, WIDTH = 17, 96, 144
SIZE = WorkingSize(NUM_FRAMES, HEIGHT, WIDTH)
TRACKING = TrackingOptions(depth_method="builtin", tracker="lk", grid_size=20)
YAW_DEG = 12.0
K = geometry.intrinsics_from_fov(WIDTH, HEIGHT, defaults.FOV_DEG)
"""The built-in depth gives no intrinsics: the recipes assume this pinhole (as the renders use)."""


def _render(cam_to_world: np.ndarray, *, moving_object: bool = False) -> np.ndarray:
    return render_synthetic_video(
        NUM_FRAMES, HEIGHT, WIDTH, cam_to_world=cam_to_world, supersample=1, with_moving_object=moving_object
    ).frames


@pytest.fixture(scope="module")
def panning_video() -> np.ndarray:
    """A camera that only turns (12° yaw, 3° tilt): every point of the scene is static."""
    return _render(rotation_camera_path(NUM_FRAMES))


@pytest.fixture(scope="module")
def by_mode(panning_video) -> dict[str, tasks.TrackingResult]:
    return {
        mode: camera_control(panning_video, "", size=SIZE, clip=ClipOptions(camera_mode=mode), tracking=TRACKING)
        for mode in CAMERA_MODES
    }


def _drift_px(result: tasks.TrackingResult) -> np.ndarray:
    """``(T, N)`` distance of each drawn track from its frame-0 position."""
    return np.linalg.norm(result.uvz[..., :2] - result.uvz[:1, :, :2], axis=-1)


def test_camera_mode_is_a_typed_option():
    assert ClipOptions().camera_mode == "append"
    assert ClipOptions(camera_mode=" Stabilize ").camera_mode == "stabilise"
    with pytest.raises(OptionError, match="camera_mode must be one of append, override, stabilise"):
        ClipOptions(camera_mode="follow")


def test_modes_that_replace_a_camera_refuse_a_still_and_stabilise_refuses_a_motion(panning_video):
    still = panning_video[0]
    for mode in ("override", "stabilise"):
        with pytest.raises(TaskInputError, match="has none: use camera mode 'append'"):
            camera_control(still, "", size=SIZE, clip=ClipOptions(camera_mode=mode), tracking=TRACKING)
        with pytest.raises(TaskInputError, match="has none"):  # a video read as a still
            camera_control(panning_video, "", size=SIZE, clip=ClipOptions(camera_mode=mode, source_mode="image"), tracking=TRACKING)
    with pytest.raises(TaskInputError, match="clear the camera motion"):
        camera_control(panning_video, "rot y 5", size=SIZE, clip=ClipOptions(camera_mode="stabilise"), tracking=TRACKING)


def test_stabilise_holds_a_panning_camera_still(by_mode):
    append, stabilise = by_mode["append"], by_mode["stabilise"]
    # Where the tracker saw the point and both renders drew it.
    seen = stabilise.tracked_visible & stabilise.visible & append.visible
    append_drift, stable_drift = _drift_px(append)[seen].mean(), _drift_px(stabilise)[seen].mean()
    assert append_drift > 5.0, append_drift  # the source camera pans: the scene slides by ~30 px
    assert stable_drift < 0.5 and stable_drift < append_drift / 20, (stable_drift, append_drift)
    meta = stabilise.metadata
    assert meta["camera_mode"] == "stabilise" and meta["source_static_tracks"] > 100
    assert 0.0 <= meta["source_residual_px"] < 2.0
    # A pure rotation: the estimated camera centre stays at the origin (units of the median depth).
    assert stabilise.camera_path.shape == (NUM_FRAMES, 3)
    assert np.abs(stabilise.camera_path).max() < 0.05 * meta["scene_scale"]
    np.testing.assert_allclose(stabilise.camera_path, meta["source_camera_path"], atol=1e-4)
    assert append.camera_path is None and append.metadata["camera_mode"] == "append"


def test_stabilise_keeps_a_moving_object_moving():
    """A camera travelling 1.4 m while a box slides and turns: stabilised, the background holds
    still and the box moves as seen from the frame-0 viewpoint (the exact answer)."""
    video = render_synthetic_video(NUM_FRAMES, HEIGHT, WIDTH, supersample=1)
    tracking = TrackingOptions(depth_method="builtin", tracker="lk", grid_size=24)
    stable = camera_control(video.frames, "", size=SIZE, clip=ClipOptions(camera_mode="stabilise"), tracking=tracking)
    appended = camera_control(video.frames, "", size=SIZE, tracking=tracking)
    from_frame0 = dataclasses.replace(video, cam_to_world=np.repeat(np.eye(4)[None], NUM_FRAMES, axis=0))
    expected, _, moving = from_frame0.true_tracks(stable.uvz[0, :, :2])
    seen = stable.tracked_visible
    assert moving.sum() >= 20
    box_travel = np.median(np.linalg.norm(expected[-1, moving, :2] - expected[0, moving, :2], axis=-1))
    assert box_travel > 30.0

    def median_errors(result: tasks.TrackingResult) -> tuple[float, float]:
        error = np.linalg.norm(result.uvz[..., :2] - expected[..., :2], axis=-1)
        return float(np.median(error[seen & ~moving])), float(np.median(error[seen & moving]))

    background, box = median_errors(stable)
    assert background < 0.5 and box < 3.0, (background, box)
    background, box = median_errors(appended)  # the source camera kept: far from the frame-0 view
    assert background > 3.0 and box > 3.0, (background, box)


def test_override_with_an_empty_path_is_stabilise(by_mode):
    np.testing.assert_array_equal(by_mode["override"].uvz, by_mode["stabilise"].uvz)
    np.testing.assert_array_equal(by_mode["override"].frames, by_mode["stabilise"].frames)


def test_override_replaces_the_source_camera_by_the_user_path(panning_video, by_mode):
    motion = "rot y -8"
    result = camera_control(panning_video, motion, size=SIZE, clip=ClipOptions(camera_mode="override"), tracking=TRACKING)
    # The tracks the estimator held static sit at their frame-0 position in world, so they move
    # exactly as the user's camera alone moves the frame-0 cloud.
    static = (_drift_px(by_mode["stabilise"]) == 0).all(0)
    assert static.sum() > 100
    # The estimate refines the assumed focal length, and the recipe lifts and projects with it.
    refined_K = geometry.intrinsics_from_focal(WIDTH, HEIGHT, result.metadata["focal_px"])
    assert result.metadata["source_focal"] == "refined"
    world0 = geometry.unproject_uvz(result.uvz[0], refined_K)
    camera = scale_motion(parse_camera_motion(motion, NUM_FRAMES), result.metadata["scene_scale"])
    expected = geometry.transform_and_project(world0[static], camera, refined_K)
    np.testing.assert_allclose(result.uvz[:, static], expected, atol=1e-2)
    # The 3D preview is lifted with the refined focal length too: same depth, narrower or wider rays.
    preview_points, _ = preview_cloud(result.depth, refined_K, result.source_frames[0])
    np.testing.assert_allclose(result.points, preview_points, rtol=1e-5)
    # ... which is not what appending the motion to the panning source camera gives.
    appended = camera_control(panning_video, motion, size=SIZE, tracking=TRACKING)
    assert np.abs(appended.uvz[-1, static, 0] - expected[-1, :, 0]).mean() > 10.0


def test_object_manipulation_in_a_stabilised_video(panning_video):
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[HEIGHT // 3 : 2 * HEIGHT // 3, WIDTH // 3 : 2 * WIDTH // 3] = True
    move = tasks.ObjectMove(mask, "right", 0.25)
    result = object_manipulation(panning_video, move, size=SIZE, clip=ClipOptions(camera_mode="stabilise"), tracking=TRACKING)
    inside = geometry.in_frame(result.uvz, HEIGHT, WIDTH)
    selected = (np.abs(result.uvz[0, :, 0] - WIDTH / 2) < WIDTH / 6 - 2) & (np.abs(result.uvz[0, :, 1] - HEIGHT / 2) < HEIGHT / 6 - 2)
    background = (np.abs(result.uvz[0, :, 0] - WIDTH / 2) > WIDTH / 6 + 2) & inside.all(0)
    shift = result.uvz[-1, :, 0] - result.uvz[0, :, 0]
    # The object moves right by about a quarter of the width; the stabilised background stays.
    assert np.median(shift[selected]) == pytest.approx(0.25 * WIDTH, rel=0.25)
    assert abs(np.median(shift[background])) < 0.5
    assert result.metadata["camera_mode"] == "stabilise" and result.metadata["object_motion"] == "right"


@pytest.fixture(scope="module")
def yaw_video() -> np.ndarray:
    return _render(rotation_camera_path(NUM_FRAMES, yaw_deg=YAW_DEG, pitch_deg=0.0))


def test_copy_a_panning_camera_onto_a_photo(yaw_video):
    photo = yaw_video[0]
    result = camera_from_video(photo, yaw_video, size=SIZE, tracking=TRACKING)
    true_motion = geometry.se3_inverse(rotation_camera_path(NUM_FRAMES, yaw_deg=YAW_DEG, pitch_deg=0.0))
    points = geometry.unproject_uvz(result.uvz[0], K)
    expected = geometry.transform_and_project(points, true_motion, K)
    centre = (np.abs(result.uvz[0, :, 0] - WIDTH / 2) < 20) & (np.abs(result.uvz[0, :, 1] - HEIGHT / 2) < 20)
    expected_shift = np.median(expected[-1, centre, 0] - expected[0, centre, 0])
    assert abs(expected_shift) == pytest.approx(K[0, 0] * np.tan(np.radians(YAW_DEG)), rel=0.05)
    shift = np.median(result.uvz[-1, centre, 0] - result.uvz[0, centre, 0])
    assert shift == pytest.approx(expected_shift, rel=0.15)  # the photo pans like the reference
    assert np.median(np.abs(result.uvz[-1, centre, 1] - result.uvz[0, centre, 1])) < 1.5  # and does not tilt
    meta = result.metadata
    assert meta["camera_mode"] == "copy" and result.task == "camera_control"
    assert result.fps == pytest.approx(defaults.FPS) and result.source_frames.shape == yaw_video.shape
    np.testing.assert_array_equal(result.first_frame, photo)
    assert np.abs(result.camera_path).max() < 0.05 * meta["scene_scale"]


def test_copy_rescales_translations_by_the_ratio_of_median_depths(yaw_video):
    reference_path = default_camera_path(NUM_FRAMES)
    reference = _render(reference_path, moving_object=True)
    result = camera_from_video(yaw_video[0], reference, size=SIZE, tracking=TRACKING)
    meta = result.metadata
    ratio = meta["scene_scale"] / meta["reference_scene_scale"]
    assert meta["copy_translation_ratio"] == pytest.approx(ratio, rel=1e-5)
    estimated = np.asarray(meta["source_camera_path"])
    np.testing.assert_allclose(result.camera_path, estimated * meta["copy_translation_ratio"], atol=1e-4)
    # The estimated reference path heads where the true one does.
    true_end, estimated_end = reference_path[-1, :3, 3], estimated[-1]
    assert true_end @ estimated_end / np.linalg.norm(true_end) / np.linalg.norm(estimated_end) > 0.95
    # An extra motion applies on top, in the photo's units.
    moved = camera_from_video(yaw_video[0], reference, "trans 0 0 -0.2", size=SIZE, tracking=TRACKING)
    assert not np.allclose(moved.camera_path, result.camera_path)
    with pytest.raises(TaskInputError, match="must be a video"):
        camera_from_video(yaw_video[0], yaw_video[0], size=SIZE, tracking=TRACKING)
    with pytest.raises(TaskInputError, match="leave it at 'append'"):
        camera_from_video(yaw_video[0], reference, size=SIZE, clip=ClipOptions(camera_mode="override"), tracking=TRACKING)


def test_camera_path_preview_points():
    path = np.array([[0.0, 0, 0], [1.0, 0, 0], [1.0, 2.0, 0]])
    points, colors = camera_path_points(path)
    assert len(points) == 2 * CAMERA_PATH_SAMPLES_PER_FRAME + 1
    np.testing.assert_allclose(points[[0, CAMERA_PATH_SAMPLES_PER_FRAME, -1]], path, atol=1e-6)
    assert np.all(np.diff(points[:CAMERA_PATH_SAMPLES_PER_FRAME, 0]) > 0)  # along the first segment
    assert colors[0, 1] > colors[0, 0] and colors[-1, 0] > colors[-1, 1]  # green start, red end


def test_command_line_flags_become_typed_options():
    size = WorkingSize(9, 64, 96)
    args = build_parser().parse_args(["camera-control", "clip.mp4", "--camera-mode", "stabilise", "--tracking-only"])
    recipe, call_args, kwargs = _task_call(_normalise_job(_job_from_args(args)), size, False)
    assert recipe is tasks.camera_control and call_args == ["clip.mp4", ""]
    assert kwargs["clip"] == ClipOptions(camera_mode="stabilise")
    args = build_parser().parse_args(
        ["camera-control", "photo.png", "--camera-from", "ref.mp4", "--camera-motion", "rot y 5", "--start", "1"]
    )
    recipe, call_args, kwargs = _task_call(_normalise_job(_job_from_args(args)), size, False)
    assert recipe is tasks.camera_from_video and call_args == ["photo.png", "ref.mp4", "rot y 5"]
    assert kwargs["clip"] == ClipOptions(start_s=1.0)
    job = {"task": "object_manipulation", "input": "v.mp4", "mask": "m.png", "object_motion": "up", "amount": 0.2,
           "camera_mode": "override"}
    recipe, _, kwargs = _task_call(_normalise_job(job), size, False)
    assert recipe is tasks.object_manipulation and kwargs["clip"].camera_mode == "override"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["camera-control", "clip.mp4", "--camera-mode", "follow"])
    with pytest.raises(OptionError, match="camera_mode"):
        _task_call(_normalise_job({"task": "camera_control", "input": "clip.mp4", "camera_mode": "follow"}), size, False)


@pytest.fixture(scope="module")
def studio(new_tiny_studio):
    studio = new_tiny_studio("camera-modes")
    yield studio
    studio.engine.unload()


def test_studio_builds_with_camera_modes_and_a_copied_camera(studio, tmp_path):
    import trimesh

    from core.media import write_video
    from ui.handlers import builds, camera_modes
    from ui.handlers.inputs import SOURCE_IMAGE, SOURCE_VIDEO

    num_frames, height, width = studio.working_size()
    frames = render_synthetic_video(
        num_frames, height, width, cam_to_world=rotation_camera_path(num_frames), supersample=1, with_moving_object=False
    ).frames
    video = str(write_video(frames, tmp_path / "pan.mp4", defaults.FPS))
    photo = tmp_path / "photo.png"
    from PIL import Image

    Image.fromarray(frames[0]).save(photo)
    options = dict(depth_method="builtin", tracker="lk", grid_size=16)

    built = builds.build_camera_control(studio, SOURCE_VIDEO, None, video, "rot y 5", camera_mode="override", **options)
    tracking = built.tracking
    assert tracking.metadata["camera_mode"] == "override" and tracking.metadata["camera_motion"] == "rot y 5"
    assert tracking.camera_path.shape == (num_frames, 3)
    cloud = trimesh.load(built.point_cloud)
    vertices = cloud.vertices if hasattr(cloud, "vertices") else np.concatenate([g.vertices for g in cloud.geometry.values()])
    assert len(vertices) == len(tracking.points) + (num_frames - 1) * CAMERA_PATH_SAMPLES_PER_FRAME + 1

    # Stabilise ignores the (greyed-out) motion text; a photo is always 'append'.
    stable = builds.build_camera_control(studio, SOURCE_VIDEO, None, video, "rot y 5", camera_mode="stabilise", **options)
    assert stable.tracking.metadata["camera_mode"] == "stabilise" and stable.tracking.metadata["camera_motion"] == ""
    photo_built = builds.build_camera_control(studio, SOURCE_IMAGE, str(photo), video, "", camera_mode="override", **options)
    assert photo_built.tracking.metadata["mode"] == "image" and photo_built.tracking.camera_path is None

    copied = builds.build_camera_control(studio, SOURCE_IMAGE, str(photo), None, "", reference_video=video, **options)
    assert copied.tracking.metadata["camera_mode"] == "copy" and copied.tracking.camera_path is not None

    assert camera_modes.motion_for_mode(SOURCE_VIDEO, "stabilise").camera_motion["interactive"] is False
    assert camera_modes.motion_for_mode(SOURCE_IMAGE, "stabilise").camera_motion["interactive"] is True
    controls = camera_modes.camera_control_source_controls(SOURCE_VIDEO)
    assert controls.camera_mode["visible"] is True and controls.reference["visible"] is False
