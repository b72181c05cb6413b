"""The shared validation layer (core/validation.py): every input named in issue 16, refused
with a message that names the field and the allowed range, or accepted in its canonical type."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core import camera, validation
from core.camera import CameraMotionError
from core.errors import UserError
from core.validation import InputError

REPO = Path(__file__).resolve().parents[1]


def refused(call, *fragments: str) -> str:
    """Run ``call``, expect an InputError (a UserError) whose message holds every fragment."""
    with pytest.raises(InputError) as info:
        call()
    assert isinstance(info.value, UserError)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-1, -1),
        (0, 0),
        (42, 42),
        (42.0, 42),
        ("42", 42),
        (" 7 ", 7),
        (np.int64(5), 5),
        (2**63 - 1, 2**63 - 1),  # the engine's largest seed: the studio must accept it too
        ("9223372036854775807", 2**63 - 1),  # read exactly, not through a float
    ],
)
def test_seed_accepts_random_and_the_engine_range(value, expected):
    result = validation.seed(value)
    assert result == expected and type(result) is int


def test_seed_messages_differ_by_mistake():
    not_a_number = refused(lambda: validation.seed("abc"), "seed", "'abc' is not a number", "-1 for a random seed")
    empty = refused(lambda: validation.seed(None), "seed is empty")
    nan = refused(lambda: validation.seed(float("nan")), "seed", "nan")
    assert len({not_a_number, empty, nan}) == 3
    refused(lambda: validation.seed(1.5), "whole number")
    refused(lambda: validation.seed(-2), "got -2")
    refused(lambda: validation.seed(2**63), str(2**63 - 1))
    refused(lambda: validation.seed(float(2**63 - 1)), "got 9223372036854775808")  # the float is 2^63
    refused(lambda: validation.seed(True), "not True")
    refused(lambda: validation.seed([1]), "not a list")
    refused(lambda: validation.seed("9" * 5000), "5,000 characters")


def test_blank_seed_may_mean_random_where_a_box_allows_it():
    assert validation.seed("", blank_means_random=True) == -1
    assert validation.seed(None, blank_means_random=True) == -1
    refused(lambda: validation.seed(""), "seed is empty")


# --------------------------------------------------------------------------------------------
# Steps, guidance, fps
# --------------------------------------------------------------------------------------------


def test_steps():
    assert validation.steps(50) == 50 and validation.steps("50") == 50 and validation.steps(50.0) == 50
    refused(lambda: validation.steps(None), "steps is empty")
    nan = refused(lambda: validation.steps(float("nan")), "steps", "from 1 to 1,000", "nan")
    assert "Cannot convert" not in nan
    refused(lambda: validation.steps(0), "from 1 to 1,000", "got 0")
    refused(lambda: validation.steps(1001), "got 1001")
    refused(lambda: validation.steps(12.5), "whole number")


def test_guidance():
    assert validation.guidance(6) == 6.0 and validation.guidance("7.5") == 7.5 and validation.guidance(0) == 0.0
    for bad in (float("nan"), float("inf"), -1e308):
        refused(lambda: validation.guidance(bad), "guidance", "from 0 to 50")
    refused(lambda: validation.guidance(50.5), "got 50.5")


def test_fps():
    assert validation.fps(8) == 8.0 and validation.fps("23.976") == pytest.approx(23.976)
    assert validation.fps("", blank_means_default=True) is None
    refused(lambda: validation.fps(1e308), "fps", "from 1 to 120 frames per second", "got 1e+308")
    refused(lambda: validation.fps("1e308"), "got 1e+308")
    refused(lambda: validation.fps(0), "got 0")
    refused(lambda: validation.fps(float("nan")), "finite")


# --------------------------------------------------------------------------------------------
# Sizes: grid, points, frames, start, fov
# --------------------------------------------------------------------------------------------


def test_grid_size():
    assert validation.grid_size(70) == 70
    refused(lambda: validation.grid_size(100_000), "grid size", "from 2 to 256", "got 100000")
    refused(lambda: validation.grid_size(1), "got 1")


def test_num_points():
    assert validation.num_points(40_000) == 40_000
    refused(lambda: validation.num_points(1_000_000_000), "number of points", "from 1 to 200,000")
    refused(lambda: validation.num_points(0), "got 0")


def test_num_frames_start_time_and_fov():
    assert validation.num_frames(49) == 49
    refused(lambda: validation.num_frames(10**6), "number of frames", "from 1 to 257")
    assert validation.start_time("2.5") == 2.5
    refused(lambda: validation.start_time(-1), "start time", "from 0 to 600 seconds")
    refused(lambda: validation.start_time(float("inf")), "finite")
    assert validation.fov(55) == 55.0
    refused(lambda: validation.fov(180), "field of view", "from 1 to 179 degrees")


def test_the_bounds_are_the_ones_the_other_layers_use():
    from core import defaults, media

    assert validation.MAX_SEED == defaults.MAX_USER_SEED == 2**63 - 1
    assert validation.MAX_START_S == media.MAX_DURATION_S
    assert validation.MAX_CAMERA_MOTION_CHARS == camera.MAX_MOTION_CHARS == 4096
    assert validation.MAX_CAMERA_MOTION_STEPS == camera.MAX_MOTION_STEPS == 200
    assert validation.MAX_ROTATION_DEG == camera.MAX_ROTATION_DEG


# --------------------------------------------------------------------------------------------
# Amounts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("motion", validation.OBJECT_MOTIONS)
@pytest.mark.parametrize("bad", [1e308, -1e308, float("nan"), float("inf")])
def test_object_amounts_are_finite_and_bounded(motion, bad):
    refused(lambda: validation.object_amount(bad, motion), f"amount of '{motion}'")


def test_object_amount_ranges():
    assert validation.object_amount(0.3, "left") == 0.3
    assert validation.object_amount(-90, "rot") == -90.0
    assert validation.object_amount(0.5, "front") == 0.5
    refused(lambda: validation.object_amount(1.0, "front"), "at least -100 and below 1 object depths")  # on the camera
    refused(lambda: validation.object_amount(-1.0, "back"), "above -1 and at most 100 object depths")
    refused(lambda: validation.object_amount(11, "up"), "frame widths")
    refused(lambda: validation.object_amount(1, "sideways"), "one of up, down")


@pytest.mark.parametrize("procedural", ["turntable", "swing", "translate", "bounce", "static"])
@pytest.mark.parametrize("bad", [float("nan"), -1e308, 1e308])
def test_mesh_amounts_blame_the_amount_not_the_mesh(procedural, bad):
    message = refused(lambda: validation.mesh_amount(bad, procedural), f"amount of '{procedural}'")
    assert "degenerate" not in message and "mesh" not in message


def test_mesh_amount_units():
    assert validation.mesh_amount(360, "turntable") == 360.0
    refused(lambda: validation.mesh_amount(101, "translate"), "bounding radii")
    refused(lambda: validation.mesh_amount(1e5, "swing"), "degrees")
    refused(lambda: validation.amount("x", "speed"), "speed", "'x' is not a number")


# --------------------------------------------------------------------------------------------
# Prompts
# --------------------------------------------------------------------------------------------


def test_prompt():
    assert validation.prompt("  a cat on a sofa \n") == "a cat on a sofa"
    assert validation.prompt("a\x00 cat\x1b") == "a cat"
    assert validation.prompt("line one\nline two") == "line one\nline two"
    refused(lambda: validation.prompt("\x00\x01\x1b\x7f"), "prompt is empty")  # control characters only
    refused(lambda: validation.prompt(" \t\u200b "), "prompt is empty")  # zero-width space is format (Cf)
    refused(lambda: validation.prompt(None), "prompt is empty")
    message = refused(lambda: validation.prompt(["a", "b"]), "prompt must be text, not a list")
    assert "strip" not in message
    refused(lambda: validation.prompt("x" * 10_001), "10,001 characters")
    assert validation.negative_prompt(None) == "" and validation.negative_prompt("") == ""
    refused(lambda: validation.negative_prompt({"a": 1}), "negative prompt must be text")


# --------------------------------------------------------------------------------------------
# Camera strings
# --------------------------------------------------------------------------------------------


def test_a_huge_camera_string_is_refused_at_once_with_a_short_message():
    text = "trans 0 0 -0.1; " * 57_600  # ~900 KB
    started = time.perf_counter()
    with pytest.raises(CameraMotionError) as info:
        validation.camera_motion_text(text)
    assert time.perf_counter() - started < 0.05
    assert len(str(info.value)) < 200 and "4,096" in str(info.value)


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("trans 1e30 0 0", "1e30"),
        ("rot y 1e308", "1e308"),
        ("orbit 1e308", "1e308"),
        ("spiral 1e308", "1e308"),
        ("trans 1e308 0 0", "1e308"),
        ("trans nan 0 0", "nan"),
    ],
)
def test_camera_values_that_overflow_or_blank_the_video_are_refused(text, token):
    with pytest.raises(CameraMotionError) as info:
        validation.camera_motion_text(text)
    assert info.value.token == token and "step 1" in str(info.value)
    # The describe function behind the studio's live check answers the same.
    with pytest.raises(CameraMotionError):
        camera.describe_camera_motion(text)


def test_camera_moves_within_bounds_that_leave_the_scene_are_warned_about():
    assert validation.camera_motion_text("trans 500 0 0") == "trans 500 0 0"
    assert camera.camera_motion_warnings("trans 500 0 0")
    assert camera.camera_motion_warnings("trans 0 0 -0.5") == []


def test_a_reversed_range_is_read_alike_in_check_and_build():
    assert validation.camera_motion_text("rot y 15 30 10") == "rot y 15 30 10"  # 10–30 at T = 49
    with pytest.raises(CameraMotionError, match="9-frame clip"):
        validation.camera_motion_text("rot y 15 30 10", 9)
    assert validation.camera_motion_text(None) == ""


# --------------------------------------------------------------------------------------------
# The module itself
# --------------------------------------------------------------------------------------------


def test_validation_imports_neither_torch_nor_gradio():
    code = "import sys, core.validation; print(sorted({'torch', 'gradio', 'diffusers'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"


def test_every_bound_is_finite_and_ordered():
    pairs = [
        (validation.MIN_SEED, validation.MAX_SEED),
        (validation.MIN_STEPS, validation.MAX_STEPS),
        (validation.MIN_GUIDANCE, validation.MAX_GUIDANCE),
        (validation.MIN_FPS, validation.MAX_FPS),
        (validation.MIN_GRID_SIZE, validation.MAX_GRID_SIZE),
        (validation.MIN_NUM_POINTS, validation.MAX_NUM_POINTS),
        (validation.MIN_NUM_FRAMES, validation.MAX_NUM_FRAMES),
        (validation.MIN_FOV_DEG, validation.MAX_FOV_DEG),
    ]
    for low, high in pairs:
        assert math.isfinite(low) and math.isfinite(high) and low < high
