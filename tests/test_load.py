"""Several clients generating at once on the tiny checkpoint: every request completes, in the
single GPU queue slot, and none is lost (loopback only, bounded time)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ui.handlers.inputs import SOURCE_IMAGE
from ui.server import running_studio
from ui.tabs.assets import asset

pytestmark = pytest.mark.slow

NUM_CLIENTS = 5
FAST_STEPS = 2
DEADLINE_S = 240


@pytest.fixture(scope="module")
def studio(new_tiny_studio):
    studio = new_tiny_studio("load", default_steps=FAST_STEPS)
    with running_studio(studio) as url:
        yield url, studio
    studio.engine.unload()


def _one_user(url: str, index: int, barrier: threading.Barrier) -> dict:
    """One browser-like session: build a tracking video, then generate with its own seed."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=False)
    client.predict(
        source_mode=SOURCE_IMAGE, image=handle_file(asset("landscape.jpg")), video=None,
        camera_motion=f"orbit {10 + index}", first_frame=None, api_name="/camera_control_build",
    )
    barrier.wait(timeout=120)  # every client asks for the GPU at the same moment
    started = time.monotonic()
    video, downloads, seed, _ = client.predict(
        prompt=f"request {index}", seed=1000 + index, steps=FAST_STEPS, first_frame=None,
        api_name="/camera_control_generate",
    )
    return {"index": index, "seed": seed, "video": video, "downloads": downloads, "seconds": time.monotonic() - started}


def _path(value) -> Path:
    if isinstance(value, dict):
        value = value.get("video") or value
        value = value.get("path") if isinstance(value, dict) else value
    return Path(value)


def test_concurrent_generations_all_complete(studio):
    url, studio = studio
    output_dir = studio.engine.output_dir
    studio.engine.load()  # time the queue, not the first model load
    barrier = threading.Barrier(NUM_CLIENTS)
    started = time.monotonic()
    with ThreadPoolExecutor(NUM_CLIENTS) as pool:
        futures = [pool.submit(_one_user, url, index, barrier) for index in range(NUM_CLIENTS)]
        results = [future.result(timeout=DEADLINE_S) for future in futures]
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S

    assert sorted(result["seed"] for result in results) == [1000 + index for index in range(NUM_CLIENTS)]
    served = {_path(result["video"]) for result in results}
    assert len(served) == NUM_CLIENTS and all(path.is_file() for path in served)
    for result in results:
        settings = json.loads(_path(result["downloads"][2]).read_text())
        # Each answer belongs to its own request: prompt, seed and camera motion match.
        assert settings["prompt"] == f"request {result['index']}"
        assert settings["seed"] == result["seed"]
        assert settings["tracking"]["camera_motion"] == f"orbit {10 + result['index']}"
    # On disk: one complete result folder per request, none lost, none half-written.
    folders = [path for path in output_dir.iterdir() if path.is_dir()]
    assert len(folders) == NUM_CLIENTS and not any(path.name.startswith(".") for path in folders)
    saved_seeds = sorted(json.loads((folder / "settings.json").read_text())["seed"] for folder in folders)
    assert saved_seeds == [1000 + index for index in range(NUM_CLIENTS)]
    assert all((folder / "video.mp4").stat().st_size > 0 for folder in folders)
    # One GPU slot: the requests ran one after another, so the last waited for the others.
    assert max(result["seconds"] for result in results) > min(result["seconds"] for result in results)
