"""The command line (python -m core): tracking-only runs of every task, a generation, exit
codes, and batches sharded over two CPU processes with accelerate."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from core.cli import (
    EXIT_BATCH_FAILURES,
    EXIT_CHECKPOINT,
    EXIT_OK,
    EXIT_USAGE,
    JobError,
    _normalise_job,
    _task_call,
    main,
    read_jobs,
)
from core import tasks
from core.errors import UserError
from core.media import read_video_frames, write_video
from core.object_motion import ObjectMotionError
from core.options import ClipOptions, ObjectMove, OptionError, TrackingOptions, WorkingSize

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_engine():
    """Each command line gets its own process-wide engine, as separate `python -m core` runs do."""
    from core.engine import reset_engine

    reset_engine()
    yield
    reset_engine()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """A photo, a mask for it, a short video, a mesh and a tracking video, all small."""
    import trimesh

    folder = tmp_path_factory.mktemp("cli-media")
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((192, 128), Image.BICUBIC))
    Image.fromarray(photo).save(folder / "photo.png")
    mask = np.zeros((128, 192), np.uint8)
    mask[30:80, 60:120] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    texture = np.asarray(Image.fromarray(data.coffee()).resize((260, 140)))
    write_video(np.stack([texture[:128, 4 * t : 4 * t + 192] for t in range(12)]), folder / "video.mp4", fps=8)
    trimesh.creation.box(extents=(1, 0.6, 0.8)).export(folder / "box.obj")
    write_video(np.zeros((9, 64, 96, 3), np.uint8) + 40, folder / "tracking.mp4", fps=8)
    return {name: folder / file for name, file in {
        "photo": "photo.png", "mask": "mask.png", "video": "video.mp4", "mesh": "box.obj", "tracking": "tracking.mp4"
    }.items()}


def task_args(task: str, media: dict[str, Path]) -> list[str]:
    return {
        "motion-transfer": ["motion-transfer", str(media["video"]), "--grid-size", "10"],
        "camera-control": ["camera-control", str(media["photo"]), "--camera-motion", "trans 0 0 -0.3; rot y 10"],
        "object-manipulation": [
            "object-manipulation", str(media["photo"]), "--mask", str(media["mask"]), "--object-motion", "up", "--amount", "0.1",
        ],
        "mesh-animation": ["mesh-animation", str(media["mesh"]), "--procedural", "turntable", "--num-points", "2000"],
        "from-tracking": ["from-tracking", str(media["tracking"]), "--first-frame", str(media["photo"])],
    }[task]


def only_folder(output_dir: Path) -> Path:
    folders = [path for path in output_dir.iterdir() if path.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


@pytest.mark.parametrize("task", ["motion-transfer", "camera-control", "object-manipulation", "mesh-animation", "from-tracking"])
def test_tracking_only_for_every_task(task, media, tiny_checkpoint, tmp_path, capsys):
    code = main(task_args(task, media) + ["--tracking-only", "--checkpoint", str(tiny_checkpoint), "-o", str(tmp_path)])
    assert code == EXIT_OK
    folder = only_folder(tmp_path)
    frames, _ = read_video_frames(folder / "tracking.mp4")
    assert frames.shape == (9, 64, 96, 3)  # the tiny checkpoint's native size, read from its config
    assert (folder / "first_frame.png").is_file()
    info = json.loads((folder / "tracking.json").read_text())
    assert info["metadata"]["task"] == task.replace("-", "_").replace("from_tracking", "from_tracking_video")
    if task != "from-tracking":
        assert (folder / "point_cloud.ply").is_file()
    printed = json.loads(capsys.readouterr().out)
    assert printed["output_dir"] == str(folder)


def test_the_controllability_check_is_printed_and_saved(media, tiny_checkpoint, tmp_path, capsys):
    """A camera that flies out of the scene: the CLI says so in plain words before any generation,
    and tracking.json keeps the figures."""
    args = ["camera-control", str(media["photo"]), "--camera-motion", "trans 0 0 -50"]
    code = main(args + ["--tracking-only", "--checkpoint", str(tiny_checkpoint), "-o", str(tmp_path)])
    assert code == EXIT_OK
    err = capsys.readouterr().err
    assert "[camera_control] check:" in err
    assert "⚠ The camera leaves the scene" in err
    check = json.loads((only_folder(tmp_path) / "tracking.json").read_text())["metadata"]["check"]
    assert "camera_leaves_scene" in check["warning_codes"] and check["leaves_scene_frame"] == 1


def test_tracking_only_needs_no_checkpoint(media, tmp_path, monkeypatch):
    import core.engine

    monkeypatch.setattr(core.engine, "default_checkpoint_dir", lambda: tmp_path / "absent")
    code = main(task_args("from-tracking", media) + ["--tracking-only", "-o", str(tmp_path / "out")])
    assert code == EXIT_OK
    frames, _ = read_video_frames(only_folder(tmp_path / "out") / "tracking.mp4")
    assert frames.shape == (49, 480, 720, 3)  # DaS's size when no checkpoint config is readable


def test_generate_from_the_command_line(media, tiny_checkpoint, tmp_path, capsys):
    code = main(
        task_args("camera-control", media)
        + ["--prompt", "an astronaut", "--steps", "1", "--seed", "5", "--checkpoint", str(tiny_checkpoint), "-o", str(tmp_path)]
    )
    assert code == EXIT_OK
    record = json.loads(capsys.readouterr().out)
    assert record["seed"] == 5
    settings = json.loads(Path(record["files"]["settings"]).read_text())
    assert settings["prompt"] == "an astronaut" and settings["settings"]["num_inference_steps"] == 1
    assert settings["tracking"]["camera_motion"] == "trans 0 0 -0.3; rot y 10"
    assert Path(record["files"]["video"]).is_file()


@pytest.mark.parametrize(
    ("extra", "expected", "message"),
    [
        (["--camera-motion", "trans 0 0 -0.3; wobble", "--tracking-only"], EXIT_USAGE, "wobble"),
        ([], EXIT_USAGE, "prompt is required"),
        (["--prompt", "x", "--checkpoint", "{empty}"], EXIT_CHECKPOINT, "missing"),
    ],
)
def test_exit_codes_and_messages(extra, expected, message, media, tmp_path, capsys):
    empty = tmp_path / "empty-checkpoint"
    empty.mkdir()
    args = task_args("camera-control", media)[:2] + [arg.replace("{empty}", str(empty)) for arg in extra]
    assert main(args + ["-o", str(tmp_path / "out")]) == expected
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_job_keys_become_typed_options():
    """Batch files keep their keys; the CLI turns them into the recipes' typed options."""
    size = WorkingSize(9, 64, 96)
    job = _normalise_job(
        {
            "task": "object-manipulation",
            "input": "photo.png",
            "mask": "mask.png",
            "object_motion": "right",
            "amount": "0.25",
            "camera_motion": "rot y 5",
            "start": 1.5,
            "resize_mode": "pad",
            "source_mode": "image",
            "depth_method": "builtin",
            "tracker": "lk",
            "grid_size": 20,
            "fov": 60,
        }
    )
    recipe, args, kwargs = _task_call(job, size, allow_download=True)
    assert recipe is tasks.object_manipulation
    assert args[0] == "photo.png" and args[1] == ObjectMove("mask.png", "right", 0.25)
    assert args[1].amount == 0.25 and args[1].mask == "mask.png"
    assert kwargs == {
        "size": size,
        "clip": ClipOptions(resize_mode="pad", start_s=1.5, source_mode="image"),
        "tracking": TrackingOptions(depth_method="builtin", tracker="lk", grid_size=20, fov_deg=60, allow_download=True),
        "camera_motion": "rot y 5",
    }
    # Unset keys take the defaults of core.defaults.
    recipe, args, kwargs = _task_call(_normalise_job({"task": "motion-transfer", "input": "clip.mp4"}), size, False)
    assert recipe is tasks.motion_transfer and args == ["clip.mp4"]
    assert kwargs == {"size": size, "clip": ClipOptions(), "tracking": TrackingOptions()}
    assert kwargs["tracking"].grid_size == 70 and kwargs["clip"].resize_mode == "crop"
    # Mesh and uploaded tracking videos take a working size and a resize mode, no scene options.
    recipe, args, kwargs = _task_call(
        _normalise_job({"task": "mesh-animation", "input": "m.obj", "procedural": "turntable", "fov": 40, "resize_mode": "pad"}),
        size,
        False,
    )
    assert recipe is tasks.mesh_animation
    assert kwargs == {"size": size, "resize_mode": "pad", "procedural": "turntable", "fov_deg": 40}
    # Bad values are user errors, raised before any work.
    with pytest.raises(OptionError, match="grid size"):
        _task_call(_normalise_job({"task": "motion-transfer", "input": "clip.mp4", "grid_size": 1}), size, False)
    with pytest.raises(ObjectMotionError, match="unknown object motion"):
        _task_call(_normalise_job({**job, "task": "object_manipulation", "object_motion": "sideways"}), size, False)
    with pytest.raises(JobError, match="--mask") as missing:
        _task_call(_normalise_job({"task": "object_manipulation", "input": "p.png", "object_motion": "up", "amount": 1}), size, False)
    assert isinstance(missing.value, UserError)


def test_usage_errors_exit_with_2():
    with pytest.raises(SystemExit) as exit_info:
        main(["camera-control"])  # no input
    assert exit_info.value.code == EXIT_USAGE


# --------------------------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------------------------


def write_jobs(path: Path, jobs: list[dict]) -> Path:
    path.write_text("# a comment line\n" + "\n".join(json.dumps(job) for job in jobs) + "\n\n", encoding="utf-8")
    return path


def test_read_jobs_validates_ids(tmp_path):
    jobs = read_jobs(write_jobs(tmp_path / "jobs.jsonl", [{"task": "camera-control"}, {"id": "b", "task": "x"}]))
    assert [job["id"] for job in jobs] == ["job-00002", "b"]  # default ids follow the line numbers
    with pytest.raises(JobError, match="duplicate"):
        read_jobs(write_jobs(tmp_path / "dup.jsonl", [{"id": "a"}, {"id": "a"}]))
    with pytest.raises(JobError, match="letters, digits"):
        read_jobs(write_jobs(tmp_path / "bad.jsonl", [{"id": "../escape"}]))
    (tmp_path / "broken.jsonl").write_text("{not json\n")
    with pytest.raises(JobError, match="not valid JSON"):
        read_jobs(tmp_path / "broken.jsonl")


def test_batch_in_one_process_records_failures_and_resumes(media, tiny_checkpoint, tmp_path):
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"id": "cam", "task": "camera-control", "input": str(media["photo"]), "camera_motion": "rot y 5"},
            {"id": "bad", "task": "camera-control", "input": str(media["photo"]), "camera_motion": "wobble"},
            {"id": "typo", "task": "camera-control", "input": str(media["photo"]), "camera_moton": "rot y 5"},
        ],
    )
    out = tmp_path / "out"
    args = ["batch", str(jobs), "--tracking-only", "--checkpoint", str(tiny_checkpoint), "-o", str(out)]
    assert main(args) == EXIT_BATCH_FAILURES
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["id"], r["status"]) for r in results] == [("cam", "ok"), ("bad", "failed"), ("typo", "failed")]
    assert "wobble" in results[1]["error"] and "camera_moton" in results[2]["error"]
    tracking = out / "cam" / "tracking.mp4"
    stamp = tracking.stat().st_mtime_ns
    assert main(args) == EXIT_BATCH_FAILURES  # resumed: the finished job is skipped, the failed ones retried
    assert tracking.stat().st_mtime_ns == stamp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_batch_sharded_over_two_processes_with_accelerate(media, tiny_checkpoint, tmp_path):
    """`accelerate launch` with two CPU processes: every job exactly once, failures recorded."""
    jobs = [
        {"id": f"cam{index}", "task": "camera-control", "input": str(media["photo"]), "camera_motion": f"rot y {index}",
         "prompt": "an astronaut", "steps": 1, "seed": index}
        for index in range(3)
    ]
    jobs.append({"id": "broken", "task": "camera-control", "input": str(media["photo"]), "camera_motion": "wobble", "prompt": "x"})
    jobs_file = write_jobs(tmp_path / "jobs.jsonl", jobs)
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
        "-m", "core", "batch", str(jobs_file), "--checkpoint", str(tiny_checkpoint), "-o", str(out),
    ]
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert completed.returncode != 0, "a failed job must make the exit code non-zero"
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in results] == [job["id"] for job in jobs]  # each job exactly once, in order
    assert {r["process"] for r in results} == {0, 1}  # both processes worked
    errors = [(r["id"], r.get("error"), r.get("traceback", "")[-1500:]) for r in results]
    assert [r["status"] for r in results] == ["ok", "ok", "ok", "failed"], errors
    for result in results[:3]:
        settings = json.loads(Path(result["files"]["settings"]).read_text())
        assert settings["prompt"] == "an astronaut" and Path(result["files"]["video"]).is_file()
    assert "wobble" in results[3]["error"]
