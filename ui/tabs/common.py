"""Widgets and wiring every tab shares: tracking settings, the preview, advanced generation
settings, the Generate/Cancel row and the result.

Every tab follows the same flow: inputs → **Build tracking video** (its own queue group, so
builds never wait behind a generation) → preview → **Generate** (the single ``"gpu"`` queue
slot, enabled only once the tab's ``gr.State`` holds a tracking result) → result + downloads.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import gradio as gr

from core.defaults import (
    DEFAULT_RESIZE_MODE,
    FPS,
    GRID_SIZE,
    GUIDANCE_SCALE,
    NEGATIVE_PROMPT,
    RANDOM_SEED,
    RESIZE_MODES,
    USE_DYNAMIC_CFG,
)
from core.windows import max_windows, seconds_for_windows, total_frames
from ui.handlers import generation, staleness
from ui.handlers.builds import BuildResult
from ui.handlers.camera import camera_motion_message
from ui.handlers.outputs import bind_studio, gradio_values
from ui.handlers.staleness import BuildFailure, ResultReset, TrackingValidity
from ui.status import GPU_CONCURRENCY_ID, TRACKING_CONCURRENCY_ID, studio_status
from ui.studio import Studio
from ui.tabs.assets import existing
from ui.tabs.widgets import ImageFile, RawNumber, RawSlider

GPU_CONCURRENCY_LIMIT = 1
"""One model, one GPU: GPU requests wait in line instead of colliding."""
TRACKING_CONCURRENCY_LIMIT = 2
"""Tracking builds are CPU-heavy; two at a time keeps the server responsive."""
SPACES_GPU_DURATION_S = 300
"""Seconds of ZeroGPU time asked for per GPU call on a Hugging Face Space."""

UPLOAD_IMAGE_MODE = None
"""Image uploads are passed on as the files they are: core.media reads any mode and the EXIF
orientation, while a fixed mode makes Gradio re-encode every other image (seconds for a large
RGBA PNG) each time an event reads it — and every input change reads them all."""

GRID_SIZE_RANGE = (10, 100)
"""Track grid slider bounds (points per side)."""
STEPS_RANGE = (1, 100)
GUIDANCE_RANGE = (0.0, 15.0)
GUIDANCE_STEP = 0.5
POINT_CLOUD_CAMERA = (90.0, 90.0, None)
"""``gr.Model3D`` camera (alpha, beta, radius in Babylon.js's orbit convention): level, on the
side of the frame-0 camera, so the cloud opens as the first frame looks (checked in Chromium
with a test cloud: top, bottom, left and right where they belong); radius ``None`` = fit the
whole cloud. Gradio's default (alpha -90°) views it from behind, mirrored."""
DOWNLOADS_HEIGHT_PX = 240
"""Tall enough for the three downloads (video, tracking video, settings JSON) without a scrollbar."""
TRACKING_STATE_TTL_S = 3 * 3600
"""A session's tracking video is dropped after this long (it holds whole clips in memory)."""

IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".bmp"]
VIDEO_TYPES = [".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif", ".m4v"]


def on_gpu(fn: Callable) -> Callable:
    """Wrap a GPU handler with ``spaces.GPU`` on a Hugging Face Space (no dependency elsewhere).

    ``spaces.GPU`` is a pass-through outside ZeroGPU hardware, so wrapping whenever the package
    is importable is safe.
    """
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=SPACES_GPU_DURATION_S)(fn)


@dataclass
class TrackingSettings:
    depth_method: gr.Dropdown
    tracker: gr.Dropdown
    grid_size: gr.Slider
    start_s: gr.Number

    def inputs(self) -> list:
        return [self.depth_method, self.tracker, self.grid_size, self.start_s]


def _choices(available: dict[str, str]) -> list[tuple[str, str]]:
    return [("auto (best available)", "auto")] + [(f"{name} — {text}", name) for name, text in available.items()]


def tab_examples(
    key: str, labelled_rows: dict[str, list], *, file_columns: tuple[int, ...], inputs: list[Any]
) -> gr.Examples:
    """The tab's **Examples**: one labelled button per row of ``labelled_rows`` (label → the
    values of ``inputs``), leaving out rows whose files (in ``file_columns``) are missing."""
    kept = {label: row for label, row in labelled_rows.items() if existing([row], file_columns=file_columns)}
    return gr.Examples(
        list(kept.values()),
        inputs=inputs,
        label="Examples",
        example_labels=list(kept),
        cache_examples=False,
        api_visibility="private",
        elem_id=f"{key}-examples",
    )


def tracking_settings(studio: Studio, *, uses_video: bool = True) -> TrackingSettings:
    """The 'Tracking settings' accordion: depth model, point tracker, grid, start time."""
    from trackers.depth import available_depth_methods
    from trackers.points import available_point_trackers

    with gr.Accordion("Tracking settings", open=False):
        depth_method = gr.Dropdown(
            _choices(available_depth_methods(allow_download=studio.options.allow_download)), value="auto",
            label="Depth model",
            info="Which depth estimator lifts pixels to 3D (installed ones, and those the studio may download).",
        )
        tracker = gr.Dropdown(
            _choices(available_point_trackers(allow_download=studio.options.allow_download)), value="auto",
            label="Point tracker", visible=uses_video,
            info="2D tracker for video sources.",
        )
        grid_size = RawSlider(
            *GRID_SIZE_RANGE, value=GRID_SIZE, step=1, label="Track grid (points per side)", visible=uses_video,
            info=f"DaS uses {GRID_SIZE} × {GRID_SIZE} tracks over the frame.",
        )
        start_s = RawNumber(0.0, label="Start at (seconds into the video)", visible=uses_video)
    return TrackingSettings(depth_method, tracker, grid_size, start_s)


@dataclass
class AdvancedSettings:
    seed: gr.Number
    steps: gr.Slider
    guidance: gr.Slider
    dynamic_cfg: gr.Checkbox
    negative_prompt: gr.Textbox
    resize_mode: gr.Radio
    first_frame: gr.Image
    repaint: gr.Button
    windows: Optional[gr.Slider] = None
    """The Length: how many model windows the video chains (a build input)."""


def length_info(native_frames: int, fps: float = FPS) -> str:
    """The Length slider's help: frames and seconds of each choice."""
    choices = ", ".join(
        f"{count} = {total_frames(native_frames, count)} frames ({seconds_for_windows(count, native_frames, fps):.1f} s)"
        for count in range(1, max_windows(native_frames) + 1)
    )
    return (
        f"Windows of {native_frames} frames, each starting from the last frame of the previous one: {choices}. "
        "The tracks and the camera path span the whole length; rebuild after changing it."
    )


def advanced_settings(studio: Studio, key: str) -> AdvancedSettings:
    """The 'Advanced settings' accordion of a tab."""
    with gr.Accordion("Advanced settings", open=False):
        with gr.Row():
            # Raw widgets: "abc", NaN or 2^63 − 1 reach core.validation, which names the field.
            seed = RawNumber(
                RANDOM_SEED, elem_id=f"{key}-seed", label="Seed",
                info="-1 = a new random seed each time; the seed used is shown with the result.",
            )
            steps = RawSlider(*STEPS_RANGE, value=studio.options.default_steps, step=1, label="Denoising steps", info="DaS: 50.",
                              elem_id=f"{key}-steps")
        with gr.Row():
            guidance = RawSlider(*GUIDANCE_RANGE, value=GUIDANCE_SCALE, step=GUIDANCE_STEP, label="Guidance scale",
                                 info="DaS: 6.")
            dynamic_cfg = gr.Checkbox(USE_DYNAMIC_CFG, label="Dynamic CFG", info="CogVideoX's cosine guidance schedule.")
        negative_prompt = gr.Textbox(NEGATIVE_PROMPT, lines=2, label="Negative prompt")
        native_frames = studio.working_size()[0]
        windows = gr.Slider(
            1, max_windows(native_frames), value=1, step=1, label="Length (windows)", elem_id=f"{key}-windows",
            info=length_info(native_frames), interactive=max_windows(native_frames) > 1,
        )
        resize_mode = gr.Radio(
            list(RESIZE_MODES), value=DEFAULT_RESIZE_MODE, label="Resize mode",
            info="How sources of another aspect ratio fit the model's frame: crop the centre, stretch, or pad.",
        )
        first_frame = ImageFile(
            type="filepath", image_mode=UPLOAD_IMAGE_MODE, label="First frame to start from (optional)", height=220, sources=["upload", "clipboard"],
            elem_id=f"{key}-first-frame-override",
        )
        gr.Markdown(
            "Upload an edited first frame (or repaint one) to change the **appearance** while the tracking "
            "video keeps the **motion**. Leave empty to start from the source's own first frame."
        )
        repaint = gr.Button(
            "Repaint first frame from prompt", size="sm", interactive=False, elem_id=f"{key}-repaint",
        )
    return AdvancedSettings(seed, steps, guidance, dynamic_cfg, negative_prompt, resize_mode, first_frame, repaint, windows)


@dataclass
class Preview:
    source_video: gr.Video
    tracking_video: gr.Video
    first_frame: gr.Image
    point_cloud: gr.Model3D
    info: gr.Markdown

    def by_name(self) -> dict[str, Any]:
        """The preview widgets by the names of :class:`BuildResult`'s fields."""
        return {
            "tracking_video": self.tracking_video,
            "source_video": self.source_video,
            "first_frame": self.first_frame,
            "point_cloud": self.point_cloud,
            "info": self.info,
        }


def preview_section(key: str, *, show_source: bool = True, first_frame_label: str = "First frame") -> Preview:
    """Source and tracking video side by side, the first frame and the 3D point cloud.

    ``show_source=False`` hides the source video (meshes have none); it stays an output.
    """
    gr.Markdown("### 2 · Tracking video", elem_classes=["stage-title"])
    with gr.Row(equal_height=True):
        source_video = gr.Video(
            label="Source (as the model sees it)", interactive=False, autoplay=True, loop=True, height=260,
            visible=show_source, elem_id=f"{key}-source",
        )
        tracking_video = gr.Video(
            label="Tracking video", interactive=False, autoplay=True, loop=True, height=260, elem_id=f"{key}-tracking",
        )
    with gr.Row(equal_height=True):
        first_frame = gr.Image(label=first_frame_label, interactive=False, height=240, elem_id=f"{key}-first-frame")
        point_cloud = gr.Model3D(
            label="3D point cloud (frame 0)", height=240, clear_color=(0.05, 0.05, 0.08, 1.0),
            display_mode="point_cloud", elem_id=f"{key}-point-cloud",
            # Seen from where the frame-0 camera stood: the cloud looks like the first frame,
            # and dragging turns it.
            camera_position=POINT_CLOUD_CAMERA,
        )
    info = gr.Markdown("Build the tracking video to see it here.", label="Tracking info", elem_id=f"{key}-tracking-info")
    return Preview(source_video, tracking_video, first_frame, point_cloud, info)


@dataclass
class ResultSection:
    generate: gr.Button
    cancel: gr.Button
    notice: gr.Markdown
    video: gr.Video
    downloads: gr.File
    seed_used: gr.Number
    info: gr.Markdown
    load_settings: gr.File


def result_section(key: str) -> ResultSection:
    """Generate / Cancel and the generated video with its downloads."""
    gr.Markdown("### 3 · Generate", elem_classes=["stage-title"])
    with gr.Row():
        generate = gr.Button("Generate", variant="primary", interactive=False, elem_id=f"{key}-generate", scale=3)
        cancel = gr.Button("Cancel", variant="stop", elem_id=f"{key}-cancel", scale=1)
    notice = gr.Markdown("", label="Notice", elem_id=f"{key}-notice")
    video = gr.Video(label="Result", interactive=False, autoplay=True, loop=True, height=400, elem_id=f"{key}-result")
    with gr.Row():
        downloads = gr.File(label="Downloads (video, tracking video, settings JSON)", file_count="multiple",
                            interactive=False, elem_id=f"{key}-downloads", scale=3, height=DOWNLOADS_HEIGHT_PX)
        # Hidden until the first result: an empty number box would read as "seed 0".
        seed_used = gr.Number(None, label="Seed used", precision=0, interactive=False, visible=False,
                              elem_id=f"{key}-seed-used", scale=1)
    info = gr.Markdown("", label="Result info", elem_id=f"{key}-result-info")
    with gr.Accordion("Load settings (make a result again)", open=False, elem_id=f"{key}-load-settings-group"):
        load_settings = gr.File(
            label="A result's settings.json", file_types=[".json"], height=100, elem_id=f"{key}-load-settings",
        )
        gr.Markdown(
            "Loads the result's tracking video, first frame, prompt, seed and settings (from the studio's "
            "output folder); **Generate** then makes the same video again. For a result folder made "
            "elsewhere: `python -m core rerun --settings path/to/settings.json`."
        )
    return ResultSection(generate, cancel, notice, video, downloads, seed_used, info, load_settings)


def _remembering_inputs(build_fn: Callable, watched_positions: Sequence[int]) -> Callable:
    """``build_fn`` whose :class:`BuildResult` also carries the fingerprint of the inputs at
    ``watched_positions`` it was called with, so that the tracking video and what it was built
    from are stored by one event (an input change processed between two events would otherwise
    compare against the previous build's)."""

    @functools.wraps(build_fn)  # Gradio reads the signature (gr.Request, gr.Progress) through it
    def build(*args: Any, **kwargs: Any) -> BuildResult:
        fingerprint = staleness.inputs_fingerprint(*(args[index] for index in watched_positions))
        return dataclasses.replace(build_fn(*args, **kwargs), built_from=fingerprint)

    return build


def _with_length(bound_build: Callable, position: int) -> Callable:
    """``bound_build`` (a build handler, studio bound) taking one more input at ``position`` —
    right after the tab's own inputs, so the API's parameters keep their order and the new one
    is last — passed on as its ``windows`` keyword (default 1 for API callers that omit it)."""
    signature = inspect.signature(bound_build)
    # The handler's own keyword-only-in-practice ``windows`` (after ``progress``) moves to ``position``.
    parameters = [parameter for parameter in signature.parameters.values() if parameter.name != "windows"]
    windows = inspect.Parameter("windows", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=1)

    @functools.wraps(bound_build)
    def build(*args: Any, **kwargs: Any) -> Any:
        values = list(args)
        count = values.pop(position) if len(values) > position else kwargs.pop("windows", 1)
        return bound_build(*values, windows=count, **kwargs)

    build.__signature__ = signature.replace(parameters=[*parameters[:position], windows, *parameters[position:]])
    return build


def wire_tab(
    studio: Studio,
    *,
    key: str,
    build_button: gr.Button,
    build_fn: Callable,
    build_inputs: Sequence[Any],
    prompt: gr.Textbox,
    preview: Preview,
    advanced: AdvancedSettings,
    result: ResultSection,
    status: gr.Markdown,
) -> dict[str, Any]:
    """Connect a tab's build, generate, repaint and cancel events; returns them by name.

    ``build_fn(studio, *build_inputs, scope)`` (``scope``: a ``gr.State`` holding ``key``, used
    for the per-session Cancel) returns a :class:`BuildResult`.
    A change of any build input except ``advanced.first_frame`` retires the tracking video,
    judged by value (:func:`ui.handlers.staleness.inputs_fingerprint`); a new first-frame image
    needs no rebuild (Generate applies it), removing the one a build used does.
    """
    tracking_state = gr.State(None, time_to_live=TRACKING_STATE_TTL_S)
    # The fingerprint of the inputs the tracking video was built from, written with it.
    built_from = gr.State(None)
    scope = gr.State(key)
    watched_positions = [index for index, component in enumerate(build_inputs) if component is not advanced.first_frame]
    watched = [build_inputs[index] for index in watched_positions]
    length_inputs = [] if advanced.windows is None else [advanced.windows]
    if length_inputs:  # the Length is a build input: changing it retires the tracking video too
        watched_positions.append(len(build_inputs))
        watched.append(advanced.windows)
        build_fn_bound = _with_length(bind_studio(build_fn, studio), len(build_inputs))
    else:
        build_fn_bound = bind_studio(build_fn, studio)
    validity_outputs = TrackingValidity.components(
        tracking=tracking_state, generate=result.generate, repaint=advanced.repaint, info=preview.info
    )

    build = build_button.click(
        gradio_values(_remembering_inputs(build_fn_bound, watched_positions)),
        inputs=[*build_inputs, *length_inputs, scope],
        outputs=BuildResult.components(tracking=tracking_state, built_from=built_from, **preview.by_name()),
        api_name=f"{key}_build",
        # One progress bar (and, on failure, one error badge) on the tracking video, not on every preview.
        show_progress_on=[preview.tracking_video],
        concurrency_id=TRACKING_CONCURRENCY_ID,
        concurrency_limit=TRACKING_CONCURRENCY_LIMIT,
    )
    build.success(
        gradio_values(staleness.build_succeeded), inputs=[tracking_state, built_from, *watched],
        outputs=validity_outputs, api_visibility="private", queue=False, show_progress="hidden",
    )
    build.failure(
        gradio_values(staleness.build_failed),
        outputs=BuildFailure.components(
            tracking=tracking_state, generate=result.generate, repaint=advanced.repaint, **preview.by_name()
        ),
        api_visibility="private", queue=False, show_progress="hidden",
    )

    generate = result.generate.click(
        on_gpu(studio.handler(generation.generate_video)),
        inputs=[
            tracking_state, prompt, advanced.seed, advanced.steps, advanced.guidance, advanced.dynamic_cfg,
            advanced.negative_prompt, advanced.resize_mode, advanced.first_frame, scope,
        ],
        outputs=generation.GenerateResult.components(
            video=result.video, downloads=result.downloads, seed_used=result.seed_used, info=result.info
        ),
        api_name=f"{key}_generate",
        show_progress_on=[result.video],
        concurrency_id=GPU_CONCURRENCY_ID,
        concurrency_limit=GPU_CONCURRENCY_LIMIT,
    )
    generate.success(generation.reveal_seed, inputs=[result.seed_used], outputs=[result.seed_used],
                     api_visibility="private", queue=False, show_progress="hidden")
    generate.then(studio.handler(studio_status), outputs=[status], api_visibility="private", queue=False,
                  show_progress="hidden")
    # The Cancel notice belongs to one request: a build or generation that completes clears it,
    # unless it completed by being cancelled. (Not on the button's click: Gradio re-applies the
    # outputs of every listener of a trigger when the trigger's long event ends, which would
    # blank Cancel's "Cancelled" again.)
    for event, info in ((build, preview.info), (generate, result.info)):
        event.success(generation.notice_after, inputs=[info], outputs=[result.notice], api_visibility="private",
                      queue=False, show_progress="hidden")
    result_outputs = ResultReset.components(
        video=result.video, downloads=result.downloads, seed_used=result.seed_used, info=result.info
    )
    # A new build means new inputs: the previous result no longer belongs next to them.
    build_button.click(gradio_values(staleness.reset_result), outputs=result_outputs, api_visibility="private", queue=False,
                       show_progress="hidden")

    repaint = advanced.repaint.click(
        on_gpu(studio.handler(generation.repaint_first_frame)),
        inputs=[tracking_state, prompt, advanced.seed, scope],
        outputs=[advanced.first_frame],
        api_name=f"{key}_repaint",
        concurrency_id=GPU_CONCURRENCY_ID,
        concurrency_limit=GPU_CONCURRENCY_LIMIT,
    )

    cancel = result.cancel.click(
        studio.handler(generation.cancel_jobs),
        inputs=[scope],
        outputs=generation.CancelOutcome.components(
            notice=result.notice, tracking=tracking_state, generate=result.generate, repaint=advanced.repaint,
            tracking_video=preview.tracking_video, source_video=preview.source_video,
            first_frame=preview.first_frame, point_cloud=preview.point_cloud, preview_info=preview.info,
            video=result.video, downloads=result.downloads, seed_used=result.seed_used, result_info=result.info,
        ),
        cancels=[build, generate, repaint],
        api_name=f"{key}_cancel",
        queue=False,
    )

    gr.on(
        [component.change for component in watched],
        gradio_values(staleness.retire_if_inputs_changed), inputs=[tracking_state, built_from, *watched],
        outputs=validity_outputs, api_visibility="private", queue=False, show_progress="hidden",
    )
    gr.on(
        [component.change for component in watched],
        gradio_values(staleness.reset_result_if_inputs_changed), inputs=[built_from, *watched],
        outputs=result_outputs, api_visibility="private", queue=False, show_progress="hidden",
    )
    advanced.first_frame.change(
        gradio_values(staleness.retire_if_first_frame_removed), inputs=[tracking_state, advanced.first_frame],
        outputs=validity_outputs, api_visibility="private", queue=False, show_progress="hidden",
    )
    loaded = result.load_settings.upload(
        studio.handler(generation.load_settings),
        inputs=[result.load_settings, scope],
        outputs=generation.LoadedSettings.components(
            tracking=tracking_state, generate=result.generate, repaint=advanced.repaint, **preview.by_name(),
            prompt=prompt, seed=advanced.seed, steps=advanced.steps, guidance=advanced.guidance,
            dynamic_cfg=advanced.dynamic_cfg, negative_prompt=advanced.negative_prompt,
        ),
        api_visibility="private",
    )
    return {
        "build": build, "generate": generate, "repaint": repaint, "cancel": cancel, "state": tracking_state,
        "load_settings": loaded,
    }


def camera_motion_field(
    studio: Studio, label: str = "Camera motion", *, value: str = "", placeholder: Optional[str] = None,
    elem_id: Optional[str] = None,
) -> tuple[gr.Textbox, gr.Markdown]:
    """An editable motion string with its inline validation message underneath."""
    text = gr.Textbox(
        value, label=label, lines=1, elem_id=elem_id,
        placeholder=placeholder or "e.g. trans 0 0 -0.4; rot y 15 0 24   (empty = static camera)",
        info="Steps separated by ';' — trans dx dy dz | rot x|y|z deg | orbit [x|y] deg | spiral r, "
        "each with an optional 'start end' frame range. Translations are in units of the scene's median depth.",
    )
    message = gr.Markdown(
        camera_motion_message(studio, value).text, label="Motion check", elem_classes=["motion-message"],
        elem_id=f"{elem_id}-message" if elem_id else None,
    )
    return text, message
