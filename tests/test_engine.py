"""The cached engine (core.engine) end to end on the tiny checkpoint: every task from its inputs
to an mp4 and a settings JSON, reproducibility, caching, cancellation, sizes and errors."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from core import engine as engine_module
from core import defaults
from core.engine import (
    Engine,
    EngineConfig,
    EngineConfigError,
    GenerationInputError,
    GenerationSettings,
    get_engine,
    read_native_size,
    reset_engine,
    resolve_checkpoint,
)
from core.errors import CheckpointError
from core.media import read_video_frames, write_video
from core.progress import Cancelled
from core.tasks import (
    ObjectMove,
    TrackingOptions,
    WorkingSize,
    camera_control,
    from_tracking_video,
    mesh_animation,
    motion_transfer,
    object_manipulation,
)

FAST = GenerationSettings(num_inference_steps=2)
"""Two steps: enough to exercise the loop, cheap on a 2-core CPU."""


@pytest.fixture(scope="module")
def engine(tiny_checkpoint, tmp_path_factory) -> Engine:
    """One engine for the module (loads the tiny model once)."""
    return Engine(EngineConfig(checkpoint=str(tiny_checkpoint), output_dir=tmp_path_factory.mktemp("outputs")))


@pytest.fixture(scope="module")
def size(engine) -> dict:
    return {"size": WorkingSize.from_native(engine.native_size())}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(Image.fromarray(data.astronaut()).resize((192, 128), Image.BICUBIC))


@pytest.fixture(scope="module")
def camera_result(photo, size):
    return camera_control(photo, "trans 0 0 -0.3; rot y 10", **size)


def result_folders(output_dir: Path) -> list[Path]:
    return sorted(path for path in output_dir.iterdir()) if output_dir.exists() else []


# --------------------------------------------------------------------------------------------
# Configuration, checkpoint resolution, native size (no weights)
# --------------------------------------------------------------------------------------------


def test_native_size_comes_from_the_checkpoint_config_without_loading(tiny_checkpoint):
    from core.tiny import TINY_LATENT_HEIGHT, TINY_LATENT_WIDTH, TINY_NUM_FRAMES

    fresh = Engine(EngineConfig(checkpoint=str(tiny_checkpoint)))
    assert fresh.native_size() == (TINY_NUM_FRAMES, TINY_LATENT_HEIGHT * 8, TINY_LATENT_WIDTH * 8)
    assert not fresh.loaded and fresh.load_count == 0


def test_native_size_defaults_when_the_config_is_unknown(tmp_path):
    assert read_native_size(str(tmp_path)) == (49, 480, 720)


def test_status_warns_about_cpu_and_the_tiny_model(tiny_checkpoint):
    status = Engine(EngineConfig(checkpoint=str(tiny_checkpoint))).status()
    assert status.device == "cpu" and status.dtype == "float32"
    assert status.is_tiny and not status.loaded
    assert "output is noise" in status.message and "CPU" in status.message
    assert any("output is noise" in warning for warning in status.warnings)


def test_resolve_checkpoint(tmp_path, monkeypatch):
    assert resolve_checkpoint(tmp_path) == str(tmp_path)
    assert resolve_checkpoint("someone/some-model") == "someone/some-model"
    monkeypatch.setattr(engine_module, "default_checkpoint_dir", lambda: tmp_path / "absent")
    assert resolve_checkpoint(None) == "EXCAI/Diffusion-As-Shader"
    monkeypatch.setattr(engine_module, "default_checkpoint_dir", lambda: tmp_path)
    assert resolve_checkpoint(None) == str(tmp_path)
    with pytest.raises(CheckpointError, match="python -m core.download"):
        resolve_checkpoint(tmp_path / "no" / "such" / "folder")


def test_an_incomplete_checkpoint_names_what_is_missing(tmp_path):
    (tmp_path / "transformer").mkdir()
    with pytest.raises(CheckpointError, match="vae"):
        Engine(EngineConfig(checkpoint=str(tmp_path))).load()


def test_a_missing_checkpoint_leaves_the_studio_usable(tmp_path):
    """The studio is built around the native size; a wrong --checkpoint must not stop it from
    starting: the status says what is wrong and loading raises."""
    engine = Engine(EngineConfig(checkpoint=str(tmp_path / "no" / "such" / "folder")))
    assert engine.native_size() == defaults.NATIVE_SIZE
    assert "python -m core.download" in engine.status().message
    with pytest.raises(CheckpointError):
        engine.load()


def test_a_hub_checkpoint_is_not_downloaded_when_not_allowed():
    offline = Engine(EngineConfig(checkpoint="nobody/not-a-real-model", allow_download=False))
    with pytest.raises(CheckpointError, match="downloading is turned off"):
        offline.load()


def test_a_cached_hub_checkpoint_gives_its_native_size_without_loading(tiny_checkpoint, tmp_path, monkeypatch):
    from core.tiny import TINY_LATENT_HEIGHT, TINY_LATENT_WIDTH, TINY_NUM_FRAMES

    repo = tmp_path / "hub" / "models--someone--tiny-das"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_checkpoint / "transformer", repo / "snapshots" / commit / "transformer")
    shutil.copytree(tiny_checkpoint / "vae", repo / "snapshots" / commit / "vae")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    engine = Engine(EngineConfig(checkpoint="someone/tiny-das", allow_download=False))
    assert engine.native_size() == (TINY_NUM_FRAMES, TINY_LATENT_HEIGHT * 8, TINY_LATENT_WIDTH * 8)
    assert not engine.loaded


def test_config_errors():
    with pytest.raises(EngineConfigError, match="offload"):
        EngineConfig(offload="everything")
    with pytest.raises(EngineConfigError, match="CUDA"):
        Engine(EngineConfig(device="cuda"))
    with pytest.raises(EngineConfigError):
        Engine(EngineConfig(device="tpu"))
    with pytest.raises(EngineConfigError, match="--offload model or group"):
        EngineConfig(compile=True, offload="sequential")
    assert EngineConfig(compile=True, offload="group").compile


def test_settings_round_trip_and_validation():
    settings = GenerationSettings(seed=3, num_inference_steps=7, fps=12.0)
    assert GenerationSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(GenerationInputError, match="unknown"):
        GenerationSettings.from_dict({"steps": 3})
    for bad in (GenerationSettings(seed=-5), GenerationSettings(num_inference_steps=0), GenerationSettings(guidance_scale=float("nan"))):
        with pytest.raises(GenerationInputError):
            bad.validate()


def test_get_engine_is_process_wide(tiny_checkpoint):
    reset_engine()
    try:
        config = EngineConfig(checkpoint=str(tiny_checkpoint))
        first = get_engine(config)
        assert get_engine() is first and get_engine(config) is first
        other = EngineConfig(checkpoint=str(tiny_checkpoint), vae_slicing=False)
        assert get_engine(other).config == other  # not loaded yet: reconfiguring is allowed
        get_engine()._pipe = object()  # pretend it is loaded
        with pytest.raises(EngineConfigError, match="reset_engine"):
            get_engine(config)
        get_engine()._pipe = None
        # A first load in progress (the engine's lock held) counts as loaded: no second model.
        loading = get_engine()
        with loading._lock:
            with pytest.raises(EngineConfigError, match="reset_engine"):
                get_engine(config)
        assert get_engine(config) is not loading  # once idle and unloaded, reconfiguring works again
    finally:
        reset_engine()


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def check_generation(result, engine, size, prompt: str, task: str) -> dict:
    assert result.output_dir.parent == engine.output_dir
    for path in (result.video_path, result.tracking_path, result.settings_path, result.first_frame_path):
        assert path.is_file() and path.parent == result.output_dir
    frames, fps = read_video_frames(result.video_path)
    assert frames.shape == (size["size"].num_frames, *size["size"].frame_shape, 3)
    assert result.frames.shape == frames.shape and result.frames.dtype == np.uint8
    settings = json.loads(result.settings_path.read_text())
    assert settings["prompt"] == prompt and settings["seed"] == result.seed
    assert settings["settings"]["num_inference_steps"] == FAST.num_inference_steps
    assert settings["tracking"]["task"] == task
    assert settings["model"]["is_tiny"] is True and settings["model"]["checkpoint"]
    assert set(settings["versions"]) >= {"app", "torch", "diffusers", "transformers"}
    return settings


@pytest.mark.slow
def test_every_task_end_to_end(engine, size, photo, tmp_path):
    import trimesh

    video = tmp_path / "video.mp4"
    texture = np.asarray(Image.fromarray(data.coffee()).resize((260, 140)))
    write_video(np.stack([texture[:128, 4 * t : 4 * t + 192] for t in range(size["size"].num_frames)]), video, fps=8)
    mask = np.zeros(size["size"].frame_shape, np.uint8)
    mask[16:40, 30:60] = 255
    mesh = tmp_path / "box.obj"
    trimesh.creation.box(extents=(1, 0.6, 0.8)).export(mesh)
    results = {
        "motion_transfer": motion_transfer(video, tracking=TrackingOptions(grid_size=10), **size),
        "camera_control": camera_control(photo, "rot y 10", **size),
        "object_manipulation": object_manipulation(photo, ObjectMove(mask, "right", 0.2), **size),
        "mesh_animation": mesh_animation(mesh, procedural="turntable", num_points=2000, **size),
    }
    tracking_file = tmp_path / "tracking.mp4"
    write_video(results["camera_control"].frames, tracking_file, fps=8)
    results["from_tracking_video"] = from_tracking_video(tracking_file, first_frame=photo, **size)
    for task, tracking in results.items():
        prompt = f"a test of {task}"
        generated = engine.generate(None, tracking, prompt, FAST)
        settings = check_generation(generated, engine, size, prompt, task)
        assert task.replace("_", "-") in generated.output_dir.name or task in generated.output_dir.name
        assert settings["tracking"] == json.loads(json.dumps(tracking.metadata))


def test_same_seed_same_video_and_no_reload(engine, camera_result, monkeypatch):
    from core.pipeline import DiffusionAsShaderPipeline

    loads = []
    original = DiffusionAsShaderPipeline.from_pretrained.__func__

    def counting(cls, *args, **kwargs):
        loads.append(args)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(DiffusionAsShaderPipeline, "from_pretrained", classmethod(counting))
    loaded_before = engine.loaded
    first = engine.generate(None, camera_result, "a cat", FAST)
    second = engine.generate(None, camera_result, "a cat", FAST)
    np.testing.assert_array_equal(first.frames, second.frames)
    assert first.output_dir != second.output_dir  # a fresh folder per request
    other_seed = engine.generate(None, camera_result, "a cat", GenerationSettings(num_inference_steps=2, seed=7))
    assert not np.array_equal(first.frames, other_seed.frames)
    assert len(loads) == (0 if loaded_before else 1) and engine.load_count == 1


def test_random_seed_is_drawn_and_returned(engine, camera_result):
    result = engine.generate(None, camera_result, "a cat", GenerationSettings(num_inference_steps=1, seed=-1))
    assert 0 <= result.seed < 2**31
    assert json.loads(result.settings_path.read_text())["seed"] == result.seed


def test_tracking_encoding_is_cached_across_seeds_and_prompts(engine, camera_result, tiny_checkpoint, tmp_path):
    pipe = engine.load()
    video_encodes = []
    original = pipe.vae.encode

    def counting(x, *args, **kwargs):
        if x.shape[2] > 1:  # (B, C, F, H, W): the tracking video, not a first-frame image
            video_encodes.append(x.shape)
        return original(x, *args, **kwargs)

    pipe.vae.encode = counting
    try:
        flipped = camera_result.frames[:, :, ::-1].copy()  # a tracking video the cache has not seen
        fresh_tracking = np.ascontiguousarray(flipped)
        engine.generate(camera_result.first_frame, fresh_tracking, "a cat", GenerationSettings(num_inference_steps=1, seed=1))
        assert len(video_encodes) == 1
        cached = engine.generate(camera_result.first_frame, fresh_tracking, "a dog", GenerationSettings(num_inference_steps=1, seed=2))
        assert len(video_encodes) == 1, "another seed and prompt must reuse the cached encoding"
        engine.generate(
            camera_result.first_frame, fresh_tracking, "a dog", GenerationSettings(num_inference_steps=1, seed=2, legacy_tracking_range=True)
        )
        assert len(video_encodes) == 2, "the [0, 1] legacy range is another encoding"
    finally:
        pipe.vae.encode = original
    # A cache hit gives exactly what a fresh engine (a cache miss) gives for that seed.
    fresh_engine = Engine(EngineConfig(checkpoint=str(tiny_checkpoint), output_dir=tmp_path))
    uncached = fresh_engine.generate(camera_result.first_frame, fresh_tracking, "a dog", GenerationSettings(num_inference_steps=1, seed=2))
    np.testing.assert_array_equal(cached.frames, uncached.frames)


def test_progress_follows_the_denoising_steps(engine, camera_result):
    reports = []
    engine.generate(None, camera_result, "a cat", GenerationSettings(num_inference_steps=3), progress=lambda f, m: reports.append((f, m)))
    step_fractions = [f for f, m in reports if m.startswith("denoising")]
    assert step_fractions == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_cancelling_stops_within_a_step_and_leaves_no_folder(engine, camera_result):
    before = result_folders(engine.output_dir)
    steps_seen = []

    def progress(fraction, message):
        if message.startswith("denoising"):
            steps_seen.append(fraction)

    with pytest.raises(Cancelled):
        engine.generate(
            None,
            camera_result,
            "a cat",
            GenerationSettings(num_inference_steps=10),
            progress=progress,
            cancel=lambda: len(steps_seen) >= 1,
        )
    assert len(steps_seen) == 1  # stopped right after the step during which it was asked
    assert result_folders(engine.output_dir) == before
    # The engine is still usable afterwards.
    assert engine.generate(None, camera_result, "a cat", GenerationSettings(num_inference_steps=1)).video_path.is_file()


def test_two_requests_never_use_the_pipeline_at_once(engine, camera_result, monkeypatch):
    active, overlaps = [0], []
    original = Engine._frames

    def watched(self, *args, **kwargs):
        active[0] += 1
        overlaps.append(active[0])
        time.sleep(0.05)
        try:
            return original(self, *args, **kwargs)
        finally:
            active[0] -= 1

    monkeypatch.setattr(Engine, "_frames", watched)
    errors = []

    def request(seed):
        try:
            engine.generate(None, camera_result, "a cat", GenerationSettings(num_inference_steps=1, seed=seed))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=request, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and max(overlaps) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompt": "  "}, "prompt is empty"),
        ({"frames": lambda f: f[:-1]}, "rebuild it"),
        ({"frames": lambda f: f[:, :-8]}, "rebuild it"),
        ({"frames": lambda f: f.astype(np.float32)}, "uint8"),
        ({"first": lambda f: f[:-8]}, "resize it"),
        ({"settings": GenerationSettings(num_inference_steps=0)}, "num_inference_steps"),
    ],
)
def test_invalid_inputs_are_explained(engine, camera_result, change, message):
    frames = change.get("frames", lambda f: f)(camera_result.frames)
    first = change.get("first", lambda f: f)(camera_result.first_frame)
    with pytest.raises(GenerationInputError, match=message):
        engine.generate(first, frames, change.get("prompt", "a cat"), change.get("settings", FAST))


def test_a_bare_tracking_array_needs_a_first_frame(engine, camera_result):
    with pytest.raises(GenerationInputError, match="first-frame"):
        engine.generate(None, camera_result.frames, "a cat", FAST)
