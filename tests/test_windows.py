"""Long videos (core.windows, Engine.generate_windows, --windows/--seconds): window arithmetic,
per-window colours on a scene with known answers, and the chained generation on the tiny
checkpoint (first frames, frame count, seeds, cancel)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from core import cli
from core.engine import Engine, EngineConfig, GenerationSettings
from core.media import read_video_frames

from core.options import WorkingSize
from core.progress import Cancelled
from core.render import render_tracking_video, track_colors
from core.tasks import TrackingResult, camera_control
from core.windows import (
    MAX_WINDOWS,
    Window,
    WindowError,
    check_windows,
    long_size,
    max_windows,
    seconds_for_windows,
    total_frames,
    window_colors,
    window_count_for_seconds,
    window_seed,
    window_slices,
    window_tracking,
    windows_in,
)


def frame_count(path) -> int:
    """Frames of a written video."""
    return read_video_frames(path)[0].shape[0]


FAST = GenerationSettings(num_inference_steps=2, seed=7)
"""Two steps: enough to exercise the loop, cheap on a 2-core CPU."""


# --------------------------------------------------------------------------------------------
# Window arithmetic
# --------------------------------------------------------------------------------------------


def test_windows_of_das_share_one_frame():
    slices = window_slices(total_frames(49, 3), 49)
    assert total_frames(49, 3) == 145
    assert [(w.start, w.stop) for w in slices] == [(0, 49), (48, 97), (96, 145)]
    # Consecutive windows share exactly their boundary frame.
    assert all(a.stop - 1 == b.start for a, b in zip(slices, slices[1:]))
    assert window_slices(49, 49) == [Window(0, 0, 49)]


def test_frame_counts_that_are_not_a_chain_are_refused():
    assert windows_in(97, 49) == 2 and windows_in(49, 49) == 1
    assert windows_in(98, 49) is None and windows_in(30, 49) is None
    with pytest.raises(WindowError, match="N·"):
        window_slices(98, 49)


def test_window_counts_are_bounded_by_the_clip_limit():
    assert max_windows(49) == MAX_WINDOWS == 5  # 241 frames ≤ 257
    assert max_windows(81) == 3  # 3 × 80 + 1 = 241; 4 would be 321 > 257
    assert check_windows("2", 49) == 2
    for bad in (0, 6, 2.5, "two"):
        with pytest.raises(WindowError):
            check_windows(bad, 49)


def test_seconds_become_the_fewest_windows_that_last_that_long():
    # DaS at 8 fps: 1 window = 49/8 = 6.125 s, 2 = 97/8 = 12.125 s.
    assert seconds_for_windows(2, 49) == 12.125
    assert window_count_for_seconds(3, 49) == 1
    assert window_count_for_seconds(6.125, 49) == 1
    assert window_count_for_seconds(6.2, 49) == 2
    assert window_count_for_seconds(12.125, 49) == 2
    assert window_count_for_seconds(30, 49) == 5
    with pytest.raises(WindowError, match="at most 30.125 seconds"):
        window_count_for_seconds(31, 49)
    with pytest.raises(WindowError):
        window_count_for_seconds(0, 49)


def test_long_size_keeps_the_picture_size():
    assert long_size(WorkingSize(49, 480, 720), 3) == WorkingSize(145, 480, 720)
    assert long_size(WorkingSize(9, 64, 96), 1) == WorkingSize(9, 64, 96)


def test_window_seeds_start_at_the_request_seed():
    assert [window_seed(42, index) for index in range(3)] == [42, 43, 44]
    assert window_seed(2**63 - 1, 1) == 0  # wraps inside the accepted seed range


# --------------------------------------------------------------------------------------------
# Per-window tracking videos on a known scene
# --------------------------------------------------------------------------------------------

HEIGHT, WIDTH, NATIVE = 64, 96, 5


def _moving_points() -> TrackingResult:
    """Two points over 2 windows of 5 frames (9 frames): point 0 slides right at depth 2 while
    point 1 approaches from depth 8 to 4 at a fixed pixel."""
    frames = total_frames(NATIVE, 2)
    t = np.arange(frames, dtype=np.float32)
    uvz = np.zeros((frames, 2, 3), dtype=np.float32)
    uvz[:, 0] = np.stack([10.5 + 9.5 * t, np.full_like(t, 20.5), np.full_like(t, 2.0)], axis=1)
    uvz[:, 1] = np.stack([np.full_like(t, 70.5), np.full_like(t, 40.5), 8.0 - 0.5 * t], axis=1)
    visible = np.ones((frames, 2), dtype=bool)
    colors = track_colors(uvz[0], HEIGHT, WIDTH)
    rendered = render_tracking_video(uvz, colors, HEIGHT, WIDTH, visible=visible, footprint="dense")
    return TrackingResult(
        frames=rendered, first_frame=np.zeros((HEIGHT, WIDTH, 3), np.uint8), source_frames=None,
        uvz=uvz, visible=visible, colors=colors, fps=8.0,
        points=np.zeros((0, 3), np.float32), point_colors=np.zeros((0, 3), np.uint8), task="camera_control",
    )


def test_second_window_is_coloured_from_its_own_first_frame():
    result = _moving_points()
    second = window_slices(result.num_frames, NATIVE)[1]
    assert second.start == 4
    colors = window_colors(result, second)
    # Frame 4: point 0 at u = 48.5, v = 20.5 → R = ⌊255·48.5/96⌋ = 128, G = ⌊255·20.5/64⌋ = 81;
    # it is the nearer point (1/z = 0.5 vs 1/6), so B = 255; point 1 (u = 70.5, v = 40.5) B = 0.
    np.testing.assert_array_equal(colors, [[128, 81, 255], [187, 161, 0]])
    np.testing.assert_array_equal(colors, track_colors(result.uvz[4], HEIGHT, WIDTH))
    # On frame 0 point 0 was at u = 10.5: its whole-clip colour differs.
    assert result.colors[0, 0] == 27

    video = window_tracking(result, second)
    assert video.shape == (NATIVE, HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(video[0, 20, 48], [128, 81, 255])  # frame 4, pixel under point 0
    np.testing.assert_array_equal(video[-1, 20, 86], [128, 81, 255])  # frame 8: u = 86.5, same colour
    np.testing.assert_array_equal(video[0, 40, 70], [187, 161, 0])


def test_first_window_is_the_recipe_video_and_untracked_videos_are_sliced():
    result = _moving_points()
    first, second = window_slices(result.num_frames, NATIVE)
    np.testing.assert_array_equal(window_tracking(result, first), result.frames[:NATIVE])
    # Re-rendering window 1 from its own first frame gives the same picture (frame 0 is its first frame).
    rerendered = render_tracking_video(result.uvz[:NATIVE], window_colors(result, first), HEIGHT, WIDTH, footprint="dense")
    np.testing.assert_array_equal(rerendered, result.frames[:NATIVE])
    bare = np.arange(9 * 2 * 2 * 3, dtype=np.uint8).reshape(9, 2, 2, 3)
    np.testing.assert_array_equal(window_tracking(bare, second), bare[4:9])


# --------------------------------------------------------------------------------------------
# Chained generation on the tiny checkpoint
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tiny_checkpoint, tmp_path_factory) -> Engine:
    return Engine(EngineConfig(checkpoint=str(tiny_checkpoint), output_dir=tmp_path_factory.mktemp("long-outputs")))


@pytest.fixture(scope="module")
def long_result(engine) -> TrackingResult:
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((192, 128), Image.BICUBIC))
    size = long_size(WorkingSize.from_native(engine.native_size()), 2)
    return camera_control(photo, "trans 0 0 -0.3; rot y 10", size=size)


class DenoiseSpy:
    """Records the first frame and seed of every pipeline run; can cancel inside a given one."""

    def __init__(self, engine: Engine, monkeypatch, cancel_in_call: int | None = None) -> None:
        self.calls: list[tuple[np.ndarray, int, np.ndarray]] = []
        self.cancel_in_call = cancel_in_call
        self.cancelled = False
        original = engine._frames

        def spy(pipe, first_frame, tracking_frames, prompt, settings, seed, progress, cancel):
            self.calls.append((first_frame.copy(), seed, tracking_frames[0].copy()))
            if self.cancel_in_call == len(self.calls):
                self.cancelled = True
            frames = original(pipe, first_frame, tracking_frames, prompt, settings, seed, progress, cancel)
            self.calls[-1] = (*self.calls[-1], frames)
            return frames

        monkeypatch.setattr(engine, "_frames", spy)

    def cancel(self) -> bool:
        return self.cancelled


def test_two_windows_chain_on_the_last_generated_frame(engine, long_result, monkeypatch):
    native_frames = engine.native_size()[0]
    assert long_result.num_frames == 2 * (native_frames - 1) + 1 == 17
    spy = DenoiseSpy(engine, monkeypatch)
    messages: list[str] = []
    result = engine.generate(None, long_result, "a long shot", FAST, progress=lambda f, m: messages.append(m))

    assert len(spy.calls) == 2
    (first_in, seed_1, _, frames_1), (second_in, seed_2, tracking_image_2, frames_2) = spy.calls
    np.testing.assert_array_equal(first_in, long_result.first_frame)
    np.testing.assert_array_equal(second_in, frames_1[-1])  # window 2 starts where window 1 ended
    assert (seed_1, seed_2) == (7, 8)
    # Window 2 read its own tracking slice, coloured from its first frame (frame 8 of the clip).
    expected = window_tracking(long_result, window_slices(17, native_frames)[1])
    np.testing.assert_array_equal(tracking_image_2, expected[0])

    assert result.frames.shape[0] == 17
    np.testing.assert_array_equal(result.frames[:9], frames_1)
    np.testing.assert_array_equal(result.frames[9:], frames_2[1:])
    assert frame_count(result.video_path) == 17
    assert frame_count(result.tracking_path) == 17
    assert [path.name for path in result.window_tracking_paths] == ["tracking_window_01.mp4", "tracking_window_02.mp4"]
    assert all(frame_count(path) == native_frames for path in result.window_tracking_paths)
    record = json.loads(result.settings_path.read_text())
    assert record["num_frames"] == 17 and record["native_frames"] == native_frames
    assert [(w["index"], w["frames"], w["seed"]) for w in record["windows"]] == [(1, [0, 9], 7), (2, [8, 17], 8)]
    assert record["windows"][1]["first_frame"] == "last generated frame of window 1"
    assert any(m.startswith("window 2/2: denoising") for m in messages)

    again = engine.generate(None, long_result, "a long shot", FAST)
    np.testing.assert_array_equal(again.frames, result.frames)


def test_cancel_in_window_two_leaves_no_result(engine, long_result, monkeypatch):
    spy = DenoiseSpy(engine, monkeypatch, cancel_in_call=2)
    before = sorted(engine.output_dir.iterdir())
    with pytest.raises(Cancelled):
        engine.generate(None, long_result, "a long shot", FAST, cancel=spy.cancel)
    assert len(spy.calls) == 2  # window 1 finished, window 2 started and stopped
    assert sorted(engine.output_dir.iterdir()) == before


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def test_cli_length_flags_become_windows():
    args = cli.build_parser().parse_args(["camera-control", "photo.png", "--windows", "3"])
    job = cli._job_from_args(args)
    assert job["windows"] == 3 and cli.job_windows(job, 49) == 3
    assert cli.job_windows({"seconds": 12.0}, 49) == 2
    assert cli.job_windows({"seconds": 12.0, "fps": 16}, 49) == 4  # 4 × 48 + 1 = 193 frames ≥ 192
    assert cli.job_windows({}, 49) == 1
    with pytest.raises(cli.JobError, match="not both"):
        cli.job_windows({"windows": 2, "seconds": 12.0}, 49)
    with pytest.raises(WindowError):
        cli.job_windows({"windows": 9}, 49)


def test_cli_tracking_only_writes_the_long_tracking_video(tiny_checkpoint, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(data.astronaut()).resize((192, 128)).save(photo)
    out = tmp_path / "out"
    code = cli.main([
        "camera-control", str(photo), "--camera-motion", "rot y 10", "--tracking-only", "--seconds", "2",
        "--checkpoint", str(tiny_checkpoint), "--output-dir", str(out),
    ])
    assert code == cli.EXIT_OK
    (folder,) = out.iterdir()
    # Tiny checkpoint: 9 frames a window; 2 s at 8 fps needs 2 windows = 17 frames.
    assert frame_count(folder / cli.TRACKING_VIDEO_NAME) == 17
    both = cli.main(["camera-control", str(photo), "--tracking-only", "--windows", "2", "--seconds", "2",
                     "--checkpoint", str(tiny_checkpoint), "--output-dir", str(out)])
    assert both == cli.EXIT_USAGE


# --------------------------------------------------------------------------------------------
# Studio: the Length input of every build
# --------------------------------------------------------------------------------------------


def test_studio_length_is_the_last_api_input_and_reaches_the_build_as_windows():
    import inspect

    from ui.tabs.common import _with_length, length_info

    received = {}

    def build(video, resize_mode="crop", scope="tab", request=None, progress=None, windows=1):
        received.update(video=video, resize_mode=resize_mode, scope=scope, windows=windows)
        return "built"

    wrapped = _with_length(build, 2)
    assert list(inspect.signature(wrapped).parameters) == ["video", "resize_mode", "windows", "scope", "request", "progress"]
    # Gradio passes the inputs in order: the tab's, the Length, then scope, request and progress.
    assert wrapped("clip.mp4", "pad", 3, "motion", None, None) == "built"
    assert received == {"video": "clip.mp4", "resize_mode": "pad", "scope": "motion", "windows": 3}
    wrapped("clip.mp4")  # an API call without the Length: one window
    assert received["windows"] == 1
    assert length_info(49).startswith("Windows of 49 frames") and "2 = 97 frames (12.1 s)" in length_info(49)
