"""Camera Control: move a virtual camera through a photo or a video (SPEC §6, §9)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.handlers import builds, camera, camera_modes, visibility
from ui.handlers.camera_modes import CameraControlSourceControls, MotionForMode
from ui.handlers.inputs import SOURCE_IMAGE, SOURCE_MODES, SOURCE_VIDEO
from ui.handlers.visibility import BuilderVisibility, SourceVisibility
from ui.studio import Studio
from ui.handlers.outputs import gradio_values
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
from ui.tabs.widgets import ImageFile

KEY = "camera_control"
TITLE = "Camera Control"

INTRO = (
    "Move a virtual camera through a **photo** (depth → 3D point cloud; or copy a video's camera onto it) or a "
    "**video** (its tracks: the motion added on top, replacing its own camera, or a stabilised camera). Pick a preset, compose steps with the builder, or type a motion string; the path "
    "is checked and plotted as you type."
)
DEFAULT_MOTION = "orbit 20"


def preset_buttons(motion: gr.Textbox) -> None:
    """One small button per preset of ``core.camera.CAMERA_PRESETS``; a click replaces the string."""
    from core.camera import CAMERA_PRESETS

    with gr.Row(elem_classes=["preset-row"]):
        for name in CAMERA_PRESETS:
            button = gr.Button(name, size="sm", min_width=0, elem_id=f"preset-{name.split(' (')[0].replace(' ', '-')}")
            button.click(camera.camera_preset, inputs=[button], outputs=[motion], api_visibility="private", queue=False)


def step_builder(studio: Studio, motion: gr.Textbox) -> None:
    """Translation / rotation / orbit / spiral steps with frame ranges: Add, Undo, Clear."""
    num_frames, _, _ = studio.working_size()
    last = max(num_frames - 1, 0)
    with gr.Accordion("Step builder", open=False, elem_id=f"{KEY}-builder"):
        kind = gr.Radio(list(camera.BUILDER_KINDS), value=camera.BUILDER_TRANSLATION, label="Step")
        with gr.Row(visible=True) as translation:
            dx = gr.Number(0.0, step=0.05, label="dx (> 0: camera moves left)", min_width=90)
            dy = gr.Number(0.0, step=0.05, label="dy (> 0: camera moves up)", min_width=90)
            dz = gr.Number(-0.3, step=0.05, label="dz (< 0 = forward)", min_width=90)
        with gr.Row():
            axis = gr.Radio(visibility.ROTATION_AXIS_CHOICES, value=visibility.DEFAULT_AXIS, label="Axis", visible=False)
            degrees = gr.Number(15.0, label="Degrees", visible=False)
            radius = gr.Number(2.0, label="Spiral radius", visible=False)
        with gr.Row():
            start = gr.Slider(0, last, value=0, step=1, label="Start frame")
            end = gr.Slider(0, last, value=last, step=1, label="End frame")
        with gr.Row():
            add = gr.Button("Add step", size="sm", variant="primary", elem_id=f"{KEY}-builder-add")
            undo = gr.Button("Undo", size="sm", elem_id=f"{KEY}-builder-undo")
            clear = gr.Button("Clear", size="sm", elem_id=f"{KEY}-builder-clear")
    kind.change(
        gradio_values(visibility.builder_visibility), inputs=[kind],
        outputs=BuilderVisibility.components(translation=translation, axis=axis, degrees=degrees, radius=radius),
        api_visibility="private", queue=False,
    )
    # Queued (not queue=False): only queued events turn a gr.Error into a toast; the builder
    # refuses invalid steps with one.
    add.click(
        studio.handler(camera.builder_add), inputs=[motion, kind, dx, dy, dz, axis, degrees, radius, start, end], outputs=[motion],
        api_visibility="private", show_progress="hidden",
    )
    undo.click(camera.builder_undo, inputs=[motion], outputs=[motion], api_visibility="private", queue=False)
    clear.click(camera.builder_clear, outputs=[motion], api_visibility="private", queue=False)


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
                image = ImageFile(type="filepath", image_mode=UPLOAD_IMAGE_MODE, label="Source image", elem_id=f"{KEY}-image", height=260,
                                 sources=["upload", "clipboard"])
                video = gr.Video(label="Source video", sources=["upload"], visible=False, elem_id=f"{KEY}-video", height=260)
                camera_mode = gr.Radio(
                    camera_modes.CAMERA_MODE_CHOICES, value=camera_modes.CAMERA_APPEND, label="Camera mode (video)",
                    info=camera_modes.CAMERA_MODE_INFO, visible=False, elem_id=f"{KEY}-camera-mode",
                )
                with gr.Accordion("Copy a camera from a video", open=False, elem_id=f"{KEY}-copy") as copy_camera:
                    gr.Markdown(
                        "Upload a **reference video**: its camera path (estimated from the video) moves through the "
                        "photo instead, with its travel rescaled by the ratio of the two scenes' median depths. "
                        "The camera motion below is applied on top: clear it to copy the camera alone."
                    )
                    reference_video = gr.Video(label="Reference video (its camera is copied)", sources=["upload"],
                                               elem_id=f"{KEY}-reference-video", height=200)
                motion, message = camera_motion_field(studio, value=DEFAULT_MOTION, elem_id=f"{KEY}-motion")
                prompt = gr.Textbox(
                    label="Prompt", lines=3, elem_id=f"{KEY}-prompt",
                    placeholder="Describe the video to generate, e.g. 'a drone shot over green hills at sunset'",
                )
                build = gr.Button("Build tracking video", variant="primary", elem_id=f"{KEY}-build")
                with examples_slot:
                    examples = tab_examples(
                        KEY,
                        {
                            "Landscape photo · orbit": [SOURCE_IMAGE, asset("landscape.jpg"), None, "orbit 20",
                                                        "a cinematic aerial shot of green hills and blue mountains on a sunny day"],
                            "Cat photo · dolly in": [SOURCE_IMAGE, asset("cat.jpg"), None, "trans 0 0 -0.3",
                                                     "a tabby cat looking at the camera, soft light"],
                            "Video · pan left": [SOURCE_VIDEO, None, asset("moving_scene.mp4"), "rot y 10",
                                                 "a red ball rolling across a meadow, the camera pans left"],
                        },
                        file_columns=(1, 2),
                        inputs=[source_mode, image, video, motion, prompt],
                    )
                gr.Markdown("**Presets** (a click replaces the motion string)")
                preset_buttons(motion)
                step_builder(studio, motion)
                plot = gr.Plot(camera.camera_path_figure(studio, DEFAULT_MOTION), label="Camera path", show_label=False, elem_id=f"{KEY}-plot")
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
            trigger(gradio_values(camera_modes.camera_control_source_controls), inputs=[source_mode],
                    outputs=CameraControlSourceControls.components(camera_mode=camera_mode, reference=copy_camera),
                    api_visibility="private", queue=False)
        gr.on([source_mode.change, camera_mode.change], gradio_values(camera_modes.motion_for_mode),
              inputs=[source_mode, camera_mode], outputs=MotionForMode.components(camera_motion=motion),
              api_visibility="private", queue=False)
        motion.change(
            studio.handler(camera.check_camera_motion), inputs=[motion],
            outputs=camera.MotionCheck.components(message=message, plot=plot), api_name="check_camera_motion",
            show_progress="hidden", trigger_mode="always_last",
        )
        events = wire_tab(
            studio,
            key=KEY,
            build_button=build,
            build_fn=builds.build_camera_control,
            build_inputs=[
                source_mode, image, video, motion, advanced.resize_mode, advanced.first_frame, *tracking.inputs(),
                camera_mode, reference_video,
            ],
            prompt=prompt,
            preview=preview,
            advanced=advanced,
            result=result,
            status=status,
        )
    return events
