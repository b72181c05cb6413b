"""Where model weights come from: one rule for every model the app loads (SPEC §10).

A model is asked for by a local folder, by a Hugging Face Hub id (``owner/name``) or by a
:class:`ModelSpec` (a Hub id plus its folder name under ``checkpoints/``). It is looked up in
this order:

1. the local folder (the given path, or ``checkpoints/<local_name>``);
2. the local Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
   ``~/.cache/huggingface/hub``) — usable offline;
3. a download from the Hub, only when the caller allows it and the machine is not offline
   (``DAS_OFFLINE=1``, ``HF_HUB_OFFLINE=1`` or the ``--offline`` flag).

**One download policy** (:func:`downloads_allowed`): the studio (``python webui.py``) and the
CLI (``python -m core``) download missing models on first use — the DaS checkpoint, the depth
models and CoTracker3 — unless ``--offline`` is given or ``DAS_OFFLINE`` / ``HF_HUB_OFFLINE``
is set. The Python API stays explicit: its ``allow_download`` arguments default to False.
Every download first says what it fetches and about how big it is (:func:`announce_download`).

Two names keep the difference visible at every call site: :func:`find_model` never touches the
network; :func:`find_or_download_model` may download (when allowed). The DaS checkpoint has its
own front ends (:func:`choose_das_checkpoint`, :func:`locate_das_checkpoint`) that add the
layout check :func:`check_das_checkpoint` and DaS's messages.

Torch-free: the CLI, the studio start-up and ``python -m core.download --verify`` use it without
loading a model. ``huggingface_hub``'s download functions (which import an HTTP stack) are
imported only when a Hub lookup actually happens.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from core.defaults import DAS_HUB_ID, DAS_LOCAL_NAME
from core.errors import CheckpointError
from core.progress import ProgressFn, report

logger = logging.getLogger(__name__)

CHECKPOINTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
"""``checkpoints/`` next to the code: one folder per model (see ``checkpoints/README.md``)."""

OFFLINE_ENV = "HF_HUB_OFFLINE"
"""Set to ``1`` and nothing is ever downloaded (the Hugging Face convention)."""
DAS_OFFLINE_ENV = "DAS_OFFLINE"
"""Set to ``1`` and nothing is ever downloaded (this app's own switch, same as ``--offline``)."""
_TRUE_WORDS = ("1", "true", "yes", "on")

DAS_APPROX_GB = 20.0
"""Approximate download size of the DaS checkpoint's five components (GB, rounded)."""

_HUB_ID_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
"""One half of ``owner/name``: ASCII letters, digits, ``.``, ``_``, ``-``; no leading or
trailing separator (the Hub's own naming rule)."""

DAS_COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
"""The component folders of a DaS checkpoint."""

_DIFFUSERS_WEIGHTS = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.safetensors.index.json",
    "diffusion_pytorch_model.bin",
    "diffusion_pytorch_model.bin.index.json",
)
_TRANSFORMERS_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
CHECKPOINT_COMPONENTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "transformer": (("config.json",), _DIFFUSERS_WEIGHTS),
    "vae": (("config.json",), _DIFFUSERS_WEIGHTS),
    "text_encoder": (("config.json",), _TRANSFORMERS_WEIGHTS),
    "tokenizer": (("spiece.model", "tokenizer.json"),),
    "scheduler": (("scheduler_config.json",),),
}
"""Component folder → required files (each entry: alternatives, one must exist). Sharded
weights are checked through their index file."""

DAS_ALLOW_PATTERNS = ("model_index.json", *(f"{name}/*" for name in DAS_COMPONENTS))
"""What a Hub download of DaS fetches: the five component folders and the index."""

TRACKING_TRANSFORMER_CLASS = "CogVideoXTransformer3DModelTracking"
"""``_class_name`` of DaS's transformer in its ``config.json``."""
TRACKING_BLOCK_PREFIX = "transformer_blocks_copy."
"""Weight-name prefix of the tracking blocks."""

_LFS_POINTER_PREFIX = b"version https://git-lfs"
_LFS_POINTER_MAX_BYTES = 1024  # a Git LFS pointer is ~130 bytes; real weight files are far larger
_SAFETENSORS_HEADER_LENGTH_BYTES = 8  # little-endian u64, then that many bytes of JSON
_SAFETENSORS_METADATA_KEY = "__metadata__"


@dataclass(frozen=True)
class ModelSpec:
    """A model the app can load: its Hub id and its folder under ``checkpoints/``.

    Attributes:
        hub_id: ``owner/name`` on the Hugging Face Hub.
        local_name: folder (relative to ``checkpoints/``) a local copy lives in.
        description: one line for listings (``python -m core.download --list``).
        allow_patterns: what a download fetches (``None`` = everything).
        approx_gb: approximate download size in GB (for the one message before a download;
            ``None`` = unknown).
    """

    hub_id: str
    local_name: str
    description: str = ""
    allow_patterns: Optional[tuple[str, ...]] = None
    approx_gb: Optional[float] = None

    def local_dir(self, root: Path = CHECKPOINTS_DIR) -> Path:
        """``root / local_name``."""
        return Path(root) / self.local_name


DAS_MODEL = ModelSpec(
    DAS_HUB_ID, DAS_LOCAL_NAME, "Diffusion-as-Shader (CogVideoX-5B-I2V + tracking branch), ~20 GB", approx_gb=DAS_APPROX_GB
)
"""``python -m core.download`` fetches the whole repository into ``checkpoints/``; a Hub-cache
download by the app fetches only :data:`DAS_ALLOW_PATTERNS`."""

TINY_MARKER_FILE = "TINY_MODEL"
"""File present in the folder of a tiny random test checkpoint (``python -m core.tiny``)."""
TINY_INDEX_KEY = "_das_tiny_test_model"
"""Key set to true in a tiny checkpoint's ``model_index.json`` (diffusers ignores ``_``-keys)."""

HOW_TO_GET_CHECKPOINT = (
    "Get the Diffusion-as-Shader checkpoint with `python -m core.download`, or with "
    f"`hf download {DAS_HUB_ID} --local-dir checkpoints/{DAS_LOCAL_NAME}`; "
    "for a tiny offline test model (its output is noise) run `python -m core.tiny DIR`."
)


# --------------------------------------------------------------------------------------------
# Names, environment, Hub cache
# --------------------------------------------------------------------------------------------


def is_hub_id(text: str | Path) -> bool:
    """Whether ``text`` has the shape of a Hub model id ``owner/name`` (the one rule used
    everywhere; it says nothing about whether the model exists)."""
    text = str(text)
    parts = text.split("/")
    return (
        len(parts) == 2
        and all(_HUB_ID_PART.match(part) for part in parts)
        and not any(".." in part or "--" in part for part in parts)
    )


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE_WORDS


def is_offline() -> bool:
    """Whether ``DAS_OFFLINE`` or ``HF_HUB_OFFLINE`` forbids downloads (read now, not at import)."""
    return _env_flag(DAS_OFFLINE_ENV) or _env_flag(OFFLINE_ENV)


def downloads_allowed(offline: Optional[bool] = None) -> bool:
    """The download policy of the studio and the CLI: missing models download on first use
    unless the ``--offline`` flag (``offline=True``) or ``DAS_OFFLINE`` / ``HF_HUB_OFFLINE``
    forbids it.

    Args:
        offline: the ``--offline`` flag (``None`` or False = not given).
    """
    return not (bool(offline) or is_offline())


def format_download_size(approx_gb: Optional[float]) -> str:
    """``"about 1.9 GB"``, ``"about 100 MB"`` or ``"size unknown"`` (always approximate)."""
    if approx_gb is None:
        return "size unknown"
    if approx_gb < 1.0:
        return f"about {approx_gb * 1000:.0f} MB"
    return f"about {approx_gb:.1f} GB"


def announce_download(what: str, source: str, approx_gb: Optional[float], progress: Optional[ProgressFn] = None) -> str:
    """Say once, before a download starts, what is fetched and about how big it is: a log
    line (the CLI console) and a progress message (the studio's progress bar). The download
    itself shows ``huggingface_hub``'s / ``torch.hub``'s own progress bars on the console.

    Args:
        what: the model in words (``"Depth Pro (depth + field of view)"``).
        source: where from (a Hub id or a repository).
        approx_gb: approximate size in GB (see :func:`format_download_size`).

    Returns:
        The message.
    """
    message = (
        f"Downloading {what} from {source} ({format_download_size(approx_gb)}, approximate); "
        "this happens once, later runs use the local copy"
    )
    logger.info("%s", message)
    report(progress, 0.0, message)
    return message


def hub_cache_dir() -> Path:
    """The Hugging Face Hub cache folder: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
    ``~/.cache/huggingface/hub`` (read now, so a changed environment counts)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def find_in_hub_cache(
    repo_id: str,
    *,
    required_files: Sequence[str] = (),
    revision: Optional[str] = None,
    cache_dir: Optional[str | Path] = None,
) -> Optional[Path]:
    """The snapshot folder of ``repo_id`` in the local Hub cache, or ``None``; never the network.

    Args:
        repo_id: ``owner/name``.
        required_files: paths inside the snapshot that must all exist (e.g. ``config.json``);
            a snapshot without them is a partial download and does not count.
        revision: branch, tag or commit (default ``main``).
        cache_dir: the cache to look in (default :func:`hub_cache_dir`).
    """
    if not is_hub_id(repo_id):
        return None
    from huggingface_hub import snapshot_download  # imports an HTTP stack: only when needed
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(
            snapshot_download(
                repo_id,
                revision=revision,
                cache_dir=str(cache_dir or hub_cache_dir()),
                local_files_only=True,
            )
        )
    except (LocalEntryNotFoundError, OSError, ValueError) as error:  # not cached
        logger.debug("%s is not in the Hub cache: %s", repo_id, error)
        return None
    if not folder.is_dir() or not all((folder / name).is_file() for name in required_files):
        return None
    return folder


def download_snapshot(
    repo_id: str,
    *,
    allow_patterns: Optional[Sequence[str]] = None,
    revision: Optional[str] = None,
    cache_dir: Optional[str | Path] = None,
    token: Optional[str | bool] = None,
) -> Path:
    """Download ``repo_id`` into the Hub cache (files already there are kept) and return its
    snapshot folder.

    Raises:
        CheckpointError: offline (``HF_HUB_OFFLINE``), or the Hub refused or could not be reached.
    """
    if is_offline():
        raise CheckpointError(
            f"{repo_id} is not on this machine and offline mode is on ({DAS_OFFLINE_ENV} or {OFFLINE_ENV} is set), "
            "so nothing is downloaded."
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return Path(
            snapshot_download(
                repo_id,
                allow_patterns=list(allow_patterns) if allow_patterns else None,
                revision=revision,
                cache_dir=str(cache_dir or hub_cache_dir()),
                token=token,
            )
        )
    except (HfHubHTTPError, OSError, ValueError) as error:
        raise CheckpointError(f"{repo_id} could not be downloaded ({type(error).__name__}: {error})") from error


def offline_instructions(model: ModelSpec, dest: Path) -> str:
    """What to do on a machine that cannot reach the Hugging Face Hub."""
    return (
        f"Could not download {model.hub_id}. On a machine with internet access run\n"
        f"    hf download {model.hub_id} --local-dir {model.local_name}\n"
        f"then copy that folder to {dest} on this machine (same layout), or point the app at it\n"
        f"with --checkpoint PATH. For a weights-free smoke test use: python -m core.tiny checkpoints/tiny"
    )


# --------------------------------------------------------------------------------------------
# Any model: find (never downloads) / find or download
# --------------------------------------------------------------------------------------------


def _has_files(folder: Path, required_files: Sequence[str]) -> bool:
    return folder.is_dir() and all((folder / name).is_file() for name in required_files)


def find_model(
    model: ModelSpec | str | Path,
    *,
    required_files: Sequence[str] = (),
    root: Path = CHECKPOINTS_DIR,
    cache_dir: Optional[str | Path] = None,
) -> Optional[Path]:
    """A local copy of ``model`` — never downloads.

    Args:
        model: a :class:`ModelSpec` (tries ``root / local_name``, then its Hub id in the cache),
            a folder path, or a Hub id (tried in the cache).
        required_files: files the folder must hold to count (a partial copy does not).
        root: the ``checkpoints/`` folder.
        cache_dir: Hub cache to look in (default :func:`hub_cache_dir`).

    Returns:
        The folder, or ``None`` when there is no usable local copy.
    """
    if isinstance(model, ModelSpec):
        local = model.local_dir(root)
        if _has_files(local, required_files):
            return local
        return find_in_hub_cache(model.hub_id, required_files=required_files, cache_dir=cache_dir)
    path = Path(model).expanduser()
    if path.is_dir():
        return path if _has_files(path, required_files) else None
    return find_in_hub_cache(str(model), required_files=required_files, cache_dir=cache_dir)


def find_or_download_model(
    model: ModelSpec | str,
    *,
    allow_download: bool,
    required_files: Sequence[str] = (),
    root: Path = CHECKPOINTS_DIR,
    cache_dir: Optional[str | Path] = None,
    token: Optional[str | bool] = None,
    progress: Optional[ProgressFn] = None,
) -> Path:
    """A local copy of ``model`` (see :func:`find_model`), downloaded into the Hub cache when
    there is none and ``allow_download`` is set (and the machine is not offline); a download
    is announced first (:func:`announce_download`, through ``progress`` and the log).

    Raises:
        CheckpointError: no local copy and downloading is not allowed, offline or failed; the
            message says how to get the model by hand.
    """
    found = find_model(model, required_files=required_files, root=root, cache_dir=cache_dir)
    if found is not None:
        return found
    spec = model if isinstance(model, ModelSpec) else ModelSpec(str(model), Path(str(model)).name)
    if not is_hub_id(spec.hub_id):
        raise CheckpointError(f"{model} is neither a folder on this machine nor a Hugging Face Hub id (owner/name).")
    dest = spec.local_dir(root)
    if not allow_download:
        raise CheckpointError(f"{spec.hub_id} is not on this machine and downloading is turned off.\n" + offline_instructions(spec, dest))
    if not is_offline():
        announce_download(spec.description or spec.hub_id, spec.hub_id, spec.approx_gb, progress)
    try:
        return download_snapshot(spec.hub_id, allow_patterns=spec.allow_patterns, cache_dir=cache_dir, token=token)
    except CheckpointError as error:
        raise CheckpointError(f"{error}\n" + offline_instructions(spec, dest)) from error


# --------------------------------------------------------------------------------------------
# Is this a DaS (tracking) transformer?
# --------------------------------------------------------------------------------------------


def _safetensors_names(path: Path) -> list[str]:
    """Tensor names in a ``.safetensors`` file, read from its JSON header only (no weights, no torch)."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(_SAFETENSORS_HEADER_LENGTH_BYTES))
        header = json.loads(handle.read(length))
    return [name for name in header if name != _SAFETENSORS_METADATA_KEY]


def tracking_block_count(transformer_dir: str | Path) -> Optional[int]:
    """Tracking blocks found in a transformer folder's weight names, or ``None`` when they cannot
    be read cheaply (``.bin`` weights, no weights). Reads only the safetensors header or index.

    Raises:
        OSError, ValueError, KeyError: an unreadable header or index.
    """
    transformer_dir = Path(transformer_dir)
    index_path = transformer_dir / "diffusion_pytorch_model.safetensors.index.json"
    single_path = transformer_dir / "diffusion_pytorch_model.safetensors"
    if index_path.is_file():
        names = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"].keys()
    elif single_path.is_file():
        names = _safetensors_names(single_path)
    else:
        return None
    return len({name[len(TRACKING_BLOCK_PREFIX) :].split(".", 1)[0] for name in names if name.startswith(TRACKING_BLOCK_PREFIX)})


def is_tracking_transformer(config_or_folder: dict[str, Any] | str | Path) -> bool:
    """Whether a transformer is DaS's tracking transformer rather than a plain CogVideoX one.

    Args:
        config_or_folder: a ``transformer/config.json`` dict (decided from the config alone:
            ``num_tracking_blocks`` or the tracking class name), or a checkpoint folder (or its
            ``transformer/`` folder), where weights with tracking blocks also count — the DaS
            config may lack ``num_tracking_blocks``.

    Raises:
        OSError, ValueError, KeyError: a folder whose config or weight index is unreadable.
    """
    if isinstance(config_or_folder, dict):
        config = config_or_folder
        return "num_tracking_blocks" in config or config.get("_class_name") == TRACKING_TRANSFORMER_CLASS
    folder = Path(config_or_folder)
    transformer_dir = folder if (folder / "config.json").is_file() and not (folder / "transformer").is_dir() else folder / "transformer"
    config = json.loads((transformer_dir / "config.json").read_text(encoding="utf-8"))
    if "num_tracking_blocks" in config:
        return True
    tracking_blocks = tracking_block_count(transformer_dir)
    if tracking_blocks is None:
        return config.get("_class_name") == TRACKING_TRANSFORMER_CLASS
    return tracking_blocks > 0


# --------------------------------------------------------------------------------------------
# The DaS checkpoint
# --------------------------------------------------------------------------------------------


def das_checkpoint_dir(root: Path = CHECKPOINTS_DIR) -> Path:
    """``checkpoints/Diffusion-As-Shader``: where the studio looks for DaS first."""
    return DAS_MODEL.local_dir(root)


def default_das_checkpoint(default_dir: Optional[Path] = None) -> str:
    """``checkpoints/Diffusion-As-Shader`` when that folder exists, else the Hub id
    ``EXCAI/Diffusion-As-Shader`` (nothing is downloaded or checked)."""
    local = default_dir if default_dir is not None else das_checkpoint_dir()
    return str(local) if local.is_dir() else DAS_HUB_ID


def choose_das_checkpoint(checkpoint: str | Path | None = None, *, default_dir: Optional[Path] = None) -> str:
    """Which checkpoint a request means, without looking inside it or touching the network.

    Args:
        checkpoint: a local folder or a Hub id, or ``None``/empty for :func:`default_das_checkpoint`.
        default_dir: the default local folder (default :func:`das_checkpoint_dir`).

    Returns:
        An existing local folder (``~`` expanded) or a Hub id.

    Raises:
        CheckpointError: ``checkpoint`` is neither an existing folder nor shaped like a Hub id.
    """
    if checkpoint is None or str(checkpoint).strip() == "":
        return default_das_checkpoint(default_dir)
    text = str(checkpoint).strip()
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path)
    if is_hub_id(text):
        return text
    raise CheckpointError(
        f"Checkpoint {text!r} is not a folder on this machine and not a Hugging Face Hub id (owner/name). "
        f"Download the DaS checkpoint with `python -m core.download`, or pass --checkpoint PATH to a folder "
        f"with model_index.json, transformer/, vae/, text_encoder/, tokenizer/ and scheduler/."
    )


def read_component_config(checkpoint: str | Path, component: str) -> Optional[dict]:
    """``<checkpoint>/<component>/config.json`` from a folder or an already cached Hub snapshot;
    ``None`` when it is not on this machine or unreadable. Never downloads."""
    path = Path(checkpoint).expanduser()
    folder = path if path.is_dir() else find_in_hub_cache(str(checkpoint), required_files=(f"{component}/config.json",))
    if folder is None:
        return None
    try:
        with open(folder / component / "config.json", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None


def is_tiny_checkpoint(path: str | Path) -> bool:
    """True if ``path`` is a local folder written by ``core.tiny.write_tiny_checkpoint`` (its
    output is noise): it holds the marker file, or its ``model_index.json`` says so."""
    folder = Path(path).expanduser()
    if (folder / TINY_MARKER_FILE).is_file():
        return True
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        return False
    try:
        return bool(json.loads(index_path.read_text(encoding="utf-8")).get(TINY_INDEX_KEY, False))
    except (OSError, ValueError):
        return False


def _is_lfs_pointer(path: Path) -> bool:
    """True if ``path`` is a Git LFS pointer file (a clone without ``git lfs pull``)."""
    if path.stat().st_size > _LFS_POINTER_MAX_BYTES:
        return False
    with path.open("rb") as handle:
        return handle.read(len(_LFS_POINTER_PREFIX)) == _LFS_POINTER_PREFIX


def _missing_shards(component_dir: Path, index_path: Path) -> list[str]:
    """Shards named by a sharded-weights index that are absent (a partial download)."""
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
    except (OSError, ValueError, KeyError) as error:
        return [f"{component_dir.name}/{index_path.name} is unreadable ({error})"]
    shards = sorted(set(weight_map.values()))
    return [f"{component_dir.name}/{shard}" for shard in shards if not (component_dir / shard).is_file()]


def _component_problems(folder: Path, component: str) -> list[str]:
    """What is wrong with one component folder (empty list when complete)."""
    component_dir = folder / component
    if not component_dir.is_dir():
        return [f"{component}/ (the whole folder is missing)"]
    problems = []
    for alternatives in CHECKPOINT_COMPONENTS[component]:
        present = [component_dir / name for name in alternatives if (component_dir / name).is_file()]
        if not present:
            problems.append(f"{component}/{' or '.join(alternatives)}")
            continue
        for path in present:
            if _is_lfs_pointer(path):
                problems.append(f"{component}/{path.name} is a Git LFS pointer, not the file (run `git lfs pull`)")
            elif path.name.endswith(".index.json"):
                problems.extend(_missing_shards(component_dir, path))
    return problems


def _tracking_problem(folder: Path) -> Optional[str]:
    """A message if ``transformer/`` holds a plain CogVideoX transformer rather than DaS's."""
    try:
        if is_tracking_transformer(folder):
            return None
    except (OSError, ValueError, KeyError) as error:
        return f"transformer/ config or weight index is unreadable ({error})"
    return (
        "transformer/ holds a plain CogVideoX transformer without tracking blocks: "
        "this folder is a CogVideoX checkpoint, not Diffusion-as-Shader"
    )


def check_das_checkpoint(path: str | Path) -> None:
    """Verify that ``path`` is a complete DaS checkpoint folder.

    Checks each component folder (``transformer/``, ``vae/``, ``text_encoder/``,
    ``tokenizer/``, ``scheduler/``) for its config and weights, the shards of sharded weights,
    Git LFS pointer files left by a clone without LFS, and that the transformer is a DaS
    tracking transformer (:func:`is_tracking_transformer`). ``model_index.json`` is not needed
    (components are loaded one by one) and is only reported in the log when absent.

    Raises:
        CheckpointError: naming every missing component or file and how to get the checkpoint.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise CheckpointError(f"No Diffusion-as-Shader checkpoint folder at '{folder}'. {HOW_TO_GET_CHECKPOINT}")
    problems = []
    for component in CHECKPOINT_COMPONENTS:
        component_problems = _component_problems(folder, component)
        problems.extend(component_problems)
        if component == "transformer" and not component_problems:
            tracking_problem = _tracking_problem(folder)
            if tracking_problem is not None:
                problems.append(tracking_problem)
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise CheckpointError(
            f"The Diffusion-as-Shader checkpoint at '{folder}' is incomplete; missing or invalid:\n{listing}\n"
            f"{HOW_TO_GET_CHECKPOINT}"
        )
    if not (folder / "model_index.json").is_file():
        logger.info("%s has no model_index.json; loading its components one by one anyway", folder)


def locate_das_checkpoint(
    checkpoint: str | Path,
    *,
    allow_download: bool,
    revision: Optional[str] = None,
    cache_dir: Optional[str | Path] = None,
    token: Optional[str | bool] = None,
) -> Path:
    """The verified local folder of a DaS checkpoint given as a folder or a Hub id.

    An existing path is used as is. A Hub id is found in the Hub cache, or — only with
    ``allow_download`` and when not offline — downloaded (the five component folders and
    ``model_index.json``). The folder is then checked by :func:`check_das_checkpoint`.

    Raises:
        CheckpointError: no such folder, not fetchable, or incomplete.
    """
    folder = Path(checkpoint).expanduser()
    name = str(checkpoint)
    if not folder.exists() and is_hub_id(name):
        cached = find_in_hub_cache(name, revision=revision, cache_dir=cache_dir)
        if cached is not None:
            folder = cached
        elif not allow_download:
            raise CheckpointError(
                f"'{name}' is neither a local folder nor a Hugging Face Hub model that could be fetched "
                f"(not in the Hub cache at {cache_dir or hub_cache_dir()}, and downloading is turned off). "
                f"{HOW_TO_GET_CHECKPOINT}"
            )
        else:
            if not is_offline():
                announce_download(DAS_MODEL.description, name, DAS_APPROX_GB)
            try:
                folder = download_snapshot(
                    name, allow_patterns=DAS_ALLOW_PATTERNS, revision=revision, cache_dir=cache_dir, token=token
                )
            except CheckpointError as error:
                raise CheckpointError(
                    f"'{name}' is neither a local folder nor a Hugging Face Hub model that could be fetched "
                    f"({error}). {HOW_TO_GET_CHECKPOINT}"
                ) from error
    check_das_checkpoint(folder)
    return folder
