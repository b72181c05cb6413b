"""The controllability check (core.quality): figures on hand-made clips with known answers,
each warning on the clip that must raise it, none on a normal pan, and the realistic failure
that motivated it (a camera string that flies through the scene)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.quality import (
    DRAWN_LEVEL,
    LEAVES_SCENE_SHARE,
    MAX_CHECKED_TRACKS,
    ControlCheck,
    check_tracking,
    frame_coverage,
    object_rigidity,
)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
T, H, W = 9, 48, 72


def _drawn_frames(coverage_rows: list[int], height: int = H, width: int = W) -> np.ndarray:
    """Frames whose first ``rows`` rows are drawn (a mid grey), the rest black."""
    frames = np.zeros((len(coverage_rows), height, width, 3), dtype=np.uint8)
    for index, rows in enumerate(coverage_rows):
        frames[index, :rows] = 128
    return frames


def _pan(num_frames: int, num_tracks_side: int, shift_px: float) -> tuple[np.ndarray, np.ndarray]:
    """A grid of tracks at depth 1..2 sliding ``shift_px`` to the right over the clip, all drawn."""
    u, v = np.meshgrid(np.linspace(10, W - 20, num_tracks_side), np.linspace(5, H - 5, num_tracks_side))
    uv0 = np.stack([u.ravel(), v.ravel()], axis=-1)
    progress = np.linspace(0.0, 1.0, num_frames)[:, None, None]
    uv = uv0[None] + progress * np.array([shift_px, 0.0])
    z = np.broadcast_to(np.linspace(1.0, 2.0, uv0.shape[0]), (num_frames, uv0.shape[0]))
    uvz = np.concatenate([uv, z[..., None]], axis=-1).astype(np.float32)
    return uvz, np.ones(uvz.shape[:2], dtype=bool)


# --------------------------------------------------------------------------------------------
# Figures on a hand-made case
# --------------------------------------------------------------------------------------------


def test_figures_are_exact_on_a_hand_made_clip():
    height, width = 10, 200  # a track "moves" from 2 px on (1 % of 200)
    frames = _drawn_frames([5, 2, 8], height, width)  # coverage 0.5, 0.2, 0.8
    # u per frame for six tracks; v fixed; z = frame-0 depth.
    u = np.array(
        [
            [10.0, 14.0, 12.0],  # A, z=1: farthest away at frame 1 → 4 px
            [50.0, 52.0, 80.0],  # B, z=2: 30 px at frame 2, where it is not drawn → 2 px
            [90.0, 91.0, 90.5],  # C, z=3: 1 px
            [130.0, 130.5, 130.0],  # D, z=4: 0.5 px
            [150.0, 190.0, 190.0],  # E: not drawn in frame 0 → not counted
            [170.0, 205.0, 205.0],  # F: drawn only in frame 0, then out of the frame → not counted
        ]
    ).T
    z = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    uvz = np.stack([u, np.full_like(u, 4.5), np.broadcast_to(z, u.shape)], axis=-1)
    drawn = np.ones((3, 6), dtype=bool)
    drawn[2, 1] = False
    drawn[0, 4] = False
    drawn[1:, 5] = False
    seen = drawn.copy()
    seen[1, :2] = False  # 2 of the 14 drawn positions were predicted
    check = check_tracking(frames, uvz, drawn, seen=seen, approximate_depth=False)

    assert check.coverage == (0.5, 0.2, 0.8)
    assert check.coverage_min == 0.2 and check.coverage_median == 0.5
    assert check.motion_median_px == pytest.approx(1.5)  # median of 4, 2, 1, 0.5
    assert check.moving_share == pytest.approx(0.5)  # A and B move ≥ 2 px
    assert check.parallax_px == pytest.approx(3.5)  # nearest quarter (A: 4) − farthest (D: 0.5)
    assert check.predicted_share == pytest.approx(2 / 14)
    assert check.lost_share == pytest.approx(1 / 10)  # B at frame 2, of 5 frame-0 tracks × 2 later frames
    assert not check.camera_leaves_scene and check.leaves_scene_frame is None
    assert check.ok and check.warnings == () and check.warning_codes == ()
    assert check.to_dict()["predicted_share"] == 0.1429  # rounded for the settings JSON


def test_frame_coverage_counts_any_lit_channel_above_compression_noise():
    frames = np.zeros((2, 2, 2, 3), dtype=np.uint8)
    frames[0, 0, 0, 2] = DRAWN_LEVEL + 1  # one dim blue pixel is drawn
    frames[0, 1, :] = DRAWN_LEVEL  # H.264 ringing around black is not
    frames[1, :, 1] = (0, 255, 0)
    assert frame_coverage(frames).tolist() == [0.25, 0.5]


def test_an_uploaded_tracking_video_without_tracks_has_unknown_motion_and_no_motion_warning():
    frames = _drawn_frames([H] * T)
    check = check_tracking(frames, np.zeros((T, 0, 3)), np.zeros((T, 0), dtype=bool), approximate_depth=False)
    assert check.coverage_median == 1.0
    assert check.motion_median_px is None and check.moving_share is None and check.parallax_px is None
    assert check.lost_share is None
    assert check.ok and "motion: unknown" in check.figures_text()


def test_an_object_on_black_is_not_mostly_black_when_the_background_is_meant_to_be_empty():
    uvz, drawn = _pan(T, 8, 20.0)
    frames = _drawn_frames([H // 4 - 1] * T)  # a mesh covering 11 of 48 rows
    assert check_tracking(frames, uvz, drawn, approximate_depth=False).warning_codes == ("mostly_black",)
    check = check_tracking(frames, uvz, drawn, approximate_depth=False, black_background=True)
    assert check.coverage_median == pytest.approx(11 / 48) and check.ok
    frames[4:] = 0  # but a camera leaving it still warns
    uvz[4:, :, 2] = -1.0
    drawn[4:] = False
    assert check_tracking(frames, uvz, drawn, approximate_depth=False, black_background=True).warning_codes == (
        "camera_leaves_scene",
    )


# --------------------------------------------------------------------------------------------
# Warnings on the clips that must raise them
# --------------------------------------------------------------------------------------------


def test_black_after_frame_0_warns_mostly_black_and_camera_leaves_scene():
    uvz, drawn = _pan(T, 8, 20.0)
    uvz[1:, :, 2] = -1.0  # the camera flew past everything: all points behind it
    drawn[1:] = False
    check = check_tracking(_drawn_frames([H] + [0] * (T - 1)), uvz, drawn, approximate_depth=False)
    assert check.coverage_min == 0.0 and check.coverage_median == 0.0 and check.lost_share is None
    assert check.camera_leaves_scene and check.leaves_scene_frame == 1
    assert check.warning_codes == ("mostly_black", "camera_leaves_scene")
    mostly_black, leaves = check.warnings
    assert "mostly black" in mostly_black and "smaller camera move" in mostly_black
    assert "leaves the scene" in leaves and "at frame 1" in leaves and "smaller move" in leaves


def test_points_dropped_in_view_are_lost_tracks_not_a_camera_leaving():
    uvz, drawn = _pan(T, 8, 5.0)
    drawn[1:] = False  # still inside the frame and in front of the camera, but not drawn
    check = check_tracking(_drawn_frames([H] + [0] * (T - 1)), uvz, drawn, seen=drawn, approximate_depth=False)
    assert check.lost_share == 1.0 and not check.camera_leaves_scene
    assert check.warning_codes == ("mostly_black", "tracks_lost")  # no motion is shown: it is lost
    mostly_black, lost = check.warnings
    assert "later start" in mostly_black and "point tracker" in mostly_black
    assert "Points were lost: 100 %" in lost


def test_camera_leaving_later_names_the_first_frame_it_leaves():
    rows = [H] * 5 + [int(0.05 * H)] * (T - 5)  # 4 % drawn from frame 5: under a tenth of frame 0
    uvz, drawn = _pan(T, 8, 20.0)
    check = check_tracking(_drawn_frames(rows), uvz, drawn, approximate_depth=False)
    assert check.leaves_scene_frame == 5 and check.coverage[5] < LEAVES_SCENE_SHARE
    assert check.warning_codes == ("camera_leaves_scene",)  # the median frame is still full


def test_points_hidden_on_purpose_without_a_tracker_are_not_lost():
    uvz, drawn = _pan(T, 8, 20.0)
    drawn[1:, ::2] = False  # a mesh turning its far half away: hidden, in view
    check = check_tracking(_drawn_frames([H] * T), uvz, drawn, approximate_depth=False)
    assert check.lost_share is None and check.ok


def test_static_clip_warns_almost_no_motion():
    uvz, drawn = _pan(T, 8, 0.0)
    check = check_tracking(_drawn_frames([H] * T), uvz, drawn, approximate_depth=False)
    assert check.motion_median_px == 0.0 and check.moving_share == 0.0
    assert check.warning_codes == ("almost_no_motion",)
    assert "almost no motion" in check.warnings[0] and "larger camera or object move" in check.warnings[0]


def test_a_small_moving_object_in_a_static_shot_is_motion():
    uvz, drawn = _pan(T, 20, 0.0)
    uvz[:, :20, 0] += np.linspace(0.0, 30.0, T)[:, None]  # one row of 20 tracks of 400 moves: 5 %
    check = check_tracking(_drawn_frames([H] * T), uvz, drawn, approximate_depth=False)
    assert check.motion_median_px == 0.0 and check.moving_share == pytest.approx(0.05)
    assert check.ok


def test_normal_pan_gives_no_warning():
    uvz, drawn = _pan(T, 8, 20.0)
    check = check_tracking(_drawn_frames([H] * T), uvz, drawn, seen=drawn, approximate_depth=False)
    assert check.motion_median_px == pytest.approx(20.0)
    assert check.moving_share == 1.0 and check.parallax_px == pytest.approx(0.0, abs=1e-3)
    assert check.predicted_share == 0.0
    assert check.ok and "No problems found." in check.report_text()


def test_mostly_predicted_tracks_and_approximate_depth_warn():
    uvz, drawn = _pan(T, 8, 20.0)
    seen = np.zeros_like(drawn)
    seen[0] = True  # only frame 0 was seen: 8 of 9 drawn positions predicted
    check = check_tracking(_drawn_frames([H] * T), uvz, drawn, seen=seen, approximate_depth=True)
    assert check.predicted_share == pytest.approx(8 / 9, abs=1e-4)
    assert check.warning_codes == ("mostly_predicted", "approximate_depth")
    assert "predicted 89 %" in check.warnings[0]
    assert "approximate" in check.warnings[1] and "python -m core.download" in check.warnings[1]


def test_dense_clouds_are_subsampled_without_changing_a_uniform_answer():
    side = 260  # 67,600 tracks > MAX_CHECKED_TRACKS
    assert side * side > MAX_CHECKED_TRACKS
    uvz, drawn = _pan(T, side, 12.0)
    check = check_tracking(_drawn_frames([H] * T), uvz, drawn, approximate_depth=False)
    assert check.motion_median_px == pytest.approx(12.0) and check.moving_share == 1.0


# --------------------------------------------------------------------------------------------
# The object and its serialisation
# --------------------------------------------------------------------------------------------


def test_check_is_frozen_and_serialises_to_json():
    uvz, drawn = _pan(T, 8, 0.0)
    check = check_tracking(_drawn_frames([H] * T), uvz, drawn, approximate_depth=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        check.coverage_min = 1.0  # type: ignore[misc]
    figures = json.loads(json.dumps(check.to_dict()))
    assert figures["coverage"] == [1.0] * T
    assert figures["warning_codes"] == ["almost_no_motion", "approximate_depth"]
    assert figures["warnings"] == list(check.warnings) and figures["predicted_share"] is None
    restored = {**figures, **{name: tuple(figures[name]) for name in ("coverage", "warning_codes", "warnings")}}
    assert ControlCheck(**restored) == check  # exact here: every figure is 0 or 1


def test_mismatched_shapes_are_refused():
    uvz, drawn = _pan(T, 4, 1.0)
    with pytest.raises(ValueError, match="one T"):
        check_tracking(_drawn_frames([H] * (T - 1)), uvz, drawn, approximate_depth=False)
    with pytest.raises(ValueError, match="seen"):
        check_tracking(_drawn_frames([H] * T), uvz, drawn, seen=drawn[:, :3], approximate_depth=False)


# --------------------------------------------------------------------------------------------
# object_rigidity
# --------------------------------------------------------------------------------------------


def test_object_rigidity_is_zero_for_a_shift_and_the_spread_for_a_shear():
    uv0 = np.array([[10.0, 5.0], [20.0, 5.0], [30.0, 5.0]])
    assert object_rigidity(uv0, uv0 + [7.0, -3.0]) == 0.0
    sheared = uv0 + np.array([[8.0, 0.0], [10.0, 0.0], [12.0, 0.0]])  # deviations 2, 0, 2 of 10
    assert object_rigidity(uv0, sheared) == pytest.approx(0.2)
    assert math.isnan(object_rigidity(uv0, uv0))


# --------------------------------------------------------------------------------------------
# Realistic: the recipe and the camera string from the issue
# --------------------------------------------------------------------------------------------


def _camera_control_result(source: Path, camera_motion: str):
    """The camera-control recipe at a small working size with the built-in depth."""
    from core.tasks import TrackingOptions, WorkingSize, camera_control

    return camera_control(
        source, camera_motion, size=WorkingSize(T, H, W), tracking=TrackingOptions(depth_method="builtin")
    )


def _check(result) -> ControlCheck:
    return check_tracking(
        result.frames, result.uvz, result.visible, approximate_depth=bool(result.metadata["depth_approximate"])
    )


def test_flying_through_the_landscape_warns_that_the_camera_leaves_the_scene():
    check = _check(_camera_control_result(ASSETS / "landscape.jpg", "trans 0 0 -50"))
    assert check.coverage[0] > 0.9 and check.coverage_median == 0.0
    assert check.leaves_scene_frame == 1
    assert check.warning_codes == ("mostly_black", "camera_leaves_scene", "approximate_depth")


def test_a_gentle_move_into_the_landscape_only_notes_approximate_depth():
    check = _check(_camera_control_result(ASSETS / "landscape.jpg", "trans 0 0 -0.3"))
    assert check.coverage_min > 0.9 and check.moving_share > 0.9 and check.parallax_px > 0
    assert check.warning_codes == ("approximate_depth",)
