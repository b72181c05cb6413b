"""Mesh Animation: an animated mesh (or a tracking video rendered elsewhere) drives the video
(SPEC §9)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.handlers import builds, camera, visibility
from ui.handlers.builds import MESH_MODES, MESH_PROCEDURAL, MESH_SEQUENCE, MESH_TRACKING_VIDEO
from ui.handlers.outputs import gradio_values
from ui.handlers.visibility import MeshModeVisibility
from ui.studio import Studio
from ui.tabs.assets import asset
from ui.tabs.common import (
    UPLOAD_IMAGE_MODE,
    advanced_settings,
    camera_motion_field,
    preview_section,
    result_section,
    tab_examples,
    wire_tab,
)
from ui.tabs.widgets import ImageFile

KEY = "mesh_animation"
TITLE = "Mesh Animation"

INTRO = (
    "Animate with **3D meshes**: upload a sequence of meshes with one topology (a .zip of .obj/.ply/.glb "
    "files, one per frame), or one mesh with a procedural motion, plus a camera motion; both render here, "
    "without Blender. Skeletal and morph-target animations (glTF) are not played: export them as one mesh per "
    "frame. A tracking video rendered elsewhere (e.g. by Blender, as DaS did) works too, with its first frame."
)
MESH_TYPES = [".zip", ".obj", ".ply", ".glb", ".gltf", ".stl", ".off"]


def build_tab(studio: Studio, status: gr.Markdown) -> dict[str, Any]:
    motions = builds.procedural_motions()
    names = list(motions)
    default_motion = "turntable" if "turntable" in motions else names[0]
    with gr.Tab(TITLE, id=KEY, elem_id=f"tab-{KEY}"):
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=5):
                gr.Markdown("### 1 · Inputs", elem_classes=["stage-title"])
                # Examples first, where a 1000 px tall window shows them; filled in below, once the inputs
                # they set exist.
                examples_slot = gr.Column()
                mode = gr.Radio(list(MESH_MODES), value=MESH_SEQUENCE, label="Start from",
                                elem_id=f"{KEY}-mode")
                mesh_file = gr.File(label="Mesh sequence (.zip of per-frame meshes)", file_types=MESH_TYPES,
                                    elem_id=f"{KEY}-mesh-file", height=120)
                with gr.Group(visible=False) as procedural_group:
                    with gr.Row():
                        procedural = gr.Dropdown(names, value=default_motion, label="Procedural motion",
                                                 elem_id=f"{KEY}-procedural")
                        # Text, not a number box: a number box shows blank but sends 0, which
                        # would silently stop the motion; blank text reaches the build as blank.
                        amount = gr.Textbox("", label="Amount (blank = the motion's default)", elem_id=f"{KEY}-amount",
                                            placeholder="the motion's default")
                    with gr.Accordion("What each motion does", open=False):
                        gr.Markdown("\n".join(f"- **{name}**: {text}" for name, text in motions.items()))
                with gr.Group(visible=True) as camera_group:
                    camera_motion, camera_message = camera_motion_field(
                        studio, "Camera motion (optional)", elem_id=f"{KEY}-camera-motion"
                    )
                with gr.Group(visible=False) as tracking_group:
                    tracking_video = gr.Video(label="Tracking video rendered elsewhere", sources=["upload"],
                                              elem_id=f"{KEY}-tracking-video", height=200)
                    tracking_first_frame = ImageFile(type="filepath", image_mode=UPLOAD_IMAGE_MODE, label="First frame of that video", height=200,
                                                    sources=["upload", "clipboard"], elem_id=f"{KEY}-tracking-first-frame")
                prompt = gr.Textbox(
                    label="Prompt", lines=3, elem_id=f"{KEY}-prompt",
                    placeholder="Describe the video, e.g. 'a jelly creature bouncing on a wooden table'",
                )
                build = gr.Button("Build tracking video", variant="primary", elem_id=f"{KEY}-build")
                with examples_slot:
                    examples = tab_examples(
                        KEY,
                        {
                            "Bouncing blob (mesh sequence) · orbit": [
                                MESH_SEQUENCE, asset("bouncing_blob.zip"), default_motion, "", "orbit 20", None, None,
                                "a colourful jelly ball bouncing on a wooden table, studio light",
                            ],
                            "Toy house · turntable": [MESH_PROCEDURAL, asset("toy_house.ply"), "turntable", "180", "", None, None,
                                                      "a small toy house with a red roof turning on a table"],
                            "Tracking video from elsewhere": [
                                MESH_TRACKING_VIDEO, None, default_motion, "", "", asset("tracking_turntable.mp4"),
                                asset("tracking_turntable_first_frame.png"), "a wooden cabin with a red roof turning around",
                            ],
                        },
                        file_columns=(1, 5, 6),
                        inputs=[mode, mesh_file, procedural, amount, camera_motion, tracking_video, tracking_first_frame, prompt],
                    )
                advanced = advanced_settings(studio, KEY)
            with gr.Column(scale=7):
                preview = preview_section(KEY, show_source=False, first_frame_label="Rendered first frame")
                result = result_section(KEY)
        # After an example too: it resets visibility, and an unchanged mode fires no .change.
        for trigger in (mode.change, examples.load_input_event.then):
            trigger(gradio_values(visibility.mesh_mode_visibility), inputs=[mode],
                    outputs=MeshModeVisibility.components(
                        mesh_file=mesh_file, procedural=procedural_group, camera_motion=camera_group,
                        tracking_video=tracking_group, first_frame=preview.first_frame,
                    ),
                    api_visibility="private", queue=False)
        camera_motion.change(studio.handler(camera.camera_motion_error_text), inputs=[camera_motion], outputs=[camera_message],
                             api_visibility="private", show_progress="hidden", trigger_mode="always_last")
        events = wire_tab(
            studio,
            key=KEY,
            build_button=build,
            build_fn=builds.build_mesh_animation,
            build_inputs=[
                mode, mesh_file, procedural, amount, camera_motion, tracking_video, tracking_first_frame,
                advanced.resize_mode, advanced.first_frame,
            ],
            prompt=prompt,
            preview=preview,
            advanced=advanced,
            result=result,
            status=status,
        )
    return events
