"""Which widgets a selector shows: the source (image or video), the mesh input and the step
builder's fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ui.handlers.builds import MESH_PROCEDURAL, MESH_SEQUENCE, MESH_TRACKING_VIDEO
from ui.handlers.camera import BUILDER_ORBIT, BUILDER_ROTATION, BUILDER_SPIRAL, BUILDER_TRANSLATION
from ui.handlers.inputs import SOURCE_IMAGE, SOURCE_VIDEO
from ui.handlers.outputs import NamedOutputs

MESH_FIRST_FRAME_LABELS = {
    MESH_SEQUENCE: "Rendered first frame",
    MESH_PROCEDURAL: "Rendered first frame",
    MESH_TRACKING_VIDEO: "First frame (uploaded)",
}
"""The preview's first-frame label per mesh input: only meshes are rendered here."""
ROTATION_AXIS_CHOICES = ["x", "y", "z"]
ORBIT_AXIS_CHOICES = ["x", "y"]
DEFAULT_AXIS = "y"


@dataclass(frozen=True)
class SourceVisibility(NamedOutputs):
    image: Any
    video: Any


@dataclass(frozen=True)
class MeshModeVisibility(NamedOutputs):
    mesh_file: Any
    procedural: Any
    camera_motion: Any
    tracking_video: Any
    first_frame: Any


@dataclass(frozen=True)
class BuilderVisibility(NamedOutputs):
    translation: Any
    axis: Any
    degrees: Any
    radius: Any


def source_visibility(source_mode: str) -> SourceVisibility:
    """Show the image or the video input, following the source selector."""
    return SourceVisibility(
        image=gr.update(visible=source_mode == SOURCE_IMAGE), video=gr.update(visible=source_mode == SOURCE_VIDEO)
    )


def mesh_mode_visibility(mode: str) -> MeshModeVisibility:
    """The mesh file (relabelled for a sequence), the procedural group, the camera-motion group,
    the tracking-video group and the preview's first-frame label, following the mesh input selector."""
    uses_mesh = mode in (MESH_SEQUENCE, MESH_PROCEDURAL)
    return MeshModeVisibility(
        mesh_file=gr.update(
            visible=uses_mesh, label="Mesh sequence (.zip of per-frame meshes)" if mode == MESH_SEQUENCE else "Mesh file"
        ),
        procedural=gr.update(visible=mode == MESH_PROCEDURAL),
        camera_motion=gr.update(visible=uses_mesh),
        tracking_video=gr.update(visible=mode == MESH_TRACKING_VIDEO),
        first_frame=gr.update(label=MESH_FIRST_FRAME_LABELS.get(mode, "First frame")),
    )


def builder_visibility(kind: str) -> BuilderVisibility:
    """Show only the builder fields the chosen step kind uses."""
    rotates = kind in (BUILDER_ROTATION, BUILDER_ORBIT)
    return BuilderVisibility(
        translation=gr.update(visible=kind == BUILDER_TRANSLATION),
        axis=gr.update(
            visible=rotates, choices=ORBIT_AXIS_CHOICES if kind == BUILDER_ORBIT else ROTATION_AXIS_CHOICES,
            value=DEFAULT_AXIS,
        ),
        degrees=gr.update(visible=rotates),
        radius=gr.update(visible=kind == BUILDER_SPIRAL),
    )
