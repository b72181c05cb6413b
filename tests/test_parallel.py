"""One video over several processes (core.acceleration.parallel), on the CPU with gloo.

Each test starts a real group of 2 processes (``tests/parallel_worker.py``, the CLI, the
studio) with the launcher that ``--parallel`` uses, and compares with one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.acceleration.parallel import ParallelError, check_parallel, context_parallel_plan, launch
from core.engine import Engine, EngineConfig, EngineConfigError, GenerationSettings

sys.path.insert(0, str(Path(__file__).parent))
import parallel_worker as worker  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORKER = str(Path(worker.__file__).resolve())
PROCESSES = 2
FLOAT_TOLERANCE = 1e-5
"""|split − one process| of the tiny transformer's float32 prediction (largest value ≈ 2).

Ulysses attention computes exactly the single-process attention for each head; only the
linear layers see fewer tokens at a time, which changes the order of float32 sums (≈ 5e-7
measured)."""
FRAME_TOLERANCE = 1
"""uint8 levels: those float differences can round a pixel to the neighbouring level."""
ENCODED_MEAN_TOLERANCE = 0.05
ENCODED_EQUAL_SHARE = 0.98
"""The CLI's videos are H.264: a pixel one level off can change the encoder's choices for its
block, so the decoded videos are compared by their mean difference and share of equal pixels."""
SERVER_START_TIMEOUT_S = 180
OFFLINE = {**os.environ, "DAS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


# --------------------------------------------------------------------------------------------
# Options and the launcher (no model)
# --------------------------------------------------------------------------------------------


def test_parallel_options_are_checked_before_anything_starts():
    check_parallel(1, "sequential", "cuda:3")  # one process: nothing to check
    for processes, offload, device, message in [
        (0, "none", None, "whole number of processes >= 1"),
        (2, "sequential", None, "--offload none or model"),
        (2, "group", None, "--offload none or model"),
        (2, "none", "cuda:1", "leave --device empty"),
    ]:
        with pytest.raises(ParallelError, match=message):
            check_parallel(processes, offload, device)
    with pytest.raises(EngineConfigError, match="--offload none or model"):
        EngineConfig(parallel=2, offload="sequential")
    # A config for 2 processes in a process that is not one of them says how to start them.
    with pytest.raises(EngineConfigError, match="python -m core ... --parallel 2"):
        Engine(EngineConfig(parallel=2, device="cpu"))


def test_cli_refuses_bad_parallel_options_without_starting_processes(capsys):
    from core.cli import EXIT_USAGE, main

    assert main(["camera-control", "x.png", "--prompt", "p", "--parallel", "2", "--offload", "group"]) == EXIT_USAGE
    assert "--offload none or model" in capsys.readouterr().err
    assert main(["camera-control", "x.png", "--prompt", "p", "--parallel", "0", "--device", "cpu"]) == EXIT_USAGE


def test_launcher_returns_the_leaders_exit_code_and_stops_the_rest():
    leader_fails = "import os, sys, time; sys.exit(2) if os.environ['RANK'] == '0' else time.sleep(0.5)"
    assert launch(PROCESSES, [sys.executable, "-c", leader_fails]) == 2
    # A follower that fails first stops the group (the leader would wait on it forever).
    follower_fails = "import os, sys, time; sys.exit(3) if os.environ['RANK'] == '1' else time.sleep(600)"
    started = time.monotonic()
    assert launch(PROCESSES, [sys.executable, "-c", follower_fails]) == 3
    assert time.monotonic() - started < 60
    environment = "import os; assert os.environ['WORLD_SIZE'] == '2' and os.environ['LOCAL_RANK'] == os.environ['RANK']"
    assert launch(PROCESSES, [sys.executable, "-c", environment]) == 0


def test_the_plan_splits_both_streams_and_skips_missing_tracking_blocks():
    from core.transformer import CogVideoXTransformer3DModelTracking

    model = worker.tiny_model()
    assert set(context_parallel_plan(model)) == {"", "transformer_blocks.0", "transformer_blocks_copy.0", "proj_out"}
    base_only = CogVideoXTransformer3DModelTracking(
        num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=8,
        text_embed_dim=8, num_layers=1, sample_width=4, sample_height=4, sample_frames=5, num_tracking_blocks=0,
        use_rotary_positional_embeddings=True,
    )
    assert "transformer_blocks_copy.0" not in context_parallel_plan(base_only)


# --------------------------------------------------------------------------------------------
# Two processes
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_split_transformer_equals_one_process_with_the_step_cache_or_int8_weights(tmp_path):
    out = tmp_path / "predictions.pt"
    assert launch(PROCESSES, [sys.executable, WORKER, "transformer", str(out)]) == 0
    results = torch.load(out, weights_only=False)
    with torch.no_grad():
        model = worker.tiny_model()
        reference = model(**worker.transformer_inputs())[0]
        other_tracking = model(**worker.transformer_inputs(tracking_seed=2))[0]
        cached_reference, reference_skips = worker.cached_steps(worker.tiny_model(step_cache=True))
        int8_reference = worker.int8_model()(**worker.transformer_inputs())[0]
    assert 0 < reference_skips[0] < len(worker.STEP_TIMESTEPS)  # the threshold skips some steps, not all
    for result in results:  # every process ends with the whole prediction
        assert (result["prediction"] - reference).abs().max() < FLOAT_TOLERANCE
        # The tracking stream is split too: other tracking maps still change the output.
        assert (result["other_tracking"] - other_tracking).abs().max() < FLOAT_TOLERANCE
        assert (other_tracking - reference).abs().max() > 0.1
        # 45 video tokens would give shares of 23 and 22, whose gather gloo cannot do: refused
        # with a message (NCCL can; diffusers' "anything" exchange runs them on GPUs).
        assert "can only split a video into equal shares" in result["uneven"]
        # int8 weights (--quantize int8) split the same way.
        assert (result["int8"] - int8_reference).abs().max() < FLOAT_TOLERANCE
        # The skip decisions come from the group's sums: the same steps as one process skips.
        assert result["skips"] == reference_skips
        assert (result["cached"] - cached_reference).abs().max() < FLOAT_TOLERANCE
    # A step that fails in one process only: that one re-raises its error, the others learn of it.
    assert results[-1]["failure"] == "own error: failed here"
    assert all("another process failed while a test step" in result["failure"] for result in results[:-1])


@pytest.mark.slow
def test_the_python_api_in_two_processes_generates_cancels_and_reloads(tiny_checkpoint, tmp_path):
    out = tmp_path / "frames.npz"
    command = [sys.executable, WORKER, "engine", str(tiny_checkpoint), str(out)]
    assert subprocess.run([sys.executable, "-c", _launch_code(command)], env=OFFLINE, cwd=REPO).returncode == 0
    result = np.load(out)
    engine = Engine(EngineConfig(checkpoint=str(tiny_checkpoint), device="cpu", output_dir=tmp_path / "single"))
    settings = GenerationSettings(num_inference_steps=worker.GENERATION_STEPS, seed=worker.GENERATION_SEED)
    reference = engine.generate(result["first_frame"], result["tracking"], "a red car", settings).frames
    for name in ("first", "again", "reloaded"):  # after a cancelled run and after unload + reload
        assert np.abs(result[name].astype(int) - reference).max() <= FRAME_TOLERANCE, name
    # Cancelled after its first denoising step (the followers stopped there too, or the next
    # generation would not line up) ...
    assert bool(result["cancelled"]) and int(result["steps_before_cancel"]) == worker.CANCEL_AFTER_STEPS
    assert int(result["load_count"]) == 2


def _launch_code(command: list[str]) -> str:
    return f"import sys; from core.acceleration.parallel import launch; sys.exit(launch({PROCESSES}, {command!r}))"


@pytest.mark.slow
def test_cli_parallel_writes_the_video_one_process_writes(tiny_checkpoint, tmp_path):
    from core.media import read_video_frames

    image = tmp_path / "cat.png"
    from skimage import data
    from PIL import Image

    Image.fromarray(data.chelsea()).save(image)
    arguments = ["camera-control", str(image), "--prompt", "a cat", "--checkpoint", str(tiny_checkpoint), "--device",
                 "cpu", "--steps", "2", "--seed", "3", "--camera-motion", "trans 0 0 -0.2", "--offline"]
    videos = []
    for name, extra in (("single", []), ("parallel", ["--parallel", str(PROCESSES)])):
        output_dir = tmp_path / name
        run = subprocess.run([sys.executable, "-m", "core", *arguments, "-o", str(output_dir), *extra],
                             env=OFFLINE, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        folders = list(output_dir.iterdir())
        assert len(folders) == 1  # only the leader writes a result
        videos.append(read_video_frames(folders[0] / "video.mp4")[0])
        if extra:
            import json

            assert json.loads((folders[0] / "settings.json").read_text())["model"]["parallel"] == PROCESSES
    difference = np.abs(videos[0].astype(int) - videos[1])
    assert difference.mean() <= ENCODED_MEAN_TOLERANCE and (difference == 0).mean() >= ENCODED_EQUAL_SHARE
    # A user error on the leader keeps its exit code through the launcher.
    run = subprocess.run([sys.executable, "-m", "core", *arguments[:2], "--checkpoint", str(tiny_checkpoint),
                          "--device", "cpu", "--parallel", str(PROCESSES), "-o", str(tmp_path / "none")],
                         env=OFFLINE, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "a prompt is required" in run.stderr


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_the_studio_with_parallel_generates_through_the_api_and_stops_every_process(tiny_checkpoint, tmp_path):
    from gradio_client import Client

    from ui.server import free_port, wait_until_serving

    port = free_port()
    launcher = subprocess.Popen(
        [sys.executable, "webui.py", "--port", str(port), "--checkpoint", str(tiny_checkpoint), "--device", "cpu",
         "--output-dir", str(tmp_path / "outputs"), "--offline", "--parallel", str(PROCESSES)],
        cwd=REPO, env=OFFLINE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_until_serving(url, launcher, SERVER_START_TIMEOUT_S), "the studio did not start"
        processes = _children(launcher.pid)
        assert len(processes) == PROCESSES
        from test_api_client import BUILDS, _with_files, call

        client = Client(url, verbose=False, download_files=False)
        assert f"× {PROCESSES} processes" in client.predict(api_name="/status")
        tracking_video, *_ = call(client, "/camera_control_build", **_with_files(BUILDS["camera_control"]))
        assert tracking_video
        video, _, seed, info = call(client, "/camera_control_generate", prompt="a rocket", seed=4, steps=2)
        assert seed == 4 and "Seed 4" in info
        from test_api_client import _local

        assert _local(video).is_file()
    finally:
        launcher.terminate()
        launcher.wait(timeout=120)
    for pid in processes:
        assert not Path(f"/proc/{pid}").exists() or "Z" in (Path(f"/proc/{pid}") / "stat").read_text().split()[2]


@pytest.mark.slow
def test_the_parallel_benchmark_runs_both_ways_in_one_session(tmp_path):
    report_path = tmp_path / "parallel.json"
    run = subprocess.run([sys.executable, "bench/gpu_parallel.py", "--parallel", str(PROCESSES), "--tiny", "--steps", "2",
                          "--json", str(report_path), "--markdown", str(tmp_path / "parallel.md")],
                         cwd=REPO, env=OFFLINE, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    import json

    report = json.loads(report_path.read_text())
    one, split = report["runs"]
    assert report["processes"] == PROCESSES and one["steps_run"] == split["steps_run"] == 2
    assert report["speedup"] == pytest.approx(one["s_per_step"] / split["s_per_step"])
    assert "Measured speed-up per step" in (tmp_path / "parallel.md").read_text()
