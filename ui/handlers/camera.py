"""Camera motion in the studio: the as-you-type check, the path plot, presets and the step builder."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Optional

import gradio as gr
import numpy as np

from ui.errors import user_error
from ui.handlers.outputs import NamedOutputs
from ui.studio import Studio

BUILDER_TRANSLATION = "translation"
BUILDER_ROTATION = "rotation"
BUILDER_ORBIT = "orbit"
BUILDER_SPIRAL = "spiral"
BUILDER_KINDS = (BUILDER_TRANSLATION, BUILDER_ROTATION, BUILDER_ORBIT, BUILDER_SPIRAL)

PLOT_LOOK_DISTANCE = 0.25
"""Length of the view-direction ticks in the camera-path plot, in scene units."""
PLOT_TICKS = 8
"""How many view-direction ticks the camera-path plot draws along the path."""
SCENE_CENTRE = (0.0, 1.0)
"""Where the plot marks the scene: (x, z) = one scene unit (the median depth) ahead."""


@dataclass(frozen=True)
class MotionMessage:
    """The check of a motion string: a description, or (``valid`` false) the parser's error."""

    text: str
    valid: bool


@dataclass(frozen=True)
class MotionCheck(NamedOutputs):
    """What the motion check shows: the message and the plot (``gr.skip()`` keeps the last one)."""

    message: str
    plot: Any


def camera_motion_message(studio: Studio, text: Optional[str]) -> MotionMessage:
    """A description of a valid motion string followed by its warnings
    (:func:`core.camera.camera_motion_warnings`, each on a ``⚠`` line), or the parser's error
    (starting with ``❌``)."""
    from core.camera import CameraMotionError, camera_motion_warnings, describe_camera_motion

    num_frames, height, width = studio.working_size()
    try:
        description = describe_camera_motion(text or "", num_frames)
        warnings = camera_motion_warnings(text or "", num_frames, height=height, width=width)
        lines = [description] + [f"⚠ {html.escape(warning, quote=False)}" for warning in warnings]
        return MotionMessage("\n\n".join(lines), True)
    except CameraMotionError as error:
        # Markdown would take the grammar's placeholders (<dz>, <degrees>) for HTML tags.
        return MotionMessage(f"❌ {html.escape(str(error), quote=False)}", False)


def camera_path_figure(studio: Studio, text: Optional[str]):
    """A matplotlib figure of the camera path of a motion string: top view and 3D view.

    The geometry comes from :func:`core.camera.camera_view_path` (camera centres and view
    directions in frame-0 space, in units of the scene's median depth); short ticks run
    :data:`PLOT_LOOK_DISTANCE` along the view direction. Returns ``None`` for an invalid string.
    """
    from matplotlib.figure import Figure

    from core.camera import CameraMotionError, camera_view_path, parse_camera_motion

    num_frames, _, _ = studio.working_size()
    try:
        path = camera_view_path(parse_camera_motion(text or "", num_frames))
    except CameraMotionError:
        return None
    centres, looking = path.centres, path.look_points(PLOT_LOOK_DISTANCE)
    # Plot axes: x right, z forward (depth), and "up" = −y (OpenCV's y points down).
    x, z, up = centres[:, 0], centres[:, 2], -centres[:, 1]
    look_x, look_z, look_up = looking[:, 0], looking[:, 2], -looking[:, 1]
    ticks = np.unique(np.linspace(0, num_frames - 1, min(PLOT_TICKS, num_frames)).round().astype(int))
    scene_x, scene_z = SCENE_CENTRE

    figure = Figure(figsize=(7.5, 3.4), dpi=90, layout="constrained")
    top = figure.add_subplot(1, 2, 1)
    top.plot(x, z, "-", color="#4f46e5", lw=2, label="camera path")
    for t in ticks:
        top.plot([x[t], look_x[t]], [z[t], look_z[t]], "-", color="#f59e0b", lw=1)
    top.plot(x[0], z[0], "o", color="#16a34a", label="start")
    top.plot(x[-1], z[-1], "s", color="#dc2626", label="end")
    top.plot(scene_x, scene_z, "*", color="#111827", ms=10, label="scene (median depth)")
    top.set_title("camera path — top view")
    top.set_xlabel("x (right)")
    top.set_ylabel("z (forward)")
    top.set_aspect("equal", adjustable="datalim")
    top.grid(alpha=0.3)
    top.legend(fontsize=7, loc="best")

    view = figure.add_subplot(1, 2, 2, projection="3d")
    view.plot(x, z, up, "-", color="#4f46e5", lw=2)
    for t in ticks:
        view.plot([x[t], look_x[t]], [z[t], look_z[t]], [up[t], look_up[t]], "-", color="#f59e0b", lw=1)
    view.scatter([x[0]], [z[0]], [up[0]], color="#16a34a")
    view.scatter([x[-1]], [z[-1]], [up[-1]], color="#dc2626", marker="s")
    view.scatter([scene_x], [scene_z], [0], color="#111827", marker="*", s=60)
    view.set_title("camera path — 3D")
    view.set_xlabel("x")
    view.set_ylabel("z")
    view.set_zlabel("up")
    return figure


def check_camera_motion(studio: Studio, text: Optional[str]) -> MotionCheck:
    """Validate a motion string as it is typed: ``(message, plot)`` for the widgets.

    The message is the step-by-step description, or (starting with ``❌``) the parser's error
    naming the step and token; the plot is kept as it was while the string is invalid.
    """
    message = camera_motion_message(studio, text)
    return MotionCheck(message.text, camera_path_figure(studio, text) if message.valid else gr.skip())


def camera_motion_error_text(studio: Studio, text: Optional[str]) -> str:
    """Inline validation for the secondary motion fields (no plot)."""
    return camera_motion_message(studio, text).text


def camera_preset(name: str) -> str:
    """The motion string of a preset from :data:`core.camera.CAMERA_PRESETS`."""
    from core.camera import CAMERA_PRESETS

    if name not in CAMERA_PRESETS:
        raise user_error(f"Unknown camera preset {name!r}; choose one of: {', '.join(CAMERA_PRESETS)}.")
    return CAMERA_PRESETS[name]


# --------------------------------------------------------------------------------------------
# The step builder
# --------------------------------------------------------------------------------------------


def _number(value: Any, name: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise user_error(f"{name} is empty: enter a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise user_error(f"{name} must be a number, not {value!r}.") from None
    if not np.isfinite(number):
        raise user_error(f"{name} must be a finite number.")
    return number


def builder_step(
    kind: str, dx: Any, dy: Any, dz: Any, axis: str, degrees: Any, radius: Any, start: Any, end: Any
) -> str:
    """The motion-language text of one builder step, e.g. ``"rot y 15 0 24"``."""
    first, last = int(_number(start, "Start frame")), int(_number(end, "End frame"))
    frames = f"{first} {last}"
    if kind == BUILDER_TRANSLATION:
        values = (_number(dx, "dx"), _number(dy, "dy"), _number(dz, "dz"))
        return f"trans {values[0]:g} {values[1]:g} {values[2]:g} {frames}"
    if kind == BUILDER_ROTATION:
        return f"rot {axis} {_number(degrees, 'Degrees'):g} {frames}"
    if kind == BUILDER_ORBIT:
        return f"orbit {axis} {_number(degrees, 'Degrees'):g} {frames}"
    if kind == BUILDER_SPIRAL:
        return f"spiral {_number(radius, 'Radius'):g} {frames}"
    raise user_error(f"Unknown step kind {kind!r}; choose one of {', '.join(BUILDER_KINDS)}.")


def _steps_of(text: Optional[str]) -> list[str]:
    from core.camera import STEP_SEPARATOR

    return [step.strip() for step in (text or "").split(STEP_SEPARATOR) if step.strip()]


def builder_add(
    studio: Studio, text: Optional[str], kind: str, dx: Any, dy: Any, dz: Any, axis: str, degrees: Any, radius: Any,
    start: Any, end: Any,
) -> str:
    """Append the builder's step to the motion string (refused, with the reason, if invalid)."""
    from core.camera import CameraMotionError, parse_camera_motion

    step = builder_step(kind, dx, dy, dz, axis, degrees, radius, start, end)
    new_text = "; ".join(_steps_of(text) + [step])
    num_frames, _, _ = studio.working_size()
    try:
        parse_camera_motion(new_text, num_frames)
    except CameraMotionError as error:
        raise user_error(f"Not added: {error}", title="Invalid step") from error
    return new_text


def builder_undo(text: Optional[str]) -> str:
    """Remove the last step of the motion string."""
    return "; ".join(_steps_of(text)[:-1])


def builder_clear() -> str:
    """An empty motion string (a static camera)."""
    return ""
