"""Fetch model weights into ``checkpoints/`` — only ever when the user runs this command.

Usage::

    python -m core.download                       # the DaS checkpoint (~20 GB)
    python -m core.download --depth depth-anything-v2-small   # + a depth model
    python -m core.download --list                # what can be fetched and where it goes
    python -m core.download --verify checkpoints/Diffusion-As-Shader

Nothing in the app or the tests calls this module implicitly. Offline machines: copy a folder
with the same layout into ``checkpoints/`` instead (see ``checkpoints/README.md``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.checkpoints import (
    CHECKPOINTS_DIR,
    DAS_COMPONENTS,
    DAS_MODEL,
    ModelSpec,
    check_das_checkpoint,
    is_offline,
    offline_instructions,
)
from core.errors import CheckpointError

# Depth models load through `transformers` from `checkpoints/depth/<local_name>` (see
# docs/TRACKERS.md); the names here are the folder names trackers/depth.py looks for.
DEPTH_MODELS: dict[str, ModelSpec] = {
    "depth-anything-v2-small": ModelSpec(
        "depth-anything/Depth-Anything-V2-Small-hf", "depth/depth-anything-v2-small", "Depth Anything V2 Small (relative), ~100 MB"
    ),
    "depth-anything-v2-large": ModelSpec(
        "depth-anything/Depth-Anything-V2-Large-hf", "depth/depth-anything-v2-large", "Depth Anything V2 Large (relative), ~1.3 GB"
    ),
    "depth-pro": ModelSpec("apple/DepthPro-hf", "depth/depth-pro", "Depth Pro (metric depth + focal length), ~1.9 GB"),
    "zoedepth": ModelSpec("Intel/zoedepth-nyu-kitti", "depth/zoedepth", "ZoeDepth NYU+KITTI (metric), ~1.4 GB"),
}


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
        raise DownloadError("HF_HUB_OFFLINE is set, so nothing can be downloaded.\n" + offline_instructions(model, dest))
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


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.download", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints-dir", type=Path, default=CHECKPOINTS_DIR, help="where models are stored")
    parser.add_argument("--skip-das", action="store_true", help="do not fetch the DaS checkpoint")
    parser.add_argument("--depth", choices=sorted(DEPTH_MODELS), action="append", default=[], help="also fetch a depth model")
    parser.add_argument("--token", default=None, help="Hugging Face token for private mirrors (or set HF_TOKEN)")
    parser.add_argument("--list", action="store_true", help="list what can be downloaded and exit")
    parser.add_argument("--verify", type=Path, default=None, metavar="DIR", help="only verify a DaS checkpoint folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.list:
        print(f"{DAS_MODEL.hub_id:45s} -> {args.checkpoints_dir / DAS_MODEL.local_name}  ({DAS_MODEL.description})")
        for name, model in DEPTH_MODELS.items():
            print(f"{model.hub_id:45s} -> {args.checkpoints_dir / model.local_name}  (--depth {name}: {model.description})")
        return 0
    if args.verify is not None:
        try:
            print(verify_das_checkpoint(args.verify))
        except CheckpointError as error:
            print(error, file=sys.stderr)
            return 1
        return 0

    wanted = ([] if args.skip_das else [DAS_MODEL]) + [DEPTH_MODELS[name] for name in args.depth]
    if not wanted:
        print("Nothing to download (use --depth NAME or drop --skip-das).", file=sys.stderr)
        return 2
    for model in wanted:
        print(f"Downloading {model.hub_id} ({model.description}) ...")
        try:
            dest = download(model, args.checkpoints_dir, token=args.token)
        except DownloadError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"  -> {dest}")
        if model is DAS_MODEL:
            print("  " + verify_das_checkpoint(dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
