"""Shared fixtures. Nothing here touches the network."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A complete tiny random DaS checkpoint folder (SPEC §11), generated once per session."""
    from core.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny-das") / "tiny-das")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep screenshots and media for humans to look at (ignored by git)."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


@pytest.fixture
def checkpoint_without_block_count(tiny_checkpoint, tmp_path) -> tuple[Path, int]:
    """A copy of the tiny checkpoint whose transformer config names the plain CogVideoX class and
    lacks ``num_tracking_blocks`` (in case a published config does): ``(folder, true count)``."""
    copy = tmp_path / "without-block-count"
    shutil.copytree(tiny_checkpoint, copy)
    config_path = copy / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    count = config.pop("num_tracking_blocks")
    config["_class_name"] = "CogVideoXTransformer3DModel"
    config_path.write_text(json.dumps(config))
    return copy, count


@pytest.fixture(scope="session")
def new_tiny_studio(tiny_checkpoint, tmp_path_factory):
    """Make studios of their own on the tiny checkpoint: ``new_tiny_studio(name, **options)``.

    Each has its own engine, cancel registry and options (``ui.studio.StudioOptions``), with
    results and previews in fresh temporary folders, so no test touches process-wide state.
    """
    from core.engine import Engine, EngineConfig
    from ui.studio import Studio, StudioOptions

    def make(name: str, **options):
        config = EngineConfig(checkpoint=str(tiny_checkpoint), output_dir=tmp_path_factory.mktemp(f"{name}-out"))
        options.setdefault("preview_root", tmp_path_factory.mktemp(f"{name}-previews"))
        return Studio(Engine(config), StudioOptions(**options))

    return make


BIG_SIDE_PX = 1024
BIG_NUM_FRAMES = 600
"""The bounded-memory tests' upload: 600 frames of 1024×1024 (1.8 GiB decoded)."""


@pytest.fixture(scope="session")
def big_tracking_video(tmp_path_factory) -> Path:
    """600 frames of 1024×1024 with eight distinct pictures: a ~35 KB file that decodes to 1.8 GiB."""
    path = tmp_path_factory.mktemp("big") / "tracking.mp4"
    distinct = 8
    pictures = []
    for k in range(distinct):
        yuv420 = np.full((BIG_SIDE_PX * 3 // 2, BIG_SIDE_PX), 128, np.uint8)
        yuv420[:BIG_SIDE_PX, : (k + 1) * BIG_SIDE_PX // distinct] = 200  # a growing bright band
        pictures.append(yuv420)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width = stream.height = BIG_SIDE_PX
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "40"}
        for index in range(BIG_NUM_FRAMES):
            frame = av.VideoFrame.from_ndarray(pictures[index * distinct // BIG_NUM_FRAMES], format="yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path
