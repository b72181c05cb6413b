"""core.checkpoints: one Hub-id rule, local folder → Hub cache → download (only when allowed),
the DaS layout check and the tracking-transformer test. Hub caches are tiny folders written
here in the real layout (``models--org--name/refs/main`` + ``snapshots/<hash>/...``); nothing
touches the network."""

from __future__ import annotations

import json
import struct
import sys
import subprocess
from pathlib import Path

import pytest

from core import checkpoints as ck
from core.defaults import DAS_HUB_ID
from core.errors import CheckpointError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hub cache that every lookup uses (``HF_HUB_CACHE``), offline."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def cache_model(cache: Path, repo_id: str, files: dict[str, str | bytes], commit: str = COMMIT) -> Path:
    """Write ``files`` as the ``main`` snapshot of ``repo_id`` in the Hub-cache layout."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for name, content in files.items():
        path = snapshot / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def safetensors_header_only(names: list[str]) -> bytes:
    """A ``.safetensors`` file whose tensors are all empty (the header is what is read)."""
    header = {name: {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for name in names}
    header["__metadata__"] = {"format": "pt"}
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded


def das_layout(transformer_config: dict, weight_names: list[str]) -> dict[str, str | bytes]:
    """The files of a (weight-less) DaS checkpoint in the real folder layout."""
    return {
        "model_index.json": "{}",
        "transformer/config.json": json.dumps(transformer_config),
        "transformer/diffusion_pytorch_model.safetensors": safetensors_header_only(weight_names),
        "vae/config.json": json.dumps({"block_out_channels": [4, 4, 4, 4]}),
        "vae/diffusion_pytorch_model.safetensors": safetensors_header_only(["decoder.weight"]),
        "text_encoder/config.json": "{}",
        "text_encoder/model.safetensors": safetensors_header_only(["shared.weight"]),
        "tokenizer/spiece.model": "sentencepiece",
        "scheduler/scheduler_config.json": "{}",
    }


DAS_CONFIG = {"_class_name": "CogVideoXTransformer3DModelTracking", "num_tracking_blocks": 2, "sample_frames": 9}
TRACKING_WEIGHTS = ["transformer_blocks.0.attn.weight", "transformer_blocks_copy.0.attn.weight", "transformer_blocks_copy.1.attn.weight"]


def write_folder(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


# --------------------------------------------------------------------------------------------
# Names and environment
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (DAS_HUB_ID, True),
        ("black-forest-labs/FLUX.1-Depth-dev", True),
        ("depth-anything/Depth-Anything-V2-Small-hf", True),
        ("someone/some_model.v2", True),
        ("checkpoints", False),
        ("a/b/c", False),
        ("/abs/path", False),
        ("./relative", False),
        ("~/models", False),
        ("owner/..", False),
        ("owner/-name", False),
        ("owner/na--me", False),
        ("own er/name", False),
        ("", False),
    ],
)
def test_one_hub_id_rule(text, expected):
    assert ck.is_hub_id(text) is expected


def test_offline_and_cache_folder_are_read_when_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert ck.is_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not ck.is_offline()
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert ck.hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert ck.hub_cache_dir() == tmp_path / "cache"


# --------------------------------------------------------------------------------------------
# Finding a model: local folder → Hub cache → download only when allowed
# --------------------------------------------------------------------------------------------


def test_the_hub_cache_snapshot_is_found_only_when_complete(hub_cache):
    snapshot = cache_model(hub_cache, "org/depth-model", {"config.json": "{}"})
    assert ck.find_in_hub_cache("org/depth-model") == snapshot
    assert ck.find_in_hub_cache("org/depth-model", required_files=("config.json",)) == snapshot
    assert ck.find_in_hub_cache("org/depth-model", required_files=("config.json", "preprocessor_config.json")) is None
    assert ck.find_in_hub_cache("org/not-cached") is None
    assert ck.find_in_hub_cache("not a hub id") is None


def test_find_model_prefers_the_local_folder_then_the_cache(hub_cache, tmp_path):
    spec = ck.ModelSpec("org/model", "model-folder")
    root = tmp_path / "checkpoints"
    assert ck.find_model(spec, root=root) is None
    snapshot = cache_model(hub_cache, "org/model", {"config.json": "{}"})
    assert ck.find_model(spec, root=root) == snapshot
    local = write_folder(root / "model-folder", {"config.json": "{}"})
    assert ck.find_model(spec, root=root) == local
    assert ck.find_model(spec, root=root, required_files=("weights.bin",)) is None  # neither copy is complete
    assert ck.find_model(str(local)) == local
    assert ck.find_model("org/model") == snapshot


def test_find_or_download_never_downloads_when_not_allowed_or_offline(hub_cache, tmp_path, monkeypatch):
    spec = ck.ModelSpec("org/absent", "absent")

    def no_network(*args, **kwargs):
        raise AssertionError("the network must not be used")

    monkeypatch.setattr(ck, "download_snapshot", no_network)
    with pytest.raises(CheckpointError, match="downloading is turned off") as refused:
        ck.find_or_download_model(spec, allow_download=False, root=tmp_path)
    assert "hf download org/absent --local-dir absent" in str(refused.value)
    with pytest.raises(CheckpointError, match="neither a folder on this machine nor a Hugging Face Hub id"):
        ck.find_or_download_model("not/a/hub/id", allow_download=True, root=tmp_path)
    cached = cache_model(hub_cache, "org/absent", {"config.json": "{}"})
    assert ck.find_or_download_model(spec, allow_download=False, root=tmp_path) == cached


def test_downloads_are_refused_offline(hub_cache):
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE"):
        ck.download_snapshot("org/absent")


def test_download_is_used_when_allowed_and_nothing_is_local(hub_cache, tmp_path, monkeypatch):
    fetched = tmp_path / "fetched"
    calls = []

    def fake_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs["allow_patterns"]))
        return fetched

    monkeypatch.setattr(ck, "download_snapshot", fake_download)
    spec = ck.ModelSpec("org/remote", "remote", allow_patterns=("model_index.json",))
    assert ck.find_or_download_model(spec, allow_download=True, root=tmp_path) == fetched
    assert calls == [("org/remote", ("model_index.json",))]


# --------------------------------------------------------------------------------------------
# The DaS checkpoint
# --------------------------------------------------------------------------------------------


def test_choose_das_checkpoint(tmp_path):
    assert ck.choose_das_checkpoint(None, default_dir=tmp_path / "absent") == DAS_HUB_ID
    assert ck.choose_das_checkpoint("", default_dir=tmp_path) == str(tmp_path)
    assert ck.choose_das_checkpoint(tmp_path) == str(tmp_path)
    assert ck.choose_das_checkpoint("owner/model") == "owner/model"
    with pytest.raises(CheckpointError, match="python -m core.download"):
        ck.choose_das_checkpoint(tmp_path / "no" / "such" / "folder")


def test_a_cached_das_checkpoint_is_located_offline_and_checked(hub_cache, tmp_path):
    snapshot = cache_model(hub_cache, "org/das-copy", das_layout(DAS_CONFIG, TRACKING_WEIGHTS))
    assert ck.locate_das_checkpoint("org/das-copy", allow_download=False) == snapshot
    assert ck.read_component_config("org/das-copy", "transformer")["sample_frames"] == 9
    assert ck.read_component_config("org/not-cached", "transformer") is None
    with pytest.raises(CheckpointError, match="neither a local folder nor a Hugging Face Hub model") as missing:
        ck.locate_das_checkpoint("org/not-cached", allow_download=False)
    assert str(hub_cache) in str(missing.value)
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE"):
        ck.locate_das_checkpoint("org/not-cached", allow_download=True)
    local = write_folder(tmp_path / "local-das", das_layout(DAS_CONFIG, TRACKING_WEIGHTS))
    assert ck.locate_das_checkpoint(local, allow_download=False) == local


def test_check_das_checkpoint_names_what_is_missing(tmp_path):
    files = das_layout(DAS_CONFIG, TRACKING_WEIGHTS)
    del files["vae/diffusion_pytorch_model.safetensors"]
    files["text_encoder/model.safetensors"] = "version https://git-lfs.github.com/spec/v1\n"
    folder = write_folder(tmp_path / "broken", files)
    with pytest.raises(CheckpointError) as error:
        ck.check_das_checkpoint(folder)
    message = str(error.value)
    assert "vae/diffusion_pytorch_model.safetensors or" in message
    assert "text_encoder/model.safetensors is a Git LFS pointer" in message
    assert "transformer" not in message.split("missing or invalid:")[1].split("Get the")[0]


def test_tracking_transformer_from_config_or_weights(tmp_path):
    plain_config = {"_class_name": "CogVideoXTransformer3DModel"}
    assert ck.is_tracking_transformer(DAS_CONFIG)
    assert not ck.is_tracking_transformer(plain_config)
    # A DaS config without num_tracking_blocks: the weights decide (2 tracking blocks here).
    das = write_folder(tmp_path / "das", das_layout(plain_config, TRACKING_WEIGHTS))
    assert ck.tracking_block_count(das / "transformer") == 2
    assert ck.is_tracking_transformer(das) and ck.is_tracking_transformer(das / "transformer")
    plain = write_folder(tmp_path / "plain", das_layout(plain_config, ["transformer_blocks.0.attn.weight"]))
    assert ck.tracking_block_count(plain / "transformer") == 0
    assert not ck.is_tracking_transformer(plain)
    with pytest.raises(CheckpointError, match="not Diffusion-as-Shader"):
        ck.check_das_checkpoint(plain)
    ck.check_das_checkpoint(das)


def test_the_tracking_class_name_is_the_models(tmp_path):
    from core.transformer import CogVideoXTransformer3DModelTracking

    assert ck.TRACKING_TRANSFORMER_CLASS == CogVideoXTransformer3DModelTracking.__name__


def test_the_module_and_the_engine_import_without_torch():
    code = "import sys, core.checkpoints, core.engine, core.download; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "False"


# --------------------------------------------------------------------------------------------
# One download policy: the studio and the CLI download on first use unless offline
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "das_offline", "hf_offline", "allowed"),
    [
        (None, None, None, True),
        (False, None, "0", True),
        (True, None, None, False),
        (None, "1", None, False),
        (None, "true", "0", False),
        (None, None, "1", False),
        (False, "0", "yes", False),
        (True, "0", "0", False),
    ],
)
def test_download_policy(monkeypatch, flag, das_offline, hf_offline, allowed):
    for name, value in ((ck.DAS_OFFLINE_ENV, das_offline), (ck.OFFLINE_ENV, hf_offline)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert ck.downloads_allowed(flag) is allowed


def test_das_offline_also_refuses_downloads(hub_cache, monkeypatch):
    monkeypatch.setenv(ck.OFFLINE_ENV, "0")
    monkeypatch.setenv(ck.DAS_OFFLINE_ENV, "1")
    with pytest.raises(CheckpointError, match="DAS_OFFLINE"):
        ck.download_snapshot("org/model")


def test_a_download_is_announced_once_with_its_approximate_size(hub_cache, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(ck.OFFLINE_ENV, "0")
    snapshot = tmp_path / "snapshot"
    monkeypatch.setattr(ck, "download_snapshot", lambda repo_id, **kwargs: snapshot)
    messages = []
    spec = ck.ModelSpec("org/depth", "depth/org-depth", "A depth model", approx_gb=1.9)
    with caplog.at_level("INFO", logger=ck.__name__):
        found = ck.find_or_download_model(spec, allow_download=True, root=tmp_path, progress=lambda f, m: messages.append((f, m)))
    assert found == snapshot
    assert messages == [(0.0, "Downloading A depth model from org/depth (about 1.9 GB, approximate); "
                              "this happens once, later runs use the local copy")]
    assert [record.getMessage() for record in caplog.records] == [messages[0][1]]
    assert ck.format_download_size(0.1) == "about 100 MB" and ck.format_download_size(None) == "size unknown"


def test_the_studio_and_the_cli_follow_the_policy(monkeypatch):
    import webui
    from core.cli import _engine_config, build_parser

    monkeypatch.delenv(ck.OFFLINE_ENV, raising=False)
    monkeypatch.delenv(ck.DAS_OFFLINE_ENV, raising=False)
    assert webui.parse_args([]).offline is False and webui.parse_args(["--offline"]).offline is True
    webui.parse_args(["--download-models"])  # still accepted (downloads are the default)
    parser = build_parser()
    assert _engine_config(parser.parse_args(["status"])).allow_download is True
    assert _engine_config(parser.parse_args(["status", "--offline"])).allow_download is False
    assert _engine_config(parser.parse_args(["status", "--allow-download"])).allow_download is True
    monkeypatch.setenv(ck.DAS_OFFLINE_ENV, "1")
    assert _engine_config(parser.parse_args(["status"])).allow_download is False


def test_the_cli_names_the_models_used_and_warns_on_the_built_in_depth(capsys):
    from core.cli import _print_models_used

    _print_models_used({"depth_source": "depth-anything-v2", "depth_approximate": False, "tracker": "cotracker3"})
    assert capsys.readouterr().err == "depth: depth-anything-v2 · tracker: cotracker3\n"
    _print_models_used({"depth_source": "builtin", "depth_approximate": True})
    err = capsys.readouterr().err
    assert err.startswith("depth: builtin\nwarning: The depth is the built-in approximation")
    assert "python -m core.download" in err and "--offline" in err


def test_the_status_line_names_the_models_a_build_will_use(tmp_path, monkeypatch):
    from trackers import depth as dp
    from ui.status import tracking_models_status

    monkeypatch.setenv(dp.CHECKPOINTS_ENV, str(tmp_path / "no-depth"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("DAS_TRACKER_CHECKPOINTS", str(tmp_path / "no-cotracker"))
    monkeypatch.delenv(ck.DAS_OFFLINE_ENV, raising=False)
    monkeypatch.setenv(ck.OFFLINE_ENV, "0")
    online = " · ".join(tracking_models_status(allow_download=True))
    assert online == (
        "**Depth:** `depth-pro` (downloads about 1.9 GB on first use) for photos, "
        "`depth-anything-v2` (downloads about 100 MB on first use) for videos · "
        "**Tracker:** `cotracker3` (downloads about 100 MB on first use)"
    )
    monkeypatch.setenv(ck.DAS_OFFLINE_ENV, "1")
    offline = tracking_models_status(allow_download=True)
    assert offline[:2] == ["**Depth:** `builtin`", "**Tracker:** `lk` (built in)"]
    assert offline[2].startswith("⚠️ **Approximate depth:**") and "python -m core.download" in offline[2]
