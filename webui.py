"""Diffusion as Shader studio: ``python webui.py [--port 7860] [--checkpoint PATH] ...``.

Parses the command line, builds the app (``ui.app.build_app``) and launches it. Everything
else lives in ``ui/`` (the interface) and ``core/`` (the model and the tasks).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from core.engine import OFFLOAD_MODES

CHECKPOINT_ENV_VAR = "DAS_CHECKPOINT"
"""Where a Hugging Face Space (which cannot pass flags) names its checkpoint."""


def read_auth(value: Optional[str]) -> Optional[list[tuple[str, str]]]:
    """``USER:PASS``, or a file with one ``USER:PASS`` per line (blank lines and ``#`` comments skipped).

    Raises:
        ValueError: a credential without ``:`` or with an empty user name or password.
    """
    if not value:
        return None
    path = Path(value).expanduser()
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [value]
    credentials = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, separator, password = line.partition(":")
        if not separator or not user or not password:
            where = f"{path}, line {number}" if path.is_file() else "--auth"
            raise ValueError(f"{where}: expected USER:PASS")
        credentials.append((user, password))
    if not credentials:
        raise ValueError(f"{path}: no USER:PASS line found")
    return credentials


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Diffusion as Shader studio (Gradio web UI).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default: 7860)")
    parser.add_argument("--share", action="store_true", help="also serve through a temporary public gradio.live link")
    parser.add_argument("--auth", metavar="USER:PASS|FILE", help="require a login: USER:PASS or a file of such lines")
    parser.add_argument("--checkpoint", default=os.environ.get(CHECKPOINT_ENV_VAR) or None,
                        help=f"DaS checkpoint folder or Hub id (default: ${CHECKPOINT_ENV_VAR}, else "
                             "checkpoints/Diffusion-As-Shader, else the Hub id EXCAI/Diffusion-As-Shader)")
    parser.add_argument("--device", help="cuda, cuda:N or cpu (default: CUDA when available)")
    parser.add_argument("--offload", choices=OFFLOAD_MODES, default="none",
                        help="GPU memory mode: none, model, sequential or group CPU offload")
    parser.add_argument("--max-file-size", default="200MB", help="largest accepted upload, e.g. 200MB or 1GB")
    parser.add_argument("--output-dir", default="outputs", help="where generated videos are saved")
    parser.add_argument("--preload", action="store_true", help="load the model at start instead of on first use")
    parser.add_argument("--download-models", action="store_true",
                        help="let depth and repaint models download from the Hugging Face Hub on first use")
    parser.add_argument("--default-steps", type=int, default=50, help="start value of the denoising-steps slider")
    args = parser.parse_args(argv)
    try:
        args.auth = read_auth(args.auth)
    except (OSError, ValueError) as error:
        parser.error(f"--auth: {error}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from core.engine import EngineConfig
    from ui.app import build_app, launch_options
    from ui.server import port_is_taken, port_taken_message

    if args.port and port_is_taken(args.host, args.port):  # say so before loading anything
        sys.exit(f"error: {port_taken_message(args.host, args.port)}")
    try:
        config = EngineConfig(checkpoint=args.checkpoint, device=args.device, offload=args.offload,
                              output_dir=args.output_dir)
        demo = build_app(config, max_file_size=args.max_file_size, default_steps=args.default_steps,
                         allow_download=args.download_models, preload=args.preload)
    except ValueError as error:  # EngineConfigError, CheckpointError, a bad size: a message, not a traceback
        sys.exit(f"error: {error}")
    try:
        demo.launch(**launch_options(host=args.host, port=args.port, share=args.share, auth=args.auth,
                                     max_file_size=args.max_file_size, output_dir=args.output_dir))
    except OSError as error:  # the port was taken between the check and the launch
        sys.exit(f"error: {port_taken_message(args.host, args.port)} ({error})")


if __name__ == "__main__":
    main()
