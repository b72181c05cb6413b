"""Dataset preparation and validation (core/dataset.py): the DaS layout from a folder of videos.

Source videos are synthetic moving textures written with core.media; the tracking videos are
rendered by the real motion-transfer recipe (built-in LK tracker + built-in depth: no weights),
at the tiny checkpoint's native size (9 frames of 64×96) so the datasets also feed test_train.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core import dataset as ds
from core.jobs import Shard
from core.media import MediaError, read_video_frames, write_video

NUM_FRAMES, HEIGHT, WIDTH = 9, 64, 96  # the tiny checkpoint's native clip
GRID_SIZE = 12  # tracks per side: plenty for 64×96 and fast
SOURCE_FPS = 8.0


def moving_texture(seed: int, num_frames: int, height: int, width: int, step_px: tuple[int, int]) -> np.ndarray:
    """``(T, H, W, 3)`` uint8: a smooth random texture sliding ``step_px`` (dy, dx) per frame."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    texture = np.kron(coarse, np.ones((8, 8, 1), dtype=np.float32))
    texture = np.tile(texture, (2, 2, 1))  # room to slide
    frames = [
        texture[t * step_px[0] : t * step_px[0] + height, t * step_px[1] : t * step_px[1] + width]
        for t in range(num_frames)
    ]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def write_sources(folder: Path, count: int) -> list[str]:
    """``count`` synthetic source videos (larger and longer than a clip); returns their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(count):
        name = f"clip_{index}_moving-texture.mp4"
        frames = moving_texture(index, 14, 72, 112, step_px=(1 + index, 2))
        write_video(frames, folder / name, fps=SOURCE_FPS)
        names.append(name)
    return names


def tiny_config(**overrides) -> ds.PrepareConfig:
    settings = dict(num_frames=NUM_FRAMES, height=HEIGHT, width=WIDTH, grid_size=GRID_SIZE)
    return ds.PrepareConfig(**{**settings, **overrides})


def inverted(frames: np.ndarray, fps: float) -> np.ndarray:
    """A cheap stand-in tracking recipe for tests that are not about the recipe."""
    return 255 - frames


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sources")
    write_sources(folder, 3)
    return folder


@pytest.fixture(scope="module")
def prepared(sources: Path, tmp_path_factory) -> Path:
    """A dataset made from ``sources`` with the real motion-transfer recipe and a captions file
    that covers two of the three videos."""
    captions = tmp_path_factory.mktemp("captions") / "captions.jsonl"
    captions.write_text(
        json.dumps({"video": "clip_0_moving-texture.mp4", "caption": "a texture slides\nto the right"})
        + "\n"
        + json.dumps({"file": "clip_2_moving-texture", "prompt": "fast texture"})
        + "\n"
    )
    out = tmp_path_factory.mktemp("prepared") / "data"
    result = ds.prepare_dataset(sources, out, captions=captions, config=tiny_config())
    assert result.failed == {}
    assert result.made == ["00000", "00001", "00002"] and result.indexed == 3
    assert any("clip_1_moving-texture.mp4" in warning for warning in result.warnings)
    return out


def test_prepare_builds_the_das_layout(prepared: Path) -> None:
    assert (prepared / "prompt.txt").read_text().splitlines() == [
        "a texture slides to the right",  # newline folded: one caption per line
        "clip 1 moving texture",  # no caption: words of the file name
        "fast texture",
    ]
    assert (prepared / "videos.txt").read_text().splitlines() == [f"videos/0000{i}.mp4" for i in range(3)]
    assert (prepared / "trackings.txt").read_text().splitlines() == [
        f"tracking/0000{i}_tracking.mp4" for i in range(3)
    ]
    for index in range(3):
        video, _ = read_video_frames(prepared / f"videos/0000{index}.mp4")
        tracking, _ = read_video_frames(prepared / f"tracking/0000{index}_tracking.mp4")
        assert video.shape == tracking.shape == (NUM_FRAMES, HEIGHT, WIDTH, 3)
        # A tracking video: coloured points on black — mostly black, but not empty.
        dark = (tracking.max(axis=-1) < 40).mean()
        assert 0.2 < dark < 0.995, dark

    report = ds.validate_dataset(prepared, NUM_FRAMES, HEIGHT, WIDTH)
    assert report.ok, report.problems
    assert report.num_samples == 3


def test_validate_cli_says_ok(prepared: Path, capsys) -> None:
    shape = ["--num-frames", str(NUM_FRAMES), "--height", str(HEIGHT), "--width", str(WIDTH)]
    code = ds.main(["validate", str(prepared), *shape])
    assert code == 0
    assert capsys.readouterr().out.startswith("OK: 3 sample(s)")


def test_validate_lists_every_problem_of_a_broken_copy(prepared: Path, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(prepared, broken)
    (broken / "tracking/00001_tracking.mp4").unlink()  # missing file
    (broken / "videos/00002.mp4").write_bytes(b"not a video at all")  # unreadable
    frames, _ = read_video_frames(prepared / "videos/00000.mp4")
    write_video(frames[:5, :32], broken / "videos/00000.mp4", fps=SOURCE_FPS)  # wrong length and size
    with (broken / "prompt.txt").open("a") as handle:
        handle.write("an extra caption\n")  # line counts disagree

    report = ds.validate_dataset(broken, NUM_FRAMES, HEIGHT, WIDTH)
    problems = "\n".join(report.problems)
    assert "prompt.txt 4, videos.txt 3, trackings.txt 3" in problems
    assert "trackings.txt line 2: tracking/00001_tracking.mp4 does not exist" in problems
    assert "videos.txt line 3: videos/00002.mp4: unreadable" in problems
    assert "videos.txt line 1: videos/00000.mp4: frames 5 (expected 9), height 32 (expected 64)" in problems
    assert "line 1: clip is 5×32×96 but its tracking video is 9×64×96" in problems
    assert len(report.problems) == 5, problems

    code = ds.main(["validate", str(broken), "--num-frames", "9", "--height", "64", "--width", "96"])
    assert code == 1
    err = capsys.readouterr().err
    assert "5 problem(s)" in err and "does not exist" in err

    (broken / "videos.txt").unlink()
    assert "videos.txt: missing" in ds.validate_dataset(broken).problems


def test_prepare_resumes_and_redoes_only_what_changed(sources: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    first = ds.prepare_dataset(sources, out, config=tiny_config(), tracking_fn=inverted)
    assert first.made == ["00000", "00001", "00002"]
    index = {name: (out / name).read_text() for name in ds.INDEX_FILES}
    written = (out / "videos/00001.mp4").stat().st_mtime_ns

    again = ds.prepare_dataset(sources, out, config=tiny_config(), tracking_fn=inverted)
    assert again.made == [] and again.skipped == ["00000", "00001", "00002"]
    assert {name: (out / name).read_text() for name in ds.INDEX_FILES} == index
    assert (out / "videos/00001.mp4").stat().st_mtime_ns == written

    (out / ds.STATE_DIR / "00001.done.json").unlink()  # e.g. killed while writing sample 1
    assert ds.prepare_dataset(sources, out, config=tiny_config(), tracking_fn=inverted).made == ["00001"]

    changed = ds.prepare_dataset(sources, out, config=tiny_config(grid_size=GRID_SIZE + 1), tracking_fn=inverted)
    assert changed.made == ["00000", "00001", "00002"]  # other settings: every sample is redone


def test_sharded_preparation_merges_to_the_single_process_index(sources: Path, tmp_path: Path) -> None:
    single = tmp_path / "single"
    ds.prepare_dataset(sources, single, config=tiny_config(), tracking_fn=inverted)
    sharded = tmp_path / "sharded"
    shares = [
        ds.prepare_dataset(
            sources,
            sharded,
            config=tiny_config(),
            tracking_fn=inverted,
            shard=Shard(rank, 2, None, lambda: None),
            write_index=False,
        ).made
        for rank in (1, 0)  # order of finishing must not matter
    ]
    assert shares == [["00001"], ["00000", "00002"]]
    assert not (sharded / "prompt.txt").exists()
    samples, _ = ds.plan_samples(sources)
    assert ds.write_index_files(sharded, samples, tiny_config()) == 3
    for name in ds.INDEX_FILES:
        assert (sharded / name).read_text() == (single / name).read_text()


def test_a_bad_source_is_recorded_and_left_out(sources: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(sources, mixed)
    (mixed / "clip_1_moving-texture.mp4").write_bytes(b"\x00" * 100)
    out = tmp_path / "data"
    result = ds.prepare_dataset(mixed, out, config=tiny_config(), tracking_fn=inverted)
    assert result.made == ["00000", "00002"]
    assert list(result.failed) == ["00001"]
    failed = json.loads((out / ds.STATE_DIR / "00001.failed.json").read_text())
    assert failed["source"] == "clip_1_moving-texture.mp4" and failed["error"]
    assert (out / "videos.txt").read_text().splitlines() == ["videos/00000.mp4", "videos/00002.mp4"]
    assert ds.validate_dataset(out, NUM_FRAMES, HEIGHT, WIDTH).ok
    with pytest.raises(MediaError):
        ds.prepare_dataset(mixed, tmp_path / "strict", config=tiny_config(), tracking_fn=inverted, fail_fast=True)


def test_caption_files(tmp_path: Path) -> None:
    sources = ["a/cat.mp4", "b/dog_runs.mov"]
    tab = tmp_path / "captions.txt"
    tab.write_text("cat.mp4\ta cat\nb/dog_runs.mov\ta dog runs\n")
    assert ds.read_captions(tab, sources) == {"a/cat.mp4": "a cat", "b/dog_runs.mov": "a dog runs"}
    lines = tmp_path / "lines.txt"
    lines.write_text("first\nsecond\n")
    assert ds.read_captions(lines, sources) == {"a/cat.mp4": "first", "b/dog_runs.mov": "second"}
    lines.write_text("only one\n")
    with pytest.raises(ds.DatasetError, match="1 caption lines but the source folder has 2 videos"):
        ds.read_captions(lines, sources)
    mapping = tmp_path / "captions.json"
    mapping.write_text(json.dumps({"dog_runs": "running"}))
    assert ds.read_captions(mapping, sources) == {"b/dog_runs.mov": "running"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"video": "cat.mp4"}\n')
    with pytest.raises(ds.DatasetError, match="bad.jsonl:1: needs a video key"):
        ds.read_captions(bad, sources)
    assert ds.caption_from_filename("x/a_red-car.driving.mp4") == "a red car driving"


def test_planning_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ds.DatasetError, match="does not exist"):
        ds.plan_samples(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ds.DatasetError, match="no videos"):
        ds.plan_samples(tmp_path / "empty")
    with pytest.raises(ds.DatasetError, match="not a prepared dataset: missing prompt.txt"):
        ds.read_dataset_index(tmp_path / "empty")
