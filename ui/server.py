"""Run the studio in a background thread on a free local port (tests, notebooks).

    with running_studio(EngineConfig(checkpoint=tiny)) as url:
        ...  # a browser or gradio_client talks to url
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from core.engine import EngineConfig
from ui.app import build_app, launch_options

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_studio(
    engine_config: Optional[EngineConfig] = None, *, port: Optional[int] = None, **build_kwargs: Any
) -> Iterator[str]:
    """Build and serve the studio on ``127.0.0.1``; yields its URL and closes it afterwards."""
    demo = build_app(engine_config, **build_kwargs)
    options = launch_options(host=LOOPBACK, port=port or free_port(), quiet=True,
                             max_file_size=build_kwargs.get("max_file_size", "200MB"))
    _, url, _ = demo.launch(prevent_thread_lock=True, **options)
    try:
        yield url.rstrip("/")
    finally:
        demo.close()
