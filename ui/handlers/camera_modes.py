"""The camera-mode and copy-a-camera controls of Camera Control and Object Manipulation: which
of them a source shows, and whether the camera-motion text applies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from core.options import CAMERA_APPEND, CAMERA_MODES, CAMERA_OVERRIDE, CAMERA_STABILISE
from ui.handlers.inputs import SOURCE_IMAGE, SOURCE_VIDEO
from ui.handlers.outputs import NamedOutputs

CAMERA_MODE_CHOICES = list(CAMERA_MODES)
CAMERA_MODE_HELP = {
    CAMERA_APPEND: "the camera motion is added on top of the video's own camera",
    CAMERA_OVERRIDE: "the video's own camera (estimated) is replaced by the camera motion",
    CAMERA_STABILISE: "the video's own camera (estimated) is held still; the camera motion is not used",
}
CAMERA_MODE_INFO = " · ".join(f"{mode}: {text}" for mode, text in CAMERA_MODE_HELP.items())
"""Shown under the radio."""
STABILISE_MOTION_INFO = "not used: camera mode 'stabilise' holds the camera still"


@dataclass(frozen=True)
class CameraControlSourceControls(NamedOutputs):
    """Camera Control: the camera-mode radio (video sources) and the copy-a-camera reference (photos)."""

    camera_mode: Any
    reference: Any


@dataclass(frozen=True)
class CameraModeControl(NamedOutputs):
    """Object Manipulation: the camera-mode radio (video sources)."""

    camera_mode: Any


@dataclass(frozen=True)
class MotionForMode(NamedOutputs):
    """The camera-motion text, greyed out for ``stabilise``."""

    camera_motion: Any


def camera_control_source_controls(source_mode: str) -> CameraControlSourceControls:
    """A video source shows the camera-mode radio; a photo shows the reference video whose
    camera it may copy."""
    return CameraControlSourceControls(
        camera_mode=gr.update(visible=source_mode == SOURCE_VIDEO),
        reference=gr.update(visible=source_mode == SOURCE_IMAGE),
    )


def camera_mode_control(source_mode: str) -> CameraModeControl:
    """The camera-mode radio shows for a video source only (a still has no camera of its own)."""
    return CameraModeControl(camera_mode=gr.update(visible=source_mode == SOURCE_VIDEO))


def motion_for_mode(source_mode: str, camera_mode: str) -> MotionForMode:
    """The camera-motion text is greyed out (and says why) for a stabilised video."""
    ignored = source_mode == SOURCE_VIDEO and camera_mode == CAMERA_STABILISE
    return MotionForMode(camera_motion=gr.update(interactive=not ignored, info=STABILISE_MOTION_INFO if ignored else None))


def effective_camera_mode(source_mode: str, camera_mode: Any) -> str:
    """The camera mode a build uses: the radio's for a video source, ``append`` for a photo
    (the radio is hidden then, and may still hold a video's choice)."""
    if source_mode != SOURCE_VIDEO or camera_mode in (None, ""):
        return CAMERA_APPEND
    return str(camera_mode)


def effective_camera_motion(source_mode: str, camera_mode: Any, camera_motion: Any) -> str:
    """The camera-motion text a build uses: none for a stabilised video (the text is greyed out
    and not used), else the text."""
    if effective_camera_mode(source_mode, camera_mode) == CAMERA_STABILISE:
        return ""
    return str(camera_motion or "")

