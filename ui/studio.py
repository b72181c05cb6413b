"""The studio object: one running studio's options, engine, cancel registry and watched app.

Handlers receive the :class:`Studio` as their first argument (``studio.handler(fn)`` binds it
for Gradio), so nothing they read is process-wide: two studios in one process (a test and the
app, or two apps) never see each other's settings or jobs.
"""

from __future__ import annotations

import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Optional

from core.defaults import NUM_INFERENCE_STEPS
from core.engine import Engine, EngineConfig
from ui.handlers.outputs import for_gradio
from ui.session import BuildLedger, CancelRegistry

DEFAULT_MAX_FILE_BYTES = 200 * 2**20
"""Largest accepted upload unless the studio is told otherwise (200 MiB)."""
TRACKING_MODELS_TTL_S = 60.0
"""How long the status line trusts its look-up of the depth models and the tracker on disk: a
model put there by hand (or by ``python -m core download``) shows up within this time; one a
build downloads shows up at once (builds call :meth:`ExpiringCache.forget`)."""


def default_preview_root() -> Path:
    """Where preview files (tracking/source mp4, point cloud) go: a folder in the temp dir."""
    return Path(tempfile.gettempdir()) / "das-studio-previews"


@dataclass(frozen=True)
class StudioOptions:
    """Settings of a running studio that handlers need.

    Attributes:
        max_file_bytes: largest accepted upload (``None`` = no limit).
        preview_root: folder for the preview files of builds (old ones are pruned).
        allow_download: let depth, point-tracker and repaint models download on first use.
            ``python webui.py`` passes :func:`core.checkpoints.downloads_allowed` (on unless
            ``--offline``); the default here is False, so tests and the Python API never download.
        default_steps: the denoising-steps slider's start value, and the steps of a request
            that sends none.
    """

    max_file_bytes: Optional[int] = DEFAULT_MAX_FILE_BYTES
    preview_root: Path = field(default_factory=default_preview_root)
    allow_download: bool = False
    default_steps: int = NUM_INFERENCE_STEPS


class ExpiringCache:
    """Values computed on first use and kept for ``ttl_s`` seconds, or until :meth:`forget`.

    Thread-safe: every open page's status timer reads it from Gradio's worker threads.

    Args:
        ttl_s: seconds a value is kept.
        clock: monotonic seconds (a test passes its own).
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value kept for ``key``, or ``compute()`` (kept from now on) when there is none
        or it is older than ``ttl_s``."""
        with self._lock:
            kept = self._values.get(key)
            now = self._clock()
            if kept is not None and now - kept[0] < self.ttl_s:
                return kept[1]
            value = compute()
            self._values[key] = (now, value)
            return value

    def forget(self) -> None:
        """Drop every value: the next :meth:`get` computes afresh."""
        with self._lock:
            self._values.clear()


class Studio:
    """One studio: its options, its engine (the model, loaded on first use) and the registry of
    its running jobs (for the per-session Cancel).

    Args:
        engine: the engine that generates (``Studio.create`` makes one from an ``EngineConfig``).
        options: see :class:`StudioOptions`.
        cancels: the cancel registry (a fresh one by default).

    Attributes:
        builds: which session's tab has no valid tracking video after a failed or cancelled
            build (see :class:`ui.session.BuildLedger`).
        tracking_models: the status line's depth-model and tracker parts per download policy
            (:func:`ui.status.tracking_models_status`), shared by all sessions since the
            models on disk are; kept :data:`TRACKING_MODELS_TTL_S` and forgotten after each build.
    """

    def __init__(
        self, engine: Engine, options: Optional[StudioOptions] = None, cancels: Optional[CancelRegistry] = None
    ) -> None:
        self.engine = engine
        self.options = options or StudioOptions()
        self.cancels = cancels or CancelRegistry()
        self.builds = BuildLedger()
        self.tracking_models = ExpiringCache(TRACKING_MODELS_TTL_S)
        self._app: Optional[weakref.ReferenceType] = None

    @classmethod
    def create(cls, engine_config: Optional[EngineConfig] = None, **options: Any) -> "Studio":
        """A studio with a new engine for ``engine_config`` and the given :class:`StudioOptions`.

        Raises:
            EngineConfigError: an impossible engine setting (e.g. CUDA asked for but absent).
        """
        return cls(Engine(engine_config), StudioOptions(**options))

    def working_size(self) -> tuple[int, int, int]:
        """``(num_frames, height, width)`` of the engine's checkpoint (read from its config)."""
        return self.engine.native_size()

    def watch_app(self, blocks: Any) -> None:
        """Remember the app whose GPU queue the status line reports (``build_app`` calls this)."""
        self._app = weakref.ref(blocks)

    @property
    def app(self) -> Any:
        """The watched ``gr.Blocks`` (``None`` before :meth:`watch_app` or once it is gone)."""
        return self._app() if self._app is not None else None

    def handler(self, fn: Callable) -> Callable:
        """``fn(studio, ...)`` as a Gradio event function: this studio bound, named results
        turned into the outputs tuple (see :func:`ui.handlers.outputs.for_gradio`)."""
        return for_gradio(fn, self)
