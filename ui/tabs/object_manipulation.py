"""Object Manipulation: paint an object, move it in 3D (SPEC §7, §9)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from core.object_motion import OBJECT_MOTIONS
from ui.handlers import builds, camera, camera_modes, inputs, visibility
from ui.handlers.camera_modes import CameraModeControl, MotionForMode
from ui.handlers.inputs import SOURCE_IMAGE, SOURCE_MODES, SOURCE_VIDEO
from ui.handlers.outputs import gradio_values
from ui.handlers.visibility import SourceVisibility
from ui.studio import Studio
from ui.tabs.assets import asset
from ui.tabs.common import (
    UPLOAD_IMAGE_MODE,
    advanced_settings,
    camera_motion_field,
    preview_section,
    result_section,
    tab_examples,
    tracking_settings,
    wire_tab,
)
from ui.tabs.widgets import ImageFile, MaskEditor, RawNumber

KEY = "object_manipulation"
TITLE = "Object Manipulation"

INTRO = (
    "Select an **object** by painting over it on the first frame (or upload a mask: white = object), choose "
    "how it moves, and optionally move the camera too."
)
MASK_COLOR = ("#ff3b30", 0.75)
BRUSH_WIDTH_FRACTION = 0.04
"""Default stroke width as a fraction of the frame width (≈ 29 px at 720): fine enough to follow
an object's outline, at any working size (Gradio's "auto" brush is a fixed 25 px radius)."""
AMOUNT_HELP = (
    "up / down / left / right: fraction of the frame width (0.25 = a quarter of the picture) · "
    "front / back: fraction of the object's distance · rot: degrees of turn"
)


def build_tab(studio: Studio, status: gr.Markdown) -> dict[str, Any]:
    with gr.Tab(TITLE, id=KEY, elem_id=f"tab-{KEY}"):
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=5):
                gr.Markdown("### 1 · Inputs", elem_classes=["stage-title"])
                # Examples first, where a 1000 px tall window shows them; filled in below, once the inputs
                # they set exist.
                examples_slot = gr.Column()
                source_mode = gr.Radio(list(SOURCE_MODES), value=SOURCE_IMAGE, label="Start from")
                image = ImageFile(type="filepath", image_mode=UPLOAD_IMAGE_MODE, label="Source image", elem_id=f"{KEY}-image", height=240,
                                 sources=["upload", "clipboard"])
                video = gr.Video(label="Source video", sources=["upload"], visible=False, elem_id=f"{KEY}-video", height=240)
                _, _, width = studio.working_size()
                brush_radius_px = max(1, round(width * BRUSH_WIDTH_FRACTION / 2))  # Gradio sizes are radii
                mask_editor = MaskEditor(
                    type="filepath", image_mode="RGBA", label="Paint the object (first frame)",
                    brush=gr.Brush(colors=[MASK_COLOR], default_color=MASK_COLOR, color_mode="fixed",
                                   default_size=brush_radius_px),
                    eraser=gr.Eraser(default_size=2 * brush_radius_px), layers=False, transforms=(),
                    sources=(), height=300, elem_id=f"{KEY}-mask-editor",
                    placeholder="The first frame appears here once a source is loaded",
                )
                mask_upload = ImageFile(
                    type="filepath", label="…or upload a mask (white = object)", image_mode=UPLOAD_IMAGE_MODE, height=160,
                    sources=["upload", "clipboard"], elem_id=f"{KEY}-mask-upload",
                )
                with gr.Row():
                    motion = gr.Dropdown(list(OBJECT_MOTIONS), value="right", label="Object motion", elem_id=f"{KEY}-motion")
                    amount = RawNumber(0.25, label="Amount", info=AMOUNT_HELP, elem_id=f"{KEY}-amount")
                camera_mode = gr.Radio(
                    camera_modes.CAMERA_MODE_CHOICES, value=camera_modes.CAMERA_APPEND, label="Camera mode (video)",
                    info=camera_modes.CAMERA_MODE_INFO, visible=False, elem_id=f"{KEY}-camera-mode",
                )
                camera_motion, camera_message = camera_motion_field(
                    studio, "Camera motion on top (optional)", elem_id=f"{KEY}-camera-motion"
                )
                prompt = gr.Textbox(
                    label="Prompt", lines=3, elem_id=f"{KEY}-prompt",
                    placeholder="Describe the video, e.g. 'a red ball rolling to the right on a meadow'",
                )
                build = gr.Button("Build tracking video", variant="primary", elem_id=f"{KEY}-build")
                with examples_slot:
                    examples = tab_examples(
                        KEY,
                        {
                            "Ball photo · move right": [SOURCE_IMAGE, asset("ball_scene.jpg"), None, asset("ball_mask.png"), "right", 0.3,
                                                        "", "a red ball rolling to the right across a green meadow"],
                            "Ball photo · towards the camera + dolly out": [
                                SOURCE_IMAGE, asset("ball_scene.jpg"), None, asset("ball_mask.png"), "front", 0.4, "trans 0 0 0.2",
                                "a red ball bouncing towards the camera on a meadow",
                            ],
                            "Ball video · float up": [SOURCE_VIDEO, None, asset("ball_video.mp4"), asset("ball_mask.png"), "up", 0.2, "",
                                                      "a red ball floating up into the sky"],
                        },
                        file_columns=(1, 2, 3),
                        inputs=[source_mode, image, video, mask_upload, motion, amount, camera_motion, prompt],
                    )
                tracking = tracking_settings(studio, uses_video=True)
                advanced = advanced_settings(studio, KEY)
            with gr.Column(scale=7):
                preview = preview_section(KEY)
                result = result_section(KEY)
        # An example also resets each input's visibility to its constructor's; and when the mode
        # does not change, no .change fires: apply the mode's visibility after every example.
        for trigger in (source_mode.change, examples.load_input_event.then):
            trigger(gradio_values(visibility.source_visibility), inputs=[source_mode],
                    outputs=SourceVisibility.components(image=image, video=video),
                    api_visibility="private", queue=False)
        for trigger in (source_mode.change, examples.load_input_event.then):
            trigger(gradio_values(camera_modes.camera_mode_control), inputs=[source_mode],
                    outputs=CameraModeControl.components(camera_mode=camera_mode), api_visibility="private", queue=False)
        gr.on([source_mode.change, camera_mode.change], gradio_values(camera_modes.motion_for_mode),
              inputs=[source_mode, camera_mode], outputs=MotionForMode.components(camera_motion=camera_motion),
              api_visibility="private", queue=False)
        # One event for all its triggers (an example changes three at once): always_last then
        # loads the editor's background once, instead of racing copies of the same image.
        gr.on(
            [source_mode.change, image.change, video.change, advanced.resize_mode.change, tracking.start_s.change,
             mask_upload.change],
            studio.handler(inputs.mask_editor_frame),
            inputs=[source_mode, image, video, advanced.resize_mode, tracking.start_s, mask_upload],
            outputs=[mask_editor], api_visibility="private", show_progress="hidden", trigger_mode="always_last",
        )
        camera_motion.change(studio.handler(camera.camera_motion_error_text), inputs=[camera_motion], outputs=[camera_message],
                             api_visibility="private", show_progress="hidden", trigger_mode="always_last")
        events = wire_tab(
            studio,
            key=KEY,
            build_button=build,
            build_fn=builds.build_object_manipulation,
            build_inputs=[
                source_mode, image, video, mask_editor, mask_upload, motion, amount, camera_motion,
                advanced.resize_mode, advanced.first_frame, *tracking.inputs(), camera_mode,
            ],
            prompt=prompt,
            preview=preview,
            advanced=advanced,
            result=result,
            status=status,
        )
    return events
