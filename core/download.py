"""Fetch model weights ahead of time, so the app never waits for a download.

Usage::

    python -m core.download                       # every default model: DaS (~20 GB), the
                                                  # default depth models, CoTracker3
    python -m core.download --models depth,tracker            # only some groups
    python -m core.download --skip-das --depth depth-anything-v2-large   # one extra model
    python -m core.download --list                # what can be fetched and where it goes
    python -m core.download --verify checkpoints/Diffusion-As-Shader

Groups (``--models``): ``das`` (the DaS checkpoint into ``checkpoints/Diffusion-As-Shader``),
``depth`` (Depth Pro for stills and Depth Anything V2 Small for videos, into
``checkpoints/depth/``), ``tracker`` (CoTracker3's code and weights into the ``torch.hub``
cache, as DaS loads it). The studio and the CLI fetch the same models on first use unless they
run ``--offline``; this command only does it up front. Offline machines: copy folders with the
same layout into ``checkpoints/`` instead (see ``checkpoints/README.md``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.checkpoints import (
    CHECKPOINTS_DIR,
    DAS_COMPONENTS,
    DAS_MODEL,
    DAS_OFFLINE_ENV,
    OFFLINE_ENV,
    ModelSpec,
    check_das_checkpoint,
    format_download_size,
    is_offline,
    offline_instructions,
)
from core.errors import CheckpointError, UserError
from trackers.depth import (
    DEPTH_ANYTHING_SMALL_APPROX_GB,
    DEPTH_PRO_APPROX_GB,
    ZOEDEPTH_APPROX_GB,
)
from trackers.points import COTRACKER3_APPROX_GB, COTRACKER_HUB_REPO

DEPTH_ANYTHING_LARGE_APPROX_GB = 1.3
"""Approximate download size of Depth Anything V2 Large (GB)."""

# Depth models load through `transformers` from `checkpoints/depth/<local_name>` (see
# docs/TRACKERS.md); the names here are the folder names trackers/depth_models.py looks for.
DEPTH_MODELS: dict[str, ModelSpec] = {
    "depth-anything-v2-small": ModelSpec(
        "depth-anything/Depth-Anything-V2-Small-hf",
        "depth/depth-anything-v2-small",
        "Depth Anything V2 Small (relative; the default for videos)",
        approx_gb=DEPTH_ANYTHING_SMALL_APPROX_GB,
    ),
    "depth-anything-v2-large": ModelSpec(
        "depth-anything/Depth-Anything-V2-Large-hf",
        "depth/depth-anything-v2-large",
        "Depth Anything V2 Large (relative)",
        approx_gb=DEPTH_ANYTHING_LARGE_APPROX_GB,
    ),
    "depth-pro": ModelSpec(
        "apple/DepthPro-hf",
        "depth/depth-pro",
        "Depth Pro (metric depth + field of view; the default for stills)",
        approx_gb=DEPTH_PRO_APPROX_GB,
    ),
    "zoedepth": ModelSpec(
        "Intel/zoedepth-nyu-kitti", "depth/zoedepth", "ZoeDepth NYU+KITTI (metric)", approx_gb=ZOEDEPTH_APPROX_GB
    ),
}
DEFAULT_DEPTH_MODELS = ("depth-pro", "depth-anything-v2-small")
"""What the ``depth`` group fetches: the stills default and the videos default."""

MODEL_GROUPS = ("das", "depth", "tracker")
"""What ``--models`` chooses from; no ``--models`` (or ``--all``) means all of them."""


class DownloadError(RuntimeError):
    """A download could not be done; the message says what to do instead."""


def download(model: ModelSpec, checkpoints_dir: Path = CHECKPOINTS_DIR, *, token: str | None = None) -> Path:
    """Download ``model`` from the Hub into ``checkpoints_dir / model.local_name``.

    Resumable (files already there are skipped) and shows tqdm progress. Raises
    :class:`DownloadError` with offline instructions when the Hub cannot be reached.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    dest = Path(checkpoints_dir) / model.local_name
    if is_offline():
        raise DownloadError(
            f"{DAS_OFFLINE_ENV} or {OFFLINE_ENV} is set, so nothing can be downloaded.\n" + offline_instructions(model, dest)
        )
    dest.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(
            model.hub_id,
            local_dir=dest,
            token=token,
            allow_patterns=list(model.allow_patterns) if model.allow_patterns else None,
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as error:
        raise DownloadError(f"{error}\n\n" + offline_instructions(model, dest)) from error
    return dest


def verify_das_checkpoint(path: Path) -> str:
    """Check a DaS checkpoint folder's layout; return a one-line OK summary or raise.

    Raises ``core.errors.CheckpointError`` naming every missing part.
    """
    check_das_checkpoint(path)
    return f"OK: {path} has {', '.join(DAS_COMPONENTS)} and model_index.json"


def fetch_tracker() -> str:
    """Fetch CoTracker3 into the ``torch.hub`` cache (imports torch); returns where it is.

    Raises:
        DownloadError: torch missing, offline, or the download failed.
    """
    from trackers.points import prefetch_cotracker

    try:
        return prefetch_cotracker()
    except (UserError, OSError, RuntimeError) as error:
        raise DownloadError(f"CoTracker3 could not be fetched ({type(error).__name__}: {error})") from error


def _parse_groups(text: str) -> list[str]:
    groups = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [group for group in groups if group not in MODEL_GROUPS]
    if unknown or not groups:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(MODEL_GROUPS)} (comma-separated), got {text!r}")
    return groups


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.download", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints-dir", type=Path, default=CHECKPOINTS_DIR, help="where models are stored")
    parser.add_argument("--all", action="store_true", help="every default model (what no selection means too)")
    parser.add_argument("--models", type=_parse_groups, default=None, metavar="GROUPS",
                        help=f"comma-separated groups to fetch: {', '.join(MODEL_GROUPS)} (default: all)")
    parser.add_argument("--skip-das", action="store_true", help="do not fetch the DaS checkpoint")
    parser.add_argument("--depth", choices=sorted(DEPTH_MODELS), action="append", default=[],
                        help="fetch this depth model (alone with --skip-das, else besides the DaS checkpoint)")
    parser.add_argument("--offline", action="store_true", help="refused: this command only downloads")
    parser.add_argument("--token", default=None, help="Hugging Face token for private mirrors (or set HF_TOKEN)")
    parser.add_argument("--list", action="store_true", help="list what can be downloaded and exit")
    parser.add_argument("--verify", type=Path, default=None, metavar="DIR", help="only verify a DaS checkpoint folder")
    return parser


def _selected(args: argparse.Namespace) -> tuple[list[ModelSpec], bool]:
    """The Hub models to fetch into ``checkpoints/`` and whether to fetch the tracker."""
    if args.models is not None:
        groups = set(args.models)
    elif args.depth and not args.all:
        groups = {"das"}  # `--depth NAME` adds one model to the DaS checkpoint
    else:
        groups = set(MODEL_GROUPS)
    if args.skip_das:
        groups.discard("das")
    names = list(DEFAULT_DEPTH_MODELS) if "depth" in groups else []
    names += [name for name in args.depth if name not in names]
    models = ([DAS_MODEL] if "das" in groups else []) + [DEPTH_MODELS[name] for name in names]
    return models, "tracker" in groups


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.list:
        print(f"{DAS_MODEL.hub_id:45s} -> {args.checkpoints_dir / DAS_MODEL.local_name}  (das: {DAS_MODEL.description})")
        for name, model in DEPTH_MODELS.items():
            group = "depth, " if name in DEFAULT_DEPTH_MODELS else ""
            size = format_download_size(model.approx_gb)
            where = args.checkpoints_dir / model.local_name
            print(f"{model.hub_id:45s} -> {where}  ({group}--depth {name}: {model.description}, {size})")
        tracker_size = format_download_size(COTRACKER3_APPROX_GB)
        print(f"{COTRACKER_HUB_REPO + ' (torch.hub)':45s} -> the torch.hub cache  (tracker: CoTracker3, {tracker_size})")
        return 0
    if args.verify is not None:
        try:
            print(verify_das_checkpoint(args.verify))
        except CheckpointError as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    if args.offline:
        print(
            "--offline forbids downloads, and this command only downloads. Drop --offline (and unset "
            f"{DAS_OFFLINE_ENV} / {OFFLINE_ENV}) on a machine that is online, or copy the folders into "
            "checkpoints/ by hand (see checkpoints/README.md).",
            file=sys.stderr,
        )
        return 2

    models, with_tracker = _selected(args)
    if not models and not with_tracker:
        print("Nothing to download (choose --models GROUPS or --depth NAME, or drop --skip-das).", file=sys.stderr)
        return 2
    for model in models:
        print(f"Downloading {model.hub_id} ({model.description}, {format_download_size(model.approx_gb)}, approximate) ...")
        try:
            dest = download(model, args.checkpoints_dir, token=args.token)
        except DownloadError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"  -> {dest}")
        if model is DAS_MODEL:
            print("  " + verify_das_checkpoint(dest))
    if with_tracker:
        size = format_download_size(COTRACKER3_APPROX_GB)
        print(f"Fetching CoTracker3 ({COTRACKER_HUB_REPO} through torch.hub, {size}, approximate) ...")
        try:
            print(f"  -> {fetch_tracker()}")
        except DownloadError as error:
            print(error, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
