"""The studio's handlers, called directly (no browser) on the tiny checkpoint (SPEC §11).

Every test works on a :class:`ui.studio.Studio` of its own module: nothing process-wide is
configured or reset.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from core.camera import CAMERA_PRESETS, parse_camera_motion
from core.engine import Engine, EngineConfig
from core.tasks import TrackingResult
from ui.handlers import builds, camera, generation, inputs, staleness, visibility
from ui.handlers.builds import MESH_PROCEDURAL, MESH_SEQUENCE, MESH_TRACKING_VIDEO, BuildResult
from ui.handlers.inputs import SOURCE_IMAGE, SOURCE_VIDEO
from ui.handlers.outputs import NamedOutputs, for_gradio
from ui.session import BuildLedger, CancelRegistry
from ui.studio import ExpiringCache, Studio, StudioOptions
from ui.tabs.assets import asset

FAST_STEPS = 2
MAX_UPLOAD_BYTES = 50 * 2**20


@pytest.fixture(scope="module")
def studio(new_tiny_studio) -> Studio:
    """This module's studio on the tiny checkpoint, with results in a temporary folder."""
    studio = new_tiny_studio("ui-handlers", max_file_bytes=MAX_UPLOAD_BYTES, default_steps=FAST_STEPS)
    yield studio
    studio.engine.unload()


@pytest.fixture(scope="module")
def camera_tracking(studio) -> TrackingResult:
    """A camera-control tracking result from the landscape example (reused by the generation tests)."""
    return builds.build_camera_control(studio, SOURCE_IMAGE, asset("landscape.jpg"), None, "orbit 20").tracking


def _assert_preview(studio: Studio, result: BuildResult, *, has_source: bool = True, has_cloud: bool = True) -> TrackingResult:
    num_frames, height, width = studio.working_size()
    tracking = result.tracking
    assert isinstance(tracking, TrackingResult)
    assert result.built_from is None  # the tab's wiring fills it in
    assert tracking.frames.shape == (num_frames, height, width, 3)
    assert tracking.frames.max() > 0, "the tracking video is all black"
    assert Path(result.tracking_video).is_file() and Path(result.tracking_video).stat().st_size > 0
    assert Path(result.tracking_video).parent.parent == studio.options.preview_root
    assert (result.source_video is not None and Path(result.source_video).is_file()) == has_source
    assert result.first_frame.shape == (height, width, 3)
    cloud = result.point_cloud
    assert (cloud is not None and Path(cloud).suffix == ".glb" and Path(cloud).is_file()) == has_cloud
    assert f"{num_frames} frames" in result.info
    return tracking


# --------------------------------------------------------------------------------------------
# Builds, one per tab
# --------------------------------------------------------------------------------------------


def test_motion_transfer_build(studio):
    tracking = _assert_preview(studio, builds.build_motion_transfer(studio, asset("moving_scene.mp4"), grid_size=20))
    assert tracking.metadata["task"] == "motion_transfer"


def test_camera_control_build_from_image_and_video(studio, camera_tracking):
    _assert_preview(studio, builds.build_camera_control(studio, SOURCE_IMAGE, asset("cat.jpg"), None, "trans 0 0 -0.3"))
    assert camera_tracking.metadata["camera_motion"] == "orbit 20"
    result = builds.build_camera_control(studio, SOURCE_VIDEO, None, asset("moving_scene.mp4"), "rot y 10", grid_size=20)
    assert _assert_preview(studio, result).metadata["mode"] == "video"


def test_object_manipulation_build_with_uploaded_and_painted_mask(studio):
    uploaded = builds.build_object_manipulation(
        studio, SOURCE_IMAGE, asset("ball_scene.jpg"), None, None, asset("ball_mask.png"), "right", 0.3
    )
    assert _assert_preview(studio, uploaded).metadata["object_motion"] == "right"

    # A painted mask: the editor's paint layer at the working size, opaque where painted.
    frame = inputs.mask_editor_frame(studio, SOURCE_IMAGE, asset("ball_scene.jpg"), None)
    _, height, width = studio.working_size()
    assert frame.shape == (height, width, 3)
    layer = np.zeros((height, width, 4), np.uint8)
    layer[height // 2 :, : width // 2] = (255, 59, 48, 191)
    editor = {"background": frame, "layers": [layer], "composite": frame}
    painted = builds.build_object_manipulation(
        studio, SOURCE_IMAGE, asset("ball_scene.jpg"), None, editor, None, "up", 0.2, "trans 0 0 0.2"
    )
    assert _assert_preview(studio, painted).metadata["object_points"] > 0


def test_mesh_animation_builds(studio):
    sequence = _assert_preview(
        studio,
        builds.build_mesh_animation(studio, MESH_SEQUENCE, asset("bouncing_blob.zip"), "turntable", None, "orbit 20", None, None),
        has_source=False,
    )
    assert sequence.metadata["task"] == "mesh_animation"
    procedural = _assert_preview(
        studio,
        builds.build_mesh_animation(studio, MESH_PROCEDURAL, asset("toy_house.ply"), "turntable", 180, "", None, None),
        has_source=False,
    )
    assert procedural.metadata["procedural"] == "turntable"
    uploaded = _assert_preview(
        studio,
        builds.build_mesh_animation(
            studio, MESH_TRACKING_VIDEO, None, "turntable", None, "",
            asset("tracking_turntable.mp4"), asset("tracking_turntable_first_frame.png"),
        ),
        has_source=False,
        has_cloud=False,  # a tracking video made elsewhere carries no 3D points
    )
    assert uploaded.metadata["task"] == "from_tracking_video"


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def test_generate_writes_video_tracking_and_settings(studio, camera_tracking):
    result = generation.generate_video(studio, camera_tracking, "a sunny valley", seed=7, steps=FAST_STEPS)
    assert result.seed_used == 7 and "Seed 7" in result.info and "tiny test model" in result.info
    assert [Path(path).name for path in result.downloads] == ["video.mp4", "tracking.mp4", "settings.json"]
    assert all(Path(path).is_file() for path in result.downloads) and result.video == result.downloads[0]
    assert Path(result.video).parent.parent == studio.engine.output_dir
    settings = json.loads(Path(result.downloads[2]).read_text())
    assert settings["prompt"] == "a sunny valley" and settings["seed"] == 7
    assert settings["settings"]["num_inference_steps"] == FAST_STEPS


def test_random_seed_is_reported(studio, camera_tracking):
    result = generation.generate_video(studio, camera_tracking, "a valley", seed=-1, steps=1)
    assert isinstance(result.seed_used, int) and result.seed_used >= 0
    assert json.loads(Path(result.downloads[2]).read_text())["seed"] == result.seed_used


def test_a_request_without_steps_uses_the_studios_default(studio, camera_tracking):
    result = generation.generate_video(studio, camera_tracking, "a valley", seed=2, steps=None)
    settings = json.loads(Path(result.downloads[2]).read_text())
    assert settings["settings"]["num_inference_steps"] == studio.options.default_steps == FAST_STEPS


def test_first_frame_override_changes_appearance(studio, camera_tracking):
    downloads = generation.generate_video(
        studio, camera_tracking, "a cat", seed=1, steps=1, first_frame=asset("cat.jpg"), resize_mode="pad"
    ).downloads
    settings = json.loads(Path(downloads[2]).read_text())
    assert settings["tracking"]["first_frame"] == "user image"
    first_frame = np.asarray(Image.open(Path(downloads[0]).parent / "first_frame.png"))
    assert not np.array_equal(first_frame, camera_tracking.first_frame)


def test_cancel_stops_a_generation_within_a_step(studio, camera_tracking):
    steps_seen: list[float] = []
    started = threading.Event()
    outcome: dict[str, object] = {}

    def progress(fraction, desc=None):
        if desc and desc.startswith("denoising"):
            steps_seen.append(fraction)
            started.set()
            time.sleep(0.05)  # keep the run long enough for the cancel to land mid-way

    def run():
        outcome["returned"] = generation.generate_video(
            studio, camera_tracking, "a valley", seed=3, steps=100, scope="cancel-test", progress=progress
        )

    before = set(studio.engine.output_dir.iterdir())
    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(60), "the generation never started denoising"
    # Cancel waits for the job to stop, then says so and empties the result (Gradio may drop
    # the cancelled event's own outputs).
    cancelled = generation.cancel_jobs(studio, "cancel-test")
    assert cancelled.notice == "**Cancelled** the generation."
    assert cancelled.video is None and cancelled.result_info == generation.CANCELLED_INFO
    worker.join(30)
    assert not worker.is_alive()
    # A cancel is not an error: the result widgets are cleared (no stale video, downloads or
    # seed from an earlier run) and the info says what happened.
    returned = outcome["returned"]
    assert returned.video is None and returned.downloads is None and returned.seed_used["visible"] is False
    assert returned.info == generation.CANCELLED_INFO
    assert len(steps_seen) < 100
    assert set(studio.engine.output_dir.iterdir()) == before, "a cancelled run must not leave a result folder"


def test_an_idle_cancel_cancels_nothing_later(studio, camera_tracking):
    """A Cancel that finds nothing running says so and leaves the next job alone."""
    outcome = generation.cancel_jobs(studio, "idle-cancel")
    assert outcome.notice == generation.NOTHING_RUNNING_NOTICE
    result = generation.generate_video(studio, camera_tracking, "a valley", seed=3, steps=1, scope="idle-cancel")
    assert result.video is not None and result.seed_used == 3


def test_a_cancelled_build_says_cancelled_and_clears_the_preview(studio):
    started = threading.Event()
    outcome: dict[str, object] = {}

    def progress(fraction, desc=None):
        started.set()
        time.sleep(0.05)

    def run():
        outcome["build"] = builds.build_camera_control(
            studio, SOURCE_IMAGE, asset("landscape.jpg"), None, "orbit 20", scope="build-cancel", progress=progress
        )

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(60), "the build never reported progress"
    cancelled = generation.cancel_jobs(studio, "build-cancel")
    worker.join(60)
    assert not worker.is_alive()
    assert cancelled.notice == "**Cancelled** the build."
    assert cancelled.tracking is None and cancelled.tracking_video is None and cancelled.first_frame is None
    assert cancelled.preview_info == builds.BUILD_CANCELLED_INFO
    assert cancelled.generate["interactive"] is False
    returned = outcome["build"]
    assert returned.tracking is None and returned.tracking_video is None and returned.info == builds.BUILD_CANCELLED_INFO


def test_generate_after_a_failed_build_refuses_the_old_tracking_video(studio, camera_tracking):
    """An API caller's state still holds the previous tracking video after a failed build; the
    build itself retired it, so Generate says to build again instead of using it."""
    scope = "stale-test"
    good = builds.build_camera_control(studio, SOURCE_IMAGE, asset("landscape.jpg"), None, "orbit 20", scope=scope)
    _message(builds.build_camera_control, studio, SOURCE_IMAGE, asset("landscape.jpg"), None, "rot q 1", scope=scope)
    message = _message(generation.generate_video, studio, good.tracking, "a valley", seed=1, steps=1, scope=scope)
    assert "failed" in message and "build again" in message
    # Another tab of the same session is not affected, and a good build restores this one.
    assert generation.generate_video(studio, camera_tracking, "a valley", seed=1, steps=1, scope="other-tab").video
    again = builds.build_camera_control(studio, SOURCE_IMAGE, asset("landscape.jpg"), None, "orbit 20", scope=scope)
    assert generation.generate_video(studio, again.tracking, "a valley", seed=1, steps=1, scope=scope).video


def test_build_ledger_is_per_session_and_scope():
    ledger = BuildLedger()
    ledger.retire("a", "tab")
    assert ledger.is_retired("a", "tab") and not ledger.is_retired("b", "tab") and not ledger.is_retired("a", "other")
    ledger.restore("a", "tab")
    assert not ledger.is_retired("a", "tab")


def test_studios_do_not_share_jobs_or_options(studio, tmp_path):
    """A cancel in one studio does not reach another's jobs, and each reads its own options."""
    other = Studio(studio.engine, StudioOptions(max_file_bytes=1000, preview_root=tmp_path))
    assert len(other.cancels.cancel("local", "shared-scope")) == 0
    with studio.cancels.running("local", "shared-scope") as cancelled:
        assert not cancelled()
        assert len(other.cancels.cancel("local", "shared-scope")) == 0
        assert not cancelled()
        assert studio.cancels.cancel("local", "shared-scope").kinds == ("job",)
        assert cancelled()
    assert "MiB" in _message(builds.build_motion_transfer, other, asset("moving_scene.mp4"))
    assert studio.options.max_file_bytes == MAX_UPLOAD_BYTES


# --------------------------------------------------------------------------------------------
# User mistakes become messages
# --------------------------------------------------------------------------------------------


def _message(callable_, *args, **kwargs) -> str:
    with pytest.raises(gr.Error) as caught:
        callable_(*args, **kwargs)
    return str(caught.value.message)


def test_missing_inputs_say_what_to_do(studio):
    assert "upload" in _message(builds.build_motion_transfer, studio, None).lower()
    assert "upload" in _message(builds.build_camera_control, studio, SOURCE_IMAGE, None, None, "").lower()
    assert "mask" in _message(
        builds.build_object_manipulation, studio, SOURCE_IMAGE, asset("ball_scene.jpg"), None, None, None, "up", 0.2
    ).lower()
    assert "first frame" in _message(
        builds.build_mesh_animation, studio, MESH_TRACKING_VIDEO, None, "turntable", None, "",
        asset("tracking_turntable.mp4"), None,
    ).lower()
    assert "build" in _message(generation.generate_video, studio, None, "a prompt").lower()


def test_bad_inputs_say_what_is_wrong(studio, camera_tracking, tmp_path):
    message = _message(builds.build_camera_control, studio, SOURCE_IMAGE, asset("landscape.jpg"), None, "rot q 10")
    assert "step 1" in message and "'q'" in message

    black = tmp_path / "black_mask.png"
    Image.fromarray(np.zeros((64, 96), np.uint8)).save(black)
    assert "empty" in _message(
        builds.build_object_manipulation, studio, SOURCE_IMAGE, asset("ball_scene.jpg"), None, None, str(black), "up", 0.2
    ).lower()

    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"this is not a video" * 100)
    assert _message(builds.build_motion_transfer, studio, str(corrupt))

    assert "prompt" in _message(generation.generate_video, studio, camera_tracking, "   ").lower()
    assert "prompt" in _message(generation.generate_video, studio, camera_tracking, "\x00\x1b\x07").lower()
    assert "seed" in _message(generation.generate_video, studio, camera_tracking, "a valley", seed="abc").lower()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("seed", "abc", "seed must be -1 for a random seed"),
        ("seed", float("nan"), "seed must be"),
        ("seed", 2**63, "seed must be"),
        ("steps", float("nan"), "steps must be"),
        ("steps", "many", "steps must be"),
        ("steps", 0, "steps must be a whole number from 1"),
        ("guidance", float("inf"), "guidance must be a finite number"),
        ("guidance", "x", "guidance must be"),
    ],
)
def test_every_bad_number_gets_the_validation_message(studio, camera_tracking, field, value, words):
    """The studio refuses with core.validation's words (the CLI's and the API's), naming the
    field, the range and the value; nothing is generated."""
    before = set(studio.engine.output_dir.iterdir())
    message = _message(generation.generate_video, studio, camera_tracking, "a valley", **{field: value})
    assert words in message.lower()
    assert set(studio.engine.output_dir.iterdir()) == before


def test_the_largest_seed_the_engine_accepts_is_accepted(studio, camera_tracking):
    settings = generation.generation_settings(studio, 2**63 - 1, "1", 6, True, None)
    assert settings.seed == 2**63 - 1 and settings.num_inference_steps == 1
    assert generation.generation_settings(studio, None, None, None, True, None).seed == -1


def test_unreadable_images_name_the_file(studio, tmp_path):
    """Text, empty and random bytes in an image slot reach core.media, whose message names the file."""
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.jpg"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    for bad in (text, empty, noise):
        message = _message(builds.build_camera_control, studio, SOURCE_IMAGE, str(bad), None, "")
        assert bad.name in message, message


def test_a_blank_mesh_amount_means_the_motions_default(studio):
    blank = builds.build_mesh_animation(studio, MESH_PROCEDURAL, asset("toy_house.ply"), "turntable", "", "", None, None)
    default = builds.build_mesh_animation(studio, MESH_PROCEDURAL, asset("toy_house.ply"), "turntable", None, "", None, None)
    still = builds.build_mesh_animation(studio, MESH_PROCEDURAL, asset("toy_house.ply"), "turntable", "0", "", None, None)
    assert np.array_equal(blank.tracking.frames, default.tracking.frames)
    # The default (a full turn) turns the mesh: half-way it looks different; an amount of 0 stays still.
    middle = blank.tracking.num_frames // 2
    assert not np.array_equal(blank.tracking.frames[0], blank.tracking.frames[middle])
    assert np.array_equal(still.tracking.frames[0], still.tracking.frames[middle])
    assert "Amount of 'turntable'" in _message(
        builds.build_mesh_animation, studio, MESH_PROCEDURAL, asset("toy_house.ply"), "turntable", "abc", "", None, None
    )


def test_oversized_upload_is_refused(studio):
    small = Studio(studio.engine, dataclasses.replace(studio.options, max_file_bytes=1000))
    assert "MiB" in _message(builds.build_motion_transfer, small, asset("moving_scene.mp4"))


def test_missing_checkpoint_is_a_message(camera_tracking, tmp_path):
    config = EngineConfig(checkpoint=str(tmp_path / "no-such-checkpoint"), output_dir=tmp_path, allow_download=False)
    broken = Studio(Engine(config), StudioOptions(preview_root=tmp_path / "previews"))
    message = _message(generation.generate_video, broken, camera_tracking, "a valley", steps=1)
    assert "checkpoint" in message.lower() and "Traceback" not in message


def test_repaint_without_flux_weights_is_a_message(studio, camera_tracking):
    message = _message(generation.repaint_first_frame, studio, camera_tracking, "a snowy valley")
    assert "FLUX" in message and "Traceback" not in message


# --------------------------------------------------------------------------------------------
# Camera motion helpers
# --------------------------------------------------------------------------------------------


def test_camera_motion_is_validated_as_typed(studio):
    check = camera.check_camera_motion(studio, "orbit 20; trans 0 0 -0.2")
    assert "orbits left" in check.message and not check.message.startswith("❌")
    assert check.plot is not None and len(check.plot.axes) == 2

    check = camera.check_camera_motion(studio, "trans 0 0")
    assert check.message.startswith("❌") and "step 1" in check.message
    # The grammar's placeholders survive Markdown (which would read <dz> as an HTML tag).
    assert "&lt;dz&gt;" in check.message and "<dz>" not in check.message
    assert check.plot == gr.skip()
    assert camera.camera_motion_error_text(studio, "orbit z 10").startswith("❌")


def test_the_camera_path_plot_draws_centres_and_view_directions(studio):
    """Top view of a pan left by 90° then a dolly: the path runs forward (+z) by the dolly's
    amount and the last view tick points left (−x), PLOT_LOOK_DISTANCE long."""
    num_frames, _, _ = studio.working_size()
    figure = camera.camera_path_figure(studio, f"rot y 90 0 {num_frames // 2}; trans 0 0 -0.5")
    path_line, *ticks = figure.axes[0].get_lines()[: 1 + camera.PLOT_TICKS]
    x, z = path_line.get_data()
    np.testing.assert_allclose([x[0], z[0]], [0.0, 0.0], atol=1e-9)
    # Steps compose as M_t = S1_t · S2_t, so the dolly moves the centre along frame 0's
    # forward axis: 0.5 scene units by the last frame.
    np.testing.assert_allclose([x[-1], z[-1]], [0.0, 0.5], atol=1e-9)
    (x0, x1), (z0, z1) = ticks[-1].get_data()
    np.testing.assert_allclose([x1 - x0, z1 - z0], [-camera.PLOT_LOOK_DISTANCE, 0.0], atol=1e-9)
    assert camera.camera_path_figure(studio, "rot q 1") is None


def test_every_preset_parses(studio):
    num_frames, _, _ = studio.working_size()
    for name in CAMERA_PRESETS:
        parse_camera_motion(camera.camera_preset(name), num_frames)
    with pytest.raises(gr.Error):
        camera.camera_preset("no such preset")


def test_step_builder_add_undo_clear(studio):
    text = camera.builder_add(studio, "", "translation", 0, 0, -0.3, "y", 0, 0, 0, 8)
    assert text == "trans 0 0 -0.3 0 8"
    text = camera.builder_add(studio, text, "rotation", 0, 0, 0, "y", 15, 0, 2, 6)
    assert text == "trans 0 0 -0.3 0 8; rot y 15 2 6"
    text = camera.builder_add(studio, text, "orbit", 0, 0, 0, "x", 10, 0, 0, 8)
    text = camera.builder_add(studio, text, "spiral", 0, 0, 0, "y", 0, 2, 0, 8)
    assert text.endswith("orbit x 10 0 8; spiral 2 0 8")
    with pytest.raises(gr.Error, match="Not added"):
        camera.builder_add(studio, text, "orbit", 0, 0, 0, "z", 10, 0, 0, 8)
    with pytest.raises(gr.Error, match="Degrees is empty: enter a number"):
        camera.builder_add(studio, text, "rotation", 0, 0, 0, "y", None, 0, 0, 8)
    assert camera.builder_undo(text) == "trans 0 0 -0.3 0 8; rot y 15 2 6; orbit x 10 0 8"
    assert camera.builder_undo("") == ""
    assert camera.builder_clear() == ""


def test_visibility_follows_the_selectors():
    source = visibility.source_visibility(SOURCE_VIDEO)
    assert source.image["visible"] is False and source.video["visible"] is True
    mesh = visibility.mesh_mode_visibility(MESH_TRACKING_VIDEO)
    assert mesh.mesh_file["visible"] is False and mesh.camera_motion["visible"] is False
    assert mesh.procedural["visible"] is False and mesh.tracking_video["visible"] is True
    sequence = visibility.mesh_mode_visibility(MESH_SEQUENCE)
    assert sequence.mesh_file["label"].startswith("Mesh sequence") and sequence.camera_motion["visible"] is True
    orbit = visibility.builder_visibility(camera.BUILDER_ORBIT)
    assert orbit.axis["choices"] == ["x", "y"] and orbit.degrees["visible"] and not orbit.translation["visible"]
    assert visibility.builder_visibility(camera.BUILDER_SPIRAL).radius["visible"] is True


def test_a_changed_input_or_a_failed_build_retires_the_tracking_video(camera_tracking):
    keep = staleness.TrackingValidity(gr.skip(), gr.skip(), gr.skip(), gr.skip())
    values = ("image", "/tmp/gradio/abc/landscape.jpg", None, "trans 0 0 -0.4", "crop", 0.0)
    built_from = staleness.inputs_fingerprint(*values)
    # An event that changes no value (Gradio sends some) keeps the tracking video ...
    assert staleness.retire_if_inputs_changed(camera_tracking, built_from, *values) == keep
    # ... a changed value retires it, and says so.
    changed = (*values[:3], "trans 0 0 -0.5", *values[4:])
    retired = staleness.retire_if_inputs_changed(camera_tracking, built_from, *changed)
    assert retired.tracking is None and retired.generate["interactive"] is False
    assert retired.repaint["interactive"] is False and retired.info == staleness.INPUTS_CHANGED_INFO
    # Nothing built yet: nothing to retire and nothing written (such a change can be processed
    # while a build runs, and must not wipe that build's result).
    assert staleness.retire_if_inputs_changed(None, None, *changed) == keep

    # A finished build enables Generate ...
    ready = staleness.build_succeeded(camera_tracking, built_from, *values)
    assert ready.tracking == gr.skip() and ready.generate["interactive"] is True and ready.repaint["interactive"] is True
    # ... unless the inputs changed while it ran: then it is stale at once.
    stale = staleness.build_succeeded(camera_tracking, built_from, *changed)
    assert stale.tracking is None and stale.generate["interactive"] is False
    assert stale.info == staleness.INPUTS_CHANGED_INFO

    # The first-frame image: a new one is applied by Generate; removing the one the build used
    # must not leave it in use.
    with_image = camera_tracking.with_first_frame(camera_tracking.first_frame.copy(), "user image")
    assert staleness.retire_if_first_frame_removed(with_image, "/tmp/gradio/x/edited.png") == keep
    assert staleness.retire_if_first_frame_removed(camera_tracking, None) == keep
    assert staleness.retire_if_first_frame_removed(with_image, None).tracking is None

    failed = staleness.build_failed()
    assert failed.tracking is None and failed.generate["interactive"] is False
    assert (failed.tracking_video, failed.source_video, failed.first_frame, failed.point_cloud) == (None,) * 4
    assert failed.info == staleness.BUILD_FAILED_INFO


def test_the_mask_editor_counts_by_its_strokes_only():
    height, width = 12, 16
    background = np.zeros((height, width, 4), np.uint8)
    other_background = np.full((height, width, 4), 200, np.uint8)
    strokes = background.copy()
    strokes[3:6, 4:9] = (255, 59, 48, 191)
    painted = {"background": background, "layers": [strokes], "composite": strokes}
    reloaded = {"background": other_background, "layers": [], "composite": other_background}
    assert inputs.painted_mask_digest(reloaded) is None
    assert inputs.painted_mask_digest({"background": background, "layers": [background]}) is None
    # The colour and opacity of a stroke do not matter, only where it is.
    same_place = {"layers": [np.where(strokes > 0, 255, 0).astype(np.uint8)]}
    assert inputs.painted_mask_digest(painted) == inputs.painted_mask_digest(same_place)

    fingerprint = staleness.inputs_fingerprint
    # The app reloading the background (another source) is not an edit of the mask ...
    assert fingerprint("right", {"background": background, "layers": []}) == fingerprint("right", reloaded)
    # ... strokes are, and so is erasing them.
    assert fingerprint("right", painted) != fingerprint("right", reloaded)
    moved = np.roll(strokes, 2, axis=1)
    assert fingerprint("right", painted) != fingerprint("right", {"layers": [moved]})


def test_user_error_messages_are_readable_in_a_toast():
    from ui.errors import friendly, user_error

    # Sentences start with a capital, file names keep their case, HTML placeholders survive.
    assert friendly(ValueError("the mask is empty")) == "The mask is empty"
    assert friendly(ValueError("broken.obj: no faces")) == "broken.obj: no faces"
    assert friendly(ValueError("f1.ply: its topology differs")).startswith("f1.ply")
    assert friendly(ValueError("missing <dz>")) == "Missing &lt;dz&gt;"
    error = user_error("expected trans <dx> <dy> <dz>", title="Invalid step")
    assert error.message == "expected trans &lt;dx&gt; &lt;dy&gt; &lt;dz&gt;" and error.title == "Invalid step"
    assert error.print_exception is False and error.duration == 20


def test_mask_inputs(studio, tmp_path):
    _, height, width = studio.working_size()
    layer = np.zeros((height, width, 4), np.uint8)
    layer[2:5, 3:7] = (255, 59, 48, 191)
    expected = np.zeros((height, width), bool)
    expected[2:5, 3:7] = True
    assert np.array_equal(inputs.mask_from_inputs(studio, {"background": None, "layers": [layer], "composite": None}, None), expected)
    painted = tmp_path / "layer.png"
    Image.fromarray(layer).save(painted)
    for sent in (str(painted), {"path": str(painted), "meta": {"_type": "gradio.FileData"}}):
        assert np.array_equal(inputs.mask_from_inputs(studio, {"layers": [None, sent]}, None), expected)
    assert inputs.mask_from_inputs(studio, None, asset("ball_mask.png")) == asset("ball_mask.png")
    # An uploaded mask wins, even over an editor value that could not be read.
    assert inputs.mask_from_inputs(studio, "garbage", asset("ball_mask.png")) == asset("ball_mask.png")
    with pytest.raises(gr.Error, match="mask"):
        inputs.mask_from_inputs(studio, {"background": None, "layers": [], "composite": None}, None)


def test_a_malformed_mask_editor_value_says_what_to_send(studio, tmp_path):
    """What an API client may send as the editor value: each gets a message that names the
    problem and says what to do (paint again, upload a mask, or the value's shape)."""
    _, height, width = studio.working_size()
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    small = tmp_path / "small.png"
    Image.fromarray(np.full((height // 2, width // 3, 4), 255, np.uint8)).save(small)
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((height, width, 4), np.uint8)).save(empty)
    cases = {
        "a string": ("just text", "value is str"),
        "a number": (7, "value is int"),
        "layers not a list": ({"layers": "abc"}, "layers are str"),
        "a layer not a file": ({"layers": [12]}, "Layer 1 of the mask editor is int"),
        "a layer naming no file": ({"layers": [{"path": ""}]}, "Layer 1 of the mask editor names no file"),
        "a text file": ({"layers": [str(text)]}, "notes.png is not an image"),
        "a missing file": ({"layers": [str(tmp_path / "gone.png")]}, "gone.png"),
        "another size": ({"layers": [str(small)]}, f"is {width // 3}×{height // 2} px but the first frame is {width}×{height}"),
        "an array of another size": ({"layers": [np.full((3, 5), 255, np.uint8)]}, "is 5×3 px"),
    }
    for case, (value, words) in cases.items():
        message = _message(
            builds.build_object_manipulation, studio, SOURCE_IMAGE, asset("ball_scene.jpg"), None, value, None, "up", 0.2
        )
        assert words in message, f"{case}: {message}"
        if case != "a missing file":
            assert "upload a mask image" in message, f"{case}: {message}"
        # The build's fingerprint of its inputs is taken first: it must not fail on any of them.
        assert isinstance(inputs.painted_mask_digest(value), str)
    assert "empty" in _message(
        builds.build_object_manipulation, studio, SOURCE_IMAGE, asset("ball_scene.jpg"), None, {"layers": [str(empty)]},
        None, "up", 0.2,
    ).lower()


# --------------------------------------------------------------------------------------------
# Status, sessions, app and command line
# --------------------------------------------------------------------------------------------


def test_status_line_names_device_model_and_tiny_warning(studio):
    from ui.status import studio_status

    line = studio_status(studio)
    assert "cpu" in line and "tiny test model — output is noise" in line and "GPU queue" in line
    assert str(studio.engine.checkpoint) in line


def test_status_line_looks_the_models_up_again_only_after_a_build_or_its_time_to_live(new_tiny_studio, monkeypatch):
    """The status timer refreshes every few seconds in every open page: the depth-model and
    tracker look-ups (disk and Hub cache) run once, and again after a build (which may have
    downloaded a model) or once :data:`ui.studio.TRACKING_MODELS_TTL_S` has passed."""
    from ui import status
    from ui.studio import TRACKING_MODELS_TTL_S, ExpiringCache

    fresh = new_tiny_studio("status-cache")
    installed = {"depth": "builtin"}
    lookups = []

    def depth_method(method, allow_download, purpose):
        lookups.append(("depth", purpose, allow_download))
        return installed["depth"]

    def point_tracker(method, allow_download):
        lookups.append(("tracker", allow_download))
        return "lk"

    monkeypatch.setattr(status, "resolve_depth_method", depth_method)
    monkeypatch.setattr(status, "resolve_point_tracker", point_tracker)
    now = [100.0]
    fresh.tracking_models = ExpiringCache(TRACKING_MODELS_TTL_S, clock=lambda: now[0])

    first = status.studio_status(fresh)
    assert "**Depth:** `builtin`" in first and "Approximate depth" in first and "`lk` (built in)" in first
    assert lookups == [("depth", "still", False), ("depth", "video", False), ("tracker", False)]
    for _ in range(5):
        now[0] += 5.0
        assert status.studio_status(fresh) == first
    assert len(lookups) == 3, "a refresh looked the models up again"

    installed["depth"] = "depth_anything_v2"  # a model lands on disk (e.g. python -m core download)
    now[0] = 100.0 + TRACKING_MODELS_TTL_S - 0.5
    assert status.studio_status(fresh) == first and len(lookups) == 3
    now[0] = 100.0 + TRACKING_MODELS_TTL_S
    refreshed = status.studio_status(fresh)
    assert "**Depth:** `depth_anything_v2`" in refreshed and "Approximate depth" not in refreshed
    assert len(lookups) == 6

    installed["depth"] = "builtin"
    assert status.studio_status(fresh) == refreshed and len(lookups) == 6
    with pytest.raises(gr.Error):  # even a failed build may have downloaded a model
        builds.build_camera_control(fresh, SOURCE_IMAGE, None, None, "orbit 20")
    assert "Approximate depth" in status.studio_status(fresh) and len(lookups) == 9


def test_expiring_cache_keeps_one_value_per_key():
    now = [0.0]
    cache = ExpiringCache(10.0, clock=lambda: now[0])
    computed = []
    for key in (False, True, False, True):
        assert cache.get(key, lambda key=key: computed.append(key) or f"parts {key}") == f"parts {key}"
    assert computed == [False, True]
    now[0] = 10.0
    assert cache.get(True, lambda: "new") == "new"
    cache.forget()
    assert cache.get(False, lambda: "after forget") == "after forget"


def test_examples_leave_out_rows_whose_files_are_missing(tmp_path):
    from ui.tabs.common import tab_examples

    with gr.Blocks():
        prompt, picture = gr.Textbox(), gr.File()
        examples = tab_examples(
            "tab", {"kept": ["a", asset("landscape.jpg")], "gone": ["b", str(tmp_path / "missing.jpg")], "no file": ["c", None]},
            file_columns=(1,), inputs=[prompt, picture],
        )
    assert examples.example_labels == ["kept", "no file"] and len(examples.examples) == 2
    assert examples.dataset.elem_id == "tab-examples"


def test_cancel_registry_is_per_session_and_scope():
    registry = CancelRegistry()
    with registry.running("a", "tab1", "build") as cancel_a1, registry.running("a", "tab2") as cancel_a2, \
            registry.running("b", "tab1") as cancel_b1:
        reached = registry.cancel("a", "tab1")
        assert reached.kinds == ("build",) and len(reached) == 1
        assert cancel_a1() and not cancel_a2() and not cancel_b1()
        assert registry.running_count() == 3
        assert not reached.wait(0.01)  # still registered: not stopped yet
    assert reached.wait(0.01)
    assert registry.running_count() == 0
    assert len(registry.cancel("a")) == 0


def test_a_cancel_with_nothing_running_cancels_nothing_later():
    registry = CancelRegistry()
    assert len(registry.cancel("a", "tab1")) == 0
    with registry.running("a", "tab1") as starting_now:
        assert not starting_now()


def test_build_app_exposes_every_endpoint(studio):
    from ui.app import build_app, build_studio_app

    demo = build_app(studio.engine.config, default_steps=FAST_STEPS, make_assets=False)
    names = {dep.api_name for dep in demo.fns.values() if dep.api_visibility == "public"}
    tabs = ("motion_transfer", "camera_control", "object_manipulation", "mesh_animation")
    expected = {f"{tab}_{event}" for tab in tabs for event in ("build", "generate", "repaint", "cancel")}
    assert names == expected | {"status", "check_camera_motion"}
    gpu = [dep for dep in demo.fns.values() if dep.api_name and dep.api_name.endswith(("_generate", "_repaint"))]
    assert gpu and all(dep.concurrency_id == "gpu" and dep.concurrency_limit == 1 for dep in gpu)
    builds = [dep for dep in demo.fns.values() if dep.api_name and dep.api_name.endswith("_build")]
    assert builds and all(dep.concurrency_id == "tracking" for dep in builds)
    import core

    texts = [block.value for block in demo.blocks.values() if isinstance(getattr(block, "value", None), str)]
    assert any(f"v{core.__version__}" in text for text in texts), "the version must be shown on the page"

    # The same page from a studio made beforehand, which then reports that app's queue.
    same = build_studio_app(studio, make_assets=False)
    assert {dep.api_name for dep in same.fns.values() if dep.api_visibility == "public"} == names
    assert studio.app is same


def test_handlers_keep_their_api_signature_when_bound():
    """Gradio reads parameter names (the API's) and the gr.Request / gr.Progress parameters
    from the bound handler: the studio is not among them, the rest is unchanged."""
    marker = object()
    bound = for_gradio(builds.build_motion_transfer, marker)
    parameters = list(inspect.signature(bound).parameters)
    assert parameters == list(inspect.signature(builds.build_motion_transfer).parameters)[1:]
    # The Length input (windows) is the last API input; request/progress are filled in by Gradio.
    assert parameters[0] == "video" and parameters[-3:] == ["request", "progress", "windows"]
    hints = gr.utils.get_type_hints(bound)
    assert hints["request"] is gr.Request
    with pytest.raises(TypeError, match="studio"):
        for_gradio(staleness.build_failed, marker)

    @dataclasses.dataclass(frozen=True)
    class Pair(NamedOutputs):
        first: int
        second: str

    assert for_gradio(lambda: Pair(1, "b"))() == (1, "b")

    @dataclasses.dataclass(frozen=True)
    class Single(NamedOutputs):
        only: int

    assert for_gradio(lambda: Single(7))() == 7  # a one-output event gets the bare value
    assert Pair.components(second="B", first="A") == ["A", "B"]
    with pytest.raises(TypeError, match="first, second"):
        Pair.components(first="A")


def test_the_studio_starts_with_a_missing_checkpoint_and_says_so(tmp_path):
    from ui.app import build_studio_app
    from ui.status import studio_status

    config = EngineConfig(checkpoint=str(tmp_path / "missing"), output_dir=tmp_path / "out")
    broken = Studio.create(config, default_steps=FAST_STEPS, preview_root=tmp_path / "previews")
    build_studio_app(broken, make_assets=False)
    assert "python -m core.download" in studio_status(broken)


def test_webui_arguments(tmp_path, monkeypatch):
    import webui
    from ui.app import parse_size

    args = webui.parse_args(["--port", "8000", "--auth", "ann:secret", "--offload", "model", "--preload"])
    assert args.port == 8000 and args.auth == [("ann", "secret")] and args.offload == "model" and args.preload
    users = tmp_path / "users.txt"
    users.write_text("# studio users\nann:one\n\nbob:two:with-colon\n")
    assert webui.read_auth(str(users)) == [("ann", "one"), ("bob", "two:with-colon")]
    with pytest.raises(SystemExit):
        webui.parse_args(["--auth", "no-colon"])
    monkeypatch.setenv(webui.CHECKPOINT_ENV_VAR, "org/private-mirror")
    assert webui.parse_args([]).checkpoint == "org/private-mirror"
    assert webui.parse_args(["--checkpoint", "elsewhere"]).checkpoint == "elsewhere"
    assert parse_size("200MB") == 200 * 2**20 and parse_size("1.5 GB") == int(1.5 * 2**30) and parse_size("10") == 10 * 2**20
    with pytest.raises(ValueError):
        parse_size("lots")


def test_repaint_passes_depth_prompt_and_seed(studio, camera_tracking, monkeypatch):
    """The repaint handler's plumbing, with the FLUX call replaced (no weights in tests)."""
    from core import repaint

    calls = {}

    def fake_repaint(depth, prompt, **kwargs):
        calls.update(depth=depth, prompt=prompt, **kwargs)
        return np.zeros(depth.shape + (3,), np.uint8)

    monkeypatch.setattr(repaint, "repaint_first_frame", fake_repaint)
    image = generation.repaint_first_frame(studio, camera_tracking, "  a snowy valley ", seed=9)
    assert image.shape == camera_tracking.first_frame.shape
    assert calls["prompt"] == "a snowy valley" and calls["seed"] == 9 and calls["depth"] is camera_tracking.depth
    assert callable(calls["cancel"]) and calls["allow_download"] is False


def test_gpu_handlers_use_spaces_gpu_when_importable(monkeypatch):
    import sys
    import types

    from ui.tabs.common import on_gpu

    def handler():
        return "ran"

    monkeypatch.setitem(sys.modules, "spaces", None)  # as if not installed: `import spaces` fails
    assert on_gpu(handler) is handler
    wrapped = []
    fake_spaces = types.ModuleType("spaces")
    fake_spaces.GPU = lambda duration: (lambda fn: wrapped.append((fn, duration)) or fn)
    monkeypatch.setitem(sys.modules, "spaces", fake_spaces)
    assert on_gpu(handler)() == "ran"
    assert wrapped and wrapped[0][0] is handler


# --------------------------------------------------------------------------------------------
# Reproducing a result, disk hygiene, the port, small widgets
# --------------------------------------------------------------------------------------------


def _decoded(path) -> np.ndarray:
    from core.media import load_media

    return load_media(str(path), 9, 48, 72, resize_mode="stretch").frames


def test_a_result_is_made_again_from_its_settings(studio, camera_tracking, tmp_path):
    """Load settings (studio) and `rerun --settings` (CLI) give the same video as the original."""
    from core.cli import main

    first = generation.generate_video(studio, camera_tracking, "a valley at dawn", seed=11, steps=FAST_STEPS, guidance=4.5,
                                      scope="rerun")
    folder = Path(first.video).parent
    assert (folder / "tracking_frames.npz").is_file()
    assert str(folder.resolve()) in first.info  # the full path of the result
    upload = tmp_path / "upload" / "settings.json"  # what Gradio hands over: a copy of the file
    upload.parent.mkdir()
    upload.write_bytes((folder / "settings.json").read_bytes())
    loaded = generation.load_settings(studio, str(upload), scope="rerun")
    assert (loaded.prompt, loaded.seed, loaded.steps, loaded.guidance) == ("a valley at dawn", 11, FAST_STEPS, 4.5)
    assert np.array_equal(loaded.tracking.frames, camera_tracking.frames)
    again = generation.generate_video(
        studio, loaded.tracking, loaded.prompt, seed=loaded.seed, steps=loaded.steps, guidance=loaded.guidance,
        dynamic_cfg=loaded.dynamic_cfg, negative_prompt=loaded.negative_prompt, scope="rerun",
    )
    assert Path(again.video).parent != folder
    assert np.array_equal(_decoded(again.video), _decoded(first.video))

    cli_out = tmp_path / "cli"
    code = main(["rerun", "--settings", str(folder / "settings.json"), "--checkpoint", str(studio.engine.checkpoint),
                 "--output-dir", str(cli_out), "--device", "cpu", "--offline"])
    assert code == 0
    (cli_video,) = cli_out.glob("*/video.mp4")
    assert np.array_equal(_decoded(cli_video), _decoded(first.video))

    stranger = tmp_path / "stranger.json"
    stranger.write_text(json.dumps({"prompt": "x", "settings": {"seed": 1}}))
    assert "python -m core rerun" in _message(generation.load_settings, studio, str(stranger))
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")
    assert "broken.json is not a settings JSON" in _message(generation.load_settings, studio, str(not_json))


def test_the_object_mask_is_stored_with_the_result(studio):
    built = builds.build_object_manipulation(
        studio, SOURCE_IMAGE, asset("ball_scene.jpg"), None, None, asset("ball_mask.png"), "right", 0.2
    )
    mask = built.tracking.object_mask
    assert mask.shape == built.tracking.size and 0 < mask.sum() < mask.size
    result = generation.generate_video(studio, built.tracking, "a ball", seed=2, steps=1, scope="mask-store")
    stored = np.asarray(Image.open(Path(result.video).parent / "object_mask.png")) > 127
    assert np.array_equal(stored, mask)


def test_stale_staging_folders_are_removed_at_start(tmp_path):
    import os

    from core.engine import STALE_STAGING_AGE_S, remove_stale_staging

    old = tmp_path / ".incomplete-20250101-old"
    young = tmp_path / ".incomplete-20250101-young"
    result = tmp_path / "20250101-result"
    for folder in (old, young, result):
        folder.mkdir()
        (folder / "video.mp4").write_bytes(b"x")
    long_ago = time.time() - STALE_STAGING_AGE_S - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(result, (long_ago, long_ago))
    assert remove_stale_staging(tmp_path) == [old]
    assert not old.exists() and young.exists() and result.exists()


def test_a_taken_port_gets_a_message_not_a_traceback():
    import socket

    from ui.server import LOOPBACK, port_is_taken, port_taken_message

    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_is_taken(LOOPBACK, port)
        assert f"--port {port + 1}" in port_taken_message(LOOPBACK, port)
    assert not port_is_taken(LOOPBACK, port)


def test_the_app_prunes_gradios_upload_cache(studio):
    from ui.app import UPLOAD_CACHE_CLEANUP, build_studio_app

    demo = build_studio_app(studio, make_assets=False)
    assert demo.delete_cache == UPLOAD_CACHE_CLEANUP


def test_an_uploaded_mask_is_shown_over_the_first_frame(studio):
    from core.tasks import load_mask

    plain = inputs.mask_editor_frame(studio, SOURCE_IMAGE, asset("ball_scene.jpg"), None)
    shown = inputs.mask_editor_frame(studio, SOURCE_IMAGE, asset("ball_scene.jpg"), None, "crop", 0.0, asset("ball_mask.png"))
    selected, _ = load_mask(asset("ball_mask.png"), *plain.shape[:2], resize_mode="crop")
    assert np.array_equal(shown[~selected], plain[~selected])  # only the object is tinted
    alpha = inputs.MASK_OVERLAY_RGBA[3] / 255
    expected = np.round((1 - alpha) * plain[selected] + alpha * np.array(inputs.MASK_OVERLAY_RGBA[:3])).astype(np.uint8)
    assert np.array_equal(shown[selected], expected)


def test_the_motion_check_shows_warnings(studio):
    assert "⚠ the camera sees none of the scene" in camera.camera_motion_message(studio, "trans 5 0 0").text
    assert "⚠" not in camera.camera_motion_message(studio, "orbit 20").text


def test_the_mesh_preview_label_follows_the_input():
    assert visibility.mesh_mode_visibility(MESH_TRACKING_VIDEO).first_frame["label"] == "First frame (uploaded)"
    assert visibility.mesh_mode_visibility(MESH_PROCEDURAL).first_frame["label"] == "Rendered first frame"


def test_a_changed_input_clears_the_old_result():
    built_from = staleness.inputs_fingerprint("a", 1)
    assert staleness.reset_result_if_inputs_changed(built_from, "a", 1) == staleness.KEEP_RESULT
    cleared = staleness.reset_result_if_inputs_changed(built_from, "b", 1)
    assert cleared.video is None and cleared.downloads is None and cleared.info == ""


def test_webui_exits_with_a_message_when_the_port_is_taken(capsys):
    import socket

    import webui
    from ui.server import LOOPBACK

    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            webui.main(["--port", str(port), "--host", LOOPBACK])
    assert f"port {port}" in str(exited.value) and "already in use" in str(exited.value)
    assert "Traceback" not in capsys.readouterr().err
