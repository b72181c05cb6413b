"""Every public ``api_name`` of the studio, called through ``gradio_client`` against a live
server on 127.0.0.1 with the tiny checkpoint (no network)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from ui.handlers.builds import MESH_PROCEDURAL, MESH_SEQUENCE, MESH_TRACKING_VIDEO
from ui.handlers.inputs import SOURCE_IMAGE, SOURCE_VIDEO
from ui.server import running_studio
from ui.tabs.assets import asset

pytestmark = pytest.mark.slow

REPO_FILE = Path(__file__).resolve().parents[1] / "docs" / "screenshots" / "object_manipulation.png"
"""An image on the server that no client uploaded (a malformed editor value may name it)."""

FAST_STEPS = 2
TABS = ("motion_transfer", "camera_control", "object_manipulation", "mesh_animation")
EXPECTED_ENDPOINTS = {f"/{tab}_{event}" for tab in TABS for event in ("build", "generate", "repaint", "cancel")} | {
    "/status",
    "/check_camera_motion",
}


@pytest.fixture(scope="module")
def studio_url(new_tiny_studio):
    studio = new_tiny_studio("api", default_steps=FAST_STEPS)
    with running_studio(studio) as url:
        yield url
    studio.engine.unload()


def client_for(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def call(client, api_name: str, **kwargs):
    """``client.predict`` with every optional input not given sent as empty (``None``).

    Gradio's API marks inputs without a default (here: optional uploads) as required.
    """
    endpoint = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]
    for parameter in endpoint["parameters"]:
        if not parameter.get("parameter_has_default") and parameter["parameter_name"] not in kwargs:
            kwargs[parameter["parameter_name"]] = None
    return client.predict(api_name=api_name, **kwargs)


def _file(path: str):
    from gradio_client import handle_file

    return handle_file(path)


def _build_and_generate(client, tab: str, build_kwargs: dict, *, seed: int) -> tuple:
    """Build the tab's tracking video, then generate from it in the same session."""
    tracking_video, _, first_frame, _, info = call(client, f"/{tab}_build", **build_kwargs)
    assert tracking_video and "frames" in info
    assert first_frame
    video, downloads, seed_used, result_info = call(
        client, f"/{tab}_generate", prompt="a test scene", seed=seed, steps=FAST_STEPS
    )
    assert seed_used == seed and f"Seed {seed}" in result_info
    return video, downloads


def _local(value) -> Path:
    """The server-side path of a file output (client and server share this machine)."""
    if isinstance(value, dict):
        value = value.get("video") or value
        value = value.get("path") if isinstance(value, dict) else value
    return Path(value)


def test_endpoints_are_the_documented_ones(studio_url):
    info = client_for(studio_url).view_api(return_format="dict", print_info=False)
    assert set(info["named_endpoints"]) == EXPECTED_ENDPOINTS


def test_status_and_motion_check(studio_url):
    client = client_for(studio_url)
    assert "tiny test model — output is noise" in client.predict(api_name="/status")
    message, plot = client.predict("trans 0 0 -0.4; rot y 10", api_name="/check_camera_motion")
    assert "forward" in message and plot
    message, _ = client.predict("rot y", api_name="/check_camera_motion")
    assert "step 1" in message and "missing" in message


BUILDS = {
    "motion_transfer": {"video": "moving_scene.mp4", "grid_size": 20},
    "camera_control": {"source_mode": SOURCE_IMAGE, "image": "landscape.jpg", "camera_motion": "orbit 20"},
    "object_manipulation": {
        "source_mode": SOURCE_IMAGE, "image": "ball_scene.jpg", "mask_upload": "ball_mask.png", "motion": "left", "amount": 0.2,
    },
    "mesh_animation": {"mode": MESH_SEQUENCE, "mesh_file": "bouncing_blob.zip", "camera_motion": "orbit 15"},
}


def _with_files(kwargs: dict) -> dict:
    resolved = {}
    for name, value in kwargs.items():
        if isinstance(value, str) and Path(asset(value)).is_file() and "." in value:
            resolved[name] = _file(asset(value))
        else:
            resolved[name] = value
    return resolved


@pytest.mark.parametrize("tab", TABS)
def test_build_then_generate(studio_url, tab):
    client = client_for(studio_url)
    video, downloads = _build_and_generate(client, tab, _with_files(BUILDS[tab]), seed=11)
    assert _local(video).is_file()
    names = [_local(item).name for item in downloads]
    assert names == ["video.mp4", "tracking.mp4", "settings.json"]
    settings = json.loads(_local(downloads[2]).read_text())
    assert settings["seed"] == 11 and settings["tracking"]["task"] == tab


def test_other_mesh_inputs(studio_url):
    client = client_for(studio_url)
    _, _, first_frame, _, _ = call(
        client, "/mesh_animation_build",
        mode=MESH_PROCEDURAL, mesh_file=_file(asset("toy_house.ply")), procedural="swing", amount=20,
    )
    assert first_frame
    tracking, _, _, cloud, info = call(
        client, "/mesh_animation_build", mode=MESH_TRACKING_VIDEO, tracking_video=_file(asset("tracking_turntable.mp4")),
        tracking_first_frame=_file(asset("tracking_turntable_first_frame.png")),
    )
    assert tracking and cloud is None and "first frame: user image" in info


def test_video_sources(studio_url):
    client = client_for(studio_url)
    outputs = call(
        client, "/camera_control_build",
        source_mode=SOURCE_VIDEO, video=_file(asset("moving_scene.mp4")), camera_motion="rot y 10", grid_size=20,
    )
    assert outputs[0] and outputs[1]
    outputs = call(
        client, "/object_manipulation_build",
        source_mode=SOURCE_VIDEO, video=_file(asset("ball_video.mp4")),
        mask_upload=_file(asset("ball_mask.png")), motion="up", amount=0.2, grid_size=20,
    )
    assert outputs[0]


@pytest.mark.parametrize("tab", TABS)
def test_repaint_explains_missing_weights(studio_url, tab):
    from gradio_client.exceptions import AppError

    client = client_for(studio_url)
    with pytest.raises(AppError, match="tracking video"):  # nothing built yet in this session
        call(client, f"/{tab}_repaint", prompt="a new look")
    call(client, f"/{tab}_build", **_with_files(BUILDS[tab]))
    with pytest.raises(AppError, match="FLUX"):
        call(client, f"/{tab}_repaint", prompt="a new look")


def _cancel_notice(client, tab: str) -> str:
    """The notice of the tab's Cancel (its first output)."""
    return client.predict(api_name=f"/{tab}_cancel")[0]


@pytest.mark.parametrize("tab", TABS)
def test_cancel_with_nothing_running(studio_url, tab):
    assert "Nothing was running" in _cancel_notice(client_for(studio_url), tab)


def test_an_idle_cancel_does_not_cancel_the_next_generation(studio_url):
    client = client_for(studio_url)
    call(client, "/camera_control_build", **_with_files(BUILDS["camera_control"]))
    assert "Nothing was running" in _cancel_notice(client, "camera_control")
    video, _, seed_used, info = call(client, "/camera_control_generate", prompt="right after", seed=4, steps=FAST_STEPS)
    assert video and seed_used == 4 and "Cancelled" not in info


def test_generate_after_a_failed_build_is_refused(studio_url):
    """Through the API no browser event empties the state after a failed build: the build
    retires the session's tracking video itself, so Generate refuses with a message."""
    from gradio_client.exceptions import AppError

    client = client_for(studio_url)
    call(client, "/camera_control_build", **_with_files(BUILDS["camera_control"]))
    with pytest.raises(AppError, match="step 1"):
        call(client, "/camera_control_build", source_mode=SOURCE_IMAGE, image=_file(asset("landscape.jpg")),
             camera_motion="spin 20")
    with pytest.raises(AppError, match="failed, was cancelled or is still running"):
        call(client, "/camera_control_generate", prompt="stale", seed=1, steps=FAST_STEPS)
    _build_and_generate(client, "camera_control", _with_files(BUILDS["camera_control"]), seed=6)


def test_bad_numbers_and_files_get_our_messages(studio_url, tmp_path):
    """Values Gradio would choke on in its own preprocessing reach the validation layer."""
    from gradio_client.exceptions import AppError

    client = client_for(studio_url)
    call(client, "/camera_control_build", **_with_files(BUILDS["camera_control"]))
    for seed, words in (("abc", "'abc' is not a number"), (2**63, "seed must be")):
        with pytest.raises(AppError, match=f"(?i){words}"):
            call(client, "/camera_control_generate", prompt="x", seed=seed, steps=FAST_STEPS)
    with pytest.raises(AppError, match="(?i)steps must be"):
        call(client, "/camera_control_generate", prompt="x", seed=1, steps=0)
    with pytest.raises(AppError, match="(?i)prompt is empty"):
        call(client, "/camera_control_generate", prompt="\x00\x07", seed=1, steps=FAST_STEPS)
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    with pytest.raises(AppError, match="notes"):
        call(client, "/camera_control_build", source_mode=SOURCE_IMAGE, image=_file(str(text)), camera_motion="")


def test_a_malformed_mask_editor_value_gets_our_message(studio_url, tmp_path):
    """Gradio's ImageEditor would check and decode its payload before our handler runs (and fail
    with its generic error); the studio's editor hands it over as sent."""
    from gradio_client.exceptions import AppError
    from PIL import Image

    client = client_for(studio_url)
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    small = tmp_path / "small.png"
    Image.fromarray(np.full((10, 30, 4), 255, np.uint8)).save(small)
    source = {"source_mode": SOURCE_IMAGE, "image": _file(asset("ball_scene.jpg")), "motion": "up", "amount": 0.2}
    for editor, words in (
        ("just text", "value is str"),
        ({"background": None, "layers": "abc", "composite": None}, "layers are str"),
        ({"background": None, "layers": [12], "composite": None}, "Layer 1 of the mask editor is int"),
        # A file name in a malformed value is never opened: Gradio checked no upload folder for it.
        ({"background": None, "layers": [str(REPO_FILE)], "composite": None}, "not a file uploaded to the studio"),
        ({"layers": [{"path": str(REPO_FILE)}]}, "not a file uploaded to the studio"),
        ({"background": None, "layers": [_file(str(text))], "composite": None}, "notes.png is not an image"),
        ({"background": None, "layers": [_file(str(small))], "composite": None}, "is 30×10 px but the first frame"),
    ):
        with pytest.raises(AppError, match="upload a mask image") as caught:
            call(client, "/object_manipulation_build", mask_editor=editor, **source)
        assert words in str(caught.value), str(caught.value)
    # An uploaded mask wins over an unreadable editor value; then a layer painted on the first
    # frame (opaque where the object is) builds too.
    tracking_video, _, first_frame, _, info = call(
        client, "/object_manipulation_build", mask_upload=_file(asset("ball_mask.png")), mask_editor="just text", **source
    )
    assert tracking_video and "frames" in info
    width, height = Image.open(_local(first_frame)).size
    layer = np.zeros((height, width, 4), np.uint8)
    layer[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = (255, 59, 48, 191)
    painted = tmp_path / "painted.png"
    Image.fromarray(layer).save(painted)
    tracking_video, *_, info = call(
        client, "/object_manipulation_build", mask_editor={"background": None, "layers": [_file(str(painted))], "composite": None},
        **source,
    )
    assert tracking_video and "frames" in info


def test_cancel_stops_a_running_generation(studio_url):
    from gradio_client.utils import Status

    client = client_for(studio_url)
    call(client, "/camera_control_build", **_with_files(BUILDS["camera_control"]))
    job = client.submit(prompt="a long one", seed=1, steps=100, first_frame=None, api_name="/camera_control_generate")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and job.status().code not in (Status.PROCESSING, Status.PROGRESS):
        time.sleep(0.1)
    assert job.status().code in (Status.PROCESSING, Status.PROGRESS), "the generation never started"
    # Gradio may have dequeued it a moment before the handler registers: a Cancel that finds
    # nothing running cancels nothing, so ask again until it reaches the job.
    started = time.monotonic()
    notice = _cancel_notice(client, "camera_control")
    while "Nothing was running" in notice and time.monotonic() - started < 30:
        time.sleep(0.1)
        notice = _cancel_notice(client, "camera_control")
    assert notice == "**Cancelled** the generation."
    video, downloads, seed, info = job.result(timeout=60)
    assert video is None and downloads is None and "Cancelled" in info
    assert time.monotonic() - started < 20


def test_bad_request_then_good_request(studio_url):
    from gradio_client.exceptions import AppError

    client = client_for(studio_url)
    with pytest.raises(AppError, match="step 1"):
        call(client, "/camera_control_build", source_mode=SOURCE_IMAGE, image=_file(asset("landscape.jpg")),
             camera_motion="spin 20")
    with pytest.raises(AppError, match="(?i)upload"):
        call(client, "/camera_control_build", source_mode=SOURCE_IMAGE, image=None)
    with pytest.raises(AppError, match="(?i)build"):
        call(client, "/motion_transfer_generate", prompt="x")
    _build_and_generate(client, "camera_control", _with_files(BUILDS["camera_control"]), seed=5)
