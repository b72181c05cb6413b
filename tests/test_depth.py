"""Depth estimation: the built-in prior on synthetic layouts, the transformers loading path on
tiny random checkpoints written here (no download), relative→depth conversion and video
alignment with known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from core import geometry
from core.progress import Cancelled
from trackers import depth as dp
from trackers.points import PointTracks

RNG_SEED = 7
HEIGHT, WIDTH = 40, 60


@pytest.fixture(autouse=True)
def isolated_depth_models(tmp_path, monkeypatch):
    """Every test sees an empty ``checkpoints/depth`` unless it fills one, an empty Hugging Face
    cache (a developer's cache must not change what is listed), no loaded model, and a registry
    that is put back afterwards (methods a test registers disappear with it)."""
    monkeypatch.setenv(dp.CHECKPOINTS_ENV, str(tmp_path / "no-checkpoints"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setattr(dp, "_REGISTRY", dict(dp._REGISTRY))
    monkeypatch.setattr(dp, "_ESTIMATORS", {})


def random_image(seed: int = RNG_SEED, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# --------------------------------------------------------------------------------------------
# Built-in estimate and registry
# --------------------------------------------------------------------------------------------


def test_only_usable_methods_are_listed_without_checkpoints():
    methods = dp.available_depth_methods()
    assert list(methods) == ["builtin"]
    assert "moge" not in methods  # the moge package is not installed here
    assert dp.resolve_depth_method("auto") == "builtin"


def test_builtin_depth_on_a_flat_image_is_the_ground_plane_prior():
    image = np.full((HEIGHT, WIDTH, 3), 120, dtype=np.uint8)
    result = dp.estimate_depth(image)
    assert result.source == "builtin" and result.approximate and result.intrinsics is None
    assert result.depth.shape == (HEIGHT, WIDTH) and result.depth.dtype == np.float32
    assert result.valid.all() and (result.depth > 0).all()
    rows = result.depth[:, 0]
    assert np.all(np.diff(rows) <= 0), "lower rows must never be farther"
    assert rows[-1] < rows[int(HEIGHT * dp.BUILTIN_HORIZON_FRACTION)]
    assert rows[-1] == pytest.approx(dp.RELATIVE_NEAR_DEPTH)
    assert rows[0] == pytest.approx(dp.RELATIVE_FAR_DEPTH)
    np.testing.assert_array_equal(result.depth, result.depth[:, :1].repeat(WIDTH, axis=1))


def test_builtin_depth_brings_a_sharp_object_nearer_than_its_blurred_surroundings():
    rng = np.random.default_rng(RNG_SEED)
    texture = rng.integers(0, 256, (HEIGHT * 2, WIDTH * 2, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(texture, (0, 0), 4)  # defocused background
    top, left, size = 30, 45, 20
    image[top : top + size, left : left + size] = texture[top : top + size, left : left + size]  # in focus
    result = dp.estimate_depth(image)
    rows = slice(top + 5, top + size - 5)
    inside = np.median(result.depth[rows, left + 5 : left + size - 5])
    beside = np.median(result.depth[rows, 5:20])
    assert inside < beside
    again = dp.estimate_depth(image)
    np.testing.assert_array_equal(again.depth, result.depth)  # deterministic


def test_registered_method_is_used_and_cached():
    loads = []

    def factory(device, allow_download):
        loads.append(device)
        return lambda image: dp.DepthResult(
            depth=np.full(image.shape[:2], 2.0, dtype=np.float32),
            intrinsics=None,
            valid=np.ones(image.shape[:2], dtype=bool),
            source="constant",
            approximate=False,
        )

    dp.register_depth_method("constant", factory, description="always 2", auto_priority=1)
    assert list(dp.available_depth_methods())[0] == "constant"
    for _ in range(3):
        result = dp.estimate_depth(random_image(), device="cpu")
        assert result.source == "constant" and np.all(result.depth == 2.0)
    assert loads == ["cpu"], "the model must be loaded once and reused"
    with pytest.raises(ValueError, match="already registered"):
        dp.register_depth_method("constant", factory)
    dp.register_depth_method("constant", factory, description="always 2", auto_priority=1, replace=True)
    dp.estimate_depth(random_image(), device="cpu")
    assert loads == ["cpu", "cpu"], "replacing a method drops its loaded model"


def test_unknown_or_unavailable_methods_and_bad_images_raise_clear_errors():
    with pytest.raises(dp.DepthError, match="unknown depth method"):
        dp.estimate_depth(random_image(), method="nope")
    with pytest.raises(dp.DepthError, match="depth-anything-v2-small"):
        dp.estimate_depth(random_image(), method="depth-anything-v2")
    with pytest.raises(dp.DepthError, match="uint8"):
        dp.estimate_depth(random_image().astype(np.float32))
    with pytest.raises(dp.DepthError, match="RGB"):
        dp.estimate_depth(np.zeros((4, 5, 2), dtype=np.uint8))


def test_disparity_to_depth_follows_the_documented_map():
    disparity = np.linspace(0.0, 4.0, 101, dtype=np.float32)[None].repeat(3, axis=0)
    depth, valid = dp.disparity_to_depth(disparity, near=1.0, far=10.0)
    assert not valid[:, 0].any() and valid[:, 1:].all()
    lo, hi = np.percentile(disparity[valid], [2, 98])
    normalised = np.maximum((disparity - lo) / (hi - lo), 0)
    expected = 1.0 / (0.1 + normalised * 0.9)
    np.testing.assert_allclose(depth, expected, rtol=1e-5)
    assert depth[0, 0] == pytest.approx(10.0)  # beyond the far percentile: clamped to far
    assert np.all(np.diff(depth[0]) <= 0)  # larger disparity = nearer
    flat, _ = dp.disparity_to_depth(np.ones((4, 4)))
    np.testing.assert_allclose(flat, math.sqrt(dp.RELATIVE_NEAR_DEPTH * dp.RELATIVE_FAR_DEPTH))


# --------------------------------------------------------------------------------------------
# Tiny random transformers checkpoints, loaded through the real path
# --------------------------------------------------------------------------------------------


def _tiny_dinov2(**extra) -> dict:
    return dict(
        model_type="dinov2",
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        **extra,
    )


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory) -> Path:
    """A ``checkpoints/depth`` folder with tiny random Depth Anything V2, ZoeDepth and Depth Pro."""
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        DepthProConfig,
        DepthProForDepthEstimation,
        Dinov2Config,
        DPTImageProcessorPil,
        ZoeDepthConfig,
        ZoeDepthForDepthEstimation,
        ZoeDepthImageProcessorPil,
    )

    root = tmp_path_factory.mktemp("checkpoints") / "depth"
    torch.manual_seed(0)

    backbone = Dinov2Config(
        **{k: v for k, v in _tiny_dinov2().items() if k != "model_type"},
        image_size=28,
        patch_size=14,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    depth_anything = DepthAnythingForDepthEstimation(
        DepthAnythingConfig(
            backbone_config=backbone,
            reassemble_hidden_size=16,
            neck_hidden_sizes=[8, 8, 8, 8],
            fusion_hidden_size=8,
            head_hidden_size=4,
            patch_size=14,
        )
    )
    folder = root / "depth-anything-v2-small"
    depth_anything.save_pretrained(folder)
    DPTImageProcessorPil(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)

    zoe = ZoeDepthForDepthEstimation(
        ZoeDepthConfig(
            backbone_config=dict(
                model_type="beit",
                image_size=32,
                patch_size=8,
                num_hidden_layers=4,
                hidden_size=16,
                intermediate_size=32,
                num_attention_heads=2,
                use_relative_position_bias=True,
                reshape_hidden_states=False,
                out_features=["stage1", "stage2", "stage3", "stage4"],
            ),
            neck_hidden_sizes=[8, 8, 8, 8],
            fusion_hidden_size=8,
            bottleneck_features=8,
            num_relative_features=4,
            bin_embedding_dim=8,
            num_attractors=[2, 2, 2, 1],
            bin_configurations=[{"n_bins": 4, "min_depth": 0.001, "max_depth": 10.0}],
            num_patch_transformer_layers=1,
            patch_transformer_hidden_size=8,
            patch_transformer_intermediate_size=16,
            patch_transformer_num_attention_heads=2,
        )
    )
    zoe.save_pretrained(root / "zoedepth")
    ZoeDepthImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(root / "zoedepth")

    sub_model = _tiny_dinov2(image_size=32, patch_size=8)
    depth_pro = DepthProForDepthEstimation(
        DepthProConfig(
            patch_size=32,
            image_model_config=dict(sub_model),
            patch_model_config=dict(sub_model),
            fov_model_config=dict(sub_model),
            fusion_hidden_size=8,
            intermediate_hook_ids=[3, 1],
            intermediate_feature_dims=[8, 8],
            scaled_images_feature_dims=[16, 16, 8],
            use_fov_model=True,
            num_fov_head_layers=2,
        )
    )
    depth_pro.save_pretrained(root / "depth-pro")
    # Depth Pro's processor class needs torchvision; its settings are plain JSON we read ourselves.
    (root / "depth-pro" / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "image_processor_type": "DepthProImageProcessor",
                "do_resize": True,
                "size": {"height": 128, "width": 128},
                "do_rescale": True,
                "rescale_factor": 1 / 255,
                "do_normalize": True,
                "image_mean": [0.5, 0.5, 0.5],
                "image_std": [0.5, 0.5, 0.5],
            }
        )
    )
    return root


@pytest.fixture
def with_tiny_checkpoints(tiny_checkpoints, monkeypatch) -> Path:
    monkeypatch.setenv(dp.CHECKPOINTS_ENV, str(tiny_checkpoints))
    return tiny_checkpoints


def _patch_forward(monkeypatch, model, make_output):
    """Replace the network's forward with a known prediction (the pre/post-processing stays real)."""
    monkeypatch.setattr(model, "forward", lambda pixel_values, **kwargs: make_output(pixel_values))


def test_checkpoint_folders_make_methods_available(with_tiny_checkpoints):
    methods = dp.available_depth_methods()
    assert list(methods) == ["depth-anything-v2", "depth-pro", "zoedepth", "builtin"]
    assert dp.resolve_depth_method("auto") == "depth-anything-v2"
    # Every model is on disk: stills take the one that also estimates the field of view,
    # videos the fast per-frame one.
    assert dp.resolve_depth_method("auto", purpose="still") == "depth-pro"
    assert dp.resolve_depth_method("auto", purpose="video") == "depth-anything-v2"
    assert list(dp.available_depth_methods(purpose="still")) == ["depth-pro", "depth-anything-v2", "zoedepth", "builtin"]
    incomplete = with_tiny_checkpoints.parent / "incomplete"
    (incomplete / "depth-pro").mkdir(parents=True)
    assert "preprocessor_config.json" in dp.missing_model_files(incomplete / "depth-pro")


def test_a_model_in_the_hub_cache_is_available_offline(tmp_path, monkeypatch):
    """A Hub download of Depth Anything (the real cache layout) counts without checkpoints/depth;
    a partial one does not, and a download is offered only when allowed and online."""
    repo = tmp_path / "empty-hub-cache" / ("models--" + dp.DEPTH_ANYTHING_HUB_ID.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(snapshot.name)
    (snapshot / "config.json").write_text("{}")
    assert "depth-anything-v2" not in dp.available_depth_methods()  # no preprocessor_config.json yet
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "depth-anything-v2" not in dp.available_depth_methods(allow_download=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert "depth-anything-v2" in dp.available_depth_methods(allow_download=True)
    (snapshot / "preprocessor_config.json").write_text("{}")
    assert list(dp.available_depth_methods()) == ["depth-anything-v2", "builtin"]


def test_depth_anything_loads_from_the_folder_and_returns_positive_depth_at_input_size(with_tiny_checkpoints):
    result = dp.estimate_depth(random_image(), method="depth-anything-v2", device="cpu")
    assert result.source == "depth-anything-v2" and not result.approximate and not result.metric
    assert result.model.endswith("depth-anything-v2-small")
    assert result.depth.shape == (HEIGHT, WIDTH) and result.depth.dtype == np.float32
    assert np.isfinite(result.depth).all() and (result.depth > 0).all()
    assert result.intrinsics is None
    estimator = dp.get_depth_estimator("depth-anything-v2", device="cpu")
    assert dp.get_depth_estimator("auto", device="cpu") is estimator  # loaded once, cached


def test_depth_anything_relative_output_is_converted_with_the_documented_map(with_tiny_checkpoints, monkeypatch):
    import torch
    from transformers.modeling_outputs import DepthEstimatorOutput

    wrapper = dp.get_depth_estimator("depth-anything-v2", device="cpu").estimator
    network = wrapper.model

    def known_disparity(pixel_values):
        # Disparity increasing linearly across the network's output columns, 1 … 4.
        height, width = pixel_values.shape[-2:]
        columns = (torch.arange(width, dtype=torch.float32) + 0.5) / width
        return DepthEstimatorOutput(predicted_depth=(1.0 + 3.0 * columns).expand(1, height, width).clone())

    _patch_forward(monkeypatch, network, known_disparity)
    result = dp.estimate_depth(random_image(), method="depth-anything-v2", device="cpu")
    assert result.depth.shape == (HEIGHT, WIDTH)
    # After bilinear resizing the ramp is 1 + 3 (u / W), clamped at the outer half-cells.
    processed_width = wrapper.processor(images=random_image(), return_tensors="pt")["pixel_values"].shape[-1]
    u_fraction = (np.arange(WIDTH) + 0.5) / WIDTH
    u_fraction = np.clip(u_fraction, 0.5 / processed_width, 1 - 0.5 / processed_width)
    disparity = np.broadcast_to(1.0 + 3.0 * u_fraction, (HEIGHT, WIDTH))
    lo, hi = np.percentile(disparity, [2, 98])
    normalised = np.maximum((disparity - lo) / (hi - lo), 0.0)
    inverse_near, inverse_far = 1.0 / dp.RELATIVE_NEAR_DEPTH, 1.0 / dp.RELATIVE_FAR_DEPTH
    expected = 1.0 / (inverse_far + normalised * (inverse_near - inverse_far))
    np.testing.assert_allclose(result.depth, expected, rtol=1e-4)
    assert result.depth[:, 0].mean() > result.depth[:, -1].mean()  # low disparity = far


def test_depth_pro_gives_metric_depth_and_intrinsics_from_its_field_of_view(with_tiny_checkpoints, monkeypatch):
    import torch
    from transformers.models.depth_pro.modeling_depth_pro import DepthProDepthEstimatorOutput

    raw = dp.estimate_depth(random_image(), method="depth-pro", device="cpu")  # real forward
    assert raw.depth.shape == (HEIGHT, WIDTH) and (raw.depth > 0).all() and np.isfinite(raw.depth).all()

    network = dp.get_depth_estimator("depth-pro", device="cpu").estimator.model
    fov_deg, canonical_inverse = 60.0, 0.25

    def known_output(pixel_values):
        height, width = pixel_values.shape[-2:]
        return DepthProDepthEstimatorOutput(
            predicted_depth=torch.full((1, height, width), canonical_inverse),
            field_of_view=torch.tensor([fov_deg]),
        )

    _patch_forward(monkeypatch, network, known_output)
    result = dp.estimate_depth(random_image(), method="depth-pro", device="cpu")
    focal = (WIDTH / 2) / math.tan(math.radians(fov_deg / 2))
    np.testing.assert_allclose(result.intrinsics, geometry.intrinsics_from_focal(WIDTH, HEIGHT, focal))
    np.testing.assert_allclose(result.depth, focal / (WIDTH * canonical_inverse), rtol=1e-5)
    assert result.metric and result.source == "depth-pro"


def test_zoedepth_loads_and_returns_metric_depth_at_input_size(with_tiny_checkpoints):
    result = dp.estimate_depth(random_image(), method="zoedepth", device="cpu")
    assert result.metric and result.source == "zoedepth"
    assert result.depth.shape == (HEIGHT, WIDTH) and result.depth.dtype == np.float32
    assert (result.depth > 0).all() and np.isfinite(result.depth).all()


# --------------------------------------------------------------------------------------------
# Video depth alignment
# --------------------------------------------------------------------------------------------


def _scene_depth() -> np.ndarray:
    """A smooth positive depth map, 2 … 8."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    return (2.0 + 6.0 * (rows / HEIGHT) ** 2 + 0.5 * np.sin(cols / 5.0) + 0.5).astype(np.float32)


def _register_flickering(name: str, scales: list[float], shifts: list[float], calls: list) -> None:
    """A method whose frame ``t`` (encoded in pixel [0, 0]) has inverse depth ``s_t/z + b_t``."""
    truth = _scene_depth()

    def factory(device, allow_download):
        def estimate(image):
            frame = int(image[0, 0, 0])
            calls.append(frame)
            inverse = scales[frame] / truth + shifts[frame]
            return dp.DepthResult(1.0 / inverse, None, np.ones(truth.shape, bool), name, approximate=False)

        return estimate

    dp.register_depth_method(name, factory, replace=True)


def _frames_with_index(count: int) -> np.ndarray:
    frames = np.zeros((count, HEIGHT, WIDTH, 3), dtype=np.uint8)
    frames[:, 0, 0, 0] = np.arange(count)
    return frames


@pytest.mark.parametrize("use_tracks", [False, True])
def test_video_depth_removes_per_frame_scale_and_shift_flicker(use_tracks):
    scales, shifts = [1.0, 1.7, 0.6, 2.3], [0.0, 0.05, -0.02, 0.1]
    calls: list = []
    _register_flickering("flicker", scales, shifts, calls)
    tracks = None
    if use_tracks:
        rng = np.random.default_rng(RNG_SEED)
        uv = rng.uniform([0, 0], [WIDTH, HEIGHT], size=(200, 2)).astype(np.float32)
        tracks = PointTracks(uv=np.repeat(uv[None], 4, axis=0), visible=np.ones((4, 200), dtype=bool))
    depth, intrinsics, source = dp.estimate_video_depth(_frames_with_index(4), method="flicker", tracks=tracks)
    assert source == "flicker" and intrinsics is None
    assert depth.shape == (4, HEIGHT, WIDTH) and depth.dtype == np.float32
    for frame in range(4):
        np.testing.assert_allclose(depth[frame], depth[0], rtol=2e-3)
    np.testing.assert_allclose(depth[0], _scene_depth(), rtol=1e-5)


def test_video_alignment_with_tracks_ignores_a_moving_object():
    truth = _scene_depth()
    frames = 3
    stack = np.stack([truth / (1.0 + 0.5 * t) for t in range(frames)])  # global scale flicker
    moving = np.zeros((HEIGHT, WIDTH), dtype=bool)
    moving[5:15, 5:25] = True
    for t in range(1, frames):
        stack[t][moving] *= 0.3  # an object rushing towards the camera
    rng = np.random.default_rng(RNG_SEED)
    uv = rng.uniform([0, 0], [WIDTH, HEIGHT], size=(300, 2)).astype(np.float32)
    tracks = PointTracks(uv=np.repeat(uv[None], frames, axis=0), visible=np.ones((frames, 300), dtype=bool))
    aligned = dp.align_video_depth(stack, tracks=tracks, mode="scale_shift")
    for t in range(1, frames):
        np.testing.assert_allclose(aligned[t][~moving], truth[~moving], rtol=1e-3)
        assert np.all(aligned[t][moving] < truth[moving])  # the object really came nearer


def test_still_video_is_estimated_once_and_reports_progress_and_cancel():
    calls: list = []
    _register_flickering("still", [1.0] * 4, [0.0] * 4, calls)
    seen = []
    frames = np.zeros((4, HEIGHT, WIDTH, 3), dtype=np.uint8)
    depth, _, _ = dp.estimate_video_depth(frames, method="still", progress=lambda f, m: seen.append(f))
    assert calls == [0]
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(Cancelled):
        dp.estimate_video_depth(frames, method="still", cancel=lambda: True)


def test_builtin_video_depth_runs_end_to_end():
    frames = np.stack([random_image(seed) for seed in range(3)])
    depth, intrinsics, source = dp.estimate_video_depth(frames)
    assert source == "builtin" and intrinsics is None
    assert depth.shape == (3, HEIGHT, WIDTH) and (depth > 0).all()


# --------------------------------------------------------------------------------------------
# Real models by default: what "auto" downloads (into the Hub-cache layout; never the network)
# --------------------------------------------------------------------------------------------

FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def fake_hub_downloads(tmp_path, tiny_checkpoints, monkeypatch) -> list:
    """Online, nothing on disk, and ``download_snapshot`` replaced by a copy of the tiny model
    of the same kind into the real Hub-cache layout (``models--org--name/snapshots/<hash>``).
    Returns the list of downloaded Hub ids."""
    import shutil

    from core import checkpoints

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("DAS_OFFLINE", raising=False)
    tiny_folder = {
        dp.DEPTH_PRO_HUB_ID: tiny_checkpoints / "depth-pro",
        dp.DEPTH_ANYTHING_HUB_ID: tiny_checkpoints / "depth-anything-v2-small",
        dp.ZOEDEPTH_HUB_ID: tiny_checkpoints / "zoedepth",
    }
    downloaded = []

    def copy_into_cache(repo_id, **kwargs):
        downloaded.append(repo_id)
        repo = checkpoints.hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
        snapshot = repo / "snapshots" / FAKE_COMMIT
        shutil.copytree(tiny_folder[repo_id], snapshot)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(FAKE_COMMIT)
        return snapshot

    monkeypatch.setattr(checkpoints, "download_snapshot", copy_into_cache)
    return downloaded


def test_auto_downloads_depth_pro_for_a_still_and_says_what_and_how_big(fake_hub_downloads):
    assert dp.resolve_depth_method("auto", allow_download=True, purpose="still") == "depth-pro"
    assert dp.depth_download_pending("depth-pro") == dp.DEPTH_PRO_APPROX_GB
    messages = []
    result = dp.estimate_depth(random_image(), allow_download=True, device="cpu", progress=lambda f, m: messages.append(m))
    assert fake_hub_downloads == [dp.DEPTH_PRO_HUB_ID]
    assert result.source == "depth-pro" and not result.approximate
    assert result.model == dp.DEPTH_PRO_HUB_ID  # named by its Hub id, not the cache folder
    assert len(messages) == 1 and "Depth Pro" in messages[0] and "about 1.9 GB" in messages[0]
    # Downloaded once: it is now on this machine, usable without downloads.
    assert dp.depth_download_pending("depth-pro") is None
    assert dp.resolve_depth_method("auto", purpose="still") == "depth-pro"
    dp.estimate_depth(random_image(), allow_download=True, device="cpu")
    assert fake_hub_downloads == [dp.DEPTH_PRO_HUB_ID]


def test_auto_downloads_the_fast_model_for_a_video(fake_hub_downloads):
    assert dp.resolve_depth_method("auto", allow_download=True, purpose="video") == "depth-anything-v2"
    frames = np.stack([random_image(seed) for seed in range(3)])
    messages = []
    depth, _, name = dp.estimate_video_depth(frames, allow_download=True, device="cpu", progress=lambda f, m: messages.append(m))
    assert name == "depth-anything-v2" and fake_hub_downloads == [dp.DEPTH_ANYTHING_HUB_ID]
    assert depth.shape == (3, HEIGHT, WIDTH) and (depth > 0).all()
    assert [m for m in messages if m.startswith("Downloading")] == [messages[0]] and "about 100 MB" in messages[0]


def test_a_model_already_on_disk_is_preferred_to_a_download(fake_hub_downloads, tiny_checkpoints, tmp_path, monkeypatch):
    import shutil

    local = tmp_path / "local-depth"
    shutil.copytree(tiny_checkpoints / "depth-anything-v2-small", local / "depth-anything-v2-small")
    monkeypatch.setenv(dp.CHECKPOINTS_ENV, str(local))
    assert dp.resolve_depth_method("auto", allow_download=True, purpose="still") == "depth-anything-v2"
    assert dp.estimate_depth(random_image(), allow_download=True, device="cpu").source == "depth-anything-v2"
    assert fake_hub_downloads == []


@pytest.mark.parametrize("switch", ["DAS_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_falls_back_to_the_built_in_depth_and_says_it_is_approximate(fake_hub_downloads, monkeypatch, switch):
    monkeypatch.setenv(switch, "1")
    assert dp.resolve_depth_method("auto", allow_download=True, purpose="still") == "builtin"
    assert dp.depth_download_pending("builtin") is None
    result = dp.estimate_depth(random_image(), allow_download=True)
    assert result.source == "builtin" and result.approximate
    assert fake_hub_downloads == []


def test_without_permission_nothing_downloads(fake_hub_downloads):
    assert dp.resolve_depth_method("auto", purpose="still") == "builtin"
    assert dp.estimate_depth(random_image()).approximate
    with pytest.raises(dp.DepthError, match="allow downloading"):
        dp.estimate_depth(random_image(), method="depth-pro")
    assert fake_hub_downloads == []


def test_purpose_is_checked():
    with pytest.raises(ValueError, match="purpose"):
        dp.resolve_depth_method("auto", purpose="photo")


def test_a_failed_download_falls_back_to_the_built_in_depth_only_for_auto(fake_hub_downloads, monkeypatch):
    from core import checkpoints
    from core.errors import CheckpointError

    def unreachable(repo_id, **kwargs):
        raise CheckpointError(f"{repo_id} could not be downloaded (ConnectError: no route to host)")

    monkeypatch.setattr(checkpoints, "download_snapshot", unreachable)
    messages = []
    result = dp.estimate_depth(random_image(), allow_download=True, progress=lambda f, m: messages.append(m))
    assert result.source == "builtin" and result.approximate
    assert messages[-1] == "depth-pro could not be downloaded; using the built-in approximate depth"
    _, _, name = dp.estimate_video_depth(np.stack([random_image()] * 2), allow_download=True)
    assert name == "builtin"
    with pytest.raises(CheckpointError, match="no route to host"):
        dp.estimate_depth(random_image(), method="depth-pro", allow_download=True)
