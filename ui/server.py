"""Run the studio in a background thread on a free local port (tests, notebooks).

    studio = Studio.create(EngineConfig(checkpoint=tiny))
    with running_studio(studio) as url:
        ...  # a browser or gradio_client talks to url
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

from ui.app import build_studio_app, launch_options
from ui.studio import Studio

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_taken(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port`` (so a launch there would fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def port_taken_message(host: str, port: int) -> str:
    """What to do when the studio's port is taken (another studio, or another program)."""
    return (
        f"port {port} on {host} is already in use (is another studio running? open http://{host}:{port}). "
        f"Stop that program, or start this one on another port: python webui.py --port {port + 1}"
    )


SERVER_POLL_S = 0.5


def wait_until_serving(url: str, process: subprocess.Popen, timeout_s: float) -> bool:
    """Wait until the studio ``process`` started (``python webui.py ...``) answers at ``url``.

    Returns False if the process exits or ``timeout_s`` passes first.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url + "/config", timeout=2):
                return True
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(SERVER_POLL_S)


@contextmanager
def running_studio(studio: Studio, *, port: Optional[int] = None, make_assets: bool = False) -> Iterator[str]:
    """Build and serve ``studio`` on ``127.0.0.1``; yields its URL and closes it afterwards."""
    demo = build_studio_app(studio, make_assets=make_assets)
    options = launch_options(host=LOOPBACK, port=port or free_port(), quiet=True, studio=studio)
    _, url, _ = demo.launch(prevent_thread_lock=True, **options)
    try:
        yield url.rstrip("/")
    finally:
        demo.close()
