"""Motion Transfer: a source video's motion, a new look (SPEC §9)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.handlers import builds
from ui.studio import Studio
from ui.tabs.assets import asset
from ui.tabs.common import (
    advanced_settings,
    preview_section,
    result_section,
    tab_examples,
    tracking_settings,
    wire_tab,
)

KEY = "motion_transfer"
TITLE = "Motion Transfer"

INTRO = (
    "Keep the **motion** of a video, change its **look**: the video's points are tracked in 3D and drawn as "
    "a tracking video; the prompt (and optionally an edited first frame under *Advanced settings*) decide "
    "what the generated video shows."
)


def build_tab(studio: Studio, status: gr.Markdown) -> dict[str, Any]:
    with gr.Tab(TITLE, id=KEY, elem_id=f"tab-{KEY}"):
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=5):
                gr.Markdown("### 1 · Inputs", elem_classes=["stage-title"])
                # Examples first, as in every tab; filled in below, once the inputs they set exist.
                examples_slot = gr.Column()
                video = gr.Video(label="Source video", sources=["upload"], elem_id=f"{KEY}-video", height=260)
                prompt = gr.Textbox(
                    label="Prompt", lines=3, elem_id=f"{KEY}-prompt",
                    placeholder="Describe the video to generate, e.g. 'a blue ball rolling on a snowy field'",
                )
                build = gr.Button("Build tracking video", variant="primary", elem_id=f"{KEY}-build")
                with examples_slot:
                    tab_examples(
                        KEY,
                        {
                            "Ball rolling over a meadow": [asset("moving_scene.mp4"),
                                                           "a red ball rolling across a green meadow below blue mountains"],
                            "Ball video · basketball on a lawn": [asset("ball_video.mp4"), "a shiny orange basketball slowly rolling on a lawn"],
                        },
                        file_columns=(0,),
                        inputs=[video, prompt],
                    )
                tracking = tracking_settings(studio, uses_video=True)
                advanced = advanced_settings(studio, KEY)
            with gr.Column(scale=7):
                preview = preview_section(KEY)
                result = result_section(KEY)
        events = wire_tab(
            studio,
            key=KEY,
            build_button=build,
            build_fn=builds.build_motion_transfer,
            build_inputs=[video, advanced.resize_mode, advanced.first_frame, *tracking.inputs()],
            prompt=prompt,
            preview=preview,
            advanced=advanced,
            result=result,
            status=status,
        )
    return events
