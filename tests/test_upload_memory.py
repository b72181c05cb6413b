"""A tiny upload must not make the studio's server decode gigabytes.

The studio runs as a real ``python webui.py`` process on 127.0.0.1 with the tiny checkpoint;
a ~35 KB tracking video of 600 frames at 1024×1024 (1.8 GiB decoded) goes to Mesh Animation's
"tracking video made elsewhere" through ``gradio_client``, and the server's peak resident
memory during that request is read from ``/proc`` (Linux).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ui.handlers.builds import MESH_TRACKING_VIDEO
from ui.server import free_port, wait_until_serving

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc peak-RSS reset"),
]

REPO = Path(__file__).resolve().parents[1]
SERVER_MARGIN_BYTES = 192 * 2**20
"""Fixed allowance for one build in the server besides the working clip: the decoder's frame
threads (~3 MiB each at 1024², up to 16), writing the preview mp4s and the request's own
buffers. Decoding the whole upload would take 1.8 GiB, and 49 full-size frames 147 MiB."""
SERVER_START_TIMEOUT_S = 120
RESET_PEAK_RSS = "5"
"""Writing 5 to /proc/PID/clear_refs resets the process's peak resident set size (VmHWM)."""


def _proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@pytest.fixture(scope="module")
def studio_process(tiny_checkpoint, tmp_path_factory):
    port = free_port()
    env = {**os.environ, "DAS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    output_dir = tmp_path_factory.mktemp("upload-memory-outputs")
    process = subprocess.Popen(
        [sys.executable, "webui.py", "--host", "127.0.0.1", "--port", str(port), "--checkpoint", str(tiny_checkpoint),
         "--output-dir", str(output_dir), "--offline"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    if not wait_until_serving(url, process, SERVER_START_TIMEOUT_S):
        process.kill()
        pytest.fail("the studio did not start")
    yield process, url
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def test_a_tiny_upload_of_many_large_frames_keeps_the_server_bounded(studio_process, tiny_checkpoint, big_tracking_video, tmp_path):
    from gradio_client import Client, handle_file

    from core.checkpoints import read_component_config

    process, url = studio_process
    video = big_tracking_video
    assert video.stat().st_size < 200_000
    first = tmp_path / "first.png"
    transformer = read_component_config(str(tiny_checkpoint), "transformer")
    height, width = transformer["sample_height"] * 8, transformer["sample_width"] * 8
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(first)
    clip_bytes = transformer["sample_frames"] * height * width * 3

    client = Client(url, verbose=False, download_files=False)
    Path(f"/proc/{process.pid}/clear_refs").write_text(RESET_PEAK_RSS)
    before = _proc_kib(process.pid, "VmRSS") * 1024
    endpoint = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/mesh_animation_build"]
    kwargs = {p["parameter_name"]: None for p in endpoint["parameters"] if not p.get("parameter_has_default")}
    kwargs.update(mode=MESH_TRACKING_VIDEO, tracking_video=handle_file(str(video)), tracking_first_frame=handle_file(str(first)))
    tracking_video, *_rest, info = client.predict(api_name="/mesh_animation_build", **kwargs)
    assert tracking_video and "frames" in info
    growth = _proc_kib(process.pid, "VmHWM") * 1024 - before
    bound = clip_bytes + SERVER_MARGIN_BYTES
    assert growth < bound, f"server peak RSS grew {growth / 2**20:.0f} MiB; bound {bound / 2**20:.0f} MiB"
