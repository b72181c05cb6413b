"""Build the studio's ``gr.Blocks`` and the options to launch it with.

``webui.py`` parses the command line, calls :func:`build_app` and launches with
:func:`launch_options`. :func:`build_studio_app` builds the page of a :class:`ui.studio.Studio`
made beforehand (tests do that, then serve it on a free port with
:func:`ui.server.running_studio`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from core import __version__ as core_version
from core.defaults import NUM_INFERENCE_STEPS
from core.engine import EngineConfig, remove_stale_staging
from core.errors import UserError
from ui.status import studio_status
from ui.studio import Studio
from ui.tabs import camera_control, mesh_animation, motion_transfer, object_manipulation
from ui.tabs.assets import ASSETS_DIR
from ui.theme import CSS, HEAD, THEME

logger = logging.getLogger(__name__)

TITLE = "Diffusion as Shader studio"
STATUS_REFRESH_S = 3.0
"""How often the status line (model state, GPU queue) refreshes in an open page."""
UPLOAD_CACHE_CLEANUP = (3600, 6 * 3600)
"""Gradio's ``delete_cache`` (every hour, files older than 6 h): uploads and previews Gradio
copies to its cache (``$GRADIO_TEMP_DIR``, default ``/tmp/gradio``) are deleted, like the
studio's own preview folders (``ui.handlers.builds.PREVIEW_MAX_AGE_S``)."""
QUEUE_MAX_SIZE = 64
"""Requests beyond this many waiting are refused with a 'queue full' message instead of piling up."""
DEFAULT_CONCURRENCY_LIMIT = 4
"""Light events (validation, plots, loading a first frame) run this many at a time."""
TABS = (motion_transfer, camera_control, object_manipulation, mesh_animation)

HEADER = f"""# {TITLE}
3D-controlled video generation with **Diffusion as Shader** (CogVideoX-5B-I2V + a tracking branch).
Each tab turns your media into a *tracking video* — a coloured 3D point cloud rendered frame by frame —
then generates a video that follows it. Steps: **1 · inputs → 2 · Build tracking video → 3 · Generate**.
"""

_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 2**20, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class FileSizeError(UserError):
    """A ``--max-file-size`` that is not a positive size."""


def parse_size(text: str | int | float) -> int:
    """Bytes from ``"200MB"``, ``"1.5 GB"``, ``"500k"`` or a bare number of megabytes.

    Raises:
        FileSizeError: not a size.
    """
    if isinstance(text, (int, float)):
        if text <= 0:
            raise FileSizeError(f"a file size must be positive, got {text}")
        return int(text * 2**20)
    match = _SIZE_PATTERN.match(str(text))
    if not match:
        raise FileSizeError(f"not a file size: {text!r} (use e.g. 200MB or 1GB)")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    factor = _SIZE_UNITS[unit[:1]] if unit else _SIZE_UNITS[""]
    if number <= 0:
        raise FileSizeError(f"a file size must be positive, got {text!r}")
    return int(number * factor)


def build_app(
    engine_config: Optional[EngineConfig] = None,
    *,
    max_file_size: str | int | float | None = "200MB",
    default_steps: int = NUM_INFERENCE_STEPS,
    allow_download: bool = False,
    preload: bool = False,
    make_assets: bool = True,
) -> gr.Blocks:
    """Build the studio: a new :class:`Studio` with these settings, and its page.

    Args:
        engine_config: how the studio's engine loads the model (``None`` = defaults).
        max_file_size: largest accepted upload (``"200MB"``, a number of megabytes, ``None`` = no limit);
            also pass it to ``launch`` (see :func:`launch_options`) so Gradio refuses bigger
            uploads before they are stored.
        default_steps: the denoising-steps slider's start value.
        allow_download: let depth/repaint models download from the Hub on first use.
        preload: load the model now instead of on the first Generate.
        make_assets: create missing example files in ``assets/`` first.

    Returns:
        The ``gr.Blocks``, queued (GPU work shares one slot), not launched.

    Raises:
        EngineConfigError: an impossible engine setting (e.g. CUDA asked for but absent).
        FileSizeError: ``max_file_size`` is not a size.
        CheckpointError: with ``preload``, the model could not be loaded.
    """
    studio = Studio.create(
        engine_config,
        max_file_bytes=parse_size(max_file_size) if max_file_size else None,
        default_steps=int(default_steps),
        allow_download=bool(allow_download),
    )
    return build_studio_app(studio, preload=preload, make_assets=make_assets)


def build_studio_app(studio: Studio, *, preload: bool = False, make_assets: bool = True) -> gr.Blocks:
    """The page of ``studio``: its tabs, status line and queue (see :func:`build_app`)."""
    if make_assets:
        _ensure_assets()
    if preload:
        studio.engine.load()
    for leftover in remove_stale_staging(studio.engine.output_dir):
        logger.info("removed %s, left by a run killed while writing its result", leftover)

    status_line = studio.handler(studio_status)
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=UPLOAD_CACHE_CLEANUP) as demo:
        gr.Markdown(HEADER)
        status = gr.Markdown(status_line(), label="Status", elem_id="status-line")
        with gr.Tabs(elem_id="task-tabs"):
            for tab in TABS:
                tab.build_tab(studio, status)
        gr.Markdown(
            f"Diffusion as Shader studio v{core_version} · model: [Diffusion as Shader](https://github.com/IGL-HKUST/DiffusionAsShader) (CogVideoX-5B-I2V)",
            elem_id="version-footer",
        )
        timer = gr.Timer(STATUS_REFRESH_S)
        timer.tick(status_line, outputs=[status], api_visibility="private", queue=False, show_progress="hidden")
        demo.load(status_line, outputs=[status], api_name="status", queue=False, show_progress="hidden")
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=DEFAULT_CONCURRENCY_LIMIT)
    studio.watch_app(demo)
    return demo


def launch_options(
    *,
    host: str = "127.0.0.1",
    port: Optional[int] = None,
    share: bool = False,
    auth: Optional[list[tuple[str, str]]] = None,
    max_file_size: str | int | float | None = "200MB",
    output_dir: str | Path | None = None,
    quiet: bool = False,
    studio: Optional[Studio] = None,
) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch`` matching :func:`build_app`'s settings.

    ``output_dir`` is the engine's output folder (``None`` = ``EngineConfig``'s default). With
    ``studio``, its engine's output folder and its upload limit are used instead of
    ``output_dir`` and ``max_file_size``.
    """
    if studio is not None:
        results = studio.engine.output_dir
        max_file_bytes = studio.options.max_file_bytes
    else:
        results = Path(output_dir) if output_dir is not None else Path(EngineConfig().output_dir)
        max_file_bytes = parse_size(max_file_size) if max_file_size else None
    # Results live in the engine's output folder: Gradio serves files only from allowed places.
    allowed = [str(ASSETS_DIR), str(results.resolve())]
    return {
        "server_name": host,
        "server_port": port,
        "share": share,
        "auth": auth or None,
        "auth_message": "Sign in to the Diffusion as Shader studio." if auth else None,
        "max_file_size": max_file_bytes,
        "allowed_paths": allowed,
        "show_error": False,  # handlers raise gr.Error with friendly text; never show raw exceptions
        "theme": THEME,
        "css": CSS,
        "head": HEAD,
        "quiet": quiet,
        "footer_links": ["api", "settings"],
    }


def _ensure_assets() -> None:
    """Make missing example files (never fatal: examples are a convenience)."""
    import importlib.util

    script = ASSETS_DIR / "make_assets.py"
    if not script.is_file():
        return
    spec = importlib.util.spec_from_file_location("das_studio_make_assets", script)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        made = module.ensure_assets(ASSETS_DIR)
    except (ImportError, OSError, ValueError, RuntimeError) as error:
        logger.warning("could not make the example files: %s", error)
        return
    if made:
        logger.info("made example files: %s", ", ".join(made))
