"""Camera-motion language: hand-worked matrices, DaS semantics, errors, presets by projection."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import camera as cam
from core import geometry as geo

T49 = 49
EXACT = 1e-12
WIDTH, HEIGHT = 720, 480
K55 = geo.intrinsics_from_fov(WIDTH, HEIGHT, 55.0)
PLANE_DEPTH = 2.0


def translation(dx, dy, dz):
    out = np.eye(4)
    out[:3, 3] = (dx, dy, dz)
    return out


def rot_y_by_hand(degrees):
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1.0]])


def rot_x_by_hand(degrees):
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1.0]])


def rot_z_by_hand(degrees):
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])


# --------------------------------------------------------------------------------------------
# Hand-worked matrices
# --------------------------------------------------------------------------------------------


def test_blank_text_is_identity():
    for text in ("", "   ", ";;", " ; \t ;", None):
        motion = cam.parse_camera_motion(text)
        assert motion.shape == (T49, 4, 4) and motion.dtype == np.float64
        np.testing.assert_array_equal(motion, np.broadcast_to(np.eye(4), (T49, 4, 4)))


def test_trans_is_linear_over_the_default_range():
    motion = cam.parse_camera_motion("trans 0.1 0 0")
    np.testing.assert_allclose(motion[0], np.eye(4), atol=EXACT)
    np.testing.assert_allclose(motion[24], translation(0.05, 0, 0), atol=EXACT)
    np.testing.assert_allclose(motion[48], translation(0.1, 0, 0), atol=EXACT)
    np.testing.assert_allclose(motion[12], translation(0.025, 0, 0), atol=EXACT)


def test_rot_reaches_the_exact_angle_at_the_end():
    motion = cam.parse_camera_motion("rot y 90 0 48")
    quarter_turn = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1.0]])
    np.testing.assert_allclose(motion[48], quarter_turn, atol=EXACT)
    half = math.sqrt(0.5)
    np.testing.assert_allclose(
        motion[24],
        np.array([[half, 0, half, 0], [0, 1, 0, 0], [-half, 0, half, 0], [0, 0, 0, 1]]),
        atol=EXACT,
    )


@pytest.mark.parametrize(
    ("text", "frame", "expected"),
    [
        ("rot x 30", 48, rot_x_by_hand(30)),
        ("rot z -60", 24, rot_z_by_hand(-30)),
        ("rot y 45 8 16", 12, rot_y_by_hand(22.5)),
        ("trans 0 0 -0.5 0 30", 15, translation(0, 0, -0.25)),
        ("trans 0 0 -0.5 0 30", 40, translation(0, 0, -0.5)),
    ],
)
def test_hand_worked_frames(text, frame, expected):
    np.testing.assert_allclose(cam.parse_camera_motion(text)[frame], expected, atol=EXACT)


def test_frame_range_clamps_to_the_clip():
    clamped = cam.parse_camera_motion("trans 1 0 0 -5 100")
    np.testing.assert_allclose(clamped, cam.parse_camera_motion("trans 1 0 0 0 48"), atol=EXACT)
    np.testing.assert_allclose(clamped[24], translation(0.5, 0, 0), atol=EXACT)


def test_reversed_range_is_swapped():
    np.testing.assert_array_equal(
        cam.parse_camera_motion("rot x 30 40 10"), cam.parse_camera_motion("rot x 30 10 40")
    )


def test_identity_before_start_and_hold_after_end():
    motion = cam.parse_camera_motion("trans 0 0 1 20 30")
    for frame in range(0, 21):
        np.testing.assert_array_equal(motion[frame], np.eye(4))
    np.testing.assert_allclose(motion[25], translation(0, 0, 0.5), atol=EXACT)
    for frame in range(30, 49):
        np.testing.assert_allclose(motion[frame], translation(0, 0, 1), atol=EXACT)


def test_steps_compose_by_right_multiplication():
    quarter_turn = rot_y_by_hand(90)
    shift = translation(1, 0, 0)
    trans_then_rot = cam.parse_camera_motion("trans 1 0 0; rot y 90")[48]
    rot_then_trans = cam.parse_camera_motion("rot y 90; trans 1 0 0")[48]
    np.testing.assert_allclose(trans_then_rot, shift @ quarter_turn, atol=EXACT)
    np.testing.assert_allclose(rot_then_trans, quarter_turn @ shift, atol=EXACT)
    # Worked out by hand: T@R keeps the translation (1, 0, 0); R@T rotates it to (0, 0, -1).
    np.testing.assert_allclose(trans_then_rot[:3, 3], [1, 0, 0], atol=EXACT)
    np.testing.assert_allclose(rot_then_trans[:3, 3], [0, 0, -1], atol=EXACT)


def test_start_equal_end_is_a_jump():
    motion = cam.parse_camera_motion("trans 0 0 1 10 10")
    for frame in range(10):
        np.testing.assert_array_equal(motion[frame], np.eye(4))
    for frame in range(10, 49):
        np.testing.assert_array_equal(motion[frame], translation(0, 0, 1))
    # A range from the last frame on clamps onto it: a jump on the very last frame.
    late = cam.parse_camera_motion("rot y 30 48 70")
    np.testing.assert_array_equal(late[47], np.eye(4))
    np.testing.assert_allclose(late[48], rot_y_by_hand(30), atol=EXACT)


def test_other_frame_counts_use_their_own_last_frame():
    motion = cam.parse_camera_motion("trans 1 0 0", num_frames=25)
    assert motion.shape == (25, 4, 4)
    np.testing.assert_allclose(motion[12], translation(0.5, 0, 0), atol=EXACT)
    np.testing.assert_allclose(motion[24], translation(1, 0, 0), atol=EXACT)
    clamped = cam.parse_camera_motion("rot z 90 0 100", num_frames=25)
    np.testing.assert_allclose(clamped[24], rot_z_by_hand(90), atol=EXACT)
    np.testing.assert_allclose(clamped[12], rot_z_by_hand(45), atol=EXACT)
    single = cam.parse_camera_motion("trans 1 0 0", num_frames=1)
    np.testing.assert_array_equal(single[0], translation(1, 0, 0))


def test_case_whitespace_and_empty_steps_are_ignored():
    expected = cam.parse_camera_motion("trans 1 0 0; rot y 10")
    np.testing.assert_array_equal(cam.parse_camera_motion("  ;TRANS 1  0\t0 ;; Rot Y 10 ; "), expected)


def test_frame_tokens_accept_python_ints_and_integer_valued_floats():
    reference = cam.parse_camera_motion("trans 1 0 0 3 30")
    for text in ("trans 1 0 0 +3 30", "trans 1 0 0 3.0 30.0", "trans 1 0 0 3 3e1", "trans 1 0 0 0_3 30"):
        np.testing.assert_array_equal(cam.parse_camera_motion(text), reference)


# --------------------------------------------------------------------------------------------
# Spiral against the formulas, computed independently here
# --------------------------------------------------------------------------------------------


def spiral_pose_by_hand(radius: float, path_index: int, num_frames: int) -> np.ndarray:
    """DaS's documented spiral pose at one path index, scalar maths only."""
    s = path_index / (num_frames - 1)
    r = math.sin(math.pi * s) * radius * 0.1
    theta = 2 * math.pi * s
    position = np.array([r * math.sin(theta), 0.3 * r * math.cos(theta), -0.5 * r])
    target = np.array([0.0, 0.0, 0.5 * radius])
    forward = (target - position) / np.linalg.norm(target - position)
    right = np.cross([0.0, 1.0, 0.0], forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.linalg.inv(np.vstack([right, up, forward]))
    pose[:3, 3] = position
    return pose


@pytest.mark.parametrize("radius", [2.0, -1.5, 0.7])
def test_spiral_over_the_whole_clip_matches_the_formulas(radius):
    motion = cam.parse_camera_motion(f"spiral {radius}")
    for frame in (0, 1, 7, 24, 33, 47, 48):
        path_index = int(frame / 48 * 48)  # DaS truncates; for T = 49 this is always the frame itself
        np.testing.assert_allclose(motion[frame], spiral_pose_by_hand(radius, path_index, 49), atol=1e-12)


def test_spiral_with_a_range_indexes_the_full_path():
    motion = cam.parse_camera_motion("spiral 2 10 30")
    np.testing.assert_array_equal(motion[5], np.eye(4))
    np.testing.assert_allclose(motion[10], spiral_pose_by_hand(2.0, 0, 49), atol=1e-12)
    np.testing.assert_allclose(motion[20], spiral_pose_by_hand(2.0, 24, 49), atol=1e-12)
    np.testing.assert_allclose(
        motion[22], spiral_pose_by_hand(2.0, 28, 49), atol=1e-12
    )  # 12/20·48 = 28.8 → 28
    np.testing.assert_allclose(motion[40], spiral_pose_by_hand(2.0, 48, 49), atol=1e-12)


def test_spiral_path_has_one_pose_per_frame_for_other_clip_lengths():
    motion = cam.parse_camera_motion("spiral 3", num_frames=17)
    for frame in (0, 4, 8, 16):
        path_index = int(frame / 16 * 16)
        np.testing.assert_allclose(motion[frame], spiral_pose_by_hand(3.0, path_index, 17), atol=1e-12)


# --------------------------------------------------------------------------------------------
# A scalar per-frame oracle of the DaS semantics, against random DaS-style strings
# --------------------------------------------------------------------------------------------


def oracle_motion(steps: list[tuple], num_frames: int) -> np.ndarray:
    """Per-frame, per-step scalar evaluation of DaS's rules (no vectorisation)."""
    last = num_frames - 1
    out = np.empty((num_frames, 4, 4))
    for frame in range(num_frames):
        total = np.eye(4)
        for verb, values, frames in steps:
            start, end = (0, last) if frames is None else sorted(max(0, min(last, f)) for f in frames)
            if frame < start:
                step = np.eye(4)
            else:
                t = 1.0 if frame > end else (frame - start) / (end - start)
                if verb == "trans":
                    step = translation(*(v * t for v in values))
                elif verb == "rot":
                    axis, degrees = values
                    step = {"x": rot_x_by_hand, "y": rot_y_by_hand, "z": rot_z_by_hand}[axis](degrees * t)
                else:
                    step = spiral_pose_by_hand(values[0], int(t * last), num_frames)
            total = total @ step
        out[frame] = total
    return out


finite_value = st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 3))
frame_pair = st.one_of(st.none(), st.tuples(st.integers(-10, 60), st.integers(-10, 60)))
das_step = st.one_of(
    st.tuples(st.just("trans"), st.tuples(finite_value, finite_value, finite_value), frame_pair),
    st.tuples(
        st.just("rot"),
        st.tuples(st.sampled_from("xyz"), st.floats(-180, 180).map(lambda v: round(v, 2))),
        frame_pair,
    ),
    st.tuples(st.just("spiral"), st.tuples(st.sampled_from([-2.5, -1.0, 0.5, 2.0, 4.0])), frame_pair),
)


def render_step(verb, values, frames) -> str:
    text = " ".join([verb, *map(str, values)])
    return text if frames is None else f"{text} {frames[0]} {frames[1]}"


def distinct_clamped_ends(frames, last) -> bool:
    return frames is None or max(0, min(last, frames[0])) != max(0, min(last, frames[1]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(das_step, min_size=1, max_size=4), num_frames=st.sampled_from([49, 13]))
def test_matches_the_scalar_oracle_for_das_strings(steps, num_frames):
    steps = [s for s in steps if distinct_clamped_ends(s[2], num_frames - 1)]
    text = "; ".join(render_step(*s) for s in steps)
    np.testing.assert_allclose(
        cam.parse_camera_motion(text, num_frames), oracle_motion(steps, num_frames), atol=1e-9
    )


@pytest.mark.parametrize(
    "text",
    [
        "trans -0.1 -0.1 -0.1",
        "trans -0.1 0.0 0.0 5 45",
        "rot y 25",
        "rot x -30 10 40",
        "spiral 2",
        "spiral 2 15 35",
        "trans 0 0 -0.5 0 30; rot x -25 0 30; trans -0.1 0 0 30 48",
        "trans 0 0 0.5 0 30; rot x 25 0 30; trans 0.1 0 0 30 48",
    ],
)
def test_das_readme_examples_parse_to_rigid_motions(text):
    motion = cam.parse_camera_motion(text)
    rotation = motion[:, :3, :3]
    np.testing.assert_allclose(
        rotation @ np.swapaxes(rotation, -1, -2), np.broadcast_to(np.eye(3), (49, 3, 3)), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(rotation), 1.0, atol=1e-12)
    np.testing.assert_array_equal(motion[:, 3], np.broadcast_to([0, 0, 0, 1.0], (49, 4)))


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "step_index", "token", "fragment"),
    [
        ("pan 1", 1, "pan", "unknown motion"),
        ("trans 1 0 0; rot q 30", 2, "q", "axis"),
        ("trans 1 2", 1, "", "missing <dz>"),
        ("rot", 1, "", "missing the axis"),
        ("rot y", 1, "", "missing <degrees>"),
        ("trans 1 0 0 5", 1, "5", "no end frame"),
        ("trans 1 0 0 1 2 3", 1, "3", "unexpected extra token"),
        ("rot y 10; ; trans a 0 0", 3, "a", "not a number"),
        ("trans nan 0 0", 1, "nan", "finite"),
        ("rot z inf", 1, "inf", "finite"),
        ("rot x 30 2.5 10", 1, "2.5", "whole number"),
        ("spiral 2 0 ten", 1, "ten", "whole number"),
        ("spiral 0", 1, "0", "zero"),
        ("orbit z 10", 1, "z", "orbit axis"),
        ("trans 1000 0 0; rot x 45; trans 0 0 1e308", 3, "1e308", "out of range"),
        ("rot y 1e308", 1, "1e308", "-10000 to 10000 degrees"),
        ("orbit x -1e5", 1, "-1e5", "out of range"),
        ("spiral 1e308", 1, "1e308", "-1000 to 1000 scene units"),
        ("rot y 15 60 70", 1, "60", "wholly after the last frame (48)"),
        ("trans 1 0 0 -9 -2", 1, "-9", "wholly before frame 0"),
    ],
)
def test_errors_name_the_step_and_token(text, step_index, token, fragment):
    with pytest.raises(cam.CameraMotionError) as info:
        cam.parse_camera_motion(text)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.step_index == step_index
    assert error.token == token
    message = str(error)
    assert f"step {step_index}" in message
    assert fragment in message
    assert error.step_text in message
    assert "Expected:" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("rot y 10; " * 100_000, "characters long"),  # ~1 MB
        ("x" * 900_000, "characters long"),
        ("rot y 1;" * (cam.MAX_MOTION_STEPS + 1), "steps"),
    ],
)
def test_oversized_text_is_refused_before_parsing_with_a_short_message(text, fragment):
    started = time.perf_counter()
    with pytest.raises(cam.CameraMotionError, match=fragment) as info:
        cam.describe_camera_motion(text)
    assert time.perf_counter() - started < 0.05
    assert len(str(info.value)) < 200  # never quotes the text


def test_the_longest_accepted_text_parses():
    step = "rot y 0.5 0 1; "
    text = (step * (cam.MAX_MOTION_STEPS))[: cam.MAX_MOTION_CHARS]
    assert len(text) <= cam.MAX_MOTION_CHARS
    assert cam.parse_camera_motion(text).shape == (49, 4, 4)


def test_long_tokens_are_quoted_shortened():
    with pytest.raises(cam.CameraMotionError) as info:
        cam.parse_camera_motion("trans " + "9" * 3000 + " 0 0")
    assert len(str(info.value)) < 300 and "…" in str(info.value)


@pytest.mark.parametrize(
    ("verb", "bound"),
    [("trans {} 0 0", cam.MAX_TRANSLATION), ("rot z {}", cam.MAX_ROTATION_DEG),
     ("orbit {}", cam.MAX_ROTATION_DEG), ("spiral {}", cam.MAX_SPIRAL_RADIUS)],
)
def test_values_are_bounded(verb, bound):
    for value in (bound, -bound):
        assert np.isfinite(cam.parse_camera_motion(verb.format(value))).all()
    for value in (bound * 1.001, -bound * 1.001, 1e308):
        with pytest.raises(cam.CameraMotionError, match="out of range"):
            cam.parse_camera_motion(verb.format(value))


def test_bounded_values_never_overflow_even_composed():
    worst = "; ".join(["trans 1000 -1000 1000", "rot x 10000", "spiral -1000", "orbit y 10000"] * 50)
    assert len(worst) <= cam.MAX_MOTION_CHARS
    assert np.isfinite(cam.parse_camera_motion(worst)).all()


def test_reversed_range_reads_the_same_in_the_check_and_the_build():
    # T = 49: the reversed range is swapped (DaS) and the summary says so.
    np.testing.assert_array_equal(
        cam.parse_camera_motion("rot y 15 30 10"), cam.parse_camera_motion("rot y 15 10 30")
    )
    assert cam.describe_camera_motion("rot y 15 30 10") == (
        "1. frames 10–30: camera pans left 15° (written 30 10: reversed range swapped)"
    )
    # T = 9 (a small checkpoint): frames 10–30 are all after the clip; both refuse alike
    # instead of collapsing the step onto "at frame 8".
    for call in (cam.parse_camera_motion, cam.describe_camera_motion):
        with pytest.raises(cam.CameraMotionError, match="after the last frame .8. of this 9-frame clip"):
            call("rot y 15 30 10", 9)
    # Partly inside: clamped, and said.
    assert "clamped to the clip" in cam.describe_camera_motion("rot y 15 30 5", 9)
    np.testing.assert_array_equal(
        cam.parse_camera_motion("rot y 15 30 5", 9), cam.parse_camera_motion("rot y 15 5 8", 9)
    )


@pytest.mark.parametrize(
    ("text", "blank"),
    [
        ("", []),
        ("trans 0 0 -0.5; rot y 20", []),
        ("orbit 180", []),  # the centre stays in view
        ("spiral 2", []),
        # Probes at depth 1 over a 55° view: the outermost column sits at x = ±0.4806
        # (u = 720/26 px, fx = 360 / tan 27.5° = 691.5), the image edge at x = ±0.5206.
        # Content moves right by 5·f/48: the leftmost probe passes the right edge once
        # 5·f/48 ≥ 1.0012, from f = 9.61 → frame 10.
        ("trans 5 0 0", list(range(10, 49))),
        # Yaw of 3.75° a frame: the leftmost probe (at −25.67°) passes +27.5° after 53.17°,
        # f = 14.18 → frame 15.
        ("rot y 180", list(range(15, 49))),
        # The camera reaches the plane at 1.5·f/48 = 1, frame 32, and is past it after.
        ("trans 0 0 -1.5", list(range(32, 49))),
    ],
)
def test_blank_frames_are_warned_about(text, blank):
    assert np.flatnonzero(cam.blank_frames(cam.parse_camera_motion(text))).tolist() == blank
    warnings = cam.camera_motion_warnings(text)
    assert bool(warnings) == bool(blank)
    if blank:
        assert f"frames {blank[0]}–{blank[-1]}" in warnings[0] and "black" in warnings[0]


def test_a_preset_name_typed_as_a_motion_gets_its_string_as_a_hint():
    with pytest.raises(cam.CameraMotionError, match="rot y 20"):
        cam.parse_camera_motion("trans 0 0 -0.2; Pan Left")


def test_non_text_motion_is_a_clear_error():
    with pytest.raises(cam.CameraMotionError, match="must be text"):
        cam.parse_camera_motion(42)


@pytest.mark.parametrize("bad_frames", [0, -3, 2.5])
def test_bad_frame_count(bad_frames):
    with pytest.raises(ValueError):
        cam.parse_camera_motion("rot y 10", num_frames=bad_frames)


TOKENS = [
    "trans",
    "rot",
    "spiral",
    "orbit",
    "TRANS",
    "Rot",
    "x",
    "y",
    "z",
    "w",
    "0",
    "1",
    "-1",
    "0.5",
    "-2.5",
    "48",
    "100",
    "-7",
    "3.0",
    "2.5",
    "1e3",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "1_0",
    "abc",
    ";",
    ";;",
    "",
    " ",
    "\t",
    "٣",
    "0x10",
    "1e-320",
]


def check_motion_or_error(text: str, num_frames: int) -> None:
    try:
        motion = cam.parse_camera_motion(text, num_frames)
    except cam.CameraMotionError:
        return
    assert motion.shape == (num_frames, 4, 4)
    assert np.isfinite(motion).all()
    np.testing.assert_array_equal(motion[:, 3], np.broadcast_to([0, 0, 0, 1.0], (num_frames, 4)))


@settings(max_examples=200, deadline=None)
@given(tokens=st.lists(st.sampled_from(TOKENS), max_size=12), num_frames=st.integers(1, 60))
def test_token_soup_only_raises_camera_motion_error(tokens, num_frames):
    check_motion_or_error(" ".join(tokens), num_frames)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40))
def test_arbitrary_text_only_raises_camera_motion_error(text):
    check_motion_or_error(text, 49)


@settings(max_examples=150, deadline=None)
@given(tokens=st.lists(st.sampled_from(TOKENS), max_size=12), num_frames=st.integers(1, 60))
def test_the_live_check_accepts_exactly_what_the_build_accepts(tokens, num_frames):
    text = " ".join(tokens)
    try:
        cam.parse_camera_motion(text, num_frames)
        built = None
    except cam.CameraMotionError as error:
        built = str(error)
    try:
        cam.describe_camera_motion(text, num_frames)
        checked = None
    except cam.CameraMotionError as error:
        checked = str(error)
    assert checked == built


# --------------------------------------------------------------------------------------------
# Scene units
# --------------------------------------------------------------------------------------------


def test_scene_scale_is_the_median_depth_in_front():
    points = np.array([[0, 0, 1.0], [0, 0, 3.0], [0, 0, 2.0], [0, 0, -5.0], [0, 0, np.nan], [1, 1, 0.0]])
    assert cam.scene_scale(points) == 2.0
    dense = np.full((4, 5, 3), 7.0, dtype=np.float32)
    assert cam.scene_scale(dense) == 7.0
    assert cam.scene_scale(np.zeros((0, 3))) == 1.0
    assert cam.scene_scale(np.array([[0, 0, -1.0]])) == 1.0
    with pytest.raises(ValueError):
        cam.scene_scale(np.zeros((4, 2)))


def test_scale_motion_scales_translations_and_commutes_with_composition():
    text_a, text_b = "trans 0.1 -0.2 0.3; spiral 1.5", "orbit 20; rot x 10; trans 0 0 -0.4"
    a, b = cam.parse_camera_motion(text_a), cam.parse_camera_motion(text_b)
    both = cam.parse_camera_motion(f"{text_a}; {text_b}")
    np.testing.assert_allclose(
        cam.scale_motion(both, 3.0), cam.scale_motion(a, 3.0) @ cam.scale_motion(b, 3.0), atol=1e-12
    )
    np.testing.assert_allclose(cam.scale_motion(a, 3.0)[:, :3, :3], a[:, :3, :3])
    with pytest.raises(ValueError):
        cam.scale_motion(a, 0.0)


def test_apply_camera_motion_uses_scene_units():
    points = np.array([[0.0, 0.0, 4.0], [1.0, -1.0, 8.0]], dtype=np.float32)
    motion = cam.parse_camera_motion("trans 0.1 0 0")
    moved = cam.apply_camera_motion(points, motion, scene_scale=4.0)
    assert moved.shape == (49, 2, 3) and moved.dtype == np.float32
    np.testing.assert_allclose(moved[48] - points, [[0.4, 0, 0], [0.4, 0, 0]], atol=1e-6)
    per_frame = np.broadcast_to(points, (49, 2, 3))
    np.testing.assert_allclose(cam.apply_camera_motion(per_frame, motion, 4.0), moved)
    with pytest.raises(ValueError):
        cam.apply_camera_motion(np.zeros((10, 2, 3)), motion, 1.0)


def test_orbit_pivots_about_the_median_depth():
    depth = 5.0
    points = np.array([[0.0, 0.0, depth], [0.0, 0.0, 2 * depth]])
    for text in ("orbit 40", "orbit -25", "orbit x 30", "orbit y 90 10 20"):
        moved = cam.apply_camera_motion(points, cam.parse_camera_motion(text), scene_scale=depth)
        np.testing.assert_allclose(moved[:, 0], np.broadcast_to([0, 0, depth], (49, 3)), atol=1e-12)
        distance = np.linalg.norm(moved[:, 1] - moved[:, 0], axis=-1)
        np.testing.assert_allclose(distance, depth, atol=1e-12)


def test_camera_path_by_hand():
    np.testing.assert_allclose(
        cam.camera_path(cam.parse_camera_motion("trans 0.1 0 0"), 2.0)[48], [-0.2, 0, 0], atol=EXACT
    )
    np.testing.assert_allclose(
        cam.camera_path(cam.parse_camera_motion("trans 0 0 -0.5"))[24], [0, 0, 0.25], atol=EXACT
    )
    np.testing.assert_allclose(
        cam.camera_path(cam.parse_camera_motion("rot y 70")), np.zeros((49, 3)), atol=EXACT
    )
    # Orbit left by 90° about the centre at depth 3: the camera ends level with it, on its left.
    np.testing.assert_allclose(
        cam.camera_path(cam.parse_camera_motion("orbit 90"), 3.0)[48], [-3, 0, 3], atol=1e-12
    )
    np.testing.assert_allclose(
        cam.camera_path(cam.parse_camera_motion("orbit x 90"), 3.0)[48], [0, -3, 3], atol=1e-12
    )


def test_describe_camera_motion():
    summary = cam.describe_camera_motion("trans 0.1 0 -0.5 0 30; rot y -20; orbit 15 5 5")
    lines = summary.splitlines()
    assert len(lines) == 3
    assert "frames 0–30" in lines[0] and "left 0.1" in lines[0] and "forward 0.5" in lines[0]
    assert "pans right 20°" in lines[1]
    assert "at frame 5" in lines[2] and "orbits left" in lines[2]
    assert cam.describe_camera_motion("") == "static camera"


# --------------------------------------------------------------------------------------------
# Apparent motion on screen, by projecting a synthetic scene
# --------------------------------------------------------------------------------------------


def plane_points(depth: float = PLANE_DEPTH) -> np.ndarray:
    """A fronto-parallel plane covering the central half of the 720×480 frame, (N, 3)."""
    grid = geo.pixel_grid(HEIGHT // 8, WIDTH // 8, dtype=np.float64) * 4 + np.array([WIDTH / 4, HEIGHT / 4])
    uvz = np.concatenate([grid.reshape(-1, 2), np.full((grid.shape[0] * grid.shape[1], 1), depth)], axis=-1)
    return geo.unproject_uvz(uvz, K55)


class Apparent:
    """What a motion does on screen and to the camera, measured at one frame."""

    def __init__(self, text: str, frame: int = T49 - 1):
        plane = plane_points()
        probes = np.array([[0, 0, PLANE_DEPTH], [0, 0, 2 * PLANE_DEPTH], [0, 0, PLANE_DEPTH / 2]])
        scale = cam.scene_scale(plane)
        assert scale == PLANE_DEPTH
        motion = cam.parse_camera_motion(text)
        self.motion = cam.scale_motion(motion, scale)
        before, _ = geo.project_points(plane, K55)
        after, in_front = geo.project_points(cam.apply_camera_motion(plane, motion, scale)[frame], K55)
        self.shift = np.nanmean(after[:, :2] - before[:, :2], axis=0)  # mean (du, dv) in px
        self.zoom = np.nanstd(after[in_front, 0]) / np.std(before[:, 0])
        probe_before, _ = geo.project_points(probes, K55)
        probe_after, _ = geo.project_points(cam.apply_camera_motion(probes, motion, scale)[frame], K55)
        self.centre, self.far, self.near = probe_after[:, :2] - probe_before[:, :2]
        self.camera = cam.camera_path(motion, scale)[frame]
        # Camera viewing direction in frame-0 space: R^T · (0, 0, 1).
        self.forward = self.motion[frame, :3, :3].T @ np.array([0.0, 0.0, 1.0])


PX = 1.0  # "does not move" tolerance in pixels


def content_moves_right(a):
    assert a.shift[0] > 50 and abs(a.shift[1]) < PX


def content_moves_left(a):
    assert a.shift[0] < -50 and abs(a.shift[1]) < PX


def content_moves_down(a):
    assert a.shift[1] > 50 and abs(a.shift[0]) < PX


def content_moves_up(a):
    assert a.shift[1] < -50 and abs(a.shift[0]) < PX


def no_translation(a):
    np.testing.assert_allclose(a.camera, 0, atol=1e-12)


def no_rotation(a):
    np.testing.assert_allclose(a.forward, [0, 0, 1], atol=1e-12)


def centre_fixed(a):
    assert np.linalg.norm(a.centre) < PX


def expect_static(a):
    assert np.abs(a.shift).max() < 1e-9 and abs(a.zoom - 1) < 1e-12
    no_translation(a), no_rotation(a)


def expect_pan_left(a):
    content_moves_right(a), no_translation(a)
    assert a.forward[0] < -0.3  # the camera now looks to its left


def expect_pan_right(a):
    content_moves_left(a), no_translation(a)
    assert a.forward[0] > 0.3


def expect_tilt_up(a):
    content_moves_down(a), no_translation(a)
    assert a.forward[1] < -0.2  # looks up (OpenCV y points down)


def expect_tilt_down(a):
    content_moves_up(a), no_translation(a)
    assert a.forward[1] > 0.2


def expect_truck_left(a):
    content_moves_right(a), no_rotation(a)
    assert a.camera[0] < 0 and a.near[0] > a.centre[0] > a.far[0] > 0  # parallax


def expect_truck_right(a):
    content_moves_left(a), no_rotation(a)
    assert a.camera[0] > 0 and a.near[0] < a.centre[0] < a.far[0] < 0


def expect_crane_up(a):
    content_moves_down(a), no_rotation(a)
    assert a.camera[1] < 0 and a.near[1] > a.centre[1] > a.far[1] > 0


def expect_crane_down(a):
    content_moves_up(a), no_rotation(a)
    assert a.camera[1] > 0 and a.near[1] < a.centre[1] < a.far[1] < 0


def expect_forward(a):
    centre_fixed(a), no_rotation(a)
    assert a.zoom > 1.2 and a.camera[2] > 0


def expect_backward(a):
    centre_fixed(a), no_rotation(a)
    assert a.zoom < 0.85 and a.camera[2] < 0


def expect_orbit_left(a):
    centre_fixed(a)
    assert a.far[0] < -50 and a.near[0] > 50  # background slides left, foreground right
    assert a.camera[0] < 0 and a.forward[0] > 0.1  # travels left, turns right to keep the centre


def expect_orbit_right(a):
    centre_fixed(a)
    assert a.far[0] > 50 and a.near[0] < -50
    assert a.camera[0] > 0 and a.forward[0] < -0.1


def expect_orbit_up(a):
    centre_fixed(a)
    assert a.far[1] < -50 and a.near[1] > 50
    assert a.camera[1] < 0 and a.forward[1] > 0.1  # rises and looks down


def expect_spiral(a):
    # The path returns home at the end; the checks along the way are in test_spiral_preset_loops.
    np.testing.assert_allclose(a.motion[-1], np.eye(4), atol=1e-12)


def expect_dolly_in_pan_left(a):
    assert a.zoom > 1.2 and a.shift[0] > 50
    assert a.camera[2] > 0 and a.camera[0] < 0 and a.forward[0] < -0.2


def expect_orbit_left_dolly_out(a):
    centre_fixed(a)
    assert a.zoom < 0.9 and a.far[0] < -50
    assert a.camera[0] < 0 and a.camera[2] < 0 and a.forward[0] > 0.3


def expect_crane_up_tilt_down(a):
    assert np.linalg.norm(a.centre) < 0.03 * HEIGHT  # the subject stays framed
    assert a.camera[1] < 0 and a.forward[1] > 0.15


PRESET_EXPECTATIONS = {
    "static": expect_static,
    "pan left": expect_pan_left,
    "pan right": expect_pan_right,
    "tilt up": expect_tilt_up,
    "tilt down": expect_tilt_down,
    "truck left": expect_truck_left,
    "truck right": expect_truck_right,
    "crane up": expect_crane_up,
    "crane down": expect_crane_down,
    "dolly in": expect_forward,
    "dolly out": expect_backward,
    "zoom in (dolly forward)": expect_forward,
    "zoom out (dolly back)": expect_backward,
    "orbit left": expect_orbit_left,
    "orbit right": expect_orbit_right,
    "orbit up": expect_orbit_up,
    "spiral": expect_spiral,
    "dolly in + pan left": expect_dolly_in_pan_left,
    "orbit left + dolly out": expect_orbit_left_dolly_out,
    "crane up + tilt down": expect_crane_up_tilt_down,
}


@pytest.mark.parametrize("name", sorted(cam.CAMERA_PRESETS))
def test_every_preset_moves_the_picture_as_its_name_says(name):
    assert name in PRESET_EXPECTATIONS, f"preset {name!r} needs an apparent-motion check"
    PRESET_EXPECTATIONS[name](Apparent(cam.CAMERA_PRESETS[name]))


def test_zoom_presets_are_gentler_than_dolly_presets():
    assert (
        Apparent(cam.CAMERA_PRESETS["zoom in (dolly forward)"]).zoom
        < Apparent(cam.CAMERA_PRESETS["dolly in"]).zoom
    )
    assert (
        Apparent(cam.CAMERA_PRESETS["zoom out (dolly back)"]).zoom
        > Apparent(cam.CAMERA_PRESETS["dolly out"]).zoom
    )


def test_spiral_preset_loops():
    text = cam.CAMERA_PRESETS["spiral"]
    frames = [Apparent(text, frame) for frame in range(0, T49, 4)]
    camera_x = np.array([a.camera[0] for a in frames])
    far_u = np.array([a.far[0] for a in frames])
    assert camera_x.min() < -0.2 and camera_x.max() > 0.2  # swings left, then right
    assert np.argmin(camera_x) < np.argmax(camera_x)
    assert far_u.min() < -20 and far_u.max() > 20  # the background swings with it
    assert all(a.camera[2] >= -1e-12 for a in frames) and max(a.camera[2] for a in frames) > 0.1  # pushes in
    assert max(np.linalg.norm(a.centre) for a in frames) < 0.03 * WIDTH  # the centre stays framed


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("trans 0.1 0 0", content_moves_right),  # camera moves left
        ("trans -0.1 0 0", content_moves_left),
        ("trans 0 0.1 0", content_moves_down),  # camera moves up
        ("trans 0 -0.1 0", content_moves_up),
        ("rot y 10", content_moves_right),  # camera yaws (pans) left
        ("rot y -10", content_moves_left),
        ("rot x 10", content_moves_up),  # camera pitches down
        ("rot x -10", content_moves_down),
        ("trans 0 0 -0.2", expect_forward),  # camera moves forward
        ("trans 0 0 0.2", expect_backward),
        ("orbit 10", expect_orbit_left),
        ("orbit -10", expect_orbit_right),
        ("orbit x 10", expect_orbit_up),
        ("orbit y 10", expect_orbit_left),
    ],
)
def test_sign_table(text, check):
    check(Apparent(text))


def test_rot_z_positive_turns_the_picture_clockwise():
    right_of_centre = np.array([[0.5, 0.0, PLANE_DEPTH]])
    moved = cam.apply_camera_motion(right_of_centre, cam.parse_camera_motion("rot z 10"), PLANE_DEPTH)
    uvz, _ = geo.project_points(moved[48], K55)
    assert uvz[0, 1] > HEIGHT / 2 + 10  # right → down on screen is clockwise (v grows downwards)
    assert "counter-clockwise" in cam.describe_camera_motion("rot z 10")
