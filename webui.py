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

from core.checkpoints import downloads_allowed
from core.defaults import NUM_INFERENCE_STEPS
from core.engine import OFFLOAD_MODES, EngineConfig
from core.errors import UserError

CHECKPOINT_ENV_VAR = "DAS_CHECKPOINT"
"""Where a Hugging Face Space (which cannot pass flags) names its checkpoint."""

logger = logging.getLogger("webui")


class CredentialsError(UserError):
    """An ``--auth`` value or file that holds no usable ``USER:PASS``."""


def read_auth(value: Optional[str]) -> Optional[list[tuple[str, str]]]:
    """``USER:PASS``, or a file with one ``USER:PASS`` per line (blank lines and ``#`` comments skipped).

    Raises:
        CredentialsError: a credential without ``:`` or with an empty user name or password.
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
            raise CredentialsError(f"{where}: expected USER:PASS")
        credentials.append((user, password))
    if not credentials:
        raise CredentialsError(f"{path}: no USER:PASS line found")
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
    parser.add_argument("--quantize", choices=("none", "int8", "fp8"), default="none",
                        help="weight-only quantisation of the transformer and T5 (fp8 needs an Ada/Hopper GPU)")
    parser.add_argument("--step-cache", type=float, default=None, metavar="THRESHOLD",
                        help="reuse the transformer's residual on quiet steps (0.1-0.3 typical; 0 skips nothing)")
    parser.add_argument("--attention-backend", default=None, metavar="NAME",
                        help="diffusers attention backend: native, flash, sage, ... (default: PyTorch SDPA)")
    parser.add_argument("--parallel", type=int, default=1, metavar="N",
                        help="split each video over N GPUs (sequence parallelism): starts N processes, "
                             "process 0 serves the studio; offload none or model")
    parser.add_argument("--max-file-size", default="200MB", help="largest accepted upload, e.g. 200MB or 1GB")
    parser.add_argument("--output-dir", default="outputs", help="where generated videos are saved")
    parser.add_argument("--preload", action="store_true", help="load the model at start instead of on first use")
    parser.add_argument("--offline", action="store_true",
                        help="never download: use only models on this machine (same as DAS_OFFLINE=1 or "
                             "HF_HUB_OFFLINE=1); by default the DaS checkpoint, depth models and CoTracker3 "
                             "download on first use")
    parser.add_argument("--download-models", action="store_true",
                        help="accepted and ignored: missing models download on first use unless --offline")
    parser.add_argument("--default-steps", type=int, default=NUM_INFERENCE_STEPS,
                        help=f"start value of the denoising-steps slider (default: {NUM_INFERENCE_STEPS})")
    args = parser.parse_args(argv)
    try:
        args.auth = read_auth(args.auth)
    except (OSError, CredentialsError) as error:
        parser.error(f"--auth: {error}")
    return args


def engine_config(args: argparse.Namespace) -> EngineConfig:
    """The engine options of the command line (raises EngineConfigError for unusable ones)."""
    return EngineConfig(checkpoint=args.checkpoint, device=args.device, offload=args.offload,
                        output_dir=args.output_dir, quantize=args.quantize,
                        step_cache_threshold=args.step_cache, attention_backend=args.attention_backend,
                        allow_download=downloads_allowed(args.offline), parallel=args.parallel)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Gradio is imported only to run the studio, so `--help` and argument errors stay quick.
    from ui.app import parse_size
    from ui.server import port_is_taken, port_taken_message

    if args.port and port_is_taken(args.host, args.port):  # say so before loading anything
        sys.exit(f"error: {port_taken_message(args.host, args.port)}")
    try:
        parse_size(args.max_file_size)
    except UserError as error:  # parse_size's own refusal of the text (FileSizeError)
        sys.exit(f"error: --max-file-size: {error}")
    try:
        config = engine_config(args)
    except UserError as error:  # EngineConfigError: a message, not a traceback
        sys.exit(f"error: {error}")
    if config.parallel == 1:
        serve(args, config)
        return
    from core.acceleration import parallel
    from core.engine import Engine

    if parallel.launched_world_size() == 1:
        sys.exit(parallel.launch(config.parallel, parallel.relaunch_command(__file__, sys.argv[1:] if argv is None else argv)))
    parallel.run_as_group(config.parallel, config.device, lead=lambda: serve(args, config), make_engine=lambda: Engine(config))


def serve(args: argparse.Namespace, config: EngineConfig) -> None:
    """Build the studio and serve it until it is closed."""
    from ui.app import build_app, launch_options
    from ui.server import port_taken_message

    allow_download = config.allow_download
    logger.info("downloads: %s", "missing models download on first use (--offline forbids it)" if allow_download
                else "off (offline): only models on this machine are used")
    try:
        demo = build_app(config, max_file_size=args.max_file_size, default_steps=args.default_steps,
                         allow_download=allow_download, preload=args.preload)
    except UserError as error:  # EngineConfigError, CheckpointError, ...: a message, not a traceback
        sys.exit(f"error: {error}")
    except Exception as error:  # noqa: BLE001 - the start-up boundary: anything else is a bug
        logger.exception("the studio could not be built")
        sys.exit(f"error: the studio could not start ({type(error).__name__}); the traceback is in the log above")
    try:
        demo.launch(**launch_options(host=args.host, port=args.port, share=args.share, auth=args.auth,
                                     max_file_size=args.max_file_size, output_dir=args.output_dir))
    except OSError as error:  # the port was taken between the check and the launch
        sys.exit(f"error: {port_taken_message(args.host, args.port)} ({error})")


if __name__ == "__main__":
    main()
