"""Distribution files stay true to the code: Dockerfile, Space front matter, docs, download CLI."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import core
from core import download

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, with line continuations joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_dockerfile_is_pinned_non_root_and_serves_the_readme_command():
    instructions = dockerfile_instructions()
    base = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(base) == 1 and ":" in base[0] and not base[0].endswith(":latest"), base
    assert "cuda" in base[0]
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("EXPOSE", "7860") in instructions
    assert any(keyword == "HEALTHCHECK" for keyword, _ in instructions)
    volumes = " ".join(args for keyword, args in instructions if keyword == "VOLUME")
    assert "/app/checkpoints" in volumes and "/app/outputs" in volumes

    for keyword, args in instructions:
        if keyword == "COPY":
            sources = [part for part in shlex.split(args) if not part.startswith("--")][:-1]
            for source in sources:
                assert source == "." or (ROOT / source).exists(), f"Dockerfile copies missing {source}"

    cmd = [args for keyword, args in instructions if keyword == "CMD"][-1]
    import json

    command = " ".join(json.loads(cmd))
    assert command == "python webui.py --host 0.0.0.0"
    assert command in README, "README must document the container's command"
    # the torch pin in the Dockerfile is the same one CI and setup use
    assert "torch==2.13.0" in (ROOT / "Dockerfile").read_text()
    assert "torch==2.13.0" in (ROOT / "scripts" / "setup.sh").read_text()


def front_matter() -> dict[str, str]:
    match = re.match(r"^---\n(.*?)\n---\n", README, re.S)
    assert match, "README.md must start with Hugging Face Space front matter"
    pairs = {}
    for line in match.group(1).splitlines():
        key, _, value = line.partition(":")
        pairs[key.strip()] = value.strip().strip('"')
    return pairs


def test_space_front_matter_matches_the_app():
    meta = front_matter()
    assert meta["sdk"] == "gradio"
    assert meta["app_file"] == "webui.py" and (ROOT / "webui.py").exists()
    pinned = re.search(r"^gradio==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert meta["sdk_version"] == pinned
    assert meta["python_version"] == "3.11"


def test_changelog_names_the_current_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(core.__version__)}\]", changelog, re.M)


def test_ci_runs_exactly_the_readme_test_command():
    match = re.search(r"Test command: `([^`]+)`", README)
    assert match, "README must state the test command"
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert match.group(1) in ci_lines


def test_download_lists_models_without_network(capsys):
    assert download.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert download.DAS_MODEL.hub_id in out
    for model in download.DEPTH_MODELS.values():
        assert model.hub_id in out


def test_download_offline_explains_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download.main(["--checkpoints-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "hf download EXCAI/Diffusion-As-Shader" in err
    assert "python -m core.tiny" in err


@pytest.fixture
def fake_fetches(monkeypatch) -> list:
    """``download`` and ``fetch_tracker`` replaced by recorders (never the network), online."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("DAS_OFFLINE", raising=False)
    fetched = []

    def fake_download(model, checkpoints_dir, *, token=None):
        fetched.append(model.hub_id)
        return Path(checkpoints_dir) / model.local_name

    def fake_tracker():
        fetched.append("cotracker3")
        return "torch-hub-cache"

    monkeypatch.setattr(download, "download", fake_download)
    monkeypatch.setattr(download, "fetch_tracker", fake_tracker)
    monkeypatch.setattr(download, "verify_das_checkpoint", lambda path: f"OK: {path}")
    return fetched


EVERY_DEFAULT = [download.DAS_MODEL.hub_id, "apple/DepthPro-hf", "depth-anything/Depth-Anything-V2-Small-hf", "cotracker3"]


@pytest.mark.parametrize("argv", [[], ["--all"]])
def test_download_fetches_every_default_model(fake_fetches, tmp_path, capsys, argv):
    assert download.main(["--checkpoints-dir", str(tmp_path), *argv]) == 0
    assert fake_fetches == EVERY_DEFAULT
    out = capsys.readouterr().out
    assert "about 1.9 GB" in out and "about 100 MB" in out and "approximate" in out


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--models", "depth,tracker"], EVERY_DEFAULT[1:]),
        (["--models", "tracker"], ["cotracker3"]),
        (["--skip-das", "--depth", "zoedepth"], ["Intel/zoedepth-nyu-kitti"]),
        (["--models", "depth", "--depth", "zoedepth"], EVERY_DEFAULT[1:3] + ["Intel/zoedepth-nyu-kitti"]),
    ],
)
def test_download_fetches_the_chosen_groups(fake_fetches, tmp_path, argv, expected):
    assert download.main(["--checkpoints-dir", str(tmp_path), *argv]) == 0
    assert fake_fetches == expected


def test_download_refuses_offline_and_bad_groups(fake_fetches, capsys):
    assert download.main(["--offline"]) == 2
    assert "--offline forbids downloads" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        download.main(["--models", "das,weights"])
    assert fake_fetches == []


def test_download_verify_accepts_tiny_and_names_missing_parts(tiny_checkpoint, tmp_path, capsys):
    assert download.main(["--verify", str(tiny_checkpoint)]) == 0
    assert "OK" in capsys.readouterr().out

    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    shutil.rmtree(broken / "vae")
    assert download.main(["--verify", str(broken)]) == 1
    assert "vae" in capsys.readouterr().err


def test_checkpoints_readme_commands_parse():
    text = (ROOT / "checkpoints" / "README.md").read_text()
    for name in download.DEPTH_MODELS:
        assert f"--depth {name}" in text
        download._build_parser().parse_args(["--skip-das", "--depth", name])


def test_webui_flags_in_readme_exist():
    """Every `python webui.py --flag` the README shows is a real flag."""
    help_text = subprocess.run(
        [sys.executable, "webui.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    ).stdout
    documented = set(re.findall(r"(--[a-z][a-z0-9-]+)", " ".join(re.findall(r"python webui\.py[^\n`]*", README))))
    assert documented, "README should show how to launch webui.py"
    missing = sorted(flag for flag in documented if flag not in help_text)
    assert not missing, f"README documents flags webui.py does not have: {missing}"
    for flag in ("--host", "--port", "--share", "--auth", "--checkpoint", "--device", "--offload",
                 "--max-file-size", "--output-dir", "--preload"):
        assert flag in help_text, f"webui.py lacks {flag}"


def test_readme_cli_examples_parse():
    """Every `python -m core ...` example in the README is accepted by the real parser."""
    from core.cli import build_parser

    parser = build_parser()
    examples = re.findall(r"^(?:accelerate launch .*?-m core|python -m core) (.+)$", README, re.M)
    commands = [line for line in examples if not line.startswith(("COMMAND", "tiny ", "download", "."))]
    assert len(commands) >= 6, commands
    for line in commands:
        args = shlex.split(line)
        parser.parse_args(args)
        for path in args:
            if path.startswith("assets/"):
                assert (ROOT / path).exists(), f"README example uses missing {path}"


MEDIA_SUFFIXES = {".jpg", ".png", ".mp4"}
MESH_SUFFIXES = {".ply", ".zip"}
MAX_MEAN_PIXEL_DIFFERENCE = 0.5
"""Mean absolute difference (0–255) under which a remade picture or video counts as the same:
a stale example differs by tens of levels, while another CPU's last-bit float differences
(e.g. SIMD sin/cos) move a few pixels by one level at most."""
MAX_VERTEX_DIFFERENCE = 1e-4


def _asset_content(path: Path):
    """What an example shows: decoded pixels for media, vertex arrays for meshes, else bytes."""
    import zipfile

    import numpy as np
    import trimesh

    from PIL import Image

    from core.media import read_video_frames

    if path.suffix in {".jpg", ".png"}:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.float32)
    if path.suffix == ".mp4":
        return np.asarray(read_video_frames(path)[0], dtype=np.float32)
    if path.suffix == ".ply":
        return [np.asarray(trimesh.load(path, force="mesh").vertices)]
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = sorted(archive.namelist())
            return [
                np.asarray(
                    trimesh.load(
                        trimesh.util.wrap_as_stream(archive.read(name)), file_type=Path(name).suffix[1:], force="mesh"
                    ).vertices
                )
                for name in names
            ]
    return path.read_bytes()


def test_committed_example_assets_are_what_the_generator_makes(tmp_path):
    """The examples are made by assets/make_assets.py from the project's own recipes: a change
    to a recipe (e.g. how the mesh tracking video is coloured) must be followed by remaking
    them (`python assets/make_assets.py --force`), or the studio's examples show stale output."""
    import numpy as np

    subprocess.run(
        [sys.executable, str(ROOT / "assets" / "make_assets.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    made = sorted(path for path in tmp_path.iterdir() if path.is_file())
    assert made, "the generator made nothing"
    stale = []
    for remade in made:
        committed, fresh = _asset_content(ROOT / "assets" / remade.name), _asset_content(remade)
        if remade.suffix in MEDIA_SUFFIXES:
            same = committed.shape == fresh.shape and np.abs(committed - fresh).mean() < MAX_MEAN_PIXEL_DIFFERENCE
        elif remade.suffix in MESH_SUFFIXES:
            same = len(committed) == len(fresh) and all(
                a.shape == b.shape and np.abs(a - b).max() < MAX_VERTEX_DIFFERENCE for a, b in zip(committed, fresh)
            )
        else:
            same = committed == fresh
        if not same:
            stale.append(remade.name)
    assert not stale, f"remake with `python assets/make_assets.py --force`: {stale}"
